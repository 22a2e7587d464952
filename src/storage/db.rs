//! One database's keys within one shard: a small hash table per cluster slot.
//!
//! Keeping a table per slot (rather than one big table) gives three things: SCAN walks
//! slots in order, so its cursor is a slot number that stays valid under concurrent
//! writes; tables grow in small steps, so no insert ever pauses to rehash millions of
//! keys; and a slot's keys can be counted, listed or migrated on their own.
//!
//! Invariants: `keys` equals the number of entries in all tables; `volatile` (and each
//! large table's `volatile`) equals the number of entries with a TTL. Every mutation that can
//! change either goes through this type or through [`EntryMut`].

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as TableEntry;
use std::hash::BuildHasher;

use super::Prefetch;
use super::defrag::{Classes, DefragCount};
use super::entry::Entry;
use super::tagvec::TagVec;
use super::value::NewValue;

pub type Hasher = hashbrown::DefaultHashBuilder;

/// Most keys a slot keeps in its tagged array before it becomes a hash table.
pub const ARRAY_MAX: usize = 255;

/// One slot's keys, in the cheapest form for their number. A hash table costs about
/// twice its keys' 12-byte entries (it doubles as it grows, and is at most 7/8 full),
/// plus ~100 bytes however few keys it holds; a tagged array ([`TagVec`]) costs 13
/// bytes a key in one allocation, and its byte of hash per entry (the tag) lets a
/// lookup compare only the keys whose tag matches, sixteen tags at a time; its lookup
/// can be prefetched step by step ([`Prefetch`]), a hash table's only in its last
/// step. Up to [`ARRAY_MAX`] keys (the most a byte counts) a slot is an array, beyond
/// that a hash table; it steps back down at half the threshold.
enum SlotTable {
    Array(TagVec),
    Large(Box<Large>),
}

struct Large {
    map: HashTable<Entry>,
    /// Entries with a TTL.
    volatile: u32,
}

#[inline]
fn tag(hash: u64) -> u8 {
    (hash >> 56) as u8
}

/// Indexes of `t` in `tags`, sixteen bytes at a time.
fn tag_matches(tags: &[u8], t: u8) -> impl Iterator<Item = usize> + '_ {
    let mut next = 0;
    let mut base = 0;
    let mut mask = 0u32;
    std::iter::from_fn(move || {
        while mask == 0 {
            if next >= tags.len() {
                return None;
            }
            base = next;
            mask = match16(&tags[next..], t);
            next += 16;
        }
        let i = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        Some(base + i)
    })
}

/// A bit per byte of the first (up to) sixteen of `tags` that equals `t`.
#[inline]
fn match16(tags: &[u8], t: u8) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if tags.len() >= 16 {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86-64; the load reads 16 bytes that the slice holds.
        return unsafe {
            let v = _mm_loadu_si128(tags.as_ptr().cast());
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(t as i8))) as u32
        };
    }
    tags.iter().take(16).enumerate().fold(0, |m, (i, &b)| m | (((b == t) as u32) << i))
}

fn position(arr: &TagVec, hash: u64, key: &[u8]) -> Option<usize> {
    let entries = arr.entries();
    tag_matches(arr.tags(), tag(hash)).find(|&i| entries[i].key() == key)
}

impl Default for SlotTable {
    fn default() -> SlotTable {
        SlotTable::Array(TagVec::default())
    }
}

impl SlotTable {
    fn len(&self) -> usize {
        match self {
            SlotTable::Array(a) => a.len(),
            SlotTable::Large(t) => t.map.len(),
        }
    }

    fn has_volatile(&self) -> bool {
        match self {
            SlotTable::Array(a) => a.volatile() > 0,
            SlotTable::Large(t) => t.volatile > 0,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Entry> {
        let (arr, large) = match self {
            SlotTable::Array(a) => (a.entries(), None),
            SlotTable::Large(t) => (&[][..], Some(t.map.iter())),
        };
        arr.iter().chain(large.into_iter().flatten())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        let (arr, large) = match self {
            SlotTable::Array(a) => (a.entries_mut(), None),
            SlotTable::Large(t) => (&mut [][..], Some(t.map.iter_mut())),
        };
        arr.iter_mut().chain(large.into_iter().flatten())
    }

    /// One step of a look-ahead for `hash` (see [`Prefetch`]). A large table's internals
    /// cannot be prefetched, so its step reads them (the misses the others avoid) and
    /// prefetches the block of the first entry whose hash bits match.
    fn prefetch(&self, hash: u64, step: Prefetch) {
        match (self, step) {
            (SlotTable::Array(a), Prefetch::Table) => a.prefetch_tags(),
            (SlotTable::Array(a), Prefetch::Slot) => {
                if let Some(i) = tag_matches(a.tags(), tag(hash)).next() {
                    a.prefetch_entry(i);
                }
            }
            (SlotTable::Array(a), Prefetch::Block) => {
                if let Some(i) = tag_matches(a.tags(), tag(hash)).next() {
                    a.entries()[i].prefetch();
                }
            }
            (SlotTable::Large(t), Prefetch::Block) => {
                if let Some(e) = t.map.find(hash, |_| true) {
                    e.prefetch();
                }
            }
            (SlotTable::Large(_), _) => {}
        }
    }

    fn find(&self, h: &Hasher, key: &[u8]) -> Option<&Entry> {
        let hash = h.hash_one(key);
        match self {
            SlotTable::Array(a) => position(a, hash, key).map(|i| &a.entries()[i]),
            SlotTable::Large(t) => t.map.find(hash, |e| e.key() == key),
        }
    }

    /// Inserts or replaces; returns the previous entry.
    fn insert(&mut self, h: &Hasher, entry: Entry) -> Option<Entry> {
        let hash = h.hash_one(entry.key());
        let has_ttl = entry.has_ttl() as u32;
        match self {
            SlotTable::Array(a) => {
                if let Some(i) = position(a, hash, entry.key()) {
                    return Some(a.replace(i, entry));
                }
                if a.len() < ARRAY_MAX {
                    a.push(tag(hash), entry);
                } else {
                    let volatile = a.volatile() + has_ttl;
                    let mut map = HashTable::with_capacity(ARRAY_MAX + ARRAY_MAX / 2);
                    for e in a.take_all().into_iter().chain([entry]) {
                        map.insert_unique(h.hash_one(e.key()), e, |e| h.hash_one(e.key()));
                    }
                    *self = SlotTable::Large(Box::new(Large { map, volatile }));
                }
                None
            }
            SlotTable::Large(t) => {
                let old = match t.map.entry(hash, |e| e.key() == entry.key(), |e| h.hash_one(e.key())) {
                    TableEntry::Occupied(mut occ) => Some(std::mem::replace(occ.get_mut(), entry)),
                    TableEntry::Vacant(vac) => {
                        vac.insert(entry);
                        None
                    }
                };
                t.volatile = t.volatile + has_ttl - old.as_ref().is_some_and(Entry::has_ttl) as u32;
                old
            }
        }
    }

    /// Finds a key's place, to read, change or remove the entry with one lookup.
    fn locate<'a, 'h>(&'a mut self, h: &'h Hasher, key: &[u8]) -> Option<Found<'a, 'h>> {
        let hash = h.hash_one(key);
        match self {
            SlotTable::Array(a) => {
                let i = position(a, hash, key)?;
                Some(Found::Array(a, i))
            }
            SlotTable::Large(t) => {
                let Large { map, volatile } = &mut **t;
                let occ = map.find_entry(hash, |e| e.key() == key).ok()?;
                Some(Found::Large(occ, volatile, h))
            }
        }
    }

    /// Removes a key; the table gives space back as it empties.
    fn remove(&mut self, h: &Hasher, key: &[u8]) -> Option<Entry> {
        let removed = self.locate(h, key)?.remove();
        self.reclaim(h);
        Some(removed)
    }

    /// Keeps the entries `keep` accepts; returns how many it dropped.
    fn retain(&mut self, h: &Hasher, mut keep: impl FnMut(&Entry) -> bool) -> usize {
        let before = self.len();
        match self {
            SlotTable::Array(a) => {
                let mut i = 0;
                while i < a.len() {
                    if keep(&a.entries()[i]) {
                        i += 1;
                    } else {
                        a.swap_remove(i);
                    }
                }
            }
            SlotTable::Large(t) => {
                t.map.retain(|e| keep(e));
                t.volatile = t.map.iter().filter(|e| e.has_ttl()).count() as u32;
            }
        }
        let dropped = before - self.len();
        if dropped > 0 {
            self.reclaim(h);
        }
        dropped
    }

    /// After removals: a hash table that fell to half the array's threshold becomes
    /// an array again, a sparse one shrinks, so deleted, expired and evicted keys give
    /// their table space back. (Arrays shrink by themselves.)
    fn reclaim(&mut self, h: &Hasher) {
        match self {
            SlotTable::Array(_) => {}
            SlotTable::Large(t) if t.map.len() <= ARRAY_MAX / 2 => {
                let mut arr = TagVec::default();
                for e in std::mem::take(&mut t.map) {
                    arr.push(tag(h.hash_one(e.key())), e);
                }
                *self = SlotTable::Array(arr);
            }
            SlotTable::Large(t) => shrink_sparse(&mut t.map, h),
        }
    }

    /// Heap bytes of the table itself (not of its entries' blocks); the tests check
    /// that tables give space back.
    #[cfg(test)]
    fn heap_size(&self) -> usize {
        match self {
            SlotTable::Array(a) => a.heap_size(),
            SlotTable::Large(t) => std::mem::size_of::<Large>() + t.map.capacity() * (size_of::<Entry>() + 1),
        }
    }
}

/// Gives a hash table's space back when it is under a quarter full.
fn shrink_sparse(map: &mut HashTable<Entry>, h: &Hasher) {
    if map.capacity() > 4 * ARRAY_MAX && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2, |e| h.hash_one(e.key()));
    }
}

/// A located entry of a slot table.
enum Found<'a, 'h> {
    Array(&'a mut TagVec, usize),
    Large(hashbrown::hash_table::OccupiedEntry<'a, Entry>, &'a mut u32, &'h Hasher),
}

impl<'a> Found<'a, '_> {
    fn get(&self) -> &Entry {
        match self {
            Found::Array(a, i) => &a.entries()[*i],
            Found::Large(occ, ..) => occ.get(),
        }
    }

    /// The entry, and its table's count of entries with a TTL.
    fn into_mut(self) -> (&'a mut Entry, &'a mut u32) {
        match self {
            Found::Array(a, i) => a.entry_mut(i),
            Found::Large(occ, volatile, _) => (occ.into_mut(), volatile),
        }
    }

    /// Removes the entry. A hash table shrinks when sparse here; it becomes an array on
    /// the next removal through [`SlotTable::remove`] or the expiry sweep.
    fn remove(self) -> Entry {
        match self {
            Found::Array(a, i) => a.swap_remove(i),
            Found::Large(occ, volatile, h) => {
                let (e, vacant) = occ.remove();
                *volatile -= e.has_ttl() as u32;
                shrink_sparse(vacant.into_table(), h);
                e
            }
        }
    }
}

pub struct Db {
    /// Indexed by the shard-local slot number; empty until the first key is written.
    tables: Vec<SlotTable>,
    local_slots: usize,
    keys: usize,
    volatile: usize,
}

/// What a lookup that may expire the key found.
pub struct Expired(pub bool);

impl Db {
    pub fn new(local_slots: usize) -> Db {
        Db { tables: Vec::new(), local_slots, keys: 0, volatile: 0 }
    }

    pub fn len(&self) -> usize {
        self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }

    pub fn volatile(&self) -> usize {
        self.volatile
    }

    fn table(&mut self, local: usize) -> &mut SlotTable {
        if self.tables.is_empty() {
            self.tables.resize_with(self.local_slots, SlotTable::default);
        }
        &mut self.tables[local]
    }

    /// Looks a key up, removing it if it has expired (lazy expiry). The bool tells
    /// whether an expired key was removed.
    pub fn get_mut(
        &mut self,
        h: &Hasher,
        local: usize,
        key: &[u8],
        now: u64,
    ) -> (Option<EntryMut<'_>>, Expired) {
        let Some(table) = self.tables.get_mut(local) else { return (None, Expired(false)) };
        match table.locate(h, key) {
            None => (None, Expired(false)),
            Some(found) if found.get().is_expired(now) => {
                found.remove();
                self.volatile -= 1;
                self.keys -= 1;
                (None, Expired(true))
            }
            Some(found) => {
                let (entry, table_volatile) = found.into_mut();
                (Some(EntryMut { entry, table_volatile, db_volatile: &mut self.volatile }), Expired(false))
            }
        }
    }

    /// One step of a look-ahead for a key of hash `hash` (see [`Prefetch`]); reads
    /// nothing but the table's own memory.
    pub fn prefetch(&self, local: usize, hash: u64, step: Prefetch) {
        if let Some(table) = self.tables.get(local) {
            table.prefetch(hash, step);
        }
    }

    /// Looks a key up without expiring or touching it (expired keys included).
    pub fn find(&self, h: &Hasher, local: usize, key: &[u8]) -> Option<&Entry> {
        self.tables.get(local)?.find(h, key)
    }

    /// Looks a key up for a change that leaves the value alone (expired keys included).
    pub fn find_mut(&mut self, h: &Hasher, local: usize, key: &[u8]) -> Option<&mut Entry> {
        Some(self.tables.get_mut(local)?.locate(h, key)?.into_mut().0)
    }

    /// Inserts or replaces; returns the previous entry (expired or not).
    pub fn insert(&mut self, h: &Hasher, local: usize, entry: Entry) -> Option<Entry> {
        let has_ttl = entry.has_ttl() as usize;
        let old = self.table(local).insert(h, entry);
        self.volatile = self.volatile + has_ttl - old.as_ref().is_some_and(Entry::has_ttl) as usize;
        if old.is_none() {
            self.keys += 1;
        }
        old
    }

    /// Convenience for the common string write.
    pub fn set(
        &mut self,
        h: &Hasher,
        local: usize,
        key: &[u8],
        value: NewValue<'_>,
        expire_at: Option<u64>,
    ) -> Option<Entry> {
        self.insert(h, local, Entry::new(key, value, expire_at))
    }

    /// Removes a key; an expired key is removed too but reported as absent.
    pub fn remove(&mut self, h: &Hasher, local: usize, key: &[u8], now: u64) -> (Option<Entry>, Expired) {
        let Some(entry) = self.tables.get_mut(local).and_then(|t| t.remove(h, key)) else {
            return (None, Expired(false));
        };
        self.keys -= 1;
        self.volatile -= entry.has_ttl() as usize;
        if entry.is_expired(now) { (None, Expired(true)) } else { (Some(entry), Expired(false)) }
    }

    /// Empties one slot table; returns the keys it held.
    pub fn clear_slot(&mut self, local: usize) -> usize {
        let Some(table) = self.tables.get_mut(local) else { return 0 };
        let (keys, volatile) = (table.len(), table.iter().filter(|e| e.has_ttl()).count());
        *table = SlotTable::default();
        self.keys -= keys;
        self.volatile -= volatile;
        keys
    }

    pub fn clear(&mut self) {
        *self = Db::new(self.local_slots);
    }

    /// Removes expired keys of one slot table. Returns (volatile keys checked, expired).
    pub fn expire_slot(
        &mut self,
        h: &Hasher,
        local: usize,
        now: u64,
        mut on_expired: impl FnMut(&Entry),
    ) -> (usize, usize) {
        let Some(table) = self.tables.get_mut(local) else { return (0, 0) };
        if !table.has_volatile() {
            return (0, 0);
        }
        let checked = table.iter().filter(|e| e.has_ttl()).count();
        let expired = table.retain(h, |e| {
            let live = !e.is_expired(now);
            if !live {
                on_expired(e);
            }
            live
        });
        self.volatile -= expired;
        self.keys -= expired;
        (checked, expired)
    }

    /// Moves the slot table's array and its entries' blocks out of sparse slabs of the
    /// `classes` size classes. Returns (entries checked, entries moved, allocations
    /// checked, allocations moved); objects behind entries are not moved.
    pub fn defrag_slot(&mut self, local: usize, classes: &Classes) -> DefragCount {
        let mut n = DefragCount::default();
        let Some(table) = self.tables.get_mut(local) else { return n };
        let entries = match table {
            SlotTable::Array(a) => {
                if classes.holds(a.alloc_len()) {
                    n.count(a.defrag(), false);
                }
                a.entries_mut()
            }
            SlotTable::Large(t) => {
                for e in t.map.iter_mut() {
                    if classes.holds(e.alloc_len()) {
                        n.count(e.defrag(), true);
                    }
                }
                return n;
            }
        };
        for e in entries {
            if classes.holds(e.alloc_len()) {
                n.count(e.defrag(), true);
            }
        }
        n
    }

    pub fn slot_has_volatile(&self, local: usize) -> bool {
        self.tables.get(local).is_some_and(SlotTable::has_volatile)
    }

    pub fn slot_len(&self, local: usize) -> usize {
        self.tables.get(local).map_or(0, SlotTable::len)
    }

    /// Live entries of one slot table.
    pub fn slot_iter(&self, local: usize, now: u64) -> impl Iterator<Item = &Entry> {
        self.tables.get(local).into_iter().flat_map(SlotTable::iter).filter(move |e| !e.is_expired(now))
    }

    /// Every entry of a slot table, expired or not, for a change that leaves their values
    /// and TTLs alone.
    pub fn slot_entries_mut(&mut self, local: usize) -> impl Iterator<Item = &mut Entry> {
        self.tables.get_mut(local).into_iter().flat_map(SlotTable::iter_mut)
    }

    /// Live entries of the whole database, slot by slot.
    pub fn iter(&self, now: u64) -> impl Iterator<Item = &Entry> {
        self.tables.iter().flat_map(SlotTable::iter).filter(move |e| !e.is_expired(now))
    }

    /// A slot table's entries in iteration order, starting at the `start`th and
    /// wrapping around, for random sampling.
    pub fn slot_entries_from(&self, local: usize, start: usize) -> impl Iterator<Item = &Entry> {
        let table = self.tables.get(local);
        let all = move || table.into_iter().flat_map(SlotTable::iter);
        all().skip(start).chain(all().take(start))
    }
}

/// Mutable access to a stored entry that keeps the TTL counters right.
pub struct EntryMut<'a> {
    entry: &'a mut Entry,
    /// The slot table's count of entries with a TTL.
    table_volatile: &'a mut u32,
    db_volatile: &'a mut usize,
}

impl<'a> EntryMut<'a> {
    /// The entry's object for the rest of the borrow (None for inline strings).
    pub fn into_obj_mut(self) -> Option<&'a mut super::value::Object> {
        self.entry.obj_mut()
    }

    pub fn into_entry(self) -> &'a Entry {
        self.entry
    }

    pub fn set_expire(&mut self, at: Option<u64>) {
        let had = self.entry.expire_at().is_some();
        self.entry.set_expire(at);
        self.count_ttl_change(had, at.is_some());
    }

    fn count_ttl_change(&mut self, had: bool, has: bool) {
        match (had, has) {
            (false, true) => {
                *self.table_volatile += 1;
                *self.db_volatile += 1;
            }
            (true, false) => {
                *self.table_volatile -= 1;
                *self.db_volatile -= 1;
            }
            _ => {}
        }
    }

    /// Replaces the value and sets the TTL (`keep_ttl` keeps the current one).
    pub fn replace(&mut self, value: NewValue<'_>, expire_at: Option<u64>, keep_ttl: bool) {
        let at = if keep_ttl { self.entry.expire_at() } else { expire_at };
        let had = self.entry.expire_at().is_some();
        self.entry.replace_value(value, at);
        self.count_ttl_change(had, at.is_some());
    }

    pub fn set_int(&mut self, v: i64) -> bool {
        self.entry.set_int(v)
    }

    pub fn obj_mut(&mut self) -> Option<&mut super::value::Object> {
        self.entry.obj_mut()
    }

    pub fn set_clock(&mut self, clock: u32) {
        self.entry.set_clock(clock);
    }
}

impl std::ops::Deref for EntryMut<'_> {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        self.entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_give_space_back_on_every_kind_of_removal() {
        let h = Hasher::default();
        let mut db = Db::new(4);
        db.set(&h, 1, b"lazy", NewValue::Str(b"v"), Some(10));
        assert_eq!(db.tables[1].heap_size(), 32);
        // A lookup after the TTL removes the key and frees the emptied table.
        assert!(db.get_mut(&h, 1, b"lazy", 20).0.is_none());
        assert_eq!(db.tables[1].heap_size(), 0);
        assert_eq!((db.len(), db.volatile()), (0, 0));

        db.set(&h, 2, b"del", NewValue::Str(b"v"), None);
        assert!(db.remove(&h, 2, b"del", 0).0.is_some());
        assert_eq!(db.tables[2].heap_size(), 0);

        db.set(&h, 3, b"swept", NewValue::Str(b"v"), Some(10));
        assert_eq!(db.expire_slot(&h, 3, 20, |_| ()), (1, 1));
        assert_eq!(db.tables[3].heap_size(), 0);
    }

    #[test]
    fn slots_grow_into_hash_tables_and_back() {
        let h = Hasher::default();
        let mut db = Db::new(1);
        let key = |i: usize| format!("key:{i}").into_bytes();
        let form = |db: &Db| match &db.tables[0] {
            SlotTable::Array(_) => "array",
            SlotTable::Large(_) => "large",
        };
        for i in 0..300 {
            let ttl = (i % 3 == 0).then_some(1_000);
            assert!(db.set(&h, 0, &key(i), NewValue::Int(i as i64), ttl).is_none());
            let expected = if i < ARRAY_MAX { "array" } else { "large" };
            assert_eq!(form(&db), expected, "after {} keys", i + 1);
            assert!(db.tables[0].has_volatile());
            assert_eq!(std::mem::size_of::<SlotTable>(), 16);
        }
        assert_eq!((db.len(), db.volatile()), (300, 100));
        // Replacing keeps counts right.
        assert!(db.set(&h, 0, &key(1), NewValue::Int(-1), Some(5)).is_some());
        assert_eq!((db.len(), db.volatile()), (300, 101));
        for i in 0..300 {
            let e = db.find(&h, 0, &key(i)).unwrap();
            assert!(
                matches!(e.value(), crate::storage::ValueRef::Int(v) if v == if i == 1 { -1 } else { i as i64 })
            );
        }
        assert!(db.find(&h, 0, b"key:300").is_none());
        // Down through both forms; finds and TTL counts keep right at each step.
        for i in 0..298 {
            assert!(db.remove(&h, 0, &key(i), 0).0.is_some());
            assert!(db.find(&h, 0, &key(i + 1)).is_some());
            let left = 299 - i;
            if left <= ARRAY_MAX / 2 {
                assert_eq!(form(&db), "array", "{left} keys left");
            }
            let ttls = (i + 1..300).filter(|&k| k % 3 == 0 || k == 1).count();
            assert_eq!(db.volatile(), ttls);
            assert_eq!(db.tables[0].has_volatile(), ttls > 0, "{left} keys left");
        }
        assert_eq!(db.len(), 2);
        assert_eq!(db.slot_iter(0, 0).count(), 2);
        // Two 12-byte entries with their tags and header: one 48-byte block.
        assert_eq!(db.tables[0].heap_size(), 48);
        // A TTL change through EntryMut on an array entry keeps the database's count.
        let (e, _) = db.get_mut(&h, 0, &key(298), 0);
        e.unwrap().set_expire(Some(50));
        assert_eq!(db.volatile(), 1);
        assert!(db.tables[0].has_volatile());
        assert_eq!(db.expire_slot(&h, 0, 60, |_| ()), (1, 1));
        assert_eq!((db.len(), db.volatile()), (1, 0));
    }

    #[test]
    fn tag_scan_finds_every_match_and_nothing_else() {
        let tags: Vec<u8> =
            (0..37u8).map(|i| if i % 5 == 0 { 0x80 } else { i.wrapping_mul(29) | 1 }).collect();
        for t in [0x80u8, 0x00, 0x7f, 0xff, 29 | 1] {
            let want: Vec<usize> = (0..tags.len()).filter(|&i| tags[i] == t).collect();
            assert_eq!(tag_matches(&tags, t).collect::<Vec<_>>(), want, "tag {t:#x}");
        }
    }
}
