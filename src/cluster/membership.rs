//! Membership: SWIM (the `foca` crate) over peer links, and the one place the cluster
//! state changes.
//!
//! A node's SWIM identity ([`NodeIdentity`]) carries everything the others need to
//! compute the same map: its id, announced address, incarnation, epoch and ring
//! tokens. The membership thread runs foca's timers, feeds it the datagrams peers send
//! (through [`super::peer`]), and after every event rebuilds the [`ClusterState`] from
//! what foca knows and publishes it whole:
//!
//! - **join**: a node started with seeds announces itself to them and is a member with
//!   no tokens (it serves nothing). Joins are serialized: only the live tokenless
//!   member with the lowest id places its tokens ([`Ring::place`]), and only once its
//!   view has been still for a while with nobody suspected; it then takes a new
//!   identity with its tokens, not ready, which the others adopt (foca renames it). The
//!   first node of a cluster (no seeds, nothing remembered) places its tokens at once.
//! - **ready**: a member with tokens that is not ready copies its arcs from the members
//!   serving them meanwhile ([`ClusterState`]); once every such link streams, it takes
//!   a ready identity with a new epoch and serves them ([`Membership::maybe_ready`]). A
//!   node restarted into a cluster, or told it was declared failed, is not ready.
//! - **suspect / fail**: foca's `Suspect` is `fail?`, `Down` is `fail`. A failed member
//!   keeps its tokens but serves nothing: its arcs go to the next tokens clockwise.
//! - **rejoin**: a member declared failed that comes back (a restart, or a resumed
//!   pause) has a higher incarnation, wins over its old identity and, once ready, takes
//!   its arcs back. A node that learns it was declared failed drops every key it holds
//!   first.
//! - **hand back**: whenever a state is published, the slots this node held (served
//!   or copied) and no longer does are emptied, so no node keeps a value that may change
//!   without it; the clients of those it served and now copies at most are redirected.
//! - **majority**: this node may serve only while ⌊N/2⌋+1 of the N members it knows
//!   (itself included, failed members too) answered one of its heartbeats sent within
//!   the node timeout. Every member sends each other one several times per timeout, and
//!   a member answers only a sender it does not hold failed; the lease runs from when
//!   the answered heartbeat was sent, so answers read late (after a pause) extend
//!   nothing. It is checked per command ([`super::Cluster::has_majority`]). A member
//!   that joins while this node has the majority counts once it has answered, or after
//!   one node timeout: a join never stops the members already serving.
//!
//! - **step down** (SHUTDOWN's hand-over, [`super::handover`]): the node takes a
//!   not-ready identity with a new epoch, so the replicas holding its arcs serve them at
//!   once, and never becomes ready again before it stops.
//! - **reset** (CLUSTER RESET): the node leaves (SWIM's graceful leave, so the others
//!   take its arcs at once), forgets every member, drops its tokens (HARD: takes a new
//!   id) and listens to no peer until CLUSTER MEET makes it join again, as a new node.
//!
//! Every transition logs one line. What must survive a restart is written to
//! `cluster-config-file` ([`super::nodes_file`]).

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::num::{NonZeroU8, NonZeroUsize};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use foca::{
    AccumulatingRuntime, Foca, Member, NoCustomBroadcast, OwnedNotification, PostcardCodec, State, Timer,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use super::nodes_file::{NodesFile, Remembered};
use super::peer::{Links, Outbound};
use super::ring::Ring;
use super::state::{ClusterState, Health, Node};
use super::{Cluster, Inbound};
use crate::config::Config;
use crate::server::Server;

/// How often the membership thread looks at time (heartbeats, lease, placement).
const MIN_TICK: Duration = Duration::from_millis(20);
/// Members' identities kept after they failed, so they still count towards the
/// majority (until CLUSTER FORGET).
const REMEMBER_FAILED: Duration = Duration::from_secs(24 * 3600);

/// A node as SWIM knows it. Two identities with one address are one node: the higher
/// incarnation wins (a restart, a rejoin, new tokens).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub addr: SocketAddr,
    pub id: [u8; 20],
    pub incarnation: u64,
    pub epoch: u64,
    pub tokens: Vec<u16>,
    /// It serves its arcs (else it copies them first: [`ClusterState`]).
    pub ready: bool,
}

impl foca::Identity for NodeIdentity {
    type Addr = SocketAddr;

    /// The identity a node declared failed rejoins with: not ready, it copies its arcs
    /// back from whoever served them meanwhile.
    fn renew(&self) -> Option<Self> {
        Some(NodeIdentity { incarnation: self.incarnation + 1, ready: false, ..self.clone() })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn win_addr_conflict(&self, other: &Self) -> bool {
        (self.incarnation, self.id) > (other.incarnation, other.id)
    }
}

impl NodeIdentity {
    /// What is known of a seed before it answers: its address only. Every real
    /// identity wins over it.
    fn seed(addr: SocketAddr) -> NodeIdentity {
        NodeIdentity { addr, id: [0; 20], incarnation: 0, epoch: 0, tokens: Vec::new(), ready: false }
    }

    fn is_seed(&self) -> bool {
        self.id == [0; 20]
    }

    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn parse_id(hex: &str) -> Option<[u8; 20]> {
    if !super::nodes_file::is_node_id(hex) {
        return None;
    }
    let mut id = [0u8; 20];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(id)
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// foca's timings from the node timeout `t`: a silent member is probed within a few
/// probe periods, suspected after a failed probe and declared failed after `t` more;
/// so a node cut off from the majority (which stops serving `t` after it last heard
/// from it) has stopped before the others take its slots.
fn foca_config(t: Duration, members: usize) -> foca::Config {
    let mut c = foca::Config::simple();
    c.probe_period = (t / 3).max(Duration::from_millis(30));
    c.probe_rtt = (t / 5).max(Duration::from_millis(10));
    c.num_indirect_probes = NonZeroUsize::new(3).unwrap();
    c.suspect_to_down_after = t;
    c.remove_down_after = Some(REMEMBER_FAILED);
    c.max_packet_size = NonZeroUsize::new(16 * 1024).unwrap();
    // Enough retransmissions for an update to reach everyone (log2 of the size, x3).
    let tx = 3 * (usize::BITS - members.max(2).leading_zeros()) as u8;
    c.max_transmissions = NonZeroU8::new(tx.clamp(4, 30)).unwrap();
    c.notify_down_members = true;
    c.periodic_announce = Some(foca::PeriodicParams {
        frequency: Duration::from_secs(5),
        num_members: NonZeroUsize::new(1).unwrap(),
    });
    c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
        frequency: (t * 2).max(Duration::from_millis(500)),
        num_members: NonZeroUsize::new(2).unwrap(),
    });
    c.periodic_gossip = Some(foca::PeriodicParams {
        frequency: (t / 5).max(Duration::from_millis(20)),
        num_members: NonZeroUsize::new(3).unwrap(),
    });
    c
}

/// The cluster handle and its membership, made before the server starts (dispatch
/// needs the handle from the first command); [`Membership::spawn`] starts it.
pub fn prepare(config: &Config, bound: SocketAddr) -> Result<(Arc<Cluster>, Membership), String> {
    let settings = &config.cluster;
    let path = PathBuf::from(&config.dir).join(&settings.config_file);
    let file = NodesFile::load(&path)?;
    let ip = if settings.announce_ip.is_empty() {
        if bound.ip().is_unspecified() { "127.0.0.1".parse().unwrap() } else { bound.ip() }
    } else {
        settings
            .announce_ip
            .parse()
            .map_err(|_| format!("cluster-announce-ip '{}' is not an IP address", settings.announce_ip))?
    };
    let port = if settings.announce_port != 0 { settings.announce_port } else { bound.port() };
    let addr = SocketAddr::new(ip, port);
    let incarnation = unix_ms().max(file.as_ref().map_or(0, |f| f.incarnation + 1));
    let (me, remembered) = match &file {
        Some(f) => {
            let mine = f.myself.as_ref().expect("parse checks myself");
            let id = parse_id(&mine.id).ok_or_else(|| format!("{}: bad node id", path.display()))?;
            // Back after a stop, it copies its arcs from the members that served them
            // meanwhile before it serves them again; alone, it has nobody to copy from.
            let ready = settings.seeds.is_empty() && f.others.is_empty();
            let me =
                NodeIdentity { addr, id, incarnation, epoch: mine.epoch, tokens: mine.tokens.clone(), ready };
            (me, f.others.clone())
        }
        None => {
            let id = parse_id(&crate::server::random_hex40()).expect("40 hex");
            let me = NodeIdentity { addr, id, incarnation, epoch: 0, tokens: Vec::new(), ready: false };
            (me, Vec::new())
        }
    };
    let mut seeds: Vec<SocketAddr> = Vec::new();
    for seed in settings.seeds.iter().map(String::as_str).chain(remembered.iter().map(|r| r.addr.as_str())) {
        match seed.to_socket_addrs() {
            Ok(found) => seeds.extend(found.filter(|a| *a != addr).take(1)),
            Err(e) => tracing::warn!("cluster seed {seed}: {e}"),
        }
    }
    seeds.sort();
    seeds.dedup();
    let mut me = me;
    let alone = seeds.is_empty();
    if me.tokens.is_empty() && alone {
        me.tokens = Ring::default().place(1, 0);
        me.epoch = 1;
        me.ready = true;
        tracing::info!("Cluster: first node {}, placed {} tokens on the ring", me.id_hex(), me.tokens.len());
    }
    // Remembered members are taken as suspects until SWIM says more.
    let members = std::iter::once(node_of(&me, Health::Online, 0))
        .chain(remembered.iter().filter_map(suspect))
        .collect();
    let state = ClusterState::build(members, &me.id_hex(), settings.replicas);
    let (cluster, queues) = Cluster::new(state, settings);
    let cluster = Arc::new(cluster);
    if !alone || !remembered.is_empty() {
        cluster.set_lease_until(0);
    }
    let expected = remembered.iter().filter_map(|r| super::state::parse_addr(&r.addr)).collect();
    let mut membership = Membership {
        cluster: cluster.clone(),
        path,
        me,
        seeds,
        queues,
        remembered: remembered.into_iter().map(|r| (r.id.clone(), r)).collect(),
        expected,
        newcomers: HashMap::new(),
        forgotten: Vec::new(),
        heard: HashMap::new(),
        last_change: Instant::now(),
        active: false,
        detached: false,
        saved: None,
        followed: false,
        stepped_down: false,
        caught_up: Vec::new(),
        said: HashMap::new(),
    };
    membership.save();
    Ok((cluster, membership))
}

/// After slots were dropped or handed over: tracking clients forget what they cached
/// (one flush invalidation, as FLUSHALL sends), and blocked clients run their command
/// again, so those waiting on keys this node no longer serves get -MOVED.
fn forget_clients_of_moved_keys(server: &Server) {
    server.tracking.flush();
    server.blocking.wake_all();
}

/// A member remembered from the nodes file and not yet heard of: a suspect, whose
/// tokens keep their arcs and who counts towards the majority. Not ready: if it comes
/// back it will have restarted, and if every member has, nobody serves anything until
/// one is ready with nothing to copy (a whole-cluster restart).
fn suspect(r: &Remembered) -> Option<Node> {
    let addr = super::state::parse_addr(&r.addr)?;
    Some(Node {
        id: r.id.clone(),
        ip: addr.ip().to_string(),
        port: addr.port(),
        tokens: r.tokens.clone(),
        epoch: r.epoch,
        health: Health::Suspect,
        ready: false,
        caught_up: Vec::new(),
        ping_sent_ms: 0,
        pong_recv_ms: 0,
    })
}

fn node_of(id: &NodeIdentity, health: Health, pong_recv_ms: u64) -> Node {
    Node {
        id: id.id_hex(),
        ip: id.addr.ip().to_string(),
        port: id.addr.port(),
        tokens: id.tokens.clone(),
        epoch: id.epoch,
        health,
        ready: id.ready,
        caught_up: Vec::new(),
        ping_sent_ms: 0,
        pong_recv_ms,
    }
}

type Swim = Foca<NodeIdentity, PostcardCodec, SmallRng, NoCustomBroadcast>;

pub struct Membership {
    cluster: Arc<Cluster>,
    path: PathBuf,
    me: NodeIdentity,
    seeds: Vec<SocketAddr>,
    queues: super::Receivers,
    /// Members from the nodes file not yet heard of, by id.
    remembered: HashMap<String, Remembered>,
    /// Every member address this node counts for the majority (failed ones too),
    /// besides itself.
    expected: Vec<SocketAddr>,
    /// Members that joined (cluster clock, ms) and have answered no heartbeat yet: they
    /// count for the majority only after one node timeout, so that a join never takes
    /// the majority from the members already there ([`Self::expect`]).
    newcomers: HashMap<SocketAddr, u64>,
    /// Addresses of members removed by CLUSTER FORGET (until they come back).
    forgotten: Vec<SocketAddr>,
    /// Per address, when the latest heartbeat it answered was sent (cluster clock, ms).
    heard: HashMap<SocketAddr, u64>,
    /// When the membership last changed (for placement: a still view).
    last_change: Instant,
    /// foca is connected to the cluster.
    active: bool,
    /// After CLUSTER RESET, until CLUSTER MEET: peers' messages are not listened to.
    detached: bool,
    /// The nodes file as last written.
    saved: Option<NodesFile>,
    /// The replication links were set up for a published state.
    followed: bool,
    /// It handed its arcs over and is about to stop: never ready again.
    stepped_down: bool,
    /// The slots whose current keys this node holds, as its heartbeats say
    /// ([`Self::maybe_say_caught_up`]).
    caught_up: Vec<(u16, u16)>,
    /// The same, per member address, as its latest heartbeat said.
    said: HashMap<SocketAddr, Vec<(u16, u16)>>,
}

impl Membership {
    /// Starts the membership thread.
    pub fn spawn(self, server: Arc<Server>) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name("slotcache-cluster".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("cannot start the cluster runtime: {e}");
                    server.shutdown.cancel();
                    return;
                }
            };
            rt.block_on(self.run(server));
        })
    }

    async fn run(mut self, server: Arc<Server>) {
        let t = self.cluster.node_timeout();
        let mut swim = self.new_swim();
        let mut rt = AccumulatingRuntime::new();
        let mut links = Links::new(self.cluster.clone(), self.me.addr);
        // Forwarded PUBLISHes travel on links of their own, so that a flood of them
        // never delays or drops a membership message.
        let mut publish_links = Links::new(self.cluster.clone(), self.me.addr);
        let mut timers: Vec<(Instant, Timer<NodeIdentity>)> = Vec::new();
        let tick = (t / 10).max(MIN_TICK);
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heartbeat = Instant::now() - t;
        let mut last_announce = Instant::now() - t;
        for &seed in &self.seeds {
            let _ = swim.announce(NodeIdentity::seed(seed), &mut rt);
        }
        loop {
            let next_timer = timers.iter().map(|(at, _)| *at).min();
            let mut membership_event = true;
            tokio::select! {
                biased;
                _ = server.shutdown.cancelled() => break,
                msg = self.queues.inbox.recv() => match msg {
                    Some(Inbound::Reset { hard }) => {
                        let _ = swim.leave_cluster(&mut rt);
                        self.drain(&server, &mut rt, &mut links, &mut timers);
                        swim = self.reset(hard);
                        rt = AccumulatingRuntime::new();
                        timers.clear();
                    }
                    Some(msg) => {
                        // A heartbeat changes the state only when it says something new
                        // (the tick publishes the rest).
                        membership_event = match &msg {
                            Inbound::Pong { .. } => false,
                            Inbound::Ping { from, caught_up, .. } => from
                                .parse::<SocketAddr>()
                                .is_ok_and(|a| self.said.get(&a) != Some(caught_up)),
                            _ => true,
                        };
                        self.receive(msg, &mut swim, &mut rt, &mut links);
                    }
                    None => break,
                },
                _ = async {
                    match next_timer {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                } => {
                    let now = Instant::now();
                    let (due, later): (Vec<_>, Vec<_>) = timers.drain(..).partition(|(at, _)| *at <= now);
                    timers = later;
                    for (_, timer) in due {
                        if let Err(e) = swim.handle_timer(timer, &mut rt) {
                            tracing::debug!("cluster: timer: {e}");
                        }
                    }
                }
                _ = ticker.tick() => {
                    let t = self.cluster.node_timeout();
                    if last_heartbeat.elapsed() >= t / 4 {
                        last_heartbeat = Instant::now();
                        self.heartbeat(&swim, &mut links);
                    }
                    if !self.active && last_announce.elapsed() >= t.max(Duration::from_millis(500)) {
                        last_announce = Instant::now();
                        for &seed in &self.seeds {
                            let _ = swim.announce(NodeIdentity::seed(seed), &mut rt);
                        }
                    }
                    self.update_lease(&swim);
                    self.maybe_place(&mut swim, &mut rt);
                    self.maybe_ready(&server, &mut swim, &mut rt);
                    self.maybe_say_caught_up(&server, &swim, &mut links);
                }
                // Last: forwarding never delays the timers above.
                Some((channel, message)) = self.queues.publish.recv() => {
                    membership_event = false;
                    for m in swim.iter_members().filter(|m| !m.id().is_seed()) {
                        publish_links.send(m.id().addr, Outbound::Publish(&channel, &message));
                    }
                }
            }
            if membership_event {
                self.drain(&server, &mut rt, &mut links, &mut timers);
                // Slots this node no longer holds leave its claim at once, not a
                // tick later: the others pick heirs by it.
                if self.publish(&server, &swim) {
                    self.maybe_say_caught_up(&server, &swim, &mut links);
                }
            }
        }
    }

    /// CLUSTER RESET: a new SWIM instance that knows nobody, for an identity without
    /// tokens (module doc).
    fn reset(&mut self, hard: bool) -> Swim {
        let id = if hard { parse_id(&crate::server::random_hex40()).expect("40 hex") } else { self.me.id };
        self.me = NodeIdentity {
            id,
            incarnation: self.me.incarnation + 1,
            epoch: 0,
            tokens: Vec::new(),
            ready: false,
            ..self.me.clone()
        };
        self.seeds.clear();
        self.remembered.clear();
        self.expected.clear();
        self.newcomers.clear();
        self.forgotten.clear();
        self.heard.clear();
        self.said.clear();
        self.active = false;
        self.detached = true;
        self.last_change = Instant::now();
        tracing::warn!(
            "Cluster: reset ({}): left the cluster, now {} with no tokens, waiting for CLUSTER MEET",
            if hard { "hard" } else { "soft" },
            self.me.id_hex()
        );
        self.new_swim()
    }

    /// A SWIM instance for this node's identity, sized for the members it expects.
    fn new_swim(&self) -> Swim {
        let seed = u64::from_le_bytes(self.me.id[..8].try_into().expect("20-byte id")) ^ self.me.incarnation;
        let config = foca_config(self.cluster.node_timeout(), self.expected.len() + 1);
        Foca::new(self.me.clone(), config, SmallRng::seed_from_u64(seed), PostcardCodec)
    }

    fn receive(
        &mut self,
        msg: Inbound,
        swim: &mut Swim,
        rt: &mut AccumulatingRuntime<NodeIdentity>,
        links: &mut Links,
    ) {
        match msg {
            Inbound::Swim { .. } | Inbound::Ping { .. } | Inbound::Pong { .. } if self.detached => {}
            Inbound::Reset { .. } => {}
            Inbound::StepDown => self.step_down(swim, rt),
            Inbound::Swim { from, payload } => {
                if let Err(e) = swim.handle_data(&payload, rt) {
                    tracing::debug!("cluster: message from {from}: {e}");
                }
            }
            Inbound::Ping { from, ms, caught_up } => {
                let Ok(addr) = from.parse::<SocketAddr>() else { return };
                if self.said.get(&addr) != Some(&caught_up) {
                    self.said.insert(addr, caught_up);
                }
                // A node held failed gets no answer: it must not go on serving.
                let failed =
                    swim.iter_membership_state().any(|m| m.id().addr == addr && m.state() == State::Down);
                if !failed && !self.forgotten.contains(&addr) {
                    links.send(addr, Outbound::Pong(ms));
                }
            }
            Inbound::Pong { from, ms } => {
                if let Ok(addr) = from.parse::<SocketAddr>()
                    && ms <= self.cluster.clock_ms()
                {
                    let heard = self.heard.entry(addr).or_default();
                    *heard = (*heard).max(ms);
                }
            }
            Inbound::Meet(addr) => {
                tracing::info!("Cluster: meeting {addr}");
                self.detached = false;
                if !self.seeds.contains(&addr) {
                    self.seeds.push(addr);
                }
                let _ = swim.announce(NodeIdentity::seed(addr), rt);
            }
            Inbound::Forget(id) => {
                let Some(member) = swim.iter_membership_state().find(|m| m.id().id_hex() == id).cloned()
                else {
                    self.remembered.remove(&id);
                    return;
                };
                let addr = member.id().addr;
                self.expected.retain(|a| *a != addr);
                self.newcomers.remove(&addr);
                if !self.forgotten.contains(&addr) {
                    self.forgotten.push(addr);
                }
                self.seeds.retain(|a| *a != addr);
                self.remembered.remove(&id);
                links.close(&addr);
                tracing::info!("Cluster: forgot node {id} {addr}");
                self.last_change = Instant::now();
            }
        }
    }

    /// Sends what foca asked to send, schedules its timers and acts on its
    /// notifications (one log line each).
    fn drain(
        &mut self,
        server: &Server,
        rt: &mut AccumulatingRuntime<NodeIdentity>,
        links: &mut Links,
        timers: &mut Vec<(Instant, Timer<NodeIdentity>)>,
    ) {
        while let Some((to, data)) = rt.to_send() {
            links.send(to.addr, Outbound::Swim(&data));
        }
        while let Some((after, timer)) = rt.to_schedule() {
            timers.push((Instant::now() + after, timer));
        }
        while let Some(n) = rt.to_notify() {
            match n {
                OwnedNotification::MemberUp(m) if !m.is_seed() => {
                    self.remembered.remove(&m.id_hex());
                    self.forgotten.retain(|a| *a != m.addr);
                    self.expect(m.addr);
                    tracing::info!(
                        "Cluster: node {} {} is up ({} tokens)",
                        m.id_hex(),
                        m.addr,
                        m.tokens.len()
                    );
                    self.last_change = Instant::now();
                }
                OwnedNotification::MemberDown(m) if !m.is_seed() => {
                    tracing::warn!("Cluster: node {} {} failed", m.id_hex(), m.addr);
                    self.last_change = Instant::now();
                }
                OwnedNotification::Rename(old, new) if !new.is_seed() => {
                    if !old.is_seed() {
                        tracing::info!(
                            "Cluster: node {} {} is now incarnation {} with {} tokens (epoch {})",
                            new.id_hex(),
                            new.addr,
                            new.incarnation,
                            new.tokens.len(),
                            new.epoch
                        );
                    }
                    self.last_change = Instant::now();
                }
                OwnedNotification::Active => {
                    self.active = true;
                    tracing::info!("Cluster: {} joined the cluster", self.me.id_hex());
                    self.last_change = Instant::now();
                }
                OwnedNotification::Idle => {
                    self.active = false;
                    tracing::warn!("Cluster: no other member is alive");
                }
                OwnedNotification::Rejoin(new) => {
                    // Declared failed while away: what this node held may have changed
                    // elsewhere since; drop it before serving again.
                    // The copies go too: every link ends first (one applying or loading
                    // finishes under the apply lock), and syncs again in full before
                    // this node can be ready.
                    if let Some(cluster) = &server.cluster {
                        cluster.upstreams.end_all();
                    }
                    self.followed = false;
                    self.caught_up.clear();
                    let dropped = {
                        let _applying = server.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
                        server.keyspace.drop_all_slots()
                    };
                    forget_clients_of_moved_keys(server);
                    server.pubsub.drop_shard_slots(&(0..super::slot::SLOTS as u16).collect::<Vec<_>>());
                    self.me = new;
                    tracing::warn!(
                        "Cluster: this node was declared failed; dropped {dropped} keys, rejoining as incarnation {}",
                        self.me.incarnation
                    );
                    self.last_change = Instant::now();
                    self.save();
                }
                OwnedNotification::Defunct => {
                    tracing::warn!("Cluster: this node's identity was declared failed");
                }
                _ => {}
            }
        }
    }

    /// The lease: heard from a majority of the members within the node timeout.
    fn update_lease(&mut self, swim: &Swim) {
        let joining: Vec<SocketAddr> = swim
            .iter_membership_state()
            .map(|m| m.id())
            .filter(|id| !id.is_seed() && !self.forgotten.contains(&id.addr))
            .map(|id| id.addr)
            .collect();
        for addr in joining {
            self.expect(addr);
        }
        let (now, t) = (self.cluster.clock_ms(), self.cluster.node_timeout_ms.load(Relaxed));
        self.newcomers.retain(|a, since| !self.heard.contains_key(a) && now < *since + t);
        // A majority of N = counted + 1 is N/2 + 1: this node and N/2 peers.
        let counted: Vec<SocketAddr> =
            self.expected.iter().filter(|a| !self.newcomers.contains_key(a)).copied().collect();
        let need = counted.len().div_ceil(2);
        let mut times: Vec<u64> = counted.iter().filter_map(|a| self.heard.get(a).copied()).collect();
        times.sort_unstable_by(|a, b| b.cmp(a));
        let until = match need {
            0 => u64::MAX,
            _ => times.get(need - 1).map_or(0, |&heard| heard + t),
        };
        let had = self.cluster.has_majority();
        self.cluster.set_lease_until(until);
        if had != self.cluster.has_majority() {
            let answered = times.iter().filter(|&&heard| heard + t > now).count();
            let others = counted.len();
            match had {
                true => tracing::warn!(
                    "Cluster: majority lost: {answered} of the {others} other members answered"
                ),
                false => tracing::info!(
                    "Cluster: majority held: {answered} of the {others} other members answered"
                ),
            }
        }
    }

    /// Counts `addr` for the majority from now on. While this node has the majority, a
    /// member never heard from is a newcomer until it answers or one node timeout passes;
    /// a node without it (joining, restarted, resumed) waits to hear from everyone's
    /// majority.
    fn expect(&mut self, addr: SocketAddr) {
        if !self.expected.contains(&addr) {
            self.expected.push(addr);
            if !self.heard.contains_key(&addr) && self.cluster.has_majority() {
                self.newcomers.insert(addr, self.cluster.clock_ms());
            }
        }
    }

    /// Places this node's tokens when it is its turn (module doc).
    fn maybe_place(&mut self, swim: &mut Swim, rt: &mut AccumulatingRuntime<NodeIdentity>) {
        let settle = self.cluster.node_timeout().max(Duration::from_millis(500));
        if !self.me.tokens.is_empty()
            || !self.active
            || !self.cluster.has_majority()
            || self.last_change.elapsed() < settle
        {
            return;
        }
        let live: Vec<Member<NodeIdentity>> =
            swim.iter_members().filter(|m| !m.id().is_seed()).cloned().collect();
        if live.iter().any(|m| m.state() == State::Suspect) {
            return;
        }
        if live.iter().any(|m| m.id().tokens.is_empty() && m.id().id < self.me.id) {
            return; // another joiner goes first
        }
        let state = self.build(swim);
        let tokens = state.ring.place(state.members.len(), state.myself);
        if tokens.is_empty() {
            return;
        }
        let next = NodeIdentity {
            incarnation: self.me.incarnation + 1,
            epoch: state.current_epoch + 1,
            tokens,
            ready: false,
            ..self.me.clone()
        };
        let taken: usize = {
            let mut members = state.members.clone();
            members[state.myself as usize].tokens = next.tokens.clone();
            members[state.myself as usize].ready = true;
            let after = ClusterState::build(members, &state.me().id, 0);
            after.slots_of(after.myself)
        };
        if !self.take_identity(next, swim, rt) {
            return;
        }
        tracing::info!(
            "Cluster: placed {} tokens on the ring (epoch {}): {taken} slots to copy, then serve",
            self.me.tokens.len(),
            self.me.epoch
        );
        self.save();
    }

    /// Takes an identity that serves its arcs once this node holds them: every member
    /// serving some of them meanwhile streams them to it over a link that has loaded
    /// its snapshot (those nobody serves have nothing to copy). Like placement, only
    /// with the majority and a still view with no suspect in it.
    fn maybe_ready(&mut self, server: &Server, swim: &mut Swim, rt: &mut AccumulatingRuntime<NodeIdentity>) {
        let settle = self.cluster.node_timeout().max(Duration::from_millis(500));
        if self.me.ready
            || self.stepped_down
            || self.me.tokens.is_empty()
            || !self.cluster.has_majority()
            || self.last_change.elapsed() < settle
        {
            return;
        }
        let Some(cluster) = &server.cluster else { return };
        let state = self.cluster.state();
        // Not while some member is a suspect: one remembered and not yet heard of may be
        // serving part of the arcs (this view would copy them from the wrong node).
        if state.members.iter().any(|m| m.health == Health::Suspect) {
            return;
        }
        let (from, _) = state.serving_my_arcs();
        for &p in &from {
            let id = &state.members[p as usize].id;
            let slots =
                (0..super::slot::SLOTS as u16).filter(|&s| state.on_my_arcs(s) && state.owner(s) == Some(p));
            if !cluster.upstreams.caught_up(id, slots) {
                return;
            }
        }
        let next = NodeIdentity {
            incarnation: self.me.incarnation + 1,
            epoch: state.current_epoch + 1,
            ready: true,
            ..self.me.clone()
        };
        if !self.take_identity(next, swim, rt) {
            return;
        }
        let arcs = (0..super::slot::SLOTS as u16).filter(|&s| state.on_my_arcs(s)).count();
        tracing::info!(
            "Cluster: ready (epoch {}): copied its {arcs} slots from {} members, serving them",
            self.me.epoch,
            from.len()
        );
        self.save();
    }

    /// Says which slots' current keys this node holds, when that changed: a member
    /// that copied a range it became a replica of lets the members that held it before
    /// drop it, and a failed member's arcs go to a member that holds them
    /// ([`ClusterState`]). It rides on the heartbeats (sent at once on a change), not
    /// on the SWIM identity: a new identity that reaches a member after this node was
    /// declared failed would bring it back to life there.
    fn maybe_say_caught_up(&mut self, server: &Server, swim: &Swim, links: &mut Links) {
        let Some(cluster) = &server.cluster else { return };
        let state = self.cluster.state();
        let caught_up = cluster.upstreams.current_slots(&state);
        if caught_up == self.caught_up {
            return;
        }
        let slots: usize = caught_up.iter().map(|&(a, b)| (b - a) as usize + 1).sum();
        tracing::info!("Cluster: holds the current keys of {slots} slots");
        self.caught_up = caught_up;
        self.heartbeat(swim, links);
    }

    /// Sends every member a heartbeat, which says what this node holds too.
    fn heartbeat(&self, swim: &Swim, links: &mut Links) {
        let now = self.cluster.clock_ms();
        let caught_up = super::state::encode_ranges(&self.caught_up);
        for m in swim.iter_members() {
            links.send(m.id().addr, Outbound::Ping(now, &caught_up));
        }
    }

    /// Stops serving for good (module doc): the replicas that hold its arcs take them
    /// over as soon as they hear of it.
    fn step_down(&mut self, swim: &mut Swim, rt: &mut AccumulatingRuntime<NodeIdentity>) {
        self.stepped_down = true;
        if !self.me.ready {
            return;
        }
        let state = self.cluster.state();
        let next = NodeIdentity {
            incarnation: self.me.incarnation + 1,
            epoch: state.current_epoch + 1,
            ready: false,
            ..self.me.clone()
        };
        if !self.take_identity(next, swim, rt) {
            return;
        }
        tracing::info!(
            "Cluster: stepped down (epoch {}): its {} slots go to their replicas",
            self.me.epoch,
            state.slots_of(state.myself)
        );
    }

    /// Takes `next` as this node's identity and announces it to every member at once
    /// (placement, ready, step down); false if foca refused it.
    fn take_identity(
        &mut self,
        next: NodeIdentity,
        swim: &mut Swim,
        rt: &mut AccumulatingRuntime<NodeIdentity>,
    ) -> bool {
        if let Err(e) = swim.change_identity(next.clone(), &mut *rt) {
            tracing::warn!("Cluster: could not take the new identity: {e}");
            return false;
        }
        for m in swim.iter_members().filter(|m| !m.id().is_seed()).cloned().collect::<Vec<_>>() {
            let _ = swim.announce(m.id().clone(), &mut *rt);
        }
        self.me = next;
        self.last_change = Instant::now();
        true
    }

    /// The state foca's view makes.
    fn build(&self, swim: &Swim) -> ClusterState {
        ClusterState::build(self.members(swim), &self.me.id_hex(), self.cluster.replicas)
    }

    /// The members as foca and the heartbeats show them, this node first.
    fn members(&self, swim: &Swim) -> Vec<Node> {
        let mut members: Vec<Node> =
            vec![Node { caught_up: self.caught_up.clone(), ..node_of(&self.me, Health::Online, 0) }];
        for m in swim.iter_membership_state() {
            let id = m.id();
            if id.is_seed() || id.id == self.me.id || !self.expected.contains(&id.addr) {
                continue;
            }
            let health = match m.state() {
                State::Alive => Health::Online,
                State::Suspect => Health::Suspect,
                State::Down => Health::Failed,
            };
            let heard = self
                .heard
                .get(&id.addr)
                .map_or(0, |&ms| unix_ms().saturating_sub(self.cluster.clock_ms() - ms));
            let caught_up = self.said.get(&id.addr).cloned().unwrap_or_default();
            members.push(Node { caught_up, ..node_of(id, health, heard) });
        }
        for r in self.remembered.values() {
            if members.iter().any(|m| m.id == r.id) {
                continue;
            }
            members.extend(suspect(r));
        }
        members
    }

    /// Publishes the state of foca's view; empties the slots this node no longer
    /// serves; saves the nodes file when what it holds changed. Returns whether the
    /// ranges changed.
    fn publish(&mut self, server: &Arc<Server>, swim: &Swim) -> bool {
        let members = self.members(swim);
        let previous = self.cluster.state();
        if self.followed
            && let Some(same) = previous.with_times_of(members.clone())
        {
            self.cluster.publish(same);
            return false;
        }
        let next = ClusterState::build(members, &self.me.id_hex(), self.cluster.replicas);
        let lost = previous.slots_lost(&next);
        let changed = previous.ranges != next.ranges || !std::mem::replace(&mut self.followed, true);
        let ok_before = self.cluster.is_ok(&previous);
        let members_changed = previous.members.len() != next.members.len()
            || previous
                .members
                .iter()
                .zip(&next.members)
                .any(|(a, b)| a.health != b.health || a.tokens != b.tokens);
        for m in &next.members {
            let Some(before) = previous.members.iter().find(|p| p.id == m.id) else { continue };
            match (before.health, m.health) {
                (Health::Online, Health::Suspect) => {
                    tracing::warn!("Cluster: node {} {}:{} is suspected (fail?)", m.id, m.ip, m.port)
                }
                (Health::Suspect, Health::Online) => {
                    tracing::info!("Cluster: node {} {}:{} answers again", m.id, m.ip, m.port)
                }
                _ => {}
            }
        }
        self.cluster.publish(next);
        if !lost.is_empty() {
            let dropped = server.keyspace.drop_slots(&lost);
            forget_clients_of_moved_keys(server);
            server.pubsub.drop_shard_slots(&lost);
            tracing::info!("Cluster: handed {} slots over, dropped their {dropped} keys", lost.len());
        }
        let state = self.cluster.state();
        // Slots this node served and now keeps as a copy at most: their writes go to
        // another node from now on.
        let demoted: Vec<u16> = (0..super::slot::SLOTS as u16)
            .filter(|&s| previous.is_mine(s) && !state.is_mine(s) && state.holds(s))
            .collect();
        if !demoted.is_empty() {
            forget_clients_of_moved_keys(server);
            server.pubsub.drop_shard_slots(&demoted);
            tracing::info!("Cluster: handed {} slots over, keeping their keys as copies", demoted.len());
        }
        if changed {
            super::replication::follow(server, &state);
        }
        let ok = self.cluster.is_ok(&state);
        if ok != ok_before || changed {
            tracing::info!(
                "Cluster state {}: {} members, {} slots served here, epoch {}",
                if ok { "ok" } else { "fail" },
                state.members.len(),
                state.slots_of(state.myself),
                state.current_epoch
            );
        }
        if members_changed {
            self.save();
        }
        changed
    }

    /// Writes the nodes file if what it would hold changed.
    fn save(&mut self) {
        let state = self.cluster.state();
        let others = state
            .members
            .iter()
            .filter(|m| m.id != self.me.id_hex())
            .map(|m| Remembered {
                id: m.id.clone(),
                addr: m.addr().to_string(),
                epoch: m.epoch,
                tokens: m.tokens.clone(),
            })
            .collect();
        let file = NodesFile {
            myself: Some(Remembered {
                id: self.me.id_hex(),
                addr: self.me.addr.to_string(),
                epoch: self.me.epoch,
                tokens: self.me.tokens.clone(),
            }),
            others,
            incarnation: self.me.incarnation,
        };
        if self.saved.as_ref() == Some(&file) {
            return;
        }
        match file.save(&self.path) {
            Ok(()) => self.saved = Some(file),
            Err(e) => tracing::warn!("Cluster: cannot write {}: {e}", self.path.display()),
        }
    }
}
