//! The running server: shared state ([`Server`]), threads, listeners and shutdown.
//!
//! Thread model (see `lib.rs` for the picture): one acceptor thread owns the listening
//! sockets, the signal handlers and the cron (active expiry); `threads` I/O threads each
//! run a single-threaded tokio runtime and own the connections handed to them round
//! robin. A connection never moves between threads; its commands run inline on its
//! thread under the shard lock of the keys they touch.

pub mod ahead;
pub mod blocking;
pub mod clients;
pub mod connection;
pub mod defrag;
pub mod digest;
pub mod feed;
pub mod latency;
pub mod listener;
pub mod local;
pub mod memory;
pub mod monitor;
pub mod pause;
mod persistence;
pub mod pubsub;
pub mod replica;
pub mod replication;
pub mod session;
pub mod slowlog;
pub mod stats;
pub mod tracking;
pub mod watch;

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{CmdResult, OOM};
use crate::storage::Keyspace;
use crate::storage::evict::{Access, Policy};
use clients::Clients;
use slowlog::SlowLog;
use stats::{Snapshot, Stats};

/// The Redis version whose behaviour slotcache matches (clients gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";
pub const SLOTCACHE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long shutdown waits for connections to finish their batch in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Set by the binary once it has installed its log subscriber: applies a `loglevel`
/// name (CONFIG SET loglevel). The library never installs a subscriber itself.
pub static LOGLEVEL_HOOK: std::sync::OnceLock<SetLogLevel> = std::sync::OnceLock::new();

/// Applies a `loglevel` name to the process's log filter.
pub type SetLogLevel = Box<dyn Fn(&str) + Send + Sync>;

/// Keys storage removes on its own (expiry, eviction) change watched keys and may be
/// published as keyspace notifications.
struct Removals {
    pubsub: Arc<pubsub::PubSub>,
    watches: Arc<watch::Watches>,
    tracking: Arc<tracking::Tracking>,
    /// Replicas get each removal as a DEL.
    replication: Arc<replication::Replication>,
}

impl crate::storage::RemovalListener for Removals {
    fn removed(&self, db: usize, key: &[u8], why: crate::storage::Removal) {
        use pubsub::events::{EVICTED, EXPIRED};
        self.replication.removed(db, key);
        self.watches.touch(db, key);
        self.tracking.invalidate(key, 0);
        match why {
            crate::storage::Removal::Expired => self.pubsub.notify(EXPIRED, "expired", key, db),
            crate::storage::Removal::Evicted => self.pubsub.notify(EVICTED, "evicted", key, db),
        }
    }
}

/// Configuration values read on hot paths, mirrored into atomics on every change.
#[derive(Default)]
pub struct Limits {
    pub maxclients: AtomicUsize,
    pub timeout_s: AtomicU64,
    pub proto_max_bulk_len: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    pub output_hard_limit: AtomicU64,
    pub maxmemory: AtomicU64,
    /// `maxmemory-clients` in bytes (a percentage resolved against maxmemory); 0: none.
    pub maxmemory_clients: AtomicU64,
    pub tcp_keepalive_s: AtomicU64,
}

pub struct Server {
    config: RwLock<Config>,
    pub limits: Limits,
    pub keyspace: Keyspace,
    pub clients: Clients,
    pub stats: Stats,
    pub slowlog: SlowLog,
    pub latency: latency::LatencyMonitor,
    pub monitors: monitor::Monitors,
    pub pubsub: Arc<pubsub::PubSub>,
    /// CLIENT TRACKING.
    pub tracking: Arc<tracking::Tracking>,
    pub watches: Arc<watch::Watches>,
    pub blocking: Arc<blocking::Blocking>,
    pub memory: memory::MemoryGauge,
    pub defrag: defrag::ActiveDefrag,
    /// The eviction policy and samples, mirrored from the configuration.
    eviction: std::sync::Mutex<(Policy, usize)>,
    pub run_id: String,
    /// The replication ID (INFO master_replid), new at start and at DEBUG
    /// CHANGE-REPL-ID.
    pub replid: Mutex<String>,
    pub started: Instant,
    pub start_ms: u64,
    /// Bytes in use when the server had started (MEMORY STATS, INFO).
    pub startup_used: u64,
    pub shutdown: CancellationToken,
    pub active_expire: AtomicBool,
    /// CLIENT PAUSE.
    pub pause: pause::Pause,
    /// New TCP listeners for the acceptor (CONFIG SET port / bind).
    rebind: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Vec<std::net::TcpListener>>>>,
    /// The second of the cron's last jemalloc decay pass.
    last_decay_s: AtomicU64,
    pub tcp_port: AtomicU64,
    pub threads: usize,
    /// Cluster mode's state and lease (`cluster-enabled yes`).
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
    /// Snapshots: loading at start-up, the last save (INFO persistence, LASTSAVE).
    pub persistence: crate::persist::snapshot::Persistence,
    /// The server stopped because it could not go on (a snapshot that does not load):
    /// the process exits with status 1.
    pub failed: AtomicBool,
    /// This server's own handle, for work it starts on threads of its own (BGSAVE);
    /// set once it is shared.
    me: std::sync::OnceLock<std::sync::Weak<Server>>,
    /// The primary this server replicates (REPLICAOF), while it does.
    upstream: Mutex<Option<replica::Upstream>>,
    /// Held while the replica's link applies a batch of its primary's stream, and while
    /// a save notes the offset its snapshot is at: the two agree.
    pub apply_lock: Mutex<()>,
    /// The replication ID and offset the snapshot loaded at start-up was at, for a
    /// partial resync with the primary it came from.
    pub loaded_position: Mutex<Option<(String, u64)>>,
    /// Mirrors whether `upstream` is set, read by every write (`replica-read-only`).
    pub is_replica: AtomicBool,
    /// On a replica: the REPLICAOF generation whose link to the primary is up, 0 when
    /// none is (`replica-serve-stale-data`).
    pub master_link_up: AtomicU64,
    /// The primary's replication stream, backlog and replicas.
    pub replication: Arc<replication::Replication>,
    /// MIGRATE's connections to its targets, kept for the next MIGRATE there.
    pub migrate_sockets: crate::command::persist::MigrateSockets,
    /// (when, commands, input bytes, output bytes) samples taken by the cron, for
    /// INFO's instantaneous_* rates.
    samples: Mutex<VecDeque<(Instant, [u64; 3])>>,
}

/// Samples kept for the instantaneous rates (1.6 s at the default hz).
const RATE_SAMPLES: usize = 16;
/// How long a connection let in past `maxclients` as a possible cluster peer link has
/// to present itself as one.
const PROVISIONAL_GRACE: Duration = Duration::from_secs(2);

impl Server {
    pub fn new(config: Config) -> Server {
        Server::with_cluster(config, None)
    }

    /// A server in cluster mode when `cluster` is given.
    pub fn with_cluster(config: Config, cluster: Option<Arc<crate::cluster::Cluster>>) -> Server {
        let pubsub: Arc<pubsub::PubSub> = Arc::default();
        let server = Server {
            limits: Limits::default(),
            keyspace: Keyspace::new(config.shards, config.databases),
            clients: Clients::default(),
            stats: Stats::default(),
            slowlog: SlowLog::default(),
            latency: latency::LatencyMonitor::default(),
            monitors: monitor::Monitors::default(),
            tracking: Arc::new(tracking::Tracking::new(pubsub.clone())),
            pubsub,
            watches: Arc::default(),
            blocking: Arc::default(),
            memory: memory::MemoryGauge::default(),
            defrag: defrag::ActiveDefrag::default(),
            eviction: std::sync::Mutex::new((Policy::NoEviction, 5)),
            run_id: random_hex40(),
            replid: Mutex::new(random_hex40()),
            started: Instant::now(),
            start_ms: crate::storage::now_ms(),
            startup_used: memory::memory_info().used,
            shutdown: CancellationToken::new(),
            active_expire: AtomicBool::new(true),
            last_decay_s: AtomicU64::new(0),
            pause: pause::Pause::default(),
            rebind: Mutex::new(None),
            tcp_port: AtomicU64::new(config.port as u64),
            threads: config.threads,
            cluster,
            persistence: crate::persist::snapshot::Persistence::default(),
            failed: AtomicBool::new(false),
            me: std::sync::OnceLock::new(),
            migrate_sockets: Default::default(),
            replication: Default::default(),
            upstream: Mutex::new(None),
            is_replica: AtomicBool::new(false),
            master_link_up: AtomicU64::new(0),
            apply_lock: Mutex::new(()),
            loaded_position: Mutex::new(None),
            samples: Mutex::new(VecDeque::with_capacity(RATE_SAMPLES + 1)),
            config: RwLock::new(config),
        };
        server.apply_config();
        server.persistence.last_save_s.store(server.start_ms / 1000, Relaxed);
        server.persistence.last_bgsave_ok.store(true, Relaxed);
        server.keyspace.set_listener(Some(Arc::new(Removals {
            pubsub: server.pubsub.clone(),
            watches: server.watches.clone(),
            tracking: server.tracking.clone(),
            replication: server.replication.clone(),
        })));
        server
    }

    /// Remembers the shared handle of this server (see [`Server::shared`]).
    pub fn share(&self, me: &Arc<Server>) {
        let _ = self.me.set(Arc::downgrade(me));
    }

    /// This server's shared handle, once [`Server::share`] was called.
    pub fn shared(&self) -> Option<Arc<Server>> {
        self.me.get().and_then(std::sync::Weak::upgrade)
    }

    pub fn config(&self) -> RwLockReadGuard<'_, Config> {
        self.config.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn config_mut(&self) -> RwLockWriteGuard<'_, Config> {
        self.config.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Copies hot configuration values into their atomic mirrors.
    pub fn apply_config(&self) {
        // A copy: the configuration lock must not be held while shards are locked below
        // (a transaction may hold every shard and want the configuration).
        let c = self.config().clone();
        let int = |name: &str| c.get(name).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        self.replication.min_to_write.store(int("min-replicas-to-write"), Relaxed);
        self.replication.min_max_lag_s.store(int("min-replicas-max-lag"), Relaxed);
        self.limits.maxclients.store(c.maxclients, Relaxed);
        self.limits.timeout_s.store(c.timeout, Relaxed);
        self.limits.proto_max_bulk_len.store(c.proto_max_bulk_len, Relaxed);
        self.limits.query_buffer_limit.store(c.client_query_buffer_limit, Relaxed);
        self.limits.output_hard_limit.store(c.output_limit_normal.hard, Relaxed);
        self.limits.maxmemory.store(c.maxmemory, Relaxed);
        // As Redis: a percentage needs maxmemory, and no limit is below 128 KiB (so a
        // bad setting cannot shut every client out).
        let clients_limit = c.get("maxmemory-clients").map_or(0, |v| match v.strip_suffix('%') {
            Some(p) => c.maxmemory / 100 * p.parse::<u64>().unwrap_or(0),
            None => v.parse().unwrap_or(0),
        });
        let clients_limit = if clients_limit > 0 { clients_limit.max(128 * 1024) } else { 0 };
        self.limits.maxmemory_clients.store(clients_limit, Relaxed);
        let policy = Policy::parse(&c.maxmemory_policy);
        *self.eviction.lock().unwrap_or_else(|p| p.into_inner()) = (policy, c.maxmemory_samples as usize);
        self.keyspace.set_access(Access {
            lfu: policy.is_lfu(),
            admission: policy == Policy::AllKeysTinyLfu,
            lfu_log_factor: c.lfu_log_factor,
            lfu_decay_time: c.lfu_decay_time,
        });
        self.limits.tcp_keepalive_s.store(c.tcp_keepalive, Relaxed);
        self.slowlog.slower_than.store(c.slowlog_log_slower_than, Relaxed);
        self.slowlog.max_len.store(c.slowlog_max_len, Relaxed);
        self.slowlog.trim();
        self.latency.threshold_ms.store(c.latency_monitor_threshold, Relaxed);
        self.pubsub.set_limit(c.output_limit_pubsub);
        self.pubsub.set_events(c.notify_keyspace_events);
        let max_keys = c.get("tracking-table-max-keys").and_then(|v| v.parse().ok());
        self.tracking.set_max_keys(max_keys.unwrap_or(tracking::DEFAULT_MAX_KEYS));
        self.tracking.set_output_limit(c.output_limit_normal.hard);
        if let Some(set_level) = LOGLEVEL_HOOK.get() {
            set_level(&c.loglevel);
        }
    }

    /// CLIENT PAUSE: holds commands, and expiry with them, until `end_ms`.
    pub fn pause_clients(&self, kind: pause::PauseKind, end_ms: u64) {
        self.pause.pause(kind, end_ms);
        self.keyspace.hold_expiry(true);
    }

    /// Ends a pause (CLIENT UNPAUSE, or the cron at its end time).
    pub fn unpause_clients(&self) {
        if self.pause.unpause() {
            // A new pause may have begun meanwhile: follow the state, not the event.
            self.keyspace.hold_expiry(self.expiry_held());
        }
    }

    /// Whether reads leave expired keys in place: while clients are paused, while a
    /// replication stream is kept (its DELs come from active expiry, in order), and on a
    /// replica (its primary's DELs remove them).
    /// Which slots keyspace-wide commands see (DBSIZE, KEYS, SCAN, RANDOMKEY, INFO
    /// keyspace): every one, or in cluster mode the node's primary ranges, not the
    /// copies it keeps for other nodes.
    pub fn visible_slots(&self) -> impl Fn(u16) -> bool + use<> {
        let state = self.cluster.as_ref().map(|c| c.state());
        move |slot| state.as_ref().is_none_or(|s| s.role(slot) == crate::cluster::state::Role::Primary)
    }

    /// (keys, keys with a TTL) per database, of the slots [`Self::visible_slots`] takes.
    pub fn db_stats(&self) -> Vec<(usize, usize)> {
        match self.cluster {
            Some(_) => self.keyspace.db_stats_in(self.visible_slots()),
            None => self.keyspace.db_stats(),
        }
    }

    /// Keys in database `db`, of the slots [`Self::visible_slots`] takes (DBSIZE).
    pub fn db_size(&self, db: usize) -> usize {
        match self.cluster {
            Some(_) => self.keyspace.db_size_in(db, self.visible_slots()),
            None => self.keyspace.db_size(db),
        }
    }

    pub fn expiry_held(&self) -> bool {
        self.pause.paused() || self.replication.active.load(Relaxed) || self.replica_of().is_some()
    }

    /// CONFIG SET port / bind: binds `next`'s addresses, then hands the sockets to the
    /// acceptor, which stops accepting on the old ones (connections already open stay).
    /// Nothing changes when binding fails.
    pub fn rebind(&self, next: &Config) -> io::Result<()> {
        let tcp = listener::bind_tcp(next)?;
        if let Some(port) = tcp.first().and_then(|l| l.local_addr().ok()).map(|a| a.port()) {
            self.tcp_port.store(port as u64, Relaxed);
        }
        let addrs: Vec<String> =
            tcp.iter().filter_map(|l| l.local_addr().ok()).map(|a| a.to_string()).collect();
        let sent = self
            .rebind
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|tx| tx.send(tcp).is_ok());
        if !sent {
            return Err(io::Error::other("the acceptor is not running"));
        }
        tracing::info!("Listening on {} now", addrs.join(", "));
        Ok(())
    }

    /// The acceptor's end of [`Server::rebind`].
    pub fn rebind_channel(&self) -> tokio::sync::mpsc::UnboundedReceiver<Vec<std::net::TcpListener>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *self.rebind.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    /// Before a write that may grow memory: with maxmemory set and exceeded, evicts by
    /// the policy until under it again, or fails with -OOM (noeviction, or nothing left
    /// to evict).
    pub fn make_room(&self, now_ms: u64) -> CmdResult {
        let max = self.limits.maxmemory.load(Relaxed);
        if max == 0 {
            return Ok(());
        }
        let used = self.memory.current(now_ms);
        if used <= max {
            return Ok(());
        }
        if self.evict_down_to(max, used, now_ms) { Ok(()) } else { Err(OOM) }
    }

    /// Evicts until `used` is at or under `max`; false when that was not possible.
    fn evict_down_to(&self, max: u64, used: u64, now_ms: u64) -> bool {
        let (policy, samples) = *self.eviction.lock().unwrap_or_else(|p| p.into_inner());
        if policy == Policy::NoEviction {
            return false;
        }
        // A replica evicts nothing of its own: its primary's evictions come as DELs.
        if self.replica_of().is_some() {
            return true;
        }
        let need = used - max;
        let _order = self.replication.active.load(Relaxed).then(|| self.replication.order.lock());
        let (freed, exhausted) = self.keyspace.evict(policy, samples, need, now_ms);
        self.memory.freed(freed);
        // Short of the goal only because of the per-call bound: the next write (or the
        // cron) evicts more; refuse the write only when nothing is left to evict.
        !exhausted
    }

    pub fn stats_snapshot(&self) -> Snapshot {
        self.stats.snapshot(crate::command::table().specs.len(), self.keyspace.expired_keys())
    }

    pub fn reset_stats(&self) {
        self.stats.reset(crate::command::table().specs.len(), self.keyspace.expired_keys());
    }

    /// One pass of the periodic work: active expiry on every shard, within a time
    /// budget of a quarter of the tick (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC).
    pub fn cron(&self, tick: Duration) {
        crate::storage::clock::refresh();
        let now = crate::storage::now_ms();
        let used = self.memory.refresh(now);
        let max = self.limits.maxmemory.load(Relaxed);
        if max > 0 && used > max {
            // Also after CONFIG SET maxmemory lowered it: evict without waiting for writes.
            self.evict_down_to(max, used, now);
        }
        let clients_limit = self.limits.maxmemory_clients.load(Relaxed);
        if clients_limit > 0 {
            let evicted = self.clients.evict_over(clients_limit);
            self.stats.evicted_clients.fetch_add(evicted as u64, Relaxed);
        }
        let timeout = self.limits.timeout_s.load(Relaxed);
        if timeout > 0 {
            self.clients.close_idle(timeout, now);
        }
        self.clients.close_silent_provisional(PROVISIONAL_GRACE);
        self.migrate_sockets.close_idle();
        if self.clients.trim_idle(now) > 0 || now / 1000 != self.last_decay_s.swap(now / 1000, Relaxed) {
            // Once a second, and when idle connections give buffers back.
            memory::decay();
        }
        {
            let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
            samples.push_back((Instant::now(), self.stats.totals()));
            if samples.len() > RATE_SAMPLES {
                samples.pop_front();
            }
        }
        let settings = self.config().defrag;
        self.defrag.cycle(&self.keyspace, settings, used, tick);
        self.replication_cron(now);
        if self.pause.due(now) {
            self.unpause_clients();
        }
        // No active expiry while clients are paused (Redis 7.0): the dataset holds still;
        // nor on a replica: its primary's DELs remove keys.
        if !self.active_expire.load(Relaxed) || self.pause.paused() || self.replica_of().is_some() {
            return;
        }
        // In the stream's order, each expired key's DEL appended as it goes.
        let _order = self.replication.active.load(Relaxed).then(|| self.replication.order.lock());
        let started = Instant::now();
        let deadline = started + tick / 4;
        for i in 0..self.keyspace.shard_count() {
            loop {
                let now = crate::storage::now_ms();
                let round = self.keyspace.lock_index(i).active_expire_sample(now);
                // Go on while more than 10% of the sampled keys were expired.
                if round.checked == 0 || round.expired * 10 <= round.checked || Instant::now() >= deadline {
                    break;
                }
            }
        }
        let now = crate::storage::now_ms();
        self.latency.observe("expire-cycle", started.elapsed().as_millis() as u64, now / 1000);
    }
}

impl Server {
    /// Commands per second, input and output KiB per second, over the recent samples.
    pub fn instantaneous(&self) -> (u64, f64, f64) {
        let samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let (Some(first), Some(last)) = (samples.front(), samples.back()) else {
            return (0, 0.0, 0.0);
        };
        let secs = last.0.duration_since(first.0).as_secs_f64();
        if secs <= 0.0 {
            return (0, 0.0, 0.0);
        }
        let rate = |i: usize| (last.1[i] - first.1[i]) as f64 / secs;
        (rate(0) as u64, rate(1) / 1024.0, rate(2) / 1024.0)
    }
}

pub fn random_hex40() -> String {
    let state = std::collections::hash_map::RandomState::new();
    let seed = crate::storage::now_ms() ^ (std::process::id() as u64) << 32;
    (0..3).map(|i| format!("{:016x}", state.hash_one(seed.wrapping_add(i)))).collect::<String>()[..40]
        .to_string()
}

/// What `start` needs beyond the configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Install SIGINT/SIGTERM handlers that shut the server down (the binary does;
    /// in-process tests do not).
    pub handle_signals: bool,
}

/// A started server: its bound addresses and the threads to wait for.
pub struct ServerHandle {
    pub server: Arc<Server>,
    pub addrs: Vec<SocketAddr>,
    pub unix_socket: Option<PathBuf>,
    /// Where `/metrics` is served, when `metrics-port` is not 0.
    pub metrics_addr: Option<SocketAddr>,
    io_threads: Vec<JoinHandle<()>>,
    acceptor: JoinHandle<()>,
}

impl ServerHandle {
    /// The first TCP address (tests bind one).
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Asks the server to stop: no new connections, batches in flight finish.
    pub fn shutdown(&self) {
        self.server.shutdown.cancel();
    }

    /// Waits until the server shuts down, then up to [`SHUTDOWN_GRACE`] for the I/O
    /// threads to deliver their batches in flight. Threads still stuck after that
    /// (writing to a client that never reads) are left behind.
    pub fn wait(self) {
        let _ = self.acceptor.join();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while Instant::now() < deadline && !self.io_threads.iter().all(|t| t.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        for t in self.io_threads {
            if t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!("an I/O thread did not finish within {SHUTDOWN_GRACE:?}; exiting anyway");
            }
        }
    }
}

/// Binds the listeners and starts the threads. When this returns the sockets are
/// listening, so clients may connect at once.
pub fn start(config: Config, opts: StartOptions) -> io::Result<ServerHandle> {
    let tcp = listener::bind_tcp(&config)?;
    let unix = listener::bind_unix(&config)?;
    let metrics = listener::bind_metrics(&config)?;
    let metrics_addr = metrics.as_ref().and_then(|l| l.local_addr().ok());
    if tcp.is_empty() && unix.is_none() {
        return Err(io::Error::other("no listening sockets: check 'bind', 'port' and 'unixsocket'"));
    }
    let addrs: Vec<SocketAddr> = tcp.iter().filter_map(|l| l.local_addr().ok()).collect();
    let unix_path = unix.as_ref().map(|_| PathBuf::from(&config.unixsocket));
    let threads_n = config.threads;
    let membership = match (config.cluster.enabled, addrs.first()) {
        (false, _) => None,
        (true, None) => return Err(io::Error::other("cluster mode needs a TCP port")),
        (true, Some(&bound)) => {
            Some(crate::cluster::membership::prepare(&config, bound).map_err(io::Error::other)?)
        }
    };
    let cluster = membership.as_ref().map(|(c, _)| c.clone());
    let server = Arc::new(Server::with_cluster(config, cluster));
    server.share(&server);
    if let Some(a) = addrs.first() {
        server.tcp_port.store(a.port() as u64, Relaxed);
    }
    server.start_loading()?;
    let replicaof = server.config().get("replicaof").unwrap_or_default();
    if let Some((host, port)) = replicaof.split_once(' ')
        && let Ok(port) = port.parse()
        && server.cluster.is_none()
    {
        server.replicate_from(host.to_string(), port);
    }

    let mut io_threads = Vec::new();
    let mut senders = Vec::new();
    for i in 0..threads_n {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        senders.push(tx);
        let server = server.clone();
        io_threads.push(
            std::thread::Builder::new()
                .name(format!("slotcache-io-{i}"))
                .spawn(move || connection::io_thread(server, rx))?,
        );
    }
    if let Some((_, membership)) = membership {
        membership.spawn(server.clone())?;
    }
    let proxy_port = server.config().cluster.proxy_port;
    if server.cluster.is_some() && proxy_port != 0 {
        let mut at = server.config().clone();
        at.port = proxy_port;
        let listeners = listener::bind_tcp(&at)?;
        for l in &listeners {
            if let Ok(a) = l.local_addr() {
                tracing::info!("Cluster proxy listening on {a}");
            }
        }
        crate::cluster::proxy::spawn(server.clone(), listeners)?;
    }
    let acceptor = listener::Acceptor::new(server.clone(), senders, tcp, unix, metrics, opts);
    let acceptor = std::thread::Builder::new().name("slotcache-main".into()).spawn(move || acceptor.run())?;
    Ok(ServerHandle { server, addrs, unix_socket: unix_path, metrics_addr, io_threads, acceptor })
}
