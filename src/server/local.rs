//! A client without a socket: bytes in, replies out, through the same parser, dispatch
//! and storage as a TCP connection. Used by the end-to-end benchmark and by in-process
//! command tests.

use std::sync::Arc;

use bytes::BytesMut;

use super::Server;
use super::ahead::Ahead;
use super::clients::{ClientInfo, Peer};
use super::connection::execute;
use super::session::Session;
use super::stats::ThreadStats;
use crate::protocol::{DecodeError, Reply, RequestParser};

pub struct LocalClient {
    server: Arc<Server>,
    stats: Arc<ThreadStats>,
    session: Session,
    info: Arc<ClientInfo>,
    parser: RequestParser,
    ahead: Ahead,
    input: BytesMut,
    pub out: Reply,
}

impl LocalClient {
    /// A new client of `server`, registered like a connection (it counts towards
    /// `maxclients`; None when the server is full).
    pub fn new(server: Arc<Server>) -> Option<LocalClient> {
        let peer = Peer { addr: "local:0".into(), laddr: "local".into(), fd: -1, unix: false };
        let max = server.limits.maxclients.load(std::sync::atomic::Ordering::Relaxed);
        let info = server.clients.register(peer, max, 0, &server.shutdown, crate::storage::now_ms())?;
        let stats = Arc::new(ThreadStats::new(crate::command::table().specs.len()));
        server.stats.register(stats.clone());
        let needs_auth = !server.config().requirepass.is_empty();
        Some(LocalClient {
            session: Session::new(info.clone(), needs_auth),
            server,
            stats,
            info,
            parser: RequestParser::new(),
            ahead: Ahead::default(),
            input: BytesMut::new(),
            out: Reply::new(false),
        })
    }

    /// Feeds raw request bytes; every complete request runs and its reply is appended
    /// to `out`. On a protocol error the unparsed input is dropped (where a socket
    /// would be closed), so the client stays usable.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), DecodeError> {
        self.input.extend_from_slice(bytes);
        self.session.mark = std::time::Instant::now();
        let now = crate::storage::clock::unix_ms_at(self.session.mark);
        let max_bulk = self.server.limits.proto_max_bulk_len.load(std::sync::atomic::Ordering::Relaxed);
        loop {
            match self.ahead.next(
                &self.server,
                &self.session,
                &mut self.parser,
                &mut self.input,
                max_bulk as usize,
            ) {
                Ok(Some((argv, route))) => {
                    execute(&self.server, &self.stats, &mut self.session, &mut self.out, &argv, route, now);
                    // A large value saved a part at a time first (no other client here
                    // to let run meanwhile).
                    while std::mem::take(&mut self.session.save_ahead) {
                        execute(
                            &self.server,
                            &self.stats,
                            &mut self.session,
                            &mut self.out,
                            &argv,
                            None,
                            now,
                        );
                    }
                }
                Ok(None) => {
                    self.server.replication.flush();
                    return Ok(());
                }
                Err(e) => {
                    self.input.clear();
                    self.ahead.clear();
                    self.parser = RequestParser::new();
                    return Err(e);
                }
            }
        }
    }

    /// Makes this client the link from this replica's primary: authenticated, and its
    /// writes apply though the server is read only ([`super::replica`]). In cluster
    /// mode `scope` names the primary and its link's slots: only commands its
    /// [`LinkScope::applies`] allows apply.
    ///
    /// [`LinkScope::applies`]: crate::cluster::replication::LinkScope::applies
    pub fn become_master_link(
        &mut self,
        scope: Option<std::sync::Arc<crate::cluster::replication::LinkScope>>,
    ) {
        self.session.master = true;
        if scope.is_some() {
            // A cluster node's link to another: not a client (as peer links are not).
            self.server.clients.make_internal(self.info.id);
        }
        self.session.master_scope = scope;
        self.session.authenticated = true;
        self.info.role.store(super::clients::ROLE_MASTER, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the stream asked for an acknowledgement (REPLCONF GETACK) since the last
    /// call.
    pub fn take_getack(&mut self) -> bool {
        std::mem::take(&mut self.session.getack)
    }

    /// Error replies this client got so far.
    pub fn errors(&self) -> u64 {
        self.stats.errors.iter().map(|c| c.get()).sum()
    }

    /// Input bytes fed but not yet a complete request.
    pub fn pending_input(&self) -> usize {
        self.input.len()
    }

    /// Runs one command given as arguments and returns its raw reply.
    pub fn run(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.out.buf.clear();
        if let Err(e) = self.feed(&crate::protocol::request::encode(args)) {
            // Only a limit can fail here (an argument over proto-max-bulk-len).
            self.out.error(&e.reply_text());
        }
        std::mem::take(&mut self.out.buf)
    }
}

impl Drop for LocalClient {
    fn drop(&mut self) {
        self.server.clients.unregister(self.info.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// A client of a server whose files (SAVE's snapshot) go to a directory of its own.
    fn client() -> LocalClient {
        let dir = std::env::temp_dir().join(format!("slotcache-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flags = ["--shards".into(), "3".into(), "--dir".into(), dir.to_string_lossy().into_owned()];
        let server = Arc::new(Server::new(Config::load(None, &flags).unwrap()));
        LocalClient::new(server).unwrap()
    }

    #[test]
    fn commands_run_without_a_socket() {
        let mut c = client();
        assert_eq!(c.run(&[b"SET", b"k", b"v"]), b"+OK\r\n");
        assert_eq!(c.run(&[b"GET", b"k"]), b"$1\r\nv\r\n");
        assert_eq!(c.run(&[b"INCR", b"k"]), b"-ERR value is not an integer or out of range\r\n");
        assert_eq!(c.run(&[b"get"]), b"-ERR wrong number of arguments for 'get' command\r\n");
        assert_eq!(c.run(&[b"DBSIZE"]), b":1\r\n");
    }

    #[test]
    fn oversized_argument_is_an_error_reply_and_the_client_recovers() {
        let mut c = client();
        let big = vec![b'x'; 2 * 1024 * 1024];
        c.server.limits.proto_max_bulk_len.store(1024 * 1024, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(c.run(&[b"SET", b"k", &big]), b"-ERR Protocol error: invalid bulk length\r\n");
        assert_eq!(c.run(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    }

    #[test]
    fn pipelined_bytes_reply_in_order() {
        let mut c = client();
        c.feed(b"SET a 1\r\nINCR a\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n").unwrap();
        assert_eq!(c.out.buf, b"+OK\r\n:2\r\n$1\r\n2\r\n");
    }

    /// The audit for replies that never come: every command and subcommand, with
    /// argument lists of every length from its arity to three past it (words that are
    /// numbers, keys, options), answers exactly one complete RESP reply. Blocking
    /// commands, which wait by design, are covered over TCP; commands that end the
    /// process or the connection are left out.
    #[test]
    fn every_command_answers_exactly_one_reply() {
        let skip = ["shutdown", "quit", "monitor", "debug", "client|reply", "client|pause", "failover"];
        let words: [&[u8]; 4] = [b"1", b"k", b"0", b"NX"];
        let mut c = client();
        let mut checked = 0;
        for spec in &crate::command::table().specs {
            if skip.contains(&spec.name) || spec.has(crate::command::table::BLOCKING) {
                continue;
            }
            let name: Vec<&[u8]> = spec.name.split('|').map(str::as_bytes).collect();
            let min = spec.arity.unsigned_abs() as usize;
            let max = if spec.arity < 0 { min + 3 } else { min };
            for len in min.max(name.len())..=max {
                for (w, _) in words.iter().enumerate() {
                    let mut argv = name.clone();
                    argv.extend((argv.len()..len).map(|i| words[(i + w) % words.len()]));
                    let reply = c.run(&argv);
                    let shown = String::from_utf8_lossy(&argv.concat()).into_owned();
                    let Ok(Some((_, used))) = redis_protocol::resp2::decode::decode(&reply) else {
                        panic!("{shown:?}: no complete reply in {:?}", String::from_utf8_lossy(&reply));
                    };
                    // SUBSCRIBE-like commands answer once per channel, all pushes.
                    if !spec.has(crate::command::table::PUBSUB) {
                        assert_eq!(used, reply.len(), "{shown:?}: more than one reply");
                    }
                    checked += 1;
                }
            }
            c.run(&[b"RESET"]);
            c.run(&[b"FLUSHALL"]);
        }
        assert!(checked > 1000, "{checked}");
    }
}
