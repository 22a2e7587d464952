//! One database's keys within one shard: a small hash table per cluster slot.
//!
//! Keeping a table per slot (rather than one big table) gives three things: SCAN walks
//! slots in order, so its cursor is a slot number that stays valid under concurrent
//! writes; tables grow in small steps, so no insert ever pauses to rehash millions of
//! keys; and a slot's keys can be counted, listed or migrated on their own.
//!
//! Invariants: `keys` equals the number of entries in all tables; `volatile` (and each
//! table's `volatile`) equals the number of entries with a TTL. Every mutation that can
//! change either goes through this type or through [`EntryMut`].

use hashbrown::HashTable;
use hashbrown::hash_table::Entry as TableEntry;
use std::hash::BuildHasher;

use super::entry::Entry;
use super::value::NewValue;

pub type Hasher = hashbrown::DefaultHashBuilder;

#[derive(Default)]
pub struct SlotTable {
    pub(super) map: HashTable<Entry>,
    pub(super) volatile: u32,
}

/// After removals: an empty table frees its allocation, a sparse one shrinks, so
/// deleted, expired and evicted keys give their table space back.
fn reclaim(map: &mut HashTable<Entry>, h: &Hasher) {
    if map.is_empty() {
        *map = HashTable::new();
    } else if map.capacity() > 16 && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2, |e| h.hash_one(e.key()));
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
        if self.tables.is_empty() {
            return (None, Expired(false));
        }
        let hash = h.hash_one(key);
        let table = &mut self.tables[local];
        match table.map.find_entry(hash, |e| e.key() == key) {
            Ok(occ) => {
                if occ.get().is_expired(now) {
                    reclaim(occ.remove().1.into_table(), h);
                    table.volatile -= 1;
                    self.volatile -= 1;
                    self.keys -= 1;
                    (None, Expired(true))
                } else {
                    let entry = occ.into_mut();
                    (
                        Some(EntryMut {
                            entry,
                            table_volatile: &mut table.volatile,
                            db_volatile: &mut self.volatile,
                        }),
                        Expired(false),
                    )
                }
            }
            Err(_) => (None, Expired(false)),
        }
    }

    /// Looks a key up without expiring or touching it (expired keys included).
    pub fn find(&self, h: &Hasher, local: usize, key: &[u8]) -> Option<&Entry> {
        let table = self.tables.get(local)?;
        table.map.find(h.hash_one(key), |e| e.key() == key)
    }

    /// Inserts or replaces; returns the previous entry (expired or not).
    pub fn insert(&mut self, h: &Hasher, local: usize, entry: Entry) -> Option<Entry> {
        let hash = h.hash_one(entry.key());
        let has_ttl = entry.expire_at().is_some() as u32;
        let table = self.table(local);
        let old = match table.map.entry(hash, |e| e.key() == entry.key(), |e| h.hash_one(e.key())) {
            TableEntry::Occupied(mut occ) => Some(std::mem::replace(occ.get_mut(), entry)),
            TableEntry::Vacant(vac) => {
                vac.insert(entry);
                None
            }
        };
        let old_ttl = old.as_ref().is_some_and(|o| o.expire_at().is_some()) as u32;
        table.volatile = table.volatile + has_ttl - old_ttl;
        self.volatile = self.volatile + has_ttl as usize - old_ttl as usize;
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
        if self.tables.is_empty() {
            return (None, Expired(false));
        }
        let hash = h.hash_one(key);
        let table = &mut self.tables[local];
        match table.map.find_entry(hash, |e| e.key() == key) {
            Ok(occ) => {
                let (entry, vacant) = occ.remove();
                reclaim(vacant.into_table(), h);
                self.keys -= 1;
                if entry.expire_at().is_some() {
                    table.volatile -= 1;
                    self.volatile -= 1;
                }
                if entry.is_expired(now) { (None, Expired(true)) } else { (Some(entry), Expired(false)) }
            }
            Err(_) => (None, Expired(false)),
        }
    }

    pub fn clear(&mut self) {
        *self = Db::new(self.local_slots);
    }

    /// Removes expired keys of one slot table. Returns (volatile keys checked, expired).
    pub fn expire_slot(&mut self, h: &Hasher, local: usize, now: u64) -> (usize, usize) {
        let Some(table) = self.tables.get_mut(local) else { return (0, 0) };
        if table.volatile == 0 {
            return (0, 0);
        }
        let checked = table.volatile as usize;
        let before = table.map.len();
        table.map.retain(|e| !e.is_expired(now));
        let expired = before - table.map.len();
        if expired > 0 {
            reclaim(&mut table.map, h);
        }
        table.volatile -= expired as u32;
        self.volatile -= expired;
        self.keys -= expired;
        (checked, expired)
    }

    pub fn slot_has_volatile(&self, local: usize) -> bool {
        self.tables.get(local).is_some_and(|t| t.volatile > 0)
    }

    pub fn slot_len(&self, local: usize) -> usize {
        self.tables.get(local).map_or(0, |t| t.map.len())
    }

    /// Live entries of one slot table.
    pub fn slot_iter(&self, local: usize, now: u64) -> impl Iterator<Item = &Entry> {
        self.tables.get(local).into_iter().flat_map(|t| t.map.iter()).filter(move |e| !e.is_expired(now))
    }

    /// Live entries of the whole database, slot by slot.
    pub fn iter(&self, now: u64) -> impl Iterator<Item = &Entry> {
        self.tables.iter().flat_map(|t| t.map.iter()).filter(move |e| !e.is_expired(now))
    }

    /// The `n`th entry (in iteration order) of a slot table, for random sampling.
    pub fn slot_nth(&self, local: usize, n: usize) -> Option<&Entry> {
        self.tables.get(local)?.map.iter().nth(n)
    }
}

/// Mutable access to a stored entry that keeps the TTL counters right.
pub struct EntryMut<'a> {
    entry: &'a mut Entry,
    table_volatile: &'a mut u32,
    db_volatile: &'a mut usize,
}

impl EntryMut<'_> {
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
        assert!(db.tables[1].map.capacity() > 0);
        // A lookup after the TTL removes the key and frees the emptied table.
        assert!(db.get_mut(&h, 1, b"lazy", 20).0.is_none());
        assert_eq!(db.tables[1].map.capacity(), 0);
        assert_eq!((db.len(), db.volatile()), (0, 0));

        db.set(&h, 2, b"del", NewValue::Str(b"v"), None);
        assert!(db.remove(&h, 2, b"del", 0).0.is_some());
        assert_eq!(db.tables[2].map.capacity(), 0);

        db.set(&h, 3, b"swept", NewValue::Str(b"v"), Some(10));
        assert_eq!(db.expire_slot(&h, 3, 20), (1, 1));
        assert_eq!(db.tables[3].map.capacity(), 0);
    }
}
