//! The wire, byte for byte: inline commands, pipelines, frames split at every byte,
//! RESP3, protocol errors that close only their connection, limits, concurrency.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{Raw, TestServer, WAIT, eventually, resp};
use redis::cmd;

#[test]
fn inline_commands() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.roundtrip(b"PING\r\n", b"+PONG\r\n");
    r.roundtrip(b"ping\n", b"+PONG\r\n");
    r.roundtrip(b"SET \"a key\" 'va lue'\r\n", b"+OK\r\n");
    r.roundtrip(b"GET \"a key\"\r\n", b"$6\r\nva lue\r\n");
    r.roundtrip(b"ECHO \"\\x41\\tB\"\r\n", b"$3\r\nA\tB\r\n");
    r.roundtrip(b"\r\n\r\nPING\r\n", b"+PONG\r\n");
    r.roundtrip(b"NOSUCH a b\r\n", b"-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n");
    r.roundtrip(b"GET\r\n", b"-ERR wrong number of arguments for 'get' command\r\n");
}

#[test]
fn byte_exact_replies() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.roundtrip(&resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    r.roundtrip(&resp(&[b"GET", b"nokey"]), b"$-1\r\n");
    r.roundtrip(&resp(&[b"INCR", b"n"]), b":1\r\n");
    r.roundtrip(&resp(&[b"MGET", b"k", b"nokey"]), b"*2\r\n$1\r\nv\r\n$-1\r\n");
    r.roundtrip(&resp(&[b"INCR", b"k"]), b"-ERR value is not an integer or out of range\r\n");
    r.roundtrip(
        &resp(&[b"foo", b"a", b"b"]),
        b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n",
    );
    r.roundtrip(&resp(&[b"PING", b"hi"]), b"$2\r\nhi\r\n");
    r.roundtrip(&resp(&[b"CLIENT", b"NOSUCH"]), b"-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n");
    r.roundtrip(&resp(&[b"CONFIG", b"GET"]), b"-ERR wrong number of arguments for 'config|get' command\r\n");
    r.roundtrip(&resp(&[b"CONFIG"]), b"-ERR wrong number of arguments for 'config' command\r\n");
}

#[test]
fn resp3_after_hello() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.send(&resp(&[b"HELLO", b"3"]));
    let hello = String::from_utf8(r.read_until(b"$7\r\nmodules\r\n*0\r\n")).unwrap();
    assert!(hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"), "{hello}");
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello}");
    assert!(hello.ends_with("$7\r\nmodules\r\n*0\r\n"), "{hello}");
    r.roundtrip(&resp(&[b"GET", b"nokey"]), b"_\r\n");
    r.roundtrip(&resp(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"CONFIG", b"GET", b"port"]), b"%1\r\n$4\r\nport\r\n$1\r\n0\r\n");
    r.send(&resp(&[b"INFO", b"keyspace"]));
    let text = "# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n";
    let expected = format!("={}\r\ntxt:{text}\r\n", text.len() + 4);
    let got = r.read_exact(expected.len());
    assert_eq!(String::from_utf8_lossy(&got), expected);
    r.roundtrip(&resp(&[b"HELLO", b"4"]), b"-NOPROTO unsupported protocol version\r\n");
    r.roundtrip(&resp(&[b"HELLO", b"x"]), b"-ERR Protocol version is not an integer or out of range\r\n");
    // Back to RESP2.
    r.send(&resp(&[b"HELLO", b"2"]));
    let hello2 = r.read_until(b"$7\r\nmodules\r\n*0\r\n");
    assert!(hello2.starts_with(b"*14\r\n$6\r\nserver\r\n"));
    r.roundtrip(&resp(&[b"GET", b"nokey"]), b"$-1\r\n");
}

#[test]
fn resp3_with_the_redis_crate() {
    let s = TestServer::start();
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", s.addr)).unwrap();
    let mut c = client.get_connection_with_timeout(WAIT).unwrap();
    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let v: redis::Value = cmd("GET").arg("missing").query(&mut c).unwrap();
    assert_eq!(v, redis::Value::Nil);
    let v: redis::Value = cmd("CONFIG").arg("GET").arg("databases").query(&mut c).unwrap();
    assert!(matches!(v, redis::Value::Map(ref m) if m.len() == 1), "{v:?}");
}

#[test]
fn frames_split_at_every_byte() {
    let s = TestServer::start();
    let mut r = s.raw();
    let req = [
        resp(&[b"SET", b"split", b"hello world"]),
        resp(&[b"GET", b"split"]),
        b"PING\r\n".to_vec(),
        resp(&[b"APPEND", b"split", b"!"]),
    ]
    .concat();
    for &b in &req {
        r.send(&[b]);
    }
    let expected = b"+OK\r\n$11\r\nhello world\r\n+PONG\r\n:12\r\n";
    assert_eq!(r.read_exact(expected.len()), expected);
}

#[test]
fn ten_thousand_command_pipeline_in_order() {
    let s = TestServer::start();
    let mut r = s.raw();
    let mut req = Vec::new();
    let mut expected = Vec::new();
    for i in 0..10_000 {
        if i % 2 == 0 {
            req.extend(resp(&[b"SET", format!("p:{i}").as_bytes(), i.to_string().as_bytes()]));
            expected.extend_from_slice(b"+OK\r\n");
        } else {
            req.extend(resp(&[b"GET", format!("p:{}", i - 1).as_bytes()]));
            let v = (i - 1).to_string();
            expected.extend(format!("${}\r\n{}\r\n", v.len(), v).into_bytes());
        }
    }
    let mut w = r.stream.try_clone().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&req).unwrap());
    let got = r.read_exact(expected.len());
    writer.join().unwrap();
    assert_eq!(got, expected);
}

#[test]
fn concurrent_incr_is_exact() {
    let s = TestServer::start();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let mut c = s.conn();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    let _: i64 = cmd("INCR").arg("counter").query(&mut c).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = s.conn();
    let v: i64 = cmd("GET").arg("counter").query(&mut c).unwrap();
    assert_eq!(v, 80_000);
}

/// Each malformed request: the exact error, then the connection closes; another
/// client and the stored data are unaffected.
#[test]
fn protocol_errors_close_only_the_offender() {
    let s = TestServer::start();
    let mut good = s.conn();
    let _: () = cmd("SET").arg("survivor").arg("yes").query(&mut good).unwrap();
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$536870913\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*3000000000\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"SET \"unterminated\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
    ];
    for (input, expected) in cases {
        let mut r = s.raw();
        r.send(input);
        let got = r.read_to_close();
        assert_eq!(String::from_utf8_lossy(&got), *expected);
    }
    // Oversized inline request and count lines.
    let mut r = s.raw();
    r.send(&vec![b'a'; 70 * 1024]);
    assert_eq!(r.read_to_close(), b"-ERR Protocol error: too big inline request\r\n");
    let mut r = s.raw();
    let mut big = b"*".to_vec();
    big.extend(vec![b'1'; 70 * 1024]);
    r.send(&big);
    assert_eq!(r.read_to_close(), b"-ERR Protocol error: too big mbulk count string\r\n");

    // Replies before the bad frame still arrive, in order.
    let mut r = s.raw();
    r.send(b"PING\r\n*1\r\n+x\r\n");
    assert_eq!(r.read_to_close(), b"+PONG\r\n-ERR Protocol error: expected '$', got '+'\r\n");

    let v: String = cmd("GET").arg("survivor").query(&mut good).unwrap();
    assert_eq!(v, "yes");
}

#[test]
fn query_buffer_limit_closes_the_client() {
    let s = TestServer::start_with(&["client-query-buffer-limit", "1mb"]);
    let mut r = s.raw();
    // A 2 MB bulk argument is allowed by proto-max-bulk-len but not by the query limit.
    r.send(b"*2\r\n$3\r\nGET\r\n$2097152\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    let mut closed = false;
    for _ in 0..32 {
        if r.stream.write_all(&chunk).is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        assert!(r.read_to_close().is_empty());
    }
    let mut c = s.conn();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn maxclients_rejects_with_error() {
    let s = TestServer::start_with(&["maxclients", "3"]);
    let mut held: Vec<Raw> = (0..3).map(|_| s.raw()).collect();
    for r in held.iter_mut() {
        r.roundtrip(b"PING\r\n", b"+PONG\r\n");
    }
    let mut extra = s.raw();
    assert_eq!(extra.read_to_close(), b"-ERR max number of clients reached\r\n");
    drop(held.pop());
    // Until the server has released the closed client's slot, retries are refused too
    // (and counted as rejected); count them to check the counter exactly.
    let mut refused_retries = 0;
    let ok = eventually(|| {
        let mut r = s.raw();
        r.send(b"PING\r\n");
        let mut buf = [0u8; 64];
        match r.stream.read(&mut buf) {
            Ok(n) if &buf[..n] == b"+PONG\r\n" => true,
            Ok(n) if &buf[..n] == b"-ERR max number of clients reached\r\n" => {
                refused_retries += 1;
                false
            }
            _ => false,
        }
    });
    assert!(ok, "a slot frees up when a client leaves");
    let c = held.last_mut().unwrap();
    c.send(&resp(&[b"INFO", b"stats"]));
    let info = String::from_utf8(c.read_bulk()).unwrap();
    let expected = format!("rejected_connections:{}\r\n", 1 + refused_retries);
    assert!(info.contains(&expected), "{expected} in {info}");
}

#[test]
fn idle_timeout_closes_connections() {
    let s = TestServer::start_with(&["timeout", "1"]);
    let mut r = s.raw();
    r.roundtrip(b"PING\r\n", b"+PONG\r\n");
    assert!(r.read_to_close().is_empty());
}

#[test]
fn idle_timeout_spares_monitor_clients() {
    let s = TestServer::start_with(&["timeout", "1"]);
    let mut m = s.raw();
    m.roundtrip(b"MONITOR\r\n", b"+OK\r\n");
    let mut idle = s.raw();
    idle.roundtrip(b"PING\r\n", b"+PONG\r\n");
    assert!(idle.read_to_close().is_empty(), "an ordinary idle client is closed");
    // The monitor, idle just as long, still streams.
    let mut c = s.conn();
    let _: () = cmd("SET").arg("after").arg("timeout").query(&mut c).unwrap();
    m.read_until(b"\"SET\" \"after\" \"timeout\"\r\n");
}

#[test]
fn quit_replies_then_closes() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.send(b"QUIT\r\nPING\r\n");
    assert_eq!(r.read_to_close(), b"+OK\r\n");
}

/// A client that pipelines without reading stops being read: the server keeps serving
/// others and holds a bounded amount for it.
#[test]
fn client_that_never_reads_is_bounded() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("big").arg(vec![b'x'; 100_000]).query(&mut c).unwrap();
    let mut r = s.raw();
    // Served once, so it is accepted and registered before the flood: the kernel takes
    // megabytes of writes on a connection the server has not accepted yet.
    r.roundtrip(b"PING\r\n", b"+PONG\r\n");
    r.stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = resp(&[b"GET", b"big"]).repeat(1000);
    // 1000 replies of 100 KB = 100 MB requested; the writes stall once buffers fill.
    let mut sent = 0;
    for _ in 0..100 {
        match r.stream.write(&req) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    assert!(sent > 0);
    let info: String = cmd("INFO").arg("memory").query(&mut c).unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(used < 64 * 1024 * 1024, "server memory stays bounded: {used}");
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");

    // The stuck client can still be killed: its stalled write is abandoned.
    let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert_eq!(list.lines().count(), 2);
    let me: i64 = cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    let killed: i64 = cmd("CLIENT").arg("KILL").arg("SKIPME").arg("yes").query(&mut c).unwrap();
    assert_eq!(killed, 1);
    assert!(eventually(|| {
        let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
        list.lines().count() == 1 && list.starts_with(&format!("id={me} "))
    }));
}

#[test]
fn auth_and_requirepass() {
    let s = TestServer::start_with(&["requirepass", "s3cret"]);
    let mut r = s.raw();
    r.roundtrip(&resp(&[b"GET", b"k"]), b"-NOAUTH Authentication required.\r\n");
    r.roundtrip(b"PING\r\n", b"-NOAUTH Authentication required.\r\n");
    r.roundtrip(
        &resp(&[b"AUTH", b"wrong"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    r.roundtrip(
        &resp(&[b"AUTH", b"bob", b"s3cret"]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    r.roundtrip(&resp(&[b"AUTH", b"s3cret"]), b"+OK\r\n");
    r.roundtrip(b"PING\r\n", b"+PONG\r\n");
    let mut r2 = s.raw();
    r2.roundtrip(&resp(&[b"AUTH", b"default", b"s3cret"]), b"+OK\r\n");
    let mut r3 = s.raw();
    r3.send(&resp(&[b"HELLO", b"3", b"AUTH", b"default", b"s3cret", b"SETNAME", b"me"]));
    assert_eq!(r3.read_exact(4), b"%7\r\n");
    let client = redis::Client::open(format!("redis://:s3cret@{}/", s.addr)).unwrap();
    let mut c = client.get_connection_with_timeout(WAIT).unwrap();
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");

    let open = TestServer::start();
    let mut r = open.raw();
    r.roundtrip(
        &resp(&[b"AUTH", b"x"]),
        b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
    );
    r.roundtrip(&resp(&[b"AUTH", b"default", b"anything"]), b"+OK\r\n");
}

#[test]
fn unix_socket_listener() {
    let dir = std::env::temp_dir().join(format!("slotcache-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let s = TestServer::start_with(&["unixsocket", path.to_str().unwrap(), "unixsocketperm", "700"]);
    let mut u = std::os::unix::net::UnixStream::connect(&path).unwrap();
    u.set_read_timeout(Some(WAIT)).unwrap();
    u.write_all(b"SET viaunix 1\r\nGET viaunix\r\n").unwrap();
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < b"+OK\r\n$1\r\n1\r\n".len() {
        let n = u.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"+OK\r\n$1\r\n1\r\n");
    let mode =
        std::fs::metadata(&path).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions())).unwrap();
    assert_eq!(mode & 0o777, 0o700);
    let mut c = s.conn();
    let v: String = cmd("GET").arg("viaunix").query(&mut c).unwrap();
    assert_eq!(v, "1");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
