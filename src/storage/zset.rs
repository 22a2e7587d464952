//! Sorted sets: a [`Pack`] of (member, score) pairs in order while small
//! (`zset-max-listpack-entries` / `-value`, Redis's listpack), and beyond that a
//! [`Dense`] dictionary (member → score in O(1)) beside an order-statistic sequence
//! (`Chunks`: sorted runs of at most `CHUNK` items with a Fenwick tree of their
//! lengths), so insertion, removal, rank and "the element at rank r" are all O(log n)
//! plus a short memmove. The order holds dictionary positions, not members, so each
//! member is stored once. Reported as skiplist, the encoding Redis uses for the same job.
//!
//! Order is Redis's: by score, then by member bytes. Scores are never NaN.

use std::cmp::Ordering;

use super::dense::Dense;
use super::pack::Pack;
use super::value::Encodings;

/// Most items in one run of the ordered sequence.
const CHUNK: usize = 128;

#[derive(Clone, Debug, PartialEq)]
pub enum ZSet {
    Pack(Pack),
    Skip(Box<Sorted>),
}

/// (score, member) order.
fn cmp(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal).then_with(|| a.1.cmp(b.1))
}

fn score_bytes(b: &[u8]) -> f64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[b.len() - 8..]);
    f64::from_le_bytes(w)
}

/// A dictionary record's member (it ends with the 8 score bytes).
fn member_of(record: &[u8]) -> &[u8] {
    &record[..record.len() - 8]
}

fn record(member: &[u8], score: f64) -> Box<[u8]> {
    let mut r = Vec::with_capacity(member.len() + 8);
    r.extend_from_slice(member);
    r.extend_from_slice(&score.to_le_bytes());
    r.into_boxed_slice()
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::Pack(Pack::new())
    }
}

impl ZSet {
    /// An empty sorted set in the form `len` members of at most `longest` bytes need.
    pub fn with_capacity(len: usize, longest: usize, enc: &Encodings) -> ZSet {
        if len <= enc.zset_entries && longest <= enc.zset_value {
            ZSet::Pack(Pack::new())
        } else {
            ZSet::Skip(Box::default())
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.len() / 2,
            ZSet::Skip(s) => s.dict.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Skip(_) => "skiplist",
        }
    }

    pub fn heap_size(&self, samples: usize) -> usize {
        match self {
            ZSet::Pack(p) => p.heap_size(),
            ZSet::Skip(s) => s.heap_size(samples),
        }
    }

    fn pairs(p: &Pack) -> impl Iterator<Item = (&[u8], f64)> {
        let mut it = p.iter();
        std::iter::from_fn(move || Some((it.next()?, score_bytes(it.next()?))))
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => Self::pairs(p).find(|(m, _)| *m == member).map(|(_, s)| s),
            ZSet::Skip(s) => s.dict.find(member).map(|pos| score_bytes(s.dict.get(pos))),
        }
    }

    /// Sets a member's score (adding it if absent).
    pub fn set(&mut self, member: &[u8], score: f64, enc: &Encodings) {
        if let ZSet::Pack(p) = self {
            let exists = Self::pairs(p).any(|(m, _)| m == member);
            if exists || (p.len() / 2 < enc.zset_entries && member.len() <= enc.zset_value) {
                if exists {
                    Self::pack_remove(p, member);
                }
                let at = {
                    let mut slots = p.slots();
                    let mut at = p.end();
                    while let (Some((ms, m)), Some((_, s))) = (slots.next(), slots.next()) {
                        if cmp((score_bytes(s), m), (score, member)) == Ordering::Greater {
                            at = ms.offset;
                            break;
                        }
                    }
                    at
                };
                p.insert_at(at, &[member, &score.to_le_bytes()]);
                return;
            }
            let mut sorted = Sorted::default();
            for (m, s) in Self::pairs(p) {
                sorted.set(m, s);
            }
            *self = ZSet::Skip(Box::new(sorted));
        }
        let ZSet::Skip(s) = self else { unreachable!("converted above") };
        s.set(member, score);
    }

    fn pack_remove(p: &mut Pack, member: &[u8]) -> bool {
        let found = p.slots().step_by(2).find(|(_, m)| *m == member).map(|(slot, _)| slot);
        match found {
            Some(slot) => {
                p.remove(slot, 2);
                true
            }
            None => false,
        }
    }

    /// Removes a member; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Pack(p) => Self::pack_remove(p, member),
            ZSet::Skip(s) => s.remove(member),
        }
    }

    /// 0-based ascending rank of a member.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Pack(p) => Self::pairs(p).position(|(m, _)| m == member),
            ZSet::Skip(s) => {
                let score = score_bytes(s.dict.get(s.dict.find(member)?));
                let (run, off) = s.tree.position(&s.dict, (score, member));
                Some(s.tree.prefix(run) + off)
            }
        }
    }

    /// How many leading elements (in ascending order) satisfy `pred`, which must hold
    /// for a prefix of the order and not after it (score and lex range bounds).
    pub fn partition(&self, pred: impl Fn((f64, &[u8])) -> bool) -> usize {
        match self {
            ZSet::Pack(p) => Self::pairs(p).take_while(|&(m, s)| pred((s, m))).count(),
            ZSet::Skip(s) => s.tree.partition(|i| pred(key(&s.dict, i))),
        }
    }

    /// [`ZSet::partition`] for a predicate on scores only (score ranges): members are
    /// not read.
    pub fn partition_by_score(&self, pred: impl Fn(f64) -> bool) -> usize {
        match self {
            ZSet::Pack(p) => Self::pairs(p).take_while(|&(_, s)| pred(s)).count(),
            ZSet::Skip(s) => s.tree.partition(|i| pred(i.0)),
        }
    }

    /// Elements at ranks `start..end` (ascending ranks; clamped by the caller), in
    /// ascending order or, with `rev`, descending from `end - 1`.
    pub fn range(&self, start: usize, end: usize, rev: bool) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        let n = end.saturating_sub(start);
        match self {
            ZSet::Pack(p) => {
                let it = Self::pairs(p).skip(start).take(n);
                if rev { Box::new(it.collect::<Vec<_>>().into_iter().rev()) } else { Box::new(it) }
            }
            ZSet::Skip(s) => {
                if n == 0 {
                    return Box::new(std::iter::empty());
                }
                if rev {
                    Box::new(s.tree.iter_rev_from(&s.dict, end - 1).take(n))
                } else {
                    Box::new(s.tree.iter_from(&s.dict, start).take(n))
                }
            }
        }
    }

    /// The `i`th element in the dictionary's storage order (not by rank; i < len):
    /// O(1) in the large form, for picking random members.
    pub fn nth_stored(&self, i: usize) -> (&[u8], f64) {
        match self {
            ZSet::Pack(p) => Self::pairs(p).nth(i).expect("index below length"),
            ZSet::Skip(s) => {
                let r = s.dict.get(i);
                (member_of(r), score_bytes(r))
            }
        }
    }

    /// A uniformly random element; the set must not be empty.
    pub fn random(&self) -> (&[u8], f64) {
        match self {
            ZSet::Pack(p) => {
                let i = (super::random_u64() % (p.len() / 2) as u64) as usize;
                Self::pairs(p).nth(i).expect("in range")
            }
            ZSet::Skip(s) => {
                let r = s.dict.get(s.dict.random());
                (member_of(r), score_bytes(r))
            }
        }
    }

    /// One ZSCAN step (a packed set is returned whole, as Redis does).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<(&[u8], f64)>, u64) {
        match self {
            ZSet::Pack(p) => (Self::pairs(p).collect(), 0),
            ZSet::Skip(s) => {
                let (items, next) = s.dict.scan(cursor, count);
                (items.map(|r| (member_of(r), score_bytes(r))).collect(), next)
            }
        }
    }
}

/// The large form: member → score, and the order.
#[derive(Clone, Debug, PartialEq)]
pub struct Sorted {
    dict: Dense,
    tree: Chunks,
}

impl Default for Sorted {
    fn default() -> Sorted {
        Sorted { dict: Dense::new(member_of, 0), tree: Chunks::default() }
    }
}

impl Sorted {
    fn set(&mut self, member: &[u8], score: f64) {
        match self.dict.find(member) {
            Some(pos) => {
                let old = score_bytes(self.dict.get(pos));
                if old.to_bits() == score.to_bits() {
                    return;
                }
                self.tree.remove(&self.dict, (old, member));
                self.dict.replace(pos, record(member, score));
                self.tree.insert(&self.dict, score, pos);
            }
            None => {
                self.dict.insert(record(member, score));
                self.tree.insert(&self.dict, score, self.dict.len() - 1);
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(pos) = self.dict.find(member) else { return false };
        let score = score_bytes(self.dict.get(pos));
        self.tree.remove(&self.dict, (score, member));
        // The dictionary moves its last record into the hole: its place in the order
        // must point there first, while the record can still be read where it is.
        let last = self.dict.len() - 1;
        if pos != last {
            let r = self.dict.get(last);
            self.tree.repoint(&self.dict, (score_bytes(r), member_of(r)), pos);
        }
        self.dict.remove(pos);
        true
    }

    fn heap_size(&self, samples: usize) -> usize {
        std::mem::size_of::<Sorted>() + self.dict.heap_size(samples) + self.tree.heap_size()
    }
}

/// An item of the order: a score and where its member sits in the dictionary (16 bytes;
/// the member is not stored twice).
type Item = (f64, u32);

/// An order-statistic sequence: sorted runs of (score, dictionary position) plus a
/// Fenwick tree of the runs' lengths (prefix sums in O(log runs)). Members are read
/// from the dictionary to break score ties.
#[derive(Clone, Debug, Default, PartialEq)]
struct Chunks {
    runs: Vec<Vec<Item>>,
    /// 1-based Fenwick tree over `runs[i].len()`.
    fen: Vec<usize>,
}

/// Whether `item` orders before (score, member) `k`; its member is read only when the
/// scores tie (reading it costs a cache miss or two).
fn less(dict: &Dense, item: &Item, k: (f64, &[u8])) -> bool {
    match item.0.partial_cmp(&k.0) {
        Some(Ordering::Less) => true,
        Some(Ordering::Greater) => false,
        _ => member_of(dict.get(item.1 as usize)) < k.1,
    }
}

/// The (score, member) of an item.
fn key<'d>(dict: &'d Dense, item: &Item) -> (f64, &'d [u8]) {
    (item.0, member_of(dict.get(item.1 as usize)))
}

impl Chunks {
    fn heap_size(&self) -> usize {
        let items: usize = self.runs.iter().map(|r| super::entry::size_class(r.capacity() * 16)).sum();
        items + self.runs.capacity() * 24 + self.fen.capacity() * 8
    }

    /// Items in runs `0..run`.
    fn prefix(&self, run: usize) -> usize {
        let (mut i, mut sum) = (run, 0);
        while i > 0 {
            sum += self.fen[i];
            i &= i - 1;
        }
        sum
    }

    fn add(&mut self, run: usize, delta: isize) {
        let mut i = run + 1;
        while i < self.fen.len() {
            self.fen[i] = self.fen[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    fn rebuild(&mut self) {
        let n = self.runs.len();
        self.fen.clear();
        self.fen.resize(n + 1, 0);
        for i in 1..=n {
            self.fen[i] += self.runs[i - 1].len();
            let j = i + (i & i.wrapping_neg());
            if j <= n {
                self.fen[j] += self.fen[i];
            }
        }
    }

    /// The run holding rank `rank` and the offset in it.
    fn find(&self, rank: usize) -> (usize, usize) {
        let n = self.runs.len();
        let (mut pos, mut rem) = (0, rank);
        let mut step = if n == 0 { 0 } else { 1 << (usize::BITS - 1 - n.leading_zeros()) };
        while step > 0 {
            if pos + step <= n && self.fen[pos + step] <= rem {
                pos += step;
                rem -= self.fen[pos];
            }
            step >>= 1;
        }
        (pos, rem)
    }

    /// The run and offset of the first item not satisfying `pred` (a prefix predicate).
    fn locate(&self, pred: impl Fn(&Item) -> bool) -> (usize, usize) {
        let run = self.runs.partition_point(|r| r.last().is_some_and(&pred));
        match self.runs.get(run) {
            Some(r) => (run, r.partition_point(&pred)),
            None => (run, 0),
        }
    }

    fn partition(&self, pred: impl Fn(&Item) -> bool) -> usize {
        let (run, off) = self.locate(pred);
        self.prefix(run) + off
    }

    /// Adds the member at dictionary position `pos` with `score`.
    fn insert(&mut self, dict: &Dense, score: f64, pos: usize) {
        let (mut run, mut off) = self.position(dict, (score, member_of(dict.get(pos))));
        if self.runs.is_empty() {
            self.runs.push(Vec::new());
            self.rebuild();
        }
        if run == self.runs.len() {
            run -= 1;
            off = self.runs[run].len();
        }
        let r = &mut self.runs[run];
        // Runs are sized exactly (the allocator's size classes give growth room).
        r.reserve_exact(1);
        r.insert(off, (score, pos as u32));
        if r.len() > CHUNK {
            let tail = r.split_off(CHUNK / 2);
            r.shrink_to_fit();
            self.runs.insert(run + 1, tail);
            self.rebuild();
        } else {
            self.add(run, 1);
        }
    }

    /// Where an item with this (score, member) sits, or would be inserted.
    fn position(&self, dict: &Dense, k: (f64, &[u8])) -> (usize, usize) {
        self.locate(|item| less(dict, item, k))
    }

    /// Removes the item with this (score, member), which must be present.
    fn remove(&mut self, dict: &Dense, k: (f64, &[u8])) {
        let (run, off) = self.position(dict, k);
        self.runs[run].remove(off);
        let len = self.runs[run].len();
        if len == 0 {
            self.runs.remove(run);
            self.rebuild();
        } else if len < CHUNK / 8 && run + 1 < self.runs.len() && len + self.runs[run + 1].len() <= CHUNK {
            let next = self.runs.remove(run + 1);
            self.runs[run].extend(next);
            self.rebuild();
        } else {
            if self.runs[run].capacity() > 2 * len {
                self.runs[run].shrink_to_fit();
            }
            self.add(run, -1);
        }
    }

    /// The item with this (score, member) now lives at dictionary position `pos`.
    fn repoint(&mut self, dict: &Dense, k: (f64, &[u8]), pos: usize) {
        let (run, off) = self.position(dict, k);
        self.runs[run][off].1 = pos as u32;
    }

    fn iter_from<'a>(&'a self, dict: &'a Dense, rank: usize) -> impl Iterator<Item = (&'a [u8], f64)> {
        let (run, off) = self.find(rank);
        self.runs[run.min(self.runs.len())..]
            .iter()
            .enumerate()
            .flat_map(move |(i, r)| r[if i == 0 { off.min(r.len()) } else { 0 }..].iter())
            .map(move |i| {
                let (s, m) = key(dict, i);
                (m, s)
            })
    }

    fn iter_rev_from<'a>(&'a self, dict: &'a Dense, rank: usize) -> impl Iterator<Item = (&'a [u8], f64)> {
        let (run, off) = self.find(rank);
        let last = run.min(self.runs.len().saturating_sub(1));
        self.runs[..=last]
            .iter()
            .rev()
            .enumerate()
            .flat_map(move |(i, r)| r[..if i == 0 { (off + 1).min(r.len()) } else { r.len() }].iter().rev())
            .map(move |i| {
                let (s, m) = key(dict, i);
                (m, s)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_form_agrees_with_a_sorted_vector() {
        let enc = Encodings { zset_entries: 16, ..Encodings::default() };
        let mut z = ZSet::default();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let mut seed = 7u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..20_000 {
            let member = format!("m{}", rnd() % 600).into_bytes();
            if rnd() % 4 == 0 {
                let was = model.iter().position(|(_, m)| *m == member);
                assert_eq!(z.remove(&member), was.is_some());
                if let Some(i) = was {
                    model.remove(i);
                }
            } else {
                let score = (rnd() % 50) as f64 / 2.0;
                z.set(&member, score, &enc);
                model.retain(|(_, m)| *m != member);
                model.push((score, member.clone()));
                model.sort_by(|a, b| cmp((a.0, &a.1), (b.0, &b.1)));
            }
            assert_eq!(z.len(), model.len());
            if step % 97 == 0 {
                let all: Vec<(Vec<u8>, f64)> =
                    z.range(0, z.len(), false).map(|(m, s)| (m.to_vec(), s)).collect();
                let want: Vec<(Vec<u8>, f64)> = model.iter().map(|(s, m)| (m.clone(), *s)).collect();
                assert_eq!(all, want);
                let rev: Vec<Vec<u8>> = z.range(3, z.len().min(40), true).map(|(m, _)| m.to_vec()).collect();
                let want_rev: Vec<Vec<u8>> = model[3.min(model.len())..model.len().min(40)]
                    .iter()
                    .rev()
                    .map(|(_, m)| m.clone())
                    .collect();
                assert_eq!(rev, want_rev);
                for (i, (s, m)) in model.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(i));
                    assert_eq!(z.score(m), Some(*s));
                }
                let below = model.iter().filter(|(s, _)| *s < 10.0).count();
                assert_eq!(z.partition(|(s, _)| s < 10.0), below);
                assert_eq!(z.partition_by_score(|s| s < 10.0), below);
            }
        }
        assert_eq!(z.encoding_name(), "skiplist");
    }
}
