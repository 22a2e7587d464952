//! Look-ahead over a pipelined batch: the requests after the one running are parsed
//! early (up to [`LOOKAHEAD`]) and their keys' lookups prefetched together
//! ([`crate::storage::Keyspace::prefetch`]), so that a batch of GETs or SETs over a
//! keyspace far larger than the CPU caches waits for memory once per batch step rather
//! than once per lookup step of every command.
//!
//! Order and limits are unchanged: requests still run one by one in arrival order, and a
//! protocol error found ahead is returned only after the requests before it ran. Parsing
//! looks ahead only for an authenticated connection and stops after a RESET, so the
//! tighter pre-AUTH limits apply to exactly the requests they applied to before.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::Server;
use super::session::Session;
use crate::cluster::slot::key_slot;
use crate::command::{Route, table};
use crate::protocol::{DecodeError, Limits, RequestParser, args};

/// Requests parsed ahead of the one running.
pub const LOOKAHEAD: usize = 16;

/// Most keys prefetched at once: lines fetched much earlier than they are read would be
/// evicted again before use, and the shard lock is held while they are issued.
const PREFETCH_KEYS: usize = 64;

#[derive(Default)]
pub struct Ahead {
    /// Parsed requests, with their routes once prefetched.
    queue: VecDeque<(Vec<Bytes>, Option<Route>)>,
    /// A protocol error found after the queued requests.
    error: Option<DecodeError>,
}

impl Ahead {
    /// The next request to run, with its route when one was found: the oldest parsed
    /// one, else the next ones of `rbuf` (whose keys are then prefetched). `None` when
    /// no complete request is left.
    #[allow(clippy::type_complexity)]
    pub fn next(
        &mut self,
        server: &Server,
        session: &Session,
        parser: &mut RequestParser,
        rbuf: &mut BytesMut,
        max_bulk_len: usize,
    ) -> Result<Option<(Vec<Bytes>, Option<Route>)>, DecodeError> {
        if let Some(request) = self.queue.pop_front() {
            return Ok(Some(request));
        }
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        while self.queue.len() < LOOKAHEAD {
            let limits = Limits { max_bulk_len, authenticated: session.authenticated };
            match parser.next(rbuf, limits) {
                Ok(Some(argv)) => {
                    let last = !session.authenticated || args::is(&argv[0], "RESET");
                    self.queue.push_back((argv, None));
                    if last {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) if self.queue.is_empty() => return Err(e),
                Err(e) => {
                    self.error = Some(e);
                    break;
                }
            }
        }
        prefetch(server, session.db, &mut self.queue);
        Ok(self.queue.pop_front())
    }

    /// Drops what was parsed ahead (the connection's input is being discarded).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.error = None;
    }
}

/// Routes the queued requests and prefetches their keys (all of a multi-key request's,
/// up to [`PREFETCH_KEYS`] in all) when there are several: one key alone has nothing
/// to overlap with.
fn prefetch(server: &Server, db: usize, queue: &mut VecDeque<(Vec<Bytes>, Option<Route>)>) {
    for (argv, route) in queue.iter_mut() {
        *route = Route::of(argv);
    }
    let t = table();
    let keys: Vec<(u16, &[u8])> = queue
        .iter()
        .filter_map(|(argv, route)| Some((argv, (*route)?)))
        .flat_map(|(argv, route)| {
            t.specs[route.idx].key_indices(argv).enumerate().map(move |(n, i)| {
                let slot = if n == 0 { route.slot } else { key_slot(&argv[i]) };
                (slot, &argv[i][..])
            })
        })
        .take(PREFETCH_KEYS)
        .collect();
    if keys.len() > 1 {
        server.keyspace.prefetch(db, &keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::protocol::request::encode;

    fn parse_all(server: &Server, session: &Session, input: &[u8]) -> (Vec<Vec<Bytes>>, Option<DecodeError>) {
        let mut ahead = Ahead::default();
        let mut parser = RequestParser::new();
        let mut rbuf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match ahead.next(server, session, &mut parser, &mut rbuf, 512 << 20) {
                Ok(Some((argv, _))) => out.push(argv),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// Requests come out in order, all of them, with a protocol error only after the
    /// requests before it; an unauthenticated connection is not parsed ahead.
    #[test]
    fn order_errors_and_limits_are_kept() {
        let server = Server::new(Config::load(None, &[]).unwrap());
        let info = server.clients.register(
            super::super::clients::Peer { addr: "t:1".into(), laddr: "t".into(), fd: -1, unix: false },
            10,
            0,
            &server.shutdown,
            0,
        );
        let session = Session::new(info.unwrap(), false);
        let mut input = Vec::new();
        for i in 0..40 {
            input.extend(encode(&[b"GET", format!("k{i}").as_bytes()]));
        }
        input.extend(b"*1\r\n$x\r\n");
        let (got, err) = parse_all(&server, &session, &input);
        assert_eq!(got.len(), 40);
        assert!(got.iter().enumerate().all(|(i, a)| a[1] == format!("k{i}").as_bytes()));
        assert!(err.is_some());

        // Before AUTH a request of more than 10 arguments is a protocol error; the AUTH
        // before it must not be parsed ahead of it with other limits.
        let session = Session::new(session.info.clone(), true);
        let mut input = encode(&[b"AUTH", b"pw"]);
        input.extend(encode(&[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3", b"d", b"4", b"e", b"5"]));
        let mut ahead = Ahead::default();
        let mut parser = RequestParser::new();
        let mut rbuf = BytesMut::from(&input[..]);
        let (first, _) = ahead.next(&server, &session, &mut parser, &mut rbuf, 512 << 20).unwrap().unwrap();
        assert_eq!(first[0], "AUTH");
        assert!(ahead.queue.is_empty(), "nothing parsed ahead before AUTH");
    }
}
