//! Lists: a [`Pack`] while the list fits one `list-max-listpack-size` node (Redis's
//! listpack encoding), a ring buffer of boxed elements beyond (reported as quicklist):
//! O(1) push and pop at both ends and O(1) LINDEX/LSET anywhere.

use std::collections::VecDeque;

use super::pack::Pack;
use super::value::Encodings;

#[derive(Clone, Debug, PartialEq)]
pub enum List {
    Pack(Pack),
    Deque(Ring),
}

/// The large form: elements in a ring buffer, with their packed size kept up to date so
/// deciding whether the list fits the packed form again costs nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ring {
    items: VecDeque<Box<[u8]>>,
    /// Sum of `encoded(item)`.
    bytes: usize,
}

impl Ring {
    fn from_items(items: VecDeque<Box<[u8]>>) -> Ring {
        let bytes = items.iter().map(|e| encoded(e)).sum();
        Ring { items, bytes }
    }

    fn push(&mut self, item: &[u8], front: bool) {
        self.bytes += encoded(item);
        let item = Box::from(item);
        if front { self.items.push_front(item) } else { self.items.push_back(item) }
    }

    fn pop(&mut self, front: bool) -> Option<Box<[u8]>> {
        let item = if front { self.items.pop_front() } else { self.items.pop_back() }?;
        self.bytes -= encoded(&item);
        Some(item)
    }
}

impl Default for List {
    fn default() -> List {
        List::Pack(Pack::new())
    }
}

/// Whether `count` elements taking `bytes` (encoded) fit the packed form; `slack` halves
/// the limit (a list goes back to packed only well under it, so it does not flip back
/// and forth at the edge).
fn fits(count: usize, bytes: usize, enc: &Encodings, slack: bool) -> bool {
    let div = if slack { 2 } else { 1 };
    if enc.list_size > 0 {
        count <= enc.list_size as usize / div
    } else {
        let limit =
            [4096, 8192, 16384, 32768, 65536][(enc.list_size.unsigned_abs() as usize).clamp(1, 5) - 1];
        bytes <= limit / div
    }
}

fn encoded(item: &[u8]) -> usize {
    super::entry::varint_len(item.len()) + item.len()
}

fn pack_of<'a>(items: impl Iterator<Item = &'a [u8]>) -> Pack {
    let mut p = Pack::new();
    let refs: Vec<&[u8]> = items.collect();
    p.insert_at(0, &refs);
    p
}

impl List {
    /// About the bytes of the elements of a large list (0 for a packed one).
    pub fn bytes(&self) -> usize {
        match self {
            List::Pack(_) => 0,
            List::Deque(d) => d.bytes,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            List::Pack(p) => p.len(),
            List::Deque(d) => d.items.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            List::Pack(_) => "listpack",
            List::Deque(_) => "quicklist",
        }
    }

    pub fn heap_size(&self, samples: usize) -> usize {
        match self {
            List::Pack(p) => p.heap_size(),
            List::Deque(d) => {
                d.items.capacity() * 16
                    + super::dense::sampled_sum(d.items.iter().map(|e| e.len()), d.items.len(), samples)
            }
        }
    }

    /// Adds elements one by one at the head (LPUSH order: the last ends up first) or
    /// the tail.
    pub fn push<T: AsRef<[u8]>>(&mut self, items: &[T], front: bool, enc: &Encodings) {
        if let List::Pack(p) = self {
            let added: usize = items.iter().map(|i| encoded(i.as_ref())).sum();
            if fits(p.len() + items.len(), p.bytes() + added, enc, false) {
                let refs: Vec<&[u8]> = if front {
                    items.iter().rev().map(AsRef::as_ref).collect()
                } else {
                    items.iter().map(AsRef::as_ref).collect()
                };
                p.insert_at(if front { 0 } else { p.end() }, &refs);
                return;
            }
            *self = List::Deque(Ring::from_items(p.iter().map(Box::from).collect()));
        }
        let List::Deque(d) = self else { unreachable!("converted above") };
        for item in items {
            d.push(item.as_ref(), front);
        }
    }

    /// Removes and returns up to `count` elements from one end.
    pub fn pop(&mut self, count: usize, front: bool, enc: &Encodings) -> Vec<Box<[u8]>> {
        let count = count.min(self.len());
        let out: Vec<Box<[u8]>> = match self {
            List::Pack(p) => {
                let start = if front { 0 } else { p.len() - count };
                let out: Vec<Box<[u8]>> = p.iter().skip(start).take(count).map(Box::from).collect();
                if let Some(slot) = p.slot(start) {
                    p.remove(slot, count);
                }
                if front { out } else { out.into_iter().rev().collect() }
            }
            List::Deque(d) => (0..count).filter_map(|_| d.pop(front)).collect(),
        };
        self.maybe_pack(enc);
        out
    }

    /// The element at a non-negative index.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match self {
            List::Pack(p) => p.get(i),
            List::Deque(d) => d.items.get(i).map(|b| &b[..]),
        }
    }

    /// Elements `start..end` (clamped by the caller), in order.
    pub fn range(&self, start: usize, end: usize) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        let n = end.saturating_sub(start);
        match self {
            List::Pack(p) => Box::new(p.iter().skip(start).take(n)),
            List::Deque(d) => Box::new(d.items.range(start..end.max(start)).map(|b| &b[..])),
        }
    }

    /// Every element from the tail to the head.
    pub fn iter_rev(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            List::Pack(p) => Box::new(p.iter().collect::<Vec<_>>().into_iter().rev()),
            List::Deque(d) => Box::new(d.items.iter().rev().map(|b| &b[..])),
        }
    }

    /// Replaces the element at index `i` (in range).
    pub fn set(&mut self, i: usize, value: &[u8], enc: &Encodings) {
        match self {
            List::Deque(d) => {
                d.bytes = d.bytes - encoded(&d.items[i]) + encoded(value);
                d.items[i] = Box::from(value);
                self.maybe_pack(enc);
            }
            List::Pack(_) => self.edit(enc, |d| d[i] = Box::from(value)),
        }
    }

    /// Inserts `value` before or after the first `pivot`; false when there is none.
    pub fn insert(&mut self, pivot: &[u8], value: &[u8], before: bool, enc: &Encodings) -> bool {
        let Some(at) = self.range(0, self.len()).position(|e| e == pivot) else { return false };
        self.edit(enc, |d| d.insert(if before { at } else { at + 1 }, Box::from(value)));
        true
    }

    /// LREM: removes up to |count| elements equal to `value` (from the tail when count
    /// is negative, all when 0); returns how many. One pass, whatever the matches.
    pub fn remove(&mut self, value: &[u8], count: i64, enc: &Encodings) -> usize {
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs() as usize };
        self.edit(enc, |d| {
            let matches = d.iter().filter(|e| &e[..] == value).count();
            // From the tail: keep the first matches and remove the last `limit`.
            let keep = if count < 0 { matches.saturating_sub(limit) } else { 0 };
            let (mut seen, mut removed) = (0, 0);
            d.retain(|e| {
                if &e[..] != value {
                    return true;
                }
                seen += 1;
                if seen <= keep || removed >= limit {
                    return true;
                }
                removed += 1;
                false
            });
            removed
        })
    }

    /// Keeps only elements `start..end` (clamped by the caller).
    pub fn trim(&mut self, start: usize, end: usize, enc: &Encodings) {
        match self {
            List::Pack(p) => p.keep(start, end.max(start)),
            List::Deque(d) => {
                let end = end.max(start);
                for e in d.items.drain(end.min(d.items.len())..) {
                    d.bytes -= encoded(&e);
                }
                for e in d.items.drain(..start.min(d.items.len())) {
                    d.bytes -= encoded(&e);
                }
                self.maybe_pack(enc);
            }
        }
    }

    /// Runs `f` on the list as a ring buffer (O(n) operations: LINSERT, LREM, and LSET
    /// on a packed list), then settles its form.
    fn edit<R>(&mut self, enc: &Encodings, f: impl FnOnce(&mut VecDeque<Box<[u8]>>) -> R) -> R {
        let mut d = match std::mem::take(self) {
            List::Pack(p) => p.iter().map(Box::from).collect(),
            List::Deque(d) => d.items,
        };
        let r = f(&mut d);
        let ring = Ring::from_items(d);
        *self = if fits(ring.items.len(), ring.bytes, enc, false) {
            List::Pack(pack_of(ring.items.iter().map(|b| &b[..])))
        } else {
            List::Deque(ring)
        };
        r
    }

    /// A ring buffer that shrank to half the packed limit goes back to packed.
    fn maybe_pack(&mut self, enc: &Encodings) {
        let List::Deque(d) = self else { return };
        if fits(d.items.len(), d.bytes, enc, true) {
            *self = List::Pack(pack_of(d.items.iter().map(|b| &b[..])));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(l: &List) -> Vec<Vec<u8>> {
        l.range(0, l.len()).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn pushes_pops_and_converts_both_ways() {
        let enc = Encodings { list_size: 4, ..Encodings::default() };
        let mut l = List::default();
        l.push(&[b"a", b"b"], true, &enc);
        l.push(&[b"c"], false, &enc);
        assert_eq!(items(&l), vec![b"b".to_vec(), b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(l.encoding_name(), "listpack");
        l.push(&[b"d", b"e"], false, &enc);
        assert_eq!(l.encoding_name(), "quicklist");
        assert_eq!(l.pop(2, false, &enc), vec![Box::from(&b"e"[..]), Box::from(&b"d"[..])]);
        assert_eq!(l.encoding_name(), "quicklist");
        assert_eq!(l.pop(1, true, &enc), vec![Box::from(&b"b"[..])]);
        assert_eq!(l.encoding_name(), "listpack");
        assert_eq!(items(&l), vec![b"a".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn byte_limits_follow_the_tracked_size() {
        // -1: 4 KiB packed; the ring buffer packs again under 2 KiB.
        let enc = Encodings { list_size: -1, ..Encodings::default() };
        let mut l = List::default();
        let item = [b'x'; 99]; // 100 bytes encoded
        for _ in 0..40 {
            l.push(&[&item[..]], false, &enc);
        }
        assert_eq!(l.encoding_name(), "listpack", "4,000 bytes fit");
        l.push(&[&item[..]], false, &enc);
        assert_eq!(l.encoding_name(), "quicklist");
        l.set(0, &[b'y'; 10], &enc);
        l.set(0, &item, &enc);
        l.pop(20, true, &enc);
        assert_eq!(l.encoding_name(), "quicklist", "2,100 bytes: still over half");
        l.pop(1, false, &enc);
        assert_eq!(l.encoding_name(), "listpack", "2,000 bytes: packed again");
        assert_eq!(l.len(), 20);
        assert!(items(&l).iter().all(|e| e[..] == item[..]));
    }

    #[test]
    fn lrem_from_either_end_in_one_pass() {
        let enc = Encodings { list_size: 2, ..Encodings::default() };
        let mut l = List::default();
        l.push(&[b"a", b"x", b"b", b"x", b"c", b"x"], false, &enc);
        assert_eq!(l.remove(b"x", -2, &enc), 2);
        assert_eq!(items(&l), vec![b"a".to_vec(), b"x".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(l.remove(b"x", 5, &enc), 1);
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn insert_remove_trim() {
        let enc = Encodings::default();
        let mut l = List::default();
        l.push(&[b"x", b"y", b"x", b"z", b"x"], false, &enc);
        assert!(l.insert(b"y", b"w", true, &enc));
        assert!(!l.insert(b"nope", b"w", true, &enc));
        assert_eq!(l.remove(b"x", -2, &enc), 2);
        assert_eq!(items(&l), vec![b"x".to_vec(), b"w".to_vec(), b"y".to_vec(), b"z".to_vec()]);
        l.trim(1, 3, &enc);
        assert_eq!(items(&l), vec![b"w".to_vec(), b"y".to_vec()]);
    }
}
