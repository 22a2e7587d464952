//! MONITOR: every command executed, streamed to the clients that asked.
//!
//! The data path pays one relaxed atomic load per command while no one monitors. With
//! monitors, each command is formatted once and queued to each monitor without
//! waiting: a monitor that falls more than [`MAX_PENDING_BYTES`] behind is disconnected
//! (as Redis does past the output buffer limit), so a slow reader never slows anyone
//! else and never grows server memory beyond that bound.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::clients::ClientInfo;
use super::feed::FeedTx;

/// Queued, unread output allowed per monitor.
pub const MAX_PENDING_BYTES: usize = 32 * 1024 * 1024;

struct Sink {
    tx: FeedTx,
    client: Arc<ClientInfo>,
}

#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    sinks: Mutex<Vec<Sink>>,
}

impl Monitors {
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Relaxed) > 0
    }

    /// Starts streaming to a client through its connection's feed.
    pub fn subscribe(&self, tx: FeedTx, client: Arc<ClientInfo>) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        if !sinks.iter().any(|s| s.client.id == client.id) {
            sinks.push(Sink { tx, client });
        }
        self.count.store(sinks.len(), Relaxed);
    }

    /// Stops streaming to a client (RESET).
    pub fn unsubscribe(&self, client_id: u64) {
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        sinks.retain(|s| s.client.id != client_id);
        self.count.store(sinks.len(), Relaxed);
    }

    /// Queues one command line to every monitor; drops monitors that are gone or too
    /// far behind.
    pub fn feed(&self, db: usize, client: &ClientInfo, argv: &[Bytes]) {
        let line = Bytes::from(format_line(db, client, argv));
        let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        sinks.retain(|s| {
            if s.tx.pending() + line.len() > MAX_PENDING_BYTES {
                tracing::warn!("closing MONITOR client id={}: it reads too slowly", s.client.id);
                s.client.kill.cancel();
                return false;
            }
            s.tx.send(line.clone())
        });
        self.count.store(sinks.len(), Relaxed);
    }
}

/// `+1339518083.107412 [0 127.0.0.1:60866] "set" "k" "v"\r\n`, with AUTH passwords
/// (and HELLO's AUTH arguments) redacted.
/// The timestamp is one wall-clock reading with microseconds, as Redis prints it (the
/// batch's cached millisecond clock would not do).
fn format_line(db: usize, client: &ClientInfo, argv: &[Bytes]) -> Vec<u8> {
    let addr = if client.unix { format!("unix:{}", client.laddr) } else { client.addr.clone() };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut out = format!("+{}.{:06} [{} {}]", now.as_secs(), now.subsec_micros(), db, addr).into_bytes();
    let redact_from = if argv[0].eq_ignore_ascii_case(b"AUTH") {
        1
    } else if argv[0].eq_ignore_ascii_case(b"HELLO") {
        argv.iter().position(|a| a.eq_ignore_ascii_case(b"AUTH")).map_or(argv.len(), |i| i + 1)
    } else {
        argv.len()
    };
    for (i, arg) in argv.iter().enumerate() {
        out.push(b' ');
        if i >= redact_from {
            out.extend_from_slice(b"\"(redacted)\"");
        } else {
            quote_into(&mut out, arg);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Redis's `sdscatrepr`: a double-quoted string with C escapes.
fn quote_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_matches_sdscatrepr() {
        let mut out = Vec::new();
        quote_into(&mut out, b"a \"b\"\n\x01\\");
        assert_eq!(out, b"\"a \\\"b\\\"\\n\\x01\\\\\"");
    }
}
