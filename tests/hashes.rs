//! Hash commands over TCP with the `redis` crate: replies, encodings, errors, RESP3.

mod common;

use std::collections::{HashMap, HashSet};

use common::{TestServer, err};
use redis::{Value, cmd};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn set_get_delete_and_counts() {
    let s = TestServer::start();
    let mut c = s.conn();
    let n: i64 = cmd("HSET").arg("h").arg("a").arg("1").arg("b").arg("2").query(&mut c).unwrap();
    assert_eq!(n, 2);
    let n: i64 = cmd("HSET").arg("h").arg("a").arg("10").arg("c").arg("3").query(&mut c).unwrap();
    assert_eq!(n, 1, "only new fields count");
    let v: Option<String> = cmd("HGET").arg("h").arg("a").query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some("10"));
    let v: Option<String> = cmd("HGET").arg("h").arg("zz").query(&mut c).unwrap();
    assert_eq!(v, None);
    let v: Vec<Option<String>> = cmd("HMGET").arg("h").arg("a").arg("nope").arg("c").query(&mut c).unwrap();
    assert_eq!(v, vec![Some("10".into()), None, Some("3".into())]);
    let all: HashMap<String, String> = cmd("HGETALL").arg("h").query(&mut c).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all["b"], "2");
    let keys: HashSet<String> = cmd("HKEYS").arg("h").query(&mut c).unwrap();
    assert_eq!(keys, ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
    let mut vals: Vec<String> = cmd("HVALS").arg("h").query(&mut c).unwrap();
    vals.sort();
    assert_eq!(vals, vec!["10", "2", "3"]);
    let n: i64 = cmd("HLEN").arg("h").query(&mut c).unwrap();
    assert_eq!(n, 3);
    let n: i64 = cmd("HSTRLEN").arg("h").arg("a").query(&mut c).unwrap();
    assert_eq!(n, 2);
    let n: i64 = cmd("HEXISTS").arg("h").arg("b").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("HSETNX").arg("h").arg("b").arg("x").query(&mut c).unwrap();
    assert_eq!(n, 0);
    let n: i64 = cmd("HSETNX").arg("h").arg("d").arg("4").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let ok: String = cmd("HMSET").arg("h").arg("e").arg("5").query(&mut c).unwrap();
    assert_eq!(ok, "OK");
    let t: String = cmd("TYPE").arg("h").query(&mut c).unwrap();
    assert_eq!(t, "hash");

    let n: i64 = cmd("HDEL").arg("h").arg("a").arg("a").arg("nope").query(&mut c).unwrap();
    assert_eq!(n, 1);
    let n: i64 = cmd("HDEL").arg("h").arg("b").arg("c").arg("d").arg("e").query(&mut c).unwrap();
    assert_eq!(n, 4);
    let n: i64 = cmd("EXISTS").arg("h").query(&mut c).unwrap();
    assert_eq!(n, 0, "a hash emptied by HDEL is deleted");

    // Missing keys read as empty.
    let all: HashMap<String, String> = cmd("HGETALL").arg("nokey").query(&mut c).unwrap();
    assert!(all.is_empty());
    let n: i64 = cmd("HLEN").arg("nokey").query(&mut c).unwrap();
    assert_eq!(n, 0);
}

#[test]
fn counters_and_their_errors() {
    let s = TestServer::start();
    let mut c = s.conn();
    let n: i64 = cmd("HINCRBY").arg("h").arg("n").arg(5).query(&mut c).unwrap();
    assert_eq!(n, 5);
    let n: i64 = cmd("HINCRBY").arg("h").arg("n").arg(-7).query(&mut c).unwrap();
    assert_eq!(n, -2);
    let f: String = cmd("HINCRBYFLOAT").arg("h").arg("f").arg("10.5").query(&mut c).unwrap();
    assert_eq!(f, "10.5");
    let f: String = cmd("HINCRBYFLOAT").arg("h").arg("f").arg("0.1").query(&mut c).unwrap();
    assert_eq!(f, "10.6");
    let _: () = cmd("HSET").arg("h").arg("s").arg("abc").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("HINCRBY").arg("h").arg("s").arg(1)), "ERR hash value is not an integer");
    assert_eq!(err(&mut c, cmd("HINCRBYFLOAT").arg("h").arg("s").arg(1)), "ERR hash value is not a float");
    assert_eq!(
        err(&mut c, cmd("HINCRBY").arg("h").arg("n").arg("x")),
        "ERR value is not an integer or out of range"
    );
    let _: () = cmd("HSET").arg("h").arg("big").arg(i64::MAX).query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("HINCRBY").arg("h").arg("big").arg(1)),
        "ERR increment or decrement would overflow"
    );
    let _: () = cmd("HSET").arg("h").arg("huge").arg("1.7e308").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("HINCRBYFLOAT").arg("h").arg("huge").arg("1.7e308")),
        "ERR increment would produce NaN or Infinity"
    );
    // An increment that is itself infinite is refused before the key is looked at:
    // even a field holding text, or a key of another type, gets this error.
    for inf in ["inf", "-inf", "+inf"] {
        assert_eq!(
            err(&mut c, cmd("HINCRBYFLOAT").arg("h").arg("s").arg(inf)),
            "ERR value is NaN or Infinity"
        );
    }
    let _: () = cmd("SET").arg("str").arg("x").query(&mut c).unwrap();
    assert_eq!(
        err(&mut c, cmd("HINCRBYFLOAT").arg("str").arg("f").arg("inf")),
        "ERR value is NaN or Infinity"
    );
    assert_eq!(
        err(&mut c, cmd("HINCRBYFLOAT").arg("h").arg("f").arg("nan")),
        "ERR value is not a valid float"
    );
    let n: i64 = cmd("HINCRBY").arg("h").arg("n").arg(0).query(&mut c).unwrap();
    assert_eq!(n, -2, "failed increments changed nothing");
}

#[test]
fn wrong_type_and_arity() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("SET").arg("str").arg("x").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("HSET").arg("str").arg("f").arg("v")), WRONGTYPE);
    assert_eq!(err(&mut c, cmd("HGET").arg("str").arg("f")), WRONGTYPE);
    assert_eq!(err(&mut c, cmd("HGETALL").arg("str")), WRONGTYPE);
    assert_eq!(err(&mut c, cmd("HDEL").arg("str").arg("f")), WRONGTYPE);
    let _: () = cmd("HSET").arg("h").arg("f").arg("v").query(&mut c).unwrap();
    assert_eq!(err(&mut c, cmd("GET").arg("h")), WRONGTYPE);
    assert_eq!(err(&mut c, cmd("INCR").arg("h")), WRONGTYPE);
    assert_eq!(err(&mut c, cmd("APPEND").arg("h").arg("x")), WRONGTYPE);
    assert_eq!(
        err(&mut c, cmd("HSET").arg("h").arg("f").arg("v").arg("g")),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(&mut c, cmd("HMSET").arg("h").arg("f")),
        "ERR wrong number of arguments for 'hmset' command"
    );
    let v: String = cmd("GET").arg("str").query(&mut c).unwrap();
    assert_eq!(v, "x", "the string survived the failed hash commands");
}

#[test]
fn encodings_follow_the_listpack_limits() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("HSET").arg("small").arg("f").arg("v").query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("small").query(&mut c).unwrap();
    assert_eq!(e, "listpack");
    let _: () = cmd("HSET").arg("long").arg("f").arg("x".repeat(65)).query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("long").query(&mut c).unwrap();
    assert_eq!(e, "hashtable", "a value over hash-max-listpack-value (64)");

    let _: () = cmd("CONFIG").arg("SET").arg("hash-max-listpack-entries").arg(10).query(&mut c).unwrap();
    let v: Vec<String> = cmd("CONFIG").arg("GET").arg("hash-max-listpack-entries").query(&mut c).unwrap();
    assert_eq!(v, vec!["hash-max-listpack-entries", "10"]);
    let _: () = cmd("CONFIG").arg("SET").arg("hash-max-ziplist-entries").arg(12).query(&mut c).unwrap();
    let v: Vec<String> = cmd("CONFIG").arg("GET").arg("hash-max-listpack-entries").query(&mut c).unwrap();
    assert_eq!(v[1], "12", "the old ziplist name is an alias");
    for i in 0..12 {
        let _: () = cmd("HSET").arg("grow").arg(format!("f{i}")).arg(i).query(&mut c).unwrap();
    }
    let e: String = cmd("OBJECT").arg("ENCODING").arg("grow").query(&mut c).unwrap();
    assert_eq!(e, "listpack");
    let _: () = cmd("HSET").arg("grow").arg("f12").arg(12).query(&mut c).unwrap();
    let e: String = cmd("OBJECT").arg("ENCODING").arg("grow").query(&mut c).unwrap();
    assert_eq!(e, "hashtable");
    let all: HashMap<String, i64> = cmd("HGETALL").arg("grow").query(&mut c).unwrap();
    assert_eq!(all.len(), 13);
    assert!((0..13).all(|i| all[&format!("f{i}")] == i), "every field survived the conversion");
}

#[test]
fn hrandfield_counts_and_withvalues() {
    let s = TestServer::start();
    let mut c = s.conn();
    let v: Option<String> = cmd("HRANDFIELD").arg("nokey").query(&mut c).unwrap();
    assert_eq!(v, None);
    let v: Vec<String> = cmd("HRANDFIELD").arg("nokey").arg(3).query(&mut c).unwrap();
    assert!(v.is_empty());
    for i in 0..5 {
        let _: () = cmd("HSET").arg("h").arg(format!("f{i}")).arg(format!("v{i}")).query(&mut c).unwrap();
    }
    let f: String = cmd("HRANDFIELD").arg("h").query(&mut c).unwrap();
    assert!(f.starts_with('f'));
    let v: Vec<String> = cmd("HRANDFIELD").arg("h").arg(3).query(&mut c).unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v.iter().collect::<HashSet<_>>().len(), 3, "a positive count gives distinct fields");
    let v: Vec<String> = cmd("HRANDFIELD").arg("h").arg(10).query(&mut c).unwrap();
    assert_eq!(v.len(), 5, "capped at the hash's size");
    let v: Vec<String> = cmd("HRANDFIELD").arg("h").arg(-20).query(&mut c).unwrap();
    assert_eq!(v.len(), 20, "a negative count may repeat");
    let v: Vec<String> = cmd("HRANDFIELD").arg("h").arg(2).arg("WITHVALUES").query(&mut c).unwrap();
    assert_eq!(v.len(), 4);
    assert_eq!(v[1], v[0].replace('f', "v"));
    assert_eq!(err(&mut c, cmd("HRANDFIELD").arg("h").arg(2).arg("BAD")), "ERR syntax error");
    assert_eq!(
        err(&mut c, cmd("HRANDFIELD").arg("h").arg(i64::MIN)),
        "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
    );
    assert_eq!(
        err(&mut c, cmd("HRANDFIELD").arg("h").arg(i64::MIN / 2 - 1).arg("WITHVALUES")),
        "ERR value is out of range"
    );

    // RESP3: WITHVALUES pairs are arrays of two.
    let client = redis::Client::open(format!("redis://{}/?protocol=resp3", s.addr)).unwrap();
    let mut c3 = client.get_connection().unwrap();
    let v: Value = cmd("HRANDFIELD").arg("h").arg(2).arg("WITHVALUES").query(&mut c3).unwrap();
    let Value::Array(items) = v else { panic!("{v:?}") };
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|p| matches!(p, Value::Array(pair) if pair.len() == 2)));
    let v: Value = cmd("HGETALL").arg("h").query(&mut c3).unwrap();
    assert!(matches!(&v, Value::Map(m) if m.len() == 5), "HGETALL is a map in RESP3: {v:?}");
}

#[test]
fn hscan_visits_every_field_of_a_large_hash() {
    let s = TestServer::start();
    let mut c = s.conn();
    for chunk in (0..1000).collect::<Vec<i32>>().chunks(100) {
        let mut hset = cmd("HSET");
        hset.arg("big");
        for i in chunk {
            hset.arg(format!("field:{i}")).arg(i);
        }
        let _: () = hset.query(&mut c).unwrap();
    }
    let e: String = cmd("OBJECT").arg("ENCODING").arg("big").query(&mut c).unwrap();
    assert_eq!(e, "hashtable");
    let mut seen = HashMap::new();
    let mut cursor = 0u64;
    let mut rounds = 0;
    loop {
        let (next, items): (u64, Vec<String>) =
            cmd("HSCAN").arg("big").arg(cursor).arg("COUNT").arg(50).query(&mut c).unwrap();
        for p in items.chunks(2) {
            seen.insert(p[0].clone(), p[1].clone());
        }
        cursor = next;
        rounds += 1;
        if cursor == 0 || rounds > 1000 {
            break;
        }
    }
    assert_eq!(cursor, 0);
    assert!(rounds > 1, "a large hash is scanned in steps");
    assert_eq!(seen.len(), 1000);
    assert_eq!(seen["field:7"], "7");
    let (_, items): (u64, Vec<String>) = cmd("HSCAN")
        .arg("big")
        .arg(0)
        .arg("MATCH")
        .arg("field:99*")
        .arg("COUNT")
        .arg(5000)
        .arg("NOVALUES")
        .query(&mut c)
        .unwrap();
    let mut items = items;
    items.sort();
    assert_eq!(
        items,
        vec![
            "field:99",
            "field:990",
            "field:991",
            "field:992",
            "field:993",
            "field:994",
            "field:995",
            "field:996",
            "field:997",
            "field:998",
            "field:999"
        ]
    );
}

#[test]
fn copy_rename_and_scan_type_work_for_hashes() {
    let s = TestServer::start();
    let mut c = s.conn();
    let _: () = cmd("HSET").arg("h").arg("f").arg("v").query(&mut c).unwrap();
    let _: () = cmd("COPY").arg("h").arg("h2").query(&mut c).unwrap();
    let _: () = cmd("HSET").arg("h").arg("f").arg("changed").query(&mut c).unwrap();
    let v: String = cmd("HGET").arg("h2").arg("f").query(&mut c).unwrap();
    assert_eq!(v, "v", "COPY is deep");
    let _: () = cmd("RENAME").arg("h2").arg("h3").query(&mut c).unwrap();
    let v: String = cmd("HGET").arg("h3").arg("f").query(&mut c).unwrap();
    assert_eq!(v, "v");
    let keys: Vec<String> = cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("hash")
        .arg("COUNT")
        .arg(100000)
        .query::<(u64, Vec<String>)>(&mut c)
        .unwrap()
        .1;
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, vec!["h", "h3"]);
}
