//! A count-min sketch of recent key accesses with 4-bit counters (TinyLFU's frequency
//! filter), one per shard while the `allkeys-tinylfu` policy is selected.
//!
//! It remembers how often keys were asked for, including keys not (or no longer)
//! stored, in about 4 bytes per key of the shard: each key maps to four counters, its
//! estimate is the smallest of them, and every `10 × capacity` recorded accesses all
//! counters are halved so the estimate follows the recent past.

/// Counters saturate at 15.
pub const MAX_FREQUENCY: u8 = 15;

/// Accesses recorded, per key of capacity, between two halvings.
const SAMPLE_FACTOR: usize = 10;

/// Smallest capacity the sketch is built for.
const MIN_CAPACITY: usize = 1024;

pub struct Sketch {
    /// 16 four-bit counters per word.
    table: Vec<u64>,
    capacity: usize,
    additions: usize,
    /// Halvings so far (16 bits): the age unit of the keys' own access counts.
    epoch: u32,
}

const SEEDS: [u64; 4] =
    [0xc3a5_c85c_97cb_3127, 0xb492_b66f_be98_f273, 0x9ae1_6a3b_2f90_404f, 0xcbf2_9ce4_8422_2325];

impl Sketch {
    /// A sketch sized for about `keys` distinct keys.
    pub fn new(keys: usize) -> Sketch {
        let capacity = keys.max(MIN_CAPACITY);
        // About eight counters per key of capacity.
        let words = (capacity / 2).next_power_of_two();
        Sketch { table: vec![0; words], capacity, additions: 0, epoch: 0 }
    }

    /// Grows the sketch for `keys` keys, keeping what it remembers: a key's counters sit
    /// in the word its hash selects among the table's (a power of two) and at a nibble
    /// that does not depend on the table's size, so a table `2^k` times larger holding
    /// `2^k` copies of the old one gives every key the estimate it had.
    pub fn grow(&mut self, keys: usize) {
        if keys <= self.capacity {
            return;
        }
        self.capacity = keys;
        let words = (keys / 2).next_power_of_two();
        self.table.reserve_exact(words.saturating_sub(self.table.len()));
        while self.table.len() < words {
            self.table.extend_from_within(..);
        }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Word index and bit offset of the key's `i`th counter.
    #[inline]
    fn slot(&self, hash: u64, i: usize) -> (usize, u32) {
        let h = (hash ^ SEEDS[i]).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let word = (h >> 32) as usize & (self.table.len() - 1);
        let nibble = (h >> 28) as u32 & 15;
        (word, nibble * 4)
    }

    #[inline]
    fn counter(&self, (word, shift): (usize, u32)) -> u8 {
        ((self.table[word] >> shift) & 15) as u8
    }

    /// The estimated number of recent accesses of the key with this hash (0..=15).
    pub fn frequency(&self, hash: u64) -> u8 {
        (0..4).map(|i| self.counter(self.slot(hash, i))).min().unwrap_or(0)
    }

    /// Records one access. Only the counters at the current minimum grow (conservative
    /// update), which keeps estimates of rare keys low in a crowded sketch.
    pub fn record(&mut self, hash: u64) {
        let slots = [self.slot(hash, 0), self.slot(hash, 1), self.slot(hash, 2), self.slot(hash, 3)];
        let min = slots.iter().map(|&s| self.counter(s)).min().unwrap_or(0);
        if min < MAX_FREQUENCY {
            for (word, shift) in slots {
                if self.counter((word, shift)) == min {
                    self.table[word] += 1 << shift;
                }
            }
        }
        self.additions += 1;
        if self.additions >= SAMPLE_FACTOR * self.capacity {
            self.halve();
        }
    }

    /// Ages every counter by half.
    fn halve(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.additions /= 2;
        self.epoch = (self.epoch + 1) & 0xFFFF;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(i: u64) -> u64 {
        i.wrapping_mul(0xff51_afd7_ed55_8ccd).rotate_left(31) ^ i
    }

    #[test]
    fn estimates_follow_recorded_accesses() {
        let mut s = Sketch::new(1024);
        for _ in 0..7 {
            s.record(hash(1));
        }
        s.record(hash(2));
        assert_eq!(s.frequency(hash(1)), 7);
        assert_eq!(s.frequency(hash(2)), 1);
        assert_eq!(s.frequency(hash(3)), 0);
        for _ in 0..100 {
            s.record(hash(1));
        }
        assert_eq!(s.frequency(hash(1)), MAX_FREQUENCY);
    }

    #[test]
    fn growing_keeps_the_estimates() {
        let mut s = Sketch::new(1024);
        for i in 0..2000u64 {
            for _ in 0..(i % 7) {
                s.record(hash(i));
            }
        }
        let before: Vec<u8> = (0..2000).map(|i| s.frequency(hash(i))).collect();
        s.grow(10_000);
        assert_eq!(s.capacity(), 10_000);
        assert!(s.table.len() >= 4096);
        let after: Vec<u8> = (0..2000).map(|i| s.frequency(hash(i))).collect();
        assert_eq!(before, after);
    }

    #[test]
    fn counters_halve_after_the_sample_period() {
        let mut s = Sketch::new(1024);
        for _ in 0..12 {
            s.record(hash(7));
        }
        // Fill the rest of the period with keys seen once.
        let period = SAMPLE_FACTOR * s.capacity();
        for i in 0..(period - 12) as u64 {
            s.record(hash(1_000_000 + i));
        }
        let f = s.frequency(hash(7));
        assert!((5..=7).contains(&f), "{f}");
        assert_eq!(s.epoch(), 1);
        // A crowded sketch still tells a frequent key from a rare one.
        assert!(s.frequency(hash(1_000_000 + 5)) < f);
    }
}
