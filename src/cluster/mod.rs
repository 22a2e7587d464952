//! Cluster mode: key slots (which also place keys in shards), the ring that maps slots
//! to nodes, the cluster state built from it, and the membership that keeps it.
//!
//! Reading order: [`slot`] (a key's position) → [`ring`] (tokens, placement) →
//! [`state`] (members, ownership; one immutable value) → [`membership`] (SWIM through
//! `foca`: joins, failures, rejoins; the one place the state changes) → [`peer`]
//! (node-to-node links over the client port) → [`nodes_file`] (what survives a
//! restart).
//!
//! [`Cluster`] is what the rest of the server sees: the current [`ClusterState`],
//! swapped whole by the membership thread, and the lease that says whether this node
//! may serve at all — it has heard from a majority of the members within
//! `cluster-node-timeout`. Dispatch checks both on every command ([`Cluster::route`]).

pub mod handover;
pub mod membership;
pub mod nodes_file;
pub mod peer;
pub mod proxy;
pub mod replication;
pub mod ring;
pub mod slot;
pub mod state;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::{self, CommandError};
use state::ClusterState;

/// Version of the peer messages, as sent; a peer speaking another is not listened to.
pub const PROTOCOL_VERSION: &str = "1";

/// Messages from peers waiting for the membership thread; more are dropped (gossip is
/// datagrams: SWIM tolerates loss).
pub const INBOX_CAPACITY: usize = 1024;
/// PUBLISHes waiting to be sent to the other nodes; more are not forwarded. Kept apart
/// from the inbox so that a flood of messages never delays membership.
pub const PUBLISH_CAPACITY: usize = 4096;

/// What membership gets from elsewhere in the server.
#[derive(Debug)]
pub enum Inbound {
    /// A SWIM datagram, with the sending node's address.
    Swim { from: String, payload: Bytes },
    /// A heartbeat: `ms` is the sender's clock, to echo; `caught_up`, the slots whose
    /// current keys the sender holds.
    Ping { from: String, ms: u64, caught_up: Vec<(u16, u16)> },
    /// The answer to this node's heartbeat sent at `ms` (its clock).
    Pong { from: String, ms: u64 },
    /// CLUSTER MEET ip port.
    Meet(std::net::SocketAddr),
    /// CLUSTER FORGET id.
    Forget(String),
    /// CLUSTER RESET [HARD|SOFT] (HARD: a new node id too).
    Reset { hard: bool },
    /// Stop serving for good: the node is about to stop ([`handover`]).
    StepDown,
}

/// Counters shown by CLUSTER INFO and `/metrics`.
#[derive(Default)]
pub struct ClusterStats {
    pub messages_sent: AtomicU64,
    pub messages_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub heartbeats_sent: AtomicU64,
    pub heartbeats_received: AtomicU64,
    pub redirects_moved: AtomicU64,
    pub redirects_crossslot: AtomicU64,
    pub redirects_down: AtomicU64,
    /// Commands answered through the proxy port, and how long each took (µs buckets
    /// of `metrics::names::COMMAND_BUCKETS_US`, the last one unbounded).
    pub proxied: AtomicU64,
    pub proxy_buckets: [AtomicU64; 22],
    pub proxy_sum_us: AtomicU64,
}

impl ClusterStats {
    /// One command answered through the proxy after `micros`.
    pub fn record_proxied(&self, micros: u64) {
        self.proxied.fetch_add(1, Relaxed);
        self.proxy_sum_us.fetch_add(micros, Relaxed);
        let i = crate::metrics::names::bucket_index(&crate::metrics::names::COMMAND_BUCKETS_US, micros);
        self.proxy_buckets[i].fetch_add(1, Relaxed);
    }
}

pub struct Cluster {
    state: RwLock<Arc<ClusterState>>,
    origin: Instant,
    /// Milliseconds after `origin` until which this node has a majority (u64::MAX
    /// while it is the only member).
    lease_until: AtomicU64,
    /// `cluster-allow-reads-when-down` and `cluster-require-full-coverage`, mirrored.
    pub allow_reads_when_down: AtomicBool,
    pub require_full_coverage: AtomicBool,
    pub node_timeout_ms: AtomicU64,
    /// `cluster-replicas`.
    pub replicas: usize,
    pub secret: String,
    pub stats: ClusterStats,
    /// The links to the primaries this node keeps copies from.
    pub upstreams: replication::Upstreams,
    inbox: tokio::sync::mpsc::Sender<Inbound>,
    publish: tokio::sync::mpsc::Sender<(Bytes, Bytes)>,
}

/// The membership thread's ends of a [`Cluster`]'s queues.
pub struct Receivers {
    pub inbox: tokio::sync::mpsc::Receiver<Inbound>,
    pub publish: tokio::sync::mpsc::Receiver<(Bytes, Bytes)>,
}

/// Where a keyed command goes, decided before it runs.
pub enum Redirect {
    /// Run it here.
    Here,
    Error(CommandError),
}

impl Cluster {
    /// A cluster handle starting from `state`, and the receiving ends of its queues
    /// for the membership thread.
    pub fn new(state: ClusterState, settings: &crate::config::ClusterSettings) -> (Cluster, Receivers) {
        let (tx, inbox) = tokio::sync::mpsc::channel(INBOX_CAPACITY);
        let (publish, publish_rx) = tokio::sync::mpsc::channel(PUBLISH_CAPACITY);
        let cluster = Cluster {
            state: RwLock::new(Arc::new(state)),
            origin: Instant::now(),
            lease_until: AtomicU64::new(u64::MAX),
            allow_reads_when_down: AtomicBool::new(settings.allow_reads_when_down),
            require_full_coverage: AtomicBool::new(settings.require_full_coverage),
            node_timeout_ms: AtomicU64::new(settings.node_timeout_ms),
            replicas: settings.replicas,
            secret: settings.secret.clone(),
            stats: ClusterStats::default(),
            upstreams: replication::Upstreams::default(),
            inbox: tx,
            publish,
        };
        (cluster, Receivers { inbox, publish: publish_rx })
    }

    /// The state now: a snapshot that stays whole however the cluster changes.
    pub fn state(&self) -> Arc<ClusterState> {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Publishes a new state (membership only); returns the one it replaces.
    pub fn publish(&self, next: ClusterState) -> Arc<ClusterState> {
        std::mem::replace(&mut *self.state.write().unwrap_or_else(|p| p.into_inner()), Arc::new(next))
    }

    pub fn node_timeout(&self) -> Duration {
        Duration::from_millis(self.node_timeout_ms.load(Relaxed))
    }

    /// Monotonic milliseconds since this handle was made.
    pub fn clock_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    pub fn set_lease_until(&self, ms: u64) {
        self.lease_until.store(ms, Relaxed);
    }

    /// This node has heard from a majority of the members within the node timeout.
    /// Read from the monotonic clock on every call, so a node resumed after a pause
    /// stops serving before any timer of its own has run.
    pub fn has_majority(&self) -> bool {
        self.clock_ms() < self.lease_until.load(Relaxed)
    }

    /// `cluster_state:ok`: a majority, and every slot served unless
    /// `cluster-require-full-coverage no`.
    pub fn is_ok(&self, state: &ClusterState) -> bool {
        self.has_majority()
            && (!self.require_full_coverage.load(Relaxed) || state.slots_assigned() == slot::SLOTS)
    }

    /// Hands a message to the membership thread; false when its inbox is full.
    pub fn deliver(&self, msg: Inbound) -> bool {
        self.inbox.try_send(msg).is_ok()
    }

    /// Queues a PUBLISH for the other nodes; false when too many are waiting.
    pub fn forward_publish(&self, channel: Bytes, message: Bytes) -> bool {
        self.publish.try_send((channel, message)).is_ok()
    }

    /// Redis Cluster's `getNodeByQuery` for a command with keys in `slots` (the first
    /// key's first): CROSSSLOT when they differ, `Hash slot not served`, CLUSTERDOWN
    /// while the cluster is not ok (reads pass with `cluster-allow-reads-when-down`),
    /// MOVED when another node serves the slot — unless it is a read on a connection
    /// that sent READONLY and this node keeps a copy of the slot.
    pub fn route(&self, mut slots: impl Iterator<Item = u16>, write: bool, readonly: bool) -> Redirect {
        let Some(first) = slots.next() else { return Redirect::Here };
        if slots.any(|s| s != first) {
            self.stats.redirects_crossslot.fetch_add(1, Relaxed);
            return Redirect::Error(error::CROSSSLOT);
        }
        let state = self.state();
        let Some(owner) = state.owner(first) else {
            self.stats.redirects_down.fetch_add(1, Relaxed);
            return Redirect::Error(error::CLUSTERDOWN_UNSERVED);
        };
        if !self.is_ok(&state) {
            if !self.allow_reads_when_down.load(Relaxed) {
                self.stats.redirects_down.fetch_add(1, Relaxed);
                return Redirect::Error(error::CLUSTERDOWN);
            }
            if write {
                self.stats.redirects_down.fetch_add(1, Relaxed);
                return Redirect::Error(error::CLUSTERDOWN_READS_ONLY);
            }
        }
        if owner == state.myself || (readonly && !write && state.role(first) == state::Role::Replica) {
            return Redirect::Here;
        }
        self.stats.redirects_moved.fetch_add(1, Relaxed);
        let node = &state.members[owner as usize];
        Redirect::Error(CommandError::owned(format!("MOVED {first} {}:{}", node.ip, node.port)))
    }
}
