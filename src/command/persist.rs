//! Persistence commands: DUMP, RESTORE and MIGRATE (Redis's payloads,
//! [`crate::persist`]), SAVE, BGSAVE and LASTSAVE (snapshots,
//! [`crate::persist::snapshot`]).

use bytes::Bytes;

use super::Ctx;
use super::table::*;
use crate::error::{self, CmdResult, CommandError};
use crate::persist::{self, Loaded, RestoreError};
use crate::protocol::args;
use crate::protocol::request::encode;
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
    CommandSpec::new("migrate", -6, WRITE | MOVABLE_KEYS, migrate)
        .keys(3, 3, 1)
        .acl(K | DANGEROUS)
        .doc("Atomically transfers a key from one Redis instance to another.", "2.6.0"),
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

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password |
/// AUTH2 username password] [KEYS key ...]: each key's DUMP payload RESTOREd on the
/// target (another slotcache or a Redis), then, unless COPY, deleted here once the
/// target said OK. The payloads are made under the keys' locks, one at a time; the
/// transfer holds no lock (it blocks this connection's I/O thread for at most the
/// timeout per step, as Redis's blocks the server), over a connection kept for the next
/// MIGRATE to the same target ([`MigrateSockets`]).
fn migrate(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<(Option<&[u8]>, &[u8])> = None;
    let mut keys: &[Bytes] = &argv[3..4];
    let mut i = 6;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if args::is(&argv[i], "COPY") {
            copy = true;
        } else if args::is(&argv[i], "REPLACE") {
            replace = true;
        } else if args::is(&argv[i], "AUTH") && more >= 1 {
            auth = Some((None, &argv[i + 1]));
            i += 1;
        } else if args::is(&argv[i], "AUTH2") && more >= 2 {
            auth = Some((Some(&argv[i + 1]), &argv[i + 2]));
            i += 2;
        } else if args::is(&argv[i], "KEYS") {
            if !argv[3].is_empty() {
                return Err(CommandError::new(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            keys = &argv[i + 1..];
            break;
        } else {
            return Err(error::SYNTAX);
        }
        i += 1;
    }
    let timeout = match args::int(&argv[5])? {
        t if t <= 0 => 1000,
        t => t as u64,
    };
    let target_db = args::int(&argv[4])?;
    let compress = compression(ctx);
    // The payloads, each key under its shard's lock for the moment it takes.
    let (db, now) = (ctx.db(), ctx.now);
    let mut moving: Vec<(&Bytes, i64, Vec<u8>)> = Vec::new();
    for key in keys {
        let slot = crate::cluster::slot::key_slot(key);
        let mut shard = ctx.server.keyspace.lock(slot);
        let Some(e) = shard.peek(db, slot, key, now) else { continue };
        let ttl = match e.expire_at() {
            Some(at) => (at as i64 - now as i64).max(1),
            None => 0,
        };
        moving.push((key, ttl, persist::dump(&e.value(), compress)));
    }
    if moving.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let name = format!("{}:{}", String::from_utf8_lossy(&argv[1]), String::from_utf8_lossy(&argv[2]));
    let sockets = &ctx.server.migrate_sockets;
    // A cached connection that fails (the target closed it meanwhile) is tried once more
    // with a new one, unless the step timed out (as Redis).
    let mut retried = false;
    let (replies, setup_len) = loop {
        let mut conn = match sockets.take(&name) {
            Some(conn) => conn,
            None => MigrateSocket::connect(&argv[1], &argv[2], timeout)?,
        };
        // SELECT only when the connection is not in the database already.
        let select = conn.db != Some(target_db);
        let mut request = Vec::new();
        if let Some((user, password)) = auth {
            let mut a: Vec<&[u8]> = vec![b"AUTH"];
            a.extend(user);
            a.push(password);
            request.extend(encode(&a));
        }
        if select {
            request.extend(encode(&[b"SELECT", target_db.to_string().as_bytes()]));
        }
        for (key, ttl, payload) in &moving {
            let ttl = ttl.to_string();
            let mut a: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), payload];
            if replace {
                a.push(b"REPLACE");
            }
            request.extend(encode(&a));
        }
        let setup_len = auth.is_some() as usize + select as usize;
        match conn.exchange(&request, setup_len + moving.len(), timeout) {
            Ok(replies) => {
                if select {
                    conn.db = (!replies[setup_len - 1].starts_with('-')).then_some(target_db);
                }
                sockets.put(name, conn);
                break (replies, setup_len);
            }
            Err(failed) if !failed.timed_out && !retried => retried = true,
            Err(failed) => return Err(failed.error),
        }
    };
    // AUTH's and SELECT's replies first; the first error is the answer, as Redis's.
    let (setup, restored) = replies.split_at(setup_len);
    let error = setup.iter().chain(restored).find_map(|r| r.strip_prefix('-'));
    if !copy {
        for ((key, _, _), reply) in moving.iter().zip(restored) {
            if setup.iter().all(|r| !r.starts_with('-')) && !reply.starts_with('-') {
                let slot = crate::cluster::slot::key_slot(key);
                ctx.server.keyspace.lock(slot).remove(db, slot, key, now);
                ctx.changed(events::GENERIC, "del", key);
            }
        }
    }
    match error {
        Some(e) => Err(CommandError::owned(format!("ERR Target instance replied with error: {e}"))),
        None => {
            ctx.out.ok();
            Ok(())
        }
    }
}

/// Most connections MIGRATE keeps open, and how long an unused one stays open (Redis's
/// MIGRATE_SOCKET_CACHE_ITEMS and _TTL).
const MIGRATE_SOCKETS: usize = 64;
const MIGRATE_SOCKET_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// MIGRATE's connections to its targets, by "host:port", kept for the next MIGRATE
/// there (as Redis keeps them): the cron closes those unused for
/// [`MIGRATE_SOCKET_TTL`]. A MIGRATE takes one out while it uses it, so two at once to
/// one target each have their own.
#[derive(Default)]
pub struct MigrateSockets(std::sync::Mutex<std::collections::HashMap<String, MigrateSocket>>);

pub struct MigrateSocket {
    stream: std::io::BufReader<std::net::TcpStream>,
    /// The database selected on it, once a SELECT succeeded.
    db: Option<i64>,
    last_use: std::time::Instant,
}

/// A failed exchange: Redis's -IOERR error, and whether a step timed out.
struct Failed {
    error: CommandError,
    timed_out: bool,
}

impl MigrateSockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, MigrateSocket>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, name: &str) -> Option<MigrateSocket> {
        self.lock().remove(name)
    }

    fn put(&self, name: String, mut socket: MigrateSocket) {
        socket.last_use = std::time::Instant::now();
        let mut cached = self.lock();
        if cached.len() >= MIGRATE_SOCKETS && !cached.contains_key(&name) {
            // Full: the least recently used goes.
            let oldest = cached.iter().min_by_key(|(_, s)| s.last_use).map(|(n, _)| n.clone());
            oldest.map(|n| cached.remove(&n));
        }
        cached.insert(name, socket);
    }

    /// Closes the connections unused for [`MIGRATE_SOCKET_TTL`] (from the cron).
    pub fn close_idle(&self) {
        let now = std::time::Instant::now();
        self.lock().retain(|_, s| now.duration_since(s.last_use) <= MIGRATE_SOCKET_TTL);
    }
}

impl MigrateSocket {
    fn connect(host: &[u8], port: &[u8], timeout_ms: u64) -> Result<MigrateSocket, CommandError> {
        let connect_error = || CommandError::new("IOERR error or timeout connecting to the client");
        let host = String::from_utf8_lossy(host);
        let port = String::from_utf8_lossy(port).parse::<u16>().map_err(|_| connect_error())?;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(&*host, port))
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(connect_error)?;
        let timeout = std::time::Duration::from_millis(timeout_ms);
        let stream = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|_| connect_error())?;
        let _ = stream.set_nodelay(true);
        Ok(MigrateSocket {
            stream: std::io::BufReader::new(stream),
            db: None,
            last_use: std::time::Instant::now(),
        })
    }

    /// Sends `request` and reads `replies` one-line replies, each step within
    /// `timeout_ms`.
    fn exchange(&mut self, request: &[u8], replies: usize, timeout_ms: u64) -> Result<Vec<String>, Failed> {
        use std::io::{BufRead, Write};
        let timeout = std::time::Duration::from_millis(timeout_ms);
        let failed = |what: &str, e: Option<std::io::Error>| Failed {
            error: CommandError::owned(format!("IOERR error or timeout {what} to target instance")),
            timed_out: e.is_some_and(|e| {
                matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            }),
        };
        let stream = self.stream.get_mut();
        stream
            .set_write_timeout(Some(timeout))
            .and_then(|_| stream.set_read_timeout(Some(timeout)))
            .map_err(|e| failed("writing", Some(e)))?;
        stream.write_all(request).map_err(|e| failed("writing", Some(e)))?;
        let mut out = Vec::with_capacity(replies);
        for _ in 0..replies {
            let mut line = String::new();
            match self.stream.read_line(&mut line) {
                Ok(n) if n > 0 => out.push(line.trim_end().to_string()),
                Ok(_) => return Err(failed("reading", None)),
                Err(e) => return Err(failed("reading", Some(e))),
            }
        }
        Ok(out)
    }
}

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
