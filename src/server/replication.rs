//! The primary's side of replication: the stream of effects its writes send to its
//! replicas, the backlog a replica that lost its link resumes from (PSYNC), full syncs
//! by a snapshot sent over the link, and the acknowledgements WAIT counts.
//!
//! The stream is Redis's: RESP commands, `SELECT` when the database changes, offsets
//! counted in bytes from the replication ID's start. It is kept once a replica has
//! connected (as Redis creates its backlog then). While it is kept, changes are made in
//! one order for the stream: a write holds [`Replication::order`] from its handler to
//! its effect's append, so effects are appended in the order they happened; active
//! expiry and eviction hold it too and append each key's `DEL` as they remove it; and
//! reads leave expired keys in place (they read as missing) rather than remove them on
//! their own. The write that starts the stream waits for the writes already running
//! ([`crate::server::stats::Stats::quiesce_writes`]), so none goes unsent.
//!
//! Every replica link is bounded: a replica whose unsent stream passes the replica
//! output buffer limit is dropped (its connection closes), and the backlog keeps
//! `repl-backlog-size` bytes.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use super::Server;
use super::feed::FeedTx;
use crate::persist::snapshot;
use crate::protocol::request::encode_into as encode;

/// Redis's default `repl-backlog-size`.
pub const DEFAULT_BACKLOG: usize = 1 << 20;
/// Unsent stream a replica may have before it is dropped (Redis's default
/// `client-output-buffer-limit replica 256mb`).
const REPLICA_OUTPUT_LIMIT: usize = 256 << 20;
/// Snapshot bytes in flight to a replica before the sync waits for it to read.
const SYNC_IN_FLIGHT: usize = 8 << 20;
/// A frame of snapshot bytes.
const SYNC_FRAME: usize = 256 << 10;

/// The primary's replication state.
#[derive(Default)]
pub struct Replication {
    /// Held by writes and by removals of keys on their own while the stream is kept
    /// (module doc).
    pub order: Mutex<()>,
    /// The stream is kept (a replica has connected).
    pub active: AtomicBool,
    stream: Mutex<Stream>,
    /// Bumped on every acknowledgement, for WAIT.
    pub acks: tokio::sync::Notify,
    pub full_syncs: AtomicU64,
    pub partial_ok: AtomicU64,
    pub partial_err: AtomicU64,
    /// The stream has bytes not sent to the replicas yet.
    unsent: AtomicBool,
    /// When the cron last sent a PING down the stream (Unix seconds).
    last_ping_s: AtomicU64,
    /// `min-replicas-to-write` and `min-replicas-max-lag`, mirrored from the
    /// configuration; the replicas online that acknowledged within that lag, counted by
    /// the cron (as Redis's refreshGoodSlavesCount).
    pub min_to_write: std::sync::atomic::AtomicUsize,
    pub min_max_lag_s: std::sync::atomic::AtomicUsize,
    pub good: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
pub struct Stream {
    /// Bytes of stream so far (`master_repl_offset`).
    pub offset: u64,
    /// The stream's last bytes, not sent to the replicas nor in the backlog yet.
    unsent: Vec<u8>,
    /// The last bytes of the stream, up to `backlog_size`.
    backlog: VecDeque<u8>,
    backlog_size: usize,
    /// The database the stream has selected.
    db: Option<usize>,
    pub replicas: Vec<Link>,
}

/// Who asked for a stream: the replica's connection and feed, the address it is
/// known by, and in cluster mode the slots it copies from this node.
#[derive(Clone)]
pub struct Newcomer {
    pub client_id: u64,
    pub ip: String,
    pub port: u16,
    pub tx: FeedTx,
    pub slots: Option<Arc<[bool]>>,
}

/// A replica's link: its connection's feed.
pub struct Link {
    pub client_id: u64,
    pub ip: String,
    pub port: u16,
    tx: FeedTx,
    /// Cluster mode: the slots it copies (WAIT counts it for writes there only).
    pub slots: Option<Arc<[bool]>>,
    /// The stream since its snapshot's instant, held while the snapshot is sent and
    /// until the replica's first acknowledgement says it has loaded it: the stream must
    /// not follow the snapshot's end mark at once (the replica reads up to the mark),
    /// as Redis waits for that REPLCONF ACK too.
    held: Option<Vec<u8>>,
    snapshot_sent: bool,
    /// The offset it acknowledged last, and when (Unix ms).
    pub ack: u64,
    pub ack_ms: u64,
}

impl Link {
    pub fn online(&self) -> bool {
        self.held.is_none()
    }

    /// Once its snapshot is sent and it acknowledged (in either order): online, what
    /// was held going first, then the stream as it comes.
    fn online_once_acked(&mut self) {
        if self.snapshot_sent
            && self.ack_ms != 0
            && let Some(held) = self.held.take()
            && !held.is_empty()
        {
            self.tx.send(Bytes::from(held));
        }
    }
}

/// How a PSYNC is answered.
pub enum Psync {
    /// `+CONTINUE`: the stream from that offset follows at once.
    Continue,
    /// A snapshot first.
    Full,
}

impl Replication {
    pub fn stream(&self) -> MutexGuard<'_, Stream> {
        self.stream.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends commands (each with the database it ran on) to the stream, as one
    /// MULTI ... EXEC when `transaction`; returns the offset after them. They reach the
    /// replicas with the next [`Replication::flush`].
    pub fn propagate_all<'a, A: AsRef<[u8]> + 'a>(
        &self,
        commands: impl IntoIterator<Item = (usize, &'a [A])>,
        transaction: bool,
    ) -> u64 {
        let mut stream = self.stream();
        let Stream { unsent, db: selected, offset, .. } = &mut *stream;
        let before = unsent.len();
        if transaction {
            encode(unsent, &[b"MULTI".as_slice()]);
        }
        for (db, argv) in commands {
            if *selected != Some(db) {
                let mut n = itoa::Buffer::new();
                encode(unsent, &[b"SELECT".as_slice(), n.format(db).as_bytes()]);
                *selected = Some(db);
            }
            encode(unsent, argv);
        }
        if transaction {
            encode(unsent, &[b"EXEC".as_slice()]);
        }
        *offset += (unsent.len() - before) as u64;
        self.unsent.store(true, Relaxed);
        *offset
    }

    /// A key storage removed on its own (expiry, eviction), as a DEL.
    pub fn removed(&self, db: usize, key: &[u8]) {
        if self.active.load(Relaxed) {
            self.propagate_all([(db, [b"DEL".as_slice(), key].as_slice())], false);
        }
    }

    /// Sends what the stream got since the last call to every replica, as one frame
    /// (once per batch of commands: the I/O threads call it before they write their
    /// replies or wait, the cron every tick).
    #[inline]
    pub fn flush(&self) {
        if self.unsent.load(Relaxed) {
            self.stream().flush();
            self.unsent.store(false, Relaxed);
        }
    }

    /// Starts keeping the stream (the first replica connects).
    fn activate(&self, backlog_size: usize) {
        let mut stream = self.stream();
        stream.backlog_size = backlog_size.max(16 << 10);
        // A replica's first command goes with a SELECT whatever came before.
        stream.db = None;
        self.active.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// PSYNC `replid` `offset` from a replica whose connection's feed is `tx`: a
    /// partial resync when `replid` is this stream's and the backlog still has every
    /// byte from `offset` (the link then goes on from there), else a full one.
    pub fn psync(&self, server: &Server, link: Newcomer, replid: &[u8], offset: i64) -> Psync {
        let ours = server.replid.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if self.active.load(Relaxed) && replid == ours.as_bytes() && offset > 0 {
            let mut stream = self.stream();
            stream.flush();
            let from = offset as u64 - 1;
            let first = stream.offset - stream.backlog.len() as u64;
            if (first..=stream.offset).contains(&from) {
                let Newcomer { client_id: id, ip, port, tx, slots } = link;
                let mut head = format!("+CONTINUE {ours}\r\n").into_bytes();
                head.extend(stream.backlog.range((from - first) as usize..));
                tx.send(Bytes::from(head));
                stream.replicas.retain(|l| l.client_id != id);
                stream.replicas.push(Link {
                    client_id: id,
                    ip,
                    port,
                    tx,
                    slots,
                    held: None,
                    snapshot_sent: true,
                    ack: from,
                    ack_ms: 0,
                });
                self.partial_ok.fetch_add(1, Relaxed);
                tracing::info!("Replica {}: partial resynchronization from offset {}", id, from);
                return Psync::Continue;
            }
        }
        if replid != b"?" {
            self.partial_err.fetch_add(1, Relaxed);
        }
        Psync::Full
    }

    /// A replica acknowledged `offset`.
    pub fn ack(&self, client_id: u64, offset: u64, now_ms: u64) {
        let mut stream = self.stream();
        if let Some(l) = stream.replicas.iter_mut().find(|l| l.client_id == client_id) {
            l.ack = l.ack.max(offset);
            l.ack_ms = now_ms;
            l.online_once_acked();
        }
        drop(stream);
        self.acks.notify_waiters();
    }

    /// Replicas online that acknowledged at least `offset`.
    pub fn acked(&self, offset: u64) -> usize {
        self.stream().replicas.iter().filter(|l| l.online() && l.ack >= offset).count()
    }

    /// Asks every replica for an acknowledgement (WAIT), with `REPLCONF GETACK *`.
    pub fn ask_acks(&self) {
        if self.active.load(Relaxed) {
            self.propagate_raw(&[b"REPLCONF".as_slice(), b"GETACK", b"*"]);
        }
    }

    /// Keeps the links alive (`repl-ping-replica-period`): a PING in the stream.
    pub fn ping(&self) {
        if self.active.load(Relaxed) && !self.stream().replicas.is_empty() {
            self.propagate_raw(&[b"PING".as_slice()]);
        }
    }

    /// A command of the stream itself, whatever the database.
    fn propagate_raw(&self, argv: &[&[u8]]) {
        let mut bytes = Vec::new();
        encode(&mut bytes, argv);
        let mut stream = self.stream();
        stream.append(&bytes);
        stream.flush();
    }

    /// A replica's connection closed.
    pub fn drop_link(&self, client_id: u64) {
        self.stream().replicas.retain(|l| l.client_id != client_id);
    }
}

impl Stream {
    /// Appends to the stream (sent with the next flush).
    fn append(&mut self, bytes: &[u8]) {
        self.offset += bytes.len() as u64;
        self.unsent.extend_from_slice(bytes);
    }

    /// Moves the unsent bytes into the backlog and out to every replica.
    fn flush(&mut self) {
        if self.unsent.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.unsent);
        self.backlog.extend(&bytes);
        let over = self.backlog.len().saturating_sub(self.backlog_size);
        self.backlog.drain(..over);
        if self.replicas.is_empty() {
            return;
        }
        let frame = Bytes::from(bytes);
        self.replicas.retain_mut(|l| {
            let ok = match &mut l.held {
                Some(held) => {
                    held.extend_from_slice(&frame);
                    held.len() <= REPLICA_OUTPUT_LIMIT
                }
                None => l.tx.send(frame.clone()) && l.tx.pending() <= REPLICA_OUTPUT_LIMIT,
            };
            if !ok {
                tracing::warn!("Replica {}:{} dropped: its link fell too far behind or closed", l.ip, l.port);
            }
            ok
        });
    }

    /// The backlog's first offset and length (INFO).
    pub fn backlog(&self) -> (u64, usize, usize) {
        let end = self.offset - self.unsent.len() as u64;
        (end - self.backlog.len() as u64 + 1, self.backlog.len(), self.backlog_size)
    }
}

/// Writes a snapshot into a replica's feed in frames, waiting while too much of it is
/// unread; fails once the replica is gone.
struct FeedWriter {
    tx: FeedTx,
    buf: Vec<u8>,
}

impl FeedWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // Bounded: the replica reads, or its connection closes (and the send fails).
        while self.tx.pending() > SYNC_IN_FLIGHT && !self.tx.is_closed() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let frame = Bytes::from(std::mem::take(&mut self.buf));
        if self.tx.send(frame) { Ok(()) } else { Err(std::io::ErrorKind::BrokenPipe.into()) }
    }
}

impl Write for FeedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= SYNC_FRAME {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

impl Server {
    /// A full sync of the replica behind `link`, on a thread of its own: once no other
    /// save runs (a newline every second meanwhile, as Redis keeps the link alive), a
    /// snapshot starts at one instant with the stream's offset noted; `+FULLRESYNC` with
    /// that offset, the snapshot in Redis's diskless form (`$EOF:<mark>` ... `<mark>`),
    /// then the stream from that offset, held meanwhile.
    pub fn full_sync(self: &Arc<Self>, link: Newcomer) {
        let server = self.clone();
        let spawned = std::thread::Builder::new().name("slotcache-sync".into()).spawn(move || {
            let (id, tx) = (link.client_id, link.tx.clone());
            let p = &server.persistence;
            let mut waited = 0u64;
            while p.saving.swap(true, Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                waited += 1;
                if waited.is_multiple_of(10) && !tx.send(Bytes::from_static(b"\n")) {
                    return;
                }
                if tx.is_closed() || server.shutdown.is_cancelled() {
                    return;
                }
            }
            p.bgsave_running.store(true, Relaxed);
            let result = server.send_snapshot(link);
            p.bgsave_running.store(false, Relaxed);
            p.saving.store(false, Relaxed);
            match result {
                Ok(keys) => tracing::info!("Replica {id}: full synchronization sent ({keys} keys)"),
                Err(e) => {
                    server.replication.drop_link(id);
                    tracing::warn!("Replica {id}: full synchronization failed: {e}");
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start a full synchronization: {e}");
        }
    }

    fn send_snapshot(&self, link: Newcomer) -> std::io::Result<u64> {
        let Newcomer { client_id: id, ip, port, tx, slots } = link;
        let repl = &self.replication;
        let mut opts = self.save_options();
        let t0 = crate::storage::now_ms();
        let (begun, offset) = {
            // No write runs meanwhile: the snapshot's instant and the offset agree.
            let _order = repl.order.lock().unwrap_or_else(|p| p.into_inner());
            let begun = snapshot::begin_capture(&self.keyspace, &opts, t0);
            let mut stream = repl.stream();
            // What came before the snapshot's instant is not for this replica.
            stream.flush();
            stream.replicas.retain(|l| l.client_id != id);
            stream.replicas.push(Link {
                client_id: id,
                ip,
                port,
                tx: tx.clone(),
                slots,
                held: Some(Vec::new()),
                snapshot_sent: false,
                ack: 0,
                ack_ms: 0,
            });
            (begun, stream.offset)
        };
        repl.full_syncs.fetch_add(1, Relaxed);
        let replid = self.replid.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (name, v) in opts.aux.iter_mut() {
            if name == "repl-offset" {
                *v = offset.to_string();
            }
        }
        let mark = super::random_hex40();
        tx.send(Bytes::from(format!("+FULLRESYNC {replid} {offset}\r\n$EOF:{mark}\r\n")));
        let mut w = FeedWriter { tx: tx.clone(), buf: Vec::with_capacity(SYNC_FRAME) };
        let keys = snapshot::write_to(&self.keyspace, &opts, &mut w, t0, begun, &self.persistence)?;
        w.buf.extend_from_slice(mark.as_bytes());
        w.flush()?;
        // The stream follows the replica's first acknowledgement (Replication::ack).
        let mut stream = repl.stream();
        let Some(link) = stream.replicas.iter_mut().find(|l| l.client_id == id) else {
            return Err(std::io::Error::other("the replica was dropped"));
        };
        link.snapshot_sent = true;
        link.online_once_acked();
        Ok(keys)
    }

    /// From the cron: WAIT's deadlines are checked every tick; a PING goes down the
    /// stream every `repl-ping-replica-period` seconds.
    pub(super) fn replication_cron(&self, now_ms: u64) {
        let repl = &self.replication;
        repl.acks.notify_waiters();
        if !repl.active.load(Relaxed) {
            return;
        }
        repl.flush();
        let max_lag = repl.min_max_lag_s.load(Relaxed) as u64;
        let good = repl
            .stream()
            .replicas
            .iter()
            .filter(|l| l.online() && now_ms.saturating_sub(l.ack_ms) / 1000 <= max_lag)
            .count();
        repl.good.store(good, Relaxed);
        let period =
            self.config().get("repl-ping-replica-period").and_then(|v| v.parse::<u64>().ok()).unwrap_or(10);
        let last = repl.last_ping_s.load(Relaxed);
        if now_ms / 1000 >= last + period.max(1) {
            repl.last_ping_s.store(now_ms / 1000, Relaxed);
            repl.ping();
        }
    }

    /// Replicas that acknowledged `offset` (WAIT). In cluster mode, the nodes that copy
    /// the range of `slot` (the slot the client wrote last) counted in the order they
    /// would take it over, up to the first that has not acknowledged: a failed primary's
    /// range goes to the first replica in line, so `WAIT n` answering `n` means the
    /// next `n` in line hold the writes, and no write `WAIT 1` acknowledged is lost to
    /// one failure whichever replica acknowledged first.
    pub fn acked_for(&self, offset: u64, slot: Option<u16>) -> usize {
        let (Some(cluster), Some(slot)) = (&self.cluster, slot) else {
            return self.replication.acked(offset);
        };
        let state = cluster.state();
        // Copies of the slot made by this node's stream (not of a former primary's).
        let Some(range) = state.range(slot).filter(|_| state.is_mine(slot)) else { return 0 };
        let stream = self.replication.stream();
        range
            .replicas
            .iter()
            .map(|&n| &state.members[n as usize])
            .take_while(|m| {
                stream.replicas.iter().any(|l| {
                    l.online()
                        && l.ack >= offset
                        && l.port == m.port
                        && l.ip == m.ip
                        && l.slots.as_ref().is_some_and(|s| s[slot as usize])
                })
            })
            .count()
    }

    /// A replica connected (PSYNC/SYNC): keeps the stream from now on.
    pub fn start_stream(&self) {
        if self.replication.active.load(Relaxed) {
            return;
        }
        let size = self.config().get("repl-backlog-size").and_then(|v| crate::config::parse_memory(&v));
        self.replication.activate(size.map_or(DEFAULT_BACKLOG, |s| s as usize));
        // Reads leave expired keys to active expiry from now on; writes that started
        // before the stream did end before its first snapshot.
        self.keyspace.hold_expiry(true);
        self.stats.quiesce_writes();
    }
}
