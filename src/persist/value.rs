//! Values to and from RDB: which RDB type each stored value is written as (the one
//! Redis 7.0 would use for the same encoding), and every RDB type Redis 1.x to 7.0
//! wrote, read back into slotcache's types.

use std::io::Write;

use super::pack::{self, Item, ListpackWriter};
use super::rdb::*;
use crate::protocol::reply::d2string;
use crate::storage::capture::Part;
use crate::storage::{Collection, Encodings, Hash, List, Object, Set, ValueRef, ZSet};

/// `list-max-listpack-size -2`: Redis's quicklist nodes hold up to 8 KiB.
const QUICKLIST_NODE_BYTES: usize = 8 * 1024;

/// The RDB type `value` is written as.
pub fn rdb_type(value: &ValueRef<'_>) -> u8 {
    match value {
        ValueRef::Str(_) | ValueRef::Int(_) | ValueRef::Obj(Object::Str(_)) => TYPE_STRING,
        ValueRef::Obj(Object::List(_)) => TYPE_LIST_QUICKLIST_2,
        ValueRef::Obj(Object::Hash(Hash::Pack(_))) => TYPE_HASH_LISTPACK,
        ValueRef::Obj(Object::Hash(_)) => TYPE_HASH,
        ValueRef::Obj(Object::Set(Set::Ints(_))) => TYPE_SET_INTSET,
        ValueRef::Obj(Object::Set(_)) => TYPE_SET,
        ValueRef::Obj(Object::ZSet(ZSet::Pack(_))) => TYPE_ZSET_LISTPACK,
        ValueRef::Obj(Object::ZSet(_)) => TYPE_ZSET_2,
    }
}

/// Writes `value`'s payload in its [`rdb_type`]'s layout.
pub fn write<W: Write>(w: &mut Writer<W>, value: &ValueRef<'_>) -> std::io::Result<()> {
    match value {
        ValueRef::Str(s) => w.string(s),
        ValueRef::Int(i) => w.int_string(*i),
        ValueRef::Obj(Object::Str(s)) => w.string(s),
        ValueRef::Obj(Object::List(l)) => {
            // Listpack nodes of up to 8 KiB, as Redis's quicklist keeps them.
            let mut nodes = Vec::new();
            let mut node = ListpackWriter::new();
            for item in l.range(0, l.len()) {
                if !node.is_empty() && node.len() + item.len() + 10 > QUICKLIST_NODE_BYTES {
                    nodes.push(std::mem::replace(&mut node, ListpackWriter::new()).finish());
                }
                node.push(item);
            }
            if !node.is_empty() {
                nodes.push(node.finish());
            }
            w.length(nodes.len() as u64)?;
            for n in &nodes {
                w.length(CONTAINER_PACKED)?;
                w.string(n)?;
            }
            Ok(())
        }
        ValueRef::Obj(Object::Hash(h)) => match h {
            Hash::Pack(_) => {
                let mut lp = ListpackWriter::new();
                for (f, v) in h.iter() {
                    lp.push(f);
                    lp.push(v);
                }
                w.string(&lp.finish())
            }
            _ => {
                w.length(h.len() as u64)?;
                for (f, v) in h.iter() {
                    w.string(f)?;
                    w.string(v)?;
                }
                Ok(())
            }
        },
        ValueRef::Obj(Object::Set(s)) => match s {
            Set::Ints(ints) => {
                let mut sorted = ints.clone();
                sorted.sort_unstable();
                w.string(&pack::intset_blob(&sorted))
            }
            _ => {
                w.length(s.len() as u64)?;
                for m in s.iter() {
                    w.string(&m)?;
                }
                Ok(())
            }
        },
        ValueRef::Obj(Object::ZSet(z)) => match z {
            ZSet::Pack(_) => {
                let mut lp = ListpackWriter::new();
                for (m, score) in z.range(0, z.len(), false) {
                    lp.push(m);
                    lp.push(d2string(score).as_bytes());
                }
                w.string(&lp.finish())
            }
            _ => {
                // Greatest first, as Redis writes them (each loads at the head).
                w.length(z.len() as u64)?;
                for (m, score) in z.range(0, z.len(), true) {
                    w.string(m)?;
                    w.double(score)?;
                }
                Ok(())
            }
        },
    }
}

/// Values larger than this (elements of a hash, set or sorted set table or of a list
/// beyond one node; bytes of a string) are written in parts ([`write_part`]), so that a
/// background snapshot holds its shard's lock for one part at a time.
pub const PART_ELEMENTS: usize = 4096;
pub const PART_BYTES: usize = 1 << 20;

/// Whether `value` is written in parts rather than whole.
pub fn in_parts(value: &ValueRef<'_>) -> bool {
    if let Some(s) = string_of(value) {
        return s.len() > PART_BYTES;
    }
    match value {
        ValueRef::Obj(Object::List(l @ List::Deque(_))) => l.len() > PART_ELEMENTS,
        ValueRef::Obj(Object::Hash(h @ Hash::Table(_))) => h.len() > PART_ELEMENTS,
        ValueRef::Obj(Object::Set(s @ Set::Table(_))) => s.len() > PART_ELEMENTS,
        ValueRef::Obj(Object::ZSet(z @ ZSet::Skip(_))) => z.len() > PART_ELEMENTS,
        _ => false,
    }
}

fn string_of<'a>(value: &'a ValueRef<'_>) -> Option<&'a [u8]> {
    match value {
        ValueRef::Str(s) => Some(s),
        ValueRef::Obj(Object::Str(s)) => Some(s),
        _ => None,
    }
}

/// Writes the next part of a value [`in_parts`] (its length first, from
/// [`Part::START`]): up to [`PART_ELEMENTS`] elements or [`PART_BYTES`] bytes. The value
/// must not change between parts. Returns whether the value is complete. Together the
/// parts are the value in its [`rdb_type`]'s layout: a string without LZF, a list as
/// nodes of a fixed number of elements (about 8 KiB each on average).
pub fn write_part<W: Write>(
    w: &mut Writer<W>,
    value: &ValueRef<'_>,
    part: &mut Part,
) -> std::io::Result<bool> {
    let start = part.next;
    if let Some(s) = string_of(value) {
        if start == 0 {
            w.length(s.len() as u64)?;
        }
        let end = (start + PART_BYTES).min(s.len());
        w.raw(&s[start..end])?;
        part.next = end;
        return Ok(end >= s.len());
    }
    let ValueRef::Obj(o) = value else { unreachable!("integers are written whole") };
    let len = o.len();
    let mut end = (start + PART_ELEMENTS).min(len);
    match o {
        Object::Str(_) => unreachable!("strings are written above"),
        Object::List(l) => {
            if start == 0 {
                let avg = l.bytes() / len.max(1) + 10;
                part.per_node = (QUICKLIST_NODE_BYTES / avg.max(1)).max(1);
                w.length(len.div_ceil(part.per_node) as u64)?;
            }
            // Whole nodes only.
            end = (start + PART_ELEMENTS.next_multiple_of(part.per_node)).min(len);
            let items: Vec<&[u8]> = l.range(start, end).collect();
            for node in items.chunks(part.per_node) {
                let mut lp = ListpackWriter::new();
                node.iter().for_each(|item| lp.push(item));
                w.length(CONTAINER_PACKED)?;
                w.string(&lp.finish())?;
            }
        }
        Object::Hash(h) => {
            if start == 0 {
                w.length(len as u64)?;
            }
            for i in start..end {
                let (f, v) = h.nth(i);
                w.string(f)?;
                w.string(v)?;
            }
        }
        Object::Set(set) => {
            if start == 0 {
                w.length(len as u64)?;
            }
            for i in start..end {
                w.string(&set.nth(i))?;
            }
        }
        Object::ZSet(z) => {
            if start == 0 {
                w.length(len as u64)?;
            }
            // Greatest first, as whole: parts walk the ranks downwards.
            for (m, score) in z.range(len - end, len - start, true) {
                w.string(m)?;
                w.double(score)?;
            }
        }
    }
    part.next = end;
    Ok(end >= len)
}

/// A value read back.
pub enum Loaded {
    Str(Vec<u8>),
    Obj(Object),
    /// A collection with no elements (Redis skips those keys when loading a file).
    Empty,
}

/// Reads a value of RDB type `kind`, building it in the forms `enc` calls for.
pub fn read<R: std::io::Read>(r: &mut Reader<R>, kind: u8, enc: &Encodings) -> Result<Loaded> {
    let bad = |r: &Reader<R>, why: pack::PackError| r.error(why);
    let obj = match kind {
        TYPE_STRING => return Ok(Loaded::Str(r.string()?)),
        TYPE_LIST => {
            let n = r.count(1)?;
            let items = (0..n).map(|_| r.string()).collect::<Result<Vec<_>>>()?;
            list(items, enc)
        }
        TYPE_LIST_ZIPLIST => {
            let blob = r.string()?;
            list(bytes_of(pack::ziplist_items(&blob).map_err(|e| bad(r, e))?), enc)
        }
        TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => {
            let nodes = r.count(2)?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                let container = if kind == TYPE_LIST_QUICKLIST_2 { r.length()? } else { CONTAINER_PACKED };
                let blob = r.string()?;
                match (container, kind) {
                    (CONTAINER_PLAIN, _) => items.push(blob),
                    (CONTAINER_PACKED, TYPE_LIST_QUICKLIST) => {
                        items.extend(bytes_of(pack::ziplist_items(&blob).map_err(|e| bad(r, e))?))
                    }
                    (CONTAINER_PACKED, _) => {
                        let mut digits = itoa::Buffer::new();
                        let added = pack::listpack_each(&blob, |e| match e {
                            pack::Entry::Int(i) => items.push(digits.format(i).as_bytes().to_vec()),
                            pack::Entry::Bytes(b) => items.push(b.to_vec()),
                        })
                        .map_err(|e| bad(r, e))?;
                        if added == 0 {
                            return Err(r.error("an empty quicklist node"));
                        }
                    }
                    (other, _) => return Err(r.error(format!("unknown quicklist container {other}"))),
                }
            }
            list(items, enc)
        }
        TYPE_SET => {
            let n = r.count(1)?;
            match Set::with_capacity(n, enc) {
                // Large: members go in as they are read, through one buffer.
                Some(mut s) => {
                    let mut m = Vec::new();
                    for _ in 0..n {
                        r.string_into(&mut m)?;
                        add_member(r, &mut s, &m, enc)?;
                    }
                    Some(s.into_object())
                }
                None => {
                    let members = (0..n).map(|_| r.string()).collect::<Result<Vec<_>>>()?;
                    set(r, members, enc)?
                }
            }
        }
        TYPE_SET_INTSET => {
            let blob = r.string()?;
            let ints = pack::intset_items(&blob).map_err(|e| bad(r, e))?;
            set(r, bytes_of(ints.into_iter().map(Item::Int).collect()), enc)?
        }
        TYPE_ZSET | TYPE_ZSET_2 => {
            let n = r.count(2)?;
            let read_pair = |r: &mut Reader<R>, m: &mut Vec<u8>| -> Result<f64> {
                r.string_into(m)?;
                if kind == TYPE_ZSET_2 { r.double() } else { r.text_double() }
            };
            if n > enc.zset_entries {
                // Large: members go in as they are read, through one buffer.
                let mut z = ZSet::with_capacity(n, 0, enc);
                let mut m = Vec::new();
                for _ in 0..n {
                    let score = read_pair(r, &mut m)?;
                    add_scored(r, &mut z, &m, score, enc)?;
                }
                Some(z.into_object())
            } else {
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let mut m = Vec::new();
                    let score = read_pair(r, &mut m)?;
                    pairs.push((m, score));
                }
                zset(r, pairs, enc)?
            }
        }
        TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => {
            let blob = r.string()?;
            let items = if kind == TYPE_ZSET_ZIPLIST {
                pack::ziplist_items(&blob)
            } else {
                pack::listpack_items(&blob)
            }
            .map_err(|e| bad(r, e))?;
            if items.len() % 2 != 0 {
                return Err(r.error("a sorted set blob with an odd number of entries"));
            }
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(m), Some(s)) = (it.next(), it.next()) {
                let score = match s {
                    Item::Int(i) => i as f64,
                    Item::Bytes(b) => crate::protocol::args::parse_f64(&b)
                        .ok_or_else(|| r.error("a sorted set score that is not a number"))?,
                };
                pairs.push((m.into_bytes(), score));
            }
            zset(r, pairs, enc)?
        }
        TYPE_HASH => {
            let n = r.count(2)?;
            if n == 0 {
                None
            } else {
                let mut h = Hash::with_capacity(n, enc);
                let (mut f, mut v) = (Vec::new(), Vec::new());
                for _ in 0..n {
                    r.string_into(&mut f)?;
                    r.string_into(&mut v)?;
                    set_field(r, &mut h, &f, &v, enc)?;
                }
                Some(h.into_object())
            }
        }
        TYPE_HASH_ZIPMAP | TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => {
            let blob = r.string()?;
            let items = match kind {
                TYPE_HASH_ZIPMAP => pack::zipmap_items(&blob),
                TYPE_HASH_ZIPLIST => pack::ziplist_items(&blob),
                _ => pack::listpack_items(&blob),
            }
            .map_err(|e| bad(r, e))?;
            if items.len() % 2 != 0 {
                return Err(r.error("a hash blob with an odd number of entries"));
            }
            hash(r, bytes_of(items), enc)?
        }
        TYPE_MODULE | TYPE_MODULE_2 => return Err(r.error("a module value (modules are not supported)")),
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => {
            return Err(r.error("a stream (streams are not supported yet)"));
        }
        other => return Err(r.error(format!("unknown value type {other}"))),
    };
    Ok(match obj {
        Some(o) => Loaded::Obj(o),
        None => Loaded::Empty,
    })
}

/// Redis's name for an RDB type, for messages.
pub fn type_name(kind: u8) -> &'static str {
    match kind {
        TYPE_STRING => "string",
        TYPE_LIST | TYPE_LIST_ZIPLIST | TYPE_LIST_QUICKLIST | TYPE_LIST_QUICKLIST_2 => "list",
        TYPE_SET | TYPE_SET_INTSET => "set",
        TYPE_ZSET | TYPE_ZSET_2 | TYPE_ZSET_ZIPLIST | TYPE_ZSET_LISTPACK => "zset",
        TYPE_HASH | TYPE_HASH_ZIPMAP | TYPE_HASH_ZIPLIST | TYPE_HASH_LISTPACK => "hash",
        TYPE_MODULE | TYPE_MODULE_2 => "module",
        TYPE_STREAM_LISTPACKS | TYPE_STREAM_LISTPACKS_2 => "stream",
        _ => "unknown",
    }
}

fn bytes_of(items: Vec<Item>) -> Vec<Vec<u8>> {
    items.into_iter().map(Item::into_bytes).collect()
}

fn list(items: Vec<Vec<u8>>, enc: &Encodings) -> Option<Object> {
    if items.is_empty() {
        return None;
    }
    let mut l = List::default();
    l.push(&items, false, enc);
    Some(l.into_object())
}

fn set<R: std::io::Read>(r: &Reader<R>, members: Vec<Vec<u8>>, enc: &Encodings) -> Result<Option<Object>> {
    if members.is_empty() {
        return Ok(None);
    }
    let mut s = Set::for_members(&members, enc);
    for m in &members {
        add_member(r, &mut s, m, enc)?;
    }
    Ok(Some(s.into_object()))
}

/// Adds one member of a set being read; a member twice is corrupt data.
fn add_member<R: std::io::Read>(r: &Reader<R>, s: &mut Set, m: &[u8], enc: &Encodings) -> Result<()> {
    if !s.add(m, enc) {
        return Err(r.error("duplicate set members"));
    }
    Ok(())
}

/// Sets one field of a hash being read; a field twice is corrupt data.
fn set_field<R: std::io::Read>(
    r: &Reader<R>,
    h: &mut Hash,
    f: &[u8],
    v: &[u8],
    enc: &Encodings,
) -> Result<()> {
    if !h.set(f, v, enc) {
        return Err(r.error("duplicate hash fields"));
    }
    Ok(())
}

/// Adds one member of a sorted set being read; a NaN score or a member twice is corrupt
/// data.
fn add_scored<R: std::io::Read>(
    r: &Reader<R>,
    z: &mut ZSet,
    m: &[u8],
    score: f64,
    enc: &Encodings,
) -> Result<()> {
    if score.is_nan() {
        return Err(r.error("a sorted set with a NaN score"));
    }
    if z.score(m).is_some() {
        return Err(r.error("duplicate sorted set members"));
    }
    z.set(m, score, enc);
    Ok(())
}

fn hash<R: std::io::Read>(r: &Reader<R>, items: Vec<Vec<u8>>, enc: &Encodings) -> Result<Option<Object>> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut h = Hash::with_capacity(items.len() / 2, enc);
    for pair in items.chunks(2) {
        set_field(r, &mut h, &pair[0], &pair[1], enc)?;
    }
    Ok(Some(h.into_object()))
}

fn zset<R: std::io::Read>(
    r: &Reader<R>,
    pairs: Vec<(Vec<u8>, f64)>,
    enc: &Encodings,
) -> Result<Option<Object>> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let longest = pairs.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_capacity(pairs.len(), longest, enc);
    for (m, score) in &pairs {
        add_scored(r, &mut z, m, *score, enc)?;
    }
    Ok(Some(z.into_object()))
}
