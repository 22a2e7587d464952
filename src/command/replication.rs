//! Replication commands: REPLICAOF (SLAVEOF), ROLE, WAIT, and the primary's side of
//! Redis's replication handshake (PSYNC, SYNC, REPLCONF); and the effects a write sends
//! replicas ([`propagate`]): its own arguments, or deterministic forms of them
//! (relative expiry times as absolute ones, SPOP as SREM...).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::error::{self, CmdResult, CommandError};

/// `ERR Invalid master port`.
const INVALID_PORT: CommandError = CommandError::new("ERR Invalid master port");
use crate::protocol::args;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("replicaof", 3, ADMIN | NOSCRIPT | STALE | NO_MULTI, replicaof)
        .acl(DANGEROUS | ADMIN_CAT)
        .group("server")
        .doc("Configures a server as replica of another, or promotes it to a master.", "5.0.0"),
    CommandSpec::new("slaveof", 3, ADMIN | NOSCRIPT | STALE | NO_MULTI, replicaof)
        .acl(DANGEROUS | ADMIN_CAT)
        .group("server")
        .doc("Sets a Redis server as a replica of another, or promotes it to being a master.", "1.0.0"),
    CommandSpec::new("role", 1, NOSCRIPT | LOADING | STALE | FAST, role)
        .acl(DANGEROUS | ADMIN_CAT)
        .group("server")
        .doc("Returns the replication role.", "2.8.12"),
    CommandSpec::new("wait", 3, NOSCRIPT, wait)
        .acl(CONNECTION)
        .group("generic")
        .doc("Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", "3.0.0"),
    CommandSpec::new("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, psync)
        .acl(DANGEROUS | ADMIN_CAT)
        .group("server")
        .doc("An internal command used in replication.", "2.8.0"),
    CommandSpec::new("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, sync)
        .acl(DANGEROUS | ADMIN_CAT)
        .group("server")
        .doc("An internal command used in replication.", "1.0.0"),
    CommandSpec::new("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, replconf)
        .acl(DANGEROUS | ADMIN_CAT)
        .group("server")
        .doc("An internal command for configuring the replication stream.", "3.0.0"),
];

/// Sends replicas what a write that changed the dataset amounts to (`effects` when the
/// handler said, else [`effect_of`] its arguments); inside EXEC they are collected and
/// go out with EXEC as one MULTI ... EXEC.
pub fn propagate(ctx: &mut Ctx<'_>, spec: &CommandSpec, argv: &[Bytes], effects: Option<Vec<Vec<Bytes>>>) {
    let repl = &ctx.server.replication;
    if spec.name == "publish" && ctx.server.cluster.is_some() {
        // Every node gets it from the node it was published on (cluster::peer).
        return;
    }
    if spec.name == "exec" {
        let list = std::mem::take(&mut ctx.session.exec_effects);
        if !list.is_empty() {
            ctx.session.woff =
                repl.propagate_all(list.iter().map(|(db, c)| (*db, c.as_slice())), list.len() > 1);
        }
        return;
    }
    if ctx.server.cluster.is_some() {
        ctx.session.wslot = Some(ctx.slot);
    }
    let db = ctx.session.db;
    let commands = match effects {
        Some(commands) => commands,
        None => match effect_of(spec.name, argv, ctx.now) {
            Some(command) => vec![command],
            // The common case: the arguments as they came, not copied.
            None if !ctx.session.in_exec => {
                ctx.session.woff = repl.propagate_all([(db, argv)], false);
                return;
            }
            None => vec![argv.to_vec()],
        },
    };
    if ctx.session.in_exec {
        ctx.session.exec_effects.extend(commands.into_iter().map(|c| (db, c)));
        return;
    }
    ctx.session.woff = repl.propagate_all(commands.iter().map(|c| (db, c.as_slice())), false);
}

/// A command as replicas run it, when not as it came: relative expiry times as absolute
/// ones (as of `now`, the handler's clock), so a replica that applies it later expires
/// the key at the same instant; MIGRATE as the DEL of the keys it moved. Everything else
/// is deterministic as it stands (None).
pub fn effect_of(name: &str, argv: &[Bytes], now: u64) -> Option<Vec<Bytes>> {
    if !REWRITTEN.contains(&name) {
        return None;
    }
    if name == "set"
        && !argv[3..].iter().any(|a| a.eq_ignore_ascii_case(b"ex") || a.eq_ignore_ascii_case(b"px"))
    {
        return None;
    }
    Some(rewrite(name, argv, now))
}

/// The commands [`effect_of`] rewrites.
const REWRITTEN: &[&str] = &["expire", "pexpire", "setex", "psetex", "set", "getex", "restore", "migrate"];

fn rewrite(name: &str, argv: &[Bytes], now: u64) -> Vec<Bytes> {
    let at = |arg: &[u8], unit: u64| -> Bytes {
        let n = args::int(arg).unwrap_or(0);
        Bytes::from((now as i64).saturating_add(n.saturating_mul(unit as i64)).to_string())
    };
    let word = |s: &'static str| Bytes::from_static(s.as_bytes());
    match name {
        "expire" | "pexpire" => {
            let unit = if name == "expire" { 1000 } else { 1 };
            let mut out = vec![word("PEXPIREAT"), argv[1].clone(), at(&argv[2], unit)];
            out.extend_from_slice(&argv[3..]);
            out
        }
        "setex" | "psetex" => {
            let unit = if name == "setex" { 1000 } else { 1 };
            vec![word("SET"), argv[1].clone(), argv[3].clone(), word("PXAT"), at(&argv[2], unit)]
        }
        "set" => {
            let mut out = argv[..3].to_vec();
            let mut i = 3;
            while i < argv.len() {
                let a = &argv[i];
                if (a.eq_ignore_ascii_case(b"ex") || a.eq_ignore_ascii_case(b"px")) && i + 1 < argv.len() {
                    let unit = if a.eq_ignore_ascii_case(b"ex") { 1000 } else { 1 };
                    out.extend([word("PXAT"), at(&argv[i + 1], unit)]);
                    i += 2;
                } else {
                    out.push(a.clone());
                    i += 1;
                }
            }
            out
        }
        "getex" => {
            let opt = argv.get(2).map(|a| a.to_ascii_lowercase());
            match (opt.as_deref(), argv.get(3)) {
                (Some(b"persist"), _) => vec![word("PERSIST"), argv[1].clone()],
                (Some(b"ex"), Some(n)) => vec![word("PEXPIREAT"), argv[1].clone(), at(n, 1000)],
                (Some(b"px"), Some(n)) => vec![word("PEXPIREAT"), argv[1].clone(), at(n, 1)],
                (Some(b"exat"), Some(n)) => {
                    let ms = args::int(n).unwrap_or(0).saturating_mul(1000);
                    vec![word("PEXPIREAT"), argv[1].clone(), Bytes::from(ms.to_string())]
                }
                (Some(b"pxat"), Some(n)) => vec![word("PEXPIREAT"), argv[1].clone(), n.clone()],
                _ => argv.to_vec(),
            }
        }
        "restore" => {
            let absttl = argv[4..].iter().any(|a| a.eq_ignore_ascii_case(b"absttl"));
            let ttl = args::int(&argv[2]).unwrap_or(0);
            if absttl || ttl == 0 {
                return argv.to_vec();
            }
            let mut out = argv.to_vec();
            out[2] = at(&argv[2], 1);
            out.push(word("ABSTTL"));
            out
        }
        "migrate" => {
            let mut out = vec![word("DEL")];
            match argv.iter().position(|a| a.eq_ignore_ascii_case(b"keys")) {
                Some(k) if argv[3].is_empty() => out.extend_from_slice(&argv[k + 1..]),
                _ => out.push(argv[3].clone()),
            }
            out
        }
        _ => argv.to_vec(),
    }
}

/// REPLICAOF host port | NO ONE
fn replicaof(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if ctx.server.cluster.is_some() {
        return Err(CommandError::new("ERR REPLICAOF not allowed in cluster mode."));
    }
    if argv[1].eq_ignore_ascii_case(b"no") && argv[2].eq_ignore_ascii_case(b"one") {
        if ctx.server.stop_replicating() {
            tracing::info!("MASTER MODE enabled (user request from 'id={}')", ctx.session.info.id);
        }
        ctx.out.simple("OK");
        return Ok(());
    }
    let host = String::from_utf8_lossy(&argv[1]).into_owned();
    let port = args::int(&argv[2]).ok().filter(|p| (0..=65535).contains(p)).ok_or(INVALID_PORT)?;
    if ctx.server.replica_of() == Some((host.clone(), port as u16)) {
        ctx.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    ctx.server.replicate_from(host.clone(), port as u16);
    tracing::info!("REPLICAOF {host}:{port} enabled (user request from 'id={}')", ctx.session.info.id);
    ctx.out.simple("OK");
    Ok(())
}

/// ROLE: `master offset [[ip port offset]...]`, or `slave host port state offset`.
fn role(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if let Some(link) = ctx.server.replica_link() {
        ctx.out.array(5);
        ctx.out.bulk(b"slave");
        ctx.out.bulk(link.host.as_bytes());
        ctx.out.int(link.port as i64);
        ctx.out.bulk(link.state.as_bytes());
        ctx.out.int(link.offset.map_or(-1, |o| o as i64));
        return Ok(());
    }
    let stream = ctx.server.replication.stream();
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(stream.offset as i64);
    let online: Vec<_> = stream.replicas.iter().filter(|l| l.online()).collect();
    ctx.out.array(online.len());
    for l in online {
        ctx.out.array(3);
        ctx.out.bulk(l.ip.as_bytes());
        ctx.out.bulk(l.port.to_string().as_bytes());
        ctx.out.bulk(l.ack.to_string().as_bytes());
    }
    Ok(())
}

/// WAIT numreplicas timeout: the connection waits (see
/// [`crate::server::connection`]) until that many replicas acknowledged this client's
/// last write, or the timeout (0: none); the reply is the count then.
fn wait(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if ctx.server.is_replica.load(Relaxed) {
        return Err(CommandError::new(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.",
        ));
    }
    let n = args::int(&argv[1])?;
    let timeout = args::int(&argv[2]).map_err(|_| error::TIMEOUT_NOT_INTEGER)?;
    if timeout < 0 {
        return Err(CommandError::new("ERR timeout is negative"));
    }
    let repl = &ctx.server.replication;
    let acked = ctx.server.acked_for(ctx.session.woff, ctx.session.wslot);
    if ctx.session.in_exec || n <= 0 || acked >= n as usize {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    repl.ask_acks();
    let deadline = if timeout == 0 {
        std::time::Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600)
    } else {
        std::time::Instant::now() + std::time::Duration::from_millis(timeout as u64)
    };
    ctx.session.wait_acks = Some((n as usize, ctx.session.woff, deadline));
    Ok(())
}

/// PSYNC replid offset: `+CONTINUE` and the stream from there when the backlog has it,
/// else `+FULLRESYNC`, a snapshot, and the stream from the snapshot's instant.
fn psync(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let offset = args::int(&argv[2]).unwrap_or(-1);
    start_replica(ctx, &argv[1], offset)
}

/// SYNC: a full sync, as PSYNC ? -1.
fn sync(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    start_replica(ctx, b"?", -1)
}

fn start_replica(ctx: &mut Ctx<'_>, replid: &[u8], offset: i64) -> CmdResult {
    if ctx.server.is_replica.load(Relaxed) {
        return Err(CommandError::new(
            "ERR this server is a replica: replicas of a replica are not supported yet",
        ));
    }
    if ctx.session.replica || ctx.session.pushed.is_some() {
        return Err(CommandError::new("ERR this connection cannot become a replica link"));
    }
    if ctx.server.cluster.is_some() && ctx.session.peer.is_none() {
        // In cluster mode the ring makes the replicas; they present themselves first.
        return Err(CommandError::new("ERR PSYNC in cluster mode is for the cluster's own nodes"));
    }
    let (tx, feed) = crate::server::feed::feed();
    ctx.session.pushed = Some(feed);
    ctx.session.replica = true;
    ctx.session.info.role.store(crate::server::clients::ROLE_REPLICA, Relaxed);
    let info = &ctx.session.info;
    let (ip, port) = match ctx.session.peer.as_deref().and_then(crate::cluster::state::parse_addr) {
        // A cluster node: named by the address it is a member at.
        Some(addr) => (addr.ip().to_string(), addr.port()),
        None => (
            info.addr.rsplit_once(':').map_or(info.addr.clone(), |(ip, _)| ip.to_string()),
            ctx.session.replica_port,
        ),
    };
    let link = crate::server::replication::Newcomer {
        client_id: info.id,
        ip,
        port,
        tx,
        slots: ctx.session.replica_slots.take().map(Arc::from),
    };
    ctx.server.start_stream();
    match ctx.server.replication.psync(ctx.server, link.clone(), replid, offset) {
        crate::server::replication::Psync::Continue => {}
        crate::server::replication::Psync::Full => {
            if let Some(me) = ctx.server.shared() {
                me.full_sync(link);
            }
        }
    }
    Ok(())
}

/// REPLCONF listening-port <port> | capa ... | ack <offset> | getack * | ...: the
/// handshake's settings (OK), a replica's acknowledgement (no reply), and on a replica's
/// master link, GETACK (an acknowledgement is sent at once).
fn replconf(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len().is_multiple_of(2) {
        return Err(error::SYNTAX);
    }
    let mut i = 1;
    while i < argv.len() {
        let (name, value) = (argv[i].to_ascii_lowercase(), &argv[i + 1]);
        match &name[..] {
            b"ack" => {
                if ctx.session.replica
                    && let Ok(off) = args::int(value)
                {
                    ctx.server.replication.ack(ctx.session.info.id, off.max(0) as u64, ctx.now);
                }
                // No reply to an acknowledgement.
                return Ok(());
            }
            b"getack" => {
                if ctx.session.master {
                    ctx.session.getack = true;
                }
                return Ok(());
            }
            b"listening-port" => {
                ctx.session.replica_port =
                    args::int(value).ok().filter(|p| (0..=65535).contains(p)).ok_or_else(|| {
                        CommandError::owned(format!(
                            "ERR Unrecognized REPLCONF option: {}",
                            String::from_utf8_lossy(&argv[i])
                        ))
                    })? as u16;
            }
            // A cluster node's link says which slots it copies from this node.
            b"cluster-slots" if ctx.session.peer.is_some() => {
                let slots = crate::cluster::slot::parse_ranges(value)
                    .ok_or_else(|| CommandError::new("ERR Invalid slot ranges"))?;
                ctx.session.replica_slots = Some(slots);
            }
            b"capa" | b"ip-address" | b"rdb-only" | b"rdb-filter-only" => {}
            _ => {
                return Err(CommandError::owned(format!(
                    "ERR Unrecognized REPLCONF option: {}",
                    String::from_utf8_lossy(&argv[i])
                )));
            }
        }
        i += 2;
    }
    ctx.out.simple("OK");
    Ok(())
}

/// INFO replication's lines.
pub fn info_lines(server: &crate::server::Server, line: &mut dyn FnMut(&str, &dyn std::fmt::Display)) {
    let replid = server.replid.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let stream = server.replication.stream();
    let link = server.replica_link();
    match &link {
        Some(link) => {
            line("role", &"slave");
            line("master_host", &link.host);
            line("master_port", &link.port);
            line("master_link_status", &if link.state == "connected" { "up" } else { "down" });
            line("master_last_io_seconds_ago", &link.last_io_s);
            line("master_sync_in_progress", &u8::from(link.state == "sync"));
            line("slave_read_repl_offset", &link.offset.unwrap_or(0));
            line("slave_repl_offset", &link.offset.unwrap_or(0));
            line("slave_priority", &100);
            line("slave_read_only", &1);
            line("replica_announced", &1);
            line("connected_slaves", &0);
        }
        None => {
            line("role", &"master");
            let online: Vec<_> = stream.replicas.iter().filter(|l| l.online()).collect();
            line("connected_slaves", &online.len());
            let now = crate::storage::now_ms();
            for (i, l) in stream.replicas.iter().enumerate() {
                let state = if l.online() { "online" } else { "wait_bgsave" };
                let lag = if l.ack_ms == 0 { 0 } else { now.saturating_sub(l.ack_ms) / 1000 };
                line(
                    &format!("slave{i}"),
                    &format!("ip={},port={},state={state},offset={},lag={lag}", l.ip, l.port, l.ack),
                );
            }
        }
    }
    if let Some(cluster) = &server.cluster {
        // The copies this node keeps of other primaries' ranges, one link per primary.
        let links = cluster.upstreams.list();
        line("cluster_copy_links", &links.len());
        for (i, l) in links.iter().enumerate() {
            let s = l.status.lock().unwrap_or_else(|p| p.into_inner());
            let state = if s.state.is_empty() { "connect" } else { s.state };
            let offset = s.position.as_ref().map_or(0, |p| p.1);
            let io = s.last_io.map_or(0, |t| t.elapsed().as_secs());
            line(
                &format!("copy_link{i}"),
                &format!(
                    "node={},ip={},port={},state={state},offset={offset},last_io_seconds_ago={io}",
                    l.node,
                    l.addr.ip(),
                    l.addr.port()
                ),
            );
        }
    }
    let (first, len, size) = stream.backlog();
    line("master_failover_state", &"no-failover");
    line("master_replid", &replid);
    line("master_replid2", &"0000000000000000000000000000000000000000");
    let offset = link.and_then(|l| l.offset).unwrap_or(stream.offset);
    line("master_repl_offset", &offset);
    line("second_repl_offset", &-1);
    let active = server.replication.active.load(Relaxed);
    line("repl_backlog_active", &u8::from(active));
    line("repl_backlog_size", &size.max(crate::server::replication::DEFAULT_BACKLOG));
    line("repl_backlog_first_byte_offset", &if active { first } else { 0 });
    line("repl_backlog_histlen", &len);
}
