//! Hostile input over TCP against the real binary: bytes that once made one connection
//! spin and grow the server by hundreds of megabytes a second, random bytes, and the
//! tighter limits before AUTH. Memory is read from /proc as the server's resident set.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Proc, Raw, WAIT};
use redis::cmd;

const FLAGS: &[&str] = &["--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--threads", "2"];

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// xorshift64*: deterministic random bytes, so a failure replays.
struct Rng(u64);

impl Rng {
    fn byte(&mut self) -> u8 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
    }
}

/// Each hostile pattern on its own connection, plus connections of random bytes: for two
/// seconds the server's RSS stays within a bound of what it was, another client keeps
/// getting PONG, and stored data is untouched.
#[test]
fn hostile_bytes_keep_memory_bounded_and_others_served() {
    let p = Proc::start(FLAGS);
    let pid = p.child.id();
    let mut good = p.conn();
    good.set_read_timeout(Some(WAIT)).unwrap();
    let _: () = cmd("SET").arg("survivor").arg("yes").query(&mut good).unwrap();
    let base = rss_bytes(pid);

    let mut nul_lines = vec![0u8];
    for _ in 0..64 {
        nul_lines.extend(vec![b'a'; 1024]);
        nul_lines.extend(b"\r\n");
    }
    let patterns: Vec<Vec<u8>> = vec![
        b"\x00abc\r\n".to_vec(),
        b"$\x00".to_vec(),
        b"$\x00\r\n".to_vec(),
        b"*1\r\n$\x00".to_vec(),
        b"*1\r\n$\x00\r\n".to_vec(),
        b"SET a\x00 b\r\n".to_vec(),
        b"\"\x00\"\r\n".to_vec(),
        nul_lines,
    ];
    let mut open = Vec::new();
    let mut sent = 0usize;
    for pattern in &patterns {
        let mut r = Raw::connect(p.addr);
        r.send(pattern);
        sent += pattern.len();
        open.push(r);
    }
    let mut rng = Rng(0x00ba_d5eed);
    for _ in 0..32 {
        let mut r = Raw::connect(p.addr);
        let junk: Vec<u8> = (0..64 * 1024).map(|_| rng.byte()).collect();
        // The server may close the connection part way (a protocol error): fine.
        let _ = r.stream.write_all(&junk);
        sent += junk.len();
        open.push(r);
    }

    let mut peak = 0;
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        let pong: String = cmd("PING").query(&mut good).expect("another client is still served");
        assert_eq!(pong, "PONG");
        peak = peak.max(rss_bytes(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Each connection's buffers and the bytes sent, a few times over, plus allocator slack.
    let bound = 8 * sent as u64 + 32 * 1024 * 1024;
    assert!(
        peak.saturating_sub(base) < bound,
        "RSS grew by {} bytes for {sent} bytes of input (bound {bound})",
        peak.saturating_sub(base)
    );
    let v: String = cmd("GET").arg("survivor").query(&mut good).unwrap();
    assert_eq!(v, "yes");
    // The NUL-led line is an empty command: that connection still works.
    let mut r = Raw::connect(p.addr);
    r.roundtrip(b"\x00abc\r\nPING\r\n", b"+PONG\r\n");
}

/// Before AUTH (with a password set) a multibulk count over 10 or a bulk over 16384
/// bytes is a protocol error, as in Redis; after AUTH the usual limits apply.
#[test]
fn unauthenticated_clients_get_tighter_limits() {
    let p = Proc::start(&[FLAGS, &["--requirepass", "secret"]].concat());
    let mut r = Raw::connect(p.addr);
    r.send(b"*11\r\n");
    assert_eq!(r.read_to_close(), b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    let mut r = Raw::connect(p.addr);
    r.send(b"*2\r\n$4\r\nAUTH\r\n$16385\r\n");
    assert_eq!(r.read_to_close(), b"-ERR Protocol error: unauthenticated bulk length\r\n");
    let mut r = Raw::connect(p.addr);
    r.roundtrip(b"*1\r\n$4\r\nPING\r\n", b"-NOAUTH Authentication required.\r\n");
    r.roundtrip(b"AUTH secret\r\n", b"+OK\r\n");
    let value = vec![b'v'; 20000];
    let mut set = b"*13\r\n$4\r\nMSET\r\n".to_vec();
    for i in 0..5 {
        set.extend(format!("$2\r\nk{i}\r\n${}\r\n", value.len()).as_bytes());
        set.extend(&value);
        set.extend(b"\r\n");
    }
    set.extend(b"$2\r\nk5\r\n$1\r\nx\r\n");
    r.send(&set);
    assert_eq!(r.read_exact(5), b"+OK\r\n", "after AUTH, 13 arguments and 20000-byte bulks are fine");

    // Pipelined: the AUTH and the large request in one write. Requests are parsed ahead
    // of the one running only once authenticated, so each gets the limits of its turn:
    // after AUTH the large one runs; after RESET it is a protocol error again.
    let mut r = Raw::connect(p.addr);
    r.send(&[b"AUTH secret\r\n".as_slice(), &set].concat());
    assert_eq!(r.read_exact(10), b"+OK\r\n+OK\r\n");
    r.send(&[b"RESET\r\n".as_slice(), &set].concat());
    assert_eq!(
        r.read_to_close(),
        b"+RESET\r\n-ERR Protocol error: unauthenticated multibulk length\r\n",
        "RESET ends the look-ahead: what follows is parsed as unauthenticated"
    );
}
