//! Generic key commands: DEL, EXISTS, TTLs, RENAME/COPY/MOVE, KEYS/SCAN/RANDOMKEY,
//! DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, TYPE, OBJECT.

use crate::server::pubsub::events;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;

use super::Ctx;
use super::connection::help;
use super::table::*;
use crate::cluster::slot::{SLOTS, key_slot};
use crate::cluster::state::Role;
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::storage::db::Db;
use crate::storage::evict::idle_ms;
use crate::storage::{Entry, random_u64};

const K: u32 = KEYSPACE;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, del).keys(1, -1, 1).acl(K)
        .doc("Deletes one or more keys.", "1.0.0"),
    CommandSpec::new("unlink", -2, WRITE | FAST, unlink).keys(1, -1, 1).acl(K)
        .doc("Asynchronously deletes one or more keys.", "4.0.0"),
    CommandSpec::new("exists", -2, READONLY | FAST, exists).keys(1, -1, 1).acl(K)
        .doc("Determines whether one or more keys exist.", "1.0.0"),
    CommandSpec::new("touch", -2, READONLY | FAST, touch).keys(1, -1, 1).acl(K)
        .doc("Returns the number of existing keys out of those specified after updating the time they were last accessed.", "3.2.1"),
    CommandSpec::new("type", 2, READONLY | FAST, type_).keys(1, 1, 1).acl(K)
        .doc("Determines the type of value stored at a key.", "1.0.0"),
    CommandSpec::new("rename", 3, WRITE, rename).keys(1, 2, 1).acl(K)
        .doc("Renames a key and overwrites the destination.", "1.0.0"),
    CommandSpec::new("renamenx", 3, WRITE | FAST, renamenx).keys(1, 2, 1).acl(K)
        .doc("Renames a key only when the target key name doesn't exist.", "1.0.0"),
    CommandSpec::new("copy", -3, WRITE | DENYOOM, copy).keys(1, 2, 1).acl(K)
        .doc("Copies the value of a key to a new key.", "6.2.0"),
    CommandSpec::new("move", 3, WRITE | FAST, move_).keys(1, 1, 1).acl(K)
        .doc("Moves a key to another database.", "1.0.0"),
    CommandSpec::new("expire", -3, WRITE | FAST, expire).keys(1, 1, 1).acl(K)
        .doc("Sets the expiration time of a key in seconds.", "1.0.0"),
    CommandSpec::new("pexpire", -3, WRITE | FAST, pexpire).keys(1, 1, 1).acl(K)
        .doc("Sets the expiration time of a key in milliseconds.", "2.6.0"),
    CommandSpec::new("expireat", -3, WRITE | FAST, expireat).keys(1, 1, 1).acl(K)
        .doc("Sets the expiration time of a key to a Unix timestamp.", "1.2.0"),
    CommandSpec::new("pexpireat", -3, WRITE | FAST, pexpireat).keys(1, 1, 1).acl(K)
        .doc("Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0"),
    CommandSpec::new("ttl", 2, READONLY | FAST, ttl).keys(1, 1, 1).acl(K)
        .doc("Returns the expiration time in seconds of a key.", "1.0.0"),
    CommandSpec::new("pttl", 2, READONLY | FAST, pttl).keys(1, 1, 1).acl(K)
        .doc("Returns the expiration time in milliseconds of a key.", "2.6.0"),
    CommandSpec::new("expiretime", 2, READONLY | FAST, expiretime).keys(1, 1, 1).acl(K)
        .doc("Returns the expiration time of a key as a Unix timestamp.", "7.0.0"),
    CommandSpec::new("pexpiretime", 2, READONLY | FAST, pexpiretime).keys(1, 1, 1).acl(K)
        .doc("Returns the expiration time of a key as a Unix milliseconds timestamp.", "7.0.0"),
    CommandSpec::new("persist", 2, WRITE | FAST, persist).keys(1, 1, 1).acl(K)
        .doc("Removes the expiration time of a key.", "2.2.0"),
    CommandSpec::new("keys", 2, READONLY, keys).acl(K | DANGEROUS)
        .doc("Returns all key names that match a pattern.", "1.0.0"),
    CommandSpec::new("scan", -2, READONLY, scan).acl(K)
        .doc("Iterates over the key names in the database.", "2.8.0"),
    CommandSpec::new("randomkey", 1, READONLY, randomkey).acl(K)
        .doc("Returns a random key name from the database.", "1.0.0"),
    CommandSpec::new("dbsize", 1, READONLY | FAST, dbsize).acl(K)
        .doc("Returns the number of keys in the database.", "1.0.0"),
    CommandSpec::new("flushdb", -1, WRITE, flushdb).acl(K | DANGEROUS)
        .doc("Remove all keys from the current database.", "1.0.0"),
    CommandSpec::new("flushall", -1, WRITE, flushall).acl(K | DANGEROUS)
        .doc("Removes all keys from all databases.", "1.0.0"),
    CommandSpec::new("swapdb", 3, WRITE | FAST, swapdb).acl(K | DANGEROUS)
        .doc("Swaps two Redis databases.", "4.0.0"),
    CommandSpec::new("object", -2, 0, object_help)
        .doc("A container for object introspection commands.", "2.2.3")
        .subs(OBJECT_SUBCOMMANDS),
];

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("object|encoding", 3, READONLY, object_encoding)
        .keys(2, 2, 1)
        .acl(K)
        .doc("Returns the internal encoding of a Redis object.", "2.2.3"),
    CommandSpec::new("object|freq", 3, READONLY, object_freq)
        .keys(2, 2, 1)
        .acl(K)
        .doc("Returns the logarithmic access frequency counter of a Redis object.", "4.0.0"),
    CommandSpec::new("object|idletime", 3, READONLY, object_idletime)
        .keys(2, 2, 1)
        .acl(K)
        .doc("Returns the time since the last access to a Redis object.", "2.2.3"),
    CommandSpec::new("object|refcount", 3, READONLY, object_refcount)
        .keys(2, 2, 1)
        .acl(K)
        .doc("Returns the reference count of a value of a key.", "2.2.3"),
    CommandSpec::new("object|help", 2, LOADING | STALE, object_help)
        .acl(K)
        .doc("Returns helpful text about the different subcommands.", "6.2.0"),
];

fn del_generic(ctx: &mut Ctx<'_>, keys: &[Bytes]) -> CmdResult {
    let slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
    let mut locked = ctx.server.keyspace.lock_shards(slots.iter().copied());
    let db = ctx.session.db;
    let mut removed = 0;
    for (k, &slot) in keys.iter().zip(slots.iter()) {
        if locked.shard(slot).remove(db, slot, k, ctx.now).is_some() {
            removed += 1;
            ctx.changed(events::GENERIC, "del", k);
        }
    }
    ctx.out.int(removed as i64);
    Ok(())
}

/// DEL key [key ...]
fn del(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    del_generic(ctx, &argv[1..])
}

/// UNLINK key [key ...]
fn unlink(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    del_generic(ctx, &argv[1..])
}

fn count_existing(ctx: &mut Ctx<'_>, keys: &[Bytes], touch: bool) -> CmdResult {
    let slots: Vec<u16> = keys.iter().map(|k| key_slot(k)).collect();
    let mut locked = ctx.server.keyspace.lock_shards(slots.iter().copied());
    let db = ctx.session.db;
    let mut n = 0;
    for (k, &slot) in keys.iter().zip(slots.iter()) {
        let shard = locked.shard(slot);
        let found = if touch {
            shard.get(db, slot, k, ctx.now).is_some()
        } else {
            shard.exists(db, slot, k, ctx.now)
        };
        n += found as i64;
    }
    ctx.out.int(n);
    Ok(())
}

/// EXISTS key [key ...]
fn exists(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    count_existing(ctx, &argv[1..], false)
}

/// TOUCH key [key ...]
fn touch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    count_existing(ctx, &argv[1..], true)
}

/// TYPE key
fn type_(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let name = match shard.peek(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        Some(e) => e.value().type_name(),
        None => "none",
    };
    ctx.out.simple(name);
    Ok(())
}

/// Moves `src` to `dst` (same database), keeping the TTL. Returns false when `nx` and
/// the destination exists. Errors when the source does not exist.
fn rename_generic(ctx: &mut Ctx<'_>, src: &[u8], dst: &[u8], nx: bool) -> Result<bool, CommandError> {
    let (ss, ds) = (key_slot(src), key_slot(dst));
    let mut locked = ctx.server.keyspace.lock_shards([ss, ds]);
    let db = ctx.session.db;
    if !locked.shard(ss).exists(db, ss, src, ctx.now) {
        return Err(error::NO_SUCH_KEY);
    }
    if src == dst {
        return Ok(!nx);
    }
    if nx && locked.shard(ds).exists(db, ds, dst, ctx.now) {
        return Ok(false);
    }
    let Some(entry) = locked.shard(ss).remove(db, ss, src, ctx.now) else {
        return Err(error::NO_SUCH_KEY);
    };
    locked.shard(ds).insert(db, ds, entry.rekey(dst), ctx.now);
    // One change, as Redis counts it.
    ctx.signal_changed(events::GENERIC, "rename_from", src);
    ctx.changed(events::GENERIC, "rename_to", dst);
    Ok(true)
}

/// RENAME key newkey
fn rename(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    rename_generic(ctx, &argv[1], &argv[2], false)?;
    ctx.out.ok();
    Ok(())
}

/// RENAMENX key newkey
fn renamenx(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let done = rename_generic(ctx, &argv[1], &argv[2], true)?;
    ctx.out.int(done as i64);
    Ok(())
}

fn parse_db(ctx: &Ctx<'_>, arg: &[u8]) -> Result<usize, CommandError> {
    match args::parse_i64(arg) {
        Some(v) if v >= 0 && (v as usize) < ctx.server.keyspace.databases() => Ok(v as usize),
        Some(_) => Err(error::INVALID_DB),
        None => Err(error::NOT_INTEGER),
    }
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (src, dst) = (&argv[1], &argv[2]);
    let mut dst_db = ctx.db();
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if args::is(&argv[i], "REPLACE") {
            replace = true;
        } else if args::is(&argv[i], "DB") && i + 1 < argv.len() {
            dst_db = parse_db(ctx, &argv[i + 1])?;
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    if src == dst && dst_db == ctx.db() {
        return Err(error::SAME_OBJECT);
    }
    let (ss, ds) = (key_slot(src), key_slot(dst));
    let mut locked = ctx.server.keyspace.lock_shards([ss, ds]);
    let db = ctx.session.db;
    let Some(copied) = locked.shard(ss).peek(db, ss, src, ctx.now).map(|e| e.duplicate(dst, e.expire_at()))
    else {
        ctx.out.int(0);
        return Ok(());
    };
    if !replace && locked.shard(ds).exists(dst_db, ds, dst, ctx.now) {
        ctx.out.int(0);
        return Ok(());
    }
    locked.shard(ds).insert(dst_db, ds, copied, ctx.now);
    ctx.changed_in(dst_db, events::GENERIC, "copy_to", dst);
    ctx.out.int(1);
    Ok(())
}

/// MOVE key db
fn move_(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let target = parse_db(ctx, &argv[2])?;
    let db = ctx.db();
    if target == db {
        return Err(error::SAME_OBJECT);
    }
    let mut shard = ctx.shard();
    if !shard.exists(db, ctx.slot, &argv[1], ctx.now) || shard.exists(target, ctx.slot, &argv[1], ctx.now) {
        ctx.out.int(0);
        return Ok(());
    }
    if let Some(entry) = shard.remove(db, ctx.slot, &argv[1], ctx.now) {
        shard.insert(target, ctx.slot, entry, ctx.now);
    }
    // One change, as Redis counts it.
    ctx.changed(events::GENERIC, "move_from", &argv[1]);
    ctx.signal(target, events::GENERIC, "move_to", &argv[1]);
    ctx.out.int(1);
    Ok(())
}

/// EXPIRE-family options.
#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn expire_generic(ctx: &mut Ctx<'_>, argv: &[Bytes], unit_ms: i64, relative: bool, cmd: &str) -> CmdResult {
    let when = args::int(&argv[2])?;
    let mut f = ExpireFlags::default();
    for a in &argv[3..] {
        if args::is(a, "NX") {
            f.nx = true;
        } else if args::is(a, "XX") {
            f.xx = true;
        } else if args::is(a, "GT") {
            f.gt = true;
        } else if args::is(a, "LT") {
            f.lt = true;
        } else {
            return Err(CommandError::owned(format!("ERR Unsupported option {}", error::sanitize(a))));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(error::EXPIRE_NX_XX);
    }
    if f.gt && f.lt {
        return Err(error::EXPIRE_GT_LT);
    }
    let ms = when.checked_mul(unit_ms).ok_or_else(|| error::invalid_expire(cmd))?;
    let base = if relative { ctx.now as i64 } else { 0 };
    let at = ms.checked_add(base).ok_or_else(|| error::invalid_expire(cmd))?;
    let db = ctx.db();
    let mut shard = ctx.shard();
    let Some(mut e) = shard.peek(db, ctx.slot, &argv[1], ctx.now) else {
        ctx.out.int(0);
        return Ok(());
    };
    let current = e.expire_at();
    let allowed = match current {
        _ if f.nx => current.is_none(),
        None if f.xx || f.gt => false,
        None => true,
        Some(c) => !(f.gt && at <= c as i64 || f.lt && at >= c as i64),
    };
    if !allowed {
        ctx.out.int(0);
        return Ok(());
    }
    if at <= ctx.now as i64 {
        shard.remove(db, ctx.slot, &argv[1], ctx.now);
        ctx.changed(events::GENERIC, "del", &argv[1]);
    } else {
        e.set_expire(Some(at as u64));
        ctx.changed(events::GENERIC, "expire", &argv[1]);
    }
    ctx.out.int(1);
    Ok(())
}

/// EXPIRE key seconds [NX | XX | GT | LT]
fn expire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1000, true, "expire")
}

/// PEXPIRE key milliseconds [NX | XX | GT | LT]
fn pexpire(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1, true, "pexpire")
}

/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
fn expireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1000, false, "expireat")
}

/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
fn pexpireat(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    expire_generic(ctx, argv, 1, false, "pexpireat")
}

/// Replies -2 (no key), -1 (no TTL) or what `f` computes from the expiry time.
fn ttl_generic(ctx: &mut Ctx<'_>, key: &[u8], f: impl Fn(u64, u64) -> i64) -> CmdResult {
    let mut shard = ctx.shard();
    let v = match shard.peek(ctx.db(), ctx.slot, key, ctx.now) {
        None => -2,
        Some(e) => match e.expire_at() {
            None => -1,
            Some(at) => f(at, ctx.now),
        },
    };
    ctx.out.int(v);
    Ok(())
}

/// TTL key
fn ttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, now| ((at.saturating_sub(now) + 500) / 1000) as i64)
}

/// PTTL key
fn pttl(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, now| at.saturating_sub(now) as i64)
}

/// EXPIRETIME key
fn expiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, _| (at / 1000) as i64)
}

/// PEXPIRETIME key
fn pexpiretime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, &argv[1], |at, _| at as i64)
}

/// PERSIST key
fn persist(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    let changed = match shard.peek(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        Some(mut e) if e.expire_at().is_some() => {
            e.set_expire(None);
            1
        }
        _ => 0,
    };
    if changed == 1 {
        ctx.changed(events::GENERIC, "persist", &argv[1]);
    }
    ctx.out.int(changed);
    Ok(())
}

/// KEYS pattern
fn keys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let pattern = &argv[1];
    let all = &pattern[..] == b"*";
    let visible = ctx.server.visible_slots();
    let mut found: Vec<Vec<u8>> = Vec::new();
    for i in 0..ctx.server.keyspace.shard_count() {
        let shard = ctx.server.keyspace.lock_index(i);
        for local in 0..shard.local_slots() {
            let global = shard.global_slot(local);
            if global >= SLOTS || !visible(global as u16) {
                continue;
            }
            for e in shard.dbs[ctx.session.db].slot_iter(local, ctx.now) {
                if all || args::glob_match(pattern, e.key(), false) {
                    found.push(e.key().to_vec());
                }
            }
        }
    }
    ctx.out.bulks(found.iter().map(|k| k.as_slice()));
    Ok(())
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
///
/// The cursor is the next cluster slot to visit. Keys are visited slot by slot, and a
/// slot is always returned whole, so a key present for the whole iteration is returned
/// at least once, whatever is written meanwhile.
fn scan(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let opts = super::ScanArgs::parse(argv, 1, Some("TYPE"))?;
    let (cursor, count, type_filter) = (opts.cursor, opts.count, opts.type_filter);
    let db = ctx.session.db;
    let mut slot = cursor.min(SLOTS as u64) as usize;
    let mut visited = 0;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let visible = ctx.server.visible_slots();
    while slot < SLOTS && visited < count {
        if !visible(slot as u16) {
            slot += 1;
            continue;
        }
        let shard = ctx.server.keyspace.lock(slot as u16);
        let local = shard.local(slot as u16);
        for e in shard.dbs[db].slot_iter(local, ctx.now) {
            visited += 1;
            if !opts.matches(e.key()) {
                continue;
            }
            if type_filter.is_some_and(|t| !t.eq_ignore_ascii_case(e.value().type_name().as_bytes())) {
                continue;
            }
            found.push(e.key().to_vec());
        }
        slot += 1;
    }
    let next = if slot >= SLOTS { 0 } else { slot };
    ctx.out.array(2);
    ctx.out.bulk_int(next as i64);
    ctx.out.bulks(found.iter().map(|k| k.as_slice()));
    Ok(())
}

/// RANDOMKEY
fn randomkey(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let db = ctx.session.db;
    let ks = &ctx.server.keyspace;
    let start = (random_u64() % SLOTS as u64) as usize;
    let visible = ctx.server.visible_slots();
    for offset in 0..SLOTS {
        let slot = ((start + offset) % SLOTS) as u16;
        if !visible(slot) {
            continue;
        }
        let shard = ks.lock(slot);
        let local = shard.local(slot);
        let d: &Db = &shard.dbs[db];
        let n = d.slot_len(local);
        if n == 0 {
            continue;
        }
        let first = (random_u64() % n as u64) as usize;
        let live =
            d.slot_entries_from(local, first).find(|e| !e.is_expired(ctx.now)).map(|e| e.key().to_vec());
        if let Some(key) = live {
            drop(shard);
            ctx.out.bulk(&key);
            return Ok(());
        }
    }
    ctx.out.null();
    Ok(())
}

/// DBSIZE
fn dbsize(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.server.db_size(ctx.session.db) as i64);
    Ok(())
}

/// Parses FLUSHDB/FLUSHALL's optional ASYNC|SYNC; true means free in the background.
fn flush_mode(ctx: &Ctx<'_>, argv: &[Bytes]) -> Result<bool, CommandError> {
    match argv.get(1) {
        None if argv.len() == 1 => Ok(ctx.server.config().lazyfree_lazy_user_flush),
        Some(a) if argv.len() == 2 && args::is(a, "ASYNC") => Ok(true),
        Some(a) if argv.len() == 2 && args::is(a, "SYNC") => Ok(false),
        _ => Err(error::SYNTAX),
    }
}

/// Empties the given databases. The shard locks are held only to swap in empty
/// tables; the old ones are freed afterwards (on a background thread for ASYNC).
fn flush_dbs(ctx: &Ctx<'_>, which: Option<usize>, background: bool) {
    ctx.server.tracking.flush();
    if let Some(cluster) = &ctx.server.cluster {
        // A node flushes the ranges it is primary of (its replicas, the same ranges,
        // as the flush reaches them in its stream), never copies of other primaries'.
        let state = cluster.state();
        let slots: Vec<u16> = match &ctx.session.master_scope {
            Some(scope) => scope.copied_slots(&state),
            None => (0..SLOTS as u16).filter(|&s| state.role(s) == Role::Primary).collect(),
        };
        {
            let mut locked = ctx.server.keyspace.lock_all();
            touch_watched_live(ctx, &mut locked, |_| true, |db| db);
        }
        ctx.stats.dirty.add(ctx.server.keyspace.drop_slots(&slots) as u64);
        return;
    }
    let mut old: Vec<Db> = Vec::new();
    // Redis counts every key a flush removes as a change.
    let mut removed = 0;
    {
        let mut locked = ctx.server.keyspace.lock_all();
        touch_watched_live(ctx, &mut locked, |db| which.is_none_or(|w| w == db), |db| db);
        for shard in locked.iter_mut() {
            // A background snapshot keeps what it has not written yet first.
            shard.keep_all();
            let local_slots = shard.local_slots();
            for (i, db) in shard.dbs.iter_mut().enumerate() {
                if which.is_none_or(|w| w == i) && !db.is_empty() {
                    removed += db.len();
                    old.push(std::mem::replace(db, Db::new(local_slots)));
                }
            }
        }
    }
    ctx.stats.dirty.add(removed as u64);
    // At most MAX_LAZYFREE_THREADS free in the background at once; past that the
    // caller frees inline, as a SYNC flush would.
    if background {
        if LAZYFREE_THREADS.fetch_add(1, Relaxed) < MAX_LAZYFREE_THREADS {
            let spawned = std::thread::Builder::new().name("slotcache-lazyfree".into()).spawn(move || {
                drop(old);
                LAZYFREE_THREADS.fetch_sub(1, Relaxed);
            });
            if spawned.is_err() {
                // The closure, and the databases in it, were freed right here.
                LAZYFREE_THREADS.fetch_sub(1, Relaxed);
            }
            return;
        }
        LAZYFREE_THREADS.fetch_sub(1, Relaxed);
    }
    drop(old);
}

/// Before a flush or swap: touches the keys watched in the databases `watched` selects
/// that hold a live key in database `holder(db)`. Keys already expired are not changed
/// by the flush, as in Redis.
fn touch_watched_live(
    ctx: &Ctx<'_>,
    locked: &mut crate::storage::Locked<'_>,
    watched: impl Fn(usize) -> bool,
    holder: impl Fn(usize) -> usize,
) {
    for (db, key) in ctx.server.watches.watched_in(watched) {
        let slot = key_slot(&key);
        if locked.shard(slot).is_live(holder(db), slot, &key, ctx.now) {
            ctx.server.watches.touch(db, &key);
        }
    }
}

/// Background threads freeing flushed databases right now.
static LAZYFREE_THREADS: AtomicUsize = AtomicUsize::new(0);
const MAX_LAZYFREE_THREADS: usize = 2;

/// FLUSHDB [ASYNC | SYNC]
fn flushdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let background = flush_mode(ctx, argv)?;
    flush_dbs(ctx, Some(ctx.session.db), background);
    ctx.out.ok();
    Ok(())
}

/// FLUSHALL [ASYNC | SYNC]
fn flushall(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let background = flush_mode(ctx, argv)?;
    flush_dbs(ctx, None, background);
    ctx.out.ok();
    Ok(())
}

/// SWAPDB index1 index2
fn swapdb(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let a = args::parse_i64(&argv[1]).ok_or(CommandError::new("ERR invalid first DB index"))?;
    let b = args::parse_i64(&argv[2]).ok_or(CommandError::new("ERR invalid second DB index"))?;
    let n = ctx.server.keyspace.databases() as i64;
    if a < 0 || a >= n || b < 0 || b >= n {
        return Err(error::INVALID_DB);
    }
    if a != b {
        let (a, b) = (a as usize, b as usize);
        let mut locked = ctx.server.keyspace.lock_all();
        // A watched key changes if it exists on either side of the swap.
        let other = |db| if db == a { b } else { a };
        touch_watched_live(ctx, &mut locked, |db| db == a || db == b, |db| db);
        touch_watched_live(ctx, &mut locked, |db| db == a || db == b, other);
        for shard in locked.iter_mut() {
            shard.keep_all();
            shard.dbs.swap(a, b);
            shard.clear_pool();
        }
        drop(locked);
        // Keys clients are blocked on may exist now.
        ctx.server.blocking.wake_all();
    }
    ctx.stats.dirty.incr();
    ctx.out.ok();
    Ok(())
}

/// OBJECT ENCODING key
fn object_encoding(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut shard = ctx.shard();
    match shard.peek(ctx.db(), ctx.slot, &argv[2], ctx.now) {
        Some(e) => ctx.out.bulk(e.encoding_name().as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Whether the policy counts accesses (OBJECT FREQ) rather than timing them (IDLETIME).
fn lfu_policy(ctx: &Ctx<'_>) -> bool {
    ctx.server.config().maxmemory_policy.ends_with("lfu")
}

/// OBJECT FREQ key
fn object_freq(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if !lfu_policy(ctx) {
        return Err(CommandError::new(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    let now = ctx.now;
    let (db, slot) = (ctx.db(), ctx.slot);
    let mut shard = ctx.shard();
    let (access, epoch) = (shard.access, shard.tiny_epoch());
    match shard.peek(db, slot, &argv[2], now) {
        // Under allkeys-tinylfu, the key's aged access count (0-255).
        Some(e) => ctx.out.int(access.count(epoch, e.clock(), now) as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// OBJECT IDLETIME key
fn object_idletime(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if lfu_policy(ctx) {
        return Err(CommandError::new(
            "ERR An LRU maxmemory policy is not selected, access time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ));
    }
    let now = ctx.now;
    object_reply(ctx, &argv[2], |e| (idle_ms(e.clock(), now) / 1000) as i64)
}

/// OBJECT REFCOUNT key
fn object_refcount(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    object_reply(ctx, &argv[2], |_| 1)
}

/// Replies `f(entry)` for an existing key (without touching its access time), or nil.
fn object_reply(ctx: &mut Ctx<'_>, key: &[u8], f: impl Fn(&Entry) -> i64) -> CmdResult {
    let mut shard = ctx.shard();
    match shard.peek(ctx.db(), ctx.slot, key, ctx.now) {
        Some(e) => ctx.out.int(f(&e)),
        None => ctx.out.null(),
    }
    Ok(())
}

/// OBJECT HELP
fn object_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    help(
        ctx,
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}
