//! String commands: GET, SET and friends, counters, ranges, LCS.

use crate::server::pubsub::events;
use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::cluster::slot::key_slot;
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::Reply;
use crate::protocol::args;
use crate::protocol::reply::format_double;
use crate::storage::db::EntryMut;
use crate::storage::{NewValue, Object, ValueRef};

const S: u32 = STRING;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, get).keys(1, 1, 1).acl(S).group("string")
        .doc("Returns the string value of a key.", "1.0.0"),
    CommandSpec::new("set", -3, WRITE | DENYOOM, set).keys(1, 1, 1).acl(S).group("string")
        .doc("Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "1.0.0"),
    CommandSpec::new("setnx", 3, WRITE | DENYOOM | FAST, setnx).keys(1, 1, 1).acl(S).group("string")
        .doc("Set the string value of a key only when the key doesn't exist.", "1.0.0"),
    CommandSpec::new("setex", 4, WRITE | DENYOOM, setex).keys(1, 1, 1).acl(S).group("string")
        .doc("Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", "2.0.0"),
    CommandSpec::new("psetex", 4, WRITE | DENYOOM, psetex).keys(1, 1, 1).acl(S).group("string")
        .doc("Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", "2.6.0"),
    CommandSpec::new("getset", 3, WRITE | DENYOOM | FAST, getset).keys(1, 1, 1).acl(S).group("string")
        .doc("Returns the previous string value of a key after setting it to a new value.", "1.0.0"),
    CommandSpec::new("getdel", 2, WRITE | FAST, getdel).keys(1, 1, 1).acl(S).group("string")
        .doc("Returns the string value of a key after deleting the key.", "6.2.0"),
    CommandSpec::new("getex", -2, WRITE | FAST, getex).keys(1, 1, 1).acl(S).group("string")
        .doc("Returns the string value of a key after setting its expiration time.", "6.2.0"),
    CommandSpec::new("mget", -2, READONLY | FAST, mget).keys(1, -1, 1).acl(S).group("string")
        .doc("Atomically returns the string values of one or more keys.", "1.0.0"),
    CommandSpec::new("mset", -3, WRITE | DENYOOM, mset).keys(1, -1, 2).acl(S).group("string")
        .doc("Atomically creates or modifies the string values of one or more keys.", "1.0.1"),
    CommandSpec::new("msetnx", -3, WRITE | DENYOOM, msetnx).keys(1, -1, 2).acl(S).group("string")
        .doc("Atomically modifies the string values of one or more keys only when all keys don't exist.", "1.0.1"),
    CommandSpec::new("append", 3, WRITE | DENYOOM | FAST, append).keys(1, 1, 1).acl(S).group("string")
        .doc("Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0"),
    CommandSpec::new("strlen", 2, READONLY | FAST, strlen).keys(1, 1, 1).acl(S).group("string")
        .doc("Returns the length of a string value.", "2.2.0"),
    CommandSpec::new("incr", 2, WRITE | DENYOOM | FAST, incr).keys(1, 1, 1).acl(S).group("string")
        .doc("Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    CommandSpec::new("decr", 2, WRITE | DENYOOM | FAST, decr).keys(1, 1, 1).acl(S).group("string")
        .doc("Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    CommandSpec::new("incrby", 3, WRITE | DENYOOM | FAST, incrby).keys(1, 1, 1).acl(S).group("string")
        .doc("Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    CommandSpec::new("decrby", 3, WRITE | DENYOOM | FAST, decrby).keys(1, 1, 1).acl(S).group("string")
        .doc("Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "1.0.0"),
    CommandSpec::new("incrbyfloat", 3, WRITE | DENYOOM | FAST, incrbyfloat).keys(1, 1, 1).acl(S).group("string")
        .doc("Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "2.6.0"),
    CommandSpec::new("getrange", 4, READONLY, getrange).keys(1, 1, 1).acl(S).group("string")
        .doc("Returns a substring of the string stored at a key.", "2.4.0"),
    CommandSpec::new("substr", 4, READONLY, getrange).keys(1, 1, 1).acl(S).group("string")
        .doc("Returns a substring from a string value.", "1.0.0"),
    CommandSpec::new("setrange", 4, WRITE | DENYOOM, setrange).keys(1, 1, 1).acl(S).group("string")
        .doc("Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "2.2.0"),
    CommandSpec::new("lcs", -3, READONLY, lcs).keys(1, 2, 1).acl(S).group("string")
        .doc("Finds the longest common substring.", "7.0.0"),
];

/// Writes a string value as a bulk reply, or fails with WRONGTYPE.
fn reply_string(out: &mut Reply, v: &ValueRef<'_>) -> CmdResult {
    let mut scratch = itoa::Buffer::new();
    match v.as_str(&mut scratch) {
        Some(s) => {
            out.bulk(s);
            Ok(())
        }
        None => Err(error::WRONGTYPE),
    }
}

/// The unit of an expiry argument.
#[derive(Clone, Copy, PartialEq)]
enum ExpireUnit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

/// Turns an expiry argument into an absolute Unix time in milliseconds, with Redis's
/// checks: an integer, positive, and not overflowing once converted.
fn expire_at(arg: &[u8], unit: ExpireUnit, now: u64, cmd: &str) -> Result<u64, CommandError> {
    let v = args::int(arg)?;
    if v <= 0 {
        return Err(error::invalid_expire(cmd));
    }
    let ms = match unit {
        ExpireUnit::Seconds | ExpireUnit::UnixSeconds => {
            v.checked_mul(1000).ok_or_else(|| error::invalid_expire(cmd))?
        }
        _ => v,
    };
    let at = match unit {
        ExpireUnit::Seconds | ExpireUnit::Millis => {
            ms.checked_add(now as i64).ok_or_else(|| error::invalid_expire(cmd))?
        }
        _ => ms,
    };
    Ok(at as u64)
}

/// GET key
fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    match shard.get(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        Some(e) => {
            ctx.count_lookup(&argv[1], true);
            reply_string(ctx.out, &e.value())
        }
        None => {
            ctx.count_lookup(&argv[1], false);
            ctx.out.null();
            Ok(())
        }
    }
}

/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds
/// | PXAT unix-time-milliseconds | KEEPTTL]
fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (mut nx, mut xx, mut want_get, mut keep_ttl) = (false, false, false, false);
    let mut expire: Option<(ExpireUnit, &Bytes)> = None;
    let mut i = 3;
    while i < argv.len() {
        let a = &argv[i];
        let next = argv.get(i + 1);
        if args::is(a, "NX") && !xx {
            nx = true;
        } else if args::is(a, "XX") && !nx {
            xx = true;
        } else if args::is(a, "GET") {
            want_get = true;
        } else if args::is(a, "KEEPTTL") && expire.is_none() {
            keep_ttl = true;
        } else if let (Some(unit), Some(v), None, false) = (expire_unit(a), next, expire, keep_ttl) {
            expire = Some((unit, v));
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    let at = match expire {
        Some((unit, v)) => Some(expire_at(v, unit, ctx.now, "set")?),
        None => None,
    };
    let key = &argv[1];
    let db = ctx.db();
    let mut shard = ctx.shard();
    let mut old_ttl = None;
    let exists = match shard.peek(db, ctx.slot, key, ctx.now) {
        Some(e) => {
            if want_get {
                reply_string(ctx.out, &e.value())?;
            }
            old_ttl = e.expire_at();
            true
        }
        None => {
            if want_get {
                ctx.out.null();
            }
            false
        }
    };
    if (nx && exists) || (xx && !exists) {
        if !want_get {
            ctx.out.null();
        }
        return Ok(());
    }
    let at = if keep_ttl { old_ttl } else { at };
    if at.is_some_and(|at| at <= ctx.now) {
        shard.remove(db, ctx.slot, key, ctx.now);
        if exists {
            ctx.changed(events::GENERIC, "del", key);
        }
    } else {
        shard.set(db, ctx.slot, key, NewValue::Str(&argv[2]), at, ctx.now);
        ctx.written(events::STRING, "set", key, exists);
        if expire.is_some() {
            // Part of the same write: notified, not counted again.
            ctx.signal_changed(events::GENERIC, "expire", key);
        }
    }
    if !want_get {
        ctx.out.ok();
    }
    Ok(())
}

fn expire_unit(a: &[u8]) -> Option<ExpireUnit> {
    if args::is(a, "EX") {
        Some(ExpireUnit::Seconds)
    } else if args::is(a, "PX") {
        Some(ExpireUnit::Millis)
    } else if args::is(a, "EXAT") {
        Some(ExpireUnit::UnixSeconds)
    } else if args::is(a, "PXAT") {
        Some(ExpireUnit::UnixMillis)
    } else {
        None
    }
}

/// SETNX key value
fn setnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    if shard.exists(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        ctx.out.int(0);
    } else {
        shard.set(ctx.db(), ctx.slot, &argv[1], NewValue::Str(&argv[2]), None, ctx.now);
        ctx.written(events::STRING, "set", &argv[1], false);
        ctx.out.int(1);
    }
    Ok(())
}

fn setex_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], unit: ExpireUnit, cmd: &str) -> CmdResult {
    let at = expire_at(&argv[2], unit, ctx.now, cmd)?;
    let existed = ctx.shard().set(ctx.db(), ctx.slot, &argv[1], NewValue::Str(&argv[3]), Some(at), ctx.now);
    ctx.written(events::STRING, "set", &argv[1], existed);
    ctx.signal_changed(events::GENERIC, "expire", &argv[1]);
    ctx.out.ok();
    Ok(())
}

/// SETEX key seconds value
fn setex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    setex_generic(ctx, argv, ExpireUnit::Seconds, "setex")
}

/// PSETEX key milliseconds value
fn psetex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    setex_generic(ctx, argv, ExpireUnit::Millis, "psetex")
}

/// GETSET key value
fn getset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    match shard.get(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        Some(e) => reply_string(ctx.out, &e.value())?,
        None => ctx.out.null(),
    }
    let existed = shard.set(ctx.db(), ctx.slot, &argv[1], NewValue::Str(&argv[2]), None, ctx.now);
    ctx.written(events::STRING, "set", &argv[1], existed);
    Ok(())
}

/// GETDEL key
fn getdel(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    match shard.get(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        Some(e) => {
            ctx.count_lookup(&argv[1], true);
            reply_string(ctx.out, &e.value())?;
            shard.remove(ctx.db(), ctx.slot, &argv[1], ctx.now);
            ctx.changed(events::GENERIC, "del", &argv[1]);
        }
        None => {
            ctx.count_lookup(&argv[1], false);
            ctx.out.null();
        }
    }
    Ok(())
}

/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
/// PXAT unix-time-milliseconds | PERSIST]
fn getex(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // None: leave the TTL; Some(None): persist; Some(Some(at)): expire at.
    let mut change: Option<Option<u64>> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if args::is(a, "PERSIST") && change.is_none() {
            change = Some(None);
        } else if let (Some(unit), Some(v), None) = (expire_unit(a), argv.get(i + 1), change) {
            change = Some(Some(expire_at(v, unit, ctx.now, "getex")?));
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    let db = ctx.db();
    let mut shard = ctx.shard();
    let Some(mut e) = shard.get(db, ctx.slot, &argv[1], ctx.now) else {
        ctx.count_lookup(&argv[1], false);
        ctx.out.null();
        return Ok(());
    };
    ctx.count_lookup(&argv[1], true);
    reply_string(ctx.out, &e.value())?;
    match change {
        Some(Some(at)) if at <= ctx.now => {
            shard.remove(db, ctx.slot, &argv[1], ctx.now);
            ctx.changed(events::GENERIC, "del", &argv[1]);
        }
        Some(Some(at)) => {
            e.set_expire(Some(at));
            ctx.changed(events::GENERIC, "expire", &argv[1]);
        }
        Some(None) if e.expire_at().is_some() => {
            e.set_expire(None);
            ctx.changed(events::GENERIC, "persist", &argv[1]);
        }
        _ => {}
    }
    Ok(())
}

/// MGET key [key ...]
fn mget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let keys = &argv[1..];
    let slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
    let mut locked = ctx.server.keyspace.lock_shards(slots.iter().copied());
    ctx.out.array(keys.len());
    let mut scratch = itoa::Buffer::new();
    for (key, &slot) in keys.iter().zip(slots.iter()) {
        match locked.shard(slot).get(ctx.session.db, slot, key, ctx.now) {
            Some(e) => {
                ctx.count_lookup(key, true);
                match e.value().as_str(&mut scratch) {
                    Some(s) => ctx.out.bulk(s),
                    None => ctx.out.null(),
                }
            }
            None => {
                ctx.count_lookup(key, false);
                ctx.out.null();
            }
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], only_new: bool, cmd: &str) -> Result<bool, CommandError> {
    if argv.len().is_multiple_of(2) {
        return Err(error::wrong_arity(cmd));
    }
    let pairs: Vec<(&Bytes, &Bytes, u16)> =
        argv[1..].chunks(2).map(|p| (&p[0], &p[1], key_slot(&p[0]))).collect();
    let mut locked = ctx.server.keyspace.lock_shards(pairs.iter().map(|p| p.2));
    let db = ctx.session.db;
    if only_new && pairs.iter().any(|&(k, _, slot)| locked.shard(slot).exists(db, slot, k, ctx.now)) {
        return Ok(false);
    }
    for &(k, v, slot) in &pairs {
        let existed = locked.shard(slot).set(db, slot, k, NewValue::Str(v), None, ctx.now);
        ctx.written(events::STRING, "set", k, existed);
    }
    Ok(true)
}

/// MSET key value [key value ...]
fn mset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    mset_generic(ctx, argv, false, "mset")?;
    ctx.out.ok();
    Ok(())
}

/// MSETNX key value [key value ...]
fn msetnx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let done = mset_generic(ctx, argv, true, "msetnx")?;
    ctx.out.int(done as i64);
    Ok(())
}

fn max_string(ctx: &Ctx<'_>) -> usize {
    ctx.server.limits.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed) as usize
}

/// APPEND key value
fn append(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let max = max_string(ctx);
    let db = ctx.db();
    let mut shard = ctx.shard();
    let Some(mut e) = shard.get(db, ctx.slot, &argv[1], ctx.now) else {
        shard.set(db, ctx.slot, &argv[1], NewValue::Str(&argv[2]), None, ctx.now);
        ctx.written(events::STRING, "append", &argv[1], false);
        ctx.out.int(argv[2].len() as i64);
        return Ok(());
    };
    let current_len = string_len(&e.value())?;
    if current_len + argv[2].len() > max {
        return Err(error::STRING_TOO_LONG);
    }
    let len = match e.obj_mut() {
        Some(Object::Str(v)) => {
            v.extend_from_slice(&argv[2]);
            v.len()
        }
        _ => {
            let mut scratch = itoa::Buffer::new();
            let mut v = e.value().as_str(&mut scratch).unwrap_or_default().to_vec();
            v.extend_from_slice(&argv[2]);
            let len = v.len();
            e.replace(NewValue::Obj(Box::new(Object::Str(v))), None, true);
            len
        }
    };
    ctx.changed(events::STRING, "append", &argv[1]);
    ctx.out.int(len as i64);
    Ok(())
}

fn string_len(v: &ValueRef<'_>) -> Result<usize, CommandError> {
    let mut scratch = itoa::Buffer::new();
    v.as_str(&mut scratch).map(|s| s.len()).ok_or(error::WRONGTYPE)
}

/// STRLEN key
fn strlen(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let len = match shard.get(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        Some(e) => string_len(&e.value())?,
        None => 0,
    };
    ctx.out.int(len as i64);
    Ok(())
}

fn incr_generic(ctx: &mut Ctx<'_>, key: &[u8], by: i64) -> CmdResult {
    let db = ctx.db();
    let mut shard = ctx.shard();
    let (value, existed) = match shard.get(db, ctx.slot, key, ctx.now) {
        Some(mut e) => {
            let current = match e.value() {
                ValueRef::Int(i) => i,
                ValueRef::Str(s) => args::parse_i64(s).ok_or(error::NOT_INTEGER)?,
                ValueRef::Obj(Object::Str(s)) => args::parse_i64(s).ok_or(error::NOT_INTEGER)?,
                ValueRef::Obj(_) => return Err(error::WRONGTYPE),
            };
            let next = current.checked_add(by).ok_or(error::OVERFLOW)?;
            if !e.set_int(next) {
                e.replace(NewValue::Int(next), None, true);
            }
            (next, true)
        }
        None => {
            shard.set(db, ctx.slot, key, NewValue::Int(by), None, ctx.now);
            (by, false)
        }
    };
    ctx.written(events::STRING, "incrby", key, existed);
    ctx.out.int(value);
    Ok(())
}

/// INCR key
fn incr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    incr_generic(ctx, &argv[1], 1)
}

/// DECR key
fn decr(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    incr_generic(ctx, &argv[1], -1)
}

/// INCRBY key increment
fn incrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::int(&argv[2])?;
    incr_generic(ctx, &argv[1], by)
}

/// DECRBY key decrement
fn decrby(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::int(&argv[2])?;
    let by = by.checked_neg().ok_or(CommandError::new("ERR decrement would overflow"))?;
    incr_generic(ctx, &argv[1], by)
}

/// INCRBYFLOAT key increment
fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let by = args::float(&argv[2])?;
    let db = ctx.db();
    let mut shard = ctx.shard();
    let current = match shard.get(db, ctx.slot, &argv[1], ctx.now) {
        Some(e) => {
            let mut scratch = itoa::Buffer::new();
            let v = e.value();
            let s = v.as_str(&mut scratch).ok_or(error::WRONGTYPE)?;
            args::parse_f64(s).ok_or(error::NOT_FLOAT)?
        }
        None => 0.0,
    };
    let next = current + by;
    if next.is_nan() || next.is_infinite() {
        return Err(error::NAN_OR_INF);
    }
    let text = format_double(next);
    let existed = match shard.get(db, ctx.slot, &argv[1], ctx.now) {
        Some(mut e) => {
            e.replace(NewValue::Str(text.as_bytes()), None, true);
            true
        }
        None => shard.set(db, ctx.slot, &argv[1], NewValue::Str(text.as_bytes()), None, ctx.now),
    };
    ctx.written(events::STRING, "incrbyfloat", &argv[1], existed);
    ctx.replicate_as(vec![vec![
        Bytes::from_static(b"SET"),
        argv[1].clone(),
        text.clone().into(),
        Bytes::from_static(b"KEEPTTL"),
    ]]);
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// A string value as a growable byte vector (Redis's raw encoding), converting an
/// inline or integer string in place; WRONGTYPE for other types.
pub fn raw_string_mut<'e>(e: &'e mut EntryMut<'_>) -> Result<&'e mut Vec<u8>, CommandError> {
    if e.obj_mut().is_none() {
        let mut scratch = itoa::Buffer::new();
        let v = e.value().as_str(&mut scratch).unwrap_or_default().to_vec();
        e.replace(NewValue::Obj(Box::new(Object::Str(v))), None, true);
    }
    match e.obj_mut() {
        Some(Object::Str(v)) => Ok(v),
        _ => Err(error::WRONGTYPE),
    }
}

/// The byte range GETRANGE returns, with Redis 7.0's index rules.
pub fn range_of(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    if (start < 0 && end < 0 && start > end) || len == 0 {
        return None;
    }
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end {
        return None;
    }
    Some((start as usize, end as usize))
}

/// GETRANGE key start end
fn getrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let start = args::int(&argv[2])?;
    let end = args::int(&argv[3])?;
    let mut shard = ctx.shard();
    let Some(e) = shard.get(ctx.db(), ctx.slot, &argv[1], ctx.now) else {
        ctx.out.bulk(b"");
        return Ok(());
    };
    let mut scratch = itoa::Buffer::new();
    let v = e.value();
    let s = v.as_str(&mut scratch).ok_or(error::WRONGTYPE)?;
    match range_of(s.len(), start, end) {
        Some((a, b)) => ctx.out.bulk(&s[a..=b]),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

/// SETRANGE key offset value
fn setrange(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let offset = args::int(&argv[2])?;
    if offset < 0 {
        return Err(error::OFFSET_OUT_OF_RANGE);
    }
    let offset = offset as usize;
    let value = &argv[3];
    let max = max_string(ctx);
    let db = ctx.db();
    let mut shard = ctx.shard();
    let Some(mut e) = shard.get(db, ctx.slot, &argv[1], ctx.now) else {
        if value.is_empty() {
            ctx.out.int(0);
            return Ok(());
        }
        if offset.saturating_add(value.len()) > max {
            return Err(error::STRING_TOO_LONG);
        }
        let mut v = vec![0u8; offset + value.len()];
        v[offset..].copy_from_slice(value);
        let len = v.len();
        shard.set(db, ctx.slot, &argv[1], NewValue::Obj(Box::new(Object::Str(v))), None, ctx.now);
        ctx.written(events::STRING, "setrange", &argv[1], false);
        ctx.out.int(len as i64);
        return Ok(());
    };
    let current = string_len(&e.value())?;
    if value.is_empty() {
        ctx.out.int(current as i64);
        return Ok(());
    }
    if offset.saturating_add(value.len()) > max {
        return Err(error::STRING_TOO_LONG);
    }
    let v = raw_string_mut(&mut e)?;
    if v.len() < offset + value.len() {
        v.resize(offset + value.len(), 0);
    }
    v[offset..offset + value.len()].copy_from_slice(value);
    ctx.out.int(v.len() as i64);
    ctx.changed(events::STRING, "setrange", &argv[1]);
    Ok(())
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]
fn lcs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (mut want_len, mut want_idx, mut with_match_len) = (false, false, false);
    let mut min_match: i64 = 0;
    let mut i = 3;
    while i < argv.len() {
        let a = &argv[i];
        if args::is(a, "LEN") {
            want_len = true;
        } else if args::is(a, "IDX") {
            want_idx = true;
        } else if args::is(a, "WITHMATCHLEN") {
            with_match_len = true;
        } else if args::is(a, "MINMATCHLEN") && i + 1 < argv.len() {
            min_match = args::int(&argv[i + 1])?.max(0);
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    if want_len && want_idx {
        return Err(CommandError::new("ERR If you want both the length and indexes, please just use IDX."));
    }
    let (a, b) = {
        let slots = [key_slot(&argv[1]), key_slot(&argv[2])];
        let mut locked = ctx.server.keyspace.lock_shards(slots);
        let mut fetch = |key: &[u8], slot: u16| -> Result<Vec<u8>, CommandError> {
            match locked.shard(slot).get(ctx.session.db, slot, key, ctx.now) {
                Some(e) => {
                    let mut scratch = itoa::Buffer::new();
                    let v = e.value();
                    v.as_str(&mut scratch)
                        .map(|s| s.to_vec())
                        .ok_or(CommandError::new("ERR The specified keys must contain string values"))
                }
                None => Ok(Vec::new()),
            }
        };
        (fetch(&argv[1], slots[0])?, fetch(&argv[2], slots[1])?)
    };
    let cells = (a.len() as u128 + 1) * (b.len() as u128 + 1) * 4;
    if cells > max_string(ctx) as u128 {
        return Err(CommandError::new(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    let (len, matches, text) = lcs_compute(&a, &b, want_idx);
    if want_len {
        ctx.out.int(len as i64);
    } else if want_idx {
        let kept: Vec<_> = matches.into_iter().filter(|m| m.2 as i64 >= min_match).collect();
        ctx.out.map(2);
        ctx.out.bulk(b"matches");
        ctx.out.array(kept.len());
        for (ra, rb, mlen) in kept {
            ctx.out.array(if with_match_len { 3 } else { 2 });
            for (s, e) in [ra, rb] {
                ctx.out.array(2);
                ctx.out.int(s as i64);
                ctx.out.int(e as i64);
            }
            if with_match_len {
                ctx.out.int(mlen as i64);
            }
        }
        ctx.out.bulk(b"len");
        ctx.out.int(len as i64);
    } else {
        ctx.out.bulk(&text);
    }
    Ok(())
}

type Match = ((usize, usize), (usize, usize), usize);

/// Classic dynamic programming LCS, walked back from the end as Redis does, so matches
/// come out last-first. Returns (length, matched ranges, the common subsequence).
fn lcs_compute(a: &[u8], b: &[u8], ranges: bool) -> (usize, Vec<Match>, Vec<u8>) {
    let w = b.len() + 1;
    let mut dp = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            dp[i * w + j] = if a[i - 1] == b[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let len = dp[a.len() * w + b.len()] as usize;
    let mut text = vec![0u8; len];
    let mut idx = len;
    let mut matches = Vec::new();
    let (mut i, mut j) = (a.len(), b.len());
    let mut current: Option<Match> = None;
    while i > 0 && j > 0 {
        if a[i - 1] == b[j - 1] {
            idx -= 1;
            text[idx] = a[i - 1];
            let (ai, bj) = (i - 1, j - 1);
            current = match current {
                Some(((as_, ae), (bs, be), n)) if as_ == ai + 1 && bs == bj + 1 => {
                    Some(((ai, ae), (bj, be), n + 1))
                }
                Some(m) => {
                    if ranges {
                        matches.push(m);
                    }
                    Some(((ai, ai), (bj, bj), 1))
                }
                None => Some(((ai, ai), (bj, bj), 1)),
            };
            i -= 1;
            j -= 1;
        } else if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
            i -= 1;
        } else {
            j -= 1;
        }
    }
    if let (Some(m), true) = (current, ranges) {
        matches.push(m);
    }
    (len, matches, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getrange_indices() {
        assert_eq!(range_of(13, 0, 3), Some((0, 3)));
        assert_eq!(range_of(13, -3, -1), Some((10, 12)));
        assert_eq!(range_of(13, 0, -1), Some((0, 12)));
        assert_eq!(range_of(13, 10, 100), Some((10, 12)));
        assert_eq!(range_of(13, 5, 3), None);
        assert_eq!(range_of(13, -1, -5), None);
        assert_eq!(range_of(0, 0, -1), None);
    }

    #[test]
    fn lcs_matches_redis_example() {
        // From the Redis LCS documentation.
        let (len, matches, text) = lcs_compute(b"ohmytext", b"mynewtext", true);
        assert_eq!(len, 6);
        assert_eq!(text, b"mytext");
        assert_eq!(matches, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
    }
}
