//! List commands: pushes and pops at both ends, ranges, LPOS, LMOVE, LMPOP.
//! The blocking variants live in [`super::blocking`].

use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::cluster::slot::key_slot;
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::server::pubsub::events;
use crate::storage::List;

const L: u32 = LIST;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, WRITE | DENYOOM | FAST, lpush).keys(1, 1, 1).acl(L).group("list")
        .doc("Prepends one or more elements to a list. Creates the key if it doesn't exist.", "1.0.0"),
    CommandSpec::new("rpush", -3, WRITE | DENYOOM | FAST, rpush).keys(1, 1, 1).acl(L).group("list")
        .doc("Appends one or more elements to a list. Creates the key if it doesn't exist.", "1.0.0"),
    CommandSpec::new("lpushx", -3, WRITE | DENYOOM | FAST, lpushx).keys(1, 1, 1).acl(L).group("list")
        .doc("Prepends one or more elements to a list only when the list exists.", "2.2.0"),
    CommandSpec::new("rpushx", -3, WRITE | DENYOOM | FAST, rpushx).keys(1, 1, 1).acl(L).group("list")
        .doc("Appends an element to a list only when the list exists.", "2.2.0"),
    CommandSpec::new("lpop", -2, WRITE | FAST, lpop).keys(1, 1, 1).acl(L).group("list")
        .doc("Returns the first elements in a list after removing it. Deletes the list if the last element was popped.", "1.0.0"),
    CommandSpec::new("rpop", -2, WRITE | FAST, rpop).keys(1, 1, 1).acl(L).group("list")
        .doc("Returns and removes the last elements of a list. Deletes the list if the last element was popped.", "1.0.0"),
    CommandSpec::new("llen", 2, READONLY | FAST, llen).keys(1, 1, 1).acl(L).group("list")
        .doc("Returns the length of a list.", "1.0.0"),
    CommandSpec::new("lrange", 4, READONLY, lrange).keys(1, 1, 1).acl(L).group("list")
        .doc("Returns a range of elements from a list.", "1.0.0"),
    CommandSpec::new("lindex", 3, READONLY, lindex).keys(1, 1, 1).acl(L).group("list")
        .doc("Returns an element from a list by its index.", "1.0.0"),
    CommandSpec::new("lset", 4, WRITE | DENYOOM, lset).keys(1, 1, 1).acl(L).group("list")
        .doc("Sets the value of an element in a list by its index.", "1.0.0"),
    CommandSpec::new("linsert", 5, WRITE | DENYOOM, linsert).keys(1, 1, 1).acl(L).group("list")
        .doc("Inserts an element before or after another element in a list.", "2.2.0"),
    CommandSpec::new("lrem", 4, WRITE, lrem).keys(1, 1, 1).acl(L).group("list")
        .doc("Removes elements from a list. Deletes the list if the last element was removed.", "1.0.0"),
    CommandSpec::new("ltrim", 4, WRITE, ltrim).keys(1, 1, 1).acl(L).group("list")
        .doc("Removes elements from both ends a list. Deletes the list if all elements were trimmed.", "1.0.0"),
    CommandSpec::new("lpos", -3, READONLY, lpos).keys(1, 1, 1).acl(L).group("list")
        .doc("Returns the index of matching elements in a list.", "6.0.6"),
    CommandSpec::new("lmove", 5, WRITE | DENYOOM, lmove).keys(1, 2, 1).acl(L).group("list")
        .doc("Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.", "6.2.0"),
    CommandSpec::new("rpoplpush", 3, WRITE | DENYOOM, rpoplpush).keys(1, 2, 1).acl(L).group("list")
        .doc("Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.", "1.2.0"),
    CommandSpec::new("lmpop", -4, WRITE, lmpop).numkeys(1).acl(L).group("list")
        .doc("Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.", "7.0.0"),
];

/// Redis's start/stop index pair (negative from the end, inclusive stop) as a clamped
/// half-open range; None when empty.
pub fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let stop = if stop < 0 { len + stop } else { stop.min(len - 1) };
    if start > stop || start >= len { None } else { Some((start as usize, stop as usize + 1)) }
}

/// A non-negative or negative index into a list of `len`.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

fn push(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool, only_existing: bool) -> CmdResult {
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let key = &argv[1];
    let (list, existed) = if only_existing {
        match ctx.write::<List>(&mut shard, ctx.slot, key)? {
            Some(l) => (l, true),
            None => {
                ctx.out.int(0);
                return Ok(());
            }
        }
    } else {
        ctx.upsert(&mut shard, ctx.slot, key, List::default)?
    };
    list.push(&argv[2..], front, &enc);
    let len = list.len();
    drop(shard);
    ctx.written(events::LIST, if front { "lpush" } else { "rpush" }, key, existed);
    ctx.changed_elements(argv.len() - 2);
    ctx.out.int(len as i64);
    Ok(())
}

/// LPUSH key element [element ...]
fn lpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, true, false)
}

/// RPUSH key element [element ...]
fn rpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, false, false)
}

/// LPUSHX key element [element ...]
fn lpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, true, true)
}

/// RPUSHX key element [element ...]
fn rpushx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    push(ctx, argv, false, true)
}

/// Pops up to `count` elements from the list at `key` (in `slot`); None when the key
/// does not exist. Emits the pop event and deletes an emptied list.
pub fn pop_from(
    ctx: &Ctx<'_>,
    shard: &mut crate::storage::Shard,
    slot: u16,
    key: &[u8],
    count: usize,
    front: bool,
) -> Result<Option<Vec<Box<[u8]>>>, CommandError> {
    let enc = ctx.encodings();
    let Some(list) = ctx.write::<List>(shard, slot, key)? else { return Ok(None) };
    let items = list.pop(count, front, &enc);
    let emptied = list.is_empty();
    let event = (events::LIST, if front { "lpop" } else { "rpop" });
    ctx.removed_from(shard, slot, key, event, !items.is_empty(), emptied);
    ctx.changed_elements(items.len());
    Ok(Some(items))
}

/// The optional count of LPOP, RPOP, SPOP, ZPOPMIN, ZPOPMAX: non-negative.
pub fn pop_count(arg: Option<&Bytes>) -> Result<Option<usize>, CommandError> {
    arg.map(|c| args::uint(c, error::NOT_POSITIVE).map(|n| n as usize)).transpose()
}

/// LPOP/RPOP key [count]
fn pop(ctx: &mut Ctx<'_>, argv: &[Bytes], front: bool) -> CmdResult {
    if argv.len() > 3 {
        return Err(error::wrong_arity(if front { "lpop" } else { "rpop" }));
    }
    let count = pop_count(argv.get(2))?;
    let mut shard = ctx.shard();
    let popped = pop_from(ctx, &mut shard, ctx.slot, &argv[1], count.unwrap_or(1), front)?;
    match (popped, count) {
        (None, Some(_)) => ctx.out.null_array(),
        (None, None) => ctx.out.null(),
        (Some(items), None) => ctx.out.bulk(&items[0]),
        (Some(items), Some(_)) => ctx.out.bulks(items.iter().map(|b| &b[..])),
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    pop(ctx, argv, true)
}

fn rpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    pop(ctx, argv, false)
}

/// LLEN key
fn llen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let n = ctx.read::<List>(&mut shard, ctx.slot, &argv[1])?.map_or(0, List::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// LRANGE key start stop
fn lrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (start, stop) = (args::int(&argv[2])?, args::int(&argv[3])?);
    let mut shard = ctx.shard();
    let Some(list) = ctx.read::<List>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    match index_range(start, stop, list.len()) {
        Some((s, e)) => {
            ctx.out.array(e - s);
            for item in list.range(s, e) {
                ctx.out.bulk(item);
            }
        }
        None => ctx.out.array(0),
    }
    Ok(())
}

/// LINDEX key index
fn lindex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let i = args::int(&argv[2])?;
    let mut shard = ctx.shard();
    let item = ctx.read::<List>(&mut shard, ctx.slot, &argv[1])?.and_then(|l| l.get(index(i, l.len())?));
    match item {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// LSET key index element
fn lset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let i = args::int(&argv[2])?;
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let list = ctx.write::<List>(&mut shard, ctx.slot, &argv[1])?.ok_or(error::NO_SUCH_KEY)?;
    let at = index(i, list.len()).ok_or(error::INDEX_OUT_OF_RANGE)?;
    list.set(at, &argv[3], &enc);
    ctx.changed(events::LIST, "lset", &argv[1]);
    ctx.out.ok();
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element
fn linsert(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let before = args::keyword(&argv[2], &["BEFORE", "AFTER"]).ok_or(error::SYNTAX)? == 0;
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let Some(list) = ctx.write::<List>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    if !list.insert(&argv[3], &argv[4], before, &enc) {
        ctx.out.int(-1);
        return Ok(());
    }
    let len = list.len();
    ctx.changed(events::LIST, "linsert", &argv[1]);
    ctx.out.int(len as i64);
    Ok(())
}

/// LREM key count element
fn lrem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let count = args::int(&argv[2])?;
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let Some(list) = ctx.write::<List>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = list.remove(&argv[3], count, &enc);
    let emptied = list.is_empty();
    ctx.removed_from(&mut shard, ctx.slot, &argv[1], (events::LIST, "lrem"), removed > 0, emptied);
    ctx.changed_elements(removed);
    ctx.out.int(removed as i64);
    Ok(())
}

/// LTRIM key start stop
fn ltrim(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (start, stop) = (args::int(&argv[2])?, args::int(&argv[3])?);
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    if let Some(list) = ctx.write::<List>(&mut shard, ctx.slot, &argv[1])? {
        let (s, e) = index_range(start, stop, list.len()).unwrap_or((0, 0));
        let before = list.len();
        list.trim(s, e, &enc);
        let removed = before - list.len();
        let emptied = list.is_empty();
        if removed == 0 {
            // Redis signals and notifies an LTRIM that removed nothing, but counts
            // only removed elements as changes.
            ctx.signal_changed(events::LIST, "ltrim", &argv[1]);
        } else {
            ctx.removed_from(&mut shard, ctx.slot, &argv[1], (events::LIST, "ltrim"), true, emptied);
            ctx.changed_elements(removed);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
fn lpos(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut i = 3;
    while i < argv.len() {
        let Some(v) = argv.get(i + 1) else { return Err(error::SYNTAX) };
        if args::is(&argv[i], "RANK") {
            rank = args::int(v)?;
            if rank == 0 {
                return Err(error::RANK_ZERO);
            }
            if rank == i64::MIN {
                return Err(error::OUT_OF_RANGE);
            }
        } else if args::is(&argv[i], "COUNT") {
            count = Some(args::uint(v, error::COUNT_NEGATIVE)? as usize);
        } else if args::is(&argv[i], "MAXLEN") {
            maxlen = args::uint(v, error::MAXLEN_NEGATIVE)? as usize;
        } else {
            return Err(error::SYNTAX);
        }
        i += 2;
    }
    let mut shard = ctx.shard();
    let list = ctx.read::<List>(&mut shard, ctx.slot, &argv[1])?;
    let mut found = Vec::new();
    if let Some(list) = list {
        let len = list.len();
        let limit = if maxlen == 0 { len } else { maxlen.min(len) };
        let want = match count {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let mut skip = rank.unsigned_abs() - 1;
        let items: Box<dyn Iterator<Item = &[u8]>> =
            if rank > 0 { list.range(0, len) } else { list.iter_rev() };
        for (n, item) in items.take(limit).enumerate() {
            if item != &argv[2][..] {
                continue;
            }
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(if rank > 0 { n } else { len - 1 - n });
            if found.len() >= want {
                break;
            }
        }
    }
    match count {
        Some(_) => {
            ctx.out.array(found.len());
            for p in found {
                ctx.out.int(p as i64);
            }
        }
        None => match found.first() {
            Some(&p) => ctx.out.int(p as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

/// LEFT (true) or RIGHT (false).
pub fn side(arg: &[u8]) -> Result<bool, CommandError> {
    args::keyword(arg, &["LEFT", "RIGHT"]).map(|w| w == 0).ok_or(error::SYNTAX)
}

/// Moves one element from `src` to `dst`; None when `src` does not exist. Both keys'
/// shards are locked for the whole move, so no one sees the element in neither list.
pub fn move_element(
    ctx: &Ctx<'_>,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<Box<[u8]>>, CommandError> {
    let (ss, ds) = (key_slot(src), key_slot(dst));
    let enc = ctx.encodings();
    let mut locked = ctx.server.keyspace.lock_shards([ss, ds]);
    match ctx.write::<List>(locked.shard(ss), ss, src) {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(None),
        Err(_) if ctx.woken() => return Ok(None),
        Err(e) => return Err(e),
    }
    // The destination's type is checked before anything is popped.
    ctx.write::<List>(locked.shard(ds), ds, dst)?;
    let Some(mut items) = pop_from(ctx, locked.shard(ss), ss, src, 1, from_left)? else { return Ok(None) };
    let Some(item) = items.pop() else { return Ok(None) };
    let (list, existed) = ctx.upsert(locked.shard(ds), ds, dst, List::default)?;
    list.push(&[&item[..]], to_left, &enc);
    drop(locked);
    // One change with the pop above, as Redis counts a move.
    ctx.written_uncounted(events::LIST, if to_left { "lpush" } else { "rpush" }, dst, existed);
    Ok(Some(item))
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
fn lmove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (from_left, to_left) = (side(&argv[3])?, side(&argv[4])?);
    match move_element(ctx, &argv[1], &argv[2], from_left, to_left)? {
        Some(item) => ctx.out.bulk(&item),
        None => ctx.out.null(),
    }
    Ok(())
}

/// RPOPLPUSH source destination
fn rpoplpush(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match move_element(ctx, &argv[1], &argv[2], false, true)? {
        Some(item) => ctx.out.bulk(&item),
        None => ctx.out.null(),
    }
    Ok(())
}

/// The arguments of LMPOP/BLMPOP/ZMPOP/BZMPOP after `numkeys`: the keys, the word
/// in `words` that follows them (as its index), and COUNT.
pub fn mpop_args<'a>(
    argv: &'a [Bytes],
    numkeys_at: usize,
    words: &[&str],
) -> Result<(&'a [Bytes], usize, usize), CommandError> {
    let numkeys = args::numkeys(&argv[numkeys_at])?;
    let first = numkeys_at + 1;
    let Some(end) = first.checked_add(numkeys).filter(|&e| e < argv.len()) else {
        return Err(error::SYNTAX);
    };
    let word = args::keyword(&argv[end], words).ok_or(error::SYNTAX)?;
    let count = match &argv[end + 1..] {
        [] => 1,
        [c, n] if args::is(c, "COUNT") => match args::parse_i64(n) {
            Some(n) if n > 0 => n as usize,
            _ => return Err(error::COUNT_NOT_POSITIVE),
        },
        _ => return Err(error::SYNTAX),
    };
    Ok((&argv[first..end], word, count))
}

/// A key and the elements popped from it.
pub type Popped = (Bytes, Vec<Box<[u8]>>);

/// Pops from the first non-empty list of `keys`: (key, elements). A woken blocked
/// client skips keys that are no longer lists ([`Ctx::woken`]).
pub fn mpop_lists(
    ctx: &Ctx<'_>,
    keys: &[Bytes],
    front: bool,
    count: usize,
) -> Result<Option<Popped>, CommandError> {
    for key in keys {
        let slot = key_slot(key);
        let mut shard = ctx.server.keyspace.lock(slot);
        match pop_from(ctx, &mut shard, slot, key, count, front) {
            Ok(Some(items)) => return Ok(Some((key.clone(), items))),
            Ok(None) => {}
            Err(e) if e == error::WRONGTYPE && ctx.woken() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// `[key, [elements]]`, the reply of LMPOP and BLMPOP.
pub fn reply_key_items(ctx: &mut Ctx<'_>, key: &[u8], items: &[Box<[u8]>]) {
    ctx.out.array(2);
    ctx.out.bulk(key);
    ctx.out.bulks(items.iter().map(|b| &b[..]));
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]
fn lmpop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (keys, word, count) = mpop_args(argv, 1, &["LEFT", "RIGHT"])?;
    match mpop_lists(ctx, keys, word == 0, count)? {
        Some((key, items)) => reply_key_items(ctx, &key, &items),
        None => ctx.out.null_array(),
    }
    Ok(())
}
