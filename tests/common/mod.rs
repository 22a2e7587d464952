//! Test helpers: a real slotcache server on 127.0.0.1 with an ephemeral port, `redis`
//! crate clients, and raw-socket helpers for byte-exact RESP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use slotcache::{Config, ServerHandle, StartOptions};

/// Generous bound for anything a test waits on; only there to avoid hangs.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub handle: Option<ServerHandle>,
    pub addr: SocketAddr,
    /// The `dir` made for it, removed when it stops.
    own_dir: Option<std::path::PathBuf>,
}

static NEXT_SERVER_DIR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl TestServer {
    /// A server with test defaults plus `directives` (`["maxclients", "5"]`...).
    pub fn start_with(directives: &[&str]) -> TestServer {
        let mut flags: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            "0".into(),
            "--threads".into(),
            "2".into(),
            "--shards".into(),
            "4".into(),
            "--metrics-port".into(),
            "0".into(),
            // As Redis's own test suite runs: DEBUG for the tests that need it.
            "--enable-debug-command".into(),
            "local".into(),
        ];
        // Files a test server writes (SAVE) go to a directory of its own, never into
        // the working tree, where the next server would load them.
        let own_dir = (!directives.contains(&"dir")).then(|| {
            let n = NEXT_SERVER_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("slotcache-tests-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            flags.extend(["--dir".into(), dir.to_string_lossy().into_owned()]);
            dir
        });
        let mut i = 0;
        while i < directives.len() {
            flags.push(format!("--{}", directives[i]));
            flags.push(directives[i + 1].to_string());
            i += 2;
        }
        let config = Config::load(None, &flags).expect("test config");
        let handle = slotcache::start(config, StartOptions::default()).expect("server starts");
        let addr = handle.addr();
        TestServer { handle: Some(handle), addr, own_dir }
    }

    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("client")
    }

    pub fn conn(&self) -> redis::Connection {
        connect(self.addr)
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
            h.wait();
        }
        if let Some(dir) = self.own_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The real `slotcache` binary in its own process, with its log lines.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    /// Log lines read up to the ready line.
    early: Vec<String>,
    log: mpsc::Receiver<String>,
}

impl Proc {
    pub fn start(args: &[&str]) -> Proc {
        Proc::try_start(args).unwrap_or_else(|why| panic!("slotcache did not start: {why}"))
    }

    /// Starts the binary; Err with what it printed when it exits before it is ready
    /// (a port taken meanwhile by another test, say).
    pub fn try_start(args: &[&str]) -> Result<Proc, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slotcache"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn slotcache");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + WAIT;
        let mut early = Vec::new();
        let addr = loop {
            let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
                let _ = child.kill();
                let _ = child.wait();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                return Err(format!("{early:?} {err}"));
            };
            let addr = line
                .split("Ready to accept connections tcp ")
                .nth(1)
                .map(|a| a.trim().parse().expect("address"));
            early.push(line);
            if let Some(a) = addr {
                break a;
            }
        };
        Ok(Proc { child, addr, early, log: rx })
    }

    /// The log lines printed since the last call (after the ready line).
    pub fn drain_log(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.addr))
            .unwrap()
            .get_connection_with_timeout(WAIT)
            .unwrap()
    }

    pub fn signal(&self, sig: &str) {
        let ok =
            Command::new("kill").arg(format!("-{sig}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(ok.success());
    }

    /// Waits for exit; returns the exit code and every log line, from start-up on.
    pub fn wait(mut self) -> (Option<i32>, Vec<String>) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                let mut lines = std::mem::take(&mut self.early);
                lines.extend(self.log.try_iter());
                return (status.code(), lines);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("slotcache did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    /// A test that fails midway must not leave its server running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw TCP connection for byte-exact protocol tests.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("raw connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("raw write");
    }

    /// Reads exactly `n` bytes (or fails after the wait bound).
    pub fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        self.stream.read_exact(&mut buf).expect("raw read");
        buf
    }

    /// Sends `req` and asserts the reply is exactly `expected`.
    pub fn roundtrip(&mut self, req: &[u8], expected: &[u8]) {
        self.send(req);
        let got = self.read_exact(expected.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected),
            "reply to {:?}",
            String::from_utf8_lossy(req)
        );
    }

    /// Reads until what was read ends with `suffix`; returns all of it.
    pub fn read_until(&mut self, suffix: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while !out.ends_with(suffix) {
            out.extend(self.read_exact(1));
        }
        out
    }

    /// Reads one bulk string reply (`$<len>\r\n<data>\r\n`) and returns its data.
    pub fn read_bulk(&mut self) -> Vec<u8> {
        let mut header = Vec::new();
        while !header.ends_with(b"\r\n") {
            header.extend(self.read_exact(1));
        }
        assert_eq!(header[0], b'$', "bulk reply expected: {:?}", String::from_utf8_lossy(&header));
        let len: usize = std::str::from_utf8(&header[1..header.len() - 2]).unwrap().parse().unwrap();
        let mut data = self.read_exact(len + 2);
        data.truncate(len);
        data
    }

    /// Reads until the peer closes the connection; returns what came before.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
                Err(e) => panic!("read failed before close: {e}"),
            }
        }
        panic!("connection was not closed within {WAIT:?}");
    }
}

/// Encodes a command as a RESP multibulk request.
#[allow(unused_imports)]
pub use slotcache::protocol::request::encode as resp;

/// A `redis` connection whose reads give up after the wait bound.
pub fn connect(addr: SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).expect("client");
    let c = client.get_connection_with_timeout(WAIT).expect("connect");
    c.set_read_timeout(Some(WAIT)).unwrap();
    c
}

/// Work running in its own thread (a client that blocks), whose result is awaited with
/// a bound: a reply that never comes fails the test instead of hanging it.
pub struct Pending<T> {
    rx: mpsc::Receiver<T>,
}

/// Runs `f` in a thread; see [`Pending`].
pub fn in_background<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Pending<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    Pending { rx }
}

impl<T: std::fmt::Debug> Pending<T> {
    /// The result, within the wait bound.
    pub fn result(self) -> T {
        match self.rx.recv_timeout(WAIT) {
            Ok(v) => v,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no reply within {WAIT:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the background client panicked"),
        }
    }

    /// Asserts no result arrives during `d` (the client is still waiting).
    pub fn assert_waiting(&self, d: Duration) {
        match self.rx.recv_timeout(d) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(v) => panic!("expected the client to keep waiting, it got {v:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the background client panicked"),
        }
    }
}

/// Polls `f` until it returns true or the wait bound passes.
pub fn eventually(f: impl FnMut() -> bool) -> bool {
    eventually_within(WAIT, f)
}

/// Runs a command and returns its error text (panics if it succeeded).
pub fn err(conn: &mut redis::Connection, cmd: impl std::borrow::Borrow<redis::Cmd>) -> String {
    match cmd.borrow().query::<redis::Value>(conn) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => error_text(&e),
    }
}

/// The full error line as the server sent it ("ERR syntax error", "WRONGTYPE ...").
pub fn error_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

/// A numeric INFO field (`INFO <section>`, line `<field>:<value>`).
pub fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {info}"))
}

/// Real `slotcache` nodes in cluster mode on 127.0.0.1, each its own process with its
/// own directory (for nodes.conf); killed, paused and restarted by the tests.
pub struct ClusterNodes {
    pub nodes: Vec<Option<Proc>>,
    pub addrs: Vec<SocketAddr>,
    /// Each node's metrics (side HTTP) port and proxy port, when started with them.
    pub metrics_ports: Vec<u16>,
    pub proxy_ports: Vec<u16>,
    dirs: Vec<std::path::PathBuf>,
    extra: Vec<String>,
}

/// The cluster-node-timeout the cluster tests run with (the default).
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);

impl ClusterNodes {
    /// Starts `n` nodes: the first alone, the others with it as their seed, and waits
    /// until every node sees all 16384 slots served and `cluster_state:ok`.
    pub fn start(n: usize, extra: &[&str]) -> ClusterNodes {
        ClusterNodes::start_nodes(n, extra, false)
    }

    /// [`ClusterNodes::start`] with each node's side HTTP port (`metrics_ports`) and
    /// proxy port (`proxy_ports`) on.
    pub fn start_with_metrics(n: usize, extra: &[&str]) -> ClusterNodes {
        ClusterNodes::start_nodes(n, extra, true)
    }

    fn start_nodes(n: usize, extra: &[&str], metrics: bool) -> ClusterNodes {
        let base = std::env::temp_dir().join(format!(
            "slotcache-cluster-{}-{}",
            std::process::id(),
            NEXT_CLUSTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let mut c = ClusterNodes {
            nodes: Vec::new(),
            addrs: Vec::new(),
            metrics_ports: (0..n).map(|_| if metrics { free_port() } else { 0 }).collect(),
            proxy_ports: (0..n).map(|_| if metrics { free_port() } else { 0 }).collect(),
            dirs: (0..n).map(|i| base.join(format!("node{i}"))).collect(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..n {
            std::fs::create_dir_all(&c.dirs[i]).unwrap();
            let seed = c.addrs.first().map(|a| a.to_string());
            let p = c.spawn(i, 0, seed.as_deref());
            c.addrs.push(p.addr);
            c.nodes.push(Some(p));
        }
        c.wait_formed(n);
        c
    }

    /// Starts node `i`; when a side port picked free was taken meanwhile (tests run in
    /// parallel), picks others and tries again.
    fn spawn(&mut self, i: usize, port: u16, seed: Option<&str>) -> Proc {
        let mut last = String::new();
        for _ in 0..5 {
            match self.try_spawn(i, port, seed) {
                Ok(p) => return p,
                Err(why) if why.contains("Address already in use") => {
                    if self.metrics_ports[i] != 0 {
                        (self.metrics_ports[i], self.proxy_ports[i]) = (free_port(), free_port());
                    }
                    last = why;
                }
                Err(why) => panic!("node {i} did not start: {why}"),
            }
        }
        panic!("node {i} did not start: {last}");
    }

    fn try_spawn(&self, i: usize, port: u16, seed: Option<&str>) -> Result<Proc, String> {
        let dir = self.dirs[i].to_string_lossy().into_owned();
        let port = port.to_string();
        let metrics = self.metrics_ports[i].to_string();
        let proxy = self.proxy_ports[i].to_string();
        let mut args: Vec<&str> = vec![
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
            "--threads",
            "1",
            "--shards",
            "2",
            "--metrics-port",
            &metrics,
            "--loglevel",
            "notice",
            "--cluster-enabled",
            "yes",
            "--cluster-proxy-port",
            &proxy,
            "--dir",
            &dir,
        ];
        if let Some(s) = seed {
            args.extend(["--cluster-seeds", s]);
        }
        args.extend(self.extra.iter().map(String::as_str));
        Proc::try_start(&args)
    }

    /// Waits until the `live` nodes (the first `live` that run) all report the same
    /// CLUSTER SLOTS covering every slot, each range with its `cluster-replicas`
    /// replicas (no more: none of those that held it before a change is left), and
    /// `cluster_state:ok`.
    pub fn wait_formed(&self, live: usize) {
        let replicas = self
            .extra
            .iter()
            .position(|a| a == "--cluster-replicas")
            .and_then(|i| self.extra.get(i + 1)?.parse::<usize>().ok())
            .unwrap_or(1)
            .min(live - 1);
        let ok = eventually_within(Duration::from_secs(60), || {
            let mut maps = Vec::new();
            for p in self.nodes.iter().flatten().take(live) {
                let Ok(mut c) = try_connect(p.addr) else { return false };
                let Ok(info) = redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c) else {
                    return false;
                };
                if !info.contains("cluster_state:ok\r\n")
                    || !info.contains("cluster_slots_assigned:16384\r\n")
                {
                    return false;
                }
                let Ok(slots) = redis::cmd("CLUSTER").arg("SLOTS").query::<redis::Value>(&mut c) else {
                    return false;
                };
                let copies: Vec<Vec<redis::Value>> =
                    redis::from_redis_value(slots.clone()).unwrap_or_default();
                if copies.iter().any(|r| r.len() != 3 + replicas) {
                    return false;
                }
                maps.push(slots);
            }
            // The same map everywhere, and every live node serving a share of it.
            let serving = maps.first().map_or(0, |m| {
                let ids: std::collections::HashSet<String> =
                    slot_ranges(m.clone()).into_iter().map(|r| r.2).collect();
                ids.len()
            });
            maps.len() == live && serving == live && maps.windows(2).all(|w| w[0] == w[1])
        });
        assert!(ok, "the cluster did not form: {}", self.describe());
    }

    /// Every running node's CLUSTER NODES.
    pub fn nodes_text(&self) -> String {
        let mut out = String::new();
        for p in self.nodes.iter().flatten() {
            let text = try_connect(p.addr)
                .ok()
                .and_then(|mut c| redis::cmd("CLUSTER").arg("NODES").query::<String>(&mut c).ok());
            out.push_str(&format!("\n{}:\n{}", p.addr, text.unwrap_or_default()));
        }
        out
    }

    /// For failure messages: every running node's CLUSTER NODES, then the cluster's
    /// changes each node logged since the last call (how it came to be so).
    pub fn describe(&self) -> String {
        let mut out = self.nodes_text();
        for (i, p) in self.nodes.iter().enumerate() {
            for line in p.iter().flat_map(|p| p.drain_log()).filter(|l| l.contains("Cluster")) {
                out.push_str(&format!("\nnode {i}: {line}"));
            }
        }
        out
    }

    pub fn conn(&self, i: usize) -> redis::Connection {
        connect(self.addrs[i])
    }

    pub fn kill(&mut self, i: usize) {
        if let Some(p) = &self.nodes[i] {
            p.signal("KILL");
        }
        if let Some(mut p) = self.nodes[i].take() {
            let _ = p.child.wait();
        }
    }

    pub fn pause(&self, i: usize) {
        self.nodes[i].as_ref().expect("running").signal("STOP");
    }

    pub fn resume(&self, i: usize) {
        self.nodes[i].as_ref().expect("running").signal("CONT");
    }

    /// Stops node `i` with SHUTDOWN (it hands its ranges over first) and waits until
    /// it has exited.
    pub fn shut_down(&mut self, i: usize) {
        let p = self.nodes[i].take().expect("running");
        let mut c = p.conn();
        // No reply: the connection closes as the node stops.
        let _ = redis::cmd("SHUTDOWN").query::<redis::Value>(&mut c);
        let (code, _) = p.wait();
        assert_eq!(code, Some(0), "node {i} exited cleanly");
    }

    /// Starts node `i` again on its old port and directory.
    pub fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].is_none(), "node {i} is running");
        let p = self.spawn(i, self.addrs[i].port(), None);
        self.nodes[i] = Some(p);
    }

    /// Starts one more node with the first as its seed (it joins without waiting for
    /// the cluster to form) and returns its index.
    pub fn join(&mut self) -> usize {
        let i = self.nodes.len();
        let base = self.dirs[0].parent().expect("a base directory").to_path_buf();
        self.dirs.push(base.join(format!("node{i}")));
        self.metrics_ports.push(0);
        self.proxy_ports.push(0);
        std::fs::create_dir_all(&self.dirs[i]).unwrap();
        let p = self.spawn(i, 0, Some(&self.addrs[0].to_string()));
        self.addrs.push(p.addr);
        self.nodes.push(Some(p));
        i
    }

    /// The node (index) serving `key`'s slot, as node `asking` sees it.
    pub fn owner_of(&self, asking: usize, key: &str) -> usize {
        let mut c = self.conn(asking);
        let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut c).unwrap();
        let slots = slot_ranges(redis::cmd("CLUSTER").arg("SLOTS").query(&mut c).unwrap());
        let (_, _, _, addr) =
            slots.iter().find(|(a, b, _, _)| (*a..=*b).contains(&slot)).expect("slot served");
        self.addrs.iter().position(|a| a == addr).expect("a known node")
    }
}

impl Drop for ClusterNodes {
    fn drop(&mut self) {
        for p in self.nodes.iter().flatten() {
            p.signal("CONT");
        }
        self.nodes.clear();
        if let Some(base) = self.dirs.first().and_then(|d| d.parent()) {
            let _ = std::fs::remove_dir_all(base);
        }
    }
}

/// CLUSTER SLOTS as (start, end, primary id, primary address).
pub fn slot_ranges(reply: redis::Value) -> Vec<(u16, u16, String, SocketAddr)> {
    let ranges: Vec<redis::Value> = redis::from_redis_value(reply).unwrap();
    ranges
        .into_iter()
        .map(|r| {
            // start, end, the primary, then its replicas.
            let mut parts: Vec<redis::Value> = redis::from_redis_value(r).unwrap();
            parts.truncate(3);
            let (start, end, (ip, port, id, _)): (u16, u16, (String, u16, String, redis::Value)) =
                redis::from_redis_value(redis::Value::Array(parts)).unwrap();
            (start, end, id, format!("{ip}:{port}").parse().unwrap())
        })
        .collect()
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

static NEXT_CLUSTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A connection with bounded waits, or the error (the node may be down or paused).
pub fn try_connect(addr: SocketAddr) -> redis::RedisResult<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/"))?
        .get_connection_with_timeout(Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(c)
}

/// Polls `f` every 20 ms until it returns true or `bound` passes.
pub fn eventually_within(bound: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A client that INCRs keys wherever the cluster sends it (following -MOVED, retrying
/// errors after a pause) and calls WAIT 1 after each write on the same connection.
/// [`Incrementer::incr`] says whether the INCR succeeded.
#[derive(Default)]
pub struct Incrementer {
    pub conns: std::collections::HashMap<SocketAddr, redis::Connection>,
    pub at: std::collections::HashMap<String, SocketAddr>,
    /// Per key: the highest value a WAIT 1 acknowledged, and the highest INCR reply.
    pub acked: std::collections::HashMap<String, (i64, i64)>,
    /// When the latest INCR reply came (before its WAIT).
    pub written_at: Option<Instant>,
    /// Error replies other than `-MOVED` (not connection errors), by their first word.
    pub errors: std::collections::BTreeMap<String, usize>,
    /// INCR replies not above the value a WAIT had acknowledged: where, when (UTC, as
    /// the nodes log) and how far back, for failure messages.
    pub regressions: Vec<String>,
}

impl Incrementer {
    pub fn incr(&mut self, key: &str, first: SocketAddr) -> bool {
        let addr = *self.at.entry(key.to_string()).or_insert(first);
        if !self.conns.contains_key(&addr) {
            let Ok(c) = try_connect(addr) else {
                std::thread::sleep(Duration::from_millis(20));
                self.at.remove(key);
                return false;
            };
            self.conns.insert(addr, c);
        }
        let conn = self.conns.get_mut(&addr).expect("connected");
        match redis::cmd("INCR").arg(key).query::<i64>(conn) {
            Ok(v) => {
                self.written_at = Some(Instant::now());
                let entry = self.acked.entry(key.to_string()).or_default();
                if v <= entry.0 {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    let (s, ms) = (now.as_secs(), now.subsec_millis());
                    let at = format!("{:02}:{:02}:{:02}.{ms:03}", s / 3600 % 24, s / 60 % 60, s % 60);
                    self.regressions
                        .push(format!("{key} at {addr}, {at} UTC: {v} after {} acknowledged", entry.0));
                }
                entry.1 = entry.1.max(v);
                if redis::cmd("WAIT").arg(1).arg(2000).query::<i64>(conn).is_ok_and(|n| n >= 1) {
                    entry.0 = entry.0.max(v);
                }
                true
            }
            Err(e) => {
                let text = error_text(&e);
                match text.strip_prefix("MOVED ").and_then(|t| t.split(' ').nth(1)) {
                    Some(to) => {
                        self.at.insert(key.to_string(), to.parse().expect("an address"));
                    }
                    None => {
                        if e.is_io_error() || e.is_connection_dropped() {
                            self.conns.remove(&addr);
                            self.at.remove(key);
                        } else {
                            let word = text.split(' ').next().unwrap_or_default().to_string();
                            *self.errors.entry(word).or_default() += 1;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                false
            }
        }
    }
}

/// What an [`Incrementer`]'s counters show at the end: the INCRs it made, the counters
/// below the value a `WAIT 1` acknowledged, and the increments missing in all.
pub struct Tally {
    pub writes: i64,
    pub lost_acked: Vec<String>,
    pub lost_unacked: i64,
}

impl ClusterNodes {
    /// Fails the test when a write `WAIT 1` acknowledged is missing ([`Tally`]'s
    /// `lost_acked`), with the first replies the client saw below an acknowledged value
    /// ([`Incrementer`]'s `regressions`) and how the cluster got there.
    pub fn assert_no_acknowledged_write_lost(&self, lost_acked: &[String], regressions: &[String]) {
        assert!(
            lost_acked.is_empty(),
            "writes acknowledged by WAIT 1 were lost: {lost_acked:?}, first seen {:?}: {}",
            &regressions[..regressions.len().min(3)],
            self.describe()
        );
    }

    /// Reads each of `keys` where node 0 says it is served, against what the client
    /// saw (`Incrementer::acked`).
    pub fn tally(&self, keys: &[String], acked: &std::collections::HashMap<String, (i64, i64)>) -> Tally {
        let mut t = Tally { writes: 0, lost_acked: Vec::new(), lost_unacked: 0 };
        for k in keys {
            let (acked, last) = acked.get(k).copied().unwrap_or_default();
            let owner = self.owner_of(0, k);
            // Where node 0 says it is served, or where that node sends the read.
            let v: i64 = match redis::cmd("GET").arg(k).query::<Option<i64>>(&mut self.conn(owner)) {
                Ok(v) => v.unwrap_or(0),
                Err(e) => {
                    let to =
                        error_text(&e).strip_prefix("MOVED ").and_then(|t| t.split(' ').nth(1)?.parse().ok());
                    let to = to.unwrap_or_else(|| panic!("GET {k}: {e}"));
                    redis::cmd("GET").arg(k).query::<Option<i64>>(&mut connect(to)).unwrap().unwrap_or(0)
                }
            };
            if v < acked {
                t.lost_acked.push(format!("{k}: {v} < {acked}"));
            }
            t.lost_unacked += (last - v).max(0);
            t.writes += last;
        }
        t
    }
}
