//! Listening sockets and the acceptor thread: accept, apply socket options, enforce
//! `maxclients`, register the client and hand the connection to an I/O thread. The
//! acceptor thread also runs the cron and (for the binary) the signal handlers.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::sync::mpsc::UnboundedSender;

use super::clients::{ClientInfo, Peer};
use super::{Server, StartOptions};
use crate::config::Config;
use crate::error::MAX_CLIENTS;

/// A connection on its way to an I/O thread. The queue holding these is bounded by
/// `maxclients`: a client is registered (or refused) before it is queued.
pub enum Incoming {
    Tcp(std::net::TcpStream, Arc<ClientInfo>),
    Unix(std::os::unix::net::UnixStream, Arc<ClientInfo>),
}

/// Binds every `bind` address on `port`. An address written `-addr` is optional: when
/// it cannot be bound (no IPv6, say) it is skipped with a warning.
pub fn bind_tcp(cfg: &Config) -> io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::new();
    if cfg.port == 0 && cfg.bind.is_empty() {
        return Ok(out);
    }
    for raw in &cfg.bind {
        let (optional, host) = match raw.strip_prefix('-') {
            Some(h) => (true, h),
            None => (false, raw.as_str()),
        };
        let ip: IpAddr = match host {
            "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            "::*" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            h => h.parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("invalid bind address '{h}'"))
            })?,
        };
        let addr = SocketAddr::new(ip, cfg.port);
        match listen(addr, cfg.tcp_backlog) {
            Ok(l) => out.push(l),
            Err(e) if optional => {
                tracing::warn!("skipping optional bind address {addr}: {e}");
            }
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("Could not create server TCP listening socket {addr}: {e}"),
                ));
            }
        }
    }
    Ok(out)
}

/// Binds the metrics port (`metrics-port 0` disables it).
pub fn bind_metrics(cfg: &Config) -> io::Result<Option<std::net::TcpListener>> {
    if cfg.metrics_port == 0 {
        return Ok(None);
    }
    let ip: IpAddr = cfg.metrics_bind.parse().map_err(|_| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("invalid metrics-bind '{}'", cfg.metrics_bind))
    })?;
    let addr = SocketAddr::new(ip, cfg.metrics_port);
    match listen(addr, cfg.tcp_backlog) {
        Ok(l) => Ok(Some(l)),
        // The side port is optional infrastructure: only a port the user chose is fatal.
        Err(e) if e.kind() == io::ErrorKind::AddrInUse && !cfg.metrics_port_explicit => {
            tracing::warn!(
                "Metrics port {addr} is in use (by another exporter?): serving without /metrics; set metrics-port to choose another"
            );
            Ok(None)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("Could not create metrics listening socket {addr} (metrics-port): {e}"),
        )),
    }
}

fn listen(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog.min(i32::MAX as u32) as i32)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

pub fn bind_unix(cfg: &Config) -> io::Result<Option<std::os::unix::net::UnixListener>> {
    if cfg.unixsocket.is_empty() {
        return Ok(None);
    }
    let path = std::path::Path::new(&cfg.unixsocket);
    let _ = std::fs::remove_file(path);
    let l = std::os::unix::net::UnixListener::bind(path).map_err(|e| {
        io::Error::new(e.kind(), format!("Failed opening Unix socket {}: {e}", cfg.unixsocket))
    })?;
    if cfg.unixsocketperm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.unixsocketperm))?;
    }
    l.set_nonblocking(true)?;
    Ok(Some(l))
}

pub struct Acceptor {
    server: Arc<Server>,
    senders: Vec<UnboundedSender<Incoming>>,
    next: AtomicUsize,
    tcp: Vec<std::net::TcpListener>,
    unix: Option<std::os::unix::net::UnixListener>,
    metrics: Option<std::net::TcpListener>,
    opts: StartOptions,
}

impl Acceptor {
    pub fn new(
        server: Arc<Server>,
        senders: Vec<UnboundedSender<Incoming>>,
        tcp: Vec<std::net::TcpListener>,
        unix: Option<std::os::unix::net::UnixListener>,
        metrics: Option<std::net::TcpListener>,
        opts: StartOptions,
    ) -> Acceptor {
        Acceptor { server, senders, next: AtomicUsize::new(0), tcp, unix, metrics, opts }
    }

    pub fn run(self) {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!("cannot start the acceptor runtime: {e}");
                self.server.shutdown.cancel();
                return;
            }
        };
        let unix_path =
            self.unix.as_ref().and_then(|l| l.local_addr().ok()?.as_pathname().map(|p| p.to_path_buf()));
        rt.block_on(self.serve());
        if let Some(p) = unix_path {
            let _ = std::fs::remove_file(p);
        }
    }

    async fn serve(mut self) {
        let mut rebind = self.server.rebind_channel();
        let first = std::mem::take(&mut self.tcp);
        let this = Arc::new(self);
        let shutdown = this.server.shutdown.clone();
        let mut tasks = tokio::task::JoinSet::new();
        // The TCP listeners in use: replaced whole by CONFIG SET port / bind.
        let mut generation = shutdown.child_token();
        this.watch_tcp(first, &generation, &mut tasks);
        if let Some(l) = &this.unix {
            match l.try_clone().and_then(tokio::net::UnixListener::from_std) {
                Ok(l) => {
                    tasks.spawn(this.clone().accept_unix(l));
                }
                Err(e) => tracing::error!("cannot watch the unix socket: {e}"),
            }
        }
        if let Some(l) = &this.metrics {
            match l.try_clone().and_then(tokio::net::TcpListener::from_std) {
                Ok(l) => {
                    tasks.spawn(crate::metrics::http::serve(this.server.clone(), l));
                }
                Err(e) => tracing::error!("cannot watch the metrics socket: {e}"),
            }
        }
        tasks.spawn(this.clone().cron());
        if this.opts.handle_signals {
            tasks.spawn(signals(this.server.clone()));
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(listeners) = rebind.recv() => {
                    generation.cancel();
                    generation = shutdown.child_token();
                    this.watch_tcp(listeners, &generation, &mut tasks);
                }
            }
        }
        tasks.shutdown().await;
    }

    /// Accepts on `listeners` until `until` is cancelled (then they close).
    fn watch_tcp(
        self: &Arc<Self>,
        listeners: Vec<std::net::TcpListener>,
        until: &tokio_util::sync::CancellationToken,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        for l in listeners {
            match tokio::net::TcpListener::from_std(l) {
                Ok(l) => {
                    tasks.spawn(self.clone().accept_tcp(l, until.clone()));
                }
                Err(e) => tracing::error!("cannot watch a listening socket: {e}"),
            }
        }
    }

    async fn cron(self: Arc<Self>) {
        loop {
            let hz = self.server.config().hz.max(1);
            let tick = Duration::from_millis(1000 / hz as u64);
            tokio::select! {
                _ = self.server.shutdown.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
            }
            let server = self.server.clone();
            // Expiry takes shard locks: keep it off the accepting thread's reactor.
            let _ = tokio::task::spawn_blocking(move || {
                server.cron(tick);
                server.save_points();
            })
            .await;
        }
    }

    fn pick(&self) -> &UnboundedSender<Incoming> {
        let i = self.next.fetch_add(1, Relaxed) % self.senders.len();
        &self.senders[i]
    }

    fn register(&self, peer: Peer) -> Option<Arc<ClientInfo>> {
        let s = &self.server;
        s.stats.connections_received.fetch_add(1, Relaxed);
        let max = s.limits.maxclients.load(Relaxed);
        // Cluster peers' links (two from each member, and a joiner's) get in even when
        // clients fill `maxclients`, so that a busy node is never suspected for it.
        let spare = match &s.cluster {
            Some(cluster) if !peer.unix => 2 * cluster.state().members.len() + 2,
            _ => 0,
        };
        let info = s.clients.register(peer, max, spare, &s.shutdown, crate::storage::now_ms());
        if info.is_none() {
            s.stats.rejected_connections.fetch_add(1, Relaxed);
            tracing::warn!("rejected a connection: max number of clients ({max}) reached");
        }
        info
    }

    async fn accept_tcp(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        until: tokio_util::sync::CancellationToken,
    ) {
        loop {
            let accepted = tokio::select! {
                _ = until.cancelled() => return,
                r = listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let keepalive = self.server.limits.tcp_keepalive_s.load(Relaxed);
            if keepalive > 0 {
                let ka = TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
                let _ = SockRef::from(&stream).set_tcp_keepalive(&ka);
            }
            let laddr = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let fd = stream.as_raw_fd();
            match self.register(Peer { addr: peer.to_string(), laddr, fd, unix: false }) {
                Some(info) => {
                    if let Ok(std) = stream.into_std() {
                        let _ = self.pick().send(Incoming::Tcp(std, info));
                    }
                }
                None => {
                    let _ = stream.try_write(format!("-{MAX_CLIENTS}\r\n").as_bytes());
                }
            }
        }
    }

    async fn accept_unix(self: Arc<Self>, listener: tokio::net::UnixListener) {
        loop {
            let accepted = tokio::select! {
                _ = self.server.shutdown.cancelled() => return,
                r = listener.accept() => r,
            };
            let (stream, _) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed on the unix socket: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let path = self.server.config().unixsocket.clone();
            let fd = stream.as_raw_fd();
            match self.register(Peer { addr: format!("{path}:0"), laddr: path, fd, unix: true }) {
                Some(info) => {
                    if let Ok(std) = stream.into_std() {
                        let _ = self.pick().send(Incoming::Unix(std, info));
                    }
                }
                None => {
                    let _ = stream.try_write(format!("-{MAX_CLIENTS}\r\n").as_bytes());
                }
            }
        }
    }
}

async fn signals(server: Arc<Server>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
            _ = server.shutdown.cancelled() => return,
        };
        tracing::info!("Received {name} scheduling shutdown...");
        let saving = server.clone();
        let saved = tokio::task::spawn_blocking(move || saving.save_before_shutdown(false, false)).await;
        match saved {
            Ok(Err(e)) => {
                tracing::warn!("{e}");
                tracing::warn!("{name} received but errors trying to shut down the server, check the logs");
            }
            _ if server.cluster.is_some() => {
                crate::cluster::handover::hand_over_then_stop(server);
                return;
            }
            _ => {
                server.shutdown.cancel();
                return;
            }
        }
    }
}
