//! WATCH: which connections watch which keys, and marking them when a key changes.
//!
//! Every change to a key passes through [`Watches::touch`] (commands, expiry,
//! eviction, flushes), from any thread. While nobody watches anything a change costs
//! one relaxed atomic load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

/// Set when a key the connection watches changes; EXEC then fails.
pub type Dirty = Arc<AtomicBool>;

#[derive(Default)]
pub struct Watches {
    /// (database, connection's flag) per watched key, across all connections.
    keys: Mutex<HashMap<Bytes, Vec<(usize, Dirty)>>>,
    /// Watched (key, database, connection) triples: 0 lets a change skip the lock.
    count: AtomicUsize,
}

impl Watches {
    fn map(&self) -> MutexGuard<'_, HashMap<Bytes, Vec<(usize, Dirty)>>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn watch(&self, db: usize, key: &Bytes, dirty: &Dirty) {
        let mut map = self.map();
        let list = map.entry(key.clone()).or_default();
        if !list.iter().any(|(d, f)| *d == db && Arc::ptr_eq(f, dirty)) {
            list.push((db, dirty.clone()));
            self.count.fetch_add(1, Relaxed);
        }
    }

    pub fn unwatch(&self, db: usize, key: &[u8], dirty: &Dirty) {
        let mut map = self.map();
        if let Some(list) = map.get_mut(key) {
            let before = list.len();
            list.retain(|(d, f)| !(*d == db && Arc::ptr_eq(f, dirty)));
            self.count.fetch_sub(before - list.len(), Relaxed);
            if list.is_empty() {
                map.remove(key);
            }
        }
    }

    /// A key of `db` changed: every connection watching it will fail its EXEC.
    #[inline]
    pub fn touch(&self, db: usize, key: &[u8]) {
        if self.count.load(Relaxed) == 0 {
            return;
        }
        if let Some(list) = self.map().get(key) {
            for (_, dirty) in list.iter().filter(|(d, _)| *d == db) {
                dirty.store(true, Relaxed);
            }
        }
    }

    /// Keys watched in any of `dbs` (FLUSHDB, FLUSHALL, SWAPDB check which exist).
    pub fn watched_in(&self, dbs: impl Fn(usize) -> bool) -> Vec<(usize, Bytes)> {
        if self.count.load(Relaxed) == 0 {
            return Vec::new();
        }
        let map = self.map();
        let mut out = Vec::new();
        for (key, list) in map.iter() {
            for (db, _) in list.iter().filter(|(d, _)| dbs(*d)) {
                out.push((*db, key.clone()));
            }
        }
        out
    }
}

/// One connection's watched keys.
#[derive(Default)]
pub struct Watched {
    pub dirty: Dirty,
    keys: Vec<(usize, Bytes)>,
}

impl Watched {
    pub fn keys(&self) -> &[(usize, Bytes)] {
        &self.keys
    }

    pub fn add(&mut self, watches: &Watches, db: usize, key: &Bytes) {
        if !self.keys.iter().any(|(d, k)| *d == db && k == key) {
            watches.watch(db, key, &self.dirty);
            self.keys.push((db, key.clone()));
        }
    }

    /// UNWATCH (and after EXEC, DISCARD, RESET, disconnect).
    pub fn clear(&mut self, watches: &Watches) {
        for (db, key) in self.keys.drain(..) {
            watches.unwatch(db, &key, &self.dirty);
        }
        self.dirty.store(false, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touch_marks_only_watchers_of_that_key_in_that_db() {
        let w = Watches::default();
        let (mut a, mut b) = (Watched::default(), Watched::default());
        let key = Bytes::from_static(b"k");
        a.add(&w, 0, &key);
        b.add(&w, 1, &key);
        w.touch(0, b"other");
        w.touch(2, b"k");
        assert!(!a.dirty.load(Relaxed) && !b.dirty.load(Relaxed));
        w.touch(0, b"k");
        assert!(a.dirty.load(Relaxed) && !b.dirty.load(Relaxed));
        a.clear(&w);
        assert!(!a.dirty.load(Relaxed));
        assert_eq!(w.watched_in(|_| true), vec![(1, key.clone())]);
        b.clear(&w);
        assert_eq!(w.count.load(Relaxed), 0);
        assert!(w.map().is_empty());
    }
}
