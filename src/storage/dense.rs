//! [`Dense`]: the large form of hashes, sets and sorted-set dictionaries.
//!
//! Records (one allocation each: a set member, a hash field with its value, a sorted-set
//! member with its score) sit in a dense vector, and a hash table of 4-byte positions
//! finds them by key. That costs about 16 bytes of vector and 6 of index per record
//! (Redis's dict: a 24-byte entry plus an 8-byte bucket), gives a uniformly random
//! record in O(1) (SPOP, SRANDMEMBER, HRANDFIELD), and a SCAN cursor that is simply a
//! position: removal moves the last record into the hole, so walking positions
//! downwards never misses a record that stays (it may see one twice, which SCAN allows).

use hashbrown::HashTable;
use std::hash::BuildHasher;

use super::db::Hasher;

/// How a record's key is found inside it.
pub type KeyOf = fn(&[u8]) -> &[u8];

#[derive(Clone)]
pub struct Dense {
    items: Vec<Box<[u8]>>,
    index: HashTable<u32>,
    hasher: Hasher,
    key: KeyOf,
}

impl std::fmt::Debug for Dense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.items.iter()).finish()
    }
}

/// Equal when both hold the same records, whatever their positions.
impl PartialEq for Dense {
    fn eq(&self, other: &Dense) -> bool {
        self.len() == other.len()
            && self.items.iter().all(|r| other.find((self.key)(r)).is_some_and(|p| other.get(p) == &r[..]))
    }
}

impl Dense {
    pub fn new(key: KeyOf, capacity: usize) -> Dense {
        Dense {
            items: Vec::with_capacity(capacity),
            index: HashTable::with_capacity(capacity),
            hasher: Hasher::default(),
            key,
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Position of the record with this key.
    pub fn find(&self, key: &[u8]) -> Option<usize> {
        let h = self.hasher.hash_one(key);
        let (items, key_of) = (&self.items, self.key);
        self.index.find(h, |&i| key_of(&items[i as usize]) == key).map(|&i| i as usize)
    }

    pub fn get(&self, pos: usize) -> &[u8] {
        &self.items[pos]
    }

    /// Adds a record whose key is not present yet.
    pub fn insert(&mut self, record: Box<[u8]>) {
        let pos = u32::try_from(self.items.len()).expect("collection has fewer than 2^32 elements");
        let h = self.hasher.hash_one((self.key)(&record));
        self.items.push(record);
        let (items, key_of, hasher) = (&self.items, self.key, &self.hasher);
        self.index.insert_unique(h, pos, |&i| hasher.hash_one(key_of(&items[i as usize])));
    }

    /// Adds `record` unless one with its key is there (then drops it); one hash and one
    /// probe. True when added.
    pub fn insert_new(&mut self, record: Box<[u8]>) -> bool {
        self.place(record, false).is_ok()
    }

    /// Adds `record`, or replaces the one with its key; one hash and one probe. Returns
    /// the record replaced.
    pub fn upsert(&mut self, record: Box<[u8]>) -> Option<Box<[u8]>> {
        self.place(record, true).err().flatten()
    }

    /// Adds `record` (Ok), or finds its key there: Err with the record it replaced when
    /// `replace`, else Err(None) and `record` is dropped.
    fn place(&mut self, record: Box<[u8]>, replace: bool) -> Result<(), Option<Box<[u8]>>> {
        let pos = u32::try_from(self.items.len()).expect("collection has fewer than 2^32 elements");
        let key = (self.key)(&record);
        let h = self.hasher.hash_one(key);
        let (items, key_of, hasher) = (&self.items, self.key, &self.hasher);
        let entry = self.index.entry(
            h,
            |&i| key_of(&items[i as usize]) == key,
            |&i| hasher.hash_one(key_of(&items[i as usize])),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(o) => {
                let at = *o.get() as usize;
                Err(replace.then(|| std::mem::replace(&mut self.items[at], record)))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(pos);
                self.items.push(record);
                Ok(())
            }
        }
    }

    /// Replaces the record at `pos` with one of the same key.
    pub fn replace(&mut self, pos: usize, record: Box<[u8]>) -> Box<[u8]> {
        debug_assert_eq!((self.key)(&record), (self.key)(&self.items[pos]));
        std::mem::replace(&mut self.items[pos], record)
    }

    /// Removes the record at `pos`; the last record takes its position.
    pub fn remove(&mut self, pos: usize) -> Box<[u8]> {
        self.forget(pos);
        let last = self.items.len() - 1;
        if pos != last {
            let h = self.hasher.hash_one((self.key)(&self.items[last]));
            if let Some(slot) = self.index.find_mut(h, |&i| i as usize == last) {
                *slot = pos as u32;
            }
        }
        let record = self.items.swap_remove(pos);
        if self.items.capacity() > 16 && self.items.len() < self.items.capacity() / 4 {
            self.items.shrink_to(self.items.len() * 2);
            let (items, key_of, hasher) = (&self.items, self.key, &self.hasher);
            self.index.shrink_to(items.len(), |&i| hasher.hash_one(key_of(&items[i as usize])));
        }
        record
    }

    /// Drops the index entry of the record at `pos`.
    fn forget(&mut self, pos: usize) {
        let h = self.hasher.hash_one((self.key)(&self.items[pos]));
        if let Ok(entry) = self.index.find_entry(h, |&i| i as usize == pos) {
            entry.remove();
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|r| &r[..])
    }

    /// A uniformly random position (the collection must not be empty).
    pub fn random(&self) -> usize {
        (super::random_u64() % self.items.len() as u64) as usize
    }

    /// One SCAN step: `cursor` 0 starts, positions are walked downwards; returns the
    /// records visited and the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize) -> (impl Iterator<Item = &[u8]>, u64) {
        let top = if cursor == 0 { self.items.len() } else { (cursor as usize).min(self.items.len()) };
        let bottom = top.saturating_sub(count.max(1));
        (self.items[bottom..top].iter().rev().map(|r| &r[..]), bottom as u64)
    }

    /// Bytes held; with `samples` > 0 the records' sizes are estimated from that many.
    pub fn heap_size(&self, samples: usize) -> usize {
        let records = sampled_sum(self.items.iter().map(|r| r.len()), self.items.len(), samples);
        records + self.items.capacity() * 16 + self.index.capacity() * 5
    }
}

/// The allocator's bytes for `n` allocations whose lengths `lens` yields: all of them
/// (`samples` 0), or the first `samples` scaled to `n` (MEMORY USAGE's SAMPLES).
pub fn sampled_sum(lens: impl Iterator<Item = usize>, n: usize, samples: usize) -> usize {
    if samples == 0 || samples >= n {
        return lens.map(super::entry::size_class).sum();
    }
    let seen: usize = lens.take(samples).map(super::entry::size_class).sum();
    seen * n / samples
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(r: &[u8]) -> &[u8] {
        r
    }

    #[test]
    fn insert_find_remove_keeps_positions_right() {
        let mut d = Dense::new(whole, 0);
        for i in 0..1000u32 {
            d.insert(i.to_string().into_bytes().into_boxed_slice());
        }
        for i in (0..1000u32).step_by(3) {
            let pos = d.find(i.to_string().as_bytes()).unwrap();
            d.remove(pos);
        }
        for i in 0..1000u32 {
            let found = d.find(i.to_string().as_bytes()).map(|p| d.get(p).to_vec());
            if i % 3 == 0 {
                assert!(found.is_none(), "{i}");
            } else {
                assert_eq!(found.unwrap(), i.to_string().into_bytes());
            }
        }
        assert_eq!(d.len(), 666);
    }

    #[test]
    fn scan_sees_every_record_that_stays() {
        let mut d = Dense::new(whole, 0);
        for i in 0..500u32 {
            d.insert(i.to_string().into_bytes().into_boxed_slice());
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut removed = 0;
        loop {
            let (items, next) = d.scan(cursor, 10);
            seen.extend(items.map(|r| r.to_vec()));
            cursor = next;
            if cursor == 0 {
                break;
            }
            // Remove a record not yet seen from the bottom, and add new ones.
            if removed < 100 {
                let victim = format!("{}", 1000 + removed);
                d.insert(victim.clone().into_bytes().into_boxed_slice());
                let pos = d.find(b"0").or_else(|| d.find(victim.as_bytes())).unwrap();
                d.remove(pos);
                removed += 1;
            }
        }
        for i in 1..500u32 {
            assert!(seen.contains(i.to_string().as_bytes()), "{i} missed");
        }
    }
}
