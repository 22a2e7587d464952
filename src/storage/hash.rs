//! Hashes: a [`Pack`] of alternating fields and values while small (Redis's listpack
//! encoding), a [`Dense`] table of `[field length][field][value]` records past
//! `hash-max-listpack-entries` / `hash-max-listpack-value` (Redis's hashtable).

use super::dense::Dense;
use super::entry::{read_varint, varint_len, write_varint};
use super::pack::Pack;
use super::value::Encodings;

#[derive(Clone, Debug, PartialEq)]
pub enum Hash {
    Pack(Pack),
    Table(Box<Dense>),
}

/// A field and its value.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// A table record's field.
fn field_of(record: &[u8]) -> &[u8] {
    let (n, h) = read_varint(record);
    &record[h..h + n]
}

fn split(record: &[u8]) -> (&[u8], &[u8]) {
    let (n, h) = read_varint(record);
    (&record[h..h + n], &record[h + n..])
}

fn record(field: &[u8], value: &[u8]) -> Box<[u8]> {
    let mut r = vec![0u8; varint_len(field.len()) + field.len() + value.len()];
    let h = write_varint(&mut r, field.len());
    r[h..h + field.len()].copy_from_slice(field);
    r[h + field.len()..].copy_from_slice(value);
    r.into_boxed_slice()
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::Pack(Pack::new())
    }
}

impl Hash {
    /// An empty hash in the form `fields` fields call for, sized for them (a snapshot
    /// being loaded knows how many come).
    pub fn with_capacity(fields: usize, enc: &Encodings) -> Hash {
        if fields <= enc.hash_entries {
            Hash::default()
        } else {
            Hash::Table(Box::new(Dense::new(field_of, fields)))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.len() / 2,
            Hash::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn heap_size(&self, samples: usize) -> usize {
        match self {
            Hash::Pack(p) => p.heap_size(),
            Hash::Table(t) => std::mem::size_of::<Dense>() + t.heap_size(samples),
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => {
                let mut it = p.iter();
                while let (Some(f), Some(v)) = (it.next(), it.next()) {
                    if f == field {
                        return Some(v);
                    }
                }
                None
            }
            Hash::Table(t) => t.find(field).map(|pos| split(t.get(pos)).1),
        }
    }

    /// Sets a field; returns true when the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], enc: &Encodings) -> bool {
        if let Hash::Pack(p) = self {
            let found = p.slots().step_by(2).find(|(_, f)| *f == field).map(|(s, _)| s);
            if let Some(fs) = found {
                let vs = p.at(fs.offset + fs.size).0;
                if value.len() <= enc.hash_value {
                    p.replace(vs, value);
                    return false;
                }
            } else if p.len() / 2 < enc.hash_entries
                && field.len() <= enc.hash_value
                && value.len() <= enc.hash_value
            {
                p.insert_at(p.end(), &[field, value]);
                return true;
            }
        }
        self.convert();
        let Hash::Table(t) = self else { unreachable!("converted above") };
        t.upsert(record(field, value)).is_none()
    }

    /// Moves a packed hash into a table.
    fn convert(&mut self) {
        let Hash::Pack(p) = self else { return };
        let mut t = Dense::new(field_of, p.len() / 2 + 1);
        let mut it = p.iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            t.insert(record(f, v));
        }
        *self = Hash::Table(Box::new(t));
    }

    /// Removes a field; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => {
                let found = p.slots().step_by(2).find(|(_, f)| *f == field).map(|(s, _)| s);
                let Some(slot) = found else { return false };
                p.remove(slot, 2);
                true
            }
            Hash::Table(t) => match t.find(field) {
                Some(pos) => {
                    t.remove(pos);
                    true
                }
                None => false,
            },
        }
    }

    /// Every (field, value), in storage order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pack(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Hash::Table(t) => Box::new(t.iter().map(split)),
        }
    }

    /// The `i`th (field, value) in storage order (i < len).
    pub fn nth(&self, i: usize) -> (&[u8], &[u8]) {
        match self {
            Hash::Pack(_) => self.iter().nth(i).expect("index below length"),
            Hash::Table(t) => split(t.get(i)),
        }
    }

    /// A uniformly random (field, value); the hash must not be empty.
    pub fn random(&self) -> (&[u8], &[u8]) {
        match self {
            Hash::Pack(p) => {
                let i = (super::random_u64() % (p.len() / 2) as u64) as usize;
                self.iter().nth(i).expect("index below length")
            }
            Hash::Table(t) => split(t.get(t.random())),
        }
    }

    /// One HSCAN step (a packed hash is returned whole, as Redis does).
    pub fn scan(&self, cursor: u64, count: usize) -> (Vec<Pair<'_>>, u64) {
        match self {
            Hash::Pack(_) => (self.iter().collect(), 0),
            Hash::Table(t) => {
                let (items, next) = t.scan(cursor, count);
                (items.map(split).collect(), next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_past_the_limits_and_keeps_every_field() {
        let enc = Encodings { hash_entries: 4, hash_value: 8, ..Encodings::default() };
        let mut h = Hash::default();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", &enc));
        }
        assert_eq!(h.encoding_name(), "listpack");
        assert!(!h.set(b"f1", b"v1", &enc));
        assert_eq!(h.get(b"f1"), Some(&b"v1"[..]));
        assert!(h.set(b"f4", b"v", &enc));
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f1"), Some(&b"v1"[..]));
        assert!(h.remove(b"f0"));
        assert!(!h.remove(b"f0"));
        assert_eq!(h.len(), 4);

        let mut long = Hash::default();
        long.set(b"a", b"short", &enc);
        long.set(b"a", b"a value longer than eight", &enc);
        assert_eq!(long.encoding_name(), "hashtable");
        assert_eq!(long.get(b"a"), Some(&b"a value longer than eight"[..]));
    }
}
