//! A slot's keys while they are few: entries with a one-byte hash tag each, in one
//! allocation that grows to fill the allocator's size class.
//!
//! Layout (4-byte aligned):
//!
//! ```text
//! [len: u8] [cap: u8] [2 spare bytes] [volatile: u32]
//! [tags: cap bytes, padded to a multiple of 4] [entries: cap × 12 bytes]
//! ```
//!
//! A lookup reads the tags (one or two cache lines), then only the entries whose tag
//! matches. Keeping the tags, the entries and the count of entries with a TTL in one
//! block costs a key 13 bytes plus the class's rounding, with no second allocation to
//! reach or to fragment. An empty array holds no allocation. Everything unsafe about
//! the layout lives in this file.

use std::alloc::{Layout, alloc, dealloc};
use std::ptr::NonNull;

use super::defrag;
use super::entry::{Entry, size_class};

const HEADER: usize = 8;
const ENTRY: usize = size_of::<Entry>();
/// Most entries an array can hold (its capacity is a byte).
pub const MAX_CAP: usize = u8::MAX as usize;

/// Bytes of an array with room for `cap` entries.
fn bytes(cap: usize) -> usize {
    HEADER + cap.next_multiple_of(4) + cap * ENTRY
}

fn layout(cap: usize) -> Layout {
    Layout::from_size_align(bytes(cap), 4).expect("tag array layout")
}

/// The most entries that fit in the size class that `n` entries need.
fn capacity_for(n: usize) -> usize {
    let class = size_class(bytes(n));
    let mut cap = n;
    while cap < MAX_CAP && bytes(cap + 1) <= class {
        cap += 1;
    }
    cap
}

#[derive(Default)]
pub struct TagVec {
    ptr: Option<NonNull<u8>>,
}

// SAFETY: a TagVec uniquely owns its allocation and the entries in it, which are Send
// and Sync themselves.
unsafe impl Send for TagVec {}
unsafe impl Sync for TagVec {}

impl TagVec {
    pub fn len(&self) -> usize {
        match self.ptr {
            // SAFETY: a live allocation starts with its header.
            Some(p) => unsafe { *p.as_ptr() as usize },
            None => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ptr.is_none()
    }

    pub fn capacity(&self) -> usize {
        match self.ptr {
            // SAFETY: as in `len`.
            Some(p) => unsafe { *p.as_ptr().add(1) as usize },
            None => 0,
        }
    }

    /// Entries with a TTL.
    pub fn volatile(&self) -> u32 {
        match self.ptr {
            // SAFETY: the header's u32 at offset 4 is aligned (the block is 4-aligned).
            Some(p) => unsafe { *p.as_ptr().add(4).cast::<u32>() },
            None => 0,
        }
    }

    fn set_len(&mut self, len: usize) {
        let p = self.ptr.expect("set_len on an allocated array");
        // SAFETY: header byte 0 of a live allocation; len ≤ cap ≤ 255.
        unsafe { *p.as_ptr() = len as u8 };
    }

    fn volatile_ptr(&self) -> *mut u32 {
        let p = self.ptr.expect("volatile of an allocated array");
        // SAFETY: offset 4 lies within the header.
        unsafe { p.as_ptr().add(4).cast::<u32>() }
    }

    fn tags_ptr(&self) -> *mut u8 {
        let p = self.ptr.expect("tags of an allocated array");
        // SAFETY: the tags follow the header.
        unsafe { p.as_ptr().add(HEADER) }
    }

    fn entries_ptr(&self) -> *mut Entry {
        let p = self.ptr.expect("entries of an allocated array");
        // SAFETY: the entries follow the padded tags; the offset is a multiple of 4,
        // Entry's alignment.
        unsafe { p.as_ptr().add(HEADER + self.capacity().next_multiple_of(4)).cast::<Entry>() }
    }

    /// Brings the header and the tags into cache (see [`super::Prefetch`]): the first
    /// four lines, which hold up to 248 tags, without reading the header (that read
    /// would wait for the very line being prefetched). Lines past a small array's end
    /// are harmless: a prefetch never faults.
    pub fn prefetch_tags(&self) {
        if let Some(p) = self.ptr {
            for line in 0..4 {
                super::prefetch(p.as_ptr().wrapping_add(line * 64));
            }
        }
    }

    /// Brings the entry at `i` into cache.
    pub fn prefetch_entry(&self, i: usize) {
        if i < self.len() {
            super::prefetch(self.entries_ptr().wrapping_add(i).cast());
        }
    }

    pub fn tags(&self) -> &[u8] {
        if self.ptr.is_none() {
            return &[];
        }
        // SAFETY: the first `len` tags are initialised.
        unsafe { std::slice::from_raw_parts(self.tags_ptr(), self.len()) }
    }

    pub fn entries(&self) -> &[Entry] {
        if self.ptr.is_none() {
            return &[];
        }
        // SAFETY: the first `len` entries are initialised and owned by the array.
        unsafe { std::slice::from_raw_parts(self.entries_ptr(), self.len()) }
    }

    /// One entry for change, with the array's count of entries with a TTL (the two
    /// borrow disjoint parts of the block).
    pub fn entry_mut(&mut self, i: usize) -> (&mut Entry, &mut u32) {
        assert!(i < self.len(), "entry index out of bounds");
        // SAFETY: entry `i` is initialised; the header word and the entry do not
        // overlap, and `&mut self` makes both borrows exclusive.
        unsafe { (&mut *self.entries_ptr().add(i), &mut *self.volatile_ptr()) }
    }

    /// Replaces entry `i`, returning the old one.
    pub fn replace(&mut self, i: usize, entry: Entry) -> Entry {
        let (slot, volatile) = self.entry_mut(i);
        *volatile = *volatile + entry.has_ttl() as u32 - slot.has_ttl() as u32;
        std::mem::replace(slot, entry)
    }

    /// Appends an entry with its tag, growing into the next size class when full.
    pub fn push(&mut self, tag: u8, entry: Entry) {
        let len = self.len();
        assert!(len < MAX_CAP, "tag array is full");
        if len == self.capacity() {
            self.reallocate(capacity_for(len + 1), false);
        }
        let has_ttl = entry.has_ttl() as u32;
        // SAFETY: len < cap after growing: the tag and entry slots are in bounds and
        // unused; writing the entry moves it in without dropping anything.
        unsafe {
            *self.tags_ptr().add(len) = tag;
            self.entries_ptr().add(len).write(entry);
            *self.volatile_ptr() += has_ttl;
        }
        self.set_len(len + 1);
    }

    /// Removes entry `i`, moving the last one into its place; the array shrinks when
    /// half empty and frees itself when empty.
    pub fn swap_remove(&mut self, i: usize) -> Entry {
        let len = self.len();
        assert!(i < len, "entry index out of bounds");
        // SAFETY: `i` and `len - 1` are initialised entries; the removed one is read
        // out and the last one moved over it bitwise, so each entry has one owner.
        let removed = unsafe {
            let entries = self.entries_ptr();
            let removed = entries.add(i).read();
            std::ptr::copy(entries.add(len - 1), entries.add(i), 1);
            *self.tags_ptr().add(i) = *self.tags_ptr().add(len - 1);
            *self.volatile_ptr() -= removed.has_ttl() as u32;
            removed
        };
        self.set_len(len - 1);
        if len - 1 == 0 {
            self.free();
        } else if len - 1 <= self.capacity() / 2 {
            self.reallocate(capacity_for(len - 1), false);
        }
        removed
    }

    /// Moves every entry out, leaving the array empty.
    pub fn take_all(&mut self) -> Vec<Entry> {
        let len = self.len();
        let mut out = Vec::with_capacity(len);
        if len > 0 {
            // SAFETY: the `len` initialised entries are moved into `out`, then the
            // array forgets them (len 0) before freeing its block.
            unsafe {
                std::ptr::copy_nonoverlapping(self.entries_ptr(), out.as_mut_ptr(), len);
                out.set_len(len);
            }
            self.set_len(0);
        }
        self.free();
        out
    }

    /// Moves the array into a new block with room for `cap` entries (≥ len); `direct`
    /// takes and frees past the thread cache (defragmentation).
    fn reallocate(&mut self, cap: usize, direct: bool) {
        let len = self.len();
        debug_assert!(cap >= len && cap <= MAX_CAP);
        let new_layout = layout(cap);
        let raw = if direct {
            // SAFETY: freed through `dealloc` with the same layout's size.
            unsafe { defrag::alloc_direct(new_layout.size()) }
        } else {
            // SAFETY: the layout has non-zero size.
            unsafe { alloc(new_layout) }
        };
        let Some(new) = NonNull::new(raw) else { std::alloc::handle_alloc_error(new_layout) };
        let volatile = self.ptr.map_or(0, |_| self.volatile());
        // SAFETY: the new block has room for the header, `cap` tags and `cap` entries;
        // the old block's `len` tags and entries are copied bitwise (the entries move,
        // so the old block is then freed without dropping them).
        unsafe {
            let base = new.as_ptr();
            *base = len as u8;
            *base.add(1) = cap as u8;
            *base.add(2) = 0;
            *base.add(3) = 0;
            *base.add(4).cast::<u32>() = volatile;
            if len > 0 {
                std::ptr::copy_nonoverlapping(self.tags_ptr(), base.add(HEADER), len);
                let to = base.add(HEADER + cap.next_multiple_of(4)).cast::<Entry>();
                std::ptr::copy_nonoverlapping(self.entries_ptr(), to, len);
            }
        }
        self.free_block(direct);
        self.ptr = Some(new);
    }

    /// Frees the block without dropping entries (the caller has moved them out).
    fn free_block(&mut self, direct: bool) {
        if let Some(p) = self.ptr.take() {
            let cap = {
                // SAFETY: header byte 1 of the live block.
                unsafe { *p.as_ptr().add(1) as usize }
            };
            let layout = layout(cap);
            // SAFETY: the block was allocated with `layout(cap)`'s size.
            unsafe {
                if direct {
                    defrag::free_direct(p.as_ptr(), layout.size());
                } else {
                    dealloc(p.as_ptr(), layout);
                }
            }
        }
    }

    /// Frees an emptied array.
    fn free(&mut self) {
        debug_assert_eq!(self.len(), 0);
        self.free_block(false);
    }

    /// The block's length as requested from the allocator (0: none).
    pub fn alloc_len(&self) -> usize {
        if self.ptr.is_none() { 0 } else { bytes(self.capacity()) }
    }

    /// Bytes the allocator holds for the array.
    pub fn heap_size(&self) -> usize {
        if self.ptr.is_none() { 0 } else { size_class(bytes(self.capacity())) }
    }

    /// Moves the block to a fresh allocation of the same size when the allocator says
    /// its slab is sparse (defragmentation); true when it moved.
    pub fn defrag(&mut self) -> bool {
        let Some(p) = self.ptr else { return false };
        if !defrag::worth_moving(p.as_ptr()) {
            return false;
        }
        self.relocate();
        true
    }

    fn relocate(&mut self) {
        if self.ptr.is_some() {
            self.reallocate(self.capacity(), true);
        }
    }

    /// The block's address.
    #[cfg(test)]
    fn addr(&self) -> Option<NonNull<u8>> {
        self.ptr
    }

    /// Each entry, to move the blocks they point at (defragmentation).
    pub fn entries_mut(&mut self) -> &mut [Entry] {
        if self.ptr.is_none() {
            return &mut [];
        }
        // SAFETY: the first `len` entries are initialised and owned by the array;
        // `&mut self` makes the borrow exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.entries_ptr(), self.len()) }
    }
}

impl Drop for TagVec {
    fn drop(&mut self) {
        if self.ptr.is_some() {
            // SAFETY: the first `len` entries are initialised and owned here.
            unsafe {
                std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.entries_ptr(), self.len()));
            }
            self.set_len(0);
        }
        self.free_block(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::value::NewValue;

    fn entry(i: usize, ttl: bool) -> Entry {
        Entry::new(format!("key:{i}").as_bytes(), NewValue::Int(i as i64), ttl.then_some(5))
    }

    #[test]
    fn grows_into_each_class_and_shrinks_back() {
        let mut v = TagVec::default();
        assert_eq!((v.len(), v.heap_size()), (0, 0));
        for i in 0..MAX_CAP {
            v.push(i as u8, entry(i, i % 3 == 0));
            assert_eq!(v.len(), i + 1);
            // The block fills its size class: one more entry would not fit.
            assert_eq!(v.heap_size(), size_class(bytes(v.capacity())));
            assert!(v.capacity() == MAX_CAP || bytes(v.capacity() + 1) > v.heap_size());
        }
        assert_eq!(v.volatile(), MAX_CAP.div_ceil(3) as u32);
        for (i, (e, t)) in v.entries().iter().zip(v.tags()).enumerate() {
            assert_eq!(e.key(), format!("key:{i}").as_bytes());
            assert_eq!(*t, i as u8);
        }
        let mut left: Vec<usize> = (0..MAX_CAP).collect();
        while let Some(&first) = left.first() {
            let removed = v.swap_remove(0);
            assert_eq!(removed.key(), format!("key:{first}").as_bytes());
            let last = left.pop().unwrap();
            if !left.is_empty() {
                left[0] = last;
            }
            assert_eq!(v.len(), left.len());
            let n = v.len();
            assert!(
                n == 0 || n > v.capacity() / 2 || v.capacity() == capacity_for(n),
                "shrinks when half empty"
            );
            for (i, &k) in left.iter().enumerate() {
                assert_eq!(v.entries()[i].key(), format!("key:{k}").as_bytes());
                assert_eq!(v.tags()[i], k as u8);
            }
            let ttls = left.iter().filter(|&&k| k % 3 == 0).count() as u32;
            assert_eq!(v.volatile(), ttls);
        }
        assert_eq!(v.heap_size(), 0);
    }

    #[test]
    fn replace_relocate_and_take_all_keep_entries_and_counts() {
        let mut v = TagVec::default();
        for i in 0..20 {
            v.push(7, entry(i, false));
        }
        let old = v.replace(3, entry(99, true));
        assert_eq!(old.key(), b"key:3");
        assert_eq!(v.volatile(), 1);
        let before = v.addr();
        v.relocate();
        assert_ne!(v.addr(), before, "the new block is taken before the old one is freed");
        assert_eq!(v.entries()[3].key(), b"key:99");
        assert_eq!(v.volatile(), 1);
        let (e, volatile) = v.entry_mut(4);
        e.set_expire(Some(9));
        *volatile += 1;
        assert_eq!(v.volatile(), 2);
        let all = v.take_all();
        assert_eq!(all.len(), 20);
        assert_eq!((v.len(), v.heap_size()), (0, 0));
        assert_eq!(all[4].expire_at(), Some(9));
    }
}
