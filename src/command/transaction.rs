//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! After MULTI, dispatch queues every command (checked for name, arity and memory
//! first: a refused one makes EXEC answer EXECABORT). EXEC freezes every shard for its
//! thread, so its commands run one after the other with no other client observing
//! any of them before all are done, on any shard. WATCH registers keys in
//! `server::watch`; any change to one (from any client, expiry, eviction or a flush)
//! makes EXEC answer a null array.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::table::*;
use super::{Ctx, dispatch};
use crate::cluster::slot::key_slot;
use crate::error::{CmdResult, CommandError};
use crate::server::session::Multi;

const TX: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, TX, multi)
        .acl(TRANSACTION)
        .group("transactions")
        .doc("Starts a transaction.", "1.2.0"),
    CommandSpec::new("exec", 1, NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG, exec)
        .acl(TRANSACTION)
        .group("transactions")
        .doc("Executes all commands in a transaction.", "1.2.0"),
    CommandSpec::new("discard", 1, TX, discard)
        .acl(TRANSACTION)
        .group("transactions")
        .doc("Discards a transaction.", "2.0.0"),
    CommandSpec::new("watch", -2, TX, watch)
        .keys(1, -1, 1)
        .acl(TRANSACTION)
        .group("transactions")
        .doc("Monitors changes to keys to determine the execution of a transaction.", "2.2.0"),
    CommandSpec::new("unwatch", 1, TX, unwatch)
        .acl(TRANSACTION)
        .group("transactions")
        .doc("Forgets about watched keys of a transaction.", "2.2.0"),
];

/// Called by dispatch for a command sent after MULTI: queues it and answers QUEUED.
pub fn queue(ctx: &mut Ctx<'_>, spec: &CommandSpec, argv: &[Bytes]) -> CmdResult {
    let limit = ctx.server.limits.query_buffer_limit.load(Relaxed) as usize;
    let Some(multi) = ctx.session.multi.as_mut() else { return Ok(()) };
    // Each argument's bytes plus its handle.
    let size = argv.iter().map(|a| a.len() + size_of::<Bytes>()).sum::<usize>();
    if multi.bytes + size > limit {
        return Err(CommandError::new("ERR transaction queue exceeds client-query-buffer-limit"));
    }
    multi.bytes += size;
    multi.denyoom |= spec.has(DENYOOM);
    multi.writes |= spec.has(WRITE);
    multi.queue.push(argv.to_vec());
    ctx.session.info.multi.store(multi.queue.len() as i64, Relaxed);
    ctx.out.simple("QUEUED");
    Ok(())
}

/// MULTI
fn multi(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CommandError::new("ERR MULTI calls can not be nested"));
    }
    ctx.session.multi = Some(Multi::default());
    ctx.session.info.multi.store(0, Relaxed);
    ctx.out.ok();
    Ok(())
}

/// DISCARD
fn discard(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if ctx.session.multi.is_none() {
        return Err(CommandError::new("ERR DISCARD without MULTI"));
    }
    ctx.session.end_transaction(&ctx.server.watches);
    ctx.out.ok();
    Ok(())
}

/// EXEC
fn exec(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let Some(multi) = ctx.session.multi.take() else {
        return Err(CommandError::new("ERR EXEC without MULTI"));
    };
    let server = ctx.server;
    if multi.aborted {
        ctx.session.end_transaction(&ctx.server.watches);
        return Err(CommandError::new("EXECABORT Transaction discarded because of previous errors."));
    }
    if multi.denyoom
        && let Err(e) = server.make_room(ctx.now)
    {
        ctx.session.end_transaction(&ctx.server.watches);
        return Err(CommandError::owned(format!("EXECABORT Transaction discarded because of: {}", e.text())));
    }
    let frozen = server.keyspace.freeze();
    // A watched key that expired since WATCH has changed: looking it up now removes it,
    // which marks the watchers.
    for (db, key) in ctx.session.watched.keys() {
        let slot = key_slot(key);
        server.keyspace.lock(slot).peek(*db, slot, key, ctx.now);
    }
    let changed = ctx.session.watched.dirty.load(Relaxed);
    ctx.session.end_transaction(&ctx.server.watches);
    if changed {
        drop(frozen);
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(multi.queue.len());
    ctx.session.in_exec = true;
    for argv in &multi.queue {
        dispatch(ctx, argv);
    }
    ctx.session.in_exec = false;
    drop(frozen);
    Ok(())
}

/// WATCH key [key ...]
fn watch(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if ctx.session.multi.is_some() {
        return Err(CommandError::new("ERR WATCH inside MULTI is not allowed"));
    }
    let db = ctx.session.db;
    for key in &argv[1..] {
        // A key already expired is removed first, so its removal is not a change.
        let slot = key_slot(key);
        ctx.server.keyspace.lock(slot).peek(db, slot, key, ctx.now);
        ctx.session.watched.add(&ctx.server.watches, db, key);
    }
    ctx.out.ok();
    Ok(())
}

/// UNWATCH
fn unwatch(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.session.watched.clear(&ctx.server.watches);
    ctx.out.ok();
    Ok(())
}
