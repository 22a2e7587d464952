//! The proxy port (`cluster-proxy-port`): clients that know nothing about clusters use
//! any node as if it were one Redis.
//!
//! Each request is sent to the node serving its key's slot, and the node's reply is
//! returned as it came (RESP2 or RESP3). Ordinary commands share pooled upstream
//! connections, one per node and RESP version, pipelined: replies come back in order
//! and are matched to requests first in, first out ([`Upstream`]). A `-MOVED` reply is
//! followed inside the proxy, never returned. Multi-key commands are split per slot
//! and their replies put back together (`MGET`, `MSET`, `DEL`, `UNLINK`, `EXISTS`,
//! `TOUCH`; others across slots answer `-CROSSSLOT`), and keyspace-wide ones go to
//! every node (`DBSIZE`, `KEYS`, `SCAN` with a cursor that names the node,
//! `FLUSHALL`, `FLUSHDB`). What holds state on a connection gets connections of its
//! own, so nothing leaks between clients: a blocking command runs on a connection
//! pinned to the client; `MULTI` ... `EXEC` is queued here and sent whole, on a pinned
//! connection, to the node of its keys (which must share a slot); a client that
//! subscribes is tunnelled to one node for the rest of its life (PUBLISH reaches every
//! node's subscribers); a client that turns on CLIENT TRACKING (RESP3) sends all its
//! commands on connections of its own, each tracking for it, and their invalidation
//! pushes are relayed to it ([`Pushes`]). Upstream replies are delimited with the
//! `redis-protocol` codec.
//! Every queue, wait and redirect count here is bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::slot::key_slot;
use crate::command::table::{BLOCKING, table};
use crate::protocol::request::{Limits, RequestParser, encode, encode_args};
use crate::server::Server;

/// Requests waiting to be written to one upstream connection; more wait for room.
const UPSTREAM_QUEUE: usize = 1024;
/// `-MOVED` (and `-CLUSTERDOWN`) replies followed for one request before its last one
/// is returned. Past the first redirection, each waits a little longer (up to 160 ms):
/// two nodes that disagree about a slot for a moment (one has heard of a change the
/// other has not) agree within a gossip round, and a node that lost its majority for a
/// moment has it back within a heartbeat.
const MAX_REDIRECTS: usize = 5;
/// Bytes read from a client before its pending replies are written.
const READ_CHUNK: usize = 64 * 1024;
/// Push messages waiting to be written to one tracking client.
const PUSH_QUEUE: usize = 4096;

type Answer = oneshot::Receiver<Bytes>;
/// Requests written to an upstream connection together, each with where its reply goes.
type Batch = Vec<(Bytes, oneshot::Sender<Bytes>)>;

/// One upstream connection: requests go in through `tx`, each with the sender its
/// reply is delivered to, in order.
struct Upstream {
    tx: mpsc::Sender<Batch>,
}

impl Upstream {
    /// Connects (lazily, in its task) to `addr`, starting as `handshake` says.
    fn open(addr: SocketAddr, handshake: Handshake, timeout: Duration) -> Upstream {
        let (tx, rx) = mpsc::channel(UPSTREAM_QUEUE);
        tokio::spawn(upstream(addr, handshake, timeout, rx));
        Upstream { tx }
    }

    /// Queues a request; its reply arrives on the returned receiver (an error reply if
    /// the node cannot be reached).
    async fn send(&self, request: Bytes) -> Answer {
        let (tx, rx) = oneshot::channel();
        self.send_batch(vec![(request, tx)]).await;
        rx
    }

    /// Queues several requests at once (a client's pipeline to one node).
    async fn send_batch(&self, batch: Batch) {
        if let Err(mpsc::error::SendError(batch)) = self.tx.send(batch).await {
            for (_, tx) in batch {
                let _ = tx.send(Bytes::from_static(b"-ERR proxy: the node's connection closed\r\n"));
            }
        }
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// So that one helper ([`live`]) serves pooled (`Arc`) and pinned connections.
impl AsRef<Upstream> for Upstream {
    fn as_ref(&self) -> &Upstream {
        self
    }
}

/// The length of the first complete reply in `buf`, in RESP2 or RESP3.
fn reply_len(buf: &[u8], resp3: bool) -> Result<Option<usize>, String> {
    let found = if resp3 {
        redis_protocol::resp3::decode::complete::decode_range(buf).map(|r| r.map(|(_, len)| len))
    } else {
        redis_protocol::resp2::decode::decode_range(buf).map(|r| r.map(|(_, len)| len))
    };
    found.map_err(|e| e.to_string())
}

/// The first line of a reply, without its type byte and CRLF.
fn header(reply: &[u8]) -> Option<&[u8]> {
    let end = reply.windows(2).position(|w| w == b"\r\n")?;
    reply.get(1..end)
}

/// An integer reply's value.
fn integer(reply: &[u8]) -> Option<i64> {
    (reply.first() == Some(&b':')).then(|| std::str::from_utf8(header(reply)?).ok()?.parse().ok())?
}

/// The elements of an array (or RESP3 set) reply, each as it was encoded.
fn items(reply: &[u8], resp3: bool) -> Option<Vec<&[u8]>> {
    if !matches!(reply.first(), Some(b'*' | b'~')) {
        return None;
    }
    let head = header(reply)?;
    let n: usize = std::str::from_utf8(head).ok()?.parse().ok()?;
    let mut rest = &reply[head.len() + 3..];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = reply_len(rest, resp3).ok()??;
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    Some(out)
}

/// A bulk string reply's content.
fn bulk(reply: &[u8]) -> Option<&[u8]> {
    let head = header(reply)?;
    let start = head.len() + 3;
    let len: usize = std::str::from_utf8(head).ok()?.parse().ok()?;
    (reply.first() == Some(&b'$')).then(|| reply.get(start..start + len))?
}

/// How an upstream connection starts: `HELLO 3` and/or AUTH, and how its replies are
/// delimited.
struct Handshake {
    resp3: bool,
    password: Option<String>,
    decode_resp3: bool,
    /// Requests sent after HELLO/AUTH, their replies dropped (a tracking client's
    /// CLIENT TRACKING).
    setup: Vec<Bytes>,
    /// Where RESP3 push messages go (a tracking client's invalidations).
    pushes: Option<Pushes>,
}

impl Handshake {
    /// For commands of a client speaking RESP3 or not, with the node's password.
    fn client(resp3: bool, password: Option<String>) -> Handshake {
        Handshake { resp3, password, decode_resp3: resp3, setup: Vec::new(), pushes: None }
    }

    /// None of its own, for a client's HELLO or AUTH (whose reply may be RESP3).
    fn bare() -> Handshake {
        Handshake { resp3: false, password: None, decode_resp3: true, setup: Vec::new(), pushes: None }
    }
}

/// Push messages from a client's own upstream connections on their way to it. The
/// queue is bounded: when it is full a message is dropped and `lost` set, and the
/// client is then told to drop its whole cache (an invalidation of null, as Redis
/// sends after a FLUSHALL).
#[derive(Clone)]
struct Pushes {
    tx: mpsc::Sender<Bytes>,
    lost: Arc<AtomicBool>,
}

/// The RESP3 invalidation that empties a client's whole cache.
const INVALIDATE_ALL: &[u8] = b">2\r\n$10\r\ninvalidate\r\n_\r\n";

/// The open connection under `key`, opened (again) when there is none or it closed.
fn live<K: std::hash::Hash + Eq, U: AsRef<Upstream>>(
    conns: &mut HashMap<K, U>,
    key: K,
    open: impl Fn() -> U,
) -> &mut U {
    let up = conns.entry(key).or_insert_with(&open);
    if up.as_ref().is_closed() {
        *up = open();
    }
    up
}

async fn upstream(
    addr: SocketAddr,
    Handshake { resp3, password, decode_resp3, setup, pushes }: Handshake,
    timeout: Duration,
    mut rx: mpsc::Receiver<Batch>,
) {
    let unreachable = |e: String| Bytes::from(format!("-ERR proxy: cannot reach {addr}: {e}\r\n"));
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return fail_all(&mut rx, unreachable(e.to_string())),
        Err(_) => return fail_all(&mut rx, unreachable("timed out".into())),
    };
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
    // The handshake's replies are read and dropped before any client's.
    let mut handshake = Vec::new();
    let mut skip = 0;
    if resp3 {
        let mut hello: Vec<&[u8]> = vec![b"HELLO", b"3"];
        if let Some(p) = &password {
            hello.extend([b"AUTH".as_slice(), b"default", p.as_bytes()]);
        }
        handshake.extend(encode(&hello));
        skip += 1;
    } else if let Some(p) = &password {
        handshake.extend(encode(&[b"AUTH", p.as_bytes()]));
        skip += 1;
    }
    for request in setup {
        handshake.extend_from_slice(&request);
        skip += 1;
    }
    let (order_tx, mut order_rx) = mpsc::unbounded_channel::<oneshot::Sender<Bytes>>();
    let writer = async move {
        if write.write_all(&handshake).await.is_err() {
            return;
        }
        let mut batch = BytesMut::new();
        while let Some(requests) = rx.recv().await {
            for (request, reply) in requests {
                batch.extend_from_slice(&request);
                let _ = order_tx.send(reply);
            }
            while batch.len() < READ_CHUNK {
                match rx.try_recv() {
                    Ok(requests) => {
                        for (request, reply) in requests {
                            batch.extend_from_slice(&request);
                            let _ = order_tx.send(reply);
                        }
                    }
                    Err(_) => break,
                }
            }
            if write.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
        }
    };
    let reader = async move {
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            loop {
                match reply_len(&buf, decode_resp3) {
                    Ok(Some(len)) => {
                        let reply = buf.split_to(len).freeze();
                        if let Some(p) = pushes.as_ref().filter(|_| reply.first() == Some(&b'>')) {
                            if p.tx.try_send(reply).is_err() {
                                p.lost.store(true, Relaxed);
                            }
                            continue;
                        }
                        if skip > 0 {
                            skip -= 1;
                            continue;
                        }
                        match order_rx.recv().await {
                            Some(tx) => {
                                let _ = tx.send(reply);
                            }
                            None => return,
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
            match read.read_buf(&mut buf).await {
                Ok(n) if n > 0 => {}
                _ => return,
            }
        }
    };
    // Either side ending ends the connection; what waits gets an error reply.
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}

fn fail_all(rx: &mut mpsc::Receiver<Batch>, reply: Bytes) {
    rx.close();
    while let Ok(batch) = rx.try_recv() {
        for (_, tx) in batch {
            let _ = tx.send(reply.clone());
        }
    }
}

/// The shared upstream connections of a proxy, by node and RESP version.
#[derive(Default)]
struct Pool {
    conns: Mutex<HashMap<(SocketAddr, bool), Arc<Upstream>>>,
}

impl Pool {
    fn get(
        &self,
        addr: SocketAddr,
        resp3: bool,
        password: Option<String>,
        timeout: Duration,
    ) -> Arc<Upstream> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let open = || Arc::new(Upstream::open(addr, Handshake::client(resp3, password.clone()), timeout));
        live(&mut conns, (addr, resp3), open).clone()
    }
}

/// Starts the proxy on its own thread, serving the given listeners.
pub fn spawn(server: Arc<Server>, listeners: Vec<std::net::TcpListener>) -> std::io::Result<()> {
    std::thread::Builder::new().name("slotcache-proxy".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!("cannot start the proxy runtime: {e}");
                return;
            }
        };
        rt.block_on(async move {
            let pool = Arc::new(Pool::default());
            let mut tasks = tokio::task::JoinSet::new();
            for l in listeners {
                let Ok(l) = l.set_nonblocking(true).and_then(|_| tokio::net::TcpListener::from_std(l)) else {
                    continue;
                };
                let (server, pool) = (server.clone(), pool.clone());
                tasks.spawn(async move {
                    loop {
                        let accepted = tokio::select! {
                            _ = server.shutdown.cancelled() => return,
                            a = l.accept() => a,
                        };
                        if let Ok((s, _)) = accepted {
                            let _ = s.set_nodelay(true);
                            tokio::spawn(Client::new(server.clone(), pool.clone()).serve(s));
                        }
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        });
    })?;
    Ok(())
}

/// What a request will answer: a reply already made, or one still to come.
enum Pending {
    Ready(Bytes),
    /// From a node (`to`); followed on -MOVED, asked again on -CLUSTERDOWN (the
    /// request is kept for that).
    Node {
        to: SocketAddr,
        request: Bytes,
        answer: Answer,
    },
    /// Parts from several nodes to put back together.
    Merge {
        merge: Merge,
        parts: Vec<Answer>,
    },
}

enum Merge {
    /// MGET: the keys' positions in each part, and how many keys in all.
    Values { positions: Vec<Vec<usize>>, total: usize },
    /// DEL, UNLINK, EXISTS, TOUCH, DBSIZE: integers summed.
    Sum,
    /// MSET, FLUSHALL, FLUSHDB: +OK when every part is, else the first error.
    AllOk,
    /// KEYS: the arrays joined.
    Concat,
    /// SCAN: node `node` of `nodes` answered; the next cursor names the node.
    Scan { node: usize, nodes: usize },
}

/// A MULTI being queued here.
struct Transaction {
    queued: Vec<Vec<Bytes>>,
    slot: Option<u16>,
    aborted: bool,
}

struct Client {
    server: Arc<Server>,
    pool: Arc<Pool>,
    resp3: bool,
    authenticated: bool,
    /// Connections of this client's own (blocking commands, transactions), by node.
    pinned: HashMap<SocketAddr, Upstream>,
    multi: Option<Transaction>,
    /// Slot of the keys under WATCH.
    watch_slot: Option<u16>,
    /// QUIT: close once the replies so far are written.
    quit: bool,
    /// Requests of the batch being read, per pooled connection, not yet sent.
    staged: HashMap<SocketAddr, (Arc<Upstream>, Batch)>,
    /// `requirepass`, for the connections this client opens.
    password: Option<String>,
    timeout: Duration,
    /// The cluster state routing the batch being read, and its members' addresses.
    state: Arc<super::state::ClusterState>,
    addrs: Vec<SocketAddr>,
    /// CLIENT TRACKING ON requests made since tracking was last off, in order: sent on
    /// every connection pinned to this client (so all its commands take pinned ones).
    tracking: Vec<Bytes>,
    /// The tracking mode's OPTIN and OPTOUT (for CLIENT CACHING).
    optin: bool,
    optout: bool,
    /// CLIENT CACHING's YES or NO: for the next command (`caching_now` while it is routed).
    caching: Option<Bytes>,
    caching_now: Option<Bytes>,
    /// Invalidations (and any push message) from the pinned connections.
    pushes: Pushes,
    push_rx: mpsc::Receiver<Bytes>,
}

impl Client {
    fn new(server: Arc<Server>, pool: Arc<Pool>) -> Client {
        let password = Some(server.config().requirepass.clone()).filter(|p| !p.is_empty());
        let cluster = server.cluster.as_deref().expect("the proxy runs in cluster mode");
        let (timeout, state) = (cluster.node_timeout(), cluster.state());
        let addrs = addresses(&state);
        let (tx, push_rx) = mpsc::channel(PUSH_QUEUE);
        Client {
            pushes: Pushes { tx, lost: Arc::new(AtomicBool::new(false)) },
            push_rx,
            tracking: Vec::new(),
            optin: false,
            optout: false,
            caching: None,
            caching_now: None,
            authenticated: password.is_none(),
            password,
            timeout,
            state,
            addrs,
            server,
            pool,
            resp3: false,
            pinned: HashMap::new(),
            multi: None,
            watch_slot: None,
            quit: false,
            staged: HashMap::new(),
        }
    }

    fn cluster(&self) -> &super::Cluster {
        self.server.cluster.as_deref().expect("the proxy runs in cluster mode")
    }

    fn password(&self) -> Option<String> {
        self.password.clone()
    }

    /// Takes the cluster state now, for the batch about to be read.
    fn refresh(&mut self) {
        let state = self.cluster().state();
        if !Arc::ptr_eq(&state, &self.state) {
            self.addrs = addresses(&state);
            self.state = state;
        }
    }

    /// The address of the node serving `slot`, or this node's when none does.
    fn owner(&self, slot: Option<u16>) -> SocketAddr {
        let node = slot.and_then(|s| self.state.owner(s)).unwrap_or(self.state.myself);
        self.addrs[node as usize]
    }

    /// Every node serving slots, in id order.
    fn serving_nodes(&self) -> Vec<SocketAddr> {
        let mut nodes: Vec<u16> = self.state.ranges.iter().map(|r| r.primary).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes.into_iter().map(|n| self.addrs[n as usize]).collect()
    }

    /// Stages a request for the node's pooled connection; the batch goes out whole
    /// before its replies are awaited ([`Client::flush`]).
    async fn stage(&mut self, addr: SocketAddr, argv: &[Bytes]) -> Pending {
        let request = Bytes::from(encode_args(argv));
        if !self.tracking.is_empty() {
            // What a tracking client reads is remembered for its own connection.
            let answer = self.pinned_request(addr, request.clone()).await;
            return Pending::Node { to: addr, request, answer };
        }
        let (tx, answer) = oneshot::channel();
        let (resp3, timeout, pool, password) = (self.resp3, self.timeout, &self.pool, &self.password);
        let staged = self
            .staged
            .entry(addr)
            .or_insert_with(|| (pool.get(addr, resp3, password.clone(), timeout), Vec::new()));
        staged.1.push((request.clone(), tx));
        Pending::Node { to: addr, request, answer }
    }

    /// Sends every staged batch.
    async fn flush(&mut self) {
        for (_, (up, batch)) in self.staged.drain() {
            up.send_batch(batch).await;
        }
    }

    async fn pinned(&mut self, addr: SocketAddr, argv: &[&[u8]]) -> Answer {
        self.pinned_request(addr, Bytes::from(encode(argv))).await
    }

    /// Sends a request on this client's own connection to `addr` (after CLIENT CACHING
    /// when the command it belongs to follows one).
    async fn pinned_request(&mut self, addr: SocketAddr, request: Bytes) -> Answer {
        let caching = self.caching_now.clone();
        let up = self.pinned_conn(addr);
        if let Some(choice) = caching {
            // Its +OK is not waited for (the client had its answer already).
            drop(up.send(Bytes::from(encode(&[b"CLIENT", b"CACHING", &choice]))).await);
        }
        up.send(request).await
    }

    /// This client's own connection to `addr`, opened (again) if needed: it starts with
    /// the client's CLIENT TRACKING requests and hands push messages to the client.
    fn pinned_conn(&mut self, addr: SocketAddr) -> &mut Upstream {
        let (resp3, password, timeout) = (self.resp3, self.password(), self.timeout);
        let (setup, pushes) = (&self.tracking, &self.pushes);
        let open = || {
            let handshake = Handshake {
                setup: setup.clone(),
                pushes: Some(pushes.clone()),
                ..Handshake::client(resp3, password.clone())
            };
            Upstream::open(addr, handshake, timeout)
        };
        live(&mut self.pinned, addr, open)
    }

    /// CLIENT TRACKING: this node checks the request; then it holds on every connection
    /// of the client's own, one opened to each serving node. Invalidations come back as
    /// RESP3 push messages, so REDIRECT (RESP2's way) is refused.
    async fn client_tracking(&mut self, argv: Vec<Bytes>) -> Pending {
        if argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"redirect")) {
            return self.error(
                "ERR CLIENT TRACKING REDIRECT is not supported on the proxy port: use RESP3 (HELLO 3), whose invalidations come on the same connection",
            );
        }
        let request = Bytes::from(encode_args(&argv));
        let own = self.owner(None);
        let reply = match self.pinned_request(own, request.clone()).await.await {
            Ok(reply) => reply,
            Err(_) => return self.error("ERR proxy: the node's connection closed"),
        };
        if !reply.starts_with(b"+") {
            return Pending::Ready(reply);
        }
        // The others (every serving node when on) have it before the client is answered,
        // so no write after the answer goes unseen.
        let on = argv[2].eq_ignore_ascii_case(b"on");
        let mut others: Vec<SocketAddr> =
            self.pinned.iter().filter(|(_, up)| !up.is_closed()).map(|(a, _)| *a).collect();
        if on {
            others.extend(self.serving_nodes());
        }
        others.sort_unstable();
        others.dedup();
        others.retain(|a| *a != own);
        let mut answers = Vec::with_capacity(others.len());
        for addr in others {
            answers.push(self.pinned_request(addr, request.clone()).await);
        }
        for answer in answers {
            let _ = answer.await;
        }
        let has = |option: &[u8]| argv[3..].iter().any(|a| a.eq_ignore_ascii_case(option));
        (self.optin, self.optout) = (on && has(b"optin"), on && has(b"optout"));
        if on {
            self.tracking.push(request);
        } else {
            self.tracking.clear();
        }
        Pending::Ready(reply)
    }

    /// CLIENT CACHING YES|NO: checked here, and sent before the next command on the
    /// connection that command takes.
    fn client_caching(&mut self, argv: &[Bytes]) -> Pending {
        if argv.len() != 3 {
            return self.error("ERR wrong number of arguments for 'client|caching' command");
        }
        let mode = (!self.tracking.is_empty()).then_some((self.optin, self.optout));
        match crate::command::connection::caching_choice(mode, &argv[2]) {
            Ok(_) => {
                self.caching = Some(argv[2].clone());
                Pending::Ready(Bytes::from_static(b"+OK\r\n"))
            }
            Err(e) => self.error(&e.to_string()),
        }
    }

    /// Writes push messages waiting for the client, starting with `first`.
    async fn write_pushes(&mut self, stream: &mut TcpStream, first: Bytes) -> bool {
        let mut out = BytesMut::from(&first[..]);
        while let Ok(more) = self.push_rx.try_recv() {
            out.extend_from_slice(&more);
        }
        if self.pushes.lost.swap(false, Relaxed) {
            out.extend_from_slice(INVALIDATE_ALL);
        }
        stream.write_all(&out).await.is_ok()
    }

    fn error(&self, text: &str) -> Pending {
        Pending::Ready(Bytes::from(format!("-{text}\r\n")))
    }

    async fn serve(mut self, mut stream: TcpStream) {
        let mut parser = RequestParser::new();
        let mut rbuf = BytesMut::with_capacity(16 * 1024);
        let max_bulk =
            self.server.limits.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed) as usize;
        loop {
            tokio::select! {
                read = stream.read_buf(&mut rbuf) => match read {
                    Ok(n) if n > 0 => {}
                    _ => return,
                },
                Some(push) = self.push_rx.recv() => {
                    if !self.write_pushes(&mut stream, push).await {
                        return;
                    }
                    continue;
                }
            }
            let mut pending = Vec::new();
            let read_at = std::time::Instant::now();
            self.refresh();
            loop {
                let limits = Limits { max_bulk_len: max_bulk, authenticated: self.authenticated };
                match parser.next(&mut rbuf, limits) {
                    Ok(Some(argv)) => {
                        let mut lower = [0u8; 24];
                        let name = lowercase(&argv[0], &mut lower);
                        if matches!(name, "subscribe" | "psubscribe" | "ssubscribe") {
                            // Tunnelled from here on: what was read after it goes along.
                            let out = self.resolve_all(pending).await;
                            if stream.write_all(&out).await.is_err() {
                                return;
                            }
                            return self.tunnel(stream, &argv, rbuf).await;
                        }
                        if barrier(name, &argv) {
                            // A client's commands run in its order even across
                            // connections: what came before is answered first, and
                            // this one before anything after it is sent.
                            let mut out = self.resolve_all(std::mem::take(&mut pending)).await;
                            let p = self.route(name, argv).await;
                            out.extend_from_slice(&self.resolve(p).await);
                            if stream.write_all(&out).await.is_err() {
                                return;
                            }
                            self.record(read_at);
                            continue;
                        }
                        let p = self.route(name, argv).await;
                        pending.push(p);
                        if self.quit {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let mut out = self.resolve_all(pending).await;
                        out.extend_from_slice(format!("-{}\r\n", e.reply_text()).as_bytes());
                        let _ = stream.write_all(&out).await;
                        return;
                    }
                }
            }
            let count = pending.len();
            let out = self.resolve_all(pending).await;
            for _ in 0..count {
                self.record(read_at);
            }
            if stream.write_all(&out).await.is_err() || self.quit {
                return;
            }
        }
    }

    /// Decides where one request goes.
    async fn route(&mut self, name: &str, argv: Vec<Bytes>) -> Pending {
        if !self.authenticated && name != "auth" && name != "hello" {
            return self.error("NOAUTH Authentication required.");
        }
        if self.multi.is_some() && !matches!(name, "exec" | "discard" | "multi" | "watch") {
            return self.queue(argv);
        }
        let client_sub =
            |sub: &[u8]| name == "client" && argv.get(1).is_some_and(|a| a.eq_ignore_ascii_case(sub));
        if client_sub(b"caching") {
            return self.client_caching(&argv);
        }
        self.caching_now = self.caching.take();
        if client_sub(b"tracking") {
            return self.client_tracking(argv).await;
        }
        match name {
            "quit" => {
                self.quit = true;
                return Pending::Ready(Bytes::from_static(b"+OK\r\n"));
            }
            "hello" | "auth" => return self.handshake(name, &argv).await,
            "select" => {
                return if &argv.get(1).map(|a| &a[..]).unwrap_or(b"") == b"0" {
                    Pending::Ready(Bytes::from_static(b"+OK\r\n"))
                } else {
                    self.error("ERR SELECT is not allowed in cluster mode")
                };
            }
            "multi" => {
                if self.multi.is_some() {
                    return self.error("ERR MULTI calls can not be nested");
                }
                self.multi = Some(Transaction { queued: Vec::new(), slot: self.watch_slot, aborted: false });
                return Pending::Ready(Bytes::from_static(b"+OK\r\n"));
            }
            "discard" => {
                if self.multi.take().is_none() {
                    return self.error("ERR DISCARD without MULTI");
                }
                return self.unwatch_then(Bytes::from_static(b"+OK\r\n")).await;
            }
            "exec" => return self.exec().await,
            "watch" => {
                if self.multi.is_some() {
                    return self.error("ERR WATCH inside MULTI is not allowed");
                }
                let Some(slot) = self.common_slot(&argv[1..]) else {
                    return self.error(&crate::error::CROSSSLOT.to_string());
                };
                if self.watch_slot.is_some_and(|s| s != slot) {
                    return self.error(&crate::error::CROSSSLOT.to_string());
                }
                self.watch_slot = Some(slot);
                let addr = self.owner(Some(slot));
                let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
                let answer = self.pinned(addr, &args).await;
                return Pending::Node { to: addr, request: Bytes::new(), answer };
            }
            "unwatch" => {
                return self.unwatch_then(Bytes::from_static(b"+OK\r\n")).await;
            }
            "dbsize" => return self.fan_out(&argv, Merge::Sum).await,
            "keys" => return self.fan_out(&argv, Merge::Concat).await,
            "flushall" | "flushdb" => return self.fan_out(&argv, Merge::AllOk).await,
            "scan" => return self.scan(argv).await,
            "mget" | "del" | "unlink" | "exists" | "touch" => return self.split(name, &argv, 1).await,
            "mset" => return self.split(name, &argv, 2).await,
            _ => {}
        }
        let t = table();
        let Some(idx) = t.lookup(&argv[0]) else {
            // Unknown here: the node says so in its own words.
            let addr = self.owner(None);
            return self.stage(addr, &argv).await;
        };
        let spec = t.specs[idx];
        let keys: Vec<Bytes> = spec.key_indices(&argv).map(|i| argv[i].clone()).collect();
        let slot = if keys.is_empty() {
            None
        } else {
            match self.common_slot(&keys) {
                Some(s) => Some(s),
                None => return self.error(&crate::error::CROSSSLOT.to_string()),
            }
        };
        let addr = self.owner(slot);
        if spec.has(BLOCKING) {
            // A wait of its own, not in the shared line.
            let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
            let answer = self.pinned(addr, &args).await;
            return Pending::Node { to: addr, request: Bytes::new(), answer };
        }
        self.stage(addr, &argv).await
    }

    /// The one slot of these keys, if they share one.
    fn common_slot(&self, keys: &[Bytes]) -> Option<u16> {
        let first = key_slot(keys.first()?);
        keys[1..].iter().all(|k| key_slot(k) == first).then_some(first)
    }

    /// HELLO and AUTH: answered by this node on a connection of their own, and
    /// remembered (the RESP version, being authenticated).
    async fn handshake(&mut self, name: &str, argv: &[Bytes]) -> Pending {
        let addr = self.owner(None);
        let up = Upstream::open(addr, Handshake::bare(), self.timeout);
        let reply = up.send(Bytes::from(encode_args(argv))).await;
        let reply = reply.await.unwrap_or_else(|_| Bytes::from_static(b"-ERR proxy: no reply\r\n"));
        if !reply.starts_with(b"-") {
            if name == "hello" {
                self.resp3 = argv.get(1).is_some_and(|v| &v[..] == b"3") || (argv.len() == 1 && self.resp3);
            }
            let gave_password = name == "auth" || argv.iter().any(|a| a.eq_ignore_ascii_case(b"auth"));
            if gave_password {
                self.authenticated = true;
            }
        }
        Pending::Ready(reply)
    }

    fn queue(&mut self, argv: Vec<Bytes>) -> Pending {
        let t = table();
        let keys: Vec<Bytes> = match t.lookup(&argv[0]) {
            Some(idx) => t.specs[idx].key_indices(&argv).map(|i| argv[i].clone()).collect(),
            None => Vec::new(),
        };
        let multi = self.multi.as_mut().expect("queuing");
        if !keys.is_empty() {
            let first = key_slot(&keys[0]);
            if keys.iter().any(|k| key_slot(k) != first) || multi.slot.is_some_and(|s| s != first) {
                multi.aborted = true;
                return self.error(&crate::error::CROSSSLOT.to_string());
            }
            multi.slot = Some(first);
        }
        multi.queued.push(argv);
        Pending::Ready(Bytes::from_static(b"+QUEUED\r\n"))
    }

    /// EXEC: the queued commands go whole to the node of their slot, on this client's
    /// own connection; only EXEC's reply comes back.
    async fn exec(&mut self) -> Pending {
        let Some(multi) = self.multi.take() else {
            return self.error("ERR EXEC without MULTI");
        };
        if multi.aborted {
            self.watch_slot = None;
            return self.error("EXECABORT Transaction discarded because of previous errors.");
        }
        let addr = self.owner(multi.slot);
        let mut skipped = Vec::new();
        skipped.push(self.pinned(addr, &[b"MULTI"]).await);
        for argv in &multi.queued {
            let args: Vec<&[u8]> = argv.iter().map(|a| &a[..]).collect();
            skipped.push(self.pinned(addr, &args).await);
        }
        let answer = self.pinned(addr, &[b"EXEC"]).await;
        self.watch_slot = None;
        for s in skipped {
            let _ = s.await;
        }
        Pending::Node { to: addr, request: Bytes::new(), answer }
    }

    async fn unwatch_then(&mut self, reply: Bytes) -> Pending {
        if let Some(slot) = self.watch_slot.take() {
            let addr = self.owner(Some(slot));
            let _ = self.pinned(addr, &[b"UNWATCH"]).await.await;
        }
        Pending::Ready(reply)
    }

    async fn fan_out(&mut self, argv: &[Bytes], merge: Merge) -> Pending {
        let mut parts = Vec::new();
        for addr in self.serving_nodes() {
            if let Pending::Node { answer, .. } = self.stage(addr, argv).await {
                parts.push(answer);
            }
        }
        Pending::Merge { merge, parts }
    }

    /// SCAN cursor ...: the cursor's low 10 bits name the node (in the serving order),
    /// the rest is that node's cursor.
    async fn scan(&mut self, mut argv: Vec<Bytes>) -> Pending {
        let nodes = self.serving_nodes();
        let Some(cursor) = argv.get(1).and_then(|c| std::str::from_utf8(c).ok()?.parse::<u64>().ok()) else {
            return self.error("ERR invalid cursor");
        };
        let node = (cursor & 1023) as usize;
        let Some(&addr) = nodes.get(node) else { return Pending::Ready(empty_scan()) };
        argv[1] = Bytes::from((cursor >> 10).to_string());
        match self.stage(addr, &argv).await {
            Pending::Node { answer, .. } => {
                Pending::Merge { merge: Merge::Scan { node, nodes: nodes.len() }, parts: vec![answer] }
            }
            other => other,
        }
    }

    /// MGET, MSET, DEL ...: one request per slot, to its node.
    async fn split(&mut self, name: &str, argv: &[Bytes], step: usize) -> Pending {
        if argv.len() < 1 + step || !(argv.len() - 1).is_multiple_of(step) {
            return self.error(&format!("ERR wrong number of arguments for '{name}' command"));
        }
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for (i, chunk) in argv[1..].chunks(step).enumerate() {
            let slot = key_slot(&chunk[0]);
            match groups.iter_mut().find(|g| g.0 == slot) {
                Some(g) => g.1.push(i),
                None => groups.push((slot, vec![i])),
            }
        }
        let mut parts = Vec::new();
        let mut positions = Vec::new();
        for (slot, members) in groups {
            let mut sub = vec![argv[0].clone()];
            for &i in &members {
                sub.extend_from_slice(&argv[1 + i * step..1 + (i + 1) * step]);
            }
            if let Pending::Node { answer, .. } = self.stage(self.owner(Some(slot)), &sub).await {
                parts.push(answer);
            }
            positions.push(members);
        }
        let total = (argv.len() - 1) / step;
        let merge = match name {
            "mget" => Merge::Values { positions, total },
            "mset" => Merge::AllOk,
            _ => Merge::Sum,
        };
        Pending::Merge { merge, parts }
    }

    /// Waits for every pending reply, in order; the bytes to write.
    async fn resolve_all(&mut self, pending: Vec<Pending>) -> Vec<u8> {
        self.flush().await;
        let mut out = Vec::new();
        for p in pending {
            out.extend_from_slice(&self.resolve(p).await);
        }
        out
    }

    /// Counts a command answered through the proxy, timed from when its batch was read.
    fn record(&self, since: std::time::Instant) {
        self.cluster().stats.record_proxied(since.elapsed().as_micros() as u64);
    }

    async fn resolve(&mut self, p: Pending) -> Bytes {
        let lost = || Bytes::from_static(b"-ERR proxy: the node's connection closed\r\n");
        match p {
            Pending::Ready(b) => b,
            Pending::Node { to, mut request, answer } => {
                let mut reply = answer.await.unwrap_or_else(|_| lost());
                for hop in 0..MAX_REDIRECTS {
                    // A node that cannot serve for a moment (it has not heard from
                    // enough nodes lately) is asked again after a pause.
                    let down = reply.starts_with(b"-CLUSTERDOWN The cluster is down");
                    let Some(addr) = moved_to(&reply).or(down.then_some(to)) else { break };
                    if request.is_empty() {
                        break; // pinned: the client's own connection decides
                    }
                    if hop > 0 || down {
                        tokio::time::sleep(std::time::Duration::from_millis(10 << hop)).await;
                    }
                    let answer = if self.tracking.is_empty() {
                        let up = self.pool.get(addr, self.resp3, self.password(), self.timeout);
                        up.send(request.clone()).await
                    } else {
                        self.pinned_request(addr, request.clone()).await
                    };
                    reply = answer.await.unwrap_or_else(|_| lost());
                    let again =
                        moved_to(&reply).is_some() || reply.starts_with(b"-CLUSTERDOWN The cluster is down");
                    request = if again { request } else { Bytes::new() };
                }
                reply
            }
            Pending::Merge { merge, parts } => {
                let mut replies = Vec::with_capacity(parts.len());
                for part in parts {
                    replies.push(part.await.unwrap_or_else(|_| lost()));
                }
                merge_replies(merge, &replies, self.resp3)
            }
        }
    }

    /// A subscriber: its requests and the node's messages flow both ways unchanged,
    /// to one node (SSUBSCRIBE: the node of its channels' slot) until either closes.
    async fn tunnel(self, mut client: TcpStream, first: &[Bytes], rest: BytesMut) {
        let slot =
            if first[0].eq_ignore_ascii_case(b"ssubscribe") { self.common_slot(&first[1..]) } else { None };
        let addr = self.owner(slot);
        let Ok(Ok(mut node)) = tokio::time::timeout(self.timeout, TcpStream::connect(addr)).await else {
            let _ = client.write_all(format!("-ERR proxy: cannot reach {addr}\r\n").as_bytes()).await;
            return;
        };
        let mut hello = Vec::new();
        let mut skip = 0;
        if self.resp3 || self.password().is_some() {
            let mut args: Vec<Vec<u8>> =
                vec![b"HELLO".to_vec(), if self.resp3 { b"3".to_vec() } else { b"2".to_vec() }];
            if let Some(p) = self.password() {
                args.extend([b"AUTH".to_vec(), b"default".to_vec(), p.into_bytes()]);
            }
            hello = encode_args(&args);
            skip = 1;
        }
        hello.extend(encode_args(first));
        hello.extend_from_slice(&rest);
        if node.write_all(&hello).await.is_err() {
            return;
        }
        // Drop the handshake's reply, then relay.
        let mut buf = BytesMut::new();
        while skip > 0 {
            if node.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
            if let Ok(Some(len)) = reply_len(&buf, self.resp3) {
                let _ = buf.split_to(len);
                skip -= 1;
            }
        }
        if client.write_all(&buf).await.is_err() {
            return;
        }
        let _ = tokio::io::copy_bidirectional(&mut client, &mut node).await;
    }
}

/// Members' client addresses, by index.
fn addresses(state: &super::state::ClusterState) -> Vec<SocketAddr> {
    state.members.iter().map(|m| m.addr()).collect()
}

/// A command name in lower case, in `buf`; empty for a name longer than it (no
/// command the proxy handles itself).
fn lowercase<'b>(name: &[u8], buf: &'b mut [u8; 24]) -> &'b str {
    if name.len() > buf.len() {
        return "";
    }
    let out = &mut buf[..name.len()];
    out.copy_from_slice(name);
    out.make_ascii_lowercase();
    std::str::from_utf8(out).unwrap_or("")
}

/// Commands that run on the client's own connections (EXEC, WATCH, blocking ones):
/// they are ordered with the client's other commands by waiting.
fn barrier(name: &str, argv: &[Bytes]) -> bool {
    matches!(name, "exec" | "watch" | "unwatch" | "discard")
        || table().lookup(&argv[0]).is_some_and(|i| table().specs[i].has(BLOCKING))
}

fn empty_scan() -> Bytes {
    Bytes::from_static(b"*2\r\n$1\r\n0\r\n*0\r\n")
}

/// The address in a `-MOVED slot ip:port` reply.
fn moved_to(reply: &[u8]) -> Option<SocketAddr> {
    let text = reply.strip_prefix(b"-MOVED ")?;
    let text = std::str::from_utf8(text).ok()?.trim_end();
    super::state::parse_addr(text.split(' ').nth(1)?)
}

/// Puts the parts of a split or fanned-out request back together.
fn merge_replies(merge: Merge, replies: &[Bytes], resp3: bool) -> Bytes {
    if let Some(e) = replies.iter().find(|r| r.starts_with(b"-")) {
        return e.clone();
    }
    let unreadable = || Bytes::from_static(b"-ERR proxy: unreadable reply\r\n");
    let mut out = BytesMut::new();
    match merge {
        Merge::Sum => {
            let mut n = 0;
            for r in replies {
                let Some(v) = integer(r) else { return unreadable() };
                n += v;
            }
            out.extend_from_slice(format!(":{n}\r\n").as_bytes());
        }
        Merge::AllOk => out.extend_from_slice(b"+OK\r\n"),
        Merge::Concat => {
            let mut all = Vec::new();
            for r in replies {
                let Some(i) = items(r, resp3) else { return unreadable() };
                all.extend(i);
            }
            out.extend_from_slice(format!("*{}\r\n", all.len()).as_bytes());
            all.iter().for_each(|i| out.extend_from_slice(i));
        }
        Merge::Values { positions, total } => {
            let mut values: Vec<&[u8]> = vec![if resp3 { b"_\r\n" } else { b"$-1\r\n" }; total];
            for (r, at) in replies.iter().zip(&positions) {
                let Some(i) = items(r, resp3) else { return unreadable() };
                for (v, &k) in i.into_iter().zip(at) {
                    values[k] = v;
                }
            }
            out.extend_from_slice(format!("*{total}\r\n").as_bytes());
            values.iter().for_each(|v| out.extend_from_slice(v));
        }
        Merge::Scan { node, nodes } => {
            let Some(parts) = replies.first().and_then(|r| items(r, resp3)).filter(|p| p.len() == 2) else {
                return unreadable();
            };
            let inner = bulk(parts[0]).and_then(|c| std::str::from_utf8(c).ok()?.parse::<u64>().ok());
            let next = match inner {
                Some(0) | None if node + 1 < nodes => (node + 1) as u64,
                Some(0) | None => 0,
                Some(c) => (c << 10) | node as u64,
            };
            let next = next.to_string();
            out.extend_from_slice(format!("*2\r\n${}\r\n{next}\r\n", next.len()).as_bytes());
            out.extend_from_slice(parts[1]);
        }
    }
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_delimited_and_merged_in_both_protocols() {
        let r2 = Bytes::from_static(b"*3\r\n$1\r\na\r\n$-1\r\n:5\r\n");
        assert_eq!(reply_len(&r2, false), Ok(Some(r2.len())));
        assert_eq!(reply_len(&r2[..5], false), Ok(None));
        assert_eq!(items(&r2, false).unwrap(), vec![&b"$1\r\na\r\n"[..], b"$-1\r\n", b":5\r\n"]);
        let r3 = Bytes::from_static(b"*2\r\n$1\r\nb\r\n_\r\n");
        assert_eq!(reply_len(&r3, true), Ok(Some(r3.len())));
        // MGET k0 k1 k2 split as [k2, k0] and [k1].
        let merged = merge_replies(
            Merge::Values { positions: vec![vec![2, 0], vec![1]], total: 3 },
            &[Bytes::from_static(b"*2\r\n$1\r\nc\r\n$-1\r\n"), Bytes::from_static(b"*1\r\n$1\r\nb\r\n")],
            false,
        );
        assert_eq!(&merged[..], b"*3\r\n$-1\r\n$1\r\nb\r\n$1\r\nc\r\n");
        let sum =
            merge_replies(Merge::Sum, &[Bytes::from_static(b":2\r\n"), Bytes::from_static(b":3\r\n")], false);
        assert_eq!(&sum[..], b":5\r\n");
        let scan = merge_replies(
            Merge::Scan { node: 1, nodes: 3 },
            &[Bytes::from_static(b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\nk\r\n")],
            false,
        );
        assert_eq!(&scan[..], format!("*2\r\n$5\r\n{}\r\n*1\r\n$1\r\nk\r\n", (17 << 10) | 1).as_bytes());
        let done = merge_replies(
            Merge::Scan { node: 2, nodes: 3 },
            &[Bytes::from_static(b"*2\r\n$1\r\n0\r\n*0\r\n")],
            false,
        );
        assert_eq!(&done[..], b"*2\r\n$1\r\n0\r\n*0\r\n");
        let err = merge_replies(
            Merge::AllOk,
            &[Bytes::from_static(b"+OK\r\n"), Bytes::from_static(b"-ERR x\r\n")],
            false,
        );
        assert_eq!(&err[..], b"-ERR x\r\n");
        assert_eq!(moved_to(b"-MOVED 12 127.0.0.1:7001\r\n"), Some("127.0.0.1:7001".parse().unwrap()));
    }
}
