//! Clients blocked on keys (BLPOP, BLMOVE, BZPOPMIN ...): who waits on what, in order.
//!
//! A blocking command that finds nothing registers a [`Waiter`] on its keys and tries
//! once more (so a push between the two looks is never missed); its connection then
//! waits for the waiter to be notified and runs the command again. A write that adds to
//! a key notifies the *first* waiter of that key only, so clients are served in the
//! order they blocked (FIFO). A waiter that goes away — served, timed out, unblocked,
//! disconnected — passes the notification on to the next waiter of each of its keys:
//! an element left behind is never stranded while someone waits for it, and a client
//! that disconnects just as it is woken loses nothing (it had not popped yet).
//!
//! Timeouts are kept by one timer thread (the I/O runtimes have no timer driver),
//! sleeping until the earliest deadline.

use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

/// How a wait ended other than by data.
pub const UNBLOCK_TIMEOUT: u8 = 1;
pub const UNBLOCK_ERROR: u8 = 2;

/// A key of one database.
type DbKey = (usize, Bytes);

pub struct Waiter {
    pub client_id: u64,
    notify: Notify,
    /// Set by the timer or CLIENT UNBLOCK: UNBLOCK_TIMEOUT or UNBLOCK_ERROR.
    unblocked: AtomicU8,
    keys: Vec<DbKey>,
}

impl Waiter {
    /// Resolves when the waiter is notified (data, timeout or unblock).
    pub async fn notified(&self) {
        self.notify.notified().await
    }

    /// Why the wait ended, if not for data: UNBLOCK_TIMEOUT or UNBLOCK_ERROR.
    pub fn unblocked(&self) -> Option<u8> {
        match self.unblocked.load(Relaxed) {
            0 => None,
            v => Some(v),
        }
    }
}

/// A registered waiter; dropping it unregisters and passes any wake-up on.
pub struct Blocked {
    pub waiter: Arc<Waiter>,
    registry: Arc<Blocking>,
}

impl Drop for Blocked {
    fn drop(&mut self) {
        self.registry.unregister(&self.waiter);
    }
}

struct Deadline {
    at_ms: u64,
    waiter: Weak<Waiter>,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Deadline) -> bool {
        self.at_ms == other.at_ms
    }
}
impl Eq for Deadline {}
impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Deadline) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Deadline {
    /// Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, other: &Deadline) -> std::cmp::Ordering {
        other.at_ms.cmp(&self.at_ms)
    }
}

/// Counters of the key filter: how many waiters each hash bucket of keys has.
const FILTER: usize = 4096;

pub struct Blocking {
    /// Waiters per (db, key), oldest first.
    queues: Mutex<HashMap<DbKey, VecDeque<Arc<Waiter>>>>,
    /// Waiters per bucket of (db, key) hashes: a write to a key no one waits on costs a
    /// hash and one load, never the lock, even while other keys have waiters.
    filter: Box<[AtomicUsize]>,
    hasher: crate::storage::db::Hasher,
    by_client: Mutex<HashMap<u64, Weak<Waiter>>>,
    /// Registered waiters: the write path's check costs one load while it is 0.
    count: AtomicUsize,
    deadlines: Mutex<BinaryHeap<Deadline>>,
    timer_wakeup: Condvar,
    timer_started: AtomicBool,
}

impl Default for Blocking {
    fn default() -> Blocking {
        Blocking {
            queues: Mutex::default(),
            filter: (0..FILTER).map(|_| AtomicUsize::new(0)).collect(),
            hasher: Default::default(),
            by_client: Mutex::default(),
            count: AtomicUsize::new(0),
            deadlines: Mutex::default(),
            timer_wakeup: Condvar::new(),
            timer_started: AtomicBool::new(false),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Blocking {
    fn bucket(&self, db: usize, key: &[u8]) -> &AtomicUsize {
        use std::hash::BuildHasher;
        &self.filter[(self.hasher.hash_one((db, key)) as usize) % FILTER]
    }

    /// Clients blocked now (INFO blocked_clients).
    pub fn blocked_clients(&self) -> usize {
        self.count.load(Relaxed)
    }

    /// Registers `client_id` as waiting on `keys` of `db` until `deadline_ms` (Unix ms;
    /// None waits forever).
    pub fn register(
        self: &Arc<Self>,
        client_id: u64,
        db: usize,
        keys: &[Bytes],
        deadline_ms: Option<u64>,
    ) -> Blocked {
        let mut unique: Vec<(usize, Bytes)> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.iter().any(|(_, u)| u == k) {
                unique.push((db, k.clone()));
            }
        }
        let waiter =
            Arc::new(Waiter { client_id, notify: Notify::new(), unblocked: AtomicU8::new(0), keys: unique });
        {
            let mut queues = lock(&self.queues);
            for key in &waiter.keys {
                queues.entry(key.clone()).or_default().push_back(waiter.clone());
                self.bucket(key.0, &key.1).fetch_add(1, Relaxed);
            }
        }
        lock(&self.by_client).insert(client_id, Arc::downgrade(&waiter));
        self.count.fetch_add(1, Relaxed);
        if let Some(at_ms) = deadline_ms {
            self.start_timer();
            let mut heap = lock(&self.deadlines);
            // Deadlines of waiters served early wait in the heap until they surface;
            // sweep them when they outnumber the live ones.
            if heap.len() > 2 * self.count.load(Relaxed) + 64 {
                heap.retain(|d| d.waiter.strong_count() > 0);
            }
            heap.push(Deadline { at_ms, waiter: Arc::downgrade(&waiter) });
            drop(heap);
            self.timer_wakeup.notify_one();
        }
        Blocked { waiter, registry: self.clone() }
    }

    fn unregister(&self, waiter: &Arc<Waiter>) {
        {
            let mut queues = lock(&self.queues);
            for key in &waiter.keys {
                self.bucket(key.0, &key.1).fetch_sub(1, Relaxed);
                if let Some(q) = queues.get_mut(key) {
                    q.retain(|w| !Arc::ptr_eq(w, waiter));
                    match q.front() {
                        // The next in line tries in its turn (there may be data left).
                        Some(next) => next.notify.notify_one(),
                        None => {
                            queues.remove(key);
                        }
                    }
                }
            }
        }
        let mut by_client = lock(&self.by_client);
        if by_client.get(&waiter.client_id).is_some_and(|w| w.as_ptr() == Arc::as_ptr(waiter)) {
            by_client.remove(&waiter.client_id);
        }
        self.count.fetch_sub(1, Relaxed);
    }

    /// A write added data to `key`: the first client waiting on it tries again.
    pub fn wake(&self, db: usize, key: &[u8]) {
        if self.count.load(Relaxed) == 0 || self.bucket(db, key).load(Relaxed) == 0 {
            return;
        }
        let queues = lock(&self.queues);
        if let Some(first) = queues.get(&(db, Bytes::copy_from_slice(key))).and_then(VecDeque::front) {
            first.notify.notify_one();
        }
    }

    /// Every waiter of every key tries again (FLUSHALL, SWAPDB: what they wait on may
    /// have changed wholesale).
    pub fn wake_all(&self) {
        if self.count.load(Relaxed) == 0 {
            return;
        }
        for q in lock(&self.queues).values() {
            if let Some(first) = q.front() {
                first.notify.notify_one();
            }
        }
    }

    /// CLIENT UNBLOCK: ends a client's wait as a timeout or an error; false when the
    /// client is not blocked.
    pub fn unblock(&self, client_id: u64, how: u8) -> bool {
        let Some(w) = lock(&self.by_client).get(&client_id).and_then(Weak::upgrade) else { return false };
        w.unblocked.store(how, Relaxed);
        w.notify.notify_one();
        true
    }

    fn start_timer(self: &Arc<Self>) {
        if self.timer_started.swap(true, Relaxed) {
            return;
        }
        let me = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("block-timer".into()).spawn(move || timer(me));
        if spawned.is_err() {
            self.timer_started.store(false, Relaxed);
        }
    }
}

/// Times blocked clients out, earliest deadline first; exits with the registry.
fn timer(registry: Weak<Blocking>) {
    loop {
        let Some(reg) = registry.upgrade() else { return };
        let mut heap = lock(&reg.deadlines);
        let now = crate::storage::now_ms();
        while heap.peek().is_some_and(|d| d.at_ms <= now) {
            if let Some(w) = heap.pop().and_then(|d| d.waiter.upgrade()) {
                w.unblocked.store(UNBLOCK_TIMEOUT, Relaxed);
                w.notify.notify_one();
            }
        }
        // Forgotten waiters (served before their deadline) are dropped as they surface;
        // bounded sleeps also let the thread notice the registry is gone.
        let wait = heap.peek().map_or(1000, |d| d.at_ms - now).min(1000);
        let (guard, _) = reg
            .timer_wakeup
            .wait_timeout(heap, Duration::from_millis(wait))
            .unwrap_or_else(|p| p.into_inner());
        drop(guard);
    }
}
