//! Sets: sorted integers while every member is one and there are at most
//! `set-max-intset-entries` (Redis's intset), a [`Pack`] while small
//! (`set-max-listpack-entries` / `-value`, Redis 7.2's listpack), a [`Dense`] table
//! beyond (hashtable).

use std::borrow::Cow;

use super::dense::Dense;
use super::pack::Pack;
use super::value::Encodings;
use crate::protocol::args::parse_i64;

#[derive(Clone, Debug, PartialEq)]
pub enum Set {
    Ints(Vec<i64>),
    Pack(Pack),
    Table(Box<Dense>),
}

fn whole(record: &[u8]) -> &[u8] {
    record
}

fn int_bytes(i: i64) -> Cow<'static, [u8]> {
    Cow::Owned(itoa::Buffer::new().format(i).as_bytes().to_vec())
}

impl Default for Set {
    fn default() -> Set {
        Set::Ints(Vec::new())
    }
}

impl Set {
    /// An empty set sized for `members` members when so many call for the large form
    /// whatever they are; None when the members decide (see [`Set::for_members`]).
    pub fn with_capacity(members: usize, enc: &Encodings) -> Option<Set> {
        (members > enc.set_intset_entries.max(enc.set_listpack_entries))
            .then(|| Set::Table(Box::new(Dense::new(whole, members))))
    }

    /// An empty set in the form its first members call for.
    pub fn for_members<T: AsRef<[u8]>>(members: &[T], enc: &Encodings) -> Set {
        if members.iter().all(|m| parse_i64(m.as_ref()).is_some()) {
            Set::Ints(Vec::new())
        } else if members.len() <= enc.set_listpack_entries
            && members.iter().all(|m| m.as_ref().len() <= enc.set_listpack_value)
        {
            Set::Pack(Pack::new())
        } else {
            Set::Table(Box::new(Dense::new(whole, members.len())))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Pack(p) => p.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Pack(_) => "listpack",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self, samples: usize) -> usize {
        match self {
            Set::Ints(v) => v.capacity() * 8,
            Set::Pack(p) => p.heap_size(),
            Set::Table(t) => std::mem::size_of::<Dense>() + t.heap_size(samples),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => parse_i64(member).is_some_and(|i| v.binary_search(&i).is_ok()),
            Set::Pack(p) => p.iter().any(|m| m == member),
            Set::Table(t) => t.find(member).is_some(),
        }
    }

    /// Adds a member; true when it is new.
    pub fn add(&mut self, member: &[u8], enc: &Encodings) -> bool {
        if let Set::Ints(v) = self
            && let Some(i) = parse_i64(member)
        {
            match v.binary_search(&i) {
                Ok(_) => return false,
                Err(at) if v.len() < enc.set_intset_entries => {
                    v.insert(at, i);
                    return true;
                }
                Err(_) => {}
            }
        }
        if let Set::Table(t) = self {
            return t.insert_new(Box::from(member));
        }
        if self.contains(member) {
            return false;
        }
        let packs = self.len() < enc.set_listpack_entries && member.len() <= enc.set_listpack_value;
        match self {
            Set::Ints(v) if packs => {
                let mut p = Pack::new();
                let mut buf = itoa::Buffer::new();
                for i in v.iter() {
                    p.push(buf.format(*i).as_bytes());
                }
                p.push(member);
                *self = Set::Pack(p);
            }
            Set::Pack(p) if packs => p.push(member),
            _ => {
                let mut t = Dense::new(whole, self.len() + 1);
                for m in self.iter() {
                    t.insert(Box::from(&m[..]));
                }
                t.insert(Box::from(member));
                *self = Set::Table(Box::new(t));
            }
        }
        true
    }

    /// Removes a member; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match parse_i64(member).map(|i| v.binary_search(&i)) {
                Some(Ok(at)) => {
                    v.remove(at);
                    true
                }
                _ => false,
            },
            Set::Pack(p) => {
                let found = p.slots().find(|(_, m)| *m == member).map(|(s, _)| s);
                match found {
                    Some(slot) => {
                        p.remove(slot, 1);
                        true
                    }
                    None => false,
                }
            }
            Set::Table(t) => match t.find(member) {
                Some(pos) => {
                    t.remove(pos);
                    true
                }
                None => false,
            },
        }
    }

    /// Every member, in storage order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match self {
            Set::Ints(v) => Box::new(v.iter().map(|&i| int_bytes(i))),
            Set::Pack(p) => Box::new(p.iter().map(Cow::Borrowed)),
            Set::Table(t) => Box::new(t.iter().map(Cow::Borrowed)),
        }
    }

    /// The `i`th member in storage order (i < len).
    pub fn nth(&self, i: usize) -> Cow<'_, [u8]> {
        match self {
            Set::Ints(v) => int_bytes(v[i]),
            Set::Pack(p) => Cow::Borrowed(p.get(i).expect("index below length")),
            Set::Table(t) => Cow::Borrowed(t.get(i)),
        }
    }

    /// A uniformly random member; the set must not be empty.
    pub fn random(&self) -> Cow<'_, [u8]> {
        let n = self.len() as u64;
        match self {
            Set::Ints(v) => int_bytes(v[(super::random_u64() % n) as usize]),
            Set::Pack(p) => Cow::Borrowed(p.get((super::random_u64() % n) as usize).expect("in range")),
            Set::Table(t) => Cow::Borrowed(t.get(t.random())),
        }
    }

    /// Removes and returns a random member (the set must not be empty).
    pub fn pop_random(&mut self) -> Vec<u8> {
        let member = self.random().into_owned();
        self.remove(&member);
        member
    }

    /// One SSCAN step (small forms are returned whole, as Redis does).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<Cow<'_, [u8]>>, u64) {
        match self {
            Set::Table(t) => {
                let (items, next) = t.scan(cursor, count);
                (items.map(Cow::Borrowed).collect(), next)
            }
            _ => (self.iter().collect(), 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_from_intset_to_listpack_to_hashtable() {
        let enc = Encodings { set_intset_entries: 3, set_listpack_entries: 5, ..Encodings::default() };
        let mut s = Set::default();
        for m in [&b"3"[..], b"1", b"2"] {
            assert!(s.add(m, &enc));
        }
        assert!(!s.add(b"2", &enc));
        assert_eq!(s.encoding_name(), "intset");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![&b"1"[..], b"2", b"3"]);
        assert!(s.add(b"4", &enc));
        assert_eq!(s.encoding_name(), "listpack");
        assert!(s.add(b"x", &enc));
        assert!(s.add(b"y", &enc));
        assert_eq!(s.encoding_name(), "hashtable");
        assert_eq!(s.len(), 6);
        for m in [&b"1"[..], b"2", b"3", b"4", b"x", b"y"] {
            assert!(s.contains(m));
        }
        assert!(s.remove(b"x"));
        assert!(!s.contains(b"x"));
        assert!(!s.contains(b"01"));
    }
}
