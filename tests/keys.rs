//! Generic key commands over TCP: existence, TTLs, rename/copy/move, iteration,
//! databases, OBJECT, and active expiry.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{TestServer, err, eventually};
use redis::cmd;

#[test]
fn del_exists_touch_type_unlink() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("MSET").arg("a").arg(1).arg("b").arg(2).arg("c").arg(3).query(&mut c).unwrap();
    let n: i64 = cmd("EXISTS").arg("a").arg("b").arg("a").arg("zz").query(&mut c).unwrap();
    assert_eq!(n, 3, "EXISTS counts repeated keys");
    let n: i64 = cmd("TOUCH").arg("a").arg("zz").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let t: String = cmd("TYPE").arg("a").query(&mut c).unwrap();
    assert_eq!(t, "string");
    let t: String = cmd("TYPE").arg("zz").query(&mut c).unwrap();
    assert_eq!(t, "none");
    let n: i64 = cmd("DEL").arg("a").arg("b").arg("zz").query(&mut c).unwrap();
    assert_eq!(n, 2);
    let n: i64 = cmd("UNLINK").arg("c").arg("c").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn expire_family_with_flags() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let r: i64 = cmd("EXPIRE").arg("k").arg(100).arg("XX").query(&mut c).unwrap();
    assert_eq!(r, 0, "XX on a key without TTL");
    let r: i64 = cmd("EXPIRE").arg("k").arg(100).arg("GT").query(&mut c).unwrap();
    assert_eq!(r, 0, "GT: no TTL counts as infinite");
    let r: i64 = cmd("EXPIRE").arg("k").arg(100).arg("NX").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let r: i64 = cmd("EXPIRE").arg("k").arg(200).arg("NX").query(&mut c).unwrap();
    assert_eq!(r, 0);
    let r: i64 = cmd("EXPIRE").arg("k").arg(50).arg("GT").query(&mut c).unwrap();
    assert_eq!(r, 0);
    let r: i64 = cmd("EXPIRE").arg("k").arg(200).arg("GT").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let r: i64 = cmd("EXPIRE").arg("k").arg(300).arg("LT").query(&mut c).unwrap();
    assert_eq!(r, 0);
    let r: i64 = cmd("PEXPIRE").arg("k").arg(150_000).arg("LT").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let ttl: i64 = cmd("TTL").arg("k").query(&mut c).unwrap();
    assert_eq!(ttl, 150);
    let at = 4_000_000_000i64;
    let r: i64 = cmd("EXPIREAT").arg("k").arg(at).query(&mut c).unwrap();
    assert_eq!(r, 1);
    let got: i64 = cmd("EXPIRETIME").arg("k").query(&mut c).unwrap();
    assert_eq!(got, at);
    let r: i64 = cmd("PEXPIREAT").arg("k").arg(at * 1000 + 1).query(&mut c).unwrap();
    assert_eq!(r, 1);
    let got: i64 = cmd("PEXPIRETIME").arg("k").query(&mut c).unwrap();
    assert_eq!(got, at * 1000 + 1);
    let r: i64 = cmd("PERSIST").arg("k").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let r: i64 = cmd("PERSIST").arg("k").query(&mut c).unwrap();
    assert_eq!(r, 0);
    for c2 in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        let v: i64 = cmd(c2).arg("k").query(&mut c).unwrap();
        assert_eq!(v, -1, "{c2} without TTL");
        let v: i64 = cmd(c2).arg("nokey").query(&mut c).unwrap();
        assert_eq!(v, -2, "{c2} of a missing key");
    }
    let r: i64 = cmd("EXPIRE").arg("nokey").arg(10).query(&mut c).unwrap();
    assert_eq!(r, 0);
    // A TTL in the past deletes the key and reports 1.
    let r: i64 = cmd("EXPIRE").arg("k").arg(-1).query(&mut c).unwrap();
    assert_eq!(r, 1);
    let n: i64 = cmd("EXISTS").arg("k").query(&mut c).unwrap();
    assert_eq!(n, 0);

    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("EXPIRE").arg("k").arg(10).arg("NX").arg("XX")),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, cmd("EXPIRE").arg("k").arg(10).arg("GT").arg("LT")),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(err(&mut c, cmd("EXPIRE").arg("k").arg(10).arg("FOO")), "ERR Unsupported option FOO");
    assert_eq!(
        err(&mut c, cmd("EXPIRE").arg("k").arg("9223372036854775807")),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err(&mut c, cmd("PEXPIRE").arg("k").arg("9223372036854775807")),
        "ERR invalid expire time in 'pexpire' command"
    );
    assert_eq!(err(&mut c, cmd("EXPIRE").arg("k").arg("x")), "ERR value is not an integer or out of range");
}

#[test]
fn lazy_expiry_hides_keys_at_once() {
    let s = TestServer::start_with(&["hz", "1"]);
    let mut c = s.conn();
    let _: () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("k").arg("v").arg("PX").arg(30).query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(60));
    let v: Option<String> = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, None);
    let info: String = cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(info.contains("expired_keys:1\r\n"), "{info}");
}

#[test]
fn active_expiry_removes_untouched_keys() {
    let s = TestServer::start();
    let mut c = s.conn();
    for i in 0..200 {
        let _: () = cmd("SET").arg(format!("tmp:{i}")).arg("v").arg("PX").arg(50).query(&mut c).unwrap();
    }
    let _: () = cmd("SET").arg("keep").arg("v").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("keep2").arg("v").arg("EX").arg(1000).query(&mut c).unwrap();
    let gone = eventually(|| cmd("DBSIZE").query::<i64>(&mut c).unwrap() == 2);
    assert!(gone, "keys set with PX 50 are removed without being touched");
    let info: String = cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("db0:keys=2,expires=1,avg_ttl=0"), "{info}");

    // With active expiry off, untouched keys stay counted until accessed.
    let _: () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(0).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("late").arg("v").arg("PX").arg(100).query(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 3);
    let _: () = cmd("DEBUG").arg("SET-ACTIVE-EXPIRE").arg(1).query(&mut c).unwrap();
    assert!(eventually(|| cmd("DBSIZE").query::<i64>(&mut c).unwrap() == 2));
}

#[test]
fn rename_renamenx_copy_move() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("src").arg("v").arg("EX").arg(100).query(&mut c).unwrap();
    let _: () = cmd("RENAME").arg("src").arg("dst").query(&mut c).unwrap();
    let v: String = cmd("GET").arg("dst").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let ttl: i64 = cmd("TTL").arg("dst").query(&mut c).unwrap();
    assert!(ttl > 0, "RENAME keeps the TTL");
    let n: i64 = cmd("EXISTS").arg("src").query(&mut c).unwrap();
    assert_eq!(n, 0);
    assert_eq!(err(&mut c, cmd("RENAME").arg("nosuch").arg("x")), "ERR no such key");
    let _: () = cmd("RENAME").arg("dst").arg("dst").query(&mut c).unwrap();

    let _: () = cmd("SET").arg("other").arg("o").query(&mut c).unwrap();
    let r: i64 = cmd("RENAMENX").arg("dst").arg("other").query(&mut c).unwrap();
    assert_eq!(r, 0);
    let r: i64 = cmd("RENAMENX").arg("dst").arg("fresh").query(&mut c).unwrap();
    assert_eq!(r, 1);
    assert_eq!(err(&mut c, cmd("RENAMENX").arg("nosuch").arg("x")), "ERR no such key");

    let r: i64 = cmd("COPY").arg("fresh").arg("copy1").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let r: i64 = cmd("COPY").arg("fresh").arg("other").query(&mut c).unwrap();
    assert_eq!(r, 0, "COPY without REPLACE keeps the destination");
    let r: i64 = cmd("COPY").arg("fresh").arg("other").arg("REPLACE").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let v: String = cmd("GET").arg("other").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let r: i64 = cmd("COPY").arg("fresh").arg("indb3").arg("DB").arg(3).query(&mut c).unwrap();
    assert_eq!(r, 1);
    let r: i64 = cmd("COPY").arg("nosuch").arg("x").query(&mut c).unwrap();
    assert_eq!(r, 0);
    assert_eq!(
        err(&mut c, cmd("COPY").arg("fresh").arg("fresh")),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut c, cmd("COPY").arg("fresh").arg("x").arg("DB").arg(99)),
        "ERR DB index is out of range"
    );
    // APPEND makes a raw (heap) string; COPY must deep-copy it.
    let _: i64 = cmd("APPEND").arg("raw").arg("abc").query(&mut c).unwrap();
    let _: i64 = cmd("APPEND").arg("raw").arg("def").query(&mut c).unwrap();
    let _: i64 = cmd("COPY").arg("raw").arg("raw2").query(&mut c).unwrap();
    let _: i64 = cmd("APPEND").arg("raw").arg("ghi").query(&mut c).unwrap();
    let v: String = cmd("GET").arg("raw2").query(&mut c).unwrap();
    assert_eq!(v, "abcdef");

    let r: i64 = cmd("MOVE").arg("fresh").arg(1).query(&mut c).unwrap();
    assert_eq!(r, 1);
    let n: i64 = cmd("EXISTS").arg("fresh").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let _: () = cmd("SELECT").arg(1).query(&mut c).unwrap();
    let v: String = cmd("GET").arg("fresh").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let _: () = cmd("SET").arg("clash").arg("1").query(&mut c).unwrap();
    let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("clash").arg("0").query(&mut c).unwrap();
    let r: i64 = cmd("MOVE").arg("clash").arg(1).query(&mut c).unwrap();
    assert_eq!(r, 0, "MOVE does not overwrite");
    assert_eq!(
        err(&mut c, cmd("MOVE").arg("clash").arg(0)),
        "ERR source and destination objects are the same"
    );
    assert_eq!(err(&mut c, cmd("MOVE").arg("clash").arg(16)), "ERR DB index is out of range");
}

#[test]
fn databases_select_swapdb_flush() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("a").arg("db0").query(&mut c).unwrap();
    let _: () = cmd("SELECT").arg(5).query(&mut c).unwrap();
    let _: () = cmd("SET").arg("a").arg("db5").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("b").arg("db5").query(&mut c).unwrap();
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 2);
    assert_eq!(err(&mut c, cmd("SELECT").arg(16)), "ERR DB index is out of range");
    assert_eq!(err(&mut c, cmd("SELECT").arg("x")), "ERR value is not an integer or out of range");

    let _: () = cmd("SWAPDB").arg(0).arg(5).query(&mut c).unwrap();
    let v: String = cmd("GET").arg("a").query(&mut c).unwrap();
    assert_eq!(v, "db0", "db 5 now holds what db 0 held");
    let mut c2 = s.conn();
    let v: String = cmd("GET").arg("a").query(&mut c2).unwrap();
    assert_eq!(v, "db5", "another client on db 0 sees the swapped data");
    assert_eq!(err(&mut c, cmd("SWAPDB").arg(0).arg(16)), "ERR DB index is out of range");
    assert_eq!(err(&mut c, cmd("SWAPDB").arg("x").arg(1)), "ERR invalid first DB index");
    assert_eq!(err(&mut c, cmd("SWAPDB").arg(1).arg("y")), "ERR invalid second DB index");

    let _: () = cmd("FLUSHDB").query(&mut c2).unwrap();
    let n: i64 = cmd("DBSIZE").query(&mut c2).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 1, "FLUSHDB leaves other databases alone");
    let _: () = cmd("FLUSHALL").arg("ASYNC").query(&mut c2).unwrap();
    let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let _: () = cmd("FLUSHALL").arg("SYNC").query(&mut c2).unwrap();
    assert_eq!(err(&mut c, cmd("FLUSHALL").arg("NOW")), "ERR syntax error");
}

#[test]
fn keys_scan_randomkey() {
    let s = TestServer::start();
    let mut c = s.conn();
    let r: Option<String> = cmd("RANDOMKEY").query(&mut c).unwrap();
    assert_eq!(r, None);
    for i in 0..500 {
        let _: () = cmd("SET").arg(format!("user:{i}")).arg(i).query(&mut c).unwrap();
    }
    for i in 0..20 {
        let _: () = cmd("SET").arg(format!("other:{i}")).arg(i).query(&mut c).unwrap();
    }
    let mut keys: Vec<String> = cmd("KEYS").arg("other:*").query(&mut c).unwrap();
    keys.sort();
    assert_eq!(keys.len(), 20);
    let all: Vec<String> = cmd("KEYS").arg("*").query(&mut c).unwrap();
    assert_eq!(all.len(), 520);
    let one: Vec<String> = cmd("KEYS").arg("user:1?").query(&mut c).unwrap();
    assert_eq!(one.len(), 10);

    let r: String = cmd("RANDOMKEY").query(&mut c).unwrap();
    assert!(r.starts_with("user:") || r.starts_with("other:"));

    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut rounds = 0;
    loop {
        let (next, batch): (String, Vec<String>) =
            cmd("SCAN").arg(&cursor).arg("MATCH").arg("user:*").arg("COUNT").arg(50).query(&mut c).unwrap();
        seen.extend(batch);
        cursor = next;
        rounds += 1;
        if cursor == "0" || rounds > 20_000 {
            break;
        }
    }
    assert_eq!(cursor, "0");
    assert_eq!(seen.len(), 500);
    assert!(seen.iter().all(|k| k.starts_with("user:")));
    let (_, batch): (String, Vec<String>) =
        cmd("SCAN").arg(0).arg("TYPE").arg("hash").arg("COUNT").arg(10_000).query(&mut c).unwrap();
    assert!(batch.is_empty());
    assert_eq!(err(&mut c, cmd("SCAN").arg("abc")), "ERR invalid cursor");
    assert_eq!(err(&mut c, cmd("SCAN").arg(0).arg("COUNT").arg(0)), "ERR syntax error");
    assert_eq!(err(&mut c, cmd("SCAN").arg(0).arg("MATCH")), "ERR syntax error");
}

/// Keys present for the whole iteration are all returned, whatever is written during it.
#[test]
fn scan_survives_concurrent_writes() {
    let s = TestServer::start();
    let mut c = s.conn();
    for i in 0..2000 {
        let _: () = cmd("SET").arg(format!("stable:{i}")).arg(i).query(&mut c).unwrap();
    }
    let writer_conn = s.conn();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut w = writer_conn;
        let mut i = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) && i < 200_000 {
            let _: () = cmd("SET").arg(format!("churn:{i}")).arg(i).query(&mut w).unwrap();
            if i.is_multiple_of(3) {
                let _: i64 = cmd("DEL").arg(format!("churn:{}", i / 2)).query(&mut w).unwrap();
            }
            i += 1;
        }
    });
    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    for _ in 0..100_000 {
        let (next, batch): (String, Vec<String>) =
            cmd("SCAN").arg(&cursor).arg("COUNT").arg(20).query(&mut c).unwrap();
        seen.extend(batch.into_iter().filter(|k| k.starts_with("stable:")));
        cursor = next;
        if cursor == "0" {
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(cursor, "0");
    assert_eq!(seen.len(), 2000);
}

#[test]
fn object_subcommands() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let enc: String = cmd("OBJECT").arg("ENCODING").arg("k").query(&mut c).unwrap();
    assert_eq!(enc, "embstr");
    let idle: i64 = cmd("OBJECT").arg("IDLETIME").arg("k").query(&mut c).unwrap();
    assert!((0..=1).contains(&idle));
    let rc: i64 = cmd("OBJECT").arg("REFCOUNT").arg("k").query(&mut c).unwrap();
    assert_eq!(rc, 1);
    let none: Option<String> = cmd("OBJECT").arg("ENCODING").arg("missing").query(&mut c).unwrap();
    assert_eq!(none, None);
    assert!(
        err(&mut c, cmd("OBJECT").arg("FREQ").arg("k"))
            .starts_with("ERR An LFU maxmemory policy is not selected")
    );
    let help: Vec<String> = cmd("OBJECT").arg("HELP").query(&mut c).unwrap();
    assert!(help[0].starts_with("OBJECT <subcommand>"));
    assert_eq!(
        err(&mut c, cmd("OBJECT").arg("FOO").arg("k")),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    );
    assert_eq!(
        err(&mut c, cmd("OBJECT").arg("ENCODING")),
        "ERR wrong number of arguments for 'object|encoding' command"
    );
}
