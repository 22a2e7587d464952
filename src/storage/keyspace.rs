//! The keyspace: `shards` shards, each one `Mutex<Shard>` holding every database's keys
//! for the cluster slots it owns (`slot % shards`).
//!
//! Invariants:
//! - a slot's keys live in exactly one shard, so single-key commands lock one shard;
//! - several shards are only ever locked through [`Keyspace::lock_shards`], which takes
//!   them in ascending index order, so two commands can never deadlock;
//! - a lock is held for the data operation only: never across `.await` or I/O.

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::Instant;

use super::Prefetch;
use super::db::{Db, EntryMut, Expired, Hasher};
use super::defrag::{Classes, DefragCount};
use super::entry::Entry;
use super::evict::{Access, Policy, access_clock, tiny_bits, tiny_count};
use super::sketch::Sketch;
use super::value::NewValue;
use crate::cluster::slot::SLOTS;
use crate::metrics::names::{LOCK_WAIT_BUCKETS_US, bucket_index};
use crate::storage::random_u64;

/// Table bytes charged to each key: its 12-byte entry plus a share of its slot
/// table's tags, size-class slack or hash-table control bytes and load.
pub const TABLE_BYTES_PER_KEY: usize = 16;

/// Most keys one call to [`Keyspace::evict`] removes, so a single write never stalls on
/// a huge eviction burst (the cron continues the work).
pub const MAX_EVICTIONS_PER_CALL: usize = 4096;

/// Eviction candidates a shard keeps between evictions (Redis's EVPOOL_SIZE).
pub const POOL_SIZE: usize = 16;

/// A pooled eviction candidate.
struct Candidate {
    score: u64,
    /// The entry's address when pooled (never dereferenced).
    id: usize,
    db: usize,
    /// Global cluster slot.
    slot: u16,
    key: Vec<u8>,
}

/// Inserts keeping the pool sorted by ascending score (best victim last).
fn pool_insert(pool: &mut Vec<Candidate>, c: Candidate) {
    let at = pool.partition_point(|p| p.score <= c.score);
    pool.insert(at, c);
}

/// A key written for the first time under `allkeys-tinylfu`, waiting in the window.
struct Pending {
    db: usize,
    slot: u16,
    key: Box<[u8]>,
}

/// Keys a shard's TinyLFU window holds: 1% of its keys, as in W-TinyLFU.
fn window_target(keys: usize) -> usize {
    (keys / 100).max(1)
}

/// Keys checked per active-expiry sample (Redis's ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP).
pub const EXPIRE_SAMPLE: usize = 20;

pub struct Shard {
    pub dbs: Vec<Db>,
    pub hasher: Hasher,
    index: usize,
    nshards: usize,
    local_slots: usize,
    /// Keys removed because their TTL passed (lazily or actively).
    pub expired_keys: u64,
    /// Keys removed to stay under maxmemory.
    pub evicted_keys: u64,
    /// How accesses are recorded (LRU clock or LFU counter).
    pub access: Access,
    /// Where the active expiry sweep resumes: `db * local_slots + local slot`.
    expire_cursor: usize,
    /// Best eviction candidates so far, ascending by score, and the policy that scored
    /// them.
    pool: Vec<Candidate>,
    pool_policy: Option<Policy>,
    /// Under `allkeys-tinylfu`: recent accesses of keys, stored or not, and the FIFO
    /// window of new keys that have not yet competed for their place.
    sketch: Option<Sketch>,
    window: VecDeque<Pending>,
    /// Told of keys removed by expiry or eviction (keyspace notifications, WATCH).
    listener: Option<Arc<dyn RemovalListener>>,
    /// Set while a thread runs a transaction: only that thread may use the shard.
    frozen_by: Option<ThreadId>,
    /// While clients are paused (CLIENT PAUSE), an expired key reads as missing but is
    /// not deleted, as Redis holds the dataset still.
    expiry_held: bool,
    /// Local slots whose keys are a cluster replica's copies: they neither expire nor
    /// get evicted here (reads see an expired one as missing); the primary's stream
    /// removes them.
    copies: Box<[bool]>,
    /// A background snapshot's capture of this shard, while one runs.
    pub(super) capture: Option<Box<super::capture::Capture>>,
}

/// Why the storage layer removed a key on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Expired,
    Evicted,
}

/// Receives the keys storage removes without a command asking (expiry, eviction).
/// Called under the shard lock: it must not lock a shard.
pub trait RemovalListener: Send + Sync {
    fn removed(&self, db: usize, key: &[u8], why: Removal);
}

/// The outcome of one active-expiry sample on one shard.
#[derive(Debug, Default, Clone, Copy)]
pub struct ExpireRound {
    pub checked: usize,
    pub expired: usize,
}

impl Shard {
    fn new(index: usize, nshards: usize, databases: usize) -> Shard {
        let local_slots = SLOTS.div_ceil(nshards);
        Shard {
            dbs: (0..databases).map(|_| Db::new(local_slots)).collect(),
            hasher: Hasher::default(),
            index,
            nshards,
            local_slots,
            expired_keys: 0,
            evicted_keys: 0,
            access: Access::default(),
            expire_cursor: 0,
            pool: Vec::new(),
            pool_policy: None,
            sketch: None,
            window: VecDeque::new(),
            listener: None,
            frozen_by: None,
            expiry_held: false,
            copies: vec![false; local_slots].into_boxed_slice(),
            capture: None,
        }
    }

    /// Counts an expired key and tells the listener.
    fn expired(&mut self, db: usize, key: &[u8]) {
        self.expired_keys += 1;
        if let Some(l) = &self.listener {
            l.removed(db, key, Removal::Expired);
        }
    }

    pub fn index(&self) -> usize {
        self.index
    }

    #[inline]
    pub fn local(&self, slot: u16) -> usize {
        slot as usize / self.nshards
    }

    /// The global slot number of a local slot index.
    pub fn global_slot(&self, local: usize) -> usize {
        local * self.nshards + self.index
    }

    pub fn local_slots(&self) -> usize {
        self.local_slots
    }

    /// Looks a key up (expiring it if due) and marks it accessed.
    pub fn get(&mut self, db: usize, slot: u16, key: &[u8], now: u64) -> Option<EntryMut<'_>> {
        let access = self.access;
        let epoch = match &mut self.sketch {
            Some(sketch) => {
                // Misses count too: a key asked for often earns its place once written.
                sketch.record(self.hasher.hash_one(key));
                Some(sketch.epoch())
            }
            None => None,
        };
        let mut e = self.peek(db, slot, key, now)?;
        let bits = match epoch {
            Some(epoch) => tiny_bits(tiny_count(e.clock(), epoch) + 1, epoch),
            None => access.touched(e.clock(), now, if access.lfu { random_u64() } else { 0 }),
        };
        e.set_clock(bits);
        Some(e)
    }

    /// Looks a key up (expiring it if due) without marking it accessed.
    pub fn peek(&mut self, db: usize, slot: u16, key: &[u8], now: u64) -> Option<EntryMut<'_>> {
        let local = self.local(slot);
        self.keep_before_change(db, local, key);
        if (self.expiry_held || self.copies[local])
            && self.dbs[db].find(&self.hasher, local, key).is_some_and(|e| e.is_expired(now))
        {
            return None;
        }
        let (entry, Expired(expired)) = self.dbs[db].get_mut(&self.hasher, local, key, now);
        if expired {
            // Field by field: the entry still borrows `dbs`.
            self.expired_keys += 1;
            if let Some(l) = &self.listener {
                l.removed(db, key, Removal::Expired);
            }
        }
        entry
    }

    /// Whether a live key exists, leaving an expired one in place (no expiry event).
    pub fn is_live(&self, db: usize, slot: u16, key: &[u8], now: u64) -> bool {
        self.dbs[db].find(&self.hasher, self.local(slot), key).is_some_and(|e| !e.is_expired(now))
    }

    pub fn exists(&mut self, db: usize, slot: u16, key: &[u8], now: u64) -> bool {
        self.peek(db, slot, key, now).is_some()
    }

    /// Stores a string value, replacing whatever was there. Returns whether the key
    /// existed (and was live) before.
    pub fn set(
        &mut self,
        db: usize,
        slot: u16,
        key: &[u8],
        value: NewValue<'_>,
        expire_at: Option<u64>,
        now: u64,
    ) -> bool {
        let mut entry = Entry::new(key, value, expire_at);
        entry.set_clock(match &self.sketch {
            // What the sketch remembers of the key, the write included.
            Some(s) => tiny_bits((s.frequency(self.hasher.hash_one(key)) as u32).max(1), s.epoch()),
            None => self.access.initial(now),
        });
        self.insert(db, slot, entry, now)
    }

    /// Stores an entry, replacing whatever was there; returns whether a live key was
    /// replaced.
    pub fn insert(&mut self, db: usize, slot: u16, mut entry: Entry, now: u64) -> bool {
        let local = self.local(slot);
        self.keep_before_change(db, local, entry.key());
        entry.set_saved(self.capture_marks(local));
        if self.sketch.is_some() {
            self.admit(db, slot, entry.key());
        }
        match self.dbs[db].insert(&self.hasher, local, entry) {
            Some(old) if old.is_expired(now) => {
                self.expired(db, old.key());
                false
            }
            Some(_) => true,
            None => false,
        }
    }

    /// Under `allkeys-tinylfu`: records the write and queues a new key in the window.
    /// Without memory pressure nothing takes keys out of the window, so it is trimmed
    /// here (the trimmed keys simply stay).
    fn admit(&mut self, db: usize, slot: u16, key: &[u8]) {
        let Some(sketch) = &mut self.sketch else { return };
        // A write counts as an access unless the key was just asked for (the read that
        // missed before a cache-aside write has counted already).
        let hash = self.hasher.hash_one(key);
        if sketch.frequency(hash) == 0 {
            sketch.record(hash);
        }
        if self.dbs[db].find(&self.hasher, self.local(slot), key).is_some() {
            return;
        }
        self.window.push_back(Pending { db, slot, key: key.into() });
        let limit = 2 * window_target(self.key_count()) + 1;
        while self.window.len() > limit {
            self.window.pop_front();
        }
    }

    /// Keys in every database of this shard.
    pub fn key_count(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    /// How the shard records accesses; a change forgets what the old way recorded.
    pub fn set_access(&mut self, access: Access) {
        if access == self.access {
            return;
        }
        self.access = access;
        self.pool.clear();
        if access.admission {
            self.sketch.get_or_insert_with(|| Sketch::new(self.dbs.iter().map(Db::len).sum()));
        } else {
            self.sketch = None;
            self.window = VecDeque::new();
        }
    }

    pub fn set_listener(&mut self, listener: Option<Arc<dyn RemovalListener>>) {
        self.listener = listener;
    }

    /// The shard's sketch epoch (0 without a sketch).
    fn epoch(&self) -> u32 {
        self.sketch.as_ref().map_or(0, Sketch::epoch)
    }

    /// Under `allkeys-tinylfu`, the epoch keys' access counts are aged against; None
    /// under other policies.
    pub fn tiny_epoch(&self) -> Option<u32> {
        self.sketch.as_ref().map(Sketch::epoch)
    }

    /// The access bits of a key restored with a known idle time or LFU frequency
    /// (RESTORE's IDLETIME/FREQ, a snapshot's IDLE/FREQ opcodes), as Redis's
    /// `objectSetLRUOrLFU`: under an LFU policy the frequency counts, else the idle
    /// time; None when the one that counts is not given.
    pub fn restored_clock(&self, idle_ms: Option<u64>, freq: Option<u8>, now: u64) -> Option<u32> {
        match (self.tiny_epoch(), self.access.lfu) {
            (Some(epoch), _) => freq.map(|f| tiny_bits(f as u32, epoch)),
            (None, true) => freq.map(|f| self.access.with_counter(f as u32, now)),
            (None, false) => idle_ms.map(|i| access_clock(now.saturating_sub(i))),
        }
    }

    pub fn remove(&mut self, db: usize, slot: u16, key: &[u8], now: u64) -> Option<Entry> {
        let local = self.local(slot);
        self.keep_before_change(db, local, key);
        let (entry, Expired(expired)) = self.dbs[db].remove(&self.hasher, local, key, now);
        if expired {
            self.expired(db, key);
        }
        entry
    }

    /// Samples up to `samples` keys (only keys with a TTL for volatile policies) of one
    /// database chosen at random, weighted by size, into the shard's eviction pool, and
    /// takes the pool's best victim by the policy's score: (db, slot, key).
    ///
    /// The pool (Redis's approach) keeps the best [`POOL_SIZE`] candidates across calls,
    /// so each eviction weighs far more keys than one sample. A candidate's score is
    /// recomputed when it is taken: one read since it was pooled goes back in its place.
    pub fn pick_victim(&mut self, policy: Policy, samples: usize, now: u64) -> Option<(usize, u16, Vec<u8>)> {
        if policy == Policy::NoEviction {
            return None;
        }
        if self.pool_policy != Some(policy) {
            self.pool.clear();
            self.pool_policy = Some(policy);
        }
        if policy == Policy::AllKeysTinyLfu
            && let Some(victim) = self.window_contest(samples, now)
        {
            return Some(victim);
        }
        self.take_from_pool(policy, samples, now).map(|c| (c.db, c.slot, c.key))
    }

    /// TinyLFU admission: the oldest key of an overfull window competes with the best
    /// sampled victim; the one asked for less often is evicted (the key in the window
    /// on a tie). None when the window holds no more than its share.
    fn window_contest(&mut self, samples: usize, now: u64) -> Option<(usize, u16, Vec<u8>)> {
        let keys = self.key_count();
        if let Some(sketch) = &mut self.sketch {
            sketch.grow(keys);
        }
        let target = window_target(keys);
        while self.window.len() > target {
            let w = self.window.pop_front()?;
            let local = self.local(w.slot);
            if self.copies[local] || self.dbs[w.db].find(&self.hasher, local, &w.key).is_none() {
                continue;
            }
            let new = (w.db, w.slot, w.key.into_vec());
            let Some(v) = self.take_from_pool(Policy::AllKeysTinyLfu, samples, now) else { return Some(new) };
            if (v.db, &v.key) == (new.0, &new.2) {
                return Some(new);
            }
            let epoch = self.epoch();
            let count = |db: usize, slot: u16, key: &[u8]| {
                let e = self.dbs[db].find(&self.hasher, self.local(slot), key);
                e.map_or(0, |e| tiny_count(e.clock(), epoch))
            };
            if count(new.0, new.1, &new.2) > count(v.db, v.slot, &v.key) {
                return Some((v.db, v.slot, v.key));
            }
            pool_insert(&mut self.pool, v);
            return Some(new);
        }
        None
    }

    /// The pool's best candidate that still exists, after sampling more keys into it.
    fn take_from_pool(&mut self, policy: Policy, samples: usize, now: u64) -> Option<Candidate> {
        self.sample_into_pool(policy, samples, now);
        for _ in 0..2 * POOL_SIZE {
            let c = self.pool.pop()?;
            let local = self.local(c.slot);
            let Some(e) = self.dbs[c.db].find(&self.hasher, local, &c.key) else { continue };
            if policy.volatile_only() && e.expire_at().is_none() {
                continue;
            }
            let score = self.score(policy, e, now);
            if !policy.is_random() && self.pool.last().is_some_and(|next| score < next.score) {
                pool_insert(&mut self.pool, Candidate { score, ..c });
                continue;
            }
            return Some(c);
        }
        None
    }

    fn score(&self, policy: Policy, e: &Entry, now: u64) -> u64 {
        policy.score(e, now, &self.access, random_u64(), self.epoch())
    }

    fn sample_into_pool(&mut self, policy: Policy, samples: usize, now: u64) {
        let volatile = policy.volatile_only();
        let weight = |d: &Db| if volatile { d.volatile() } else { d.len() };
        let total: usize = self.dbs.iter().map(weight).sum();
        if total == 0 {
            return;
        }
        let mut r = (random_u64() % total as u64) as usize;
        let Some(db) = self.dbs.iter().position(|d| {
            let w = weight(d);
            if r < w {
                return true;
            }
            r -= w;
            false
        }) else {
            return;
        };
        let mut found = 0;
        // Bounded probing: sparse databases may need many slots to find `samples` keys.
        // Each probe takes consecutive entries of one slot from a random position (as
        // Redis's dictGetSomeKeys takes consecutive buckets): one table's memory serves
        // several samples, and scores read only the 12-byte entries.
        for _ in 0..samples.max(1) * 64 {
            if found >= samples {
                break;
            }
            let d = &self.dbs[db];
            let local = (random_u64() % self.local_slots as u64) as usize;
            let n = d.slot_len(local);
            if n == 0 || self.copies[local] || (volatile && !d.slot_has_volatile(local)) {
                continue;
            }
            let start = (random_u64() % n as u64) as usize;
            let picks =
                d.slot_entries_from(local, start).filter(|e| !volatile || e.has_ttl()).take(samples - found);
            for e in picks {
                found += 1;
                let score = self.score(policy, e, now);
                let full = self.pool.len() >= POOL_SIZE;
                if full && self.pool[0].score >= score {
                    continue;
                }
                // The same entry pooled twice is told by its address, without reading keys.
                let id = e.id();
                if self.pool.iter().any(|c| c.id == id) {
                    continue;
                }
                let c =
                    Candidate { score, id, db, slot: self.global_slot(local) as u16, key: e.key().to_vec() };
                if full {
                    self.pool.remove(0);
                }
                pool_insert(&mut self.pool, c);
            }
        }
    }

    /// Forgets pooled candidates (their database numbers or scores no longer hold).
    pub fn clear_pool(&mut self) {
        self.pool.clear();
    }

    /// Evicts a key; returns the bytes it held (entry, value and its table share).
    pub fn evict(&mut self, db: usize, slot: u16, key: &[u8], now: u64) -> Option<u64> {
        let entry = self.remove(db, slot, key, now)?;
        self.evicted_keys += 1;
        if let Some(l) = &self.listener {
            l.removed(db, key, Removal::Evicted);
        }
        Some((entry.heap_size() + TABLE_BYTES_PER_KEY) as u64)
    }

    /// One active-expiry sample: walks slot tables from the cursor until it has checked
    /// at least [`EXPIRE_SAMPLE`] keys with a TTL, or has walked one database's worth of
    /// slots. Databases with no TTL keys are skipped whole.
    pub fn active_expire_sample(&mut self, now: u64) -> ExpireRound {
        let positions = self.dbs.len() * self.local_slots;
        let mut round = ExpireRound::default();
        let mut steps = 0;
        while steps < self.local_slots && round.checked < EXPIRE_SAMPLE {
            let db = self.expire_cursor / self.local_slots;
            let local = self.expire_cursor % self.local_slots;
            if !self.capture_allows_expiry(local) || self.copies[local] {
                // A background snapshot has yet to write this slot as it was (see
                // capture.rs), or the slot's keys are a replica's copies.
                self.expire_cursor = (self.expire_cursor + 1) % positions;
                steps += 1;
                continue;
            }
            if self.dbs[db].volatile() == 0 {
                // Jump to the next database.
                self.expire_cursor = ((db + 1) * self.local_slots) % positions;
                steps += 1;
                if db + 1 == self.dbs.len() {
                    break;
                }
                continue;
            }
            let listener = self.listener.as_deref();
            let (checked, expired) = self.dbs[db].expire_slot(&self.hasher, local, now, |e| {
                if let Some(l) = listener {
                    l.removed(db, e.key(), Removal::Expired);
                }
            });
            round.checked += checked;
            round.expired += expired;
            self.expired_keys += expired as u64;
            self.expire_cursor = (self.expire_cursor + 1) % positions;
            steps += 1;
        }
        round
    }

    /// Table positions (`db * local_slots + local slot`) a defragmentation pass walks.
    pub fn defrag_positions(&self) -> usize {
        self.dbs.len() * self.local_slots
    }

    /// Defragments the slot tables at positions `from..from + count` (see
    /// [`Db::defrag_slot`]); empty databases are skipped at no cost.
    pub fn defrag_step(&mut self, from: usize, count: usize, classes: &Classes) -> DefragCount {
        let mut n = DefragCount::default();
        let end = (from + count).min(self.defrag_positions());
        for pos in from..end {
            let (db, local) = (pos / self.local_slots, pos % self.local_slots);
            if !self.dbs[db].is_empty() {
                n.add(self.dbs[db].defrag_slot(local, classes));
            }
        }
        n
    }
}

/// Waits for a contended shard lock, per shard. Written only when `try_lock` fails, so
/// the uncontended path pays nothing.
#[derive(Default)]
pub struct LockWait {
    pub buckets: [AtomicU64; LOCK_WAIT_BUCKETS_US.len() + 1],
    pub sum_us: AtomicU64,
}

#[repr(align(128))]
struct PaddedShard {
    lock: Mutex<Shard>,
    /// Signalled when a transaction unfreezes the shard.
    thawed: Condvar,
    wait: LockWait,
}

impl PaddedShard {
    fn lock(&self) -> MutexGuard<'_, Shard> {
        let g = match self.lock.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                let start = Instant::now();
                let g = lock(&self.lock);
                let us = start.elapsed().as_micros() as u64;
                self.wait.buckets[bucket_index(&LOCK_WAIT_BUCKETS_US, us)].fetch_add(1, Relaxed);
                self.wait.sum_us.fetch_add(us, Relaxed);
                g
            }
        };
        if g.frozen_by.is_none() { g } else { self.wait_thawed(g) }
    }

    /// Waits (lock released) while another thread's transaction has the shard frozen.
    #[cold]
    fn wait_thawed<'a>(&'a self, g: MutexGuard<'a, Shard>) -> MutexGuard<'a, Shard> {
        let me = std::thread::current().id();
        self.thawed.wait_while(g, |s| s.frozen_by.is_some_and(|t| t != me)).unwrap_or_else(|p| p.into_inner())
    }
}

/// Every shard reserved for the thread that froze them (a transaction): other threads
/// wait at their next lock of any shard until this is dropped. Handlers on the freezing
/// thread lock shards as usual, so EXEC runs its commands unchanged while no other
/// client can observe the transaction half applied.
pub struct Frozen<'a> {
    keyspace: &'a Keyspace,
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        for padded in self.keyspace.shards.iter() {
            padded.lock().frozen_by = None;
            padded.thawed.notify_all();
        }
    }
}

pub struct Keyspace {
    shards: Box<[PaddedShard]>,
    databases: usize,
}

/// Several shards locked together, in ascending index order.
pub struct Locked<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl<'a> Locked<'a> {
    /// The locked shard owning `slot`. Panics if that shard was not locked: a bug in
    /// the caller, never a result of input.
    pub fn shard(&mut self, slot: u16) -> &mut Shard {
        let idx = slot as usize % self.nshards();
        let pos = self.guards.iter().position(|(i, _)| *i == idx).expect("shard of this slot was locked");
        &mut self.guards[pos].1
    }

    fn nshards(&self) -> usize {
        self.guards.first().map_or(1, |(_, g)| g.nshards)
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Shard> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A handler never panics while holding a lock; if one did, the data is still
    // structurally sound, so keep serving rather than poisoning every later command.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Keyspace {
    pub fn new(shards: usize, databases: usize) -> Keyspace {
        let n = shards.clamp(1, SLOTS);
        Keyspace {
            shards: (0..n)
                .map(|i| PaddedShard {
                    lock: Mutex::new(Shard::new(i, n, databases)),
                    thawed: Condvar::new(),
                    wait: LockWait::default(),
                })
                .collect(),
            databases,
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    #[inline]
    pub fn shard_of(&self, slot: u16) -> usize {
        slot as usize % self.shards.len()
    }

    /// Locks the shard owning `slot`.
    #[inline]
    pub fn lock(&self, slot: u16) -> MutexGuard<'_, Shard> {
        self.shards[self.shard_of(slot)].lock()
    }

    pub fn lock_index(&self, index: usize) -> MutexGuard<'_, Shard> {
        self.shards[index].lock()
    }

    /// Prefetches the lookups of a batch's keys (`(slot, key)` in database `db`) in
    /// [`Prefetch`]'s steps, so that running the batch finds its tables and blocks in
    /// cache. Best effort: a shard that is busy or frozen by a transaction is skipped,
    /// and a wrong guess costs only a wasted prefetch.
    pub fn prefetch(&self, db: usize, keys: &[(u16, &[u8])]) {
        // Each key's hash, computed in the first step (the hasher is the shard's).
        let mut hashes = vec![None; keys.len()];
        for step in [Prefetch::Table, Prefetch::Slot, Prefetch::Block] {
            let mut held: Option<(usize, MutexGuard<'_, Shard>)> = None;
            for (&(slot, key), hash) in keys.iter().zip(hashes.iter_mut()) {
                let index = self.shard_of(slot);
                if held.as_ref().is_none_or(|(i, _)| *i != index) {
                    held = None;
                    held = match self.shards[index].lock.try_lock() {
                        Ok(g) if g.frozen_by.is_none() => Some((index, g)),
                        _ => continue,
                    };
                }
                let Some((_, shard)) = held.as_ref() else { continue };
                let Some(d) = shard.dbs.get(db) else { continue };
                let h = *hash.get_or_insert_with(|| shard.hasher.hash_one(key));
                d.prefetch(shard.local(slot), h, step);
            }
        }
    }

    /// Locks the shards owning `slots`, in ascending index order: the one way to hold
    /// more than one shard.
    pub fn lock_shards(&self, slots: impl IntoIterator<Item = u16>) -> Locked<'_> {
        let mut idx: Vec<usize> = slots.into_iter().map(|s| self.shard_of(s)).collect();
        idx.sort_unstable();
        idx.dedup();
        Locked { guards: idx.into_iter().map(|i| (i, self.shards[i].lock())).collect() }
    }

    /// Freezes every shard for this thread (in ascending order, as any multi-shard
    /// lock) until the returned guard is dropped.
    pub fn freeze(&self) -> Frozen<'_> {
        let me = std::thread::current().id();
        for padded in self.shards.iter() {
            padded.lock().frozen_by = Some(me);
        }
        Frozen { keyspace: self }
    }

    pub fn lock_all(&self) -> Locked<'_> {
        Locked { guards: (0..self.shards.len()).map(|i| (i, self.shards[i].lock())).collect() }
    }

    /// Drops every key of the given slots, in every database (a cluster node handing
    /// them over); returns how many keys went.
    pub fn drop_slots(&self, slots: &[u16]) -> usize {
        let mut dropped = 0;
        for &slot in slots {
            let mut shard = self.lock(slot);
            shard.keep_all();
            let local = shard.local(slot);
            dropped += shard.dbs.iter_mut().map(|db| db.clear_slot(local)).sum::<usize>();
            if dropped > 0 {
                shard.clear_pool();
            }
        }
        dropped
    }

    /// Drops every key (a cluster node declared failed); returns how many went.
    pub fn drop_all_slots(&self) -> usize {
        let mut dropped = 0;
        for i in 0..self.shards.len() {
            let mut shard = self.lock_index(i);
            shard.keep_all();
            for db in shard.dbs.iter_mut() {
                dropped += db.len();
                db.clear();
            }
            shard.clear_pool();
        }
        dropped
    }

    /// Bytes a background snapshot holds, kept early and not yet written.
    pub fn capture_kept_bytes(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock_index(i).capture_kept_bytes()).sum()
    }

    /// Keys in a database, summed over shards one lock at a time.
    pub fn db_size(&self, db: usize) -> usize {
        (0..self.shards.len()).map(|i| self.lock_index(i).dbs[db].len()).sum()
    }

    /// (keys, keys with a TTL) per database.
    pub fn db_stats(&self) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.databases];
        for i in 0..self.shards.len() {
            let shard = self.lock_index(i);
            for (db, stats) in shard.dbs.iter().zip(out.iter_mut()) {
                stats.0 += db.len();
                stats.1 += db.volatile();
            }
        }
        out
    }

    /// (keys, keys with a TTL) per database, in the slots `keep` takes (a cluster
    /// node's primary ranges).
    pub fn db_stats_in(&self, keep: impl Fn(u16) -> bool) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0); self.databases];
        self.each_slot_in(keep, |shard, local| {
            for (db, stats) in shard.dbs.iter().zip(out.iter_mut()) {
                stats.0 += db.slot_len(local);
                if db.slot_has_volatile(local) {
                    stats.1 += db.slot_entries_from(local, 0).filter(|e| e.has_ttl()).count();
                }
            }
        });
        out
    }

    /// Keys in database `db` in the slots `keep` takes (DBSIZE of a cluster node).
    pub fn db_size_in(&self, db: usize, keep: impl Fn(u16) -> bool) -> usize {
        let mut keys = 0;
        self.each_slot_in(keep, |shard, local| keys += shard.dbs[db].slot_len(local));
        keys
    }

    /// Calls `f` with each shard (locked, one at a time) and each of its local slots
    /// whose global slot `keep` takes.
    fn each_slot_in(&self, keep: impl Fn(u16) -> bool, mut f: impl FnMut(&Shard, usize)) {
        for i in 0..self.shards.len() {
            let shard = self.lock_index(i);
            for local in 0..shard.local_slots {
                let global = shard.global_slot(local);
                if global < SLOTS && keep(global as u16) {
                    f(&shard, local);
                }
            }
        }
    }

    /// Lock wait statistics of shard `index`.
    pub fn lock_wait(&self, index: usize) -> &LockWait {
        &self.shards[index].wait
    }

    pub fn evicted_keys(&self) -> u64 {
        (0..self.shards.len()).map(|i| self.lock_index(i).evicted_keys).sum()
    }

    /// Applies how accesses are recorded to every shard.
    pub fn set_access(&self, access: Access) {
        for i in 0..self.shards.len() {
            self.lock_index(i).set_access(access);
        }
    }

    pub fn set_listener(&self, listener: Option<Arc<dyn RemovalListener>>) {
        for i in 0..self.shards.len() {
            self.lock_index(i).set_listener(listener.clone());
        }
    }

    /// Evicts keys by `policy` until about `need` bytes are freed, at most
    /// [`MAX_EVICTIONS_PER_CALL`] keys; returns the bytes freed and whether it stopped
    /// because nothing more could be evicted.
    pub fn evict(&self, policy: Policy, samples: usize, need: u64, now: u64) -> (u64, bool) {
        let n = self.shards.len();
        let evict_from = |i: usize| {
            let mut shard = self.lock_index(i);
            let (db, slot, key) = shard.pick_victim(policy, samples, now)?;
            shard.evict(db, slot, &key, now)
        };
        let (mut freed, mut evicted, mut misses) = (0, 0, 0);
        while freed < need && evicted < MAX_EVICTIONS_PER_CALL {
            let bytes = match evict_from((random_u64() % n as u64) as usize) {
                Some(bytes) => Some(bytes),
                None if misses + 1 < 4 * n => {
                    misses += 1;
                    continue;
                }
                // Random picks keep missing (emptied shards, say): every shard once
                // before concluding there is nothing left to evict.
                None => (0..n).find_map(evict_from),
            };
            match bytes {
                Some(bytes) => {
                    freed += bytes;
                    evicted += 1;
                    misses = 0;
                }
                None => break,
            }
        }
        (freed, freed < need && evicted < MAX_EVICTIONS_PER_CALL)
    }

    pub fn expired_keys(&self) -> u64 {
        (0..self.shards.len()).map(|i| self.lock_index(i).expired_keys).sum()
    }

    /// Marks the slots whose keys are a cluster replica's copies (module doc of
    /// [`Shard`]'s `copies`).
    pub fn set_copies(&self, is_copy: impl Fn(u16) -> bool) {
        for i in 0..self.shards.len() {
            let mut shard = self.lock_index(i);
            for local in 0..shard.local_slots {
                let global = shard.global_slot(local);
                shard.copies[local] = global < SLOTS && is_copy(global as u16);
            }
            shard.clear_pool();
        }
    }

    /// CLIENT PAUSE: while held, expired keys read as missing but stay in place.
    pub fn hold_expiry(&self, held: bool) {
        for i in 0..self.shards.len() {
            self.lock_index(i).expiry_held = held;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::slot::key_slot;

    #[test]
    fn set_get_expire_and_counts() {
        let ks = Keyspace::new(2, 16);
        let slot = key_slot(b"a");
        {
            let mut s = ks.lock(slot);
            assert!(!s.set(0, slot, b"a", NewValue::Str(b"1"), Some(100), 0));
            assert!(s.set(0, slot, b"a", NewValue::Str(b"2"), Some(100), 0));
            assert!(s.get(0, slot, b"a", 50).is_some());
        }
        assert_eq!(ks.db_stats()[0], (1, 1));
        {
            let mut s = ks.lock(slot);
            assert!(s.get(0, slot, b"a", 100).is_none());
            assert_eq!(s.expired_keys, 1);
        }
        assert_eq!(ks.db_stats()[0], (0, 0));
    }

    #[test]
    fn active_expiry_sweeps_everything() {
        let ks = Keyspace::new(2, 16);
        for i in 0..1000u32 {
            let key = format!("k{i}");
            let slot = key_slot(key.as_bytes());
            let ttl = if i % 2 == 0 { Some(10) } else { None };
            ks.lock(slot).set(3, slot, key.as_bytes(), NewValue::Str(b"v"), ttl, 0);
        }
        assert_eq!(ks.db_stats()[3], (1000, 500));
        for i in 0..2 {
            let mut s = ks.lock_index(i);
            for _ in 0..10_000 {
                s.active_expire_sample(20);
            }
        }
        assert_eq!(ks.db_stats()[3], (500, 0));
        assert_eq!(ks.expired_keys(), 500);
    }

    #[test]
    fn lock_shards_orders_and_dedups() {
        let ks = Keyspace::new(4, 1);
        let mut l = ks.lock_shards([3, 1, 7, 2]);
        let idx: Vec<usize> = l.iter_mut().map(|s| s.index()).collect();
        assert_eq!(idx, vec![1, 2, 3]);
    }

    #[test]
    fn a_frozen_keyspace_waits_other_threads_until_thawed() {
        let ks = Arc::new(Keyspace::new(4, 1));
        let frozen = ks.freeze();
        // The freezing thread still locks shards as usual.
        ks.lock(5).set(0, 5, b"k", NewValue::Str(b"1"), None, 0);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let other = {
            let (ks, done) = (ks.clone(), done.clone());
            std::thread::spawn(move || {
                let seen = ks.lock(5).peek(0, 5, b"k", 0).map(|e| e.value().type_name());
                done.store(true, Relaxed);
                seen
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!done.load(Relaxed), "another thread locked a frozen shard");
        drop(frozen);
        assert_eq!(other.join().unwrap(), Some("string"));
    }
}
