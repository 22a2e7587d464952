//! The check pipeline every command goes through, in Redis's order:
//! lookup → (subcommand lookup) → arity → authentication → key slot → handler → stats.
//! Handlers never repeat these checks.

use std::sync::atomic::Ordering::{Relaxed, Release, SeqCst};
use std::time::Instant;

use bytes::Bytes;

use super::Ctx;
use super::table::{
    ADMIN, CommandSpec, DENYOOM, FAST, LOADING, NO_AUTH, NO_MULTI, PROTECTED, READONLY, SKIP_MONITOR,
    SKIP_SLOWLOG, STALE, WRITE, table,
};
use crate::cluster::Redirect;
use crate::cluster::slot::key_slot;
use crate::error::{self, CommandError};

/// What runs at once inside MULTI instead of being queued.
const RUN_WHILE_QUEUING: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// What a RESP2 connection with subscriptions may still run.
const ALLOWED_WHILE_SUBSCRIBED: &[&str] = &[
    "ping",
    "subscribe",
    "ssubscribe",
    "unsubscribe",
    "sunsubscribe",
    "psubscribe",
    "punsubscribe",
    "quit",
    "reset",
];

/// Where a request goes, found before it runs: its command (one without subcommands)
/// and the slot of its first key, 0 without keys ([`crate::server::ahead`] finds it
/// while prefetching).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub idx: usize,
    pub slot: u16,
}

impl Route {
    /// The route of `argv`, if it names a known command without subcommands.
    pub fn of(argv: &[Bytes]) -> Option<Route> {
        let t = table();
        let idx = t.lookup(&argv[0])?;
        let spec = t.specs[idx];
        spec.subcommands.is_empty().then(|| Route { idx, slot: first_key_slot(spec, argv) })
    }
}

/// The slot of a request's first key; 0 for a request without keys.
fn first_key_slot(spec: &CommandSpec, argv: &[Bytes]) -> u16 {
    spec.key_indices(argv).next().map_or(0, |i| key_slot(&argv[i]))
}

/// Runs one command and appends its reply (or error) to `ctx.out`.
pub fn dispatch(ctx: &mut Ctx<'_>, argv: &[Bytes]) {
    dispatch_routed(ctx, argv, None);
}

/// [`dispatch`] with the command and slot already found ([`Route::of`] the same
/// arguments), so they are not looked up twice.
pub fn dispatch_routed(ctx: &mut Ctx<'_>, argv: &[Bytes], route: Option<Route>) {
    let table = table();
    let Some(mut idx) = route.map(|r| r.idx).or_else(|| table.lookup(&argv[0])) else {
        reject(ctx, None, error::unknown_command(argv));
        return;
    };
    let parent = table.specs[idx];
    if !parent.subcommands.is_empty() && argv.len() >= 2 {
        match table.lookup_sub(parent, &argv[1]) {
            Some(sub) => idx = sub,
            None => {
                reject(ctx, Some(idx), error::unknown_subcommand(&argv[1], parent.name));
                return;
            }
        }
    }
    let spec = table.specs[idx];
    if !spec.arity_ok(argv.len()) {
        reject(ctx, Some(idx), error::wrong_arity(spec.name));
        return;
    }
    if !ctx.session.authenticated && !spec.has(NO_AUTH) {
        reject(ctx, Some(idx), error::NOAUTH);
        return;
    }
    if spec.has(PROTECTED) && !debug_allowed(ctx) {
        reject(ctx, Some(idx), error::DEBUG_NOT_ALLOWED);
        return;
    }
    // The first key's slot, when already known (found with the route, or below).
    let mut slot = route.map(|r| r.slot);
    // Redis Cluster's redirection, before anything runs or is queued (a redirected
    // command inside MULTI makes EXEC fail).
    if let Some(cluster) = &ctx.server.cluster {
        let mut keys = spec.key_indices(argv);
        if let Some(first) = keys.next() {
            let first = *slot.get_or_insert_with(|| key_slot(&argv[first]));
            let slots = std::iter::once(first).chain(keys.map(|i| key_slot(&argv[i])));
            if let Some(scope) = &ctx.session.master_scope {
                // A primary's stream: applied only on the slots this node replicates
                // from it now, or took over from it (a deposed primary's writes are not).
                if !scope.applies(&cluster.state(), slots) {
                    ctx.out.ok();
                    return;
                }
            } else if let Redirect::Error(e) = cluster.route(slots, spec.has(WRITE), ctx.session.readonly) {
                reject(ctx, Some(idx), e);
                return;
            }
        }
    }
    if !ctx.out.resp3 && ctx.session.subscribed() && !ALLOWED_WHILE_SUBSCRIBED.contains(&spec.name) {
        let text = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are \
             allowed in this context",
            spec.name
        );
        reject(ctx, Some(idx), CommandError::owned(text));
        return;
    }
    let queuing = ctx.session.multi.is_some() && !RUN_WHILE_QUEUING.contains(&spec.name);
    if queuing && spec.has(NO_MULTI) {
        reject(ctx, Some(idx), CommandError::new("ERR Command not allowed inside a transaction"));
        return;
    }
    if !spec.has(LOADING) && ctx.server.persistence.loading.load(std::sync::atomic::Ordering::Relaxed) {
        reject(ctx, Some(idx), error::LOADING);
        return;
    }
    // The flag first: one atomic load per command while saves succeed.
    if ctx.server.writes_refused_for_disk_error() && (spec.has(WRITE) || spec.name == "ping") {
        reject(ctx, Some(idx), error::MISCONF);
        return;
    }
    if ctx.server.is_replica.load(Relaxed) && !ctx.session.master {
        if spec.has(WRITE) && ctx.server.config().get("replica-read-only").as_deref() != Some("no") {
            reject(ctx, Some(idx), error::READONLY_REPLICA);
            return;
        }
        if !spec.has(STALE)
            && ctx.server.master_link_up.load(Relaxed) == 0
            && ctx.server.config().get("replica-serve-stale-data").as_deref() == Some("no")
        {
            reject(ctx, Some(idx), error::MASTERDOWN);
            return;
        }
    } else if spec.has(WRITE) {
        let repl = &ctx.server.replication;
        let min = repl.min_to_write.load(Relaxed);
        if min > 0 && repl.min_max_lag_s.load(Relaxed) > 0 && repl.good.load(Relaxed) < min {
            reject(ctx, Some(idx), error::NOREPLICAS);
            return;
        }
    }
    if spec.has(DENYOOM)
        && let Err(e) = ctx.server.make_room(ctx.now)
        && !ctx.session.master
    {
        reject(ctx, Some(idx), e);
        return;
    }
    if ctx.server.pause.paused() && !ctx.session.in_exec {
        let writes =
            spec.has(WRITE) || (spec.name == "exec" && ctx.session.multi.as_ref().is_some_and(|m| m.writes));
        if ctx.server.pause.holds(writes) {
            // No reply now: the connection runs the command again when its turn comes.
            ctx.session.postponed = Some(ctx.server.pause.ticket());
            return;
        }
    }
    if queuing {
        if let Err(e) = super::transaction::queue(ctx, spec, argv) {
            reject(ctx, Some(idx), e);
        }
        return;
    }
    // A background save writes a large value in parts before a command changes it,
    // the shard unlocked between parts (a blocked command woken, or one run by EXEC,
    // has it written whole).
    if ctx.server.persistence.bgsave_running.load(std::sync::atomic::Ordering::Relaxed)
        && !ctx.session.in_exec
        && ctx.session.resume.is_none()
        && saves_ahead(ctx, spec, argv)
    {
        ctx.session.save_ahead = true;
        return;
    }
    ctx.slot = slot.unwrap_or_else(|| first_key_slot(spec, argv));
    ctx.session.info.set_last_command(idx);

    // Writes run in the replication stream's order while it is kept (module doc of
    // crate::server::replication); EXEC holds it for the commands it runs.
    let repl = &ctx.server.replication;
    // A cluster node applying a primary's stream keeps it out of its own.
    let own = ctx.session.master_scope.is_none();
    let ordered =
        own && !ctx.session.in_exec && (spec.has(WRITE) || spec.name == "exec" || spec.name == "publish");
    let mut order = None;
    if ordered {
        ctx.stats.in_write.store(true, SeqCst);
        if repl.active.load(SeqCst) {
            order = Some(repl.order.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }
    let dirty = ctx.stats.dirty.get();

    // One clock read per command: the previous command's end (or the batch start) is
    // this one's start.
    let result = (spec.handler)(ctx, argv);
    let effects = ctx.session.effects.take();
    let streamed = order.is_some() || (own && ctx.session.in_exec && repl.active.load(Relaxed));
    if streamed && (ctx.stats.dirty.get() != dirty || spec.name == "publish" || spec.name == "exec") {
        super::replication::propagate(ctx, spec, argv, effects);
    } else if spec.name == "exec" {
        ctx.session.exec_effects.clear();
    }
    drop(order);
    if ordered {
        ctx.stats.in_write.store(false, Release);
    }
    let end = Instant::now();
    let micros = end.saturating_duration_since(ctx.session.mark).as_micros() as u64;
    ctx.session.mark = end;

    let stat = &ctx.stats.commands[idx];
    stat.record(micros);
    ctx.stats.commands_processed.incr();
    if let Err(e) = result {
        stat.failed.incr();
        ctx.out.error(e.text());
        ctx.stats.count_error(e.code());
    }
    if ctx.session.tracking.is_some() {
        track_reads(ctx, spec, argv);
    }
    if ctx.server.monitors.active() && !spec.has(SKIP_MONITOR | ADMIN) {
        ctx.server.monitors.feed(ctx.session.db, &ctx.session.info, argv);
    }
    let event = if spec.has(FAST) { "fast-command" } else { "command" };
    ctx.server.latency.observe(event, micros / 1000, ctx.now / 1000);
    if !spec.has(SKIP_SLOWLOG) {
        ctx.server.slowlog.maybe_record(&ctx.session.info, argv, micros, ctx.now);
    }
}

/// Whether a part of a large value one of the command's keys holds was just written
/// for a background save, and more remain: the command waits for them
/// ([`crate::storage::keyspace::Shard::save_ahead`]).
fn saves_ahead(ctx: &Ctx<'_>, spec: &CommandSpec, argv: &[Bytes]) -> bool {
    spec.key_indices(argv).any(|i| {
        let slot = key_slot(&argv[i]);
        let mut shard = ctx.server.keyspace.lock(slot);
        let local = shard.local(slot);
        shard.save_ahead(ctx.session.db, local, &argv[i])
    })
}

/// A command refused before running (unknown, arity, auth): Redis counts these as
/// `rejected_calls` and in errorstats.
/// Inside MULTI, a refused command aborts the transaction (EXEC answers EXECABORT).
fn reject(ctx: &mut Ctx<'_>, idx: Option<usize>, e: CommandError) {
    if let Some(multi) = ctx.session.multi.as_mut() {
        multi.aborted = true;
    }
    if let Some(idx) = idx {
        ctx.stats.commands[idx].rejected.incr();
    }
    ctx.out.error(e.text());
    ctx.stats.count_error(e.code());
}

/// CLIENT TRACKING: a read-only command's keys are remembered for the client (not in
/// BCAST mode; in OPTIN mode only after CLIENT CACHING YES, in OPTOUT mode unless after
/// CLIENT CACHING NO). CLIENT CACHING's answer holds for the next command, or the whole
/// transaction it starts.
fn track_reads(ctx: &mut Ctx<'_>, spec: &CommandSpec, argv: &[Bytes]) {
    let caching = ctx.session.caching;
    if spec.name != "client|caching" && !ctx.session.in_exec && ctx.session.multi.is_none() {
        ctx.session.caching = None;
    }
    let Some(mode) = &ctx.session.tracking else { return };
    if !spec.has(READONLY)
        || mode.bcast
        || (mode.optin && caching != Some(true))
        || (mode.optout && caching == Some(false))
    {
        return;
    }
    ctx.server.tracking.remember(ctx.session.info.id, spec.key_indices(argv).map(|i| argv[i].clone()));
}

/// `enable-debug-command`: `yes`, `local` (loopback and unix-socket clients) or `no`.
fn debug_allowed(ctx: &Ctx<'_>) -> bool {
    match ctx.server.config().get("enable-debug-command").as_deref() {
        Some("yes") => true,
        Some("local") => ctx.session.info.is_local(),
        _ => false,
    }
}
