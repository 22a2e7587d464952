//! String commands over TCP with the `redis` crate: happy paths and Redis's error replies.

mod common;

use common::{TestServer, err};
use redis::{Value, cmd};

#[test]
fn get_set_and_options() {
    let s = TestServer::start();
    let mut c = s.conn();
    let v: Option<String> = cmd("GET").arg("nokey").query(&mut c).unwrap();
    assert_eq!(v, None);
    let _: () = cmd("SET").arg("k").arg("v1").query(&mut c).unwrap();
    let v: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v1");

    // NX / XX
    let r: Option<String> = cmd("SET").arg("k").arg("v2").arg("NX").query(&mut c).unwrap();
    assert_eq!(r, None);
    let r: Option<String> = cmd("SET").arg("new").arg("x").arg("XX").query(&mut c).unwrap();
    assert_eq!(r, None);
    let r: Option<String> = cmd("SET").arg("k").arg("v2").arg("XX").query(&mut c).unwrap();
    assert_eq!(r.as_deref(), Some("OK"));

    // GET option returns the old value
    let old: Option<String> = cmd("SET").arg("k").arg("v3").arg("GET").query(&mut c).unwrap();
    assert_eq!(old.as_deref(), Some("v2"));
    let old: Option<String> = cmd("SET").arg("fresh").arg("a").arg("GET").query(&mut c).unwrap();
    assert_eq!(old, None);
    let old: Option<String> = cmd("SET").arg("k").arg("v4").arg("NX").arg("GET").query(&mut c).unwrap();
    assert_eq!(old.as_deref(), Some("v3"), "NX GET returns the old value and does not set");
    let v: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v3");

    // Expiry options
    let _: () = cmd("SET").arg("e").arg("1").arg("EX").arg(100).query(&mut c).unwrap();
    let ttl: i64 = cmd("TTL").arg("e").query(&mut c).unwrap();
    assert!((99..=100).contains(&ttl), "{ttl}");
    let _: () = cmd("SET").arg("e").arg("1").arg("PX").arg(100_000).query(&mut c).unwrap();
    let pttl: i64 = cmd("PTTL").arg("e").query(&mut c).unwrap();
    assert!(pttl > 99_000 && pttl <= 100_000, "{pttl}");
    let _: () = cmd("SET").arg("e").arg("2").arg("KEEPTTL").query(&mut c).unwrap();
    let pttl: i64 = cmd("PTTL").arg("e").query(&mut c).unwrap();
    assert!(pttl > 0, "KEEPTTL keeps the TTL");
    let _: () = cmd("SET").arg("e").arg("3").query(&mut c).unwrap();
    let ttl: i64 = cmd("TTL").arg("e").query(&mut c).unwrap();
    assert_eq!(ttl, -1, "plain SET clears the TTL");
    let future = 4_000_000_000i64;
    let _: () = cmd("SET").arg("e").arg("1").arg("EXAT").arg(future).query(&mut c).unwrap();
    let at: i64 = cmd("EXPIRETIME").arg("e").query(&mut c).unwrap();
    assert_eq!(at, future);
    let _: () = cmd("SET").arg("e").arg("1").arg("PXAT").arg(future * 1000 + 5).query(&mut c).unwrap();
    let at: i64 = cmd("PEXPIRETIME").arg("e").query(&mut c).unwrap();
    assert_eq!(at, future * 1000 + 5);
    let _: () = cmd("SET").arg("past").arg("1").arg("PXAT").arg(1).query(&mut c).unwrap();
    let n: i64 = cmd("EXISTS").arg("past").query(&mut c).unwrap();
    assert_eq!(n, 0, "a SET with an expiry in the past leaves no key");

    // Errors
    assert_eq!(err(&mut c, cmd("SET").arg("k").arg("v").arg("NX").arg("XX")), "ERR syntax error");
    assert_eq!(err(&mut c, cmd("SET").arg("k").arg("v").arg("EX")), "ERR syntax error");
    assert_eq!(
        err(&mut c, cmd("SET").arg("k").arg("v").arg("EX").arg(1).arg("PX").arg(1)),
        "ERR syntax error"
    );
    assert_eq!(err(&mut c, cmd("SET").arg("k").arg("v").arg("EX").arg(1).arg("KEEPTTL")), "ERR syntax error");
    assert_eq!(err(&mut c, cmd("SET").arg("k").arg("v").arg("FOO")), "ERR syntax error");
    assert_eq!(
        err(&mut c, cmd("SET").arg("k").arg("v").arg("EX").arg("abc")),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        err(&mut c, cmd("SET").arg("k").arg("v").arg("EX").arg(0)),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(&mut c, cmd("SET").arg("k").arg("v").arg("EX").arg("9223372036854775807")),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(&mut c, cmd("SET").arg("k").arg("v").arg("PX").arg("9223372036854775807")),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(err(&mut c, cmd("SET").arg("k")), "ERR wrong number of arguments for 'set' command");
    assert_eq!(err(&mut c, cmd("GET")), "ERR wrong number of arguments for 'get' command");
    let v: String = cmd("GET").arg("k").query(&mut c).unwrap();
    assert_eq!(v, "v3", "failed commands change nothing");
}

#[test]
fn setnx_setex_psetex_getset_getdel_getex() {
    let s = TestServer::start();
    let mut c = s.conn();
    let r: i64 = cmd("SETNX").arg("a").arg("1").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let r: i64 = cmd("SETNX").arg("a").arg("2").query(&mut c).unwrap();
    assert_eq!(r, 0);
    let _: () = cmd("SETEX").arg("b").arg(50).arg("x").query(&mut c).unwrap();
    let ttl: i64 = cmd("TTL").arg("b").query(&mut c).unwrap();
    assert!((49..=50).contains(&ttl));
    let _: () = cmd("PSETEX").arg("b").arg(5000).arg("y").query(&mut c).unwrap();
    let pttl: i64 = cmd("PTTL").arg("b").query(&mut c).unwrap();
    assert!(pttl > 4000 && pttl <= 5000);
    assert_eq!(
        err(&mut c, cmd("SETEX").arg("b").arg(-1).arg("x")),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        err(&mut c, cmd("PSETEX").arg("b").arg(0).arg("x")),
        "ERR invalid expire time in 'psetex' command"
    );

    let old: Option<String> = cmd("GETSET").arg("a").arg("3").query(&mut c).unwrap();
    assert_eq!(old.as_deref(), Some("1"));
    let old: Option<String> = cmd("GETSET").arg("none").arg("3").query(&mut c).unwrap();
    assert_eq!(old, None);

    let v: Option<String> = cmd("GETDEL").arg("a").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("3"));
    let v: Option<String> = cmd("GETDEL").arg("a").query(&mut c).unwrap();
    assert_eq!(v, None);

    let _: () = cmd("SET").arg("g").arg("val").query(&mut c).unwrap();
    let v: String = cmd("GETEX").arg("g").arg("EX").arg(100).query(&mut c).unwrap();
    assert_eq!(v, "val");
    let ttl: i64 = cmd("TTL").arg("g").query(&mut c).unwrap();
    assert!((99..=100).contains(&ttl));
    let _: String = cmd("GETEX").arg("g").arg("PERSIST").query(&mut c).unwrap();
    let ttl: i64 = cmd("TTL").arg("g").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
    let _: String = cmd("GETEX").arg("g").arg("PXAT").arg(1).query(&mut c).unwrap();
    let n: i64 = cmd("EXISTS").arg("g").query(&mut c).unwrap();
    assert_eq!(n, 0, "GETEX with a past time deletes the key");
    let v: Option<String> = cmd("GETEX").arg("missing").query(&mut c).unwrap();
    assert_eq!(v, None);
    assert_eq!(err(&mut c, cmd("GETEX").arg("g").arg("EX").arg(1).arg("PERSIST")), "ERR syntax error");
    assert_eq!(
        err(&mut c, cmd("GETEX").arg("g").arg("EX").arg(0)),
        "ERR invalid expire time in 'getex' command"
    );
}

#[test]
fn mget_mset_msetnx_across_shards() {
    let s = TestServer::start();
    let mut c = s.conn();
    let keys: Vec<String> = (0..50).map(|i| format!("key:{i}")).collect();
    let mut m = cmd("MSET");
    for k in &keys {
        m.arg(k).arg(format!("v-{k}"));
    }
    let _: () = m.query(&mut c).unwrap();
    let mut g = cmd("MGET");
    for k in &keys {
        g.arg(k);
    }
    g.arg("missing");
    let vals: Vec<Option<String>> = g.query(&mut c).unwrap();
    assert_eq!(vals.len(), 51);
    for (k, v) in keys.iter().zip(vals.iter()) {
        assert_eq!(v.as_deref(), Some(format!("v-{k}").as_str()));
    }
    assert_eq!(vals[50], None);

    let r: i64 = cmd("MSETNX").arg("n1").arg("a").arg("n2").arg("b").query(&mut c).unwrap();
    assert_eq!(r, 1);
    let r: i64 = cmd("MSETNX").arg("n3").arg("a").arg("n1").arg("b").query(&mut c).unwrap();
    assert_eq!(r, 0);
    let n: i64 = cmd("EXISTS").arg("n3").query(&mut c).unwrap();
    assert_eq!(n, 0, "MSETNX sets nothing when any key exists");
    assert_eq!(
        err(&mut c, cmd("MSET").arg("a").arg("b").arg("c")),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        err(&mut c, cmd("MSETNX").arg("a").arg("b").arg("c")),
        "ERR wrong number of arguments for 'msetnx' command"
    );
}

#[test]
fn counters_and_overflow() {
    let s = TestServer::start();
    let mut c = s.conn();
    let v: i64 = cmd("INCR").arg("n").query(&mut c).unwrap();
    assert_eq!(v, 1);
    let v: i64 = cmd("INCRBY").arg("n").arg(41).query(&mut c).unwrap();
    assert_eq!(v, 42);
    let v: i64 = cmd("DECR").arg("n").query(&mut c).unwrap();
    assert_eq!(v, 41);
    let v: i64 = cmd("DECRBY").arg("n").arg(50).query(&mut c).unwrap();
    assert_eq!(v, -9);
    let v: String = cmd("GET").arg("n").query(&mut c).unwrap();
    assert_eq!(v, "-9");
    let _: () = cmd("SET").arg("n").arg(i64::MAX).query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("INCR").arg("n")), "ERR increment or decrement would overflow");
    let _: () = cmd("SET").arg("n").arg(i64::MIN).query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("DECR").arg("n")), "ERR increment or decrement would overflow");
    assert_eq!(err(&mut c, cmd("DECRBY").arg("x").arg(i64::MIN)), "ERR decrement would overflow");
    let _: () = cmd("SET").arg("s").arg("abc").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("INCR").arg("s")), "ERR value is not an integer or out of range");
    let _: () = cmd("SET").arg("s").arg(" 1").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("INCR").arg("s")), "ERR value is not an integer or out of range");
    assert_eq!(err(&mut c, cmd("INCRBY").arg("n").arg("1.5")), "ERR value is not an integer or out of range");
    // INCR keeps the TTL.
    let _: () = cmd("SET").arg("t").arg(1).arg("EX").arg(100).query(&mut c).unwrap();
    let _: i64 = cmd("INCR").arg("t").query(&mut c).unwrap();
    let ttl: i64 = cmd("TTL").arg("t").query(&mut c).unwrap();
    assert!(ttl > 0);

    let v: String = cmd("INCRBYFLOAT").arg("f").arg("10.5").query(&mut c).unwrap();
    assert_eq!(v, "10.5");
    let v: String = cmd("INCRBYFLOAT").arg("f").arg("0.1").query(&mut c).unwrap();
    assert_eq!(v, "10.6");
    let v: String = cmd("INCRBYFLOAT").arg("f").arg("-5.6").query(&mut c).unwrap();
    assert_eq!(v, "5");
    let v: String = cmd("INCRBYFLOAT").arg("f").arg("5.0e3").query(&mut c).unwrap();
    assert_eq!(v, "5005");
    let _: () = cmd("SET").arg("f").arg("1.7976931348623157e308").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("INCRBYFLOAT").arg("f").arg("1.7976931348623157e308")),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(
        err(&mut c, cmd("INCRBYFLOAT").arg("f").arg("inf")),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(err(&mut c, cmd("INCRBYFLOAT").arg("f").arg("nan")), "ERR value is not a valid float");
    assert_eq!(err(&mut c, cmd("INCRBYFLOAT").arg("s").arg("1")), "ERR value is not a valid float");
}

#[test]
fn append_strlen_ranges() {
    let s = TestServer::start();
    let mut c = s.conn();
    let n: i64 = cmd("APPEND").arg("a").arg("Hello").query(&mut c).unwrap();
    assert_eq!(n, 5);
    let n: i64 = cmd("APPEND").arg("a").arg(" World").query(&mut c).unwrap();
    assert_eq!(n, 11);
    let v: String = cmd("GET").arg("a").query(&mut c).unwrap();
    assert_eq!(v, "Hello World");
    let enc: String = cmd("OBJECT").arg("ENCODING").arg("a").query(&mut c).unwrap();
    assert_eq!(enc, "raw");
    for _ in 0..1000 {
        let _: i64 = cmd("APPEND").arg("a").arg("!").query(&mut c).unwrap();
    }
    let n: i64 = cmd("STRLEN").arg("a").query(&mut c).unwrap();
    assert_eq!(n, 1011);
    let n: i64 = cmd("STRLEN").arg("missing").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let _: () = cmd("SET").arg("i").arg(12345).query(&mut c).unwrap();
    let n: i64 = cmd("STRLEN").arg("i").query(&mut c).unwrap();
    assert_eq!(n, 5);
    let n: i64 = cmd("APPEND").arg("i").arg("6").query(&mut c).unwrap();
    assert_eq!(n, 6);
    let v: i64 = cmd("INCR").arg("i").query(&mut c).unwrap();
    assert_eq!(v, 123457, "an appended integer string still counts");

    let _: () = cmd("SET").arg("r").arg("This is a string").query(&mut c).unwrap();
    for (start, end, want) in [
        (0, 3, "This"),
        (-3, -1, "ing"),
        (0, -1, "This is a string"),
        (10, 100, "string"),
        (5, 3, ""),
        (-1, -5, ""),
    ] {
        let v: String = cmd("GETRANGE").arg("r").arg(start).arg(end).query(&mut c).unwrap();
        assert_eq!(v, want, "GETRANGE {start} {end}");
    }
    let v: String = cmd("SUBSTR").arg("r").arg(0).arg(3).query(&mut c).unwrap();
    assert_eq!(v, "This");
    let v: String = cmd("GETRANGE").arg("missing").arg(0).arg(3).query(&mut c).unwrap();
    assert_eq!(v, "");

    let n: i64 = cmd("SETRANGE").arg("sr").arg(6).arg("Redis").query(&mut c).unwrap();
    assert_eq!(n, 11);
    let v: Vec<u8> = cmd("GET").arg("sr").query(&mut c).unwrap();
    assert_eq!(v, b"\0\0\0\0\0\0Redis");
    let _: () = cmd("SET").arg("sr").arg("Hello World").query(&mut c).unwrap();
    let n: i64 = cmd("SETRANGE").arg("sr").arg(6).arg("Redis").query(&mut c).unwrap();
    assert_eq!(n, 11);
    let v: String = cmd("GET").arg("sr").query(&mut c).unwrap();
    assert_eq!(v, "Hello Redis");
    let n: i64 = cmd("SETRANGE").arg("empty").arg(5).arg("").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("EXISTS").arg("empty").query(&mut c).unwrap();
    assert_eq!(n, 0, "SETRANGE with an empty value creates nothing");
    assert_eq!(err(&mut c, cmd("SETRANGE").arg("sr").arg(-1).arg("x")), "ERR offset is out of range");
    assert_eq!(
        err(&mut c, cmd("SETRANGE").arg("sr").arg(536870911).arg("xx")),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
}

#[test]
fn lcs_variants() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("MSET").arg("key1").arg("ohmytext").arg("key2").arg("mynewtext").query(&mut c).unwrap();
    let v: String = cmd("LCS").arg("key1").arg("key2").query(&mut c).unwrap();
    assert_eq!(v, "mytext");
    let n: i64 = cmd("LCS").arg("key1").arg("key2").arg("LEN").query(&mut c).unwrap();
    assert_eq!(n, 6);
    let v: Value = cmd("LCS")
        .arg("key1")
        .arg("key2")
        .arg("IDX")
        .arg("MINMATCHLEN")
        .arg(4)
        .arg("WITHMATCHLEN")
        .query(&mut c)
        .unwrap();
    let expected = Value::Array(vec![
        Value::BulkString(b"matches".to_vec()),
        Value::Array(vec![Value::Array(vec![
            Value::Array(vec![Value::Int(4), Value::Int(7)]),
            Value::Array(vec![Value::Int(5), Value::Int(8)]),
            Value::Int(4),
        ])]),
        Value::BulkString(b"len".to_vec()),
        Value::Int(6),
    ]);
    assert_eq!(v, expected);
    assert_eq!(
        err(&mut c, cmd("LCS").arg("key1").arg("key2").arg("LEN").arg("IDX")),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    let v: String = cmd("LCS").arg("key1").arg("nokey").query(&mut c).unwrap();
    assert_eq!(v, "");
}

#[test]
fn integer_strings_and_encodings() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("n").arg(123456).query(&mut c).unwrap();
    let v: String = cmd("GETRANGE").arg("n").arg(1).arg(2).query(&mut c).unwrap();
    assert_eq!(v, "23");
    let enc: String = cmd("OBJECT").arg("ENCODING").arg("n").query(&mut c).unwrap();
    assert_eq!(enc, "int");
    let _: () = cmd("SET").arg("long").arg("x".repeat(45)).query(&mut c).unwrap();
    let enc: String = cmd("OBJECT").arg("ENCODING").arg("long").query(&mut c).unwrap();
    assert_eq!(enc, "raw");
    let _: () = cmd("SET").arg("short").arg("x".repeat(44)).query(&mut c).unwrap();
    let enc: String = cmd("OBJECT").arg("ENCODING").arg("short").query(&mut c).unwrap();
    assert_eq!(enc, "embstr");
}

#[test]
fn binary_safe_values() {
    let s = TestServer::start();
    let mut c = s.conn();
    let value: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let key = b"bin\x00key\r\n".to_vec();
    let _: () = cmd("SET").arg(&key).arg(&value).query(&mut c).unwrap();
    let got: Vec<u8> = cmd("GET").arg(&key).query(&mut c).unwrap();
    assert_eq!(got, value);
}
