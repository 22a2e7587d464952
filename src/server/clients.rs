//! The registry of connected clients: what CLIENT LIST/INFO/KILL and INFO clients see.
//!
//! Each connection owns an `Arc<ClientInfo>`; fields that change per command are
//! atomics written by the connection's own thread, so listing clients never slows a
//! connection down. The registry's lock is taken on connect, disconnect and listing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// [`ClientInfo::role`]'s values.
pub const ROLE_NONE: u8 = 0;
pub const ROLE_REPLICA: u8 = 1;
pub const ROLE_MASTER: u8 = 2;

/// The client classes CLIENT LIST / CLIENT KILL filter by (`TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Normal,
    PubSub,
    Replica,
    Master,
}

pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub unix: bool,
    created: Instant,
    /// Cancelled by CLIENT KILL, and (as a child token) by server shutdown.
    pub kill: CancellationToken,
    name: Mutex<Option<Bytes>>,
    lib: Mutex<(String, String)>,
    db: AtomicUsize,
    last_interaction_ms: AtomicU64,
    last_cmd: AtomicUsize,
    resp: AtomicU8,
    /// The connection's buffers as of its last batch (CLIENT LIST): see [`Buffers`].
    pub buffers: Buffers,
    pub omem: AtomicUsize,
    /// Rung by the cron when the connection has been idle for [`TRIM_IDLE_S`] while
    /// holding buffers: the connection gives them back (Redis frees an idle client's
    /// query buffer after 2 s), so idle connections cost little.
    pub trim: tokio::sync::Notify,
    /// In MONITOR mode (flag `O`).
    pub monitor: AtomicBool,
    /// A replica's link (flag `S`), or this replica's link from its primary (`M`).
    pub role: std::sync::atomic::AtomicU8,
    /// Channels, patterns and shard channels subscribed to (`sub`, `psub`, `ssub`).
    subscriptions: [AtomicUsize; 3],
    /// Commands queued since MULTI, -1 outside a transaction (`multi`).
    pub multi: AtomicI64,
    /// Waiting in a blocking command (flag `b`).
    pub blocked: AtomicBool,
    /// CLIENT TRACKING: -1 off, 0 on without redirect, else the redirect client (`redir`,
    /// flag `t`).
    pub tracking_redir: AtomicI64,
    /// CLIENT NO-EVICT ON: never disconnected by `maxmemory-clients` (flag `e`).
    pub no_evict: AtomicBool,
    /// Let in past `maxclients` only as a possible cluster peer link: its first request
    /// must present it as one ([`crate::cluster::peer::intercept`]), or it is refused.
    pub provisional: bool,
}

/// What a connection costs besides its buffers (its session and registry entry), in
/// CLIENT LIST's `tot-mem`.
const CLIENT_STATE_BYTES: usize = 1024;

impl ClientInfo {
    /// A unix-socket or loopback client (`enable-debug-command local`).
    pub fn is_local(&self) -> bool {
        self.unix
            || self.addr.rsplit_once(':').is_some_and(|(ip, _)| {
                ip.trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
            })
    }

    pub fn name(&self) -> Option<Bytes> {
        self.name.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_name(&self, name: Option<Bytes>) {
        *self.name.lock().unwrap_or_else(|p| p.into_inner()) = name;
    }

    pub fn set_lib(&self, name: Option<String>, ver: Option<String>) {
        let mut lib = self.lib.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = name {
            lib.0 = n;
        }
        if let Some(v) = ver {
            lib.1 = v;
        }
    }

    pub fn set_db(&self, db: usize) {
        self.db.store(db, Relaxed);
    }

    pub fn resp(&self) -> u8 {
        self.resp.load(Relaxed)
    }

    pub fn set_resp(&self, resp: u8) {
        self.resp.store(resp, Relaxed);
    }

    pub fn set_subscriptions(&self, channels: usize, patterns: usize, shard_channels: usize) {
        for (slot, n) in self.subscriptions.iter().zip([channels, patterns, shard_channels]) {
            slot.store(n, Relaxed);
        }
    }

    /// The shard-channel count alone (shard channels dropped with their slot).
    pub fn set_subscriptions_shard(&self, shard_channels: usize) {
        self.subscriptions[2].store(shard_channels, Relaxed);
    }

    /// A pub/sub client (flag `P`, CLIENT LIST TYPE pubsub): one with subscriptions.
    pub fn is_pubsub(&self) -> bool {
        self.subscriptions.iter().any(|n| n.load(Relaxed) > 0)
    }

    pub fn kind(&self) -> ClientKind {
        match self.role.load(Relaxed) {
            ROLE_REPLICA => ClientKind::Replica,
            ROLE_MASTER => ClientKind::Master,
            _ if self.is_pubsub() => ClientKind::PubSub,
            _ => ClientKind::Normal,
        }
    }

    pub fn touch(&self, now_ms: u64) {
        self.last_interaction_ms.store(now_ms, Relaxed);
    }

    #[inline]
    pub fn set_last_command(&self, idx: usize) {
        self.last_cmd.store(idx, Relaxed);
    }

    /// What the connection holds now (CLIENT LIST's `tot-mem`), the figure
    /// `maxmemory-clients` limits.
    pub fn tot_mem(&self) -> usize {
        let b = &self.buffers;
        CLIENT_STATE_BYTES
            + b.qbuf.load(Relaxed)
            + b.qbuf_free.load(Relaxed)
            + b.argv_mem.load(Relaxed)
            + b.multi_mem.load(Relaxed)
            + b.rbs.load(Relaxed)
            + self.omem.load(Relaxed)
    }

    pub fn age_seconds(&self) -> u64 {
        self.created.elapsed().as_secs()
    }

    pub fn idle_seconds(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.last_interaction_ms.load(Relaxed)) / 1000
    }

    /// One CLIENT LIST line (without the trailing newline), fields as Redis 7.
    pub fn describe(&self, now_ms: u64) -> String {
        let name = self.name().map(|n| String::from_utf8_lossy(&n).into_owned()).unwrap_or_default();
        let (lib_name, lib_ver) = self.lib.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cmd = crate::command::table().specs.get(self.last_cmd.load(Relaxed)).map_or("NULL", |s| s.name);
        let mut flags = String::new();
        match self.role.load(Relaxed) {
            ROLE_REPLICA => flags.push('S'),
            ROLE_MASTER => flags.push('M'),
            _ => {}
        }
        if self.monitor.load(Relaxed) {
            flags.push('O');
        }
        if self.is_pubsub() {
            flags.push('P');
        }
        if self.blocked.load(Relaxed) {
            flags.push('b');
        }
        if self.no_evict.load(Relaxed) {
            flags.push('e');
        }
        let redir = self.tracking_redir.load(Relaxed);
        if redir >= 0 {
            flags.push('t');
        }
        if self.unix {
            flags.push('U');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let b = &self.buffers;
        let (qbuf, qbuf_free, argv_mem, multi_mem, rbs, rbp) = (
            b.qbuf.load(Relaxed),
            b.qbuf_free.load(Relaxed),
            b.argv_mem.load(Relaxed),
            b.multi_mem.load(Relaxed),
            b.rbs.load(Relaxed),
            b.rbp.load(Relaxed),
        );
        let omem = self.omem.load(Relaxed);
        let tot_mem = self.tot_mem();
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} \
             multi={} qbuf={qbuf} qbuf-free={qbuf_free} argv-mem={argv_mem} multi-mem={multi_mem} rbs={rbs} \
             rbp={rbp} obl=0 oll=0 omem={} tot-mem={tot_mem} events=r cmd={} user=default redir={redir} resp={} \
             lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            name,
            self.age_seconds(),
            self.idle_seconds(now_ms),
            flags,
            self.db.load(Relaxed),
            self.subscriptions[0].load(Relaxed),
            self.subscriptions[1].load(Relaxed),
            self.subscriptions[2].load(Relaxed),
            self.multi.load(Relaxed),
            omem,
            cmd,
            self.resp.load(Relaxed),
            lib_name,
            lib_ver,
        )
    }
}

/// Where a new connection comes from.
pub struct Peer {
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub unix: bool,
}

/// Seconds of idleness after which a connection gives its buffers back.
pub const TRIM_IDLE_S: u64 = 2;

/// A connection's buffer sizes, written after each batch and read by CLIENT LIST, with
/// Redis's meaning for its fields.
#[derive(Default)]
pub struct Buffers {
    /// Unprocessed bytes in the query buffer (`qbuf`): a partly received command.
    pub qbuf: AtomicUsize,
    /// Free space of the query buffer (`qbuf-free`).
    pub qbuf_free: AtomicUsize,
    /// Bytes of the arguments already parsed of the command still arriving (`argv-mem`).
    pub argv_mem: AtomicUsize,
    /// Bytes of the commands queued by MULTI (`multi-mem`).
    pub multi_mem: AtomicUsize,
    /// Capacity of the reply buffer (`rbs`) and the most of it the last batch used (`rbp`).
    pub rbs: AtomicUsize,
    pub rbp: AtomicUsize,
    /// The connection holds buffers now (false once it gave them back while idle).
    pub held: AtomicBool,
}

/// Connected clients by id.
pub struct Clients {
    map: Mutex<HashMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    /// How many in `map` are provisional (changed under its lock).
    provisional: AtomicUsize,
}

/// Unregisters a client when its connection task ends, however it ends.
pub struct Registration<'a> {
    clients: &'a Clients,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.clients.unregister(self.id);
    }
}

impl Default for Clients {
    fn default() -> Self {
        Clients {
            map: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            provisional: AtomicUsize::new(0),
        }
    }
}

impl Clients {
    /// Registers a new client unless `max` are already connected; past that, up to
    /// `spare` more as provisional (possible cluster peer links, which are not clients).
    pub fn register(
        &self,
        peer: Peer,
        max: usize,
        spare: usize,
        shutdown: &CancellationToken,
        now_ms: u64,
    ) -> Option<Arc<ClientInfo>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let provisional_now = self.provisional.load(Relaxed);
        let provisional = map.len() - provisional_now >= max;
        if provisional && provisional_now >= spare {
            return None;
        }
        if provisional {
            self.provisional.fetch_add(1, Relaxed);
        }
        let id = self.next_id.fetch_add(1, Relaxed);
        let info = Arc::new(ClientInfo {
            id,
            addr: peer.addr,
            laddr: peer.laddr,
            fd: peer.fd,
            unix: peer.unix,
            created: Instant::now(),
            kill: shutdown.child_token(),
            name: Mutex::new(None),
            lib: Mutex::new((String::new(), String::new())),
            db: AtomicUsize::new(0),
            last_interaction_ms: AtomicU64::new(now_ms),
            last_cmd: AtomicUsize::new(usize::MAX),
            resp: AtomicU8::new(2),
            buffers: Buffers::default(),
            omem: AtomicUsize::new(0),
            trim: tokio::sync::Notify::new(),
            monitor: AtomicBool::new(false),
            role: std::sync::atomic::AtomicU8::new(ROLE_NONE),
            subscriptions: Default::default(),
            multi: AtomicI64::new(-1),
            blocked: AtomicBool::new(false),
            tracking_redir: AtomicI64::new(-1),
            no_evict: AtomicBool::new(false),
            provisional,
        });
        map.insert(id, info.clone());
        Some(info)
    }

    pub fn registration(&self, id: u64) -> Registration<'_> {
        Registration { clients: self, id }
    }

    /// A connection that turned out to be a cluster peer's link leaves the registry:
    /// it is not a client (CLIENT LIST, `connected_clients`, `maxclients`, `timeout`
    /// and client eviction leave it alone).
    pub fn make_internal(&self, id: u64) {
        self.unregister(id);
    }

    pub fn unregister(&self, id: u64) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.remove(&id).is_some_and(|c| c.provisional) {
            self.provisional.fetch_sub(1, Relaxed);
        }
    }

    /// Asks connections idle for [`TRIM_IDLE_S`] that still hold buffers to give them
    /// back; returns how many were asked.
    pub fn trim_idle(&self, now_ms: u64) -> usize {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut asked = 0;
        for c in map.values() {
            if c.buffers.held.load(Relaxed) && c.idle_seconds(now_ms) >= TRIM_IDLE_S {
                c.trim.notify_one();
                asked += 1;
            }
        }
        asked
    }

    /// Disconnects clients idle for more than `timeout_s` seconds (the `timeout`
    /// directive); returns how many. MONITOR and pub/sub clients are exempt, as in
    /// Redis: they only listen.
    pub fn close_idle(&self, timeout_s: u64, now_ms: u64) -> usize {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut closed = 0;
        for c in map.values() {
            // Monitors, subscribers and blocked clients wait for the server, not idly.
            let listening = c.monitor.load(Relaxed) || c.is_pubsub() || c.blocked.load(Relaxed);
            if !listening && c.idle_seconds(now_ms) >= timeout_s && !c.kill.is_cancelled() {
                tracing::debug!("closing idle client id={} addr={}", c.id, c.addr);
                c.kill.cancel();
                closed += 1;
            }
        }
        closed
    }

    /// Disconnects provisional connections (let in past `maxclients` as possible peer
    /// links) that have not presented themselves within `grace`; returns how many.
    pub fn close_silent_provisional(&self, grace: std::time::Duration) -> usize {
        if self.provisional.load(Relaxed) == 0 {
            return 0;
        }
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let silent =
            map.values().filter(|c| c.provisional && c.created.elapsed() >= grace && !c.kill.is_cancelled());
        silent.map(|c| c.kill.cancel()).count()
    }

    /// `maxmemory-clients`: while all clients together hold more than `limit` bytes,
    /// disconnects the one holding the most (never a CLIENT NO-EVICT one), as Redis's
    /// client eviction; returns how many. Run by the cron, so a client can overshoot
    /// for one tick (its own buffers are bounded by the query and output limits).
    pub fn evict_over(&self, limit: u64) -> usize {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut total: u64 = map.values().map(|c| c.tot_mem() as u64).sum();
        if total < limit {
            return 0;
        }
        let mut candidates: Vec<(usize, &Arc<ClientInfo>)> = map
            .values()
            .filter(|c| !c.no_evict.load(Relaxed) && !c.kill.is_cancelled())
            .map(|c| (c.tot_mem(), c))
            .collect();
        candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        let mut evicted = 0;
        for (mem, c) in candidates {
            if total < limit {
                break;
            }
            tracing::info!("Evicting client: {}", c.describe(crate::storage::now_ms()));
            c.kill.cancel();
            total = total.saturating_sub(mem as u64);
            evicted += 1;
        }
        if total >= limit && evicted > 0 {
            tracing::warn!("Over client maxmemory after evicting all evictable clients");
        }
        evicted
    }

    pub fn count(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).get(&id).cloned()
    }

    /// All clients, ordered by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        let mut v: Vec<_> = self.map.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        v.sort_by_key(|c| c.id);
        v
    }
}
