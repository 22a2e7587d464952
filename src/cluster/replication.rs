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
//! sync again from scratch when the slots it copies changed: new slots' keys are in no
//! stream it has seen (a failover gave its primary more ranges, or the ring gave this
//! node another copy), and slots it dropped meanwhile (a join took them) must not come
//! back to life through its stream if they return.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use super::state::{ClusterState, Role};
use crate::server::Server;
use crate::server::replica::{self, PeerSource, Source, Status};

/// This node's links to the primaries it copies from, by primary node id.
#[derive(Default)]
pub struct Upstreams {
    links: Mutex<HashMap<String, Arc<Upstream>>>,
}

/// One link: its thread runs while `wanted`.
pub struct Upstream {
    pub node: String,
    pub addr: std::net::SocketAddr,
    wanted: AtomicBool,
    pub status: Mutex<Status>,
    /// The slots it was started for (a full sync loads those the state still says).
    covers: Arc<[bool]>,
}

impl Upstreams {
    /// The links now, for INFO and ROLE.
    pub fn list(&self) -> Vec<Arc<Upstream>> {
        let mut out: Vec<_> = self.lock().values().cloned().collect();
        out.sort_by(|a, b| a.node.cmp(&b.node));
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Upstream>>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Starts, ends and restarts the links `state` asks for (module doc).
pub fn follow(server: &Arc<Server>, state: &ClusterState) {
    let Some(cluster) = &server.cluster else { return };
    server.keyspace.set_copies(|s| state.role(s) == Role::Replica);
    let mut links = cluster.upstreams.lock();
    let mut wanted: Vec<String> = Vec::new();
    for p in state.my_primaries() {
        let m = &state.members[p as usize];
        let slots = state.slots_copied_from(p);
        wanted.push(m.id.clone());
        if let Some(link) = links.get(&m.id) {
            let same = link.covers.iter().filter(|&&c| c).count() == slots.len()
                && slots.iter().all(|&s| link.covers[s as usize]);
            if link.addr == m.addr() && same {
                continue;
            }
            // New slots need a snapshot, and slots dropped meanwhile must not come back
            // through this link's stream: it ends, a new one syncs in full.
            link.wanted.store(false, Relaxed);
            tracing::info!("Cluster: copies from {} are now {} slots, syncing them again", m.id, slots.len());
        }
        let link = Arc::new(Upstream {
            node: m.id.clone(),
            addr: m.addr(),
            wanted: AtomicBool::new(true),
            status: Mutex::new(Status::default()),
            covers: {
                let mut covers = vec![false; super::slot::SLOTS];
                slots.iter().for_each(|&s| covers[s as usize] = true);
                covers.into()
            },
        });
        links.insert(m.id.clone(), link.clone());
        spawn(server.clone(), link);
    }
    links.retain(|id, link| {
        let keep = wanted.contains(id);
        if !keep {
            link.wanted.store(false, Relaxed);
            tracing::info!("Cluster: no longer copying from {id}");
        }
        keep
    });
}

fn spawn(server: Arc<Server>, link: Arc<Upstream>) {
    let spawned = std::thread::Builder::new().name("slotcache-copy".into()).spawn(move || {
        let Some(cluster) = server.cluster.clone() else { return };
        let hello = super::peer::hello(&cluster, cluster.state().me().addr());
        let wanted = || link.wanted.load(Relaxed) && !server.shutdown.is_cancelled();
        let slots = || cluster.state().copied_slots(&link.node, &link.covers);
        let (host, port) = (link.addr.ip().to_string(), link.addr.port());
        replica::run(
            &server,
            &Source {
                host: &host,
                port,
                wanted: &wanted,
                status: &link.status,
                peer: Some(PeerSource {
                    hello: &hello,
                    node: &link.node,
                    slots: &slots,
                    covers: link.covers.clone(),
                }),
                generation: 0,
            },
        );
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot start a replication link: {e}");
    }
}
