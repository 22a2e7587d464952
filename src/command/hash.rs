//! Hash commands: HSET and friends, counters, random fields, HSCAN.

use bytes::Bytes;

use super::table::*;
use super::{Ctx, ScanArgs};
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::protocol::reply::format_double;
use crate::server::pubsub::events;
use crate::storage::{Hash, random_u64};

const H: u32 = HASH;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, WRITE | DENYOOM | FAST, hset).keys(1, 1, 1).acl(H).group("hash")
        .doc("Creates or modifies the value of a field in a hash.", "2.0.0"),
    CommandSpec::new("hsetnx", 4, WRITE | DENYOOM | FAST, hsetnx).keys(1, 1, 1).acl(H).group("hash")
        .doc("Sets the value of a field in a hash only when the field doesn't exist.", "2.0.0"),
    CommandSpec::new("hmset", -4, WRITE | DENYOOM | FAST, hmset).keys(1, 1, 1).acl(H).group("hash")
        .doc("Sets the values of multiple fields.", "2.0.0"),
    CommandSpec::new("hget", 3, READONLY | FAST, hget).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns the value of a field in a hash.", "2.0.0"),
    CommandSpec::new("hmget", -3, READONLY | FAST, hmget).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns the values of all fields in a hash.", "2.0.0"),
    CommandSpec::new("hgetall", 2, READONLY, hgetall).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns all fields and values in a hash.", "2.0.0"),
    CommandSpec::new("hdel", -3, WRITE | FAST, hdel).keys(1, 1, 1).acl(H).group("hash")
        .doc("Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", "2.0.0"),
    CommandSpec::new("hexists", 3, READONLY | FAST, hexists).keys(1, 1, 1).acl(H).group("hash")
        .doc("Determines whether a field exists in a hash.", "2.0.0"),
    CommandSpec::new("hlen", 2, READONLY | FAST, hlen).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns the number of fields in a hash.", "2.0.0"),
    CommandSpec::new("hkeys", 2, READONLY, hkeys).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns all fields in a hash.", "2.0.0"),
    CommandSpec::new("hvals", 2, READONLY, hvals).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns all values in a hash.", "2.0.0"),
    CommandSpec::new("hincrby", 4, WRITE | DENYOOM | FAST, hincrby).keys(1, 1, 1).acl(H).group("hash")
        .doc("Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", "2.0.0"),
    CommandSpec::new("hincrbyfloat", 4, WRITE | DENYOOM | FAST, hincrbyfloat).keys(1, 1, 1).acl(H).group("hash")
        .doc("Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", "2.6.0"),
    CommandSpec::new("hstrlen", 3, READONLY | FAST, hstrlen).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns the length of the value of a field.", "3.2.0"),
    CommandSpec::new("hrandfield", -2, READONLY, hrandfield).keys(1, 1, 1).acl(H).group("hash")
        .doc("Returns one or more random fields from a hash.", "6.2.0"),
    CommandSpec::new("hscan", -3, READONLY, hscan).keys(1, 1, 1).acl(H).group("hash")
        .doc("Iterates over fields and values of a hash.", "2.8.0"),
];

/// Sets field/value pairs from `argv[2..]`; returns how many fields are new.
fn set_pairs(ctx: &mut Ctx<'_>, argv: &[Bytes], cmd: &str) -> Result<i64, CommandError> {
    if !argv.len().is_multiple_of(2) {
        return Err(error::wrong_arity(cmd));
    }
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let (h, existed) = ctx.upsert(&mut shard, ctx.slot, &argv[1], Hash::default)?;
    let added = argv[2..].chunks(2).filter(|p| h.set(&p[0], &p[1], &enc)).count();
    ctx.written(events::HASH, "hset", &argv[1], existed);
    // Redis counts every field set, new or not.
    ctx.changed_elements((argv.len() - 2) / 2);
    Ok(added as i64)
}

/// HSET key field value [field value ...]
fn hset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let added = set_pairs(ctx, argv, "hset")?;
    ctx.out.int(added);
    Ok(())
}

/// HMSET key field value [field value ...]
fn hmset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    set_pairs(ctx, argv, "hmset")?;
    ctx.out.ok();
    Ok(())
}

/// HSETNX key field value
fn hsetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    if ctx.write::<Hash>(&mut shard, ctx.slot, &argv[1])?.is_some_and(|h| h.get(&argv[2]).is_some()) {
        ctx.out.int(0);
        return Ok(());
    }
    let (h, existed) = ctx.upsert(&mut shard, ctx.slot, &argv[1], Hash::default)?;
    h.set(&argv[2], &argv[3], &enc);
    ctx.written(events::HASH, "hset", &argv[1], existed);
    ctx.out.int(1);
    Ok(())
}

/// HGET key field
fn hget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    match ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

/// HMGET key field [field ...]
fn hmget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let h = ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])?;
    ctx.out.array(argv.len() - 2);
    for field in &argv[2..] {
        match h.and_then(|h| h.get(field)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// HGETALL key: a map in RESP3.
fn hgetall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let Some(h) = ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.map(0);
        return Ok(());
    };
    ctx.out.map(h.len());
    for (f, v) in h.iter() {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}

/// HKEYS key / HVALS key
fn fields_or_values(ctx: &mut Ctx<'_>, argv: &[Bytes], values: bool) -> CmdResult {
    let mut shard = ctx.shard();
    let Some(h) = ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    ctx.out.array(h.len());
    for (f, v) in h.iter() {
        ctx.out.bulk(if values { v } else { f });
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    fields_or_values(ctx, argv, false)
}

fn hvals(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    fields_or_values(ctx, argv, true)
}

/// HDEL key field [field ...]
fn hdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let Some(h) = ctx.write::<Hash>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = argv[2..].iter().filter(|f| h.remove(f)).count();
    let emptied = h.is_empty();
    ctx.removed_from(&mut shard, ctx.slot, &argv[1], (events::HASH, "hdel"), removed > 0, emptied);
    ctx.changed_elements(removed);
    ctx.out.int(removed as i64);
    Ok(())
}

/// HEXISTS key field
fn hexists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let found = ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])?.is_some_and(|h| h.get(&argv[2]).is_some());
    ctx.out.int(found as i64);
    Ok(())
}

/// HLEN key
fn hlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let n = ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])?.map_or(0, Hash::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// HSTRLEN key field
fn hstrlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let n = ctx
        .read::<Hash>(&mut shard, ctx.slot, &argv[1])?
        .and_then(|h| h.get(&argv[2]))
        .map_or(0, <[u8]>::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// HINCRBY key field increment
fn hincrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::int(&argv[3])?;
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let current = match ctx.write::<Hash>(&mut shard, ctx.slot, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        Some(v) => args::parse_i64(v).ok_or(error::HASH_NOT_INTEGER)?,
        None => 0,
    };
    let next = current.checked_add(by).ok_or(error::OVERFLOW)?;
    let (h, existed) = ctx.upsert(&mut shard, ctx.slot, &argv[1], Hash::default)?;
    h.set(&argv[2], itoa::Buffer::new().format(next).as_bytes(), &enc);
    ctx.written(events::HASH, "hincrby", &argv[1], existed);
    ctx.out.int(next);
    Ok(())
}

/// HINCRBYFLOAT key field increment
fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::float(&argv[3])?;
    if !by.is_finite() {
        return Err(error::VALUE_NAN_OR_INF);
    }
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let current = match ctx.write::<Hash>(&mut shard, ctx.slot, &argv[1])?.and_then(|h| h.get(&argv[2])) {
        Some(v) => args::parse_f64(v).ok_or(error::HASH_NOT_FLOAT)?,
        None => 0.0,
    };
    let next = current + by;
    if !next.is_finite() {
        return Err(error::NAN_OR_INF);
    }
    let text = format_double(next);
    let (h, existed) = ctx.upsert(&mut shard, ctx.slot, &argv[1], Hash::default)?;
    h.set(&argv[2], text.as_bytes(), &enc);
    ctx.written(events::HASH, "hincrbyfloat", &argv[1], existed);
    ctx.replicate_as(vec![vec![
        Bytes::from_static(b"HSET"),
        argv[1].clone(),
        argv[2].clone(),
        text.clone().into(),
    ]]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// The count argument of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER: Redis refuses counts
/// whose magnitude cannot be doubled safely.
pub fn random_count(arg: &[u8]) -> Result<i64, CommandError> {
    let n = args::int(arg)?;
    if n == i64::MIN {
        // Redis reads the count within ±LONG_MAX first.
        return Err(CommandError::new(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n) {
        return Err(error::OUT_OF_RANGE);
    }
    Ok(n)
}

/// Positions to answer a random-members command with `count`: with a non-negative
/// count, distinct positions (all of them, in order, when count covers the set); with
/// a negative one, |count| positions that may repeat.
pub fn random_positions(len: usize, count: i64) -> Vec<usize> {
    if count < 0 {
        return (0..count.unsigned_abs()).map(|_| (random_u64() % len as u64) as usize).collect();
    }
    let count = count as usize;
    if count >= len {
        return (0..len).collect();
    }
    if count * 3 <= len {
        // Few of many: draw until `count` distinct positions (expected < 1.5 draws each).
        let mut picked = hashbrown::HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let p = (random_u64() % len as u64) as usize;
            if picked.insert(p) {
                out.push(p);
            }
        }
        return out;
    }
    // A partial Fisher-Yates shuffle over the positions; bounded by the set's size.
    let mut all: Vec<usize> = (0..len).collect();
    for i in 0..count {
        let j = i + (random_u64() % (len - i) as u64) as usize;
        all.swap(i, j);
    }
    all.truncate(count);
    all
}

/// HRANDFIELD key [count [WITHVALUES]]
fn hrandfield(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let count = match argv.get(2) {
        Some(c) => Some(random_count(c)?),
        None => None,
    };
    let withvalues = match argv.get(3) {
        Some(a) if args::is(a, "WITHVALUES") && argv.len() == 4 => true,
        Some(_) => return Err(error::SYNTAX),
        None => false,
    };
    let mut shard = ctx.shard();
    let h = ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])?;
    let Some(count) = count else {
        match h {
            Some(h) => ctx.out.bulk(h.random().0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let Some(h) = h else {
        ctx.out.array(0);
        return Ok(());
    };
    let pairs: Vec<(&[u8], &[u8])> = if count < 0 {
        (0..count.unsigned_abs()).map(|_| h.random()).collect()
    } else {
        random_positions(h.len(), count).into_iter().map(|i| h.nth(i)).collect()
    };
    write_pairs(ctx, &pairs, withvalues);
    Ok(())
}

/// Field/value pairs: flat in RESP2, [field, value] arrays in RESP3; fields only
/// without values.
fn write_pairs(ctx: &mut Ctx<'_>, pairs: &[(&[u8], &[u8])], withvalues: bool) {
    if !withvalues {
        ctx.out.array(pairs.len());
        for (f, _) in pairs {
            ctx.out.bulk(f);
        }
        return;
    }
    let resp3 = ctx.out.resp3;
    ctx.out.array(if resp3 { pairs.len() } else { pairs.len() * 2 });
    for (f, v) in pairs {
        if resp3 {
            ctx.out.array(2);
        }
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
}

/// HSCAN key cursor [MATCH pattern] [COUNT count] [NOVALUES]
fn hscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let opts = ScanArgs::parse(argv, 2, Some("NOVALUES"))?;
    let mut shard = ctx.shard();
    let (pairs, next) = match ctx.read::<Hash>(&mut shard, ctx.slot, &argv[1])? {
        Some(h) => h.scan(opts.cursor, opts.count),
        None => (Vec::new(), 0),
    };
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    let kept: Vec<_> = pairs.into_iter().filter(|(f, _)| opts.matches(f)).collect();
    ctx.out.array(if opts.novalues { kept.len() } else { kept.len() * 2 });
    for (f, v) in kept {
        ctx.out.bulk(f);
        if !opts.novalues {
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_positions_are_distinct_and_in_range() {
        for (len, count) in [(1000, 5), (1000, 400), (10, 10), (10, 50)] {
            let picks = random_positions(len, count);
            assert_eq!(picks.len(), (count as usize).min(len));
            let distinct: std::collections::HashSet<usize> = picks.iter().copied().collect();
            assert_eq!(distinct.len(), picks.len(), "len {len} count {count}");
            assert!(picks.iter().all(|&p| p < len));
        }
        assert_eq!(random_positions(10, -25).len(), 25, "a negative count may repeat");
    }
}
