//! Persistence commands: DUMP and RESTORE (Redis's payloads, [`crate::persist`]),
//! SAVE and LASTSAVE (snapshots, [`crate::persist::snapshot`]).

use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::error::{self, CmdResult, CommandError};
use crate::persist::{self, Loaded, RestoreError};
use crate::protocol::args;
use crate::server::pubsub::events;
use crate::storage::NewValue;

const K: u32 = KEYSPACE;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, READONLY, dump)
        .keys(1, 1, 1)
        .acl(K)
        .doc("Returns a serialized representation of the value stored at a key.", "2.6.0"),
    CommandSpec::new("restore", -4, WRITE | DENYOOM, restore)
        .keys(1, 1, 1)
        .acl(K | DANGEROUS)
        .doc("Creates a key from the serialized representation of a value.", "2.6.0"),
    CommandSpec::new("save", 1, ADMIN | NOSCRIPT | NO_MULTI, save)
        .group("server")
        .doc("Synchronously saves the database(s) to disk.", "1.0.0"),
    CommandSpec::new("bgsave", -1, ADMIN | NOSCRIPT, bgsave)
        .group("server")
        .doc("Asynchronously saves the database(s) to disk.", "1.0.0"),
    CommandSpec::new("lastsave", 1, LOADING | STALE | FAST, lastsave)
        .acl(DANGEROUS | ADMIN_CAT)
        .group("server")
        .doc("Returns the Unix timestamp of the last successful save to disk.", "1.0.0"),
];

/// SAVE: the snapshot now, the server waiting for it.
fn save(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.server.save_snapshot().map_err(CommandError::owned)?;
    ctx.out.ok();
    Ok(())
}

/// BGSAVE [SCHEDULE]: the snapshot written while clients go on.
fn bgsave(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let schedule = match argv.len() {
        1 => false,
        2 if args::is(&argv[1], "SCHEDULE") => true,
        _ => return Err(error::SYNTAX),
    };
    let server =
        ctx.server.shared().ok_or(CommandError::new("ERR background saves need a running server"))?;
    let started = server.start_bgsave(schedule).map_err(CommandError::owned)?;
    ctx.out.simple(started);
    Ok(())
}

/// LASTSAVE
fn lastsave(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.server.persistence.last_save_s.load(std::sync::atomic::Ordering::Relaxed) as i64);
    Ok(())
}

/// `rdbcompression`: LZF for strings over 20 bytes in payloads and snapshots.
pub fn compression(ctx: &Ctx<'_>) -> bool {
    ctx.server.config().get("rdbcompression").as_deref() != Some("no")
}

/// DUMP key
fn dump(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let compress = compression(ctx);
    let mut shard = ctx.shard();
    match shard.peek(ctx.db(), ctx.slot, &argv[1], ctx.now) {
        Some(e) => {
            let payload = persist::dump(&e.value(), compress);
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
fn restore(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut i = 4;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        if args::is(&argv[i], "REPLACE") {
            replace = true;
        } else if args::is(&argv[i], "ABSTTL") {
            absttl = true;
        } else if args::is(&argv[i], "IDLETIME") && more && freq.is_none() {
            let v = args::int(&argv[i + 1])?;
            if v < 0 {
                return Err(CommandError::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(v);
            i += 1;
        } else if args::is(&argv[i], "FREQ") && more && idle.is_none() {
            let v = args::int(&argv[i + 1])?;
            if !(0..=255).contains(&v) {
                return Err(CommandError::new("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(v);
            i += 1;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    let (db, slot, key) = (ctx.db(), ctx.slot, &argv[1]);
    if !replace && ctx.shard().exists(db, slot, key, ctx.now) {
        return Err(error::BUSYKEY);
    }
    let ttl = args::int(&argv[2])?;
    if ttl < 0 {
        return Err(CommandError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let (text, obj) = match persist::restore(&argv[3], &ctx.encodings()) {
        Ok(Loaded::Str(s)) => (s, None),
        Ok(Loaded::Obj(o)) => (Vec::new(), Some(Box::new(o))),
        Ok(Loaded::Empty) | Err(RestoreError::BadFormat) => return Err(error::BAD_DATA_FORMAT),
        Err(RestoreError::VersionOrChecksum) => return Err(error::DUMP_PAYLOAD),
    };
    let value = match obj {
        Some(o) => NewValue::Obj(o),
        None => NewValue::Str(&text),
    };
    let expire_at = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(ctx.now.saturating_add(t as u64)),
    };
    let mut shard = ctx.shard();
    if expire_at.is_some_and(|at| at <= ctx.now) {
        // Already expired: only the old key goes (Redis propagates a DEL).
        let deleted = replace && shard.remove(db, slot, key, ctx.now).is_some();
        drop(shard);
        if deleted {
            ctx.changed(events::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(());
    }
    let clock = shard.restored_clock(idle.map(|s| s as u64 * 1000), freq.map(|f| f as u8), ctx.now);
    shard.set(db, slot, key, value, expire_at, ctx.now);
    if let Some(clock) = clock
        && let Some(mut e) = shard.peek(db, slot, key, ctx.now)
    {
        e.set_clock(clock);
    }
    drop(shard);
    ctx.changed(events::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}
