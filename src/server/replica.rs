//! The replica's side of replication (REPLICAOF host port, or `replicaof` in the
//! configuration): a thread keeps a link to the primary, speaking Redis's protocol, so
//! the primary may be another slotcache or a real Redis.
//!
//! The handshake is Redis's: `PING`, `AUTH` (`masteruser`/`masterauth`), `REPLCONF
//! listening-port`, `REPLCONF capa eof capa psync2`, then `PSYNC replid offset+1` (or
//! `PSYNC ? -1` the first time). A full sync's snapshot comes sized (`$len`) or in the
//! diskless form (`$EOF:<mark>` ... `<mark>`), with newlines sent while the primary
//! prepares it; it is written to a temporary file, renamed to `dir`/`dbfilename` and
//! loaded in place of everything held (clients get `-LOADING` meanwhile). Then the
//! stream runs through a client of this server flagged as the master link (it may
//! write though clients may not), its offset counted in bytes applied: `REPLCONF ACK`
//! goes out every second and after `REPLCONF GETACK`. A link silent for `repl-timeout`
//! is dropped and made again, resuming with PSYNC from the offset applied.
//!
//! While a replica, the server neither expires nor evicts keys of its own: an expired
//! key reads as missing and stays until the primary's DEL comes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Server;
use super::local::LocalClient;
use crate::cluster::replication::LinkScope;

/// How the link to the primary stands, for ROLE and INFO.
#[derive(Debug, Clone)]
pub struct LinkStatus {
    pub host: String,
    pub port: u16,
    /// `connect`, `connecting`, `sync` or `connected` (ROLE's words).
    pub state: &'static str,
    /// Bytes of the primary's stream applied; None before the first sync.
    pub offset: Option<u64>,
    /// Seconds since the primary last sent anything.
    pub last_io_s: u64,
}

/// The primary this server replicates, while it does.
pub struct Upstream {
    host: String,
    port: u16,
    /// Which REPLICAOF this is: a link thread stops when it is no longer the current one.
    generation: u64,
    status: Arc<Mutex<Status>>,
}

/// A link's progress, shared with ROLE and INFO.
#[derive(Default)]
pub struct Status {
    pub state: &'static str,
    /// (replication ID, offset applied) of the primary's stream.
    pub position: Option<(String, u64)>,
    pub last_io: Option<Instant>,
}

/// What one link thread replicates and how it knows it is still wanted.
pub struct Source<'a> {
    pub host: &'a str,
    pub port: u16,
    pub wanted: &'a dyn Fn() -> bool,
    pub status: &'a Mutex<Status>,
    /// Cluster mode: the link to one primary of some of this node's copies
    /// ([`crate::cluster::replication`]).
    pub peer: Option<PeerSource<'a>>,
    /// Standalone: which REPLICAOF this is (`master_link_up`).
    pub generation: u64,
}

/// A cluster replica's link: it presents itself as a peer (`hello`) instead of AUTH,
/// and keeps from the primary's snapshot and stream only the slots it replicates from
/// that primary (`slots`, asked at the snapshot's load: those of the scope's `covers`
/// it still copies).
pub struct PeerSource<'a> {
    pub hello: &'a [u8],
    /// The primary and the slots this link is for (told to the primary, which counts
    /// its acknowledgements for writes there); it applies nothing outside them.
    pub scope: Arc<LinkScope>,
    pub slots: &'a dyn Fn() -> Vec<u16>,
}

/// Snapshot bytes read in one go.
const CHUNK: usize = 64 << 10;
/// The acknowledgement period.
const ACK_EVERY: Duration = Duration::from_secs(1);

static GENERATION: AtomicU64 = AtomicU64::new(0);

impl Server {
    /// The primary this server replicates, if any.
    pub fn replica_of(&self) -> Option<(String, u16)> {
        if !self.is_replica.load(Relaxed) {
            return None;
        }
        self.upstream().as_ref().map(|u| (u.host.clone(), u.port))
    }

    /// The primary's replication ID and the offset applied, while a replica that has
    /// synced once.
    pub fn replica_position(&self) -> Option<(String, u64)> {
        let up = self.upstream();
        let s = up.as_ref()?.status.lock().unwrap_or_else(|p| p.into_inner());
        s.position.clone()
    }

    /// ROLE and INFO's view of the link.
    pub fn replica_link(&self) -> Option<LinkStatus> {
        let up = self.upstream();
        let u = up.as_ref()?;
        let s = u.status.lock().unwrap_or_else(|p| p.into_inner());
        Some(LinkStatus {
            host: u.host.clone(),
            port: u.port,
            state: if s.state.is_empty() { "connect" } else { s.state },
            offset: s.position.as_ref().map(|p| p.1),
            last_io_s: s.last_io.map_or(0, |t| t.elapsed().as_secs()),
        })
    }

    fn upstream(&self) -> std::sync::MutexGuard<'_, Option<Upstream>> {
        self.upstream.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// REPLICAOF host port: from now on a replica of that server (replicas of this one
    /// are dropped; they sync again from the new data).
    pub fn replicate_from(self: &Server, host: String, port: u16) {
        let generation = GENERATION.fetch_add(1, Relaxed) + 1;
        let status = Arc::new(Mutex::new(Status::default()));
        // The position reached under a previous primary is kept for a partial resync
        // (the primary decides whether it can continue it).
        let previous = self
            .upstream()
            .take()
            .and_then(|old| old.status.lock().unwrap_or_else(|p| p.into_inner()).position.clone());
        let loaded = self.loaded_position.lock().unwrap_or_else(|p| p.into_inner()).take();
        status.lock().unwrap_or_else(|p| p.into_inner()).position = previous.or(loaded);
        *self.upstream() = Some(Upstream { host: host.clone(), port, generation, status: status.clone() });
        self.is_replica.store(true, Relaxed);
        // CONFIG GET and CONFIG REWRITE follow, as Redis's do.
        let _ = self.config_mut().set("replicaof", &[host.clone(), port.to_string()]);
        self.keyspace.hold_expiry(true);
        // Their feeds dropped, their connections close.
        self.replication.stream().replicas.clear();
        let Some(me) = self.shared() else { return };
        let spawned = std::thread::Builder::new()
            .name("slotcache-replica".into())
            .spawn(move || run_link(&me, generation, &host, port, &status));
        if let Err(e) = spawned {
            tracing::warn!("cannot start the replication link: {e}");
        }
    }

    /// REPLICAOF NO ONE: a primary again, with a new replication ID. False when it was
    /// not a replica.
    pub fn stop_replicating(&self) -> bool {
        if self.upstream().take().is_none() {
            return false;
        }
        self.is_replica.store(false, Relaxed);
        let _ = self.config_mut().set("replicaof", &["no".into(), "one".into()]);
        self.keyspace.hold_expiry(self.expiry_held());
        *self.replid.lock().unwrap_or_else(|p| p.into_inner()) = super::random_hex40();
        true
    }

    /// Whether `generation` is still the current REPLICAOF.
    fn link_wanted(&self, generation: u64) -> bool {
        !self.shutdown.is_cancelled() && self.upstream().as_ref().is_some_and(|u| u.generation == generation)
    }
}

/// The link thread: connects, syncs and applies the stream until REPLICAOF changes or
/// the server stops, making the link again (after a second) whenever it breaks.
fn run_link(server: &Arc<Server>, generation: u64, host: &str, port: u16, status: &Mutex<Status>) {
    let wanted = || server.link_wanted(generation);
    run(server, &Source { host, port, wanted: &wanted, status, peer: None, generation });
}

/// Connects, syncs and applies the stream while `source` is wanted, making the link
/// again (after a second) whenever it breaks.
pub fn run(server: &Arc<Server>, source: &Source<'_>) {
    let set_state = |state| source.status.lock().unwrap_or_else(|p| p.into_inner()).state = state;
    while (source.wanted)() {
        set_state("connecting");
        match link_once(server, source) {
            Ok(()) => {}
            Err(e) => tracing::warn!("Replication link to {}:{}: {e}", source.host, source.port),
        }
        set_state("connect");
        // Bounded: one try a second while wanted.
        for _ in 0..10 {
            if !(source.wanted)() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The primary's connection, read line by line or by bytes.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn command(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        self.writer.write_all(&crate::protocol::request::encode(args))
    }

    /// The next line that is not a keepalive newline, without its CRLF.
    fn line(&mut self, wanted: &dyn Fn() -> bool) -> std::io::Result<String> {
        // What a timed-out read got so far stays in `line`.
        let mut line = String::new();
        loop {
            match self.reader.read_line(&mut line) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if is_timeout(&e) && wanted() => continue,
                Err(e) => return Err(e),
            }
            if !line.ends_with('\n') {
                continue;
            }
            let text = line.trim_end_matches(['\r', '\n']);
            if !text.is_empty() {
                return Ok(text.to_string());
            }
            line.clear();
        }
    }

    /// Sends a command and reads its one-line reply.
    fn ask(&mut self, wanted: &dyn Fn() -> bool, args: &[&[u8]]) -> std::io::Result<String> {
        self.command(args)?;
        self.line(wanted)
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

fn link_once(server: &Arc<Server>, source: &Source<'_>) -> std::io::Result<()> {
    let Source { host, port, wanted, status, .. } = *source;
    // The snapshot loading at start-up first (bounded by the load).
    while server.persistence.loading.load(Relaxed) && wanted() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the primary's address does not resolve"))?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut conn = Conn { reader: BufReader::with_capacity(CHUNK, stream.try_clone()?), writer: stream };
    let timeout =
        Duration::from_secs(server.config().get("repl-timeout").and_then(|v| v.parse().ok()).unwrap_or(60));

    if let Some(peer) = &source.peer {
        // Answered with nothing (refused: an error the PING below reads).
        conn.writer.write_all(peer.hello)?;
    }
    let pong = conn.ask(wanted, &[b"PING"])?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") {
        return Err(std::io::Error::other(format!("the primary answered PING with {pong}")));
    }
    let (user, pass) = {
        let c = server.config();
        (c.get("masteruser").unwrap_or_default(), c.get("masterauth").unwrap_or_default())
    };
    if !pass.is_empty() && source.peer.is_none() {
        let reply = if user.is_empty() {
            conn.ask(wanted, &[b"AUTH", pass.as_bytes()])?
        } else {
            conn.ask(wanted, &[b"AUTH", user.as_bytes(), pass.as_bytes()])?
        };
        if reply.starts_with('-') {
            return Err(std::io::Error::other(format!("AUTH with the primary failed: {reply}")));
        }
    }
    let my_port = server.tcp_port.load(Relaxed).to_string();
    // Older primaries may refuse these: the handshake goes on, as Redis's does.
    conn.ask(wanted, &[b"REPLCONF", b"listening-port", my_port.as_bytes()])?;
    conn.ask(wanted, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])?;
    if let Some(peer) = &source.peer {
        let slots = crate::cluster::slot::format_ranges(&peer.scope.covers);
        let reply = conn.ask(wanted, &[b"REPLCONF", b"cluster-slots", slots.as_bytes()])?;
        if reply.starts_with('-') {
            return Err(std::io::Error::other(format!("the primary refused the slots: {reply}")));
        }
    }

    let position = status.lock().unwrap_or_else(|p| p.into_inner()).position.clone();
    let reply = match &position {
        Some((id, off)) => {
            let next = (off + 1).to_string();
            conn.ask(wanted, &[b"PSYNC", id.as_bytes(), next.as_bytes()])?
        }
        None => conn.ask(wanted, &[b"PSYNC", b"?", b"-1"])?,
    };
    let (replid, mut offset) = if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut words = rest.split_whitespace();
        let id = words.next().unwrap_or_default().to_string();
        let off: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        status.lock().unwrap_or_else(|p| p.into_inner()).state = "sync";
        tracing::info!("Full resync from primary {host}:{port}: {id}:{off}");
        let temp = receive_snapshot(server, wanted, &mut conn)?;
        match &source.peer {
            None => {
                let loaded = std::fs::rename(&temp, server.rdb_path())
                    .map_err(|e| e.to_string())
                    .and_then(|()| server.load_replica_snapshot());
                loaded.map_err(std::io::Error::other)?;
            }
            Some(peer) => {
                // No other link applies meanwhile (one that ended checks under this).
                let _applying = server.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
                let slots = (peer.slots)();
                let loaded = server.load_copies(&temp, &slots);
                let _ = std::fs::remove_file(&temp);
                let keys = loaded.map_err(std::io::Error::other)?;
                tracing::info!(
                    "Cluster: copies of {} slots of {} loaded ({keys} keys)",
                    slots.len(),
                    peer.scope.node
                );
            }
        }
        (id, off)
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let (old_id, off) = position.expect("PSYNC with a position");
        let id = rest.trim();
        tracing::info!("Successful partial resynchronization with primary {host}:{port} from offset {off}");
        (if id.is_empty() { old_id } else { id.to_string() }, off)
    } else {
        return Err(std::io::Error::other(format!("the primary answered PSYNC with {reply}")));
    };
    if source.peer.is_none() {
        *server.replid.lock().unwrap_or_else(|p| p.into_inner()) = replid.clone();
    }
    {
        let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
        s.position = Some((replid.clone(), offset));
        s.state = "connected";
        s.last_io = Some(Instant::now());
    }
    tracing::info!("MASTER <-> REPLICA sync: link with {host}:{port} is up at offset {offset}");
    let _down = source.peer.is_none().then(|| {
        server.master_link_up.store(source.generation, Relaxed);
        LinkDown(server, source.generation)
    });

    // The stream, applied through a client flagged as the master link.
    let mut client =
        LocalClient::new(server.clone()).ok_or_else(|| std::io::Error::other("maxclients reached"))?;
    client.become_master_link(source.peer.as_ref().map(|p| p.scope.clone()));
    let mut buf = vec![0u8; CHUNK];
    let mut last_ack = Instant::now() - ACK_EVERY;
    let mut last_io = Instant::now();
    loop {
        if !wanted() {
            return Ok(());
        }
        let n = match conn.reader.read(&mut buf) {
            Ok(0) => return Err(std::io::Error::other("the primary closed the link")),
            Ok(n) => n,
            Err(e) if is_timeout(&e) => 0,
            Err(e) => return Err(e),
        };
        if n > 0 {
            last_io = Instant::now();
            let _applying = server.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
            if !wanted() {
                return Ok(());
            }
            let before = client.pending_input();
            let errors = client.errors();
            if let Err(e) = client.feed(&buf[..n]) {
                return Err(std::io::Error::other(format!(
                    "a protocol error in the primary's stream: {e:?}"
                )));
            }
            if client.errors() > errors {
                // A command of the primary's this server cannot apply (a type it does
                // not have yet, say): the data differ from here on. Said loudly, as Redis
                // does, once per batch.
                let reply = String::from_utf8_lossy(&client.out.buf);
                let first = reply.split("\r\n").find(|l| l.starts_with('-')).unwrap_or("").to_string();
                tracing::error!(
                    "== CRITICAL == {} command(s) of the primary's stream failed here ({first}): this replica \
                     differs from its primary",
                    client.errors() - errors
                );
            }
            client.out.buf.clear();
            if let Some(peer) = &source.peer
                && peer.scope.take_diverged()
            {
                // Acknowledging this offset would count a skipped write as held here.
                status.lock().unwrap_or_else(|p| p.into_inner()).position = None;
                return Err(std::io::Error::other(
                    "the stream wrote slots this node's view no longer copies from it: syncing again",
                ));
            }
            offset += (before + n - client.pending_input()) as u64;
            let mut s = status.lock().unwrap_or_else(|p| p.into_inner());
            s.position = Some((replid.clone(), offset));
            s.last_io = Some(last_io);
        } else if last_io.elapsed() > timeout {
            return Err(std::io::Error::other("timeout: the primary sent nothing for repl-timeout"));
        }
        let retired = source.peer.as_ref().is_some_and(|p| p.scope.retired());
        if (client.take_getack() || last_ack.elapsed() >= ACK_EVERY) && !retired {
            let off = offset.to_string();
            conn.command(&[b"REPLCONF", b"ACK", off.as_bytes()])?;
            last_ack = Instant::now();
        }
    }
}

/// Marks the link down however the stream's loop ends.
struct LinkDown<'a>(&'a Server, u64);

impl Drop for LinkDown<'_> {
    fn drop(&mut self) {
        // Unless a newer REPLICAOF's link is up already.
        let _ = self.0.master_link_up.compare_exchange(self.1, 0, Relaxed, Relaxed);
    }
}

/// Reads the snapshot (sized or EOF-marked) into a temporary file in `dir`; returns
/// its path.
fn receive_snapshot(
    server: &Arc<Server>,
    wanted: &dyn Fn() -> bool,
    conn: &mut Conn,
) -> std::io::Result<std::path::PathBuf> {
    let head = conn.line(wanted)?;
    let head =
        head.strip_prefix('$').ok_or_else(|| std::io::Error::other(format!("bad snapshot header {head}")))?;
    let path = server.rdb_path();
    static RECEIVED: AtomicU64 = AtomicU64::new(0);
    let n = RECEIVED.fetch_add(1, Relaxed);
    let temp =
        path.with_file_name(format!("temp-{}.{}.{n}.rdb", crate::storage::now_ms(), std::process::id()));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&temp)?);
    let mut buf = vec![0u8; CHUNK];
    let read = |conn: &mut Conn, buf: &mut [u8]| -> std::io::Result<usize> {
        loop {
            match conn.reader.read(buf) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => return Ok(n),
                Err(e) if is_timeout(&e) && wanted() => continue,
                Err(e) => return Err(e),
            }
        }
    };
    let result = (|| -> std::io::Result<()> {
        if let Some(mark) = head.strip_prefix("EOF:") {
            let mark = mark.as_bytes();
            // Everything but the last mark-length bytes is file; the tail is checked.
            let mut tail: Vec<u8> = Vec::new();
            loop {
                let n = read(conn, &mut buf)?;
                tail.extend_from_slice(&buf[..n]);
                if tail.len() >= mark.len() && tail.ends_with(mark) {
                    file.write_all(&tail[..tail.len() - mark.len()])?;
                    return Ok(());
                }
                let keep = mark.len().min(tail.len());
                let cut = tail.len() - keep;
                file.write_all(&tail[..cut])?;
                tail.drain(..cut);
            }
        }
        let mut left: u64 =
            head.parse().map_err(|_| std::io::Error::other(format!("bad snapshot size {head}")))?;
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let n = read(conn, &mut buf[..want])?;
            file.write_all(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    })();
    let result = result.and_then(|()| {
        let f = file.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}
