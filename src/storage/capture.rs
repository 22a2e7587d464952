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
//! Whole-database changes (FLUSHALL, SWAPDB, a cluster node dropping slots) first keep
//! every slot not reached yet ([`Shard::keep_all`]). Active expiry leaves the slots not
//! reached yet alone until the walk passes them, so a key live at the start is written
//! even if it expires meanwhile (the load skips it then, as for any expired key).

use super::entry::Entry;
use super::keyspace::Shard;

/// Writes one entry as the snapshot keeps it: (the entry, its LFU counter, whether a
/// client's command is waiting for it (kept early), the output).
pub type KeepFn = Box<dyn Fn(&Entry, u32, bool, &mut Vec<u8>) + Send>;

/// A shard's capture in progress.
pub struct Capture {
    /// When it started (Unix ms): entries live then are in the snapshot.
    t0: u64,
    /// Local slots below this one have been walked.
    next_local: usize,
    /// Records kept early, waiting for the writer.
    kept: Vec<Records>,
    kept_bytes: usize,
    keep: KeepFn,
}

/// Snapshot records of keys of one database.
pub struct Records {
    pub db: usize,
    pub bytes: Vec<u8>,
    pub keys: u64,
}

impl Shard {
    /// Starts a capture as of `t0` (call with every shard locked: one instant).
    pub fn start_capture(&mut self, t0: u64, keep: KeepFn) {
        self.capture = Some(Box::new(Capture { t0, next_local: 0, kept: Vec::new(), kept_bytes: 0, keep }));
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
        self.capture.as_ref().is_none_or(|c| local < c.next_local)
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
        if local < cap.next_local {
            return;
        }
        let Some(e) = dbs[db].find_mut(hasher, local, key).filter(|e| !e.saved()) else { return };
        e.set_saved(true);
        if e.is_expired(cap.t0) {
            return;
        }
        // Records of one database follow each other in one buffer: no allocation a key.
        if cap.kept.last().is_none_or(|r| r.db != db) {
            cap.kept.push(Records { db, bytes: Vec::new(), keys: 0 });
        }
        let records = cap.kept.last_mut().expect("pushed above");
        let before = records.bytes.len();
        (cap.keep)(e, access.count(epoch, e.clock(), cap.t0), true, &mut records.bytes);
        records.keys += 1;
        cap.kept_bytes += records.bytes.len() - before;
    }

    /// Keeps every slot the walk has not reached (before a whole-database change).
    pub fn keep_all(&mut self) {
        while self.capture.as_ref().is_some_and(|c| c.next_local < self.local_slots()) {
            // A client's command waits meanwhile: written as kept early (no LZF).
            let step = self.capture_step_inner(true);
            if let Some(cap) = self.capture.as_deref_mut() {
                cap.kept_bytes += step.iter().map(|r| r.bytes.len()).sum::<usize>();
                cap.kept.extend(step);
            }
        }
    }

    /// Walks the next local slot: the records of its entries live at the start and not
    /// kept early, then whatever was kept early since the last step. None once every
    /// slot is walked (and what remains kept is handed over with the last step).
    pub fn capture_step(&mut self) -> Option<Vec<Records>> {
        let cap = self.capture.as_deref_mut()?;
        if cap.next_local >= self.local_slots() {
            return None;
        }
        let mut step = self.capture_step_inner(false);
        let cap = self.capture.as_deref_mut()?;
        step.append(&mut cap.kept);
        cap.kept_bytes = 0;
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
                (cap.keep)(e, access.count(epoch, e.clock(), cap.t0), early, &mut records.bytes);
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
        let Some(cap) = self.capture.take() else { return Vec::new() };
        for local in cap.next_local..self.local_slots() {
            for d in self.dbs.iter_mut() {
                d.slot_entries_mut(local).for_each(|e| e.set_saved(false));
            }
        }
        cap.kept
    }
}
