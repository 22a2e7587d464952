//! A point-in-time capture of a shard for a background snapshot, without forking and
//! without stopping the shard: the snapshot writer walks the shard's slots in order
//! ([`Shard::capture_step`]); before anything changes or reads a key of a slot it has
//! not reached yet ([`Shard::keep_before_change`]: lookups, writes, removals), the key's
//! value as of the capture's start is written out right then, once, and the entry is
//! marked saved so the walk skips it. Entries stored since the start in slots not walked
//! yet are marked the same way (with nothing written). Copies are per key, so a write
//! load costs one record per key it touches, not a copy of the dataset; the mark is a
//! bit of the entry, so telling whether a key was dealt with costs no lookup of its own.
//!
//! The walk clears the marks of each slot it passes, so once it is done (or abandoned:
//! [`Shard::end_capture`] clears what is left) no entry is marked.
//!
//! A large value (what the part function says is one) is not written with its slot: it
//! waits in a queue and is written a part a step ([`Shard::capture_step`]), so the lock
//! is held for one part at a time. A command about to touch a queued value first writes
//! what is left of it (the rest of the one in progress goes ahead of anything kept
//! since: parts of one value must follow each other in the file), and active expiry
//! leaves the slots of queued values alone. A client's command about to touch a large
//! value not saved yet asks first ([`Shard::save_ahead`]): the value moves to the head of
//! the queue and one part of it is written a call, the lock released between calls, so
//! the command waits for its value without the shard waiting for the command.
//!
//! Whole-database changes (FLUSHALL, SWAPDB, a cluster node dropping slots) first keep
//! every slot not reached yet ([`Shard::keep_all`]). Active expiry leaves the slots not
//! reached yet alone until the walk passes them, so a key live at the start is written
//! even if it expires meanwhile (the load skips it then, as for any expired key).

use std::collections::VecDeque;

use super::db::{Db, Hasher};
use super::entry::Entry;
use super::keyspace::Shard;

/// Writes one entry as the snapshot keeps it: (the entry, its LFU counter, whether a
/// client's command is waiting for it (kept early), the output).
pub type KeepFn = Box<dyn Fn(&Entry, u32, bool, &mut Vec<u8>) + Send>;

/// Writes the next part of a large value: (the entry, its LFU counter, where it stands,
/// the output) -> whether it is complete. From [`Part::START`] the entry's head (TTL,
/// access, type, key) comes first.
pub type PartFn = Box<dyn Fn(&Entry, u32, &mut Part, &mut Vec<u8>) -> bool + Send>;

/// Where a value written in parts stands (read and advanced by the [`PartFn`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The next element (byte of a string) to write.
    pub next: usize,
    /// Elements a list node, fixed by the first part.
    pub per_node: usize,
}

impl Part {
    pub const START: Part = Part { next: 0, per_node: 0 };
}

/// How a capture writes entries.
pub struct Writers {
    pub keep: KeepFn,
    pub part: PartFn,
    /// Whether an entry's value is written in parts.
    pub in_parts: fn(&Entry) -> bool,
}

/// A large value of a walked slot, waiting to be written (or being written) in parts.
struct Queued {
    db: usize,
    local: usize,
    key: Box<[u8]>,
    freq: u32,
    part: Part,
}

impl Queued {
    /// The queued value's entry: every change to it or removal writes what is left of
    /// it and takes it off the queue first (active expiry leaves its slot alone), so it
    /// is there.
    fn entry<'a>(&self, dbs: &'a [Db], hasher: &Hasher) -> &'a Entry {
        dbs[self.db].find(hasher, self.local, &self.key).expect("a queued value is removed only after this")
    }
}

/// A shard's capture in progress.
pub struct Capture {
    /// When it started (Unix ms): entries live then are in the snapshot.
    t0: u64,
    /// Local slots below this one have been walked.
    next_local: usize,
    /// Large values of walked slots, in the order they are written (the first may be
    /// part written).
    queued: VecDeque<Queued>,
    /// Parts of queued values written ahead of the walk for a waiting command (and the
    /// rest of a part-written value a command took whole), in order: they go to the
    /// writer first, continuing the parts it has.
    parts: Vec<Records>,
    /// Records kept early, waiting for the writer.
    kept: Vec<Records>,
    kept_bytes: usize,
    writers: Writers,
}

/// Snapshot records of keys of one database.
pub struct Records {
    pub db: usize,
    pub bytes: Vec<u8>,
    pub keys: u64,
}

impl Shard {
    /// Starts a capture as of `t0` (call with every shard locked: one instant).
    pub fn start_capture(&mut self, t0: u64, writers: Writers) {
        self.capture = Some(Box::new(Capture {
            t0,
            next_local: 0,
            queued: VecDeque::new(),
            parts: Vec::new(),
            kept: Vec::new(),
            kept_bytes: 0,
            writers,
        }));
    }

    /// Bytes of records kept early and not yet handed to the writer (INFO's
    /// `current_cow_size`).
    pub fn capture_kept_bytes(&self) -> usize {
        self.capture.as_ref().map_or(0, |c| c.kept_bytes)
    }

    /// Whether an entry stored now in `local` counts as saved: a capture is in progress
    /// and has not walked the slot yet.
    pub(super) fn capture_marks(&self, local: usize) -> bool {
        self.capture.as_ref().is_some_and(|c| local >= c.next_local)
    }

    /// Whether active expiry may touch `local` now.
    pub(super) fn capture_allows_expiry(&self, local: usize) -> bool {
        self.capture
            .as_ref()
            .is_none_or(|c| local < c.next_local && c.queued.iter().all(|q| q.local != local))
    }

    /// Before `key` (in `db`, local slot `local`) is looked up, changed or removed:
    /// keeps its value as of the start if the walk has not reached it yet.
    #[inline]
    pub(super) fn keep_before_change(&mut self, db: usize, local: usize, key: &[u8]) {
        if self.capture.is_some() {
            self.keep_slow(db, local, key);
        }
    }

    #[cold]
    fn keep_slow(&mut self, db: usize, local: usize, key: &[u8]) {
        let epoch = self.tiny_epoch();
        let Shard { capture, dbs, hasher, access, .. } = self;
        let Some(cap) = capture.as_deref_mut() else { return };
        // A queued value of a slot not walked yet was put ahead by save_ahead.
        if let Some(at) = cap.queue_position(db, local, key) {
            let q = cap.queued.remove(at).expect("position found");
            let e = q.entry(dbs, hasher);
            cap.write_rest(q, e);
            return;
        }
        if local < cap.next_local {
            return;
        }
        let Some(e) = dbs[db].find_mut(hasher, local, key).filter(|e| !e.saved()) else { return };
        e.set_saved(true);
        if e.is_expired(cap.t0) {
            return;
        }
        let freq = access.count(epoch, e.clock(), cap.t0);
        cap.keep_early(db, e, freq);
    }

    /// Before a client's command touches `key` (in `db`, local slot `local`): whether
    /// it has to wait, the lock released, for its value as of the start to be saved.
    /// A small value of a slot not walked yet is kept at once, as
    /// [`Shard::keep_before_change`] would; a large one not written yet is queued
    /// first in line (behind a value part written, which must be finished first) and
    /// one part of the queue's head is written a call, until the key's value is done.
    pub fn save_ahead(&mut self, db: usize, local: usize, key: &[u8]) -> bool {
        let epoch = self.tiny_epoch();
        let Shard { capture, dbs, hasher, access, .. } = self;
        let Some(cap) = capture.as_deref_mut() else { return false };
        let at = match cap.queue_position(db, local, key) {
            Some(at) => at,
            None => {
                if local < cap.next_local {
                    return false;
                }
                let Some(e) = dbs[db].find_mut(hasher, local, key).filter(|e| !e.saved()) else {
                    return false;
                };
                e.set_saved(true);
                if e.is_expired(cap.t0) {
                    return false;
                }
                let freq = access.count(epoch, e.clock(), cap.t0);
                if !(cap.writers.in_parts)(e) {
                    cap.keep_early(db, e, freq);
                    return false;
                }
                cap.queued.push_back(Queued { db, local, key: key.into(), freq, part: Part::START });
                cap.queued.len() - 1
            }
        };
        let head = usize::from(cap.queued.front().is_some_and(|q| q.part != Part::START));
        if at > head {
            let q = cap.queued.remove(at).expect("position found");
            cap.queued.insert(head, q);
        }
        let q = cap.queued.front_mut().expect("not empty");
        let e = q.entry(dbs, hasher);
        let mut records = Records { db: q.db, bytes: Vec::new(), keys: 0 };
        let done = (cap.writers.part)(e, q.freq, &mut q.part, &mut records.bytes);
        if done {
            records.keys = 1;
            cap.queued.pop_front();
        }
        cap.kept_bytes += records.bytes.len();
        cap.parts.push(records);
        cap.queue_position(db, local, key).is_some()
    }

    /// Keeps every slot the walk has not reached and every queued large value (before a
    /// whole-database change).
    pub fn keep_all(&mut self) {
        let Shard { capture, dbs, hasher, .. } = self;
        if let Some(cap) = capture.as_deref_mut() {
            while let Some(q) = cap.queued.pop_front() {
                let e = q.entry(dbs, hasher);
                cap.write_rest(q, e);
            }
        }
        while self.capture.as_ref().is_some_and(|c| c.next_local < self.local_slots()) {
            // A client's command waits meanwhile: written as kept early (no LZF).
            let step = self.capture_step_inner(true);
            if let Some(cap) = self.capture.as_deref_mut() {
                cap.kept_bytes += step.iter().map(|r| r.bytes.len()).sum::<usize>();
                cap.kept.extend(step);
            }
        }
    }

    /// The next step of the walk: the next part of the first queued large value, or
    /// else the next local slot's records; what was kept early since goes out with it,
    /// ahead, or after the last part of a value written in parts (never between two
    /// parts of one value). None once every slot and queued value is written (what
    /// remains kept is handed over by [`Shard::end_capture`]).
    pub fn capture_step(&mut self) -> Option<Vec<Records>> {
        let slots = self.local_slots();
        let cap = self.capture.as_deref_mut()?;
        if cap.queued.is_empty() && cap.next_local >= slots {
            return None;
        }
        let in_progress = cap.queued.front().is_some_and(|q| q.part != Part::START);
        let mut step = std::mem::take(&mut cap.parts);
        cap.kept_bytes -= step.iter().map(|r| r.bytes.len()).sum::<usize>();
        if !in_progress {
            step.extend(cap.take_kept());
        }
        if cap.queued.is_empty() {
            step.extend(self.capture_step_inner(false));
            return Some(step);
        }
        let Shard { capture, dbs, hasher, .. } = self;
        let cap = capture.as_deref_mut()?;
        let q = cap.queued.front_mut().expect("not empty");
        let e = q.entry(dbs, hasher);
        let mut records = Records { db: q.db, bytes: Vec::new(), keys: 0 };
        let done = (cap.writers.part)(e, q.freq, &mut q.part, &mut records.bytes);
        step.push(records);
        if done {
            step.last_mut().expect("pushed").keys = 1;
            cap.queued.pop_front();
            step.extend(cap.take_kept());
        }
        Some(step)
    }

    /// Walks one slot; `early`: for a command waiting (see [`KeepFn`]).
    fn capture_step_inner(&mut self, early: bool) -> Vec<Records> {
        let epoch = self.tiny_epoch();
        let Shard { capture, dbs, access, .. } = self;
        let Some(cap) = capture.as_deref_mut() else { return Vec::new() };
        let local = cap.next_local;
        let mut step = Vec::new();
        for (db, d) in dbs.iter_mut().enumerate() {
            let mut records = Records { db, bytes: Vec::new(), keys: 0 };
            for e in d.slot_entries_mut(local) {
                if e.saved() {
                    e.set_saved(false);
                    continue;
                }
                if e.is_expired(cap.t0) {
                    continue;
                }
                let freq = access.count(epoch, e.clock(), cap.t0);
                if !early && (cap.writers.in_parts)(e) {
                    cap.queued.push_back(Queued { db, local, key: e.key().into(), freq, part: Part::START });
                    continue;
                }
                (cap.writers.keep)(e, freq, early, &mut records.bytes);
                records.keys += 1;
            }
            if records.keys > 0 {
                step.push(records);
            }
        }
        cap.next_local += 1;
        step
    }

    /// Ends the capture, handing over what was kept and not yet taken. A capture ended
    /// before its walk is done clears the marks of the slots it did not reach.
    pub fn end_capture(&mut self) -> Vec<Records> {
        let Some(mut cap) = self.capture.take() else { return Vec::new() };
        // A value part written (never the case after a complete walk) would be cut short:
        // such a file is not kept.
        cap.queued.clear();
        for local in cap.next_local..self.local_slots() {
            for d in self.dbs.iter_mut() {
                d.slot_entries_mut(local).for_each(|e| e.set_saved(false));
            }
        }
        cap.parts.append(&mut cap.kept);
        cap.parts
    }
}

impl Capture {
    /// Where `key`'s value waits in the queue, if it does.
    fn queue_position(&self, db: usize, local: usize, key: &[u8]) -> Option<usize> {
        self.queued.iter().position(|q| q.db == db && q.local == local && *q.key == *key)
    }

    fn take_kept(&mut self) -> Vec<Records> {
        self.kept_bytes = 0;
        std::mem::take(&mut self.kept)
    }

    /// Keeps `e`'s value as of the start, whole, while a command waits.
    fn keep_early(&mut self, db: usize, e: &Entry, freq: u32) {
        // Records of one database follow each other in one buffer: no allocation a key.
        if self.kept.last().is_none_or(|r| r.db != db) {
            self.kept.push(Records { db, bytes: Vec::new(), keys: 0 });
        }
        let records = self.kept.last_mut().expect("pushed above");
        let before = records.bytes.len();
        (self.writers.keep)(e, freq, true, &mut records.bytes);
        records.keys += 1;
        self.kept_bytes += records.bytes.len() - before;
    }

    /// Writes what is left of a queued large value, while a command waits: whole if no
    /// part is written yet, else the remaining parts, after the parts written so far
    /// (ahead of everything kept).
    fn write_rest(&mut self, mut q: Queued, e: &Entry) {
        if q.part == Part::START {
            self.keep_early(q.db, e, q.freq);
            return;
        }
        let mut records = Records { db: q.db, bytes: Vec::new(), keys: 1 };
        while !(self.writers.part)(e, q.freq, &mut q.part, &mut records.bytes) {}
        self.kept_bytes += records.bytes.len();
        self.parts.push(records);
    }
}
