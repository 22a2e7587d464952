//! Sorted-set and set commands over TCP with the `redis` crate: replies, score and lex
//! ranges, pops, algebra, encodings, errors, RESP3 shapes.

mod common;

use std::collections::HashSet;

use common::{TestServer, err};
use redis::{Value, cmd};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn zrange(c: &mut redis::Connection, key: &str) -> Vec<(String, f64)> {
    cmd("ZRANGE").arg(key).arg(0).arg(-1).arg("WITHSCORES").query(c).unwrap()
}

#[test]
fn zadd_flags_scores_and_ranks() {
    let s = TestServer::start();
    let mut c = s.conn();
    let n: i64 =
        cmd("ZADD").arg("z").arg(1).arg("a").arg(2).arg("b").arg("1.5").arg("c").query(&mut c).unwrap();
    assert_eq!(n, 3);
    assert_eq!(zrange(&mut c, "z"), vec![("a".into(), 1.0), ("c".into(), 1.5), ("b".into(), 2.0)]);
    let n: i64 = cmd("ZADD").arg("z").arg("NX").arg(9).arg("a").arg(3).arg("d").query(&mut c).unwrap();
    assert_eq!(n, 1, "NX only adds");
    let n: i64 =
        cmd("ZADD").arg("z").arg("XX").arg("CH").arg(5).arg("a").arg(7).arg("new").query(&mut c).unwrap();
    assert_eq!(n, 1, "XX only updates; CH counts the change");
    let n: i64 =
        cmd("ZADD").arg("z").arg("GT").arg("CH").arg(1).arg("a").arg(6).arg("b").query(&mut c).unwrap();
    assert_eq!(n, 1, "GT refuses a lower score");
    let v: f64 = cmd("ZSCORE").arg("z").arg("a").query(&mut c).unwrap();
    assert_eq!(v, 5.0);
    let v: Option<f64> = cmd("ZADD").arg("z").arg("INCR").arg("2.5").arg("a").query(&mut c).unwrap();
    assert_eq!(v, Some(7.5));
    let v: Option<f64> = cmd("ZADD").arg("z").arg("NX").arg("INCR").arg(1).arg("a").query(&mut c).unwrap();
    assert_eq!(v, None, "an aborted INCR answers nil");
    let v: f64 = cmd("ZINCRBY").arg("z").arg("-0.5").arg("a").query(&mut c).unwrap();
    assert_eq!(v, 7.0);
    let n: i64 = cmd("ZCARD").arg("z").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let r: Option<i64> = cmd("ZRANK").arg("z").arg("a").query(&mut c).unwrap();
    assert_eq!(r, Some(3));
    let r: Option<i64> = cmd("ZREVRANK").arg("z").arg("a").query(&mut c).unwrap();
    assert_eq!(r, Some(0));
    let r: (i64, f64) = cmd("ZRANK").arg("z").arg("c").arg("WITHSCORE").query(&mut c).unwrap();
    assert_eq!(r, (0, 1.5));
    let r: Option<i64> = cmd("ZRANK").arg("z").arg("nope").query(&mut c).unwrap();
    assert_eq!(r, None);
    let v: Vec<Option<f64>> = cmd("ZMSCORE").arg("z").arg("c").arg("nope").query(&mut c).unwrap();
    assert_eq!(v, vec![Some(1.5), None]);

    assert_eq!(
        err(&mut c, cmd("ZADD").arg("z").arg("NX").arg("XX").arg(1).arg("a")),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, cmd("ZADD").arg("z").arg("GT").arg("LT").arg(1).arg("a")),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, cmd("ZADD").arg("z").arg("INCR").arg(1).arg("a").arg(2).arg("b")),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(err(&mut c, cmd("ZADD").arg("z").arg("x").arg("a")), "ERR value is not a valid float");
    assert_eq!(err(&mut c, cmd("ZADD").arg("z").arg(1).arg("a").arg(2)), "ERR syntax error");
    let _: () = cmd("ZADD").arg("inf").arg("+inf").arg("x").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("ZINCRBY").arg("inf").arg("-inf").arg("x")),
        "ERR resulting score is not a number (NaN)"
    );
    let v: String = cmd("ZSCORE").arg("inf").arg("x").query(&mut c).unwrap();
    assert_eq!(v, "inf");
    let n: i64 = cmd("ZADD").arg("fresh").arg("XX").arg(1).arg("a").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("EXISTS").arg("fresh").query(&mut c).unwrap();
    assert_eq!(n, 0, "ZADD XX creates nothing");
}

#[test]
fn ranges_by_rank_score_and_lex() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("ZADD")
        .arg("z")
        .arg(1)
        .arg("a")
        .arg(2)
        .arg("b")
        .arg(3)
        .arg("c")
        .arg(4)
        .arg("d")
        .arg(5)
        .arg("e")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = cmd("ZRANGE").arg("z").arg(1).arg(-2).query(&mut c).unwrap();
    assert_eq!(v, vec!["b", "c", "d"]);
    let v: Vec<String> = cmd("ZRANGE").arg("z").arg(0).arg(1).arg("REV").query(&mut c).unwrap();
    assert_eq!(v, vec!["e", "d"]);
    let v: Vec<String> = cmd("ZREVRANGE").arg("z").arg(0).arg(1).query(&mut c).unwrap();
    assert_eq!(v, vec!["e", "d"]);
    let v: Vec<String> = cmd("ZRANGE").arg("z").arg("(2").arg("4").arg("BYSCORE").query(&mut c).unwrap();
    assert_eq!(v, vec!["c", "d"]);
    let v: Vec<String> = cmd("ZRANGE")
        .arg("z")
        .arg("+inf")
        .arg("(3")
        .arg("BYSCORE")
        .arg("REV")
        .arg("LIMIT")
        .arg(1)
        .arg(5)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["d"]);
    let v: Vec<String> = cmd("ZRANGEBYSCORE")
        .arg("z")
        .arg("-inf")
        .arg("+inf")
        .arg("LIMIT")
        .arg(2)
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["c", "d"]);
    let v: Vec<(String, f64)> =
        cmd("ZREVRANGEBYSCORE").arg("z").arg(5).arg("(3").arg("WITHSCORES").query(&mut c).unwrap();
    assert_eq!(v, vec![("e".into(), 5.0), ("d".into(), 4.0)]);
    let n: i64 = cmd("ZCOUNT").arg("z").arg("(1").arg(3).query(&mut c).unwrap();
    assert_eq!(n, 2);
    assert_eq!(err(&mut c, cmd("ZCOUNT").arg("z").arg("x").arg(3)), "ERR min or max is not a float");

    let _: () = cmd("ZADD")
        .arg("lex")
        .arg(0)
        .arg("a")
        .arg(0)
        .arg("b")
        .arg(0)
        .arg("c")
        .arg(0)
        .arg("d")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = cmd("ZRANGEBYLEX").arg("lex").arg("[b").arg("(d").query(&mut c).unwrap();
    assert_eq!(v, vec!["b", "c"]);
    let v: Vec<String> = cmd("ZREVRANGEBYLEX").arg("lex").arg("+").arg("(b").query(&mut c).unwrap();
    assert_eq!(v, vec!["d", "c"]);
    let v: Vec<String> = cmd("ZRANGE")
        .arg("lex")
        .arg("-")
        .arg("+")
        .arg("BYLEX")
        .arg("LIMIT")
        .arg(1)
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec!["b", "c"]);
    let n: i64 = cmd("ZLEXCOUNT").arg("lex").arg("-").arg("[c").query(&mut c).unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        err(&mut c, cmd("ZRANGEBYLEX").arg("lex").arg("b").arg("+")),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        err(&mut c, cmd("ZRANGE").arg("z").arg(0).arg(1).arg("LIMIT").arg(0).arg(1)),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );

    let n: i64 = cmd("ZRANGESTORE").arg("dst").arg("z").arg(2).arg(4).arg("BYSCORE").query(&mut c).unwrap();
    assert_eq!(n, 3);
    assert_eq!(zrange(&mut c, "dst"), vec![("b".into(), 2.0), ("c".into(), 3.0), ("d".into(), 4.0)]);
    let n: i64 = cmd("ZREMRANGEBYSCORE").arg("z").arg("-inf").arg("(2").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("ZREMRANGEBYRANK").arg("z").arg(-1).arg(-1).query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("ZREMRANGEBYLEX").arg("lex").arg("-").arg("+").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let n: i64 = cmd("EXISTS").arg("lex").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let v: Vec<String> = cmd("ZRANGE").arg("z").arg(0).arg(-1).query(&mut c).unwrap();
    assert_eq!(v, vec!["b", "c", "d"]);
}

#[test]
fn pops_random_members_and_resp3_shapes() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("ZADD")
        .arg("z")
        .arg(1)
        .arg("a")
        .arg(2)
        .arg("b")
        .arg(3)
        .arg("c")
        .arg(4)
        .arg("d")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = cmd("ZPOPMIN").arg("z").query(&mut c).unwrap();
    assert_eq!(v, vec!["a", "1"]);
    let v: Vec<String> = cmd("ZPOPMAX").arg("z").arg(2).query(&mut c).unwrap();
    assert_eq!(v, vec!["d", "4", "c", "3"]);
    let v: (String, Vec<(String, f64)>) =
        cmd("ZMPOP").arg(2).arg("none").arg("z").arg("MIN").query(&mut c).unwrap();
    assert_eq!(v, ("z".into(), vec![("b".into(), 2.0)]));
    let n: i64 = cmd("EXISTS").arg("z").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let v: Value = cmd("ZMPOP").arg(1).arg("z").arg("MIN").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);

    let _: () = cmd("ZADD").arg("r").arg(1).arg("a").arg(2).arg("b").arg(3).arg("c").query(&mut c).unwrap();
    let v: Vec<String> = cmd("ZRANDMEMBER").arg("r").arg(5).query(&mut c).unwrap();
    assert_eq!(v.iter().collect::<HashSet<_>>().len(), 3);
    let v: Vec<String> = cmd("ZRANDMEMBER").arg("r").arg(-7).arg("WITHSCORES").query(&mut c).unwrap();
    assert_eq!(v.len(), 14);

    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", s.addr)).unwrap();
    let mut c3 = client.get_connection().unwrap();
    let v: Value = cmd("ZRANGE").arg("r").arg(0).arg(0).arg("WITHSCORES").query(&mut c3).unwrap();
    assert_eq!(
        v,
        Value::Array(vec![Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::Double(1.0)])])
    );
    let v: Value = cmd("ZSCORE").arg("r").arg("b").query(&mut c3).unwrap();
    assert_eq!(v, Value::Double(2.0));
    let v: Value = cmd("ZPOPMIN").arg("r").query(&mut c3).unwrap();
    assert_eq!(v, Value::Array(vec![Value::BulkString(b"a".to_vec()), Value::Double(1.0)]));
    let v: Value = cmd("ZPOPMIN").arg("r").arg(1).query(&mut c3).unwrap();
    assert_eq!(
        v,
        Value::Array(vec![Value::Array(vec![Value::BulkString(b"b".to_vec()), Value::Double(2.0)])])
    );
}

#[test]
fn zset_algebra_accepts_sets() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("ZADD").arg("{a}1").arg(1).arg("x").arg(2).arg("y").query(&mut c).unwrap();
    let _: () = cmd("ZADD").arg("{a}2").arg(10).arg("y").arg(20).arg("z").query(&mut c).unwrap();
    let _: () = cmd("SADD").arg("{a}s").arg("y").arg("z").query(&mut c).unwrap();
    let v: Vec<(String, f64)> =
        cmd("ZUNION").arg(2).arg("{a}1").arg("{a}2").arg("WITHSCORES").query(&mut c).unwrap();
    assert_eq!(v, vec![("x".into(), 1.0), ("y".into(), 12.0), ("z".into(), 20.0)]);
    let v: Vec<(String, f64)> = cmd("ZINTER")
        .arg(2)
        .arg("{a}1")
        .arg("{a}2")
        .arg("WEIGHTS")
        .arg(2)
        .arg(1)
        .arg("AGGREGATE")
        .arg("MAX")
        .arg("WITHSCORES")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, vec![("y".into(), 10.0)]);
    let v: Vec<String> = cmd("ZDIFF").arg(2).arg("{a}1").arg("{a}s").query(&mut c).unwrap();
    assert_eq!(v, vec!["x"]);
    let n: i64 = cmd("ZINTERSTORE").arg("{a}out").arg(2).arg("{a}2").arg("{a}s").query(&mut c).unwrap();
    assert_eq!(n, 2);
    assert_eq!(zrange(&mut c, "{a}out"), vec![("y".into(), 11.0), ("z".into(), 21.0)]);
    let n: i64 = cmd("ZUNIONSTORE").arg("{a}out").arg(1).arg("{a}none").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("EXISTS").arg("{a}out").query(&mut c).unwrap();
    assert_eq!(n, 0, "an empty result deletes the destination");
    let n: i64 = cmd("ZDIFFSTORE").arg("{a}d").arg(2).arg("{a}2").arg("{a}1").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("ZINTERCARD").arg(2).arg("{a}1").arg("{a}2").query(&mut c).unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        err(&mut c, cmd("ZUNION").arg(0).arg("{a}1")),
        "ERR at least 1 input key is needed for 'zunion' command"
    );
    assert_eq!(
        err(&mut c, cmd("ZINTER").arg(2).arg("{a}1").arg("{a}2").arg("WEIGHTS").arg(1).arg("x")),
        "ERR weight value is not a float"
    );
    let _: () = cmd("SET").arg("{a}str").arg("v").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("ZUNION").arg(2).arg("{a}1").arg("{a}str")), WRONGTYPE);
    let keys: Vec<String> = cmd("COMMAND")
        .arg("GETKEYS")
        .arg("ZUNIONSTORE")
        .arg("d")
        .arg(2)
        .arg("k1")
        .arg("k2")
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, vec!["d", "k1", "k2"]);
}

#[test]
fn zset_encodings_and_zscan() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("ZADD").arg("small").arg(1).arg("a").query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("small").query(&mut c).unwrap();
    assert_eq!(e, "listpack");
    let mut zadd = cmd("ZADD");
    zadd.arg("big");
    for i in 0..500 {
        zadd.arg(i).arg(format!("m{i}"));
    }
    let _: () = zadd.query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("big").query(&mut c).unwrap();
    assert_eq!(e, "skiplist");
    let r: i64 = cmd("ZRANK").arg("big").arg("m321").query(&mut c).unwrap();
    assert_eq!(r, 321);
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    for _ in 0..1000 {
        let (next, items): (u64, Vec<String>) =
            cmd("ZSCAN").arg("big").arg(cursor).arg("COUNT").arg(40).query(&mut c).unwrap();
        for p in items.chunks(2) {
            assert_eq!(p[0][1..], p[1], "member and score");
            seen.insert(p[0].clone());
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 500);
    let _: () = cmd("CONFIG").arg("SET").arg("zset-max-listpack-entries").arg(2).query(&mut c).unwrap();
    let _: () =
        cmd("ZADD").arg("grow").arg(1).arg("a").arg(2).arg("b").arg(3).arg("c").query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("grow").query(&mut c).unwrap();
    assert_eq!(e, "skiplist");
    let t: String = cmd("TYPE").arg("grow").query(&mut c).unwrap();
    assert_eq!(t, "zset");
}

#[test]
fn bzpopmin_wakes_on_zadd() {
    let s = TestServer::start();
    let mut c = s.conn();
    let addr = s.addr;
    let h = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut p = redis::Client::open(format!("redis://{addr}/")).unwrap().get_connection().unwrap();
        let _: () = cmd("ZADD").arg("bz").arg(3).arg("m").query(&mut p).unwrap();
    });
    let v: (String, String, f64) = cmd("BZPOPMIN").arg("bz").arg(5).query(&mut c).unwrap();
    assert_eq!(v, ("bz".into(), "m".into(), 3.0));
    h.join().unwrap();
    let v: Value = cmd("BZPOPMAX").arg("bz").arg("0.1").query(&mut c).unwrap();
    assert_eq!(v, Value::Nil);
    let _: () = cmd("ZADD").arg("bz").arg(1).arg("x").arg(2).arg("y").query(&mut c).unwrap();
    let v: (String, Vec<(String, f64)>) =
        cmd("BZMPOP").arg(1).arg(1).arg("bz").arg("MAX").arg("COUNT").arg(5).query(&mut c).unwrap();
    assert_eq!(v, ("bz".into(), vec![("y".into(), 2.0), ("x".into(), 1.0)]));
}

#[test]
fn set_commands() {
    let s = TestServer::start();
    let mut c = s.conn();
    let n: i64 = cmd("SADD").arg("s").arg(1).arg(2).arg(3).arg(2).query(&mut c).unwrap();
    assert_eq!(n, 3);
    let e: String = cmd("OBJECT").arg("ENCODING").arg("s").query(&mut c).unwrap();
    assert_eq!(e, "intset");
    let _: () = cmd("SADD").arg("s").arg("x").query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("s").query(&mut c).unwrap();
    assert_eq!(e, "listpack");
    let m: HashSet<String> = cmd("SMEMBERS").arg("s").query(&mut c).unwrap();
    assert_eq!(m, ["1", "2", "3", "x"].iter().map(|s| s.to_string()).collect());
    let n: i64 = cmd("SISMEMBER").arg("s").arg("x").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let v: Vec<i64> = cmd("SMISMEMBER").arg("s").arg("1").arg("9").query(&mut c).unwrap();
    assert_eq!(v, vec![1, 0]);
    let n: i64 = cmd("SREM").arg("s").arg("x").arg("nope").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("SCARD").arg("s").query(&mut c).unwrap();
    assert_eq!(n, 3);
    let v: String = cmd("SPOP").arg("s").query(&mut c).unwrap();
    assert!(["1", "2", "3"].contains(&v.as_str()));
    let v: Vec<String> = cmd("SPOP").arg("s").arg(10).query(&mut c).unwrap();
    assert_eq!(v.len(), 2);
    let n: i64 = cmd("EXISTS").arg("s").query(&mut c).unwrap();
    assert_eq!(n, 0);

    let _: () = cmd("SADD").arg("{k}a").arg("1").arg("2").arg("3").query(&mut c).unwrap();
    let _: () = cmd("SADD").arg("{k}b").arg("2").arg("3").arg("4").query(&mut c).unwrap();
    let mut v: Vec<String> = cmd("SINTER").arg("{k}a").arg("{k}b").query(&mut c).unwrap();
    v.sort();
    assert_eq!(v, vec!["2", "3"]);
    let mut v: Vec<String> = cmd("SUNION").arg("{k}a").arg("{k}b").query(&mut c).unwrap();
    v.sort();
    assert_eq!(v, vec!["1", "2", "3", "4"]);
    let v: Vec<String> = cmd("SDIFF").arg("{k}a").arg("{k}b").query(&mut c).unwrap();
    assert_eq!(v, vec!["1"]);
    let n: i64 = cmd("SINTERCARD").arg(2).arg("{k}a").arg("{k}b").arg("LIMIT").arg(1).query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("SUNIONSTORE").arg("{k}u").arg("{k}a").arg("{k}b").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let n: i64 = cmd("SDIFFSTORE").arg("{k}u").arg("{k}a").arg("{k}a").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("EXISTS").arg("{k}u").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("SMOVE").arg("{k}a").arg("{k}c").arg("1").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("SMOVE").arg("{k}a").arg("{k}c").arg("1").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let v: Vec<String> = cmd("SRANDMEMBER").arg("{k}b").arg(-5).query(&mut c).unwrap();
    assert_eq!(v.len(), 5);
    let _: () = cmd("SET").arg("{k}str").arg("v").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("SINTER").arg("{k}a").arg("{k}str")), WRONGTYPE);
    assert_eq!(err(&mut c, cmd("SMOVE").arg("{k}b").arg("{k}str").arg("2")), WRONGTYPE);
    let n: i64 = cmd("SCARD").arg("{k}b").query(&mut c).unwrap();
    assert_eq!(n, 3, "a refused SMOVE moved nothing");

    let mut sadd = cmd("SADD");
    sadd.arg("big");
    for i in 0..300 {
        sadd.arg(format!("member:{i}"));
    }
    let _: () = sadd.query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("big").query(&mut c).unwrap();
    assert_eq!(e, "hashtable");
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    for _ in 0..1000 {
        let (next, items): (u64, Vec<String>) = cmd("SSCAN").arg("big").arg(cursor).query(&mut c).unwrap();
        seen.extend(items);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 300);

    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", s.addr)).unwrap();
    let mut c3 = client.get_connection().unwrap();
    let v: Value = cmd("SMEMBERS").arg("{k}b").query(&mut c3).unwrap();
    assert!(matches!(&v, Value::Set(m) if m.len() == 3), "SMEMBERS is a set in RESP3: {v:?}");
}

#[test]
fn memory_usage_counts_collection_elements() {
    let s = TestServer::start();
    let mut c = s.conn();
    let mut sadd = cmd("SADD");
    sadd.arg("big");
    for i in 0..2000 {
        sadd.arg(format!("member:{i:06}"));
    }
    let _: () = sadd.query(&mut c).unwrap();
    let _: () = cmd("SADD").arg("small").arg("a").query(&mut c).unwrap();
    let exact: i64 = cmd("MEMORY").arg("USAGE").arg("big").arg("SAMPLES").arg(0).query(&mut c).unwrap();
    let sampled: i64 = cmd("MEMORY").arg("USAGE").arg("big").query(&mut c).unwrap();
    let small: i64 = cmd("MEMORY").arg("USAGE").arg("small").query(&mut c).unwrap();
    assert!(exact >= 2000 * 16, "each member is an allocation of at least 16 bytes: {exact}");
    assert_eq!(sampled, exact, "members of one length: the sample predicts them exactly");
    assert!(small < 200, "a one-member set is packed: {small}");
}

/// Scores print as Redis 7.0 prints them (`%.17g`), in RESP2 and RESP3; ZSCAN's scores
/// as its `d2string` (integers without an exponent).
#[test]
fn scores_print_as_redis_7_0() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("ZADD")
        .arg("z")
        .arg("0.60778593626235888")
        .arg("a")
        .arg("1.7976931348623157e308")
        .arg("b")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("ZADD").arg("z").arg("1e17").arg("c").arg("0.1").arg("d").query(&mut c).unwrap();
    let score =
        |c: &mut redis::Connection, m: &str| -> String { cmd("ZSCORE").arg("z").arg(m).query(c).unwrap() };
    assert_eq!(score(&mut c, "a"), "0.60778593626235888");
    assert_eq!(score(&mut c, "b"), "1.7976931348623157e+308");
    assert_eq!(score(&mut c, "c"), "1e+17");
    assert_eq!(score(&mut c, "d"), "0.10000000000000001");
    let v: String = cmd("ZINCRBY").arg("z").arg("0.2").arg("d").query(&mut c).unwrap();
    assert_eq!(v, "0.30000000000000004");
    let (_, items): (String, Vec<String>) = cmd("ZSCAN").arg("z").arg(0).query(&mut c).unwrap();
    assert!(items.contains(&"100000000000000000".to_string()), "{items:?}");
    let mut r = s.raw();
    r.send(&common::resp(&[b"HELLO", b"3"]));
    r.read_until(b"modules\r\n*0\r\n");
    r.roundtrip(&common::resp(&[b"ZSCORE", b"z", b"b"]), b",1.7976931348623157e+308\r\n");
}

/// Every command that takes `numkeys` answers Redis 7.0's own error texts.
#[test]
fn numkeys_errors_as_redis() {
    let s = TestServer::start();
    let mut c = s.conn();
    const POSITIVE: &str = "ERR numkeys should be greater than 0";
    const SYNTAX: &str = "ERR syntax error";
    const NOT_INT: &str = "ERR value is not an integer or out of range";
    const OVER_ARGS: &str = "ERR Number of keys can't be greater than number of args";
    let at_least = |name: &str| format!("ERR at least 1 input key is needed for '{name}' command");
    let cases: Vec<(&[&str], String)> = vec![
        (&["ZMPOP", "0", "z", "MIN"], POSITIVE.into()),
        (&["ZMPOP", "abc", "z", "MIN"], POSITIVE.into()),
        (&["ZMPOP", "5", "z", "MIN"], SYNTAX.into()),
        (&["BZMPOP", "0", "0", "z", "MIN"], POSITIVE.into()),
        (&["BZMPOP", "0", "-1", "z", "MIN"], POSITIVE.into()),
        (&["LMPOP", "0", "l", "LEFT"], POSITIVE.into()),
        (&["LMPOP", "3", "l", "LEFT"], SYNTAX.into()),
        (&["BLMPOP", "0", "0", "l", "LEFT"], POSITIVE.into()),
        (&["SINTERCARD", "0", "s"], POSITIVE.into()),
        (&["SINTERCARD", "abc", "s"], POSITIVE.into()),
        (&["SINTERCARD", "2", "s"], OVER_ARGS.into()),
        (&["ZINTERCARD", "0", "z"], at_least("zintercard")),
        (&["ZINTERCARD", "2", "z"], SYNTAX.into()),
        (&["ZINTERCARD", "abc", "z"], NOT_INT.into()),
        (&["ZUNION", "0", "z"], at_least("zunion")),
        (&["ZINTER", "-1", "z"], at_least("zinter")),
        (&["ZDIFF", "0", "z"], at_least("zdiff")),
        (&["ZDIFF", "3", "z"], SYNTAX.into()),
        (&["ZUNIONSTORE", "d", "0", "z"], at_least("zunionstore")),
        (&["ZINTERSTORE", "d", "2", "z"], SYNTAX.into()),
        (&["ZDIFFSTORE", "d", "0", "z"], at_least("zdiffstore")),
    ];
    for (args, expected) in cases {
        let mut command = cmd(args[0]);
        for a in &args[1..] {
            command.arg(*a);
        }
        assert_eq!(err(&mut c, &command), expected, "{args:?}");
    }
}
