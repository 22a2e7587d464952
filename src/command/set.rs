//! Set commands: SADD and friends, random members, SMOVE, set algebra, SSCAN.

use bytes::Bytes;

use super::hash::{random_count, random_positions};
use super::table::*;
use super::zset::intercard_args;
use super::{Ctx, ScanArgs};
use crate::cluster::slot::key_slot;
use crate::error::{self, CmdResult, CommandError};
use crate::server::pubsub::events;
use crate::storage::Set;

const S: u32 = SET;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WRITE | DENYOOM | FAST, sadd).keys(1, 1, 1).acl(S).group("set")
        .doc("Adds one or more members to a set. Creates the key if it doesn't exist.", "1.0.0"),
    CommandSpec::new("srem", -3, WRITE | FAST, srem).keys(1, 1, 1).acl(S).group("set")
        .doc("Removes one or more members from a set. Deletes the set if the last member was removed.", "1.0.0"),
    CommandSpec::new("smembers", 2, READONLY, smembers).keys(1, 1, 1).acl(S).group("set")
        .doc("Returns all members of a set.", "1.0.0"),
    CommandSpec::new("sismember", 3, READONLY | FAST, sismember).keys(1, 1, 1).acl(S).group("set")
        .doc("Determines whether a member belongs to a set.", "1.0.0"),
    CommandSpec::new("smismember", -3, READONLY | FAST, smismember).keys(1, 1, 1).acl(S).group("set")
        .doc("Determines whether multiple members belong to a set.", "6.2.0"),
    CommandSpec::new("scard", 2, READONLY | FAST, scard).keys(1, 1, 1).acl(S).group("set")
        .doc("Returns the number of members in a set.", "1.0.0"),
    CommandSpec::new("spop", -2, WRITE | FAST, spop).keys(1, 1, 1).acl(S).group("set")
        .doc("Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", "1.0.0"),
    CommandSpec::new("srandmember", -2, READONLY, srandmember).keys(1, 1, 1).acl(S).group("set")
        .doc("Get one or multiple random members from a set", "1.0.0"),
    CommandSpec::new("smove", 4, WRITE | FAST, smove).keys(1, 2, 1).acl(S).group("set")
        .doc("Moves a member from one set to another.", "1.0.0"),
    CommandSpec::new("sinter", -2, READONLY, sinter).keys(1, -1, 1).acl(S).group("set")
        .doc("Returns the intersect of multiple sets.", "1.0.0"),
    CommandSpec::new("sintercard", -3, READONLY, sintercard).numkeys(1).acl(S).group("set")
        .doc("Returns the number of members of the intersect of multiple sets.", "7.0.0"),
    CommandSpec::new("sinterstore", -3, WRITE | DENYOOM, sinterstore).keys(1, -1, 1).acl(S).group("set")
        .doc("Stores the intersect of multiple sets in a key.", "1.0.0"),
    CommandSpec::new("sunion", -2, READONLY, sunion).keys(1, -1, 1).acl(S).group("set")
        .doc("Returns the union of multiple sets.", "1.0.0"),
    CommandSpec::new("sunionstore", -3, WRITE | DENYOOM, sunionstore).keys(1, -1, 1).acl(S).group("set")
        .doc("Stores the union of multiple sets in a key.", "1.0.0"),
    CommandSpec::new("sdiff", -2, READONLY, sdiff).keys(1, -1, 1).acl(S).group("set")
        .doc("Returns the difference of multiple sets.", "1.0.0"),
    CommandSpec::new("sdiffstore", -3, WRITE | DENYOOM, sdiffstore).keys(1, -1, 1).acl(S).group("set")
        .doc("Stores the difference of multiple sets in a key.", "1.0.0"),
    CommandSpec::new("sscan", -3, READONLY, sscan).keys(1, 1, 1).acl(S).group("set")
        .doc("Iterates over members of a set.", "2.8.0"),
];

/// SADD key member [member ...]
fn sadd(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let enc = ctx.encodings();
    let mut shard = ctx.shard();
    let members = &argv[2..];
    let (s, existed) = ctx.upsert(&mut shard, ctx.slot, &argv[1], || Set::for_members(members, &enc))?;
    let added = members.iter().filter(|m| s.add(m, &enc)).count();
    if added > 0 {
        ctx.written(events::SET, "sadd", &argv[1], existed);
        ctx.changed_elements(added);
    }
    ctx.out.int(added as i64);
    Ok(())
}

/// SREM key member [member ...]
fn srem(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let Some(s) = ctx.write::<Set>(&mut shard, ctx.slot, &argv[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = argv[2..].iter().filter(|m| s.remove(m)).count();
    let emptied = s.is_empty();
    ctx.removed_from(&mut shard, ctx.slot, &argv[1], (events::SET, "srem"), removed > 0, emptied);
    ctx.changed_elements(removed);
    ctx.out.int(removed as i64);
    Ok(())
}

/// Members as a RESP3 set (an array in RESP2).
fn reply_set<T: AsRef<[u8]>>(ctx: &mut Ctx<'_>, members: impl ExactSizeIterator<Item = T>) {
    ctx.out.set(members.len());
    for m in members {
        ctx.out.bulk(m.as_ref());
    }
}

/// SMEMBERS key
fn smembers(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    match ctx.read::<Set>(&mut shard, ctx.slot, &argv[1])? {
        Some(s) => {
            let members: Vec<_> = s.iter().collect();
            reply_set(ctx, members.iter());
        }
        None => ctx.out.set(0),
    }
    Ok(())
}

/// SISMEMBER key member
fn sismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let found = ctx.read::<Set>(&mut shard, ctx.slot, &argv[1])?.is_some_and(|s| s.contains(&argv[2]));
    ctx.out.int(found as i64);
    Ok(())
}

/// SMISMEMBER key member [member ...]
fn smismember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let s = ctx.read::<Set>(&mut shard, ctx.slot, &argv[1])?;
    ctx.out.array(argv.len() - 2);
    for m in &argv[2..] {
        ctx.out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
    Ok(())
}

/// SCARD key
fn scard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let n = ctx.read::<Set>(&mut shard, ctx.slot, &argv[1])?.map_or(0, Set::len);
    ctx.out.int(n as i64);
    Ok(())
}

/// SPOP key [count]
fn spop(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 3 {
        return Err(error::SYNTAX);
    }
    let count = super::list::pop_count(argv.get(2))?;
    let mut shard = ctx.shard();
    let Some(s) = ctx.write::<Set>(&mut shard, ctx.slot, &argv[1])? else {
        match count {
            Some(_) => ctx.out.set(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let n = count.unwrap_or(1).min(s.len());
    let popped: Vec<Vec<u8>> = (0..n).map(|_| s.pop_random()).collect();
    let emptied = s.is_empty();
    ctx.removed_from(&mut shard, ctx.slot, &argv[1], (events::SET, "spop"), !popped.is_empty(), emptied);
    ctx.changed_elements(popped.len());
    let mut srem = vec![Bytes::from_static(b"SREM"), argv[1].clone()];
    srem.extend(popped.iter().map(|m| Bytes::copy_from_slice(m)));
    ctx.replicate_as(vec![srem]);
    match count {
        Some(_) => reply_set(ctx, popped.iter()),
        None => ctx.out.bulk(&popped[0]),
    }
    Ok(())
}

/// SRANDMEMBER key [count]
fn srandmember(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 3 {
        return Err(error::SYNTAX);
    }
    let count = match argv.get(2) {
        Some(c) => Some(random_count(c)?),
        None => None,
    };
    let mut shard = ctx.shard();
    let s = ctx.read::<Set>(&mut shard, ctx.slot, &argv[1])?;
    match (s, count) {
        (None, None) => ctx.out.null(),
        (None, Some(_)) => ctx.out.array(0),
        (Some(s), None) => ctx.out.bulk(&s.random()),
        (Some(s), Some(count)) if count < 0 => {
            let picks: Vec<_> = (0..count.unsigned_abs()).map(|_| s.random()).collect();
            ctx.out.bulks(picks.iter().map(|m| &m[..]));
        }
        (Some(s), Some(count)) => {
            let picks: Vec<_> = random_positions(s.len(), count).into_iter().map(|i| s.nth(i)).collect();
            ctx.out.bulks(picks.iter().map(|m| &m[..]));
        }
    }
    Ok(())
}

/// SMOVE source destination member
fn smove(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    let (ss, ds) = (key_slot(src), key_slot(dst));
    let enc = ctx.encodings();
    let mut locked = ctx.server.keyspace.lock_shards([ss, ds]);
    let Some(s) = ctx.write::<Set>(locked.shard(ss), ss, src)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let present = s.contains(member);
    ctx.write::<Set>(locked.shard(ds), ds, dst)?;
    if !present {
        ctx.out.int(0);
        return Ok(());
    }
    if src == dst {
        ctx.out.int(1);
        return Ok(());
    }
    let s = ctx.write::<Set>(locked.shard(ss), ss, src)?.expect("checked above");
    s.remove(member);
    let emptied = s.is_empty();
    ctx.removed_from(locked.shard(ss), ss, src, (events::SET, "srem"), true, emptied);
    let (d, existed) = ctx.upsert(locked.shard(ds), ds, dst, || Set::for_members(&[member], &enc))?;
    if d.add(member, &enc) {
        ctx.written(events::SET, "sadd", dst, existed);
    }
    ctx.out.int(1);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes the operation over the sets at `keys` (missing keys are empty sets), with
/// every shard involved (the destination's too) locked together.
fn compute(ctx: &Ctx<'_>, keys: &[Bytes], op: Op, dst: Option<&Bytes>) -> Result<Vec<Vec<u8>>, CommandError> {
    let slots: Vec<u16> = keys.iter().chain(dst).map(|k| key_slot(k)).collect();
    let mut locked = ctx.server.keyspace.lock_shards(slots.iter().copied());
    // Type errors first, as Redis: every input is looked up before any work.
    for (k, &slot) in keys.iter().zip(&slots) {
        ctx.read::<Set>(locked.shard(slot), slot, k)?;
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    match op {
        Op::Union => {
            let mut seen = hashbrown::HashSet::new();
            for (k, &slot) in keys.iter().zip(&slots) {
                if let Some(s) = ctx.write::<Set>(locked.shard(slot), slot, k)? {
                    for m in s.iter() {
                        if seen.insert(m.to_vec()) {
                            out.push(m.into_owned());
                        }
                    }
                }
            }
        }
        Op::Inter | Op::Diff => {
            // An intersection starts from its smallest set (a missing one empties it);
            // a difference from the first.
            let mut base_at = 0;
            if op == Op::Inter {
                let mut smallest = usize::MAX;
                for (i, (k, &slot)) in keys.iter().zip(&slots).enumerate() {
                    let len = ctx.write::<Set>(locked.shard(slot), slot, k)?.map_or(0, |s| s.len());
                    if len < smallest {
                        (smallest, base_at) = (len, i);
                    }
                }
            }
            let Some(base) = ctx
                .write::<Set>(locked.shard(slots[base_at]), slots[base_at], &keys[base_at])?
                .map(|s| s.iter().map(|m| m.into_owned()).collect::<Vec<_>>())
            else {
                return Ok(out);
            };
            let mut kept = base;
            for (i, (k, &slot)) in keys.iter().zip(&slots).enumerate() {
                if i == base_at {
                    continue;
                }
                let other = ctx.write::<Set>(locked.shard(slot), slot, k)?;
                kept.retain(|m| {
                    let inside = other.as_ref().is_some_and(|o| o.contains(m));
                    if op == Op::Inter { inside } else { !inside }
                });
                if kept.is_empty() {
                    break;
                }
            }
            out = kept;
        }
    }
    Ok(out)
}

fn algebra(ctx: &mut Ctx<'_>, argv: &[Bytes], op: Op) -> CmdResult {
    let members = compute(ctx, &argv[1..], op, None)?;
    reply_set(ctx, members.iter());
    Ok(())
}

fn algebra_store(ctx: &mut Ctx<'_>, argv: &[Bytes], op: Op, event: &str) -> CmdResult {
    let members = compute(ctx, &argv[2..], op, Some(&argv[1]))?;
    let enc = ctx.encodings();
    let mut s = Set::for_members(&members, &enc);
    for m in &members {
        s.add(m, &enc);
    }
    let n = s.len();
    let slot = key_slot(&argv[1]);
    let mut shard = ctx.server.keyspace.lock(slot);
    ctx.store(&mut shard, slot, &argv[1], s, events::SET, event);
    ctx.out.int(n as i64);
    Ok(())
}

/// SINTER key [key ...]
fn sinter(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra(ctx, argv, Op::Inter)
}

/// SUNION key [key ...]
fn sunion(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra(ctx, argv, Op::Union)
}

/// SDIFF key [key ...]
fn sdiff(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra(ctx, argv, Op::Diff)
}

/// SINTERSTORE destination key [key ...]
fn sinterstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(ctx, argv, Op::Inter, "sinterstore")
}

/// SUNIONSTORE destination key [key ...]
fn sunionstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(ctx, argv, Op::Union, "sunionstore")
}

/// SDIFFSTORE destination key [key ...]
fn sdiffstore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    algebra_store(ctx, argv, Op::Diff, "sdiffstore")
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
fn sintercard(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (keys, limit) = intercard_args(argv)?;
    let n = compute(ctx, keys, Op::Inter, None)?.len();
    ctx.out.int(if limit > 0 { n.min(limit) } else { n } as i64);
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
fn sscan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let opts = ScanArgs::parse(argv, 2, None)?;
    let mut shard = ctx.shard();
    let (items, next) = match ctx.read::<Set>(&mut shard, ctx.slot, &argv[1])? {
        Some(s) => s.scan(opts.cursor, opts.count),
        None => (Vec::new(), 0),
    };
    let kept: Vec<_> = items.into_iter().filter(|m| opts.matches(m)).collect();
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    ctx.out.bulks(kept.iter().map(|m| &m[..]));
    Ok(())
}
