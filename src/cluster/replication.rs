//! Replication inside the cluster: every node keeps copies of the ranges the ring makes
//! it a replica of ([`super::state`]: the next `cluster-replicas` distinct nodes
//! clockwise), so that when a primary fails the node that takes its arcs over already
//! holds their keys.
//!
//! The machinery is standalone replication's ([`crate::server::replication`] on the
//! primary, [`crate::server::replica`] on the replica), one link per primary this node
//! copies from: the link presents itself as a peer (`SLOTCACHE.PEER` with
//! `cluster-secret`), then PSYNC. The primary's snapshot and stream carry all its
//! writes; the replica keeps the slots it copies from that primary *now* — a snapshot
//! replaces exactly those slots, and a stream command applies only while the state says
//! that primary serves its slot and this node replicates it (so a deposed primary's
//! writes never apply: the state is the epoch fence). The stream's offset is the
//! primary's, one for all its ranges, and each link acknowledges it every second.
//!
//! [`follow`] runs after every state the membership thread publishes: it starts a link
//! to each new primary of some copy, ends the links no longer needed, and makes a link
//! sync again from scratch whenever the slots it copies change: new slots' keys are in
//! no stream it has seen (a failover gave its primary more ranges, the ring gave this
//! node another copy, or slots it dropped come back), and the primary must count its
//! acknowledgements for the slots it copies now only.
//!
//! **Hand-over.** When a node becomes ready it serves its arcs at once, while their
//! previous primary takes writes until it learns of it (a gossip hop). Those late
//! writes still reach the new primary: a link whose slots became this node's goes on
//! applying its primary's writes to them — *retired* beside its successor for one node
//! timeout, applying to those slots only and acknowledging nothing — as long as that
//! primary is alive and ready (a failed primary's writes never apply).
//!
//! **Caught up.** A link that has loaded its snapshot makes its slots *current* here
//! ([`Upstreams::current_slots`]); the membership thread says so in this node's
//! heartbeats, and the state keeps the copies that held a range before this node until
//! then ([`super::state`]). When a link syncs again because its slots changed, the
//! slots it copied before stay current meanwhile: their keys hold every write this node
//! acknowledged.
//!
//! **Acknowledgements** count only what a node holds: a link acknowledges offsets
//! whose commands it applied or that were outside its slots; a command on its slots
//! that does not apply (the view changed under it) ends the link, which syncs in full
//! ([`LinkScope::applies`]), so `WAIT` on the primary never counts a write that was
//! skipped here.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::state::{ClusterState, Role};
use crate::server::Server;
use crate::server::replica::{self, PeerSource, Source, Status};

/// This node's links to the primaries it copies from, by primary node id, and the
/// links retired during a hand-over.
#[derive(Default)]
pub struct Upstreams {
    links: Mutex<Links>,
}

#[derive(Default)]
struct Links {
    current: HashMap<String, Arc<Upstream>>,
    retired: Vec<Arc<Upstream>>,
    /// Per primary, the slots a link from it loaded a snapshot of and still copies:
    /// their keys are as current as this node's acknowledgements say. A link that
    /// syncs again because its slots changed keeps those it copied before meanwhile.
    loaded: HashMap<String, Arc<[bool]>>,
}

/// One link: its thread runs while `wanted` (and, retired, until `until`).
pub struct Upstream {
    pub node: String,
    pub addr: std::net::SocketAddr,
    wanted: AtomicBool,
    pub status: Mutex<Status>,
    /// What its stream applies to, shared with the client that applies it.
    scope: Arc<LinkScope>,
    until: OnceLock<Instant>,
}

/// What one link's stream applies to (read per command by dispatch).
pub struct LinkScope {
    /// The primary's node id.
    pub node: String,
    /// The slots its full sync loaded.
    pub covers: Arc<[bool]>,
    /// Once retired: the slots it still applies to (those that became this node's).
    handed: OnceLock<Box<[bool]>>,
    /// A command on slots it synced did not apply (this node's view of them changed
    /// under it): its offset no longer says what this node holds, so the link must
    /// not acknowledge it; it syncs again in full.
    diverged: AtomicBool,
}

impl LinkScope {
    /// Whether a command of the stream on `slots` applies now: each slot is one the
    /// link synced, and either a copy this node keeps of that primary's (unless the
    /// link is retired) or, in a hand-over, now this node's while that primary is alive
    /// and ready (module doc).
    ///
    /// A command on slots the link synced that does not apply marks it diverged
    /// (unless it is retired, when skipping is what it does): the primary would count
    /// its acknowledgement for a write this node does not hold (`WAIT`).
    pub fn applies(&self, state: &ClusterState, slots: impl Iterator<Item = u16>) -> bool {
        let Some(p) = state.index_of(&self.node) else { return false };
        let live = state.members[p as usize].serves();
        let handed = self.handed.get();
        let (mut covered, mut applies) = (false, true);
        for s in slots {
            let i = s as usize;
            let synced = self.covers.get(i).is_some_and(|&c| c);
            covered |= synced;
            applies &= synced
                && match state.role(s) {
                    Role::Replica => handed.is_none() && state.owner(s) == Some(p),
                    Role::Primary => live && handed.is_none_or(|h| h[i]),
                    Role::None => false,
                };
        }
        if !applies && covered && handed.is_none() {
            self.diverged.store(true, Relaxed);
        }
        applies
    }

    /// Retired: it applies late writes only, and acknowledges nothing.
    pub fn retired(&self) -> bool {
        self.handed.get().is_some()
    }

    /// Whether a command did not apply on slots it synced, since the last call.
    pub fn take_diverged(&self) -> bool {
        self.diverged.swap(false, Relaxed)
    }

    /// The slots a FLUSHALL of the stream empties: the copies it applies to.
    pub fn copied_slots(&self, state: &ClusterState) -> Vec<u16> {
        match self.handed.get() {
            Some(_) => Vec::new(),
            None => state.copied_slots(&self.node, &self.covers),
        }
    }
}

impl Upstream {
    fn running(&self) -> bool {
        self.wanted.load(Relaxed) && self.until.get().is_none_or(|&u| Instant::now() < u)
    }

    /// Ends the link, or, when some of its slots became this node's while their
    /// primary is alive and ready, retires it for `grace` (module doc). Returns
    /// whether it was retired.
    fn end(&self, state: &ClusterState, grace: Duration) -> bool {
        let alive = state.index_of(&self.node).is_some_and(|p| state.members[p as usize].serves());
        let handed: Box<[bool]> =
            self.scope.covers.iter().enumerate().map(|(s, &c)| c && state.is_mine(s as u16)).collect();
        if alive && handed.iter().any(|&h| h) {
            let _ = self.scope.handed.set(handed);
            let _ = self.until.set(Instant::now() + grace);
            true
        } else {
            self.wanted.store(false, Relaxed);
            false
        }
    }
}

impl Upstreams {
    /// The current links, for INFO and ROLE.
    pub fn list(&self) -> Vec<Arc<Upstream>> {
        let mut out: Vec<_> = self.lock().current.values().cloned().collect();
        out.sort_by(|a, b| a.node.cmp(&b.node));
        out
    }

    /// Whether the link from `node` has loaded its snapshot of every one of `slots` and
    /// is streaming.
    pub fn caught_up(&self, node: &str, mut slots: impl Iterator<Item = u16>) -> bool {
        let links = self.lock();
        let Some(link) = links.current.get(node) else { return false };
        let streaming = link.status.lock().unwrap_or_else(|p| p.into_inner()).state == "connected";
        streaming && slots.all(|s| link.scope.covers[s as usize])
    }

    /// Ends every link: what they loaded was just dropped, so the next [`follow`]
    /// starts them again, each with a full sync.
    pub fn end_all(&self) {
        let mut links = self.lock();
        for link in links.current.values().chain(&links.retired) {
            link.wanted.store(false, Relaxed);
        }
        links.current.clear();
        links.retired.clear();
        links.loaded.clear();
    }

    /// The slots whose current keys this node holds in `state`, as sorted ranges: those
    /// it serves, and the copies whose link from their primary has loaded them.
    pub fn current_slots(&self, state: &ClusterState) -> Vec<(u16, u16)> {
        let mut links = self.lock();
        let Links { current, loaded, .. } = &mut *links;
        for link in current.values() {
            if link.status.lock().unwrap_or_else(|p| p.into_inner()).state == "connected" {
                loaded.insert(link.node.clone(), link.scope.covers.clone());
            }
        }
        let mut out: Vec<(u16, u16)> = Vec::new();
        let mut add = |a: u16, b: u16| match out.last_mut() {
            Some((_, end)) if *end + 1 == a => *end = b,
            _ => out.push((a, b)),
        };
        for r in &state.ranges {
            if r.primary == state.myself {
                add(r.start, r.end);
            } else if r.replicas.contains(&state.myself)
                && let Some(l) = loaded.get(&state.members[r.primary as usize].id)
            {
                // The runs of the range's slots that its link loaded.
                let mut s = r.start as usize;
                while s <= r.end as usize {
                    let run = l[s..=r.end as usize].iter().take_while(|&&x| x == l[s]).count();
                    if l[s] {
                        add(s as u16, (s + run - 1) as u16);
                    }
                    s += run;
                }
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts, ends and restarts the links `state` asks for (module doc).
pub fn follow(server: &Arc<Server>, state: &ClusterState) {
    let Some(cluster) = &server.cluster else { return };
    server.keyspace.set_copies(|s| state.role(s) == Role::Replica);
    let grace = cluster.node_timeout();
    let mut links = cluster.upstreams.lock();
    links.retired.retain(|l| l.running());
    let mut wanted: Vec<String> = Vec::new();
    for p in state.my_primaries() {
        let m = &state.members[p as usize];
        let slots = state.slots_copied_from(p);
        wanted.push(m.id.clone());
        if let Some(link) = links.current.get(&m.id).cloned() {
            let covers = &link.scope.covers;
            let same = covers.iter().filter(|&&c| c).count() == slots.len()
                && slots.iter().all(|&s| covers[s as usize]);
            if link.addr == m.addr() && same {
                continue;
            }
            // New slots need a snapshot, and the primary must count this link's
            // acknowledgements for the slots it copies now only: a new link syncs in
            // full (the old one retired if some of its slots became this node's).
            if link.end(state, grace) {
                links.retired.push(link);
            }
            tracing::info!("Cluster: copies from {} are now {} slots, syncing them again", m.id, slots.len());
        }
        let mut covers = vec![false; super::slot::SLOTS];
        slots.iter().for_each(|&s| covers[s as usize] = true);
        if let Some(loaded) = links.loaded.get_mut(&m.id) {
            *loaded = loaded.iter().zip(&covers).map(|(&l, &c)| l && c).collect();
        }
        let link = Arc::new(Upstream {
            node: m.id.clone(),
            addr: m.addr(),
            wanted: AtomicBool::new(true),
            status: Mutex::new(Status::default()),
            scope: Arc::new(LinkScope {
                node: m.id.clone(),
                covers: covers.into(),
                handed: OnceLock::new(),
                diverged: AtomicBool::new(false),
            }),
            until: OnceLock::new(),
        });
        links.current.insert(m.id.clone(), link.clone());
        spawn(server.clone(), link);
    }
    let gone: Vec<String> = links.current.keys().filter(|id| !wanted.contains(id)).cloned().collect();
    for id in gone {
        let link = links.current.remove(&id).expect("listed");
        links.loaded.remove(&id);
        if link.end(state, grace) {
            tracing::info!("Cluster: no longer copying from {id}; its late writes apply for {grace:?}");
            links.retired.push(link);
        } else {
            tracing::info!("Cluster: no longer copying from {id}");
        }
    }
}

fn spawn(server: Arc<Server>, link: Arc<Upstream>) {
    let spawned = std::thread::Builder::new().name("slotcache-copy".into()).spawn(move || {
        let Some(cluster) = server.cluster.clone() else { return };
        let hello = super::peer::hello(&cluster, cluster.state().me().addr());
        let wanted = || link.running() && !server.shutdown.is_cancelled();
        let slots = || cluster.state().copied_slots(&link.node, &link.scope.covers);
        let (host, port) = (link.addr.ip().to_string(), link.addr.port());
        replica::run(
            &server,
            &Source {
                host: &host,
                port,
                wanted: &wanted,
                status: &link.status,
                peer: Some(PeerSource { hello: &hello, scope: link.scope.clone(), slots: &slots }),
                generation: 0,
            },
        );
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start a replication link: {e}");
    }
}
