//! Standalone replication between real servers on 127.0.0.1: REPLICAOF, the full sync
//! by snapshot while the primary takes writes, the stream of every type's effects,
//! partial resync from the backlog, WAIT, read-only replicas, ROLE and INFO.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, WAIT, err, eventually_within, info_field};
use redis::cmd;

fn info(c: &mut redis::Connection, section: &str) -> String {
    cmd("INFO").arg(section).query(c).unwrap()
}

/// Makes `replica` a replica of `primary` and waits until its link is up.
fn replicate(replica: &TestServer, primary: &TestServer) -> redis::Connection {
    let mut r = replica.conn();
    // A replica still loading its own snapshot answers -LOADING first, as Redis does.
    let mut reply = None;
    let answered = eventually_within(Duration::from_secs(20), || {
        reply = cmd("REPLICAOF").arg("127.0.0.1").arg(primary.addr.port()).query::<String>(&mut r).ok();
        reply.is_some()
    });
    assert!(answered, "REPLICAOF answered once the load was done");
    assert_eq!(reply.as_deref(), Some("OK"));
    let up = eventually_within(Duration::from_secs(20), || {
        info(&mut r, "replication").contains("master_link_status:up")
    });
    assert!(up, "the link came up: {}", info(&mut r, "replication"));
    r
}

fn digest(c: &mut redis::Connection) -> String {
    cmd("DEBUG").arg("DIGEST").query(c).unwrap()
}

/// A replica link by hand, to read the stream itself: PSYNC, the snapshot read to its
/// end mark, then an acknowledgement (the stream starts after it).
fn raw_link(primary: &TestServer) -> common::Raw {
    let mut link = primary.raw();
    link.send(b"PSYNC ? -1\r\n");
    let head = link.read_until(b"\r\n");
    assert!(head.starts_with(b"+FULLRESYNC "), "{}", String::from_utf8_lossy(&head));
    let eof = link.read_until(b"\r\n");
    assert!(eof.starts_with(b"$EOF:"), "{}", String::from_utf8_lossy(&eof));
    let payload = link.read_until(&eof[5..eof.len() - 2]);
    assert!(payload.starts_with(b"REDIS0010"));
    link.send(b"REPLCONF ACK 0\r\n");
    link
}

/// The stream read from `link` up to a `SET end 1` written now on `p`.
fn stream_until_end(link: &mut common::Raw, p: &mut redis::Connection) -> String {
    let () = cmd("SET").arg("end").arg(1).query(p).unwrap();
    String::from_utf8_lossy(&link.read_until(b"$3\r\nend\r\n$1\r\n1\r\n")).into_owned()
}

/// WAIT until every write so far reached the one replica.
fn wait_one(p: &mut redis::Connection) {
    let n: i64 = cmd("WAIT").arg(1).arg(WAIT.as_millis() as u64).query(p).unwrap();
    assert_eq!(n, 1, "the replica acknowledged");
}

#[test]
fn a_replica_syncs_then_applies_every_types_effects() {
    let primary = TestServer::start();
    let replica = TestServer::start();
    let mut p = primary.conn();
    // Before the link: the snapshot carries these (three databases, TTLs).
    for db in [0, 3, 15] {
        let () = cmd("SELECT").arg(db).query(&mut p).unwrap();
        for i in 0..200 {
            let () = cmd("SET").arg(format!("s{i}")).arg(i).query(&mut p).unwrap();
            let () = cmd("HSET").arg("h").arg(format!("f{i}")).arg(i).query(&mut p).unwrap();
        }
        let () = cmd("PEXPIRE").arg("s1").arg(500_000).query(&mut p).unwrap();
    }
    let () = cmd("SELECT").arg(0).query(&mut p).unwrap();
    let mut r = replicate(&replica, &primary);
    assert_eq!(digest(&mut r), digest(&mut p), "the snapshot");
    let mut link = raw_link(&primary);

    // Then the stream: every type, the commands whose effects differ from their
    // arguments (relative TTLs, SPOP, *INCRBYFLOAT, GETEX, RESTORE, transactions,
    // databases) among them.
    let mut pipe = redis::pipe();
    pipe.cmd("SET").arg("str").arg("v").arg("EX").arg(1000).ignore();
    pipe.cmd("SETEX").arg("sx").arg(900).arg("v").ignore();
    pipe.cmd("PSETEX").arg("psx").arg(900_000).arg("v").ignore();
    pipe.cmd("SET").arg("plain").arg("v").ignore();
    pipe.cmd("EXPIRE").arg("plain").arg(800).ignore();
    pipe.cmd("SET").arg("g").arg("v").ignore();
    pipe.cmd("GETEX").arg("g").arg("PX").arg(700_000).ignore();
    pipe.cmd("INCRBYFLOAT").arg("f").arg("1.1").ignore();
    pipe.cmd("INCRBYFLOAT").arg("f").arg("2.25").ignore();
    pipe.cmd("HINCRBYFLOAT").arg("hf").arg("x").arg("0.5").ignore();
    pipe.cmd("SADD").arg("set").arg((0..50).collect::<Vec<_>>()).ignore();
    pipe.cmd("SPOP").arg("set").ignore();
    pipe.cmd("SPOP").arg("set").arg(10).ignore();
    pipe.cmd("RPUSH").arg("list").arg((0..50).collect::<Vec<_>>()).ignore();
    pipe.cmd("LPOP").arg("list").arg(3).ignore();
    pipe.cmd("LMOVE").arg("list").arg("list2").arg("LEFT").arg("RIGHT").ignore();
    pipe.cmd("ZADD").arg("z").arg(1).arg("a").arg(2).arg("b").arg(3).arg("c").ignore();
    pipe.cmd("ZINCRBY").arg("z").arg(5).arg("a").ignore();
    pipe.cmd("ZPOPMIN").arg("z").ignore();
    pipe.cmd("PFADD").arg("hll").arg("a").arg("b").arg("c").ignore();
    pipe.cmd("SETBIT").arg("bits").arg(100).arg(1).ignore();
    pipe.cmd("APPEND").arg("str").arg("more").ignore();
    pipe.cmd("INCR").arg("counter").ignore();
    pipe.cmd("DEL").arg("s2").arg("s3").ignore();
    pipe.cmd("RENAME").arg("s4").arg("renamed").ignore();
    pipe.cmd("SELECT").arg(3).ignore();
    pipe.cmd("INCR").arg("in3").ignore();
    pipe.cmd("FLUSHDB").ignore();
    pipe.cmd("SELECT").arg(15).ignore();
    pipe.cmd("MOVE").arg("s5").arg(3).ignore();
    pipe.cmd("SELECT").arg(0).ignore();
    let () = pipe.query(&mut p).unwrap();
    let payload: Vec<u8> = cmd("DUMP").arg("h").query(&mut p).unwrap();
    let () = cmd("RESTORE").arg("restored").arg(600_000).arg(payload).query(&mut p).unwrap();
    let (): () = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("tx")
        .ignore()
        .cmd("SPOP")
        .arg("set")
        .ignore()
        .cmd("HSET")
        .arg("txh")
        .arg("a")
        .arg(1)
        .ignore()
        .query(&mut p)
        .unwrap();
    wait_one(&mut p);
    assert_eq!(digest(&mut r), digest(&mut p), "every effect applied, TTLs at the same instants");
    // The effects, not the commands, where they differ.
    let stream = stream_until_end(&mut link, &mut p);
    for form in [
        "PXAT",
        "PEXPIREAT",
        "KEEPTTL",
        "SREM",
        "ABSTTL",
        "MULTI",
        "EXEC",
        "SELECT\r\n$1\r\n3",
        "SELECT\r\n$2\r\n15",
    ] {
        assert!(stream.contains(form), "{form:?} in {stream:?}");
    }
    for relative in ["SETEX", "INCRBYFLOAT", "SPOP", "GETEX", "\r\nEX\r\n", "\r\nEXPIRE\r\n"] {
        assert!(!stream.to_uppercase().contains(relative), "{relative:?} in {stream:?}");
    }
    let ttl_p: i64 = cmd("PEXPIRETIME").arg("g").query(&mut p).unwrap();
    let ttl_r: i64 = cmd("PEXPIRETIME").arg("g").query(&mut r).unwrap();
    assert_eq!(ttl_r, ttl_p, "a relative TTL replicated as its instant");
    let f: String = cmd("GET").arg("f").query(&mut r).unwrap();
    assert_eq!(f, "3.35");

    // The replica is read only; ROLE and INFO say who is who.
    let e = err(&mut r, cmd("SET").arg("x").arg(1));
    assert_eq!(e, "READONLY You can't write against a read only replica.");
    let role: redis::Value = cmd("ROLE").query(&mut r).unwrap();
    let redis::Value::Array(parts) = role else { panic!("{role:?}") };
    assert_eq!(parts[0], redis::Value::BulkString(b"slave".to_vec()));
    assert_eq!(parts[3], redis::Value::BulkString(b"connected".to_vec()));
    let role: redis::Value = cmd("ROLE").query(&mut p).unwrap();
    let redis::Value::Array(parts) = role else { panic!("{role:?}") };
    assert_eq!(parts[0], redis::Value::BulkString(b"master".to_vec()));
    drop(link);
    let one = eventually_within(WAIT, || info(&mut p, "replication").contains("connected_slaves:1"));
    assert!(one, "the hand-made link is gone: {}", info(&mut p, "replication"));
    // Once it has applied everything (a PING may come meanwhile): at the same offset.
    let same = eventually_within(WAIT, || {
        info_field(&mut p, "replication", "master_repl_offset")
            == info_field(&mut r, "replication", "master_repl_offset")
    });
    assert!(same, "the replica reaches the primary's offset");
    let clients: String = cmd("CLIENT").arg("LIST").arg("TYPE").arg("replica").query(&mut p).unwrap();
    assert_eq!(clients.lines().count(), 1, "{clients}");

    let conf: Vec<String> = cmd("CONFIG").arg("GET").arg("replicaof").query(&mut r).unwrap();
    assert_eq!(conf, ["replicaof".to_string(), format!("127.0.0.1 {}", primary.addr.port())]);
    // REPLICAOF NO ONE: a primary again, keeping the data.
    let () = cmd("REPLICAOF").arg("NO").arg("ONE").query(&mut r).unwrap();
    let conf: Vec<String> = cmd("CONFIG").arg("GET").arg("replicaof").query(&mut r).unwrap();
    assert_eq!(conf, ["replicaof", ""]);
    let () = cmd("SET").arg("x").arg(1).query(&mut r).unwrap();
    assert!(info(&mut r, "replication").contains("role:master"));
}

#[test]
fn a_full_sync_under_writes_loses_and_repeats_nothing() {
    let primary = TestServer::start_with(&["rdb-key-save-delay", "20"]);
    let replica = TestServer::start();
    let mut p = primary.conn();
    let keys = 2000;
    let mut pipe = redis::pipe();
    for i in 0..keys {
        pipe.cmd("SET").arg(format!("c{i}")).arg(0).ignore();
    }
    let () = pipe.query(&mut p).unwrap();
    // Counters go up while the snapshot is written (20 µs a key: 40 ms at least) and
    // after: each INCR is in the snapshot or in the stream after it, never both.
    let addr = primary.addr;
    let writer = std::thread::spawn(move || {
        let mut c = common::connect(addr);
        let mut sent = 0u64;
        let deadline = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < deadline {
            let mut pipe = redis::pipe();
            for j in 0..50 {
                pipe.cmd("INCR").arg(format!("c{}", (sent + j) % keys)).ignore();
            }
            let () = pipe.query(&mut c).unwrap();
            sent += 50;
        }
        sent
    });
    std::thread::sleep(Duration::from_millis(50));
    let mut r = replicate(&replica, &primary);
    let sent = writer.join().unwrap();
    // WAIT counts this connection's writes: one here, after all of the writer's in the
    // stream, so acknowledging it acknowledges them.
    let () = cmd("SET").arg("done").arg(1).query(&mut p).unwrap();
    wait_one(&mut p);
    assert_eq!(digest(&mut r), digest(&mut p));
    let total: u64 = (0..keys).map(|i| cmd("GET").arg(format!("c{i}")).query::<u64>(&mut r).unwrap()).sum();
    assert_eq!(total, sent, "every INCR applied once on the replica");
    assert_eq!(info_field(&mut p, "stats", "sync_full"), 1);
}

/// `/metrics` on `addr`, as (series, value) lines.
fn scrape(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, WAIT).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn a_broken_link_resumes_from_the_backlog() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let primary = TestServer::start_with(&["metrics-port", &port]);
    let replica = TestServer::start();
    let mut p = primary.conn();
    let () = cmd("SET").arg("a").arg(1).query(&mut p).unwrap();
    let mut r = replicate(&replica, &primary);
    wait_one(&mut p);
    // The primary drops the link; writes go on meanwhile.
    let killed: i64 = cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica").query(&mut p).unwrap();
    assert_eq!(killed, 1);
    for i in 0..100 {
        let () = cmd("RPUSH").arg("l").arg(i).query(&mut p).unwrap();
    }
    let resumed = eventually_within(Duration::from_secs(20), || {
        info_field(&mut p, "stats", "sync_partial_ok") == 1
            && info(&mut p, "replication").contains("connected_slaves:1")
    });
    assert!(resumed, "a partial resync: {}", info(&mut p, "stats"));
    wait_one(&mut p);
    assert_eq!(info_field(&mut p, "stats", "sync_full"), 1, "no second full sync");
    assert_eq!(digest(&mut r), digest(&mut p));
    let len: i64 = cmd("LLEN").arg("l").query(&mut r).unwrap();
    assert_eq!(len, 100);
    // The same on /metrics.
    let metrics = scrape(primary.handle.as_ref().unwrap().metrics_addr.unwrap());
    for line in [
        "redis_connected_slaves 1",
        "redis_replica_resyncs_full 1",
        "redis_replica_partial_resync_accepted 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    let offset = info_field(&mut p, "replication", "master_repl_offset");
    assert!(metrics.lines().any(|l| l == format!("redis_master_repl_offset {offset}")), "{metrics}");
    assert!(metrics.contains("redis_connected_slave_offset_bytes{slave_ip=\"127.0.0.1\""), "{metrics}");
}

#[test]
fn replicaof_in_the_configuration_links_at_start() {
    let primary = TestServer::start();
    let mut p = primary.conn();
    let () = cmd("SET").arg("a").arg(1).query(&mut p).unwrap();
    let replica = TestServer::start_with(&["replicaof", &format!("127.0.0.1 {}", primary.addr.port())]);
    let mut r = replica.conn();
    let up = eventually_within(Duration::from_secs(20), || {
        info(&mut r, "replication").contains("master_link_status:up")
    });
    assert!(up, "linked from the configuration: {}", info(&mut r, "replication"));
    wait_one(&mut p);
    let v: String = cmd("GET").arg("a").query(&mut r).unwrap();
    assert_eq!(v, "1");
}

#[test]
fn wait_counts_the_replicas_that_acknowledged() {
    let primary = TestServer::start();
    let mut p = primary.conn();
    let () = cmd("SET").arg("a").arg(1).query(&mut p).unwrap();
    let n: i64 = cmd("WAIT").arg(0).arg(0).query(&mut p).unwrap();
    assert_eq!(n, 0);
    let started = Instant::now();
    let n: i64 = cmd("WAIT").arg(1).arg(200).query(&mut p).unwrap();
    assert_eq!(n, 0, "no replica: the timeout");
    assert!(started.elapsed() >= Duration::from_millis(200));
    let e = err(&mut p, cmd("WAIT").arg(1).arg(-1));
    assert_eq!(e, "ERR timeout is negative");

    let replicas: Vec<TestServer> = (0..2).map(|_| TestServer::start()).collect();
    let mut rc: Vec<redis::Connection> = replicas.iter().map(|r| replicate(r, &primary)).collect();
    let () = cmd("INCR").arg("a").query(&mut p).unwrap();
    let n: i64 = cmd("WAIT").arg(2).arg(WAIT.as_millis() as u64).query(&mut p).unwrap();
    assert_eq!(n, 2);
    for r in rc.iter_mut() {
        let v: i64 = cmd("GET").arg("a").query(r).unwrap();
        assert_eq!(v, 2, "acknowledged means applied");
    }
    // Asking for more replicas than there are: the count when the timeout passes.
    let n: i64 = cmd("WAIT").arg(3).arg(300).query(&mut p).unwrap();
    assert_eq!(n, 2);
    let e = err(&mut rc[0], cmd("WAIT").arg(1).arg(0));
    assert!(e.starts_with("ERR WAIT cannot be used with replica instances"), "{e}");
}

#[test]
fn a_replica_never_serves_an_expired_key_and_drops_it_on_the_primarys_del() {
    let primary = TestServer::start();
    let replica = TestServer::start();
    let mut p = primary.conn();
    let mut r = replicate(&replica, &primary);
    // The primary's active expiry off: only the replica's own clock says the key is
    // gone.
    let () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut p).unwrap();
    let () = cmd("SET").arg("k").arg("v").arg("PX").arg(200).query(&mut p).unwrap();
    wait_one(&mut p);
    let v: Option<String> = cmd("GET").arg("k").query(&mut r).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    std::thread::sleep(Duration::from_millis(300));
    let v: Option<String> = cmd("GET").arg("k").query(&mut r).unwrap();
    assert_eq!(v, None, "expired: not served");
    let n: i64 = cmd("DBSIZE").query(&mut r).unwrap();
    assert_eq!(n, 1, "but kept until the primary says");
    // The primary expires it: the replica gets the DEL.
    let () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(1).query(&mut p).unwrap();
    let gone =
        eventually_within(Duration::from_secs(10), || cmd("DBSIZE").query::<i64>(&mut r).unwrap() == 0);
    assert!(gone, "the primary's expiry reached the replica");
}

#[test]
fn blocked_pops_replicate_as_the_pops_that_happened() {
    let primary = TestServer::start();
    let replica = TestServer::start();
    let mut p = primary.conn();
    let mut r = replicate(&replica, &primary);
    let mut link = raw_link(&primary);
    let addr = primary.addr;
    let waiters: Vec<_> = [
        vec!["BLPOP", "none", "bl", "10"],
        vec!["BLMOVE", "bm", "bm2", "RIGHT", "LEFT", "10"],
        vec!["BLMPOP", "10", "2", "none", "bmp", "RIGHT", "COUNT", "2"],
        vec!["BZPOPMAX", "bz", "10"],
        vec!["BZMPOP", "10", "1", "bzm", "MIN", "COUNT", "5"],
    ]
    .into_iter()
    .map(|args| {
        std::thread::spawn(move || {
            let mut c = common::connect(addr);
            let mut command = cmd(args[0]);
            for a in &args[1..] {
                command.arg(*a);
            }
            command.query::<redis::Value>(&mut c).unwrap()
        })
    })
    .collect();
    let blocked = eventually_within(WAIT, || info_field(&mut p, "clients", "blocked_clients") == 5);
    assert!(blocked, "five clients blocked");
    let () = cmd("RPUSH").arg("bl").arg("a").arg("b").query(&mut p).unwrap();
    let () = cmd("RPUSH").arg("bm").arg("a").arg("b").query(&mut p).unwrap();
    let () = cmd("RPUSH").arg("bmp").arg(1).arg(2).arg(3).query(&mut p).unwrap();
    let () = cmd("ZADD").arg("bz").arg(1).arg("a").arg(2).arg("b").query(&mut p).unwrap();
    let () = cmd("ZADD").arg("bzm").arg(1).arg("a").arg(2).arg("b").arg(3).arg("c").query(&mut p).unwrap();
    for w in waiters {
        assert_ne!(w.join().unwrap(), redis::Value::Nil, "every waiter was served");
    }
    // WAIT counts this connection's writes: one after the pops the others made.
    let () = cmd("SET").arg("done").arg(1).query(&mut p).unwrap();
    wait_one(&mut p);
    assert_eq!(digest(&mut r), digest(&mut p));
    let left: Vec<String> = cmd("LRANGE").arg("bmp").arg(0).arg(-1).query(&mut r).unwrap();
    assert_eq!(left, ["1"]);
    // The stream has the pops that happened, never a blocking command.
    let stream = stream_until_end(&mut link, &mut p);
    for form in [
        "LPOP\r\n$2\r\nbl",
        "LMOVE\r\n$2\r\nbm\r\n$3\r\nbm2\r\n$5\r\nRIGHT\r\n$4\r\nLEFT",
        "RPOP\r\n$3\r\nbmp\r\n$1\r\n2",
        "ZPOPMAX\r\n$2\r\nbz",
        "ZPOPMIN\r\n$3\r\nbzm\r\n$1\r\n3",
    ] {
        assert!(stream.contains(form), "{form:?} in {stream:?}");
    }
    for blocking in ["BLPOP", "BLMOVE", "BLMPOP", "BZPOPMAX", "BZMPOP"] {
        assert!(!stream.to_uppercase().contains(blocking), "{blocking} in {stream:?}");
    }
}

#[test]
fn a_restarted_replica_resumes_with_a_partial_resync() {
    let primary = TestServer::start();
    let mut p = primary.conn();
    let dir = std::env::temp_dir().join(format!("slotcache-repl-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let dir_arg = dir.to_string_lossy().into_owned();
    for i in 0..100 {
        let () = cmd("SET").arg(format!("k{i}")).arg(i).query(&mut p).unwrap();
    }
    {
        let replica = TestServer::start_with(&["dir", &dir_arg]);
        let mut r = replicate(&replica, &primary);
        let () = cmd("INCR").arg("k1").query(&mut p).unwrap();
        wait_one(&mut p);
        // The snapshot notes the primary's replication ID and the offset it is at.
        let () = cmd("SAVE").query(&mut r).unwrap();
    }
    // Writes while the replica is down, well within the backlog.
    for i in 0..50 {
        let () = cmd("INCR").arg(format!("k{i}")).query(&mut p).unwrap();
    }
    let replica = TestServer::start_with(&["dir", &dir_arg]);
    let mut r = replicate(&replica, &primary);
    wait_one(&mut p);
    assert_eq!(info_field(&mut p, "stats", "sync_partial_ok"), 1, "{}", info(&mut p, "stats"));
    assert_eq!(info_field(&mut p, "stats", "sync_full"), 1, "no second full sync");
    assert_eq!(digest(&mut r), digest(&mut p));
    drop(replica);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stale_data_and_min_replicas_settings_refuse_as_redis() {
    let primary = TestServer::start_with(&["min-replicas-to-write", "1", "min-replicas-max-lag", "10"]);
    let mut p = primary.conn();
    let e = err(&mut p, cmd("SET").arg("a").arg(1));
    assert_eq!(e, "NOREPLICAS Not enough good replicas to write.");
    let replica = TestServer::start_with(&["replica-serve-stale-data", "no"]);
    let mut r = replicate(&replica, &primary);
    let writes = eventually_within(WAIT, || cmd("SET").arg("a").arg(1).query::<()>(&mut p).is_ok());
    assert!(writes, "a good replica: writes accepted");
    wait_one(&mut p);
    let v: String = cmd("GET").arg("a").query(&mut r).unwrap();
    assert_eq!(v, "1");
    // The primary goes away: the replica refuses reads of stale data, still answers
    // what needs no data.
    let port = primary.addr.port();
    drop(p);
    drop(primary);
    let down = eventually_within(WAIT, || info(&mut r, "replication").contains("master_link_status:down"));
    assert!(down);
    let e = err(&mut r, cmd("GET").arg("a"));
    assert_eq!(e, "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
    let pong: String = cmd("PING").query(&mut r).unwrap_or_default();
    let info_ok = cmd("INFO").arg("replication").query::<String>(&mut r).is_ok();
    assert!(info_ok, "INFO is served: {pong}");
    let role: redis::Value = cmd("ROLE").query(&mut r).unwrap();
    let redis::Value::Array(parts) = role else { panic!() };
    assert_eq!(parts[2], redis::Value::Int(port as i64));
}
