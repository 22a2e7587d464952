//! I/O threads and the per-connection loop: read → decode every complete request →
//! dispatch each in order → one write for the batch's replies.
//!
//! Memory per connection is bounded: the read buffer by `client-query-buffer-limit`
//! (the connection is closed past it), the output buffer by flushing whenever it passes
//! [`FLUSH_AT`] mid-batch. A client that sends but never reads fills its socket buffers,
//! the flush waits, and the loop stops reading from it: the server holds at most one
//! batch of its replies. A non-zero `client-output-buffer-limit normal` hard limit
//! closes a client whose pending output passes it.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::task::TaskTracker;

use super::listener::Incoming;
use super::session::Session;
use super::stats::ThreadStats;
use super::{SHUTDOWN_GRACE, Server};
use crate::command::{Ctx, dispatch};
use crate::protocol::{Reply, RequestParser};

/// Bytes reserved in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Largest single growth of the read buffer while a big argument arrives.
const READ_GROW_MAX: usize = 1024 * 1024;
/// Output is written out mid-batch once it passes this size.
pub const FLUSH_AT: usize = 64 * 1024;

/// Body of an I/O thread: a single-threaded runtime serving the connections it is
/// handed until shutdown, then waiting (bounded) for them to finish.
pub fn io_thread(server: Arc<Server>, mut rx: UnboundedReceiver<Incoming>) {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
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
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
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
    let close = loop {
        if rbuf.capacity() - rbuf.len() < READ_CHUNK {
            rbuf.reserve(READ_CHUNK.max(rbuf.len().min(READ_GROW_MAX)));
        }
        let timeout_s = server.limits.timeout_s.load(Relaxed);
        let read = tokio::select! {
            biased;
            _ = &mut killed => break Close::Quiet,
            r = read_with_timeout(&mut stream, &mut rbuf, timeout_s) => r,
        };
        let n = match read {
            Some(Ok(0)) | Some(Err(_)) => break Close::Quiet,
            Some(Ok(n)) => n,
            None => {
                tracing::debug!("closing idle client id={} addr={}", info.id, info.addr);
                break Close::Quiet;
            }
        };
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
        let now = crate::storage::now_ms();
        info.touch(now);
        match run_batch(&server, &stats, &mut session, &mut parser, &mut rbuf, &mut out, &mut stream, now)
            .await
        {
            Ok(()) => {}
            Err(c) => break c,
        }
        if !out.is_empty() && flush(&mut stream, &mut out, &stats).await.is_err() {
            break Close::Quiet;
        }
        info.qbuf.store(rbuf.len(), Relaxed);
        if session.close_after_reply {
            break Close::Quiet;
        }
    };
    if let Close::Protocol(text) = close {
        tracing::debug!("protocol error from client id={} addr={}: {text}", info.id, info.addr);
        out.error(&text);
        let _ = flush(&mut stream, &mut out, &stats).await;
    } else if !out.is_empty() {
        let _ = flush(&mut stream, &mut out, &stats).await;
    }
    let _ = stream.shutdown().await;
}

async fn read_with_timeout<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut BytesMut,
    timeout_s: u64,
) -> Option<std::io::Result<usize>> {
    if timeout_s == 0 {
        return Some(stream.read_buf(buf).await);
    }
    tokio::time::timeout(Duration::from_secs(timeout_s), stream.read_buf(buf)).await.ok()
}

/// Decodes and runs every complete request in `rbuf`, in order, appending replies.
#[allow(clippy::too_many_arguments)]
async fn run_batch<S: AsyncWrite + Unpin>(
    server: &Server,
    stats: &ThreadStats,
    session: &mut Session,
    parser: &mut RequestParser,
    rbuf: &mut BytesMut,
    out: &mut Reply,
    stream: &mut S,
    now: u64,
) -> Result<(), Close> {
    let max_bulk = server.limits.proto_max_bulk_len.load(Relaxed) as usize;
    session.mark = std::time::Instant::now();
    loop {
        let argv = match parser.next(rbuf, max_bulk) {
            Ok(Some(argv)) => argv,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Close::Protocol(e.reply_text())),
        };
        execute(server, stats, session, out, &argv, now);
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
            session.info.omem.store(out.len(), Relaxed);
            flush(stream, out, stats).await.map_err(|_| Close::Quiet)?;
            session.info.omem.store(0, Relaxed);
        }
    }
}

/// Runs one request and applies CLIENT REPLY OFF/SKIP to its reply.
pub fn execute(
    server: &Server,
    stats: &ThreadStats,
    session: &mut Session,
    out: &mut Reply,
    argv: &[bytes::Bytes],
    now: u64,
) {
    let mark = out.len();
    let skip_this = std::mem::take(&mut session.skip_next);
    let mut ctx = Ctx { server, session, out, stats, now, slot: 0 };
    dispatch(&mut ctx, argv);
    let suppress = std::mem::take(&mut session.suppress_current);
    if session.reply_off || skip_this || suppress {
        out.truncate(mark);
    }
}

async fn flush<S: AsyncWrite + Unpin>(
    stream: &mut S,
    out: &mut Reply,
    stats: &ThreadStats,
) -> std::io::Result<()> {
    stream.write_all(&out.buf).await?;
    stats.net_output.add(out.buf.len() as u64);
    out.buf.clear();
    if out.buf.capacity() > 4 * FLUSH_AT {
        out.buf.shrink_to(FLUSH_AT);
    }
    Ok(())
}
