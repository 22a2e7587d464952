//! Node-to-node links over the ordinary client port.
//!
//! A node keeps one outgoing connection to each peer it talks to ([`Links`]), opened
//! on first use, and writes membership datagrams on it as an internal command:
//!
//! ```text
//! SLOTCACHE.PEER <version> <secret> <ip:port of the sender>     once, first
//! SLOTCACHE.GOSSIP <version> swim <payload>                     a SWIM datagram
//! SLOTCACHE.GOSSIP <version> ping <ms>                          a heartbeat
//! SLOTCACHE.GOSSIP <version> pong <ms>                          its answer
//! SLOTCACHE.GOSSIP <version> publish <channel> <message>        a PUBLISH made there
//! ```
//!
//! A heartbeat carries the sender's own monotonic clock, and the answer echoes it: a
//! node credits its majority lease with the time it *sent* the ping, so answers that
//! waited in a socket while it was paused extend nothing.
//!
//! Neither is in the command table. The receiving connection takes them before
//! dispatch ([`intercept`]) only in cluster mode, only with the protocol version it
//! speaks and only after `SLOTCACHE.PEER` presented `cluster-secret` (without a secret:
//! only from loopback); otherwise they are unknown commands, as for any client.
//! A connection that presented itself leaves the client registry (CLIENT LIST,
//! `maxclients`, `timeout`), and its internal commands never reach dispatch, so they are
//! not in MONITOR, SLOWLOG or commandstats.
//! Datagrams get no reply; a link that fails is reopened for the next message
//! and what was queued for it is dropped (SWIM tolerates loss). Every queue and wait
//! here is bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use super::{Cluster, Inbound, PROTOCOL_VERSION};
use crate::protocol::request::encode;
use crate::server::Server;
use crate::server::session::Session;

const HELLO: &[u8] = b"SLOTCACHE.PEER";
const GOSSIP: &[u8] = b"SLOTCACHE.GOSSIP";
const VERSION: &[u8] = PROTOCOL_VERSION.as_bytes();

/// Messages queued for one peer; more are dropped.
const LINK_QUEUE: usize = 256;
/// Longest wait between two attempts to reach a peer.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A RESP array of bulk strings.
fn frame(parts: &[&[u8]]) -> Bytes {
    Bytes::from(encode(parts))
}

/// What one node sends another.
pub enum Outbound<'a> {
    Swim(&'a [u8]),
    /// A heartbeat at this node's clock, with the slots whose current keys it holds
    /// ([`super::state::encode_ranges`]).
    Ping(u64, &'a str),
    Pong(u64),
    Publish(&'a [u8], &'a [u8]),
}

/// The outgoing links of one node, owned by the membership thread.
pub struct Links {
    cluster: Arc<Cluster>,
    hello: Bytes,
    links: HashMap<SocketAddr, mpsc::Sender<Bytes>>,
}

/// The first frame of a link from this node (`me`, its announced address).
pub fn hello(cluster: &Cluster, me: SocketAddr) -> Bytes {
    frame(&[HELLO, VERSION, cluster.secret.as_bytes(), me.to_string().as_bytes()])
}

impl Links {
    /// Links that introduce this node as `me` (its announced address).
    pub fn new(cluster: Arc<Cluster>, me: SocketAddr) -> Links {
        let hello = hello(&cluster, me);
        Links { cluster, hello, links: HashMap::new() }
    }

    /// Queues a message for `to`. Must run inside the membership thread's runtime.
    pub fn send(&mut self, to: SocketAddr, msg: Outbound<'_>) {
        let stats = &self.cluster.stats;
        let msg = match msg {
            Outbound::Swim(payload) => {
                stats.messages_sent.fetch_add(1, Relaxed);
                stats.bytes_sent.fetch_add(payload.len() as u64, Relaxed);
                frame(&[GOSSIP, VERSION, b"swim", payload])
            }
            Outbound::Ping(ms, caught_up) => {
                stats.heartbeats_sent.fetch_add(1, Relaxed);
                frame(&[GOSSIP, VERSION, b"ping", ms.to_string().as_bytes(), caught_up.as_bytes()])
            }
            Outbound::Pong(ms) => frame(&[GOSSIP, VERSION, b"pong", ms.to_string().as_bytes()]),
            Outbound::Publish(channel, message) => frame(&[GOSSIP, VERSION, b"publish", channel, message]),
        };
        let tx = self.links.entry(to).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(LINK_QUEUE);
            tokio::spawn(link(to, self.hello.clone(), rx, self.cluster.node_timeout()));
            tx
        });
        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(msg) {
            self.links.remove(&to);
        }
    }

    /// Closes the link to a node that is gone (CLUSTER FORGET).
    pub fn close(&mut self, to: &SocketAddr) {
        self.links.remove(to);
    }
}

/// One peer's connection: opened when needed, hello first, then the queued messages.
/// Ends when its queue is dropped.
async fn link(to: SocketAddr, hello: Bytes, mut rx: mpsc::Receiver<Bytes>, timeout: Duration) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(first) = rx.recv().await else { return };
        let stream = match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(to)).await {
            Ok(Ok(s)) => s,
            _ => {
                // Unreachable: what waits is stale by the time it could be sent.
                while rx.try_recv().is_ok() {}
                tokio::time::sleep(backoff).await;
                while rx.try_recv().is_ok() {}
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let mut pending = Some(first);
        let mut sink = [0u8; 512];
        let io = async {
            let mut batch = BytesMut::new();
            batch.put_slice(&hello);
            loop {
                if let Some(msg) = pending.take() {
                    batch.put_slice(&msg);
                }
                while batch.len() < 64 * 1024 {
                    match rx.try_recv() {
                        Ok(msg) => batch.put_slice(&msg),
                        Err(_) => break,
                    }
                }
                match tokio::time::timeout(timeout, write.write_all(&batch)).await {
                    Ok(Ok(())) => batch.clear(),
                    _ => return true,
                }
                tokio::select! {
                    msg = rx.recv() => match msg {
                        Some(msg) => pending = Some(msg),
                        None => return false,
                    },
                    // The peer never answers datagrams: anything read is an error
                    // reply (a refused hello) or the connection closing.
                    n = read.read(&mut sink) => {
                        match n {
                            Ok(n) if n > 0 => {
                                tracing::debug!("peer {to} answered: {}", String::from_utf8_lossy(&sink[..n]).trim_end());
                            }
                            _ => {}
                        }
                        return true;
                    }
                }
            }
        };
        if !io.await {
            return;
        }
    }
}

/// Takes a peer's internal command off a client connection before dispatch; true
/// when it was one (and was handled without a reply).
pub fn intercept(server: &Server, session: &mut Session, argv: &[Bytes]) -> bool {
    let Some(cluster) = &server.cluster else { return false };
    let name = &argv[0];
    if name.len() < HELLO.len() || !name[..10].eq_ignore_ascii_case(&GOSSIP[..10]) {
        return false;
    }
    let version_ok = argv.get(1).is_some_and(|v| &v[..] == VERSION);
    if name.eq_ignore_ascii_case(GOSSIP) {
        let Some(from) = &session.peer else { return false };
        if !version_ok || argv.len() < 4 {
            return false;
        }
        if &argv[2][..] == b"publish" {
            // Delivered here and now, to this node's subscribers only: the node where
            // it was published sends it to every node itself.
            if argv.len() == 5 {
                server.pubsub.publish(false, &argv[3], &argv[4]);
            }
            return true;
        }
        if argv.len() != 4 && !(argv.len() == 5 && &argv[2][..] == b"ping") {
            return false;
        }
        let from = from.clone();
        let stats = &cluster.stats;
        let ms = || std::str::from_utf8(&argv[3]).ok().and_then(|v| v.parse::<u64>().ok());
        let msg = match &argv[2][..] {
            b"swim" => {
                stats.messages_received.fetch_add(1, Relaxed);
                stats.bytes_received.fetch_add(argv[3].len() as u64, Relaxed);
                Inbound::Swim { from, payload: argv[3].clone() }
            }
            b"ping" => {
                stats.heartbeats_received.fetch_add(1, Relaxed);
                let Some(ms) = ms() else { return true };
                let caught_up = argv.get(4).and_then(|r| super::state::decode_ranges(r)).unwrap_or_default();
                Inbound::Ping { from, ms, caught_up }
            }
            b"pong" => {
                let Some(ms) = ms() else { return true };
                Inbound::Pong { from, ms }
            }
            _ => return true,
        };
        cluster.deliver(msg);
        return true;
    }
    if name.eq_ignore_ascii_case(HELLO) && argv.len() == 4 && version_ok {
        let trusted = if cluster.secret.is_empty() {
            session.info.is_local()
        } else {
            constant_time_eq(&argv[2], cluster.secret.as_bytes())
        };
        if trusted {
            session.peer = Some(String::from_utf8_lossy(&argv[3]).into_owned());
            server.clients.make_internal(session.info.id);
            return true;
        }
    }
    false
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_resp_arrays_of_bulk_strings() {
        assert_eq!(&frame(&[b"A", b"", b"xyz"])[..], b"*3\r\n$1\r\nA\r\n$0\r\n\r\n$3\r\nxyz\r\n");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
    }
}
