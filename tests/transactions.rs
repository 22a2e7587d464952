//! MULTI / EXEC / DISCARD / WATCH over real connections: reply shapes, queuing errors,
//! runtime errors, WATCH against other clients, expiry and flushes, optimistic-locking
//! races, and transactions across shards never observed half applied.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{TestServer, err, resp};
use redis::{Commands, cmd};

#[test]
fn exec_replies_per_command_including_runtime_errors() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.roundtrip(&resp(&[b"SET", b"s", b"text"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"SET", b"a", b"1"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"INCR", b"s"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"INCR", b"a"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"GET", b"a"]), b"+QUEUED\r\n");
    let list: String = cmd("CLIENT").arg("LIST").query(&mut s.conn()).unwrap();
    assert!(list.contains(" multi=4 "), "{list}");
    // Nothing ran yet.
    assert_eq!(s.conn().get::<_, Option<String>>("a").unwrap(), None);
    r.roundtrip(
        &resp(&[b"EXEC"]),
        b"*4\r\n+OK\r\n-ERR value is not an integer or out of range\r\n:2\r\n$1\r\n2\r\n",
    );
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*0\r\n");
}

#[test]
fn a_refused_command_while_queuing_aborts_exec() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"SET", b"x", b"1"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"GET"]), b"-ERR wrong number of arguments for 'get' command\r\n");
    r.roundtrip(&resp(&[b"NOSUCH"]), b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    // Nothing was applied and the connection is out of MULTI.
    r.roundtrip(&resp(&[b"GET", b"x"]), b"$-1\r\n");
    r.roundtrip(&resp(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn misuse_errors_match_redis() {
    let s = TestServer::start();
    let mut c = s.conn();
    assert_eq!(err(&mut c, cmd("EXEC")), "ERR EXEC without MULTI");
    assert_eq!(err(&mut c, cmd("DISCARD")), "ERR DISCARD without MULTI");
    let mut r = s.raw();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"MULTI"]), b"-ERR MULTI calls can not be nested\r\n");
    r.roundtrip(&resp(&[b"WATCH", b"k"]), b"-ERR WATCH inside MULTI is not allowed\r\n");
    r.roundtrip(&resp(&[b"SHUTDOWN", b"NOSAVE"]), b"-ERR Command not allowed inside a transaction\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
}

#[test]
fn discard_drops_the_queue() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"SET", b"d", b"1"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"DISCARD"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"GET", b"d"]), b"$-1\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"-ERR EXEC without MULTI\r\n");
}

#[test]
fn watch_fails_exec_when_another_client_changes_the_key() {
    let s = TestServer::start();
    let mut r = s.raw();
    let mut other = s.conn();
    let _: () = other.set("w", "0").unwrap();
    r.roundtrip(&resp(&[b"WATCH", b"w", b"unrelated"]), b"+OK\r\n");
    let _: () = other.set("w", "changed").unwrap();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"SET", b"w", b"mine"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*-1\r\n");
    assert_eq!(other.get::<_, String>("w").unwrap(), "changed");
    // EXEC unwatched everything: the next transaction runs whatever others do.
    let _: () = other.set("w", "again").unwrap();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"SET", b"w", b"mine"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*1\r\n+OK\r\n");
    // Unchanged watched keys let EXEC run; a change to another key does not matter.
    r.roundtrip(&resp(&[b"WATCH", b"w"]), b"+OK\r\n");
    let _: () = other.set("unrelated", "x").unwrap();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"GET", b"w"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*1\r\n$4\r\nmine\r\n");
    // A write that changes nothing is not a change.
    r.roundtrip(&resp(&[b"WATCH", b"w"]), b"+OK\r\n");
    let _: Option<String> = cmd("SET").arg("w").arg("other").arg("NX").query(&mut other).unwrap();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*0\r\n");
    // MOVE to another database changes the key.
    r.roundtrip(&resp(&[b"WATCH", b"w"]), b"+OK\r\n");
    let moved: bool = cmd("MOVE").arg("w").arg(1).query(&mut other).unwrap();
    assert!(moved);
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*-1\r\n");
    // UNWATCH and DISCARD forget watched keys.
    r.roundtrip(&resp(&[b"WATCH", b"w"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"UNWATCH"]), b"+OK\r\n");
    let _: () = other.set("w", "x").unwrap();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*0\r\n");
    r.roundtrip(&resp(&[b"WATCH", b"w"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"DISCARD"]), b"+OK\r\n");
    let _: () = other.set("w", "y").unwrap();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"*0\r\n");
}

#[test]
fn watch_sees_deletes_expiry_and_flushes_but_not_stale_keys() {
    let s = TestServer::start();
    let mut r = s.raw();
    let mut c = s.conn();
    let exec_after = |r: &mut common::Raw, expected: &[u8]| {
        r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
        r.roundtrip(&resp(&[b"PING"]), b"+QUEUED\r\n");
        r.roundtrip(&resp(&[b"EXEC"]), expected);
    };
    let ran = b"*1\r\n+PONG\r\n".as_slice();
    let failed = b"*-1\r\n".as_slice();

    // DEL of a watched key.
    let _: () = c.set("k", "v").unwrap();
    r.roundtrip(&resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    let _: i64 = c.del("k").unwrap();
    exec_after(&mut r, failed);

    // The key expires between WATCH and EXEC, even if no one reads it.
    let _: () = cmd("SET").arg("k").arg("v").arg("PX").arg(50).query(&mut c).unwrap();
    r.roundtrip(&resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(120));
    exec_after(&mut r, failed);

    // A key already expired when watched is not a change when it is removed.
    let _: () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("stale").arg("v").arg("PX").arg(1).query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    r.roundtrip(&resp(&[b"WATCH", b"stale"]), b"+OK\r\n");
    let _: bool = c.exists("stale").unwrap();
    exec_after(&mut r, ran);
    let _: () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(1).query(&mut c).unwrap();

    // FLUSHDB changes a watched key that exists...
    let _: () = c.set("k", "v").unwrap();
    r.roundtrip(&resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    let _: () = cmd("FLUSHDB").query(&mut c).unwrap();
    exec_after(&mut r, failed);
    // ...but not one that did not exist, nor keys of other databases.
    r.roundtrip(&resp(&[b"WATCH", b"absent"]), b"+OK\r\n");
    let _: () = cmd("FLUSHALL").query(&mut c).unwrap();
    exec_after(&mut r, ran);
    let _: () = cmd("SELECT").arg(5).query(&mut c).unwrap();
    let _: () = c.set("k", "v").unwrap();
    r.roundtrip(&resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    let _: () = cmd("FLUSHDB").query(&mut c).unwrap();
    exec_after(&mut r, ran);

    // SWAPDB changes a watched key that exists on either side.
    let _: () = c.set("k", "in five").unwrap();
    r.roundtrip(&resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    let _: () = cmd("SWAPDB").arg(0).arg(5).query(&mut c).unwrap();
    exec_after(&mut r, failed);
}

#[test]
fn resp3_exec_with_a_changed_watch_is_null() {
    let s = TestServer::start();
    let mut r = s.raw();
    r.send(&resp(&[b"HELLO", b"3"]));
    r.read_until(b"modules\r\n*0\r\n");
    r.roundtrip(&resp(&[b"WATCH", b"k"]), b"+OK\r\n");
    let _: () = s.conn().set("k", "1").unwrap();
    r.roundtrip(&resp(&[b"MULTI"]), b"+OK\r\n");
    r.roundtrip(&resp(&[b"GET", b"k"]), b"+QUEUED\r\n");
    r.roundtrip(&resp(&[b"EXEC"]), b"_\r\n");
}

#[test]
fn redis_crate_atomic_pipeline() {
    let s = TestServer::start();
    let mut c = s.conn();
    let (a, b): (String, i64) =
        redis::pipe().atomic().set("p", "1").ignore().get("p").incr("q", 7).query(&mut c).unwrap();
    assert_eq!((a.as_str(), b), ("1", 7));
}

/// Optimistic locking: every client increments through WATCH / GET / MULTI / SET /
/// EXEC, retrying when EXEC fails. No increment may be lost or doubled.
#[test]
fn concurrent_watch_increments_are_never_lost() {
    let s = TestServer::start();
    const CLIENTS: usize = 6;
    const EACH: i64 = 150;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = s.conn();
            std::thread::spawn(move || {
                let mut retries = 0u64;
                for _ in 0..EACH {
                    // Bounded retries: contention among 6 clients settles quickly.
                    for attempt in 0.. {
                        assert!(attempt < 10_000, "no progress");
                        let _: () = cmd("WATCH").arg("counter").query(&mut c).unwrap();
                        let v: Option<i64> = c.get("counter").unwrap();
                        let done: Option<(String,)> =
                            redis::pipe().atomic().set("counter", v.unwrap_or(0) + 1).query(&mut c).unwrap();
                        if done.is_some() {
                            break;
                        }
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let total: i64 = s.conn().get("counter").unwrap();
    assert_eq!(total, CLIENTS as i64 * EACH, "after {retries} retries");
}

/// Two keys on different shards, changed together in each transaction: a reader that
/// reads both at once must always see them equal.
#[test]
fn a_transaction_across_shards_is_never_seen_half_applied() {
    let s = TestServer::start();
    // The test server runs 4 shards: pick keys in different ones.
    let (a, b) = ("{a}x", "{b}x");
    assert_ne!(
        slotcache::cluster::slot::key_slot(b"{a}x") % 4,
        slotcache::cluster::slot::key_slot(b"{b}x") % 4
    );
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = s.conn();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(Ordering::Relaxed) && reads < 1_000_000 {
                    let (x, y): (Option<i64>, Option<i64>) =
                        redis::cmd("MGET").arg(a).arg(b).query(&mut c).unwrap();
                    assert_eq!(x, y, "half-applied transaction seen after {reads} reads");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut w = s.conn();
    for _ in 0..2000 {
        let _: (i64, i64) = redis::pipe().atomic().incr(a, 1).incr(b, 1).query(&mut w).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let (x, y): (i64, i64) = (w.get(a).unwrap(), w.get(b).unwrap());
    assert_eq!((x, y), (2000, 2000));
}
