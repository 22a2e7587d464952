//! Eviction under `maxmemory`: Redis's policies by sampling, with a few bytes of
//! metadata per key and no linked lists.
//!
//! Each key's 28 access bits hold, under an LRU (or random/TTL) policy, the access
//! clock in ticks of [`ACCESS_TICK_MS`] (Redis's clock ticks once a second, so keys
//! read within the same second look alike to it; this one separates them and wraps
//! after 31 days, where Redis's wraps after 194); under an LFU policy, Redis's layout:
//! 16 bits of minutes (last decay) and an 8-bit logarithmic access counter. A victim is chosen by sampling
//! `maxmemory-samples` keys of one shard and evicting the best candidate by the
//! policy's score; eviction repeats until enough memory is freed or nothing is left to
//! evict.

use super::entry::{CLOCK_MASK, Entry};

/// Resolution of the access clock.
pub const ACCESS_TICK_MS: u64 = 10;

/// The access clock stored with a key read or written at `now_ms`.
#[inline]
pub fn access_clock(now_ms: u64) -> u32 {
    ((now_ms / ACCESS_TICK_MS) as u32) & CLOCK_MASK
}

/// Milliseconds since a key with access clock `clock` was last read or written (at
/// tick resolution; a clock older than one wrap reads as more recent, as in Redis).
pub fn idle_ms(clock: u32, now_ms: u64) -> u64 {
    (access_clock(now_ms).wrapping_sub(clock) & CLOCK_MASK) as u64 * ACCESS_TICK_MS
}

/// Redis's `lru_clock` (INFO server): seconds, 24 bits.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & ((1 << 24) - 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    /// Sampled eviction of the key read least often lately, with TinyLFU admission: a
    /// new key starts from what a per-shard frequency sketch remembers of it (reads of
    /// keys not stored count too), waits in a small FIFO window and, when memory is
    /// needed, stays only if it has been read more often than the victim it would
    /// replace. Counts age by halving as traffic flows, not by wall-clock time.
    AllKeysTinyLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub fn parse(name: &str) -> Policy {
        match name {
            "allkeys-lru" => Policy::AllKeysLru,
            "allkeys-lfu" => Policy::AllKeysLfu,
            "allkeys-tinylfu" => Policy::AllKeysTinyLfu,
            "allkeys-random" => Policy::AllKeysRandom,
            "volatile-lru" => Policy::VolatileLru,
            "volatile-lfu" => Policy::VolatileLfu,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    pub fn is_random(self) -> bool {
        matches!(self, Policy::AllKeysRandom | Policy::VolatileRandom)
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl
        )
    }

    /// How good a victim `e` is: higher is evicted first. `epoch` is the shard's
    /// sketch epoch (only read by `allkeys-tinylfu`).
    pub fn score(self, e: &Entry, now_ms: u64, access: &Access, random: u64, epoch: u32) -> u64 {
        match self {
            Policy::NoEviction => 0,
            // Least asked-for first; among equals, least recently used first.
            Policy::AllKeysTinyLfu => 255 - tiny_count(e.clock(), epoch) as u64,
            Policy::AllKeysLru | Policy::VolatileLru => idle_ms(e.clock(), now_ms),
            Policy::AllKeysLfu | Policy::VolatileLfu => 255 - access.lfu_counter(e.clock(), now_ms) as u64,
            Policy::AllKeysRandom | Policy::VolatileRandom => random,
            Policy::VolatileTtl => u64::MAX - e.expire_at().unwrap_or(u64::MAX),
        }
    }
}

/// Initial LFU counter of a new key, so it is not evicted before it has a chance to be
/// read (Redis's LFU_INIT_VAL).
pub const LFU_INIT_VAL: u32 = 5;

/// How key accesses are recorded; set from the configuration on every shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub lfu: bool,
    /// Frequencies are kept in a sketch and new keys pass TinyLFU admission.
    pub admission: bool,
    pub lfu_log_factor: u32,
    /// Minutes without access for the counter to decrease by one (0: never decays).
    pub lfu_decay_time: u32,
}

impl Default for Access {
    fn default() -> Access {
        Access { lfu: false, admission: false, lfu_log_factor: 10, lfu_decay_time: 1 }
    }
}

/// Under `allkeys-tinylfu` a key's access bits are `(epoch << 8) | count`: reads since
/// it was written (starting from the sketch's estimate), halved for every sketch epoch
/// that passed since the last one. This is that count now.
pub fn tiny_count(bits: u32, epoch: u32) -> u32 {
    let elapsed = epoch.wrapping_sub(bits >> 8) & 0xFFFF;
    if elapsed >= 8 { 0 } else { (bits & 0xFF) >> elapsed }
}

/// Access bits holding `count` (saturating at 255) as of `epoch`.
pub fn tiny_bits(count: u32, epoch: u32) -> u32 {
    ((epoch & 0xFFFF) << 8) | count.min(255)
}

fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xFFFF) as u32
}

impl Access {
    /// The access bits of a new key.
    pub fn initial(&self, now_ms: u64) -> u32 {
        if self.lfu { (minutes(now_ms) << 8) | LFU_INIT_VAL } else { access_clock(now_ms) }
    }

    /// The access bits after one more access.
    pub fn touched(&self, bits: u32, now_ms: u64, random: u64) -> u32 {
        if !self.lfu {
            return access_clock(now_ms);
        }
        let mut counter = self.lfu_counter(bits, now_ms);
        // Logarithmic increment: the higher the counter, the less likely a bump.
        if counter < 255 {
            let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
            let p = 1.0 / (base * self.lfu_log_factor as f64 + 1.0);
            let r = (random >> 11) as f64 / (1u64 << 53) as f64;
            if r < p {
                counter += 1;
            }
        }
        ((minutes(now_ms) << 8) | counter) & CLOCK_MASK
    }

    /// LFU access bits holding `counter` as of now.
    pub fn with_counter(&self, counter: u32, now_ms: u64) -> u32 {
        ((minutes(now_ms) << 8) | counter.min(255)) & CLOCK_MASK
    }

    /// A key's access count as OBJECT FREQ reports it and a snapshot's FREQ keeps it:
    /// under `allkeys-tinylfu` (`tiny_epoch` given) its aged count, else the LFU
    /// counter with decay, from its access bits.
    pub fn count(&self, tiny_epoch: Option<u32>, bits: u32, now_ms: u64) -> u32 {
        match tiny_epoch {
            Some(epoch) => tiny_count(bits, epoch),
            None => self.lfu_counter(bits, now_ms),
        }
    }

    /// The LFU counter with decay applied (OBJECT FREQ), without changing the key.
    pub fn lfu_counter(&self, bits: u32, now_ms: u64) -> u32 {
        let counter = bits & 0xFF;
        if self.lfu_decay_time == 0 {
            return counter;
        }
        let last = (bits >> 8) & 0xFFFF;
        let elapsed = (minutes(now_ms).wrapping_sub(last)) & 0xFFFF;
        let periods = elapsed / self.lfu_decay_time;
        counter.saturating_sub(periods)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::NewValue;

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let a = Access { lfu: true, admission: false, lfu_log_factor: 10, lfu_decay_time: 1 };
        let t0 = 10 * 60_000;
        let mut bits = a.initial(t0);
        assert_eq!(a.lfu_counter(bits, t0), LFU_INIT_VAL);
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..1000 {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            bits = a.touched(bits, t0, rng);
        }
        let after_1000 = a.lfu_counter(bits, t0);
        assert!(after_1000 > 10 && after_1000 < 40, "{after_1000}");
        // Three minutes without access: three decrements.
        assert_eq!(a.lfu_counter(bits, t0 + 3 * 60_000), after_1000 - 3);
        // A second key touched once stays near the initial value.
        let once = a.touched(a.initial(t0), t0, 0);
        assert!(a.lfu_counter(once, t0) <= LFU_INIT_VAL + 1);
    }

    #[test]
    fn tiny_counts_grow_and_halve_per_epoch() {
        let mut bits = tiny_bits(3, 7);
        for _ in 0..10 {
            bits = tiny_bits(tiny_count(bits, 7) + 1, 7);
        }
        assert_eq!(tiny_count(bits, 7), 13);
        assert_eq!(tiny_count(bits, 8), 6);
        assert_eq!(tiny_count(bits, 10), 1);
        assert_eq!(tiny_count(bits, 20), 0);
        // Saturates at 255; the epoch wraps at 16 bits.
        assert_eq!(tiny_count(tiny_bits(1000, 0xFFFF), 1), 255 >> 2);
        let mut hot = Entry::new(b"h", NewValue::Str(b"v"), None);
        let mut cold = Entry::new(b"c", NewValue::Str(b"v"), None);
        hot.set_clock(tiny_bits(9, 2));
        cold.set_clock(tiny_bits(2, 2));
        let p = Policy::AllKeysTinyLfu;
        let access = Access::default();
        assert!(p.score(&cold, 0, &access, 0, 2) > p.score(&hot, 0, &access, 0, 2));
    }

    #[test]
    fn scores_order_victims() {
        let access = Access::default();
        let now = 1_000_000;
        let mut old = Entry::new(b"old", NewValue::Str(b"v"), Some(now + 10));
        old.set_clock(access_clock(now - 50_000));
        let mut fresh = Entry::new(b"fresh", NewValue::Str(b"v"), Some(now + 99_000));
        fresh.set_clock(access_clock(now));
        let lru = Policy::AllKeysLru;
        assert!(lru.score(&old, now, &access, 0, 0) > lru.score(&fresh, now, &access, 0, 0));
        let ttl = Policy::VolatileTtl;
        assert!(ttl.score(&old, now, &access, 0, 0) > ttl.score(&fresh, now, &access, 0, 0));
        assert!(Policy::parse("volatile-ttl").volatile_only());
        // Keys read 30 ms apart are told apart.
        let mut a = Entry::new(b"a", NewValue::Str(b"v"), None);
        a.set_clock(access_clock(now - 30));
        assert!(lru.score(&a, now, &access, 0, 0) > lru.score(&fresh, now, &access, 0, 0));
        assert_eq!(idle_ms(a.clock(), now), 30);
        assert_eq!(Policy::parse("bogus"), Policy::NoEviction);
    }
}
