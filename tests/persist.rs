//! Persistence with real servers: RDB files made by redis-server 7.0 load with identical
//! contents (tests/fixtures/rdb, made by scripts/make-rdb-fixtures.py), Redis's DUMP
//! payloads RESTORE, every type survives SAVE and a restart, broken files stop the
//! start-up with the offset, clients get -LOADING during a load, SHUTDOWN and SIGTERM
//! save when save points are set.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use redis::cmd;
use slotcache::cluster::slot::key_slot;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rdb");

/// A fresh directory for one test's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("slotcache-persist-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn dump(&self) -> PathBuf {
        self.0.join("dump.rdb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A server on `dir` (extra directives after), once its start-up load is done.
fn loaded_server(dir: &TempDir, extra: &[&str]) -> TestServer {
    let mut directives = vec!["dir", dir.path()];
    directives.extend_from_slice(extra);
    let s = TestServer::start_with(&directives);
    let mut c = s.conn();
    let done = eventually_within(Duration::from_secs(30), || {
        cmd("INFO").arg("persistence").query::<String>(&mut c).is_ok_and(|i| i.contains("\nloading:0\r\n"))
    });
    assert!(done, "the load finished");
    s
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// One line of keys.txt: what Redis said of a key.
struct Described {
    db: i64,
    key: Vec<u8>,
    kind: String,
    expire: i64,
    digest: String,
    payload: Vec<u8>,
}

fn described() -> Vec<Described> {
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("keys.txt")).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Described {
                db: f[0].parse().unwrap(),
                key: hex(f[1]),
                kind: f[2].to_string(),
                expire: f[3].parse().unwrap(),
                digest: f[4].to_string(),
                payload: hex(f[5]),
            }
        })
        .collect()
}

fn digest_value(c: &mut redis::Connection, key: &[u8]) -> String {
    let d: Vec<String> = cmd("DEBUG").arg("DIGEST-VALUE").arg(key).query(c).unwrap();
    d[0].clone()
}

#[test]
fn redis_made_snapshots_load_with_identical_contents() {
    let keys = described();
    assert!(keys.len() > 30, "the fixture lists every kind of key");
    for file in ["redis-7.0.rdb", "redis-7.0-plain.rdb"] {
        let dir = TempDir::new("fixture");
        std::fs::copy(Path::new(FIXTURES).join(file), dir.dump()).unwrap();
        let s = loaded_server(&dir, &[]);
        let mut c = s.conn();
        for db in [0, 1, 5, 15] {
            let _: () = cmd("SELECT").arg(db).query(&mut c).unwrap();
            let n: usize = cmd("DBSIZE").query(&mut c).unwrap();
            assert_eq!(n, keys.iter().filter(|k| k.db == db).count(), "{file}: keys in db {db}");
        }
        for k in &keys {
            let _: () = cmd("SELECT").arg(k.db).query(&mut c).unwrap();
            let name = String::from_utf8_lossy(&k.key);
            let kind: String = cmd("TYPE").arg(&k.key).query(&mut c).unwrap();
            assert_eq!(kind, k.kind, "{file}: type of {name}");
            let expire: i64 = cmd("PEXPIRETIME").arg(&k.key).query(&mut c).unwrap();
            assert_eq!(expire, k.expire, "{file}: expiry of {name}");
            assert_eq!(digest_value(&mut c, &k.key), k.digest, "{file}: contents of {name}");
        }
        // Redis's HyperLogLogs are HyperLogLogs here too (the same bytes).
        let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
        assert_eq!(cmd("PFCOUNT").arg("hll:sparse").query::<i64>(&mut c), Ok(50), "{file}");
        let dense: i64 = cmd("PFCOUNT").arg("hll:dense").query(&mut c).unwrap();
        assert!((4800..=5200).contains(&dense), "{file}: {dense}");
    }
}

#[test]
fn redis_made_dump_payloads_restore_and_ours_match_theirs() {
    let s = TestServer::start();
    let mut c = s.conn();
    for k in described().iter().filter(|k| k.db == 0) {
        let name = String::from_utf8_lossy(&k.key);
        let mut restored = b"restored:".to_vec();
        restored.extend_from_slice(&k.key);
        // With its expiry, which DIGEST-VALUE counts.
        let ttl = k.expire.max(0);
        let () = cmd("RESTORE").arg(&restored).arg(ttl).arg(&k.payload).arg("ABSTTL").query(&mut c).unwrap();
        assert_eq!(digest_value(&mut c, &restored), k.digest, "RESTORE of {name}");
        let ours: Vec<u8> = cmd("DUMP").arg(&restored).query(&mut c).unwrap();
        // Our payload restores to the same value (it may encode it differently: a
        // quicklist's node boundaries, a set's order).
        let () = cmd("RESTORE")
            .arg(&restored)
            .arg(ttl)
            .arg(&ours)
            .arg("REPLACE")
            .arg("ABSTTL")
            .query(&mut c)
            .unwrap();
        assert_eq!(digest_value(&mut c, &restored), k.digest, "our DUMP of {name}");
        // A string's payload is Redis's, byte for byte, LZF-compressed ones included.
        if k.kind == "string" {
            assert_eq!(ours, k.payload, "a string's payload is byte-identical to Redis's: {name}");
        }
    }
}

#[test]
fn restore_options_and_errors_are_redis_s() {
    let s = TestServer::start_with(&["maxmemory-policy", "allkeys-lru"]);
    let mut c = s.conn();
    let () = cmd("SET").arg("src").arg("value").query(&mut c).unwrap();
    let payload: Vec<u8> = cmd("DUMP").arg("src").query(&mut c).unwrap();
    let none: Option<Vec<u8>> = cmd("DUMP").arg("missing").query(&mut c).unwrap();
    assert_eq!(none, None);

    assert_eq!(
        err(&mut c, cmd("RESTORE").arg("src").arg(0).arg(&payload)),
        "BUSYKEY Target key name already exists."
    );
    let () = cmd("RESTORE").arg("src").arg(0).arg(&payload).arg("REPLACE").query(&mut c).unwrap();
    let () = cmd("RESTORE").arg("t1").arg(100_000).arg(&payload).query(&mut c).unwrap();
    let ttl: i64 = cmd("PTTL").arg("t1").query(&mut c).unwrap();
    assert!((90_000..=100_000).contains(&ttl), "{ttl}");
    let at = 4_102_444_800_000i64;
    let () = cmd("RESTORE").arg("t2").arg(at).arg(&payload).arg("ABSTTL").query(&mut c).unwrap();
    let expire: i64 = cmd("PEXPIRETIME").arg("t2").query(&mut c).unwrap();
    assert_eq!(expire, at);
    // A TTL already in the past: OK, and the key is not there.
    let () = cmd("RESTORE").arg("gone").arg(1).arg(&payload).arg("ABSTTL").query(&mut c).unwrap();
    let exists: i64 = cmd("EXISTS").arg("gone").query(&mut c).unwrap();
    assert_eq!(exists, 0);
    let () = cmd("RESTORE").arg("idle").arg(0).arg(&payload).arg("IDLETIME").arg(1000).query(&mut c).unwrap();
    let idle: i64 = cmd("OBJECT").arg("IDLETIME").arg("idle").query(&mut c).unwrap();
    assert!((1000..1010).contains(&idle), "{idle}");

    let mut bad = payload.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xFF;
    for (args, text) in [
        (vec!["x", "0", "junk"], "ERR DUMP payload version or checksum are wrong"),
        (vec!["x", "-1", "p"], "ERR Invalid TTL value, must be >= 0"),
        (vec!["x", "0", "p", "IDLETIME", "-1"], "ERR Invalid IDLETIME value, must be >= 0"),
        (vec!["x", "0", "p", "FREQ", "256"], "ERR Invalid FREQ value, must be >= 0 and <= 255"),
        (vec!["x", "0", "p", "FREQ", "1", "IDLETIME", "1"], "ERR syntax error"),
        (vec!["x", "0", "p", "BOGUS"], "ERR syntax error"),
    ] {
        let mut c2 = cmd("RESTORE");
        for a in &args {
            c2.arg(if *a == "p" { &payload[..] } else { a.as_bytes() });
        }
        assert_eq!(err(&mut c, &c2), text, "{args:?}");
    }
    assert_eq!(
        err(&mut c, cmd("RESTORE").arg("x").arg(0).arg(&bad)),
        "ERR DUMP payload version or checksum are wrong"
    );
    // A right trailer around a value that does not parse: an intset blob cut short.
    let mut garbage = vec![11u8, 3, 2, 0, 0, 10, 0];
    let crc = crc64(&garbage);
    garbage.extend_from_slice(&crc.to_le_bytes());
    assert_eq!(err(&mut c, cmd("RESTORE").arg("x").arg(0).arg(&garbage)), "ERR Bad data format");
    let exists: i64 = cmd("EXISTS").arg("x").query(&mut c).unwrap();
    assert_eq!(exists, 0, "nothing stored from a refused payload");
}

/// Redis's CRC64 (Jones, reflected), to make payloads by hand.
fn crc64(data: &[u8]) -> u64 {
    let mut crc = 0u64;
    for &b in data {
        crc ^= b as u64;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x95ac9329ac4bc9b5 } else { crc >> 1 };
        }
    }
    crc
}

#[test]
fn lfu_counters_survive_a_snapshot() {
    let dir = TempDir::new("lfu");
    std::fs::copy(Path::new(FIXTURES).join("redis-7.0-lfu.rdb"), dir.dump()).unwrap();
    let s = loaded_server(&dir, &["maxmemory-policy", "allkeys-lfu"]);
    let mut c = s.conn();
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("lfu.txt")).unwrap();
    for line in text.lines() {
        let (key, freq) = line.split_once(' ').unwrap();
        let got: i64 = cmd("OBJECT").arg("FREQ").arg(hex(key)).query(&mut c).unwrap();
        assert_eq!(got, freq.parse::<i64>().unwrap(), "OBJECT FREQ of {key}");
    }
    // And through our own SAVE and a restart.
    let () = cmd("SAVE").query(&mut c).unwrap();
    drop(c);
    drop(s);
    let s = loaded_server(&dir, &["maxmemory-policy", "allkeys-lfu"]);
    let mut c = s.conn();
    let got: i64 = cmd("OBJECT").arg("FREQ").arg("lfu:3").query(&mut c).unwrap();
    assert_eq!(got, 205);
}

#[test]
fn every_type_survives_save_and_a_restart() {
    let dir = TempDir::new("roundtrip");
    let (digest, sizes) = {
        let s = loaded_server(&dir, &[]);
        let mut c = s.conn();
        // Each kind of value, in both encodings where there are two, in several dbs.
        for db in [0, 3, 15] {
            let _: () = cmd("SELECT").arg(db).query(&mut c).unwrap();
            let big: Vec<String> = (0..2000).map(|i| format!("e{i}")).collect();
            let _: () = cmd("SET").arg("s").arg("plain").query(&mut c).unwrap();
            let _: () = cmd("SET").arg("n").arg(-42).query(&mut c).unwrap();
            let _: () = cmd("SET").arg("long").arg("x".repeat(100_000)).query(&mut c).unwrap();
            let _: () = cmd("SET").arg("ttl").arg("v").arg("PX").arg(10_000_000).query(&mut c).unwrap();
            let _: () = cmd("RPUSH").arg("l").arg(&["a", "1", "b"]).query(&mut c).unwrap();
            let _: () = cmd("RPUSH").arg("L").arg(&big).query(&mut c).unwrap();
            let _: () = cmd("HSET").arg("h").arg(&["f", "v", "g", "2"]).query(&mut c).unwrap();
            for chunk in big.chunks(200) {
                let pairs: Vec<&String> = chunk.iter().flat_map(|e| [e, e]).collect();
                let _: () = cmd("HSET").arg("H").arg(pairs).query(&mut c).unwrap();
            }
            let _: () = cmd("SADD").arg("i").arg(&[1, 2, 3]).query(&mut c).unwrap();
            let _: () = cmd("SADD").arg("S").arg(&big).query(&mut c).unwrap();
            let _: () = cmd("SADD").arg("s2").arg(&["a", "b"]).query(&mut c).unwrap();
            let _: () = cmd("ZADD").arg("z").arg(&["1", "a", "2.5", "b"]).query(&mut c).unwrap();
            for (i, e) in big.iter().enumerate() {
                let _: () = cmd("ZADD").arg("Z").arg(i as f64 / 3.0).arg(e).query(&mut c).unwrap();
            }
            let _: () = cmd("PFADD").arg("hll").arg(&big).query(&mut c).unwrap();
            let _: () = cmd("SETBIT").arg("bits").arg(9999).arg(1).query(&mut c).unwrap();
        }
        let digest: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
        let sizes: Vec<usize> = [0, 3, 15]
            .iter()
            .map(|db| {
                let _: () = cmd("SELECT").arg(*db).query(&mut c).unwrap();
                cmd("DBSIZE").query(&mut c).unwrap()
            })
            .collect();
        let () = cmd("SAVE").query(&mut c).unwrap();
        let changes = info_field(&mut c, "persistence", "rdb_changes_since_last_save");
        assert_eq!(changes, 0);
        (digest, sizes)
    };
    let s = loaded_server(&dir, &[]);
    let mut c = s.conn();
    let again: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(again, digest, "the same keys, values and expiry times");
    for (db, size) in [0, 3, 15].iter().zip(&sizes) {
        let _: () = cmd("SELECT").arg(*db).query(&mut c).unwrap();
        let n: usize = cmd("DBSIZE").query(&mut c).unwrap();
        assert_eq!(n, *size);
    }
    let enc: String = cmd("OBJECT").arg("ENCODING").arg("i").query(&mut c).unwrap();
    assert_eq!(enc, "intset");
    let enc: String = cmd("OBJECT").arg("ENCODING").arg("Z").query(&mut c).unwrap();
    assert_eq!(enc, "skiplist");
    // DEBUG RELOAD: the same through one save and load in place.
    let () = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    let again: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(again, digest);
    // NOFLUSH loads over what is there: a key in both stops it, unless MERGE, where the
    // file's value wins and keys only in memory stay.
    let () = cmd("SET").arg("only-here").arg("1").query(&mut c).unwrap();
    let () = cmd("SET").arg("s").arg("changed").query(&mut c).unwrap();
    let dup = cmd("DEBUG").arg("RELOAD").arg("NOSAVE").arg("NOFLUSH").query::<()>(&mut c).unwrap_err();
    assert!(error_text(&dup).starts_with("ERR Error trying to load the RDB dump"), "{dup:?}");
    assert!(error_text(&dup).contains("duplicated key"), "{dup:?}");
    let () = cmd("DEBUG").arg("RELOAD").arg("NOSAVE").arg("NOFLUSH").arg("MERGE").query(&mut c).unwrap();
    assert_eq!(cmd("GET").arg("only-here").query::<String>(&mut c), Ok("1".into()));
    let () = cmd("DEL").arg("only-here").query(&mut c).unwrap();
    let merged: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(merged, digest, "the file's values replaced the changed ones");
    let bad = cmd("DEBUG").arg("RELOAD").arg("SOON").query::<()>(&mut c).unwrap_err();
    assert_eq!(error_text(&bad), "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
}

#[test]
fn broken_files_stop_the_start_up_with_the_offset() {
    let original = std::fs::read(Path::new(FIXTURES).join("redis-7.0.rdb")).unwrap();
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 0x5A;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", original[..original.len() * 2 / 3].to_vec(), "truncated"),
        ("flipped", flipped, "at byte"),
        ("not-rdb", b"hello world, not a snapshot".to_vec(), "not an RDB file"),
        ("newer", [&b"REDIS0011"[..], &original[9..]].concat(), "Can't handle RDB format version 11"),
        // SELECTDB 0, the string "k" twice, EOF, no checksum (zero): Redis refuses it too.
        (
            "duplicated",
            [&b"REDIS0010\xfe\x00"[..], b"\x00\x01k\x01a", b"\x00\x01k\x01b", b"\xff", &[0; 8]].concat(),
            "duplicated key 'k' in DB 0",
        ),
    ];
    for (name, bytes, expect) in cases {
        let dir = TempDir::new(name);
        std::fs::write(dir.dump(), &bytes).unwrap();
        let p = Proc::start(&["--port", "0", "--bind", "127.0.0.1", "--dir", dir.path()]);
        let (code, lines) = p.wait();
        assert_eq!(code, Some(1), "{name}: exits with status 1");
        let fatal =
            lines.iter().find(|l| l.contains("Fatal error loading the DB")).cloned().unwrap_or_default();
        assert!(fatal.contains(expect), "{name}: {fatal:?} in {lines:?}");
    }
}

#[test]
fn clients_get_loading_errors_during_a_load() {
    let dir = TempDir::new("slow");
    std::fs::copy(Path::new(FIXTURES).join("redis-7.0.rdb"), dir.dump()).unwrap();
    // 100 ms a key: the load takes seconds.
    let s = TestServer::start_with(&["dir", dir.path(), "key-load-delay", "100000"]);
    let mut c = s.conn();
    assert_eq!(err(&mut c, cmd("GET").arg("str:int")), "LOADING Redis is loading the dataset in memory");
    assert_eq!(err(&mut c, cmd("PING")), "LOADING Redis is loading the dataset in memory");
    let info: String = cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(info.contains("loading:1\r\n") && info.contains("loading_loaded_perc:"), "{info}");
    let total = info_field(&mut c, "persistence", "loading_total_bytes");
    assert_eq!(total, std::fs::metadata(dir.dump()).unwrap().len());
    let _: i64 = cmd("LASTSAVE").query(&mut c).unwrap();
}

#[test]
fn shutdown_and_sigterm_save_when_save_points_are_set() {
    let dir = TempDir::new("shutdown");
    let args = ["--port", "0", "--bind", "127.0.0.1", "--dir", dir.path(), "--save", "3600 1"];
    let p = Proc::start(&args);
    let mut c = p.conn();
    let () = cmd("SET").arg("kept").arg("by shutdown").query(&mut c).unwrap();
    let _ = cmd("SHUTDOWN").query::<()>(&mut c);
    let (code, _) = p.wait();
    assert_eq!(code, Some(0));
    assert!(dir.dump().exists(), "SHUTDOWN saved");

    let p = Proc::start(&args);
    let mut c = p.conn();
    assert!(eventually(|| cmd("GET").arg("kept").query::<String>(&mut c).is_ok_and(|v| v == "by shutdown")));
    let () = cmd("SET").arg("kept").arg("by sigterm").query(&mut c).unwrap();
    p.signal("TERM");
    let (code, lines) = p.wait();
    assert_eq!(code, Some(0), "{lines:?}");
    assert!(lines.iter().any(|l| l.contains("DB saved on disk")), "{lines:?}");

    // NOSAVE leaves the file as it was.
    let p = Proc::start(&args);
    let mut c = p.conn();
    assert!(eventually(|| cmd("GET").arg("kept").query::<String>(&mut c).is_ok_and(|v| v == "by sigterm")));
    let () = cmd("SET").arg("kept").arg("not saved").query(&mut c).unwrap();
    let _ = cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    p.wait();
    let p = Proc::start(&args);
    let mut c = p.conn();
    assert!(eventually(|| cmd("GET").arg("kept").query::<String>(&mut c).is_ok_and(|v| v == "by sigterm")));
}

/// Fills the current database of `c` with `n` keys of every type, some with TTLs far
/// away (so none expires during a test).
fn fill(c: &mut redis::Connection, n: usize) {
    let mut pipe = redis::pipe();
    for i in 0..n {
        match i % 5 {
            0 => pipe.cmd("SET").arg(format!("s:{i}")).arg(format!("value-{i}")).ignore(),
            1 => pipe.cmd("RPUSH").arg(format!("l:{i}")).arg(&[i, i + 1, i + 2]).ignore(),
            2 => pipe
                .cmd("HSET")
                .arg(format!("h:{i}"))
                .arg("f")
                .arg(i)
                .arg("g")
                .arg("x".repeat(i % 100))
                .ignore(),
            3 => pipe.cmd("ZADD").arg(format!("z:{i}")).arg(i).arg("m").arg(-1).arg("n").ignore(),
            _ => pipe.cmd("SET").arg(format!("t:{i}")).arg(i).arg("PX").arg(100_000_000).ignore(),
        };
    }
    let () = pipe.query(c).unwrap();
}

/// Each key `fill` made (in databases 0 and 7) with its DEBUG DIGEST-VALUE, for
/// naming the keys that differ when a whole-keyspace digest does.
fn key_digests(c: &mut redis::Connection) -> Vec<(i64, String, String)> {
    let keys =
        |n: usize| (0..n).map(|i| format!("{}:{i}", ["s", "l", "h", "z", "t"][i % 5])).collect::<Vec<_>>();
    let mut out = Vec::new();
    for (db, n) in [(0, 16_000), (7, 4_000)] {
        let _: () = cmd("SELECT").arg(db).query(c).unwrap();
        let names = keys(n);
        let digests: Vec<String> = cmd("DEBUG").arg("DIGEST-VALUE").arg(&names).query(c).unwrap();
        out.extend(names.into_iter().zip(digests).map(|(k, d)| (db, k, d)));
    }
    let _: () = cmd("SELECT").arg(0).query(c).unwrap();
    out
}

fn bgsave_done(c: &mut redis::Connection) -> bool {
    info_field(c, "persistence", "rdb_bgsave_in_progress") == 0
}

#[test]
fn a_background_save_is_the_keyspace_as_it_was_when_it_started() {
    let dir = TempDir::new("bgsave");
    // 200 us a key: the save of 20,000 keys takes about 4 s, writes go on meanwhile.
    let s = loaded_server(&dir, &["rdb-key-save-delay", "200"]);
    let mut c = s.conn();
    fill(&mut c, 16_000);
    let _: () = cmd("SELECT").arg(7).query(&mut c).unwrap();
    fill(&mut c, 4_000);
    let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
    let before: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    let keys_before = key_digests(&mut c);

    let started: String = cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(started, "Background saving started");
    assert_eq!(err(&mut c, cmd("BGSAVE")), "ERR Background save already in progress");
    assert_eq!(err(&mut c, cmd("SAVE")), "ERR Background save already in progress");
    assert_eq!(err(&mut c, cmd("BGSAVE").arg("SCHEDULE")), "ERR Background save already in progress");
    // Meanwhile: every kind of change, to keys already saved, not saved yet, and new.
    let mut writes = 0;
    let mut round = 0;
    while !bgsave_done(&mut c) {
        let mut pipe = redis::pipe();
        for i in (round % 5..16_000).step_by(37) {
            let key = |p: &str| format!("{p}:{i}");
            match i % 5 {
                0 if round % 2 == 0 => pipe.cmd("SET").arg(key("s")).arg("changed").ignore(),
                0 => pipe.cmd("APPEND").arg(key("s")).arg("+").ignore(),
                1 => pipe.cmd("LPUSH").arg(key("l")).arg("new").ignore(),
                2 => pipe.cmd("HDEL").arg(key("h")).arg("f").ignore(),
                3 => pipe.cmd("DEL").arg(key("z")).ignore(),
                _ => pipe.cmd("PERSIST").arg(key("t")).ignore(),
            };
            pipe.cmd("SET").arg(format!("new:{round}:{i}")).arg(1).ignore();
            writes += 2;
        }
        let () = pipe.query(&mut c).unwrap();
        if round == 3 {
            // A whole database goes too.
            let _: () = cmd("SELECT").arg(7).query(&mut c).unwrap();
            let () = cmd("FLUSHDB").query(&mut c).unwrap();
            let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
        }
        round += 1;
        assert!(round < 10_000, "the background save ends");
    }
    assert!(round > 3, "writes were served while the save ran ({round} rounds, {writes} writes)");
    let info: String = cmd("INFO").arg("persistence").query(&mut c).unwrap();
    assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
    let after: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_ne!(after, before, "the keyspace changed during the save");
    let changes = info_field(&mut c, "persistence", "rdb_changes_since_last_save");
    assert!(changes > 0, "the writes made during the save are not in it");
    drop(c);
    drop(s);

    let s = loaded_server(&dir, &[]);
    let mut c = s.conn();
    let loaded: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    if loaded != before {
        let differ: Vec<_> =
            key_digests(&mut c).into_iter().zip(&keys_before).filter(|(a, b)| a != *b).take(10).collect();
        panic!("the file is not the keyspace as it was when BGSAVE started; keys that differ: {differ:?}");
    }
}

#[test]
fn large_values_are_saved_in_parts_while_clients_change_them() {
    let dir = TempDir::new("parts");
    // 20 ms a key and a part: each large value takes about 100 ms to write, in parts
    // (4096 elements or 1 MiB each) with the shard unlocked between them.
    let s = loaded_server(&dir, &["rdb-key-save-delay", "20000", "shards", "1"]);
    let mut c = s.conn();
    let n = 20_000;
    // The large values in one of the first slots, the small keys in later ones: the walk
    // (slot by slot, one shard) queues the large values at once, then writes them a part
    // a step while clients change them, then the small keys.
    let tag = (0..).map(|t| format!("{{t{t}}}")).find(|t| key_slot(t.as_bytes()) < 100).unwrap();
    let mut big: Vec<String> = ["h", "s", "z", "l", "str"].iter().map(|k| format!("{tag}big:{k}")).collect();
    // And two in one of the last slots, which clients change before the walk gets there:
    // a command's own writes of their parts come between the walk's.
    let late = (0..).map(|t| format!("{{t{t}}}")).find(|t| key_slot(t.as_bytes()) > 16000).unwrap();
    big.extend(["h", "l"].iter().map(|k| format!("{late}big:{k}")));
    let small: Vec<String> =
        (0..).map(|i| format!("small:{i}")).filter(|k| key_slot(k.as_bytes()) > 1000).take(60).collect();
    let mut pipe = redis::pipe();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let hash: Vec<(String, String)> = chunk.iter().map(|i| (format!("f{i}"), format!("v{i}"))).collect();
        pipe.cmd("HSET").arg(&big[0]).arg(&hash).ignore();
        pipe.cmd("HSET").arg(&big[5]).arg(&hash).ignore();
        pipe.cmd("RPUSH")
            .arg(&big[6])
            .arg(chunk.iter().map(|i| format!("late-{i}")).collect::<Vec<_>>())
            .ignore();
        pipe.cmd("SADD").arg(&big[1]).arg(chunk.iter().map(|i| format!("m{i}")).collect::<Vec<_>>()).ignore();
        let scored: Vec<(usize, String)> = chunk.iter().map(|i| (i % 977, format!("m{i}"))).collect();
        pipe.cmd("ZADD").arg(&big[2]).arg(&scored).ignore();
        pipe.cmd("RPUSH")
            .arg(&big[3])
            .arg(chunk.iter().map(|i| format!("item-{i}")).collect::<Vec<_>>())
            .ignore();
    }
    let text: String = (0..3 * 1024 * 1024 / 16).map(|i| format!("{i:015}-")).collect();
    pipe.cmd("SET").arg(&big[4]).arg(&text).ignore();
    pipe.cmd("PEXPIRE").arg(&big[0]).arg(100_000_000).ignore();
    for (i, k) in small.iter().enumerate() {
        pipe.cmd("SET").arg(k).arg(i).ignore();
    }
    let () = pipe.query(&mut c).unwrap();
    let before: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    let digests = |c: &mut redis::Connection| -> Vec<String> {
        cmd("DEBUG").arg("DIGEST-VALUE").arg(&big).query(c).unwrap()
    };
    let big_before = digests(&mut c);

    let started: String = cmd("BGSAVE").query(&mut c).unwrap();
    assert_eq!(started, "Background saving started");
    // Every large value changes again and again while the save writes it (or before it
    // is reached in the queue): each change must first have what is left of the old
    // value written.
    std::thread::sleep(Duration::from_millis(30));
    let mut round = 0;
    while !bgsave_done(&mut c) {
        let mut pipe = redis::pipe();
        // First only small keys not saved yet change (kept early while a large value is
        // part written: their records must not come between its parts), then the large
        // values too.
        pipe.cmd("INCR").arg(&small[round % small.len()]).ignore();
        if round >= 20 {
            pipe.cmd("HDEL").arg(&big[5]).arg(format!("f{round}")).ignore();
            pipe.cmd("LPUSH").arg(&big[6]).arg(round).ignore();
        }
        if round >= 40 {
            pipe.cmd("HSET").arg(&big[0]).arg(format!("f{round}")).arg("changed").ignore();
            pipe.cmd("SREM").arg(&big[1]).arg(format!("m{round}")).ignore();
            pipe.cmd("ZINCRBY").arg(&big[2]).arg(1000).arg(format!("m{round}")).ignore();
            pipe.cmd("LSET").arg(&big[3]).arg(round % n).arg("changed").ignore();
            pipe.cmd("SETRANGE").arg(&big[4]).arg(round * 7).arg("changed").ignore();
        }
        let () = pipe.query(&mut c).unwrap();
        round += 1;
        std::thread::sleep(Duration::from_millis(2));
        assert!(round < 100_000, "the background save ends");
    }
    assert!(round > 40, "changes were served while the save ran ({round} rounds)");
    assert!(info_field(&mut c, "persistence", "rdb_changes_since_last_save") > 0);
    assert_ne!(digests(&mut c), big_before, "the large values changed during the save");
    drop(c);
    drop(s);

    let s = loaded_server(&dir, &[]);
    let mut c = s.conn();
    let loaded: String = cmd("DEBUG").arg("DIGEST").query(&mut c).unwrap();
    assert_eq!(digests(&mut c), big_before, "the large values as they were when BGSAVE started");
    assert_eq!(loaded, before, "the keyspace as it was when BGSAVE started");
}

#[test]
fn save_points_start_background_saves_and_a_failed_one_stops_writes() {
    let dir = TempDir::new("savepoints");
    let s = loaded_server(&dir, &["save", "1 3"]);
    let mut c = s.conn();
    let first: i64 = cmd("LASTSAVE").query(&mut c).unwrap();
    for i in 0..5 {
        let () = cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c).unwrap();
    }
    // 5 changes, more than a second since start: the cron starts a background save.
    let saved = eventually_within(Duration::from_secs(10), || {
        cmd("LASTSAVE").query::<i64>(&mut c).is_ok_and(|t| t > first) && bgsave_done(&mut c)
    });
    assert!(saved, "a save point fired");
    assert!(dir.dump().exists());
    assert_eq!(info_field(&mut c, "persistence", "rdb_changes_since_last_save"), 0);

    // The directory goes away: the next background save fails, and writes are refused
    // (stop-writes-on-bgsave-error) while reads go on.
    let () = cmd("CONFIG").arg("SET").arg("dir").arg("/nonexistent/slotcache").query(&mut c).unwrap_or(());
    let _ = std::fs::remove_dir_all(&dir.0);
    let started: Result<String, _> = cmd("BGSAVE").query(&mut c);
    assert!(started.is_ok(), "{started:?}");
    let failed = eventually_within(Duration::from_secs(10), || {
        cmd("INFO")
            .arg("persistence")
            .query::<String>(&mut c)
            .is_ok_and(|i| i.contains("rdb_last_bgsave_status:err"))
    });
    assert!(failed, "the save failed");
    let misconf = err(&mut c, cmd("SET").arg("k").arg("v"));
    assert!(misconf.starts_with("MISCONF Redis is configured to save RDB snapshots"), "{misconf}");
    let v: String = cmd("GET").arg("k1").query(&mut c).unwrap();
    assert_eq!(v, "1", "reads go on");
    // A directory again: the next save succeeds and writes come back.
    std::fs::create_dir_all(&dir.0).unwrap();
    let () = cmd("CONFIG").arg("SET").arg("dir").arg(dir.path()).query(&mut c).unwrap();
    let () = cmd("SAVE").query(&mut c).unwrap();
    let () = cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
}

#[test]
fn migrate_moves_keys_between_servers() {
    let a = TestServer::start();
    let b = TestServer::start_with(&["requirepass", "secret"]);
    let (mut ca, mut cb) = (a.conn(), b.conn());
    let () = cmd("AUTH").arg("secret").query(&mut cb).unwrap();
    let port = b.addr.port().to_string();
    let _: () = cmd("RPUSH").arg("m:list").arg(&["a", "b"]).query(&mut ca).unwrap();
    let _: () = cmd("SET").arg("m:ttl").arg("v").arg("PX").arg(100_000).query(&mut ca).unwrap();
    let _: () = cmd("HSET").arg("m:hash").arg("f").arg("v").query(&mut ca).unwrap();
    let migrate = |c: &mut redis::Connection, key: &str, extra: &[&str]| -> Result<String, String> {
        let mut m = cmd("MIGRATE");
        m.arg("127.0.0.1").arg(&port).arg(key).arg(3).arg(5000).arg(extra);
        m.query::<String>(c).map_err(|e| error_text(&e))
    };

    assert_eq!(migrate(&mut ca, "m:missing", &["AUTH", "secret"]), Ok("NOKEY".into()));
    let refused = migrate(&mut ca, "m:list", &[]).unwrap_err();
    assert!(refused.starts_with("ERR Target instance replied with error: NOAUTH"), "{refused}");
    assert_eq!(cmd("EXISTS").arg("m:list").query::<i64>(&mut ca), Ok(1), "kept after an error");
    assert_eq!(migrate(&mut ca, "m:list", &["AUTH", "secret"]), Ok("OK".into()));
    assert_eq!(cmd("EXISTS").arg("m:list").query::<i64>(&mut ca), Ok(0), "moved away");
    let _: () = cmd("SELECT").arg(3).query(&mut cb).unwrap();
    let moved: Vec<String> = cmd("LRANGE").arg("m:list").arg(0).arg(-1).query(&mut cb).unwrap();
    assert_eq!(moved, ["a", "b"], "into database 3");
    // Several keys at once, with COPY; the TTL goes along.
    assert_eq!(
        migrate(&mut ca, "", &["COPY", "AUTH2", "default", "secret", "KEYS", "m:ttl", "m:hash"]),
        Ok("OK".into())
    );
    assert_eq!(cmd("EXISTS").arg("m:ttl").arg("m:hash").query::<i64>(&mut ca), Ok(2), "COPY keeps them");
    let ttl: i64 = cmd("PTTL").arg("m:ttl").query(&mut cb).unwrap();
    assert!((90_000..=100_000).contains(&ttl), "{ttl}");
    let busy = migrate(&mut ca, "m:hash", &["AUTH", "secret"]).unwrap_err();
    assert_eq!(busy, "ERR Target instance replied with error: BUSYKEY Target key name already exists.");
    assert_eq!(migrate(&mut ca, "m:hash", &["REPLACE", "AUTH", "secret"]), Ok("OK".into()));
    assert_eq!(
        migrate(&mut ca, "m:hash", &["KEYS", "x"]).unwrap_err(),
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
    // The connection to the target is kept for the next MIGRATE there (SELECT sent
    // again only for another database), opened anew when the target closed it, and
    // closed after 10 s unused, as Redis's.
    let received = |c: &mut redis::Connection| info_field(c, "stats", "total_connections_received");
    let opened = received(&mut cb);
    let _: () = cmd("SET").arg("m:again").arg("1").query(&mut ca).unwrap();
    assert_eq!(migrate(&mut ca, "m:again", &["COPY", "AUTH", "secret"]), Ok("OK".into()));
    let mut m = cmd("MIGRATE");
    m.arg("127.0.0.1").arg(&port).arg("m:again").arg(5).arg(5000).arg(&["COPY", "AUTH", "secret"]);
    assert_eq!(m.query::<String>(&mut ca), Ok("OK".into()));
    assert_eq!(received(&mut cb), opened, "one connection served every MIGRATE");
    let _: () = cmd("SELECT").arg(5).query(&mut cb).unwrap();
    assert_eq!(cmd("EXISTS").arg("m:again").query::<i64>(&mut cb), Ok(1), "into database 5");
    let me: i64 = cmd("CLIENT").arg("ID").query(&mut cb).unwrap();
    let list: String = cmd("CLIENT").arg("LIST").query(&mut cb).unwrap();
    let other = list
        .lines()
        .find_map(|l| l.strip_prefix("id=")?.split(' ').next()?.parse::<i64>().ok().filter(|&id| id != me));
    let killed: i64 =
        cmd("CLIENT").arg("KILL").arg("ID").arg(other.expect("MIGRATE's connection")).query(&mut cb).unwrap();
    assert_eq!(killed, 1);
    assert_eq!(migrate(&mut ca, "m:again", &["REPLACE", "COPY", "AUTH", "secret"]), Ok("OK".into()));
    assert_eq!(received(&mut cb), opened + 1, "a new connection once the target closed the kept one");
    std::thread::sleep(Duration::from_secs(10));
    let closed = eventually_within(Duration::from_secs(5), || {
        info_field(&mut cb, "clients", "connected_clients") == 1
    });
    assert!(closed, "the unused connection is closed");

    // Nobody listening there.
    let closed = free_port().to_string();
    let e =
        cmd("MIGRATE").arg("127.0.0.1").arg(&closed).arg("m:ttl").arg(0).arg(500).query::<String>(&mut ca);
    assert_eq!(e.map_err(|e| error_text(&e)), Err("IOERR error or timeout connecting to the client".into()));
}
