//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT.

use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::args;
use crate::server::REDIS_VERSION;
use crate::server::clients::ClientKind;
use crate::server::pause::PauseKind;
use crate::server::tracking::{self, Mode};
use std::sync::atomic::Ordering::Relaxed;

const CONN: u32 = CONNECTION;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST, ping)
        .acl(CONN)
        .group("connection")
        .doc("Returns the server's liveliness response.", "1.0.0"),
    CommandSpec::new("echo", 2, FAST | LOADING | STALE, echo)
        .acl(CONN)
        .group("connection")
        .doc("Returns the given string.", "1.0.0"),
    CommandSpec::new("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, hello)
        .acl(CONN)
        .group("connection")
        .doc("Handshakes with the Redis server.", "6.0.0"),
    CommandSpec::new("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, auth)
        .acl(CONN)
        .group("connection")
        .doc("Authenticates the connection.", "1.0.0"),
    CommandSpec::new("select", 2, LOADING | STALE | FAST, select)
        .acl(CONN)
        .group("connection")
        .doc("Changes the selected database.", "1.0.0"),
    CommandSpec::new("quit", -1, ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, quit)
        .acl(CONN)
        .group("connection")
        .doc("Closes the connection.", "1.0.0"),
    CommandSpec::new("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY, reset)
        .acl(CONN)
        .group("connection")
        .doc("Resets the connection.", "6.2.0"),
    CommandSpec::new("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, monitor)
        .group("server")
        .doc("Listens for all requests received by the server in real-time.", "1.0.0"),
    CommandSpec::new("client", -2, 0, client_help)
        .group("connection")
        .doc("A container for client connection commands.", "2.4.0")
        .subs(CLIENT_SUBCOMMANDS),
];

const CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("client|id", 2, NOSCRIPT | LOADING | STALE, client_id)
        .acl(CONN)
        .group("connection")
        .doc("Returns the unique client ID of the connection.", "5.0.0"),
    CommandSpec::new("client|setname", 3, NOSCRIPT | LOADING | STALE, client_setname)
        .acl(CONN)
        .group("connection")
        .doc("Sets the connection name.", "2.6.9"),
    CommandSpec::new("client|getname", 2, NOSCRIPT | LOADING | STALE, client_getname)
        .acl(CONN)
        .group("connection")
        .doc("Returns the name of the connection.", "2.6.9"),
    CommandSpec::new("client|list", -2, ADMIN | NOSCRIPT | LOADING | STALE, client_list)
        .acl(CONN)
        .group("connection")
        .doc("Lists open connections.", "2.4.0"),
    CommandSpec::new("client|info", 2, NOSCRIPT | LOADING | STALE, client_info)
        .acl(CONN)
        .group("connection")
        .doc("Returns information about the connection.", "6.2.0"),
    CommandSpec::new("client|kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, client_kill)
        .acl(CONN)
        .group("connection")
        .doc("Terminates open connections.", "2.4.0"),
    CommandSpec::new("client|setinfo", 4, NOSCRIPT | LOADING | STALE, client_setinfo)
        .acl(CONN)
        .group("connection")
        .doc("Sets information specific to the client or connection.", "7.2.0"),
    CommandSpec::new("client|reply", 3, NOSCRIPT | LOADING | STALE, client_reply)
        .acl(CONN)
        .group("connection")
        .doc("Instructs the server whether to reply to commands.", "3.2.0"),
    CommandSpec::new("client|tracking", -3, NOSCRIPT | LOADING | STALE, client_tracking)
        .acl(CONN)
        .group("connection")
        .doc("Controls server-assisted client-side caching for the connection.", "6.0.0"),
    CommandSpec::new("client|caching", 3, NOSCRIPT | LOADING | STALE, client_caching)
        .acl(CONN)
        .group("connection")
        .doc("Instructs the server whether to track the keys in the next request.", "6.0.0"),
    CommandSpec::new("client|trackinginfo", 2, NOSCRIPT | LOADING | STALE, client_trackinginfo)
        .acl(CONN)
        .group("connection")
        .doc("Returns information about server-assisted client-side caching for the connection.", "6.2.0"),
    CommandSpec::new("client|getredir", 2, NOSCRIPT | LOADING | STALE, client_getredir)
        .acl(CONN)
        .group("connection")
        .doc(
            "Returns the client ID to which the connection's tracking notifications are redirected.",
            "6.0.0",
        ),
    CommandSpec::new("client|pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, client_pause)
        .acl(CONN)
        .group("connection")
        .doc("Suspends commands processing.", "3.0.0"),
    CommandSpec::new("client|unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, client_unpause)
        .acl(CONN)
        .group("connection")
        .doc("Resumes processing commands from paused clients.", "6.2.0"),
    CommandSpec::new("client|no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, client_no_evict)
        .acl(CONN)
        .group("connection")
        .doc("Sets the client eviction mode of the connection.", "7.0.0"),
    CommandSpec::new("client|unblock", -3, ADMIN | NOSCRIPT | LOADING | STALE, client_unblock)
        .acl(CONN)
        .group("connection")
        .doc("Unblocks a client blocked by a blocking command from a different connection.", "5.0.0"),
    CommandSpec::new("client|help", 2, LOADING | STALE, client_help)
        .acl(CONN)
        .group("connection")
        .doc("Returns helpful text about the different subcommands.", "5.0.0"),
];

/// Writes a Redis-style HELP reply: a header, the given lines, and the HELP entry.
pub fn help(ctx: &mut Ctx<'_>, cmd: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!("{cmd} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    for line in lines {
        ctx.out.simple(line);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Print this help.");
}

/// PING [message]
fn ping(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() <= 2 && ctx.session.subscribed() && !ctx.out.resp3 {
        // Subscribed RESP2 clients read arrays only.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).map_or(&b""[..], |a| &a[..]));
        return Ok(());
    }
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(&argv[1]),
        _ => return Err(error::wrong_arity("ping")),
    }
    Ok(())
}

/// ECHO message
fn echo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&argv[1]);
    Ok(())
}

/// Compares a password without leaking its length or content through timing.
fn password_matches(given: &[u8], expected: &str) -> bool {
    let expected = expected.as_bytes();
    let mut diff = given.len() ^ expected.len();
    for (i, &b) in given.iter().enumerate() {
        diff |= (b ^ expected.get(i % expected.len().max(1)).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

/// Checks a username/password pair against the default user.
fn check_credentials(ctx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> CmdResult {
    let required = ctx.server.config().requirepass.clone();
    let user_ok = user.eq_ignore_ascii_case(b"default");
    if user_ok && (required.is_empty() || password_matches(pass, &required)) {
        Ok(())
    } else {
        tracing::debug!("authentication failed for client id={}", ctx.session.info.id);
        Err(error::WRONGPASS)
    }
}

/// AUTH [username] password
fn auth(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    match argv.len() {
        2 => {
            if ctx.server.config().requirepass.is_empty() {
                return Err(error::AUTH_NOT_CONFIGURED);
            }
            check_credentials(ctx, b"default", &argv[1])?;
        }
        3 => check_credentials(ctx, &argv[1], &argv[2])?,
        _ => return Err(error::SYNTAX),
    }
    ctx.session.authenticated = true;
    ctx.out.ok();
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut proto = if ctx.out.resp3 { 3 } else { 2 };
    let mut i = 1;
    if argv.len() >= 2 {
        proto = match args::parse_i64(&argv[1]) {
            Some(v) => v,
            None => {
                return Err(CommandError::new("ERR Protocol version is not an integer or out of range"));
            }
        };
        if !(2..=3).contains(&proto) {
            return Err(error::NOPROTO);
        }
        i = 2;
    }
    let mut auth: Option<(Bytes, Bytes)> = None;
    let mut name: Option<Bytes> = None;
    while i < argv.len() {
        if args::is(&argv[i], "AUTH") && i + 2 < argv.len() {
            auth = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 3;
        } else if args::is(&argv[i], "SETNAME") && i + 1 < argv.len() {
            name = Some(argv[i + 1].clone());
            i += 2;
        } else {
            return Err(CommandError::owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                error::sanitize(&argv[i])
            )));
        }
    }
    if let Some((user, pass)) = &auth {
        check_credentials(ctx, user, pass)?;
        ctx.session.authenticated = true;
    }
    if !ctx.session.authenticated {
        return Err(CommandError::new(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        validate_name(&n)?;
        ctx.session.info.set_name(if n.is_empty() { None } else { Some(n) });
    }
    ctx.out.resp3 = proto == 3;
    ctx.session.info.set_resp(proto as u8);
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(ctx.session.info.id as i64);
    out.bulk(b"mode");
    out.bulk(if ctx.server.cluster.is_some() { b"cluster" } else { b"standalone" });
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

/// SELECT index
fn select(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let db = args::int(&argv[1])?;
    if ctx.server.cluster.is_some() && db != 0 {
        return Err(error::SELECT_IN_CLUSTER);
    }
    if db < 0 || db as usize >= ctx.server.keyspace.databases() {
        return Err(error::INVALID_DB);
    }
    ctx.session.select(db as usize);
    ctx.out.ok();
    Ok(())
}

/// QUIT
fn quit(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    ctx.session.close_after_reply = true;
    Ok(())
}

/// MONITOR
fn monitor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    if !ctx.session.info.monitor.load(std::sync::atomic::Ordering::Relaxed) {
        let tx = ctx.session.push_tx();
        ctx.server.monitors.subscribe(tx, ctx.session.info.clone());
        ctx.session.info.monitor.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    ctx.out.ok();
    Ok(())
}

/// RESET
fn reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.session.release(ctx.server);
    ctx.session.select(0);
    ctx.session.reply_off = false;
    ctx.session.skip_next = false;
    ctx.session.readonly = false;
    ctx.session.authenticated = ctx.server.config().requirepass.is_empty();
    ctx.session.info.set_name(None);
    ctx.session.info.set_resp(2);
    ctx.out.resp3 = false;
    ctx.out.simple("RESET");
    Ok(())
}

fn validate_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CommandError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// CLIENT ID
fn client_id(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.session.info.id as i64);
    Ok(())
}

/// CLIENT SETNAME connection-name
fn client_setname(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    validate_name(&argv[2])?;
    let name = if argv[2].is_empty() { None } else { Some(argv[2].clone()) };
    ctx.session.info.set_name(name);
    ctx.out.ok();
    Ok(())
}

/// CLIENT GETNAME
fn client_getname(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    match ctx.session.info.name() {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

/// A CLIENT LIST / CLIENT KILL `TYPE` argument.
fn client_type(name: &[u8]) -> Result<ClientKind, CommandError> {
    if args::is(name, "normal") {
        Ok(ClientKind::Normal)
    } else if args::is(name, "pubsub") {
        Ok(ClientKind::PubSub)
    } else if args::is(name, "master") {
        Ok(ClientKind::Master)
    } else if args::is(name, "replica") || args::is(name, "slave") {
        Ok(ClientKind::Replica)
    } else {
        Err(CommandError::owned(format!("ERR Unknown client type '{}'", error::sanitize(name))))
    }
}

/// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID client-id [client-id ...]]
fn client_list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut kind = None;
    let mut i = 2;
    while i < argv.len() {
        if args::is(&argv[i], "TYPE") && i + 1 < argv.len() {
            kind = Some(client_type(&argv[i + 1])?);
            i += 2;
        } else if args::is(&argv[i], "ID") && i + 1 < argv.len() {
            let mut list = Vec::new();
            for a in &argv[i + 1..] {
                match args::parse_i64(a) {
                    Some(v) if v > 0 => list.push(v as u64),
                    _ => return Err(CommandError::new("ERR Invalid client ID")),
                }
            }
            ids = Some(list);
            i = argv.len();
        } else {
            return Err(error::SYNTAX);
        }
    }
    let mut text = String::new();
    for c in ctx.server.clients.all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&c.id)) || kind.is_some_and(|k| k != c.kind()) {
            continue;
        }
        text.push_str(&c.describe(ctx.now));
        text.push('\n');
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// CLIENT INFO
fn client_info(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let mut line = ctx.session.info.describe(ctx.now);
    line.push('\n');
    ctx.out.verbatim(line.as_bytes());
    Ok(())
}

/// CLIENT KILL ip:port | CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port]
/// [TYPE type] [USER username] [SKIPME yes|no]
fn client_kill(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let me = ctx.session.info.id;
    if argv.len() == 3 {
        let addr = &argv[2];
        let target = ctx.server.clients.all().into_iter().find(|c| c.addr.as_bytes() == &addr[..]);
        let Some(target) = target else { return Err(error::NO_SUCH_CLIENT) };
        if target.id == me {
            ctx.session.close_after_reply = true;
        } else {
            target.kill.cancel();
        }
        ctx.out.ok();
        return Ok(());
    }
    if !argv.len().is_multiple_of(2) {
        return Err(error::SYNTAX);
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut user = None;
    let mut kind = None;
    let mut skipme = true;
    for pair in argv[2..].chunks(2) {
        let (opt, val) = (&pair[0], &pair[1]);
        if args::is(opt, "ID") {
            match args::parse_i64(val) {
                Some(v) if v > 0 => id = Some(v as u64),
                _ => return Err(CommandError::new("ERR client-id should be greater than 0")),
            }
        } else if args::is(opt, "ADDR") {
            addr = Some(val.clone());
        } else if args::is(opt, "LADDR") {
            laddr = Some(val.clone());
        } else if args::is(opt, "USER") {
            // One user exists until ACLs come: `default`.
            if &val[..] != b"default" {
                return Err(CommandError::owned(format!("ERR No such user '{}'", error::sanitize(val))));
            }
            user = Some(val.clone());
        } else if args::is(opt, "TYPE") {
            kind = Some(client_type(val)?);
        } else if args::is(opt, "SKIPME") {
            if args::is(val, "yes") {
                skipme = true;
            } else if args::is(val, "no") {
                skipme = false;
            } else {
                return Err(error::SYNTAX);
            }
        } else {
            return Err(error::SYNTAX);
        }
    }
    let mut killed = 0;
    for c in ctx.server.clients.all() {
        let matches = id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr.as_bytes() == &a[..])
            && laddr.as_ref().is_none_or(|a| c.laddr.as_bytes() == &a[..])
            && user.as_ref().is_none_or(|u| &u[..] == b"default")
            && kind.is_none_or(|k| k == c.kind());
        if !matches || (skipme && c.id == me) {
            continue;
        }
        if c.id == me {
            ctx.session.close_after_reply = true;
        } else {
            c.kill.cancel();
        }
        killed += 1;
    }
    ctx.out.int(killed);
    Ok(())
}

/// CLIENT SETINFO LIB-NAME libname | LIB-VER libver
fn client_setinfo(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (opt, val) = (&argv[2], &argv[3]);
    let which = if args::is(opt, "LIB-NAME") {
        "lib-name"
    } else if args::is(opt, "LIB-VER") {
        "lib-ver"
    } else {
        return Err(CommandError::owned(format!("ERR Unrecognized option '{}'", error::sanitize(opt))));
    };
    if val.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CommandError::owned(format!(
            "ERR {which} cannot contain spaces, newlines or special characters."
        )));
    }
    let v = String::from_utf8_lossy(val).into_owned();
    if which == "lib-name" {
        ctx.session.info.set_lib(Some(v), None);
    } else {
        ctx.session.info.set_lib(None, Some(v));
    }
    ctx.out.ok();
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP
fn client_reply(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mode = &argv[2];
    if args::is(mode, "ON") {
        ctx.session.reply_off = false;
        ctx.session.skip_next = false;
        ctx.session.suppress_current = false;
        ctx.out.ok();
    } else if args::is(mode, "OFF") {
        ctx.session.reply_off = true;
        ctx.session.suppress_current = true;
    } else if args::is(mode, "SKIP") {
        ctx.session.skip_next = true;
        ctx.session.suppress_current = true;
    } else {
        return Err(error::SYNTAX);
    }
    Ok(())
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT]
/// [NOLOOP]
fn client_tracking(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let on = if args::is(&argv[2], "ON") {
        true
    } else if args::is(&argv[2], "OFF") {
        false
    } else {
        return Err(error::SYNTAX);
    };
    let mut mode = Mode::default();
    let mut i = 3;
    while i < argv.len() {
        let (opt, more) = (&argv[i], i + 1 < argv.len());
        if args::is(opt, "REDIRECT") && more {
            i += 1;
            if mode.redirect != 0 {
                return Err(CommandError::new("ERR A client can only redirect to a single other client"));
            }
            let id = args::parse_i64(&argv[i]).filter(|&n| n > 0).ok_or(error::NOT_INTEGER)?;
            if ctx.server.clients.get(id as u64).is_none() {
                return Err(CommandError::new("ERR The client ID you want redirect to does not exist"));
            }
            mode.redirect = id as u64;
        } else if args::is(opt, "BCAST") {
            mode.bcast = true;
        } else if args::is(opt, "OPTIN") {
            mode.optin = true;
        } else if args::is(opt, "OPTOUT") {
            mode.optout = true;
        } else if args::is(opt, "NOLOOP") {
            mode.noloop = true;
        } else if args::is(opt, "PREFIX") && more {
            i += 1;
            mode.prefixes.push(argv[i].clone());
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    if !on {
        ctx.session.stop_tracking(ctx.server);
        ctx.out.ok();
        return Ok(());
    }
    if !mode.bcast && !mode.prefixes.is_empty() {
        return Err(CommandError::new("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    if let Some(current) = &ctx.session.tracking
        && current.bcast != mode.bcast
    {
        return Err(CommandError::new(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
        ));
    }
    if mode.optin && mode.optout {
        return Err(CommandError::new("ERR You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if mode.bcast && (mode.optin || mode.optout) {
        return Err(CommandError::new("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    // Prefixes added to those already set must not overlap them or each other (Redis's
    // checkPrefixCollisionsOrReply: equal prefixes overlap too).
    let existing: Vec<Bytes> = ctx.session.tracking.as_ref().map(|m| m.prefixes.clone()).unwrap_or_default();
    for (i, p) in mode.prefixes.iter().enumerate() {
        let collision = |kind: &str, other: &[u8]| {
            CommandError::owned(format!(
                "ERR Prefix '{}' overlaps with {kind} prefix '{}'. Prefixes for a single client must not overlap.",
                error::sanitize(p),
                error::sanitize(other)
            ))
        };
        if let Some(o) = existing.iter().find(|o| tracking::overlap(o, p)) {
            return Err(collision("an existing", o));
        }
        if let Some(o) = mode.prefixes[i + 1..].iter().find(|o| tracking::overlap(o, p)) {
            return Err(collision("another provided", o));
        }
    }
    let mut all = existing;
    all.extend(mode.prefixes.iter().cloned());
    mode.prefixes = all;
    let tx = ctx.session.push_tx();
    ctx.server.tracking.enable(ctx.session.info.clone(), tx, mode.clone());
    ctx.session.info.tracking_redir.store(mode.redirect as i64, Relaxed);
    ctx.session.tracking = Some(mode);
    ctx.out.ok();
    Ok(())
}

/// CLIENT CACHING YES|NO
fn client_caching(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mode = ctx.session.tracking.as_ref().map(|m| (m.optin, m.optout));
    ctx.session.caching = Some(caching_choice(mode, &argv[2])?);
    ctx.out.ok();
    Ok(())
}

/// CLIENT CACHING's argument for a client whose tracking mode is `(optin, optout)`
/// (None: tracking off): true for YES, false for NO, or Redis's error.
pub fn caching_choice(mode: Option<(bool, bool)>, arg: &[u8]) -> Result<bool, CommandError> {
    let Some((optin, optout)) = mode else {
        return Err(CommandError::new(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    if args::is(arg, "YES") {
        if !optin {
            return Err(CommandError::new(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        Ok(true)
    } else if args::is(arg, "NO") {
        if !optout {
            return Err(CommandError::new(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        Ok(false)
    } else {
        Err(error::SYNTAX)
    }
}

/// CLIENT TRACKINGINFO
fn client_trackinginfo(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let mode = ctx.session.tracking.clone();
    let mut flags: Vec<&str> = Vec::new();
    match &mode {
        None => flags.push("off"),
        Some(m) => {
            flags.push("on");
            for (set, name) in [(m.bcast, "bcast"), (m.optin, "optin"), (m.optout, "optout")] {
                if set {
                    flags.push(name);
                }
            }
            match ctx.session.caching {
                Some(true) => flags.push("caching-yes"),
                Some(false) => flags.push("caching-no"),
                None => {}
            }
            if m.noloop {
                flags.push("noloop");
            }
            if m.redirect != 0 && ctx.server.clients.get(m.redirect).is_none() {
                flags.push("broken_redirect");
            }
        }
    }
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.bulk(f.as_bytes());
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(mode.as_ref().map_or(-1, |m| m.redirect as i64));
    ctx.out.bulk(b"prefixes");
    let prefixes = mode.map(|m| m.prefixes).unwrap_or_default();
    ctx.out.bulks(prefixes.iter().map(|p| &p[..]));
    Ok(())
}

/// CLIENT GETREDIR
fn client_getredir(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.session.tracking.as_ref().map_or(-1, |m| m.redirect as i64));
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE | ALL]
fn client_pause(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 4 {
        return Err(error::unknown_subcommand_arity(&argv[1], "client"));
    }
    let kind = match argv.get(3) {
        None => PauseKind::All,
        Some(m) if args::is(m, "WRITE") => PauseKind::Write,
        Some(m) if args::is(m, "ALL") => PauseKind::All,
        Some(_) => return Err(CommandError::new("ERR CLIENT PAUSE mode must be WRITE or ALL")),
    };
    let ms = args::parse_i64(&argv[2]).ok_or(error::TIMEOUT_NOT_INTEGER)?;
    if ms < 0 {
        return Err(error::TIMEOUT_NEGATIVE);
    }
    ctx.server.pause_clients(kind, ctx.now.saturating_add(ms as u64));
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNPAUSE
fn client_unpause(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.server.unpause_clients();
    ctx.out.ok();
    Ok(())
}

/// CLIENT NO-EVICT ON|OFF
fn client_no_evict(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let on = if args::is(&argv[2], "ON") {
        true
    } else if args::is(&argv[2], "OFF") {
        false
    } else {
        return Err(error::SYNTAX);
    };
    ctx.session.info.no_evict.store(on, Relaxed);
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK client-id [TIMEOUT | ERROR]
fn client_unblock(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let id = args::int(&argv[2])?;
    let how = match argv.get(3) {
        None => crate::server::blocking::UNBLOCK_TIMEOUT,
        Some(a) if args::is(a, "TIMEOUT") && argv.len() == 4 => crate::server::blocking::UNBLOCK_TIMEOUT,
        Some(a) if args::is(a, "ERROR") && argv.len() == 4 => crate::server::blocking::UNBLOCK_ERROR,
        Some(_) => return Err(CommandError::new("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let done = u64::try_from(id).is_ok_and(|id| ctx.server.blocking.unblock(id, how));
    ctx.out.int(done as i64);
    Ok(())
}

/// CLIENT HELP
fn client_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    help(
        ctx,
        "CLIENT",
        &[
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "GETNAME",
            "    Return the name of the current connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME.",
            "LIST [options ...]",
            "    Return information about client connections. Options: TYPE, ID.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::password_matches;

    #[test]
    fn password_compare() {
        assert!(password_matches(b"secret", "secret"));
        assert!(!password_matches(b"secreT", "secret"));
        assert!(!password_matches(b"secret1", "secret"));
        assert!(!password_matches(b"", "secret"));
        assert!(password_matches(b"", ""));
    }
}
