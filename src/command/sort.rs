//! SORT and SORT_RO: sorting a list, set or sorted set by its elements or by external
//! keys (`BY weight_*`, `BY hash_*->field`), with LIMIT, GET patterns, ALPHA, DESC and
//! STORE (as a list).

use std::cmp::Ordering;

use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::cluster::slot::{key_slot, pattern_slot};
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::server::pubsub::events;
use crate::storage::{List, Object, ValueRef};

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sort", -2, WRITE | DENYOOM | MOVABLE_KEYS, sort)
        .keys(1, 1, 1)
        .key_after("STORE")
        .acl(SET | SORTEDSET | LIST | DANGEROUS)
        .group("generic")
        .doc("Sorts the elements in a list, a set, or a sorted set, optionally storing the result.", "1.0.0"),
    CommandSpec::new("sort_ro", -2, READONLY | MOVABLE_KEYS, sort_ro)
        .keys(1, 1, 1)
        .acl(SET | SORTEDSET | LIST | DANGEROUS)
        .group("generic")
        .doc("Returns the sorted elements of a list, a set, or a sorted set.", "7.0.0"),
];

struct SortArgs<'a> {
    by: Option<&'a [u8]>,
    limit: Option<(i64, i64)>,
    get: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    store: Option<&'a Bytes>,
}

/// `cluster`: the sorted key's slot in cluster mode, where BY and GET patterns must
/// name keys of that slot (Redis 7.0's rule).
fn parse(argv: &[Bytes], read_only: bool, cluster: Option<u16>) -> Result<SortArgs<'_>, CommandError> {
    let elsewhere = |pattern: &[u8]| cluster.is_some_and(|slot| pattern_slot(pattern) != Some(slot));
    let mut a = SortArgs { by: None, limit: None, get: Vec::new(), desc: false, alpha: false, store: None };
    let mut i = 2;
    while i < argv.len() {
        let opt = &argv[i];
        let left = argv.len() - i - 1;
        if args::is(opt, "ASC") {
            a.desc = false;
        } else if args::is(opt, "DESC") {
            a.desc = true;
        } else if args::is(opt, "ALPHA") {
            a.alpha = true;
        } else if args::is(opt, "LIMIT") && left >= 2 {
            a.limit = Some((args::int(&argv[i + 1])?, args::int(&argv[i + 2])?));
            i += 2;
        } else if args::is(opt, "STORE") && left >= 1 && !read_only {
            a.store = Some(&argv[i + 1]);
            i += 1;
        } else if args::is(opt, "BY") && left >= 1 {
            let by = &argv[i + 1];
            if by.contains(&b'*') && elsewhere(by) {
                return Err(CommandError::new(
                    "ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.",
                ));
            }
            a.by = Some(by);
            i += 1;
        } else if args::is(opt, "GET") && left >= 1 {
            let get = &argv[i + 1];
            if &get[..] != b"#" && elsewhere(get) {
                return Err(CommandError::new(
                    "ERR GET option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.",
                ));
            }
            a.get.push(get);
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    Ok(a)
}

/// Looks a pattern up for `element`: `#` is the element itself; otherwise the first `*`
/// is replaced by it, naming a string key, or a hash field with `key->field`.
fn lookup(ctx: &Ctx<'_>, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let (key_pat, field) = match pattern.windows(2).rposition(|w| w == b"->") {
        Some(p) if p > star && p + 2 < pattern.len() => (&pattern[..p], Some(&pattern[p + 2..])),
        _ => (pattern, None),
    };
    let mut key = Vec::with_capacity(key_pat.len() + element.len());
    key.extend_from_slice(&key_pat[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&key_pat[star + 1..]);
    let slot = key_slot(&key);
    let mut shard = ctx.server.keyspace.lock(slot);
    let e = shard.get(ctx.db(), slot, &key, ctx.now)?;
    let value = e.into_entry().value();
    let mut scratch = itoa::Buffer::new();
    match (field, &value) {
        (None, v) => v.as_str(&mut scratch).map(<[u8]>::to_vec),
        (Some(f), ValueRef::Obj(Object::Hash(h))) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// The type of the key being sorted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Set,
    ZSet,
}

fn run(ctx: &mut Ctx<'_>, argv: &[Bytes], read_only: bool) -> CmdResult {
    let a = parse(argv, read_only, ctx.server.cluster.as_ref().map(|_| key_slot(&argv[1])))?;
    // The elements, copied out so pattern lookups can lock other shards.
    let (kind, elements): (Kind, Vec<Vec<u8>>) = {
        let mut shard = ctx.shard();
        match shard.get(ctx.db(), ctx.slot, &argv[1], ctx.now) {
            None => (Kind::List, Vec::new()),
            Some(e) => match e.into_entry().value() {
                ValueRef::Obj(Object::List(l)) => {
                    (Kind::List, l.range(0, l.len()).map(<[u8]>::to_vec).collect())
                }
                ValueRef::Obj(Object::Set(s)) => (Kind::Set, s.iter().map(|m| m.into_owned()).collect()),
                ValueRef::Obj(Object::ZSet(z)) => {
                    (Kind::ZSet, z.range(0, z.len(), false).map(|(m, _)| m.to_vec()).collect())
                }
                _ => return Err(error::WRONGTYPE),
            },
        }
    };
    let mut a = a;
    let mut elements = elements;
    let mut sorting = a.by.is_none_or(|p| p.contains(&b'*'));
    if !sorting && kind == Kind::Set && a.store.is_some() {
        // A set has no order of its own: what is stored must not depend on its layout,
        // so Redis sorts it by the elements (ALPHA) even BY a constant.
        sorting = true;
        a.alpha = true;
        a.by = None;
    } else if !sorting && kind != Kind::Set && a.desc {
        // Lists and sorted sets keep their own order, reversed by DESC.
        elements.reverse();
    }
    let mut items: Vec<(Vec<u8>, Option<Vec<u8>>, f64)> = Vec::with_capacity(elements.len());
    for el in elements {
        let weight = match a.by {
            Some(p) if sorting => lookup(ctx, p, &el),
            _ => None,
        };
        let score = if a.alpha || !sorting {
            0.0
        } else {
            match weight.as_deref().or(if a.by.is_none() { Some(&el[..]) } else { None }) {
                Some(w) => args::parse_f64(w).ok_or(error::SORT_NOT_DOUBLE)?,
                None => 0.0,
            }
        };
        items.push((el, weight, score));
    }
    if sorting {
        items.sort_by(|x, y| {
            let ord = if a.alpha {
                match a.by {
                    Some(_) => x.1.cmp(&y.1),
                    None => x.0.cmp(&y.0),
                }
            } else {
                x.2.partial_cmp(&y.2).unwrap_or(Ordering::Equal).then_with(|| x.0.cmp(&y.0))
            };
            if a.desc { ord.reverse() } else { ord }
        });
    }
    let (start, count) = a.limit.unwrap_or((0, -1));
    let start = start.max(0) as usize;
    let take = if count < 0 { usize::MAX } else { count as usize };
    let selected: Vec<Vec<u8>> = items.into_iter().skip(start).take(take).map(|(el, _, _)| el).collect();
    let rows: Vec<Option<Vec<u8>>> = if a.get.is_empty() {
        selected.into_iter().map(Some).collect()
    } else {
        selected.iter().flat_map(|el| a.get.iter().map(|p| lookup(ctx, p, el)).collect::<Vec<_>>()).collect()
    };
    match a.store {
        Some(dst) => {
            let enc = ctx.encodings();
            let mut list = List::default();
            let values: Vec<Vec<u8>> = rows.into_iter().map(Option::unwrap_or_default).collect();
            list.push(&values, false, &enc);
            let n = list.len();
            let slot = key_slot(dst);
            let mut shard = ctx.server.keyspace.lock(slot);
            ctx.store(&mut shard, slot, dst, list, events::LIST, "sortstore");
            ctx.changed_elements(n);
            ctx.out.int(n as i64);
        }
        None => {
            ctx.out.array(rows.len());
            for r in rows {
                match r {
                    Some(v) => ctx.out.bulk(&v),
                    None => ctx.out.null(),
                }
            }
        }
    }
    Ok(())
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC | DESC] [ALPHA]
/// [STORE destination]
fn sort(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    run(ctx, argv, false)
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC | DESC] [ALPHA]
fn sort_ro(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    run(ctx, argv, true)
}
