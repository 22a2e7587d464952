//! Client-side caching (CLIENT TRACKING): which clients read which keys, and the
//! invalidation messages sent when those keys change, with Redis 7.0's semantics.
//!
//! In the default mode the server remembers, per key name (whatever the database, as
//! Redis), the tracking clients that read it; the first change of the key sends each of
//! them an `invalidate` message and forgets them (they read it again to be told again).
//! In BCAST mode a client names prefixes instead and hears of every change under them.
//! OPTIN remembers only reads preceded by `CLIENT CACHING yes`, OPTOUT all but those
//! after `CLIENT CACHING no`; NOLOOP spares a client the changes it made itself.
//!
//! A RESP3 client gets `>2 invalidate [keys]` pushes on its own connection; with
//! `REDIRECT id` the messages go to that client as `message __redis__:invalidate [keys]`
//! if it is subscribed to the channel (a RESP2 client's only way). FLUSHALL and FLUSHDB
//! send a null invalidation to every tracking client. The key table is bounded by
//! `tracking-table-max-keys`: past it, keys are invalidated to make room.
//!
//! Writes pay one atomic load while no client tracks; the table is one mutex otherwise.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::clients::ClientInfo;
use super::feed::FeedTx;
use super::pubsub::PubSub;

/// The channel a redirect target subscribes to.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";
/// `tracking-table-max-keys`'s default.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// A client's tracking options (CLIENT TRACKING ON ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mode {
    /// The client receiving the messages instead (0: this one).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Bytes>,
}

struct Tracker {
    info: Arc<ClientInfo>,
    /// The client's own push channel.
    tx: FeedTx,
    mode: Mode,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, Tracker>,
    /// Key name → clients that read it since its last invalidation.
    keys: HashMap<Bytes, HashSet<u64>>,
    /// BCAST prefix → clients.
    prefixes: BTreeMap<Bytes, HashSet<u64>>,
    /// Sum of the keys' client sets (INFO tracking_total_items).
    items: usize,
}

pub struct Tracking {
    clients: AtomicUsize,
    max_keys: AtomicUsize,
    /// `client-output-buffer-limit normal` hard limit (0: none): a tracking client whose
    /// unread pushes pass it is disconnected, as Redis does with its output buffer.
    hard_limit: AtomicUsize,
    inner: Mutex<Inner>,
    pubsub: Arc<PubSub>,
}

/// What INFO reports.
pub struct TrackingStats {
    pub clients: usize,
    pub keys: usize,
    pub items: usize,
    pub prefixes: usize,
}

impl Tracking {
    pub fn new(pubsub: Arc<PubSub>) -> Tracking {
        Tracking {
            clients: AtomicUsize::new(0),
            max_keys: AtomicUsize::new(DEFAULT_MAX_KEYS),
            hard_limit: AtomicUsize::new(0),
            inner: Mutex::default(),
            pubsub,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The output limit of normal clients (0: none).
    pub fn set_output_limit(&self, hard: u64) {
        self.hard_limit.store(hard as usize, Relaxed);
    }

    /// `tracking-table-max-keys` (0: no limit).
    pub fn set_max_keys(&self, n: usize) {
        self.max_keys.store(if n == 0 { usize::MAX } else { n }, Relaxed);
    }

    /// Starts (or restarts) tracking for a client.
    pub fn enable(&self, info: Arc<ClientInfo>, tx: FeedTx, mode: Mode) {
        let mut inner = self.lock();
        let id = info.id;
        Self::drop_client(&mut inner, id);
        for p in &mode.prefixes {
            inner.prefixes.entry(p.clone()).or_default().insert(id);
        }
        if mode.bcast && mode.prefixes.is_empty() {
            inner.prefixes.entry(Bytes::new()).or_default().insert(id);
        }
        inner.clients.insert(id, Tracker { info, tx, mode });
        self.clients.store(inner.clients.len(), Relaxed);
    }

    /// Stops tracking for a client (CLIENT TRACKING OFF, RESET, disconnect).
    pub fn disable(&self, id: u64) {
        if self.clients.load(Relaxed) == 0 {
            return;
        }
        let mut inner = self.lock();
        Self::drop_client(&mut inner, id);
        self.clients.store(inner.clients.len(), Relaxed);
    }

    fn drop_client(inner: &mut Inner, id: u64) {
        if let Some(t) = inner.clients.remove(&id) {
            let names: Vec<Bytes> =
                if t.mode.prefixes.is_empty() { vec![Bytes::new()] } else { t.mode.prefixes.clone() };
            for p in names {
                if let Some(set) = inner.prefixes.get_mut(&p) {
                    set.remove(&id);
                    if set.is_empty() {
                        inner.prefixes.remove(&p);
                    }
                }
            }
        }
        // Its entries in the key table go when those keys are next invalidated.
    }

    /// A tracking client read `keys`: they are remembered for it.
    pub fn remember(&self, id: u64, keys: impl Iterator<Item = Bytes>) {
        let mut inner = self.lock();
        for key in keys {
            if inner.keys.entry(key).or_default().insert(id) {
                inner.items += 1;
            }
        }
        let max = self.max_keys.load(Relaxed);
        while inner.keys.len() > max {
            let Some(key) = inner.keys.keys().next().cloned() else { break };
            self.invalidate_locked(&mut inner, &key, 0, true);
        }
    }

    /// `key` changed (written, deleted, expired, evicted) by client `by` (0: the server).
    pub fn invalidate(&self, key: &[u8], by: u64) {
        self.invalidate_for(key, by, true);
    }

    /// [`Self::invalidate`], telling BCAST clients only when `bcast` (a cluster node's
    /// copy of another primary's key tells only the clients that read it there: the
    /// primary's own BCAST clients hear of the change once).
    pub fn invalidate_for(&self, key: &[u8], by: u64, bcast: bool) {
        if self.clients.load(Relaxed) == 0 {
            return;
        }
        let mut inner = self.lock();
        self.invalidate_locked(&mut inner, key, by, bcast);
    }

    fn invalidate_locked(&self, inner: &mut Inner, key: &[u8], by: u64, bcast: bool) {
        let mut targets: Vec<u64> = Vec::new();
        if let Some(ids) = inner.keys.remove(key) {
            inner.items -= ids.len();
            targets.extend(ids);
        }
        use std::ops::Bound;
        let prefixes = inner.prefixes.range::<[u8], _>((Bound::Unbounded, Bound::Included(key)));
        for (prefix, ids) in prefixes.filter(|_| bcast) {
            if key.starts_with(prefix) {
                targets.extend(ids.iter().copied());
            }
        }
        for id in targets {
            if let Some(t) = inner.clients.get(&id)
                && !(t.mode.noloop && id == by)
            {
                self.send(t, Some(key));
            }
        }
    }

    /// FLUSHALL / FLUSHDB: every tracking client is told everything is gone.
    pub fn flush(&self) {
        if self.clients.load(Relaxed) == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.keys.clear();
        inner.items = 0;
        for t in inner.clients.values() {
            self.send(t, None);
        }
    }

    /// Sends one invalidation (`None`: all keys) where the client's mode says.
    fn send(&self, t: &Tracker, key: Option<&[u8]>) {
        if t.mode.redirect != 0 {
            let delivered = self.pubsub.send_to(CHANNEL, t.mode.redirect, |resp3| message_frame(resp3, key));
            if !delivered && t.info.resp() == 3 {
                let mut f = b">2\r\n$21\r\ntracking-redir-broken\r\n".to_vec();
                f.extend_from_slice(format!(":{}\r\n", t.mode.redirect).as_bytes());
                t.tx.send(Bytes::from(f));
            }
        } else if t.info.resp() == 3 {
            let frame = invalidate_frame(key);
            let hard = self.hard_limit.load(Relaxed);
            if hard > 0 && t.tx.pending() + frame.len() > hard {
                tracing::warn!(
                    "client id={} addr={} closed for overcoming of output buffer limits (tracking)",
                    t.info.id,
                    t.info.addr
                );
                t.info.kill.cancel();
            } else {
                t.tx.send(frame);
            }
        }
        // A RESP2 client without a redirect cannot receive pushes: nothing is sent.
    }

    pub fn stats(&self) -> TrackingStats {
        let inner = self.lock();
        TrackingStats {
            clients: inner.clients.len(),
            keys: inner.keys.len(),
            items: inner.items,
            prefixes: inner.prefixes.len(),
        }
    }
}

/// `>2 invalidate [key]` (or `_` for all keys) for a RESP3 connection.
fn invalidate_frame(key: Option<&[u8]>) -> Bytes {
    let mut f = b">2\r\n$10\r\ninvalidate\r\n".to_vec();
    push_keys(&mut f, true, key);
    Bytes::from(f)
}

/// `message __redis__:invalidate [key]` for a redirect target.
fn message_frame(resp3: bool, key: Option<&[u8]>) -> Bytes {
    let mut f = if resp3 { b">3\r\n".to_vec() } else { b"*3\r\n".to_vec() };
    f.extend_from_slice(b"$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
    push_keys(&mut f, resp3, key);
    Bytes::from(f)
}

fn push_keys(f: &mut Vec<u8>, resp3: bool, key: Option<&[u8]>) {
    match key {
        Some(k) => {
            f.extend_from_slice(format!("*1\r\n${}\r\n", k.len()).as_bytes());
            f.extend_from_slice(k);
            f.extend_from_slice(b"\r\n");
        }
        None if resp3 => f.extend_from_slice(b"_\r\n"),
        None => f.extend_from_slice(b"*-1\r\n"),
    }
}

/// Whether two prefixes overlap (one starts with the other).
pub fn overlap(a: &[u8], b: &[u8]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}
