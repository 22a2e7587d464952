//! I/O threads and the per-connection loop: read → decode every complete request →
//! dispatch each in order → one write for the batch's replies.
//!
//! Memory per connection is bounded: the read buffer by `client-query-buffer-limit`
//! (the connection is closed past it), the output buffer by flushing whenever it passes
//! [`FLUSH_AT`] mid-batch. A client that sends but never reads fills its socket buffers,
//! the flush waits, and the loop stops reading from it: the server holds at most one
//! batch of its replies. A non-zero `client-output-buffer-limit normal` hard limit
//! closes a client whose pending output passes it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::task::TaskTracker;

use super::Server;
use super::ahead::Ahead;
use super::listener::Incoming;
use super::session::Session;
use super::stats::ThreadStats;
use crate::command::{Ctx, Route, dispatch_routed};
use crate::protocol::{Reply, RequestParser};

/// Bytes reserved in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Largest single growth of the read buffer while a big argument arrives.
const READ_GROW_MAX: usize = 1024 * 1024;
/// Output is written out mid-batch once it passes this size.
pub const FLUSH_AT: usize = 64 * 1024;

/// Body of an I/O thread: a single-threaded runtime serving the connections it is
/// handed until shutdown, then waiting for them to finish their batch in flight
/// (`ServerHandle::wait` bounds that wait).
///
/// The runtime has no timer driver: a connection never sleeps or times out on its own
/// (idle clients are closed by the cron), and a timer wheel would cost a clock read on
/// every park of a hot loop.
pub fn io_thread(server: Arc<Server>, mut rx: UnboundedReceiver<Incoming>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_io().build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start an I/O runtime: {e}");
            server.shutdown.cancel();
            return;
        }
    };
    let stats = Arc::new(ThreadStats::new(crate::command::table().specs.len()));
    server.stats.register(stats.clone());
    rt.block_on(async {
        let tracker = TaskTracker::new();
        loop {
            let incoming = tokio::select! {
                _ = server.shutdown.cancelled() => break,
                i = rx.recv() => match i { Some(i) => i, None => break },
            };
            let server = server.clone();
            let stats = stats.clone();
            tracker.spawn(async move {
                match incoming {
                    Incoming::Tcp(s, info) => {
                        if let Ok(s) = tokio::net::TcpStream::from_std(s) {
                            serve(server, stats, s, info).await;
                        }
                    }
                    Incoming::Unix(s, info) => {
                        if let Ok(s) = tokio::net::UnixStream::from_std(s) {
                            serve(server, stats, s, info).await;
                        }
                    }
                }
            });
        }
        tracker.close();
        tracker.wait().await;
    });
}

/// Why a connection loop ended.
enum Close {
    /// Peer closed, read/write failed, killed, shut down, QUIT: nothing more to say.
    Quiet,
    /// A protocol error: its text is sent, then the connection closes.
    Protocol(String),
}

pub async fn serve<S>(
    server: Arc<Server>,
    stats: Arc<ThreadStats>,
    mut stream: S,
    info: Arc<super::clients::ClientInfo>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let _registration = server.clients.registration(info.id);
    let needs_auth = !server.config().requirepass.is_empty();
    let mut session = Session::new(info.clone(), needs_auth);
    let mut parser = RequestParser::new();
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Reply::new(false);
    // Registered once: polling it again per read costs nothing, re-creating it would.
    let killed = info.kill.cancelled();
    tokio::pin!(killed);
    let trim = info.trim.notified();
    tokio::pin!(trim);
    // The buffers were given back while idle: the next read allocates as data comes.
    let mut trimmed = false;
    let close = loop {
        if !trimmed && rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK.max(rbuf.len().min(READ_GROW_MAX)));
        }
        let read = tokio::select! {
            biased;
            _ = &mut killed => break Close::Quiet,
            _ = &mut trim => {
                trim.set(info.trim.notified());
                // A partly received command keeps its buffer; either way the cron stops
                // asking until the next batch.
                info.buffers.held.store(false, Relaxed);
                if rbuf.is_empty() && out.is_empty() {
                    rbuf = BytesMut::new();
                    out.buf = Vec::new();
                    trimmed = true;
                    record_buffers(&info.buffers, &rbuf, &parser, &session, &out, 0);
                }
                continue;
            }
            more = super::feed::next_batch(session.pushed.as_mut(), &mut out) => {
                let mut io = Io { stream: &mut stream, stats: &stats };
                if !more || io.flush(&mut out, killed.as_mut()).await.is_err() {
                    break Close::Quiet;
                }
                continue;
            }
            r = stream.read_buf(&mut rbuf) => r,
        };
        let n = match read {
            Ok(0) | Err(_) => break Close::Quiet,
            Ok(n) => n,
        };
        trimmed = false;
        stats.net_input.add(n as u64);
        if rbuf.len() as u64 > server.limits.query_buffer_limit.load(Relaxed) {
            tracing::warn!(
                "closing client that reached max query buffer length: id={} addr={} qbuf={}",
                info.id,
                info.addr,
                rbuf.len()
            );
            break Close::Quiet;
        }
        let batch_start = std::time::Instant::now();
        let now = crate::storage::clock::unix_ms_at(batch_start);
        session.mark = batch_start;
        info.touch(now);
        let mut io = Io { stream: &mut stream, stats: &stats };
        if let Err(c) =
            run_batch(&server, &mut session, &mut parser, &mut rbuf, &mut out, &mut io, killed.as_mut(), now)
                .await
        {
            break c;
        }
        // The batch's writes go to the replicas before its replies go out (WAIT after
        // them then finds them sent).
        server.replication.flush();
        let reply_peak = out.len();
        if !out.is_empty() && io.flush(&mut out, killed.as_mut()).await.is_err() {
            break Close::Quiet;
        }
        record_buffers(&info.buffers, &rbuf, &parser, &session, &out, reply_peak);
        info.buffers.held.store(true, Relaxed);
        if session.close_after_reply {
            break Close::Quiet;
        }
    };
    session.release(&server);
    if let Close::Protocol(text) = &close {
        tracing::debug!("protocol error from client id={} addr={}: {text}", info.id, info.addr);
        out.error(text);
    }
    if !out.is_empty() {
        let _ = Io { stream: &mut stream, stats: &stats }.flush(&mut out, killed.as_mut()).await;
    }
    let _ = stream.shutdown().await;
}

/// Publishes the connection's buffer sizes for CLIENT LIST.
fn record_buffers(
    b: &super::clients::Buffers,
    rbuf: &BytesMut,
    parser: &RequestParser,
    session: &Session,
    out: &Reply,
    reply_peak: usize,
) {
    b.qbuf.store(rbuf.len(), Relaxed);
    b.qbuf_free.store(rbuf.capacity() - rbuf.len(), Relaxed);
    b.argv_mem.store(parser.pending_arg_bytes(), Relaxed);
    b.multi_mem.store(session.multi.as_ref().map_or(0, |m| m.bytes), Relaxed);
    b.rbs.store(out.buf.capacity(), Relaxed);
    b.rbp.store(reply_peak, Relaxed);
}

/// The write side of a connection.
struct Io<'a, S> {
    stream: &'a mut S,
    stats: &'a ThreadStats,
}

impl<S: AsyncWrite + Unpin> Io<'_, S> {
    /// Writes `out` and clears it. The write is polled first, so a write that completes
    /// at once always completes (the batch in flight is delivered even during
    /// shutdown); a write stalled on a client that does not read is abandoned when the
    /// client is killed or the server shuts down.
    async fn flush<K: Future<Output = ()>>(
        &mut self,
        out: &mut Reply,
        killed: Pin<&mut K>,
    ) -> std::io::Result<()> {
        tokio::select! {
            biased;
            r = self.stream.write_all(&out.buf) => r?,
            _ = killed => return Err(std::io::ErrorKind::ConnectionAborted.into()),
        }
        self.stats.net_output.add(out.buf.len() as u64);
        out.buf.clear();
        if out.buf.capacity() > 4 * FLUSH_AT {
            out.buf.shrink_to(FLUSH_AT);
        }
        Ok(())
    }
}

/// Decodes and runs every complete request in `rbuf`, in order, appending replies.
#[allow(clippy::too_many_arguments)]
async fn run_batch<S: AsyncRead + AsyncWrite + Unpin, K: Future<Output = ()>>(
    server: &Server,
    session: &mut Session,
    parser: &mut RequestParser,
    rbuf: &mut BytesMut,
    out: &mut Reply,
    io: &mut Io<'_, S>,
    mut killed: Pin<&mut K>,
    now: u64,
) -> Result<(), Close> {
    let max_bulk = server.limits.proto_max_bulk_len.load(Relaxed) as usize;
    let mut ahead = Ahead::default();
    loop {
        let (argv, route) = match ahead.next(server, session, parser, rbuf, max_bulk) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Close::Protocol(e.reply_text())),
        };
        execute(server, io.stats, session, out, &argv, route, now);
        if session.postponed.is_some()
            || session.save_ahead
            || session.wait_acks.is_some()
            || session.blocked.is_some()
        {
            // Replicas get what this batch wrote before it waits.
            server.replication.flush();
        }
        while session.postponed.is_some() || session.save_ahead {
            if session.postponed.is_some() {
                wait_postponed(server, session, out, io, killed.as_mut(), &argv).await?;
            } else {
                // A part of the value is written a turn: the others on this thread run
                // between parts, and the command runs when its value is saved.
                session.save_ahead = false;
                tokio::task::yield_now().await;
                rerun(server, io.stats, session, out, &argv);
            }
        }
        if session.wait_acks.is_some() {
            wait_acks(server, session, out, io, killed.as_mut()).await?;
        }
        if session.blocked.is_some() {
            wait_blocked(server, session, rbuf, out, io, killed.as_mut(), &argv).await?;
        }
        if session.close_after_reply {
            return Ok(());
        }
        let hard = server.limits.output_hard_limit.load(Relaxed);
        if hard > 0 && out.len() as u64 > hard {
            tracing::warn!(
                "client id={} addr={} closed for overcoming of output buffer limits",
                session.info.id,
                session.info.addr
            );
            out.truncate(0);
            return Err(Close::Quiet);
        }
        if out.len() >= FLUSH_AT {
            server.replication.flush();
            session.info.omem.store(out.len(), Relaxed);
            io.flush(out, killed.as_mut()).await.map_err(|_| Close::Quiet)?;
            session.info.omem.store(0, Relaxed);
        }
    }
}

/// A blocking command found nothing and registered a waiter: writes the replies so
/// far, then waits for data (running the command again each time it is woken), a
/// timeout, CLIENT UNBLOCK, a kill or the peer closing. Requests that arrive meanwhile
/// are read into `rbuf` (within `client-query-buffer-limit`) and run afterwards.
async fn wait_blocked<S: AsyncRead + AsyncWrite + Unpin, K: Future<Output = ()>>(
    server: &Server,
    session: &mut Session,
    rbuf: &mut BytesMut,
    out: &mut Reply,
    io: &mut Io<'_, S>,
    mut killed: Pin<&mut K>,
    argv: &[bytes::Bytes],
) -> Result<(), Close> {
    io.flush(out, killed.as_mut()).await.map_err(|_| Close::Quiet)?;
    session.info.blocked.store(true, Relaxed);
    let result = loop {
        let Some(state) = session.blocked.take() else { break Ok(()) };
        let woken = tokio::select! {
            biased;
            _ = killed.as_mut() => false,
            _ = server.shutdown.cancelled() => false,
            _ = state.blocked.waiter.notified() => true,
            // A RESP3 client keeps receiving its pub/sub pushes while it waits.
            more = super::feed::next_batch(session.pushed.as_mut(), out) => {
                if !more || io.flush(out, killed.as_mut()).await.is_err() {
                    break Err(Close::Quiet);
                }
                session.blocked = Some(state);
                continue;
            }
            r = io.stream.read_buf(rbuf) => match r {
                Ok(n) if n > 0 && rbuf.len() as u64 <= server.limits.query_buffer_limit.load(Relaxed) => {
                    io.stats.net_input.add(n as u64);
                    session.blocked = Some(state);
                    continue;
                }
                _ => false,
            },
        };
        if !woken {
            break Err(Close::Quiet);
        }
        match state.blocked.waiter.unblocked() {
            Some(super::blocking::UNBLOCK_ERROR) => {
                out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
                break Ok(());
            }
            Some(_) => {
                match state.on_timeout {
                    super::session::TimeoutReply::NullArray => out.null_array(),
                    super::session::TimeoutReply::Null => out.null(),
                }
                break Ok(());
            }
            None => {
                // Keep the place in line while trying again.
                session.resume = Some(state.blocked);
                rerun(server, io.stats, session, out, argv);
                session.resume = None;
            }
        }
    };
    session.info.blocked.store(false, Relaxed);
    result
}

/// WAIT: writes the replies so far, then waits until enough replicas acknowledged the
/// client's last write or the timeout passes (checked on every acknowledgement and
/// every cron tick), and replies with the count of replicas that did.
async fn wait_acks<S: AsyncRead + AsyncWrite + Unpin, K: Future<Output = ()>>(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    io: &mut Io<'_, S>,
    mut killed: Pin<&mut K>,
) -> Result<(), Close> {
    io.flush(out, killed.as_mut()).await.map_err(|_| Close::Quiet)?;
    let Some((wanted, offset, deadline)) = session.wait_acks.take() else { return Ok(()) };
    session.info.blocked.store(true, Relaxed);
    let repl = &server.replication;
    let result = loop {
        let notified = repl.acks.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let count = server.acked_for(offset, session.wslot);
        if count >= wanted || std::time::Instant::now() >= deadline {
            out.int(count as i64);
            break Ok(());
        }
        tokio::select! {
            biased;
            _ = killed.as_mut() => break Err(Close::Quiet),
            _ = server.shutdown.cancelled() => break Err(Close::Quiet),
            _ = notified => {}
        }
    };
    session.info.blocked.store(false, Relaxed);
    result
}

/// CLIENT PAUSE held the command: writes the replies so far, waits for the pause to
/// end and this client's turn, and runs the command again (held again if a new pause
/// has begun meanwhile).
async fn wait_postponed<S: AsyncRead + AsyncWrite + Unpin, K: Future<Output = ()>>(
    server: &Server,
    session: &mut Session,
    out: &mut Reply,
    io: &mut Io<'_, S>,
    mut killed: Pin<&mut K>,
    argv: &[bytes::Bytes],
) -> Result<(), Close> {
    io.flush(out, killed.as_mut()).await.map_err(|_| Close::Quiet)?;
    session.info.blocked.store(true, Relaxed);
    let stats = io.stats;
    let mut result = Ok(());
    while let Some(ticket) = session.postponed.take() {
        let _held = server.pause.hold(ticket);
        tokio::select! {
            biased;
            _ = killed.as_mut() => result = Err(Close::Quiet),
            _ = server.shutdown.cancelled() => result = Err(Close::Quiet),
            _ = server.pause.released(ticket) => {
                rerun(server, stats, session, out, argv);
                continue;
            }
        }
        break;
    }
    session.info.blocked.store(false, Relaxed);
    result
}

/// Runs a waiting command again (woken from a block, or released from a pause), timed
/// from now.
fn rerun(
    server: &Server,
    stats: &ThreadStats,
    session: &mut Session,
    out: &mut Reply,
    argv: &[bytes::Bytes],
) {
    let start = std::time::Instant::now();
    session.mark = start;
    execute(server, stats, session, out, argv, None, crate::storage::clock::unix_ms_at(start));
}

/// Runs one request and applies CLIENT REPLY OFF/SKIP to its reply.
pub fn execute(
    server: &Server,
    stats: &ThreadStats,
    session: &mut Session,
    out: &mut Reply,
    argv: &[bytes::Bytes],
    route: Option<Route>,
    now: u64,
) {
    if server.cluster.is_some() && crate::cluster::peer::intercept(server, session, argv) {
        return;
    }
    if session.info.provisional && session.peer.is_none() {
        // Let in past `maxclients` as a possible peer link, and it is not one.
        out.error(crate::error::MAX_CLIENTS);
        server.stats.rejected_connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        session.close_after_reply = true;
        return;
    }
    let mark = out.len();
    session.suppress_current = std::mem::take(&mut session.skip_next);
    let mut ctx = Ctx { server, session, out, stats, now, slot: 0 };
    dispatch_routed(&mut ctx, argv, route);
    let suppress = std::mem::take(&mut session.suppress_current);
    let push = std::mem::take(&mut session.replied_push);
    if (session.reply_off || suppress) && !push {
        out.truncate(mark);
    }
}
