//! One key and its value in a single allocation, behind a 12-byte table entry.
//!
//! Layout of the block (byte aligned, no padding):
//!
//! ```text
//! [length: u32 LE, only when LONG] [expire_at: u64 LE, only when HAS_TTL]
//! [key length: LEB128] [key] [payload]
//! payload: EMBSTR  the string bytes, to the end of the block
//!          INT     i64 LE (8 bytes)
//!          OBJ     a `Box<Object>` raw pointer (8 bytes)
//! ```
//!
//! The entry keeps the block's address in 48 bits and its length in the other 16 of one
//! word; a block of 64 KiB or more says so with `u16::MAX` there and keeps its length
//! in its first four bytes. So a key of 11 bytes with a 100-byte value costs one
//! 112-byte allocation plus its 12-byte slot in the table, and a key without a TTL
//! stores no TTL. Everything unsafe about the block lives in this file; the rest of the
//! crate sees a safe API.

use std::alloc::{Layout, alloc, dealloc};
use std::ptr::NonNull;

use super::value::{NewValue, Object, ValueRef};

const ENC_MASK: u32 = 0b11;
const ENC_EMBSTR: u32 = 0;
const ENC_INT: u32 = 1;
const ENC_OBJ: u32 = 2;
const HAS_TTL: u32 = 0b100;
/// Set while a background snapshot's capture has dealt with the entry: its value as of
/// the capture's start is written, or it was created since (see `storage::capture`).
const SAVED: u32 = 0b1000;
const CLOCK_SHIFT: u32 = 4;
/// Mask of the access bits kept in the upper 28 bits of `meta`.
pub const CLOCK_MASK: u32 = (1 << 28) - 1;

/// Bits of the block's address kept in `word` (user-space addresses on x86-64 and
/// AArch64 Linux fit in 48).
const ADDR_BITS: u32 = 48;
const ADDR_MASK: u64 = (1 << ADDR_BITS) - 1;
/// The short-length field's value for a block that keeps its length itself.
const LONG: u64 = u16::MAX as u64;

/// Longest string value stored inline; longer ones become `Object::Str`. With keys
/// bounded by `proto-max-bulk-len` (at most 2 GiB), every block length fits in a u32.
const MAX_INLINE_VALUE: usize = 1 << 30;

/// Packed to 4-byte alignment so that a table of entries spends 12 bytes on each.
#[repr(C, packed(4))]
pub struct Entry {
    /// The block's address (low 48 bits) and its length, or [`LONG`] (high 16).
    word: u64,
    meta: u32,
}

// SAFETY: an Entry uniquely owns its block (and the Object it may point to); nothing
// else holds the pointer, so moving it across threads is as safe as moving a Box.
unsafe impl Send for Entry {}
unsafe impl Sync for Entry {}

/// A block length as stored. The argument limits make overflow impossible; should a
/// bug break that, stop rather than corrupt memory.
fn block_len(total: usize) -> u32 {
    u32::try_from(total).expect("entry block length fits in u32")
}

pub(crate) fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub(crate) fn write_varint(out: &mut [u8], mut v: usize) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

pub(crate) fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut v = 0usize;
    let mut shift = 0;
    for (i, &c) in b.iter().enumerate() {
        v |= ((c & 0x7f) as usize) << shift;
        if c & 0x80 == 0 {
            return (v, i + 1);
        }
        shift += 7;
    }
    (v, b.len())
}

impl Entry {
    /// Builds an entry. Strings that are canonical integers are stored as integers.
    pub fn new(key: &[u8], value: NewValue<'_>, expire_at: Option<u64>) -> Entry {
        let value = match value {
            NewValue::Str(s) => match crate::protocol::args::parse_i64(s) {
                Some(i) => NewValue::Int(i),
                None => NewValue::Str(s),
            },
            v => v,
        };
        Self::build(key, value, expire_at, 0)
    }

    fn build(key: &[u8], value: NewValue<'_>, expire_at: Option<u64>, clock: u32) -> Entry {
        let (enc, value) = match value {
            NewValue::Str(s) if s.len() > MAX_INLINE_VALUE => {
                (ENC_OBJ, NewValue::Obj(Box::new(Object::Str(s.to_vec()))))
            }
            NewValue::Str(s) => (ENC_EMBSTR, NewValue::Str(s)),
            NewValue::Int(i) => (ENC_INT, NewValue::Int(i)),
            NewValue::Obj(o) => (ENC_OBJ, NewValue::Obj(o)),
        };
        let payload_len = match &value {
            NewValue::Str(s) => s.len(),
            _ => 8,
        };
        let (mut block, pos) = Block::with_head(key, expire_at, payload_len);
        let buf = block.as_mut_slice();
        match value {
            NewValue::Str(s) => buf[pos..].copy_from_slice(s),
            NewValue::Int(i) => buf[pos..].copy_from_slice(&i.to_le_bytes()),
            NewValue::Obj(o) => {
                let raw = Box::into_raw(o) as usize as u64;
                buf[pos..].copy_from_slice(&raw.to_le_bytes());
            }
        }
        let mut meta = enc | (clock << CLOCK_SHIFT);
        if expire_at.is_some() {
            meta |= HAS_TTL;
        }
        Entry::from_block(block, meta)
    }

    fn from_block(block: Block, meta: u32) -> Entry {
        let addr = block.ptr.as_ptr() as usize as u64;
        assert_eq!(addr & !ADDR_MASK, 0, "allocator returned an address above 48 bits");
        let short = if block.long { LONG } else { block.len as u64 };
        Entry { word: addr | (short << ADDR_BITS), meta }
    }

    fn ptr(&self) -> *mut u8 {
        (self.word & ADDR_MASK) as usize as *mut u8
    }

    fn is_long(&self) -> bool {
        self.word >> ADDR_BITS == LONG
    }

    /// The block's length in bytes.
    fn len(&self) -> usize {
        if self.is_long() {
            let mut w = [0u8; 4];
            // SAFETY: a LONG block starts with its 4-byte length.
            unsafe { std::ptr::copy_nonoverlapping(self.ptr(), w.as_mut_ptr(), 4) };
            u32::from_le_bytes(w) as usize
        } else {
            (self.word >> ADDR_BITS) as usize
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr points to an allocation of exactly `len` initialised bytes that
        // this entry owns.
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len()) }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len()) }
    }

    /// Where the TTL (or, without one, the key length) starts.
    fn head_len(&self) -> usize {
        if self.is_long() { 4 } else { 0 }
    }

    fn ttl_len(&self) -> usize {
        if self.meta & HAS_TTL != 0 { 8 } else { 0 }
    }

    /// Offset of the payload and the key's range.
    fn layout(&self) -> (usize, usize, usize) {
        let off = self.head_len() + self.ttl_len();
        let (klen, n) = read_varint(&self.bytes()[off..]);
        let kstart = off + n;
        (kstart, kstart + klen, kstart + klen)
    }

    fn encoding(&self) -> u32 {
        self.meta & ENC_MASK
    }

    /// Brings the first two cache lines of the block (the key, and a short value with
    /// it) into cache.
    #[inline]
    pub fn prefetch(&self) {
        let p = self.ptr();
        super::prefetch(p);
        super::prefetch(p.wrapping_add(64));
    }

    pub fn key(&self) -> &[u8] {
        let (s, e, _) = self.layout();
        &self.bytes()[s..e]
    }

    fn payload_word(&self) -> u64 {
        let (_, _, p) = self.layout();
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.bytes()[p..p + 8]);
        u64::from_le_bytes(w)
    }

    fn obj_ptr(&self) -> *mut Object {
        self.payload_word() as usize as *mut Object
    }

    pub fn value(&self) -> ValueRef<'_> {
        match self.encoding() {
            ENC_EMBSTR => {
                let (_, _, p) = self.layout();
                ValueRef::Str(&self.bytes()[p..])
            }
            ENC_INT => ValueRef::Int(self.payload_word() as i64),
            // SAFETY: an OBJ payload always holds a live pointer from Box::into_raw,
            // owned by this entry; the shared borrow of self bounds the reference.
            _ => ValueRef::Obj(unsafe { &*self.obj_ptr() }),
        }
    }

    pub fn obj_mut(&mut self) -> Option<&mut Object> {
        if self.encoding() == ENC_OBJ {
            // SAFETY: as in `value`, with exclusive access through &mut self.
            Some(unsafe { &mut *self.obj_ptr() })
        } else {
            None
        }
    }

    /// Updates an integer-encoded value in place; false when the value is not one.
    pub fn set_int(&mut self, v: i64) -> bool {
        if self.encoding() != ENC_INT {
            return false;
        }
        let (_, _, p) = self.layout();
        self.bytes_mut()[p..p + 8].copy_from_slice(&v.to_le_bytes());
        true
    }

    /// Whether the key has a TTL (read from the entry, without touching its block).
    #[inline]
    pub fn has_ttl(&self) -> bool {
        self.meta & HAS_TTL != 0
    }

    pub fn expire_at(&self) -> Option<u64> {
        if self.meta & HAS_TTL == 0 {
            return None;
        }
        let at = self.head_len();
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.bytes()[at..at + 8]);
        Some(u64::from_le_bytes(w))
    }

    #[inline]
    pub fn is_expired(&self, now_ms: u64) -> bool {
        matches!(self.expire_at(), Some(at) if at <= now_ms)
    }

    /// Sets or clears the TTL; rebuilds the block only when a TTL appears or goes.
    pub fn set_expire(&mut self, expire_at: Option<u64>) {
        match (self.expire_at(), expire_at) {
            (Some(_), Some(at)) => {
                let h = self.head_len();
                self.bytes_mut()[h..h + 8].copy_from_slice(&at.to_le_bytes())
            }
            (None, None) => {}
            _ => {
                // SAFETY: `self` is read out and overwritten at once; `rebuild` only
                // allocates and copies (allocation failure aborts), so no half-moved
                // entry is ever observed or dropped.
                unsafe {
                    let old = std::ptr::read(self);
                    std::ptr::write(self, old.rebuild(None, expire_at));
                }
            }
        }
    }

    /// Replaces the value, keeping key and TTL unless `expire_at` says otherwise.
    pub fn replace_value(&mut self, value: NewValue<'_>, expire_at: Option<u64>) {
        let (clock, saved) = (self.clock(), self.saved());
        *self = Entry::new(self.key(), value, expire_at);
        self.set_clock(clock);
        self.set_saved(saved);
    }

    /// Whether a snapshot capture in progress has dealt with this entry.
    pub fn saved(&self) -> bool {
        self.meta & SAVED != 0
    }

    pub fn set_saved(&mut self, saved: bool) {
        self.meta = if saved { self.meta | SAVED } else { self.meta & !SAVED };
    }

    /// The same value under another key (RENAME, MOVE keep the value's allocation).
    pub fn rekey(self, key: &[u8]) -> Entry {
        let expire = self.expire_at();
        self.rebuild(Some(key), expire)
    }

    /// Copies the raw payload into a new block with (possibly) a new key and TTL. The
    /// old block is freed without dropping its object, whose ownership moves over.
    fn rebuild(self, key: Option<&[u8]>, expire_at: Option<u64>) -> Entry {
        let (ks, ke, p) = self.layout();
        let key = key.unwrap_or(&self.bytes()[ks..ke]);
        let payload = &self.bytes()[p..];
        let (mut block, pos) = Block::with_head(key, expire_at, payload.len());
        block.as_mut_slice()[pos..].copy_from_slice(payload);
        let mut meta = self.meta & !HAS_TTL;
        if expire_at.is_some() {
            meta |= HAS_TTL;
        }
        let new = Entry::from_block(block, meta);
        // The payload (and any object pointer in it) now belongs to `new`: free the
        // old block without running Entry's drop, which would drop the object.
        let old = std::mem::ManuallyDrop::new(self);
        // SAFETY: the old block is used no more.
        unsafe { old.free_block() };
        new
    }

    /// A deep copy, optionally under another key (COPY).
    pub fn duplicate(&self, key: &[u8], expire_at: Option<u64>) -> Entry {
        let value = match self.value() {
            ValueRef::Str(s) => return Entry::build(key, NewValue::Str(s), expire_at, self.clock()),
            ValueRef::Int(i) => NewValue::Int(i),
            ValueRef::Obj(o) => NewValue::Obj(Box::new(o.clone())),
        };
        Entry::build(key, value, expire_at, self.clock())
    }

    /// The block's address: tells two live entries apart without reading their keys.
    pub fn id(&self) -> usize {
        self.ptr() as usize
    }

    /// Moves the block to a fresh allocation when the allocator says its slab is
    /// sparse (defragmentation); true when it moved. The object a block points to
    /// stays where it is.
    pub fn defrag(&mut self) -> bool {
        let old = self.ptr();
        if !super::defrag::worth_moving(old) {
            return false;
        }
        let len = self.len();
        // SAFETY: the new block gets the old one's `len` bytes (LONG prefix, TTL, key,
        // payload: all position-independent) and replaces it in the entry; the old
        // one, allocated with `len` bytes, is freed and not used again.
        unsafe {
            let new = super::defrag::alloc_direct(len);
            let addr = new as usize as u64;
            assert_eq!(addr & !ADDR_MASK, 0, "allocator returned an address above 48 bits");
            std::ptr::copy_nonoverlapping(old, new, len);
            super::defrag::free_direct(old, len);
            self.word = addr | (self.word & !ADDR_MASK);
        }
        true
    }

    /// The block's length as requested from the allocator.
    pub fn alloc_len(&self) -> usize {
        self.len()
    }

    /// Frees the block (not the object it may point to).
    ///
    /// SAFETY: the block must not be used afterwards.
    unsafe fn free_block(&self) {
        // SAFETY: ptr/len describe the block allocated in `build`/`rebuild`.
        unsafe { Block::free(NonNull::new_unchecked(self.ptr()), self.len()) };
    }

    pub fn clock(&self) -> u32 {
        self.meta >> CLOCK_SHIFT
    }

    #[inline]
    pub fn set_clock(&mut self, clock: u32) {
        self.meta = (self.meta & ((1 << CLOCK_SHIFT) - 1)) | ((clock & CLOCK_MASK) << CLOCK_SHIFT);
    }

    /// Redis's name for the value's encoding (OBJECT ENCODING).
    pub fn encoding_name(&self) -> &'static str {
        match self.value() {
            ValueRef::Int(_) => "int",
            ValueRef::Str(s) if s.len() <= 44 => "embstr",
            ValueRef::Str(_) => "raw",
            ValueRef::Obj(o) => o.encoding_name(),
        }
    }

    /// Bytes this entry holds on the heap: its block as the allocator sized it, plus
    /// its object.
    pub fn heap_size(&self) -> usize {
        self.heap_size_sampled(0)
    }

    /// [`Entry::heap_size`] with a collection's elements estimated from `samples` of them
    /// (0: all), as MEMORY USAGE ... SAMPLES.
    pub fn heap_size_sampled(&self, samples: usize) -> usize {
        let block = size_class(self.len());
        let obj = match self.value() {
            ValueRef::Obj(o) => o.heap_size(samples),
            _ => 0,
        };
        block + obj
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if self.encoding() == ENC_OBJ {
            // SAFETY: the pointer came from Box::into_raw and is owned by this entry.
            drop(unsafe { Box::from_raw(self.obj_ptr()) });
        }
        // SAFETY: the entry is going away; nothing uses its block after this.
        unsafe { self.free_block() };
    }
}

/// What the allocator gives for a request of `len` bytes: its size class, computed from
/// the size alone (no lookup of a pointer, which costs a cache miss).
pub fn size_class(len: usize) -> usize {
    // SAFETY: nallocx only computes a size class; flags 0 asks for no alignment.
    unsafe { tikv_jemalloc_sys::nallocx(len.max(1), 0) }.max(len)
}

/// A raw byte allocation with alignment 1.
struct Block {
    ptr: NonNull<u8>,
    len: usize,
    /// Whether the block starts with its own length.
    long: bool,
}

impl Block {
    fn alloc(len: usize) -> Block {
        let layout = Layout::from_size_align(len.max(1), 1).expect("block layout");
        // SAFETY: the layout has non-zero size.
        let ptr = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else { std::alloc::handle_alloc_error(layout) };
        // SAFETY: freshly allocated, len bytes; zeroing makes it initialised.
        unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, len) };
        Block { ptr, len, long: false }
    }

    /// A block for `key` (and its TTL) followed by `payload_len` bytes still to fill;
    /// returns it with the payload's offset.
    fn with_head(key: &[u8], expire_at: Option<u64>, payload_len: usize) -> (Block, usize) {
        let ttl_len = if expire_at.is_some() { 8 } else { 0 };
        let short = ttl_len + varint_len(key.len()) + key.len() + payload_len;
        let head = if short >= LONG as usize { 4 } else { 0 };
        let mut block = Block::alloc(head + short);
        block.long = head > 0;
        let len = block_len(block.len);
        let buf = block.as_mut_slice();
        if head > 0 {
            buf[..4].copy_from_slice(&len.to_le_bytes());
        }
        if let Some(at) = expire_at {
            buf[head..head + 8].copy_from_slice(&at.to_le_bytes());
        }
        let mut pos = head + ttl_len;
        pos += write_varint(&mut buf[pos..], key.len());
        buf[pos..pos + key.len()].copy_from_slice(key);
        pos += key.len();
        (block, pos)
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: owned, initialised allocation of len bytes.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// SAFETY: `ptr` must come from `Block::alloc(len)` and not be used afterwards.
    unsafe fn free(ptr: NonNull<u8>, len: usize) {
        let layout = Layout::from_size_align(len.max(1), 1).expect("block layout");
        // SAFETY: guaranteed by the caller.
        unsafe { dealloc(ptr.as_ptr(), layout) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_int_and_ttl_roundtrip() {
        let mut e = Entry::new(b"key", NewValue::Str(b"hello"), None);
        assert_eq!(e.key(), b"key");
        assert!(matches!(e.value(), ValueRef::Str(b"hello")));
        assert_eq!(e.expire_at(), None);
        e.set_expire(Some(1234));
        assert_eq!(e.expire_at(), Some(1234));
        assert_eq!(e.key(), b"key");
        assert!(matches!(e.value(), ValueRef::Str(b"hello")));
        e.set_expire(Some(99));
        assert_eq!(e.expire_at(), Some(99));
        e.set_expire(None);
        assert_eq!(e.expire_at(), None);

        let mut n = Entry::new(b"n", NewValue::Str(b"-42"), Some(5));
        assert!(matches!(n.value(), ValueRef::Int(-42)));
        assert!(n.set_int(7));
        assert!(matches!(n.value(), ValueRef::Int(7)));
        assert_eq!(n.encoding_name(), "int");
        assert_eq!(n.expire_at(), Some(5));
    }

    #[test]
    fn objects_survive_rekey_and_duplicate() {
        let e = Entry::new(b"a", NewValue::Obj(Box::new(Object::Str(b"raw".to_vec()))), Some(10));
        let e = e.rekey(b"a-much-longer-key-than-before-to-change-the-varint-length-of-key-prefix-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        assert!(e.key().starts_with(b"a-much"));
        assert_eq!(e.expire_at(), Some(10));
        let d = e.duplicate(b"b", None);
        drop(e);
        match d.value() {
            ValueRef::Obj(Object::Str(v)) => assert_eq!(v, b"raw"),
            _ => panic!("expected object"),
        }
    }

    #[test]
    fn clock_bits_do_not_disturb_flags() {
        let mut e = Entry::new(b"k", NewValue::Str(b"v"), Some(1));
        e.set_clock(CLOCK_MASK);
        assert_eq!(e.clock(), CLOCK_MASK);
        assert_eq!(e.expire_at(), Some(1));
        assert_eq!(e.encoding_name(), "embstr");
    }

    #[test]
    fn block_for_small_key_value_fits_112_bytes() {
        let e = Entry::new(b"key:0000001", NewValue::Str(&[b'x'; 100]), None);
        assert_eq!(e.heap_size(), 112);
        assert_eq!(std::mem::size_of::<Entry>(), 12);
    }

    #[test]
    fn long_blocks_keep_their_length_in_the_block() {
        // Either side of the 64 KiB boundary, with and without a TTL, keys and values.
        for len in [65_000, 65_520, 65_535, 65_536, 200_000] {
            let value = vec![b'v'; len];
            let mut e = Entry::new(b"key", NewValue::Str(&value), None);
            assert!(matches!(e.value(), ValueRef::Str(v) if v == &value[..]));
            e.set_expire(Some(77));
            assert_eq!(e.expire_at(), Some(77));
            assert!(matches!(e.value(), ValueRef::Str(v) if v == &value[..]));
            assert_eq!(e.key(), b"key");
            let long_key = vec![b'k'; len];
            let e = e.rekey(&long_key);
            assert_eq!(e.key(), &long_key[..]);
            assert_eq!(e.expire_at(), Some(77));
            assert!(matches!(e.value(), ValueRef::Str(v) if v == &value[..]));
            assert!(e.heap_size() >= 2 * len);
        }
    }
}
