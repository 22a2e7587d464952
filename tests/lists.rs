//! List commands and the blocking commands over TCP with the `redis` crate: replies,
//! errors, encodings, FIFO wake-ups, timeouts, CLIENT UNBLOCK, transactions, and a
//! producer/consumer run moving 100,000 elements through BLMOVE.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{TestServer, err};
use redis::{Value, cmd};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn range(c: &mut redis::Connection, key: &str) -> Vec<String> {
    cmd("LRANGE").arg(key).arg(0).arg(-1).query(c).unwrap()
}

#[test]
fn push_pop_range_and_index() {
    let s = TestServer::start();
    let mut c = s.conn();
    let n: i64 = cmd("RPUSH").arg("l").arg("a").arg("b").arg("c").query(&mut c).unwrap();
    assert_eq!(n, 3);
    let n: i64 = cmd("LPUSH").arg("l").arg("x").arg("y").query(&mut c).unwrap();
    assert_eq!(n, 5);
    assert_eq!(range(&mut c, "l"), vec!["y", "x", "a", "b", "c"]);
    let v: Vec<String> = cmd("LRANGE").arg("l").arg(-2).arg(100).query(&mut c).unwrap();
    assert_eq!(v, vec!["b", "c"]);
    let v: Vec<String> = cmd("LRANGE").arg("l").arg(3).arg(1).query(&mut c).unwrap();
    assert!(v.is_empty());
    let v: Option<String> = cmd("LINDEX").arg("l").arg(-1).query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("c"));
    let v: Option<String> = cmd("LINDEX").arg("l").arg(10).query(&mut c).unwrap();
    assert_eq!(v, None);
    let v: Option<String> = cmd("LPOP").arg("l").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("y"));
    let v: Vec<String> = cmd("RPOP").arg("l").arg(2).query(&mut c).unwrap();
    assert_eq!(v, vec!["c", "b"]);
    let n: i64 = cmd("LLEN").arg("l").query(&mut c).unwrap();
    assert_eq!(n, 2);
    let n: i64 = cmd("LPUSHX").arg("nokey").arg("a").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("EXISTS").arg("nokey").query(&mut c).unwrap();
    assert_eq!(n, 0, "LPUSHX does not create");
    let n: i64 = cmd("RPUSHX").arg("l").arg("z").query(&mut c).unwrap();
    assert_eq!(n, 3);
    let v: Vec<String> = cmd("LPOP").arg("l").arg(10).query(&mut c).unwrap();
    assert_eq!(v, vec!["x", "a", "z"]);
    let n: i64 = cmd("EXISTS").arg("l").query(&mut c).unwrap();
    assert_eq!(n, 0, "an emptied list is deleted");
    let v: Value = cmd("LPOP").arg("l").arg(1).query(&mut c).unwrap();
    assert_eq!(v, Value::Nil, "LPOP with a count on a missing key is a null array");
    assert_eq!(err(&mut c, cmd("LPOP").arg("l").arg(-1)), "ERR value is out of range, must be positive");
}

#[test]
fn set_insert_remove_trim_and_pos() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("RPUSH").arg("l").arg("a").arg("b").arg("a").arg("c").arg("a").query(&mut c).unwrap();
    let _: () = cmd("LSET").arg("l").arg(1).arg("B").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("LSET").arg("l").arg(9).arg("x")), "ERR index out of range");
    assert_eq!(err(&mut c, cmd("LSET").arg("nokey").arg(0).arg("x")), "ERR no such key");
    let n: i64 = cmd("LINSERT").arg("l").arg("BEFORE").arg("c").arg("x").query(&mut c).unwrap();
    assert_eq!(n, 6);
    let n: i64 = cmd("LINSERT").arg("l").arg("AFTER").arg("nope").arg("x").query(&mut c).unwrap();
    assert_eq!(n, -1);
    let n: i64 = cmd("LINSERT").arg("nokey").arg("AFTER").arg("a").arg("x").query(&mut c).unwrap();
    assert_eq!(n, 0);
    assert_eq!(err(&mut c, cmd("LINSERT").arg("l").arg("MIDDLE").arg("a").arg("x")), "ERR syntax error");
    assert_eq!(range(&mut c, "l"), vec!["a", "B", "a", "x", "c", "a"]);

    let p: Option<i64> = cmd("LPOS").arg("l").arg("a").query(&mut c).unwrap();
    assert_eq!(p, Some(0));
    let p: Option<i64> = cmd("LPOS").arg("l").arg("a").arg("RANK").arg(2).query(&mut c).unwrap();
    assert_eq!(p, Some(2));
    let p: Option<i64> = cmd("LPOS").arg("l").arg("a").arg("RANK").arg(-1).query(&mut c).unwrap();
    assert_eq!(p, Some(5));
    let p: Vec<i64> = cmd("LPOS").arg("l").arg("a").arg("COUNT").arg(0).query(&mut c).unwrap();
    assert_eq!(p, vec![0, 2, 5]);
    let p: Vec<i64> =
        cmd("LPOS").arg("l").arg("a").arg("COUNT").arg(0).arg("MAXLEN").arg(3).query(&mut c).unwrap();
    assert_eq!(p, vec![0, 2]);
    let p: Option<i64> = cmd("LPOS").arg("l").arg("zz").query(&mut c).unwrap();
    assert_eq!(p, None);
    assert!(
        err(&mut c, cmd("LPOS").arg("l").arg("a").arg("RANK").arg(0)).starts_with("ERR RANK can't be zero")
    );

    let n: i64 = cmd("LREM").arg("l").arg(-2).arg("a").query(&mut c).unwrap();
    assert_eq!(n, 2);
    assert_eq!(range(&mut c, "l"), vec!["a", "B", "x", "c"]);
    let n: i64 = cmd("LREM").arg("l").arg(0).arg("a").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let _: () = cmd("LTRIM").arg("l").arg(1).arg(-1).query(&mut c).unwrap();
    assert_eq!(range(&mut c, "l"), vec!["x", "c"]);
    let _: () = cmd("LTRIM").arg("l").arg(5).arg(10).query(&mut c).unwrap();
    let n: i64 = cmd("EXISTS").arg("l").query(&mut c).unwrap();
    assert_eq!(n, 0, "trimming everything deletes the list");
}

#[test]
fn move_and_mpop() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("RPUSH").arg("src").arg("a").arg("b").arg("c").query(&mut c).unwrap();
    let v: String = cmd("LMOVE").arg("src").arg("dst").arg("LEFT").arg("RIGHT").query(&mut c).unwrap();
    assert_eq!(v, "a");
    let v: String = cmd("RPOPLPUSH").arg("src").arg("dst").query(&mut c).unwrap();
    assert_eq!(v, "c");
    assert_eq!(range(&mut c, "dst"), vec!["c", "a"]);
    let v: String = cmd("LMOVE").arg("dst").arg("dst").arg("LEFT").arg("RIGHT").query(&mut c).unwrap();
    assert_eq!(v, "c");
    assert_eq!(range(&mut c, "dst"), vec!["a", "c"], "a list rotates onto itself");
    let v: Option<String> =
        cmd("LMOVE").arg("nokey").arg("dst").arg("LEFT").arg("LEFT").query(&mut c).unwrap();
    assert_eq!(v, None);
    let _: () = cmd("SET").arg("str").arg("x").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("LMOVE").arg("src").arg("str").arg("LEFT").arg("LEFT")), WRONGTYPE);
    assert_eq!(range(&mut c, "src"), vec!["b"], "nothing was popped for a wrong-type destination");

    let v: (String, Vec<String>) = cmd("LMPOP")
        .arg(3)
        .arg("none")
        .arg("dst")
        .arg("src")
        .arg("RIGHT")
        .arg("COUNT")
        .arg(5)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, ("dst".to_string(), vec!["c".to_string(), "a".to_string()]));
    let v: Value = cmd("LMPOP").arg(1).arg("none").arg("LEFT").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
    assert_eq!(err(&mut c, cmd("LMPOP").arg(0).arg("k").arg("LEFT")), "ERR numkeys should be greater than 0");
    assert_eq!(
        err(&mut c, cmd("LMPOP").arg(1).arg("src").arg("LEFT").arg("COUNT").arg(0)),
        "ERR count should be greater than 0"
    );
    let keys: Vec<String> = cmd("COMMAND")
        .arg("GETKEYS")
        .arg("LMPOP")
        .arg(2)
        .arg("a")
        .arg("b")
        .arg("LEFT")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec!["a", "b"], "LMPOP's keys come from numkeys");
}

#[test]
fn wrong_type_and_encodings() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("str").arg("x").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("LPUSH").arg("str").arg("a")), WRONGTYPE);
    assert_eq!(err(&mut c, cmd("LRANGE").arg("str").arg(0).arg(-1)), WRONGTYPE);
    let _: () = cmd("RPUSH").arg("l").arg("a").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("GET").arg("l")), WRONGTYPE);
    let t: String = cmd("TYPE").arg("l").query(&mut c).unwrap();
    assert_eq!(t, "list");
    let e: String = cmd("OBJECT").arg("ENCODING").arg("l").query(&mut c).unwrap();
    assert_eq!(e, "listpack");
    let _: () = cmd("CONFIG").arg("SET").arg("list-max-listpack-size").arg(4).query(&mut c).unwrap();
    let _: () = cmd("RPUSH").arg("l").arg("b").arg("c").arg("d").arg("e").query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("l").query(&mut c).unwrap();
    assert_eq!(e, "quicklist");
    let _: () = cmd("LTRIM").arg("l").arg(0).arg(0).query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("l").query(&mut c).unwrap();
    assert_eq!(e, "listpack", "a list that shrinks goes back to packed");
    assert_eq!(range(&mut c, "l"), vec!["a"]);
}

#[test]
fn blpop_waits_for_a_push_and_times_out() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("RPUSH").arg("ready").arg("x").query(&mut c).unwrap();
    let v: (String, String) = cmd("BLPOP").arg("empty").arg("ready").arg(1).query(&mut c).unwrap();
    assert_eq!(v, ("ready".into(), "x".into()), "data present: no wait");

    let started = Instant::now();
    let v: Value = cmd("BLPOP").arg("empty").arg("0.2").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(190), "waited for the timeout");

    let addr = s.addr;
    let pusher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let mut p = redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap();
        let _: () = cmd("RPUSH").arg("q").arg("hello").query(&mut p).unwrap();
    });
    let v: (String, String) = cmd("BRPOP").arg("q").arg(0).query(&mut c).unwrap();
    assert_eq!(v, ("q".into(), "hello".into()));
    pusher.join().unwrap();

    assert_eq!(err(&mut c, cmd("BLPOP").arg("q").arg("-1")), "ERR timeout is negative");
    assert_eq!(err(&mut c, cmd("BLPOP").arg("q").arg("abc")), "ERR timeout is not a float or out of range");
    let n: i64 = cmd("EXISTS").arg("q").query(&mut c).unwrap();
    assert_eq!(n, 0);
}

/// Waits until `n` clients are blocked.
fn wait_blocked(c: &mut redis::Connection, n: i64) {
    assert!(common::eventually(|| {
        let info: String = cmd("INFO").arg("clients").query(c).unwrap();
        info.lines().any(|l| l.trim() == format!("blocked_clients:{n}"))
    }));
}

#[test]
fn blocked_clients_are_served_in_order() {
    let s = TestServer::start();
    let mut c = s.conn();
    let mut waiters = Vec::new();
    for i in 0..3 {
        let addr = s.addr;
        waiters.push(std::thread::spawn(move || {
            let mut w = redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap();
            let v: (String, String) = cmd("BLPOP").arg("fifo").arg(10).query(&mut w).unwrap();
            (i, v.1)
        }));
        wait_blocked(&mut c, i + 1);
    }
    let _: () = cmd("RPUSH").arg("fifo").arg("first").arg("second").arg("third").query(&mut c).unwrap();
    let mut got: Vec<(i64, String)> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
    got.sort();
    assert_eq!(
        got,
        vec![(0, "first".into()), (1, "second".into()), (2, "third".into())],
        "the client that blocked first is served first"
    );
    wait_blocked(&mut c, 0);
}

#[test]
fn client_unblock_and_transactions() {
    let s = TestServer::start();
    let mut c = s.conn();
    for (how, expect_err) in [("TIMEOUT", false), ("ERROR", true)] {
        let addr = s.addr;
        let h = std::thread::spawn(move || {
            let mut w = redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap();
            let id: i64 = cmd("CLIENT").arg("ID").query(&mut w).unwrap();
            let _: () = cmd("SET").arg(format!("id:{how}")).arg(id).query(&mut w).unwrap();
            cmd("BLMOVE")
                .arg("nothing")
                .arg("dst")
                .arg("LEFT")
                .arg("LEFT")
                .arg(0)
                .query::<Option<String>>(&mut w)
        });
        wait_blocked(&mut c, 1);
        let id: i64 = cmd("GET").arg(format!("id:{how}")).query(&mut c).unwrap();
        let list: String = cmd("CLIENT").arg("LIST").arg("ID").arg(id).query(&mut c).unwrap();
        assert!(list.contains("flags=b"), "{list}");
        let n: i64 = cmd("CLIENT").arg("UNBLOCK").arg(id).arg(how).query(&mut c).unwrap();
        assert_eq!(n, 1);
        let r = h.join().unwrap();
        if expect_err {
            let e = r.unwrap_err();
            assert_eq!(common::error_text(&e), "UNBLOCKED client unblocked via CLIENT UNBLOCK");
        } else {
            assert_eq!(r.unwrap(), None);
        }
    }
    let n: i64 = cmd("CLIENT").arg("UNBLOCK").arg(99999).query(&mut c).unwrap();
    assert_eq!(n, 0);

    // Inside MULTI a blocking command answers at once.
    let (v,): (Value,) = redis::pipe().atomic().cmd("BLPOP").arg("nothing").arg(0).query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
}

#[test]
fn a_waiter_that_disconnects_loses_nothing() {
    let s = TestServer::start();
    let mut c = s.conn();
    // A raw client blocks, then goes away; a second waiter must still get the element.
    let mut gone = s.raw();
    gone.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nk\r\n$1\r\n0\r\n");
    wait_blocked(&mut c, 1);
    let addr = s.addr;
    let h = std::thread::spawn(move || {
        let mut w = redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap();
        let v: (String, String) = cmd("BLPOP").arg("k").arg(10).query(&mut w).unwrap();
        v.1
    });
    wait_blocked(&mut c, 2);
    drop(gone);
    wait_blocked(&mut c, 1);
    let _: () = cmd("RPUSH").arg("k").arg("kept").query(&mut c).unwrap();
    assert_eq!(h.join().unwrap(), "kept");
}

#[test]
fn blmove_moves_100000_elements_exactly_once() {
    let s = TestServer::start();
    let mut c = s.conn();
    const N: usize = 100_000;
    const CONSUMERS: usize = 4;
    let mut consumers = Vec::new();
    for _ in 0..CONSUMERS {
        let addr = s.addr;
        consumers.push(std::thread::spawn(move || {
            let mut w = redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap();
            let mut got = Vec::new();
            loop {
                // Moves from the work queue to a per-run done list; an element is
                // taken by exactly one consumer.
                let v: Option<String> = cmd("BLMOVE")
                    .arg("{q}work")
                    .arg("{q}done")
                    .arg("LEFT")
                    .arg("RIGHT")
                    .arg("0.5")
                    .query(&mut w)
                    .unwrap();
                match v {
                    Some(v) if v == "stop" => return got,
                    Some(v) => got.push(v),
                    None => {}
                }
            }
        }));
    }
    let mut p = s.conn();
    for chunk in (0..N).collect::<Vec<_>>().chunks(1000) {
        let mut push = cmd("RPUSH");
        push.arg("{q}work");
        for i in chunk {
            push.arg(i);
        }
        let _: () = push.query(&mut p).unwrap();
    }
    let mut stop = cmd("RPUSH");
    stop.arg("{q}work");
    for _ in 0..CONSUMERS {
        stop.arg("stop");
    }
    let _: () = stop.query(&mut p).unwrap();
    let mut all: Vec<usize> = Vec::with_capacity(N);
    for h in consumers {
        all.extend(h.join().unwrap().into_iter().map(|v| v.parse::<usize>().unwrap()));
    }
    assert_eq!(all.len(), N, "every element delivered");
    let unique: HashSet<usize> = all.iter().copied().collect();
    assert_eq!(unique.len(), N, "and each exactly once");
    let done: i64 = cmd("LLEN").arg("{q}done").query(&mut c).unwrap();
    assert_eq!(done as usize, N + CONSUMERS);
}

/// Two clients in BRPOPLPUSH from the same source, the first into a destination that
/// holds a string: a push answers the first with WRONGTYPE and the element goes to the
/// second, as in Redis (only a wrong-type destination is an error for a woken client).
#[test]
fn brpoplpush_into_a_wrong_type_destination_errors_and_passes_the_element_on() {
    let s = TestServer::start_with(&["threads", "1"]);
    let mut c = s.conn();
    let _: () = cmd("SET").arg("dst1").arg("a string").query(&mut c).unwrap();
    let addr = s.addr;
    let first = common::in_background(move || {
        cmd("BRPOPLPUSH").arg("src").arg("dst1").arg(0).query::<Option<String>>(&mut common::connect(addr))
    });
    wait_blocked(&mut c, 1);
    let second = common::in_background(move || {
        cmd("BRPOPLPUSH").arg("src").arg("dst2").arg(0).query::<Option<String>>(&mut common::connect(addr))
    });
    wait_blocked(&mut c, 2);
    let _: () = cmd("LPUSH").arg("src").arg("foo").query(&mut c).unwrap();
    assert_eq!(common::error_text(&first.result().unwrap_err()), WRONGTYPE);
    assert_eq!(second.result().unwrap().as_deref(), Some("foo"));
    assert_eq!(range(&mut c, "dst2"), vec!["foo"]);
    wait_blocked(&mut c, 0);
}

/// A client woken for a key that is no longer a list (or sorted set) by the time it
/// runs keeps waiting, as Redis re-checks the key; it is served by the next real push.
#[test]
fn a_woken_client_whose_key_changed_type_keeps_waiting() {
    let s = TestServer::start();
    let mut c = s.conn();
    let addr = s.addr;
    let cases: [(&str, redis::Cmd, &str, &str); 4] = [
        ("BLPOP", cmd("BLPOP").arg("k1").arg(0).clone(), "k1", "LPUSH"),
        ("BLMPOP", cmd("BLMPOP").arg(0).arg(1).arg("k2").arg("LEFT").clone(), "k2", "LPUSH"),
        ("BLMOVE", cmd("BLMOVE").arg("k3").arg("d3").arg("LEFT").arg("LEFT").arg(0).clone(), "k3", "LPUSH"),
        ("BZPOPMIN", cmd("BZPOPMIN").arg("k4").arg(0).clone(), "k4", "ZADD"),
    ];
    for (name, blocking, key, push) in cases {
        let waiter = common::in_background(move || blocking.query::<Value>(&mut common::connect(addr)));
        wait_blocked(&mut c, 1);
        let first: &[&str] = if push == "ZADD" { &["1", "a"] } else { &["a"] };
        let _: () = redis::pipe()
            .atomic()
            .cmd(push)
            .arg(key)
            .arg(first)
            .ignore()
            .cmd("DEL")
            .arg(key)
            .ignore()
            .cmd("SET")
            .arg(key)
            .arg("foo")
            .ignore()
            .query(&mut c)
            .unwrap();
        waiter.assert_waiting(Duration::from_millis(300));
        let _: () = cmd("DEL").arg(key).query(&mut c).unwrap();
        let second: &[&str] = if push == "ZADD" { &["2", "b"] } else { &["b"] };
        let _: () = cmd(push).arg(key).arg(second).query(&mut c).unwrap();
        let got = waiter.result().unwrap_or_else(|e| panic!("{name}: {e}"));
        let flat = flatten(&got);
        assert!(flat.contains(&"b".to_string()), "{name} got {flat:?}");
        wait_blocked(&mut c, 0);
    }
}

/// Every bulk string in a reply, depth first.
fn flatten(v: &Value) -> Vec<String> {
    match v {
        Value::BulkString(b) => vec![String::from_utf8_lossy(b).into_owned()],
        Value::Array(items) => items.iter().flat_map(flatten).collect(),
        _ => vec![],
    }
}
