//! Bitmaps, HyperLogLog and SORT over TCP with the `redis` crate.

mod common;

use common::{TestServer, err};
use redis::{Value, cmd};

#[test]
fn setbit_getbit_bitcount_bitpos() {
    let s = TestServer::start();
    let mut c = s.conn();
    let old: i64 = cmd("SETBIT").arg("b").arg(7).arg(1).query(&mut c).unwrap();
    assert_eq!(old, 0);
    let old: i64 = cmd("SETBIT").arg("b").arg(7).arg(1).query(&mut c).unwrap();
    assert_eq!(old, 1);
    let v: Vec<u8> = cmd("GET").arg("b").query(&mut c).unwrap();
    assert_eq!(v, vec![0x01], "bit 0 is the most significant bit");
    let _: () = cmd("SETBIT").arg("b").arg(16).arg(1).query(&mut c).unwrap();
    let n: i64 = cmd("STRLEN").arg("b").query(&mut c).unwrap();
    assert_eq!(n, 3, "SETBIT grows the string with zeros");
    let bit: i64 = cmd("GETBIT").arg("b").arg(16).query(&mut c).unwrap();
    assert_eq!(bit, 1);
    let bit: i64 = cmd("GETBIT").arg("b").arg(1000).query(&mut c).unwrap();
    assert_eq!(bit, 0);
    assert_eq!(
        err(&mut c, cmd("SETBIT").arg("b").arg(-1).arg(1)),
        "ERR bit offset is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, cmd("SETBIT").arg("b").arg(1).arg(2)),
        "ERR bit is not an integer or out of range"
    );

    let _: () = cmd("SET").arg("s").arg("foobar").query(&mut c).unwrap();
    let n: i64 = cmd("BITCOUNT").arg("s").query(&mut c).unwrap();
    assert_eq!(n, 26);
    let n: i64 = cmd("BITCOUNT").arg("s").arg(1).arg(1).query(&mut c).unwrap();
    assert_eq!(n, 6);
    let n: i64 = cmd("BITCOUNT").arg("s").arg(5).arg(30).arg("BIT").query(&mut c).unwrap();
    assert_eq!(n, 17);
    assert_eq!(err(&mut c, cmd("BITCOUNT").arg("s").arg(1)), "ERR syntax error");

    let _: () = cmd("SET").arg("p").arg(b"\xff\xf0\x00".as_slice()).query(&mut c).unwrap();
    let n: i64 = cmd("BITPOS").arg("p").arg(0).query(&mut c).unwrap();
    assert_eq!(n, 12);
    let _: () = cmd("SET").arg("p").arg(b"\x00\xff\xf0".as_slice()).query(&mut c).unwrap();
    let n: i64 = cmd("BITPOS").arg("p").arg(1).arg(0).query(&mut c).unwrap();
    assert_eq!(n, 8);
    let n: i64 = cmd("BITPOS").arg("p").arg(1).arg(2).query(&mut c).unwrap();
    assert_eq!(n, 16);
    let n: i64 = cmd("BITPOS").arg("p").arg(1).arg(7).arg(15).arg("BIT").query(&mut c).unwrap();
    assert_eq!(n, 8);
    let _: () = cmd("SET").arg("ones").arg(b"\xff\xff".as_slice()).query(&mut c).unwrap();
    let n: i64 = cmd("BITPOS").arg("ones").arg(0).query(&mut c).unwrap();
    assert_eq!(n, 16, "no clear bit and no end: the first bit past the string");
    let n: i64 = cmd("BITPOS").arg("ones").arg(0).arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(n, -1);
    let n: i64 = cmd("BITPOS").arg("missing").arg(1).query(&mut c).unwrap();
    assert_eq!(n, -1);
    let _: () = cmd("LPUSH").arg("l").arg("x").query(&mut c).unwrap();
    assert!(err(&mut c, cmd("SETBIT").arg("l").arg(1).arg(1)).starts_with("WRONGTYPE"));
}

#[test]
fn bitop_and_bitfield() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("{b}1").arg("foobar").query(&mut c).unwrap();
    let _: () = cmd("SET").arg("{b}2").arg("abcdef").query(&mut c).unwrap();
    let n: i64 = cmd("BITOP").arg("AND").arg("{b}d").arg("{b}1").arg("{b}2").query(&mut c).unwrap();
    assert_eq!(n, 6);
    let v: String = cmd("GET").arg("{b}d").query(&mut c).unwrap();
    assert_eq!(v, "`bc`ab");
    let _: i64 = cmd("BITOP").arg("NOT").arg("{b}n").arg("{b}1").query(&mut c).unwrap();
    let v: Vec<u8> = cmd("GET").arg("{b}n").query(&mut c).unwrap();
    assert_eq!(v, b"foobar".iter().map(|b| !b).collect::<Vec<u8>>());
    let n: i64 = cmd("BITOP").arg("OR").arg("{b}d").arg("{b}none").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("EXISTS").arg("{b}d").query(&mut c).unwrap();
    assert_eq!(n, 0, "an empty result deletes the destination");
    assert_eq!(
        err(&mut c, cmd("BITOP").arg("NOT").arg("{b}d").arg("{b}1").arg("{b}2")),
        "ERR BITOP NOT must be called with a single source key."
    );

    let v: Vec<i64> = cmd("BITFIELD")
        .arg("bf")
        .arg("SET")
        .arg("i8")
        .arg(0)
        .arg(100)
        .arg("GET")
        .arg("u4")
        .arg(0)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec![0, 6]);
    let v: Vec<i64> =
        cmd("BITFIELD").arg("bf").arg("INCRBY").arg("i8").arg(0).arg(100).query(&mut c).unwrap();
    assert_eq!(v, vec![-56], "WRAP by default");
    let v: Vec<i64> = cmd("BITFIELD")
        .arg("bf")
        .arg("OVERFLOW")
        .arg("SAT")
        .arg("INCRBY")
        .arg("i8")
        .arg(0)
        .arg(-100)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec![-128]);
    let v: Vec<Option<i64>> = cmd("BITFIELD")
        .arg("bf")
        .arg("OVERFLOW")
        .arg("FAIL")
        .arg("INCRBY")
        .arg("u2")
        .arg("#5")
        .arg(4)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec![None]);
    let v: Vec<i64> = cmd("BITFIELD")
        .arg("bf")
        .arg("SET")
        .arg("u8")
        .arg("#1")
        .arg(255)
        .arg("GET")
        .arg("u8")
        .arg(8)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec![0, 255], "#N offsets count fields");
    let v: Vec<i64> = cmd("BITFIELD_RO").arg("bf").arg("GET").arg("i8").arg(0).query(&mut c).unwrap();
    assert_eq!(v, vec![-128]);
    assert_eq!(
        err(&mut c, cmd("BITFIELD_RO").arg("bf").arg("SET").arg("i8").arg(0).arg(1)),
        "ERR BITFIELD_RO only supports the GET subcommand"
    );
    assert!(
        err(&mut c, cmd("BITFIELD").arg("bf").arg("GET").arg("u64").arg(0))
            .starts_with("ERR Invalid bitfield type")
    );
    let v: Vec<i64> = cmd("BITFIELD").arg("nokey").arg("GET").arg("u8").arg(0).query(&mut c).unwrap();
    assert_eq!(v, vec![0]);
    let n: i64 = cmd("EXISTS").arg("nokey").query(&mut c).unwrap();
    assert_eq!(n, 0, "a GET-only BITFIELD creates nothing");
}

#[test]
fn hyperloglog_counts_within_bounds() {
    let s = TestServer::start();
    let mut c = s.conn();
    let n: i64 = cmd("PFADD").arg("{h}a").arg("x").arg("y").arg("z").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("PFADD").arg("{h}a").arg("x").query(&mut c).unwrap();
    assert_eq!(n, 0, "nothing changed");
    let n: i64 = cmd("PFCOUNT").arg("{h}a").query(&mut c).unwrap();
    assert_eq!(n, 3);
    for chunk in (0..20_000).collect::<Vec<i32>>().chunks(1000) {
        let mut add = cmd("PFADD");
        add.arg("{h}big");
        for i in chunk {
            add.arg(format!("item:{i}"));
        }
        let _: () = add.query(&mut c).unwrap();
    }
    let n: f64 = cmd("PFCOUNT").arg("{h}big").query(&mut c).unwrap();
    assert!((n - 20_000.0).abs() / 20_000.0 < 0.05, "estimate {n}");
    let _: () = cmd("PFMERGE").arg("{h}m").arg("{h}a").arg("{h}big").query(&mut c).unwrap();
    let merged: f64 = cmd("PFCOUNT").arg("{h}m").query(&mut c).unwrap();
    let union: f64 = cmd("PFCOUNT").arg("{h}a").arg("{h}big").query(&mut c).unwrap();
    assert_eq!(merged, union);
    let t: String = cmd("TYPE").arg("{h}m").query(&mut c).unwrap();
    assert_eq!(t, "string");
    let _: () = cmd("SET").arg("{h}plain").arg("hello").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("PFADD").arg("{h}plain").arg("x")),
        "WRONGTYPE Key is not a valid HyperLogLog string value."
    );
    let n: i64 = cmd("PFCOUNT").arg("{h}none").query(&mut c).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn sort_by_weights_get_limit_store() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("RPUSH").arg("l").arg(3).arg(1).arg(10).arg(2).query(&mut c).unwrap();
    let v: Vec<String> = cmd("SORT").arg("l").query(&mut c).unwrap();
    assert_eq!(v, vec!["1", "2", "3", "10"]);
    let v: Vec<String> = cmd("SORT").arg("l").arg("ALPHA").arg("DESC").query(&mut c).unwrap();
    assert_eq!(v, vec!["3", "2", "10", "1"]);
    let v: Vec<String> = cmd("SORT").arg("l").arg("LIMIT").arg(1).arg(2).query(&mut c).unwrap();
    assert_eq!(v, vec!["2", "3"]);
    for (id, w) in [(1, 40), (2, 30), (3, 20), (10, 10)] {
        let _: () = cmd("SET").arg(format!("w_{id}")).arg(w).query(&mut c).unwrap();
        let _: () =
            cmd("HSET").arg(format!("obj_{id}")).arg("name").arg(format!("n{id}")).query(&mut c).unwrap();
    }
    let v: Vec<String> = cmd("SORT").arg("l").arg("BY").arg("w_*").query(&mut c).unwrap();
    assert_eq!(v, vec!["10", "3", "2", "1"]);
    let v: Vec<Option<String>> = cmd("SORT")
        .arg("l")
        .arg("BY")
        .arg("w_*")
        .arg("GET")
        .arg("#")
        .arg("GET")
        .arg("obj_*->name")
        .arg("GET")
        .arg("nope_*")
        .query(&mut c)
        .unwrap();
    assert_eq!(v[..3], [Some("10".into()), Some("n10".into()), None]);
    let v: Vec<String> = cmd("SORT").arg("l").arg("BY").arg("nosort").query(&mut c).unwrap();
    assert_eq!(v, vec!["3", "1", "10", "2"], "a pattern without * keeps the order");
    let n: i64 = cmd("SORT").arg("l").arg("DESC").arg("STORE").arg("dst").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let v: Vec<String> = cmd("LRANGE").arg("dst").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(v, vec!["10", "3", "2", "1"]);
    let _: () = cmd("SADD").arg("s").arg("b").arg("a").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("SORT").arg("s")), "ERR One or more scores can't be converted into double");
    let v: Vec<String> = cmd("SORT_RO").arg("s").arg("ALPHA").query(&mut c).unwrap();
    assert_eq!(v, vec!["a", "b"]);
    assert_eq!(err(&mut c, cmd("SORT_RO").arg("s").arg("STORE").arg("x")), "ERR syntax error");
    let v: Value = cmd("SORT").arg("missing").query(&mut c).unwrap();
    assert_eq!(v, Value::Array(vec![]));
}

/// BY a constant (no `*`): lists and sorted sets keep their own order, reversed by
/// DESC, with LIMIT; STORE of a set sorts it lexicographically so what is stored does
/// not depend on the set's layout; the last of several STOREs is the destination, and
/// an empty result deletes it.
#[test]
fn sort_by_nosort_keeps_native_order() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("ZADD").arg("z").arg(3).arg("c").arg(1).arg("b").arg(2).arg("a").query(&mut c).unwrap();
    let sorted = |c: &mut redis::Connection, args: &[&str]| -> Vec<String> {
        let mut command = cmd("SORT");
        for a in args {
            command.arg(*a);
        }
        command.query(c).unwrap()
    };
    assert_eq!(sorted(&mut c, &["z", "BY", "nosort"]), ["b", "a", "c"]);
    assert_eq!(sorted(&mut c, &["z", "BY", "nosort", "DESC"]), ["c", "a", "b"]);
    assert_eq!(sorted(&mut c, &["z", "BY", "nosort", "DESC", "LIMIT", "1", "1"]), ["a"]);
    let _: () = cmd("RPUSH").arg("l").arg("x").arg("z").arg("y").query(&mut c).unwrap();
    assert_eq!(sorted(&mut c, &["l", "BY", "nosort", "DESC"]), ["y", "z", "x"]);
    let members: Vec<String> = (0..50).map(|i| format!("m{i:02}")).collect();
    let _: () = cmd("SADD").arg("s").arg(&members).query(&mut c).unwrap();
    let n: i64 = cmd("SORT")
        .arg("s")
        .arg("BY")
        .arg("nosort")
        .arg("STORE")
        .arg("d1")
        .arg("STORE")
        .arg("d2")
        .query(&mut c)
        .unwrap();
    assert_eq!(n, 50);
    let stored: Vec<String> = cmd("LRANGE").arg("d2").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(stored, members, "a set stored BY a constant is sorted lexicographically");
    let exists: i64 = cmd("EXISTS").arg("d1").query(&mut c).unwrap();
    assert_eq!(exists, 0, "only the last STORE is written");
    let keys: Vec<String> = cmd("COMMAND")
        .arg("GETKEYS")
        .arg("SORT")
        .arg("s")
        .arg("STORE")
        .arg("d1")
        .arg("STORE")
        .arg("d2")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["s", "d2"]);
    let n: i64 = cmd("SORT").arg("missing").arg("STORE").arg("d2").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let exists: i64 = cmd("EXISTS").arg("d2").query(&mut c).unwrap();
    assert_eq!(exists, 0, "an empty result deletes the destination");
}

/// rdb_changes_since_last_save counts each write that changed a key; a SETBIT or
/// BITFIELD that changes no bit (and neither creates nor grows the string) is no
/// change, as in Redis.
#[test]
fn dirty_counter_counts_only_real_changes() {
    let s = TestServer::start();
    let mut c = s.conn();
    let dirty =
        |c: &mut redis::Connection| common::info_field(c, "persistence", "rdb_changes_since_last_save");
    let start = dirty(&mut c);
    let _: () = cmd("SET").arg("a").arg("1").query(&mut c).unwrap();
    assert_eq!(dirty(&mut c), start + 1);
    let _: i64 = cmd("SETBIT").arg("bits").arg(7).arg(1).query(&mut c).unwrap();
    assert_eq!(dirty(&mut c), start + 2, "created");
    let _: i64 = cmd("SETBIT").arg("bits").arg(7).arg(1).query(&mut c).unwrap();
    assert_eq!(dirty(&mut c), start + 2, "the same bit again changes nothing");
    let _: i64 = cmd("SETBIT").arg("bits").arg(100).arg(0).query(&mut c).unwrap();
    assert_eq!(dirty(&mut c), start + 3, "a 0 bit that grows the string is a change");
    let _: Vec<i64> = cmd("BITFIELD").arg("bits").arg("SET").arg("u8").arg(0).arg(1).query(&mut c).unwrap();
    assert_eq!(dirty(&mut c), start + 3, "writing the value already there");
    let _: Vec<i64> =
        cmd("BITFIELD").arg("bits").arg("INCRBY").arg("u8").arg(0).arg(1).query(&mut c).unwrap();
    assert_eq!(dirty(&mut c), start + 4);
    let _: Option<String> = cmd("GET").arg("a").query(&mut c).unwrap();
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    assert_eq!(dirty(&mut c), start + 4, "reads change nothing and RESETSTAT keeps the counter");
}

/// A HyperLogLog's bytes damaged with SETRANGE or APPEND (the way Redis's own tests
/// corrupt them), in both forms: PFCOUNT, PFADD and PFMERGE answer INVALIDOBJ, never a
/// wrong count, and the server keeps serving; a broken magic is WRONGTYPE.
#[test]
fn corrupted_hyperloglogs_are_detected() {
    let s = TestServer::start();
    let mut c = s.conn();
    const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
    let fresh = |c: &mut redis::Connection, key: &str, n: usize| {
        let _: () = cmd("DEL").arg(key).query(c).unwrap();
        let items: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
        let _: () = cmd("PFADD").arg(key).arg(&items).query(c).unwrap();
    };
    let check = |c: &mut redis::Connection, key: &str, why: &str| {
        assert_eq!(err(c, cmd("PFCOUNT").arg(key)), CORRUPT, "PFCOUNT, {why}");
        assert_eq!(err(c, cmd("PFADD").arg(key).arg("more")), CORRUPT, "PFADD, {why}");
        assert_eq!(err(c, cmd("PFMERGE").arg("{x}dst").arg(key)), CORRUPT, "PFMERGE, {why}");
    };
    // Redis's own cases (hyperloglog.tcl): a sparse body that does not add up to the
    // registers is corrupted; a broken header is not a HyperLogLog at all.
    const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    fresh(&mut c, "{x}s", 3);
    let _: i64 = cmd("APPEND").arg("{x}s").arg("hello").query(&mut c).unwrap();
    check(&mut c, "{x}s", "sparse with bytes appended");
    fresh(&mut c, "{x}s", 3);
    let len: usize = cmd("STRLEN").arg("{x}s").query(&mut c).unwrap();
    let _: i64 = cmd("SETRANGE").arg("{x}s").arg(len - 1).arg("\u{3f}").query(&mut c).unwrap();
    check(&mut c, "{x}s", "sparse runs past the registers");
    for (offset, bytes, why) in
        [(0, "0123", "broken magic"), (4, "x", "invalid encoding"), (4, "\u{0}", "dense, wrong length")]
    {
        fresh(&mut c, "{x}m", 3);
        let _: i64 = cmd("SETRANGE").arg("{x}m").arg(offset).arg(bytes).query(&mut c).unwrap();
        assert_eq!(err(&mut c, cmd("PFCOUNT").arg("{x}m")), NOT_HLL, "{why}");
    }
    fresh(&mut c, "{x}d", 5000);
    let _: i64 = cmd("APPEND").arg("{x}d").arg("x").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("PFCOUNT").arg("{x}d")), NOT_HLL, "dense with a byte appended");
    // Redis's bytes: the header, and the same body Redis 7.0 writes for the same adds.
    fresh(&mut c, "{x}s", 3);
    let bytes: Vec<u8> = cmd("GET").arg("{x}s").query(&mut c).unwrap();
    assert_eq!(&bytes[..5], b"HYLL\x01", "sparse");
    fresh(&mut c, "{x}d", 5000);
    let bytes: Vec<u8> = cmd("GET").arg("{x}d").query(&mut c).unwrap();
    assert_eq!((&bytes[..5], bytes.len()), (&b"HYLL\x00"[..], 12304), "dense");
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
}

/// The dirty counter counts as Redis 7.0 counts: elements for multi-element writes
/// (pushes, set members added or removed, hash fields set, sorted-set members added or
/// changed, BITFIELD operations), keys for MSET and DEL, one for the rest, nothing for a
/// write that changed nothing (LTRIM of the whole list, SETNX of an existing key, errors).
/// Every write command in several shapes, in order from an empty server; the expected
/// increments were measured on redis-server 7.0.15 with the same sequence.
#[test]
fn dirty_counter_counts_like_redis() {
    let s = TestServer::start();
    let mut c = s.conn();
    let cases: &[(&[&str], u64)] = &[
        (&["SET", "a", "1"], 1),
        (&["SET", "a", "1", "NX"], 0),
        (&["SET", "a", "2", "XX", "GET"], 1),
        (&["SET", "a", "3", "KEEPTTL"], 1),
        (&["SET", "a", "4", "EX", "100"], 1),
        (&["SET", "a", "4", "PX", "100000", "GET"], 1),
        (&["SET", "nx1", "4", "NX", "EX", "100"], 1),
        (&["SETNX", "a", "1"], 0),
        (&["SETNX", "b", "1"], 1),
        (&["SETEX", "c", "100", "v"], 1),
        (&["PSETEX", "c", "100000", "v"], 1),
        (&["GETSET", "a", "9"], 1),
        (&["MSETNX", "a", "1", "z", "2"], 0),
        (&["MSETNX", "y", "1", "z", "2"], 2),
        (&["MSET", "a", "1", "b", "2", "a", "3"], 3),
        (&["APPEND", "a", "xyz"], 1),
        (&["APPEND", "new", "xyz"], 1),
        (&["SETRANGE", "a", "0", "zz"], 1),
        (&["SETRANGE", "a", "0", "zz"], 1),
        (&["SETRANGE", "empty", "0", ""], 0),
        (&["SETRANGE", "empty2", "3", ""], 0),
        (&["INCR", "n"], 1),
        (&["INCRBY", "n", "5"], 1),
        (&["DECR", "n"], 1),
        (&["DECRBY", "n", "2"], 1),
        (&["INCRBYFLOAT", "f", "1.5"], 1),
        (&["INCR", "a"], 0),
        (&["GETDEL", "a"], 1),
        (&["GETDEL", "a"], 0),
        (&["GETEX", "b", "EX", "100"], 1),
        (&["GETEX", "b", "PERSIST"], 1),
        (&["GETEX", "b"], 0),
        (&["GETEX", "nokey", "EX", "10"], 0),
        (&["SETBIT", "bits", "7", "1"], 1),
        (&["SETBIT", "bits", "7", "1"], 0),
        (&["BITFIELD", "bf", "SET", "u8", "0", "255", "INCRBY", "u8", "8", "1"], 2),
        (&["BITFIELD", "bf", "GET", "u8", "0"], 0),
        (&["BITFIELD", "bf", "SET", "u8", "0", "255"], 0),
        (&["BITFIELD", "bf", "SET", "u8", "0", "255", "SET", "u8", "8", "3"], 1),
        (&["BITFIELD", "bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "10"], 0),
        (&["BITFIELD", "bf2", "OVERFLOW", "FAIL", "SET", "u8", "0", "1000"], 0),
        (&["BITFIELD", "bf", "SET", "u8", "100", "0", "SET", "u8", "0", "255"], 2),
        (&["SETBIT", "bits", "100", "0"], 1),
        (&["BITOP", "AND", "dest", "bits", "bf"], 1),
        (&["BITOP", "OR", "dest", "nokey1", "nokey2"], 1),
        (&["EXPIRE", "b", "100"], 1),
        (&["EXPIRE", "b", "100", "NX"], 0),
        (&["EXPIRE", "nokey", "100"], 0),
        (&["PEXPIRE", "b", "100000"], 1),
        (&["EXPIREAT", "b", "99999999999"], 1),
        (&["PEXPIREAT", "b", "99999999999000"], 1),
        (&["EXPIRE", "b", "0"], 1),
        (&["PERSIST", "c"], 1),
        (&["PERSIST", "c"], 0),
        (&["COPY", "n", "n2"], 1),
        (&["COPY", "n", "n2"], 0),
        (&["COPY", "n", "n2", "REPLACE"], 1),
        (&["RENAME", "n2", "n3"], 1),
        (&["RENAMENX", "n3", "n"], 0),
        (&["RENAMENX", "n3", "n4"], 1),
        (&["MOVE", "n4", "1"], 1),
        (&["MOVE", "nokey", "1"], 0),
        (&["SWAPDB", "0", "1"], 1),
        (&["SWAPDB", "0", "1"], 1),
        (&["DEL", "n", "n3", "nokey"], 1),
        (&["UNLINK", "f", "nokey"], 1),
        (&["LPUSH", "l", "a", "b", "c"], 3),
        (&["LPUSHX", "l", "d"], 1),
        (&["LPUSHX", "nol", "d"], 0),
        (&["RPUSH", "l", "e"], 1),
        (&["RPUSHX", "l", "f"], 1),
        (&["LINSERT", "l", "BEFORE", "a", "x"], 1),
        (&["LINSERT", "l", "BEFORE", "nosuch", "x"], 0),
        (&["LSET", "l", "0", "y"], 1),
        (&["LREM", "l", "1", "a"], 1),
        (&["LTRIM", "l", "0", "-1"], 0),
        (&["LTRIM", "l", "0", "2"], 3),
        (&["LPOP", "l"], 1),
        (&["RPOP", "l", "2"], 2),
        (&["LPOP", "nol"], 0),
        (&["RPUSH", "l2", "a", "b", "c", "d"], 4),
        (&["LMOVE", "l2", "l3", "LEFT", "RIGHT"], 1),
        (&["RPOPLPUSH", "l2", "l3"], 1),
        (&["BLMOVE", "l2", "l3", "LEFT", "LEFT", "0"], 1),
        (&["BRPOPLPUSH", "l3", "l2", "0"], 1),
        (&["BLPOP", "l2", "0"], 1),
        (&["BRPOP", "l2", "l3", "0"], 1),
        (&["LMPOP", "2", "l2", "l3", "RIGHT", "COUNT", "5"], 2),
        (&["RPUSH", "l3", "x", "y"], 2),
        (&["BLMPOP", "0", "1", "l3", "LEFT", "COUNT", "5"], 2),
        (&["RPUSH", "l4", "a", "b"], 2),
        (&["LTRIM", "l4", "5", "10"], 2),
        (&["HSET", "h", "a", "1", "b", "2"], 2),
        (&["HSET", "h", "a", "1"], 1),
        (&["HSET", "h", "a", "2", "c", "3"], 2),
        (&["HMSET", "h", "a", "1", "d", "4"], 2),
        (&["HSETNX", "h", "a", "1"], 0),
        (&["HSETNX", "h", "z", "1"], 1),
        (&["HINCRBY", "h", "a", "5"], 1),
        (&["HINCRBYFLOAT", "h", "a", "1.5"], 1),
        (&["HDEL", "h", "a", "b", "nosuch"], 2),
        (&["HDEL", "h", "c", "d", "z"], 3),
        (&["SADD", "s", "a", "b", "c", "d"], 4),
        (&["SADD", "s", "a"], 0),
        (&["SREM", "s", "a", "x"], 1),
        (&["SMOVE", "s", "s2", "b"], 2),
        (&["SMOVE", "s", "s2", "nosuch"], 0),
        (&["SPOP", "s"], 1),
        (&["SPOP", "s", "5"], 1),
        (&["SADD", "s1", "a", "b", "c"], 3),
        (&["SADD", "s3", "b", "c", "d"], 3),
        (&["SINTERSTORE", "sd", "s1", "s3"], 1),
        (&["SUNIONSTORE", "sd", "s1", "s3"], 1),
        (&["SDIFFSTORE", "sd", "s1", "s3"], 1),
        (&["SDIFFSTORE", "sd", "nokey"], 1),
        (&["SINTERSTORE", "sd", "nokey", "s1"], 0),
        (&["ZADD", "z", "1", "a", "2", "b", "3", "c"], 0),
        (&["ZADD", "z", "1", "a"], 0),
        (&["ZADD", "z", "5", "a"], 0),
        (&["ZADD", "z", "CH", "5", "a", "6", "b"], 0),
        (&["ZADD", "z", "NX", "9", "a", "10", "d"], 0),
        (&["ZADD", "z", "XX", "9", "a", "10", "e"], 0),
        (&["ZADD", "z", "INCR", "1", "a"], 0),
        (&["ZADD", "z", "GT", "1", "a"], 0),
        (&["ZINCRBY", "z", "1", "a"], 0),
        (&["ZINCRBY", "z", "1", "new"], 0),
        (&["ZREM", "z", "new", "nosuch"], 0),
        (&["ZREMRANGEBYSCORE", "z", "0", "1"], 0),
        (&["ZREMRANGEBYRANK", "z", "0", "0"], 0),
        (&["ZREMRANGEBYLEX", "z", "[a", "[a"], 0),
        (&["ZADD", "z2", "1", "a", "2", "b", "3", "c", "4", "d"], 4),
        (&["ZPOPMIN", "z2"], 1),
        (&["ZPOPMAX", "z2", "2"], 2),
        (&["BZPOPMIN", "z2", "0"], 1),
        (&["ZADD", "z2", "1", "a", "2", "b", "3", "c", "4", "d"], 4),
        (&["BZPOPMAX", "z2", "0"], 1),
        (&["ZMPOP", "1", "z2", "MIN", "COUNT", "2"], 2),
        (&["BZMPOP", "0", "1", "z2", "MAX", "COUNT", "9"], 1),
        (&["ZADD", "za", "1", "a", "2", "b", "3", "c"], 3),
        (&["ZADD", "zb", "1", "b", "2", "c", "3", "d"], 3),
        (&["ZUNIONSTORE", "zd", "2", "za", "zb"], 1),
        (&["ZINTERSTORE", "zd", "2", "za", "zb"], 1),
        (&["ZDIFFSTORE", "zd", "2", "za", "zb"], 1),
        (&["ZRANGESTORE", "zd", "za", "0", "-1"], 1),
        (&["ZRANGESTORE", "zd", "nokey", "0", "-1"], 1),
        (&["ZINTERSTORE", "zd", "2", "nokey", "za"], 0),
        (&["PFADD", "hll", "a", "b", "c"], 4),
        (&["PFADD", "hll", "a"], 0),
        (&["PFADD", "hll2", "x"], 2),
        (&["PFMERGE", "hll3", "hll", "hll2"], 1),
        (&["PFMERGE", "hll3"], 1),
        (&["RPUSH", "sl", "3", "1", "2"], 3),
        (&["SORT", "sl", "STORE", "sd2"], 3),
        (&["SORT", "sl", "LIMIT", "0", "1", "STORE", "sd2"], 1),
        (&["SET", "s9", "x"], 1),
        (&["SORT", "nokey", "STORE", "s9"], 1),
        (&["LPUSH", "bl", "a"], 1),
        (&["LSET", "bl", "0", "a"], 1),
        (&["SADD", "sm", "a"], 1),
        (&["SMOVE", "sm", "sm", "a"], 0),
        (&["SET", "sx", "v"], 1),
        (&["EXPIRE", "sx", "100", "GT"], 0),
        (&["PEXPIRE", "sx", "1000", "LT"], 1),
        (&["EXPIRE", "sx", "-1"], 1),
        (&["FLUSHDB"], 20),
        (&["FLUSHALL"], 1),
    ];
    let dirty =
        |c: &mut redis::Connection| common::info_field(c, "persistence", "rdb_changes_since_last_save");
    for (args, expected) in cases {
        let before = dirty(&mut c);
        // Some cases are errors (a wrong type, a failed overflow); none may block.
        if let Err(e) = cmd(args[0]).arg(&args[1..]).query::<redis::Value>(&mut c) {
            assert!(
                e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError)
                    || e.code().is_some(),
                "{args:?}: {e}"
            );
        }
        assert_eq!(dirty(&mut c) - before, *expected, "{args:?}");
    }
}
