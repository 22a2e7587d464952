//! The active defragmentation cycle (`activedefrag`), run by the cron.
//!
//! Each tick it reads the allocator's waste (free regions in partly used slabs). When
//! that is at least `active-defrag-ignore-bytes` and `active-defrag-threshold-lower`
//! percent of the allocated bytes, a pass starts: it walks every shard's slot tables,
//! a few dozen at a time under the shard lock, and moves the blocks of the wasteful
//! size classes that sit in sparse slabs ([`crate::storage::defrag`]). A pass spends
//! between `active-defrag-cycle-min` and `-max` percent of each tick, more the more
//! fragmented memory is (as Redis scales its effort), and runs to the end once
//! started; then the emptied pages go back to the system.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::storage::defrag::{self, Classes, DefragCount};
use crate::storage::keyspace::Keyspace;

/// Slot tables handled per shard-lock acquisition (a thousand keys or so: well under a
/// millisecond even when every block moves).
const POSITIONS_PER_LOCK: usize = 16;

/// A size class joins a pass when at least this share (percent) of its slabs is free.
const CLASS_MIN_FREE_PCT: u64 = 10;

/// The `active-defrag-*` settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragSettings {
    pub enabled: bool,
    pub ignore_bytes: u64,
    pub threshold_lower: u64,
    pub threshold_upper: u64,
    pub cycle_min: u64,
    pub cycle_max: u64,
}

impl DefragSettings {
    /// Percent of a tick to spend at `frag_pct` percent fragmentation: the minimum at
    /// the lower threshold, rising linearly to the maximum at the upper one.
    pub fn effort(&self, frag_pct: u64) -> u64 {
        let span = self.threshold_upper.saturating_sub(self.threshold_lower).max(1);
        let over = frag_pct.saturating_sub(self.threshold_lower).min(span);
        let extra = self.cycle_max.saturating_sub(self.cycle_min) * over / span;
        (self.cycle_min + extra).clamp(1, 100)
    }
}

struct Pass {
    classes: Classes,
    shard: usize,
    pos: usize,
    moved: u64,
}

/// The cycle's state and its counters (INFO stats `active_defrag_*`).
#[derive(Default)]
pub struct ActiveDefrag {
    pass: Mutex<Option<Pass>>,
    /// The effort (percent of a tick) of the pass in progress, 0 when none.
    pub running: AtomicU64,
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub key_hits: AtomicU64,
    pub key_misses: AtomicU64,
}

impl ActiveDefrag {
    /// One tick's worth of defragmentation. `allocated` is the allocator's current
    /// figure (its statistics epoch refreshed this tick).
    pub fn cycle(&self, keyspace: &Keyspace, settings: DefragSettings, allocated: u64, tick: Duration) {
        let mut guard = self.pass.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() && !settings.enabled {
            return;
        }
        let waste = defrag::waste();
        let frag_pct = waste.bytes * 100 / allocated.max(1);
        if guard.is_none() {
            if !settings.enabled || waste.bytes < settings.ignore_bytes || frag_pct < settings.threshold_lower
            {
                return;
            }
            let classes = waste.classes(CLASS_MIN_FREE_PCT);
            if classes.is_empty() {
                return;
            }
            *guard = Some(Pass { classes, shard: 0, pos: 0, moved: 0 });
        }
        let Some(pass) = guard.as_mut() else { return };
        let effort = settings.effort(frag_pct);
        self.running.store(effort, Relaxed);
        let deadline = Instant::now() + tick * effort as u32 / 100;
        let mut done = DefragCount::default();
        while pass.shard < keyspace.shard_count() {
            let finished_shard = {
                let mut shard = keyspace.lock_index(pass.shard);
                let n = shard.defrag_step(pass.pos, POSITIONS_PER_LOCK, &pass.classes);
                done.add(n);
                pass.pos += POSITIONS_PER_LOCK;
                pass.pos >= shard.defrag_positions()
            };
            if finished_shard {
                pass.shard += 1;
                pass.pos = 0;
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        pass.moved += done.hits;
        self.hits.fetch_add(done.hits, Relaxed);
        self.misses.fetch_add(done.misses, Relaxed);
        self.key_hits.fetch_add(done.key_hits, Relaxed);
        self.key_misses.fetch_add(done.key_misses, Relaxed);
        if pass.shard >= keyspace.shard_count() {
            if pass.moved > 0 {
                super::memory::purge();
            }
            *guard = None;
            self.running.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_scales_between_the_thresholds() {
        let s = DefragSettings {
            enabled: true,
            ignore_bytes: 0,
            threshold_lower: 10,
            threshold_upper: 100,
            cycle_min: 1,
            cycle_max: 25,
        };
        assert_eq!(s.effort(5), 1);
        assert_eq!(s.effort(10), 1);
        assert_eq!(s.effort(55), 13);
        assert_eq!(s.effort(100), 25);
        assert_eq!(s.effort(400), 25);
    }
}
