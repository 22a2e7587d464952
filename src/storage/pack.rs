//! [`Pack`]: small collections as one flat byte vector (Redis's listpack idea).
//!
//! Elements are stored back to back, each as `[length: LEB128][bytes]`, so a collection
//! of a hundred short members costs one allocation and a byte or two per member. Every
//! operation is a linear walk, which is why collections leave this form past a few
//! hundred elements (the `*-max-listpack-*` settings).

use super::entry::{read_varint, varint_len, write_varint};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pack {
    buf: Vec<u8>,
    len: u32,
}

/// Where an element sits: its byte offset and its encoded size (header included).
#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub offset: usize,
    pub size: usize,
}

impl Pack {
    pub fn new() -> Pack {
        Pack::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, header included.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }

    pub fn iter(&self) -> PackIter<'_> {
        PackIter { buf: &self.buf, pos: 0 }
    }

    /// Elements with where each sits.
    pub fn slots(&self) -> impl Iterator<Item = (Slot, &[u8])> {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= self.buf.len() {
                return None;
            }
            let (n, h) = read_varint(&self.buf[pos..]);
            let slot = Slot { offset: pos, size: h + n };
            let item = &self.buf[pos + h..pos + h + n];
            pos += h + n;
            Some((slot, item))
        })
    }

    /// The element at byte offset `offset`.
    pub fn at(&self, offset: usize) -> (Slot, &[u8]) {
        let (n, h) = read_varint(&self.buf[offset..]);
        (Slot { offset, size: h + n }, &self.buf[offset + h..offset + h + n])
    }

    /// The `i`th element's slot (a linear walk); None past the end.
    pub fn slot(&self, i: usize) -> Option<Slot> {
        self.slots().nth(i).map(|(s, _)| s)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.iter().nth(i)
    }

    /// The end offset, where `insert_at` appends.
    pub fn end(&self) -> usize {
        self.buf.len()
    }

    pub fn push(&mut self, item: &[u8]) {
        self.insert_at(self.buf.len(), &[item]);
    }

    /// Inserts elements, in order, at byte offset `offset` (an element boundary).
    pub fn insert_at(&mut self, offset: usize, items: &[&[u8]]) {
        let added: usize = items.iter().map(|i| varint_len(i.len()) + i.len()).sum();
        self.buf.reserve_exact(added);
        let tail = self.buf.split_off(offset);
        for item in items {
            let mut head = [0u8; 10];
            let h = write_varint(&mut head, item.len());
            self.buf.extend_from_slice(&head[..h]);
            self.buf.extend_from_slice(item);
        }
        self.buf.extend_from_slice(&tail);
        self.len += items.len() as u32;
    }

    /// Removes `count` consecutive elements starting at `slot`.
    pub fn remove(&mut self, slot: Slot, count: usize) {
        let mut end = slot.offset;
        for _ in 0..count {
            let (n, h) = read_varint(&self.buf[end..]);
            end += h + n;
        }
        self.buf.drain(slot.offset..end);
        self.len -= count as u32;
        self.shrink();
    }

    /// Replaces the element at `slot` with `item`.
    pub fn replace(&mut self, slot: Slot, item: &[u8]) {
        let mut head = [0u8; 10];
        let h = write_varint(&mut head, item.len());
        let mut new = Vec::with_capacity(h + item.len());
        new.extend_from_slice(&head[..h]);
        new.extend_from_slice(item);
        self.buf.splice(slot.offset..slot.offset + slot.size, new);
        self.shrink();
    }

    /// Keeps only elements `start..end` (by index).
    pub fn keep(&mut self, start: usize, end: usize) {
        let offsets: Vec<usize> =
            self.slots().map(|(s, _)| s.offset).chain(std::iter::once(self.buf.len())).collect();
        let from = offsets.get(start).copied().unwrap_or(self.buf.len());
        let to = if end > start { offsets.get(end).copied().unwrap_or(self.buf.len()) } else { from };
        self.buf.truncate(to);
        self.buf.drain(..from);
        self.len = end.saturating_sub(start) as u32;
        self.shrink();
    }

    /// Gives back capacity once less than half of it is used.
    fn shrink(&mut self) {
        if self.buf.capacity() > 64 && self.buf.len() < self.buf.capacity() / 2 {
            self.buf.shrink_to_fit();
        }
    }
}

pub struct PackIter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (n, h) = read_varint(&self.buf[self.pos..]);
        let start = self.pos + h;
        self.pos = start + n;
        Some(&self.buf[start..start + n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_insert_remove_replace_keep() {
        let mut p = Pack::new();
        for s in [&b"a"[..], b"bb", b"", b"dddd"] {
            p.push(s);
        }
        assert_eq!(p.len(), 4);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"bb", b"", b"dddd"]);
        let s = p.slot(1).unwrap();
        p.insert_at(s.offset, &[b"x", b"y"]);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"x", b"y", b"bb", b"", b"dddd"]);
        let s = p.slot(2).unwrap();
        p.replace(s, &[b'z'; 200]);
        assert_eq!(p.get(2).unwrap().len(), 200);
        let s = p.slot(1).unwrap();
        p.remove(s, 2);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"bb", b"", b"dddd"]);
        p.keep(1, 3);
        assert_eq!(p.iter().collect::<Vec<_>>(), vec![&b"bb"[..], b""]);
        assert_eq!(p.len(), 2);
        p.keep(0, 0);
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }
}
