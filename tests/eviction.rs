//! maxmemory and eviction, against the real binary: each test runs its own server
//! process, because `used_memory` is the allocator's count for the whole process.

mod common;

use common::{Proc, error_text, eventually, info_field};
use redis::cmd;

/// A server process with the eviction tests' common flags plus `args`.
fn start(args: &[&str]) -> Proc {
    let base = ["--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--threads", "2"];
    Proc::start(&[&base[..], args].concat())
}

/// Writes `n` keys `prefix:i` with `size`-byte values in pipelines of 500.
fn write_keys(c: &mut redis::Connection, prefix: &str, n: usize, size: usize, ttl: Option<u64>) {
    let value = vec![b'v'; size];
    for start in (0..n).step_by(500) {
        let mut p = redis::pipe();
        for i in start..(start + 500).min(n) {
            let k = format!("{prefix}:{i}");
            match ttl {
                Some(s) => p.cmd("SET").arg(k).arg(&value).arg("EX").arg(s).ignore(),
                None => p.cmd("SET").arg(k).arg(&value).ignore(),
            };
        }
        let _: () = p.query(c).unwrap();
    }
}

fn count_existing(c: &mut redis::Connection, prefix: &str, n: usize) -> usize {
    let mut total = 0;
    for start in (0..n).step_by(500) {
        let mut e = cmd("EXISTS");
        for i in start..(start + 500).min(n) {
            e.arg(format!("{prefix}:{i}"));
        }
        total += e.query::<usize>(c).unwrap();
    }
    total
}

const MB: u64 = 1024 * 1024;

/// Sets maxmemory to what the server uses now plus `headroom` bytes.
fn limit_to_current_use_plus(c: &mut redis::Connection, headroom: u64) {
    let used = info_field(c, "memory", "used_memory");
    let _: () = cmd("CONFIG").arg("SET").arg("maxmemory").arg(used + headroom).query(c).unwrap();
}

#[test]
fn writes_far_past_maxmemory_stay_bounded() {
    let s = start(&["--maxmemory", "8mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = s.conn();
    // About 10x maxmemory of data, checking the bound as it goes.
    for round in 0..10 {
        write_keys(&mut c, &format!("r{round}"), 25_000, 300, None);
        let used = info_field(&mut c, "memory", "used_memory");
        assert!(used <= 8 * MB + MB / 2, "round {round}: used_memory {used} over 8mb");
    }
    let pong: String = cmd("PING").query(&mut c).unwrap();
    assert_eq!(pong, "PONG");
    assert!(info_field(&mut c, "stats", "evicted_keys") > 100_000);
    let keys: u64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert!(keys > 1000 && keys < 250_000, "{keys}");
}

#[test]
fn noeviction_refuses_writes_but_serves_reads_and_deletes() {
    let s = start(&["--maxmemory", "3mb"]);
    let mut c = s.conn();
    let value = vec![b'v'; 1000];
    let mut refused = None;
    for i in 0..20_000 {
        if let Err(e) = cmd("SET").arg(format!("k:{i}")).arg(&value).query::<()>(&mut c) {
            refused = Some((i, error_text(&e)));
            break;
        }
    }
    let (stored, text) = refused.expect("writes are refused past maxmemory");
    assert_eq!(text, "OOM command not allowed when used memory > 'maxmemory'.");
    let v: Vec<u8> = cmd("GET").arg("k:0").query(&mut c).unwrap();
    assert_eq!(v, value, "reads still work");
    assert!(cmd("APPEND").arg("k:0").arg("x").query::<i64>(&mut c).is_err(), "denyoom writes fail");
    let n: i64 = cmd("DEL").arg("k:1").query(&mut c).unwrap();
    assert_eq!(n, 1, "deletes still work");
    assert_eq!(info_field(&mut c, "stats", "evicted_keys"), 0);
    let keys: usize = cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(keys, stored - 1, "nothing stored was lost");
}

#[test]
fn volatile_policies_never_evict_keys_without_ttl() {
    for policy in ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"] {
        let s = start(&["--maxmemory", "6mb", "--maxmemory-policy", policy]);
        let mut c = s.conn();
        write_keys(&mut c, "persistent", 5_000, 200, None);
        write_keys(&mut c, "volatile", 40_000, 200, Some(10_000));
        assert!(info_field(&mut c, "stats", "evicted_keys") > 0, "{policy}");
        assert_eq!(count_existing(&mut c, "persistent", 5_000), 5_000, "{policy} evicted a key without TTL");
        // With no volatile key left to evict, writes fail instead.
        let _: () = cmd("FLUSHDB").query(&mut c).unwrap();
        let value = vec![b'v'; 1000];
        let refused =
            (0..20_000).any(|i| cmd("SET").arg(format!("p:{i}")).arg(&value).query::<()>(&mut c).is_err());
        assert!(refused, "{policy}: OOM once only keys without TTL remain");
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_first() {
    let s = start(&["--maxmemory", "6mb", "--maxmemory-policy", "volatile-ttl", "--maxmemory-samples", "64"]);
    let mut c = s.conn();
    write_keys(&mut c, "late", 2_000, 200, Some(100_000));
    write_keys(&mut c, "soon", 2_000, 200, Some(1_000));
    write_keys(&mut c, "fill", 30_000, 200, Some(50_000));
    assert!(info_field(&mut c, "stats", "evicted_keys") > 2_000);
    assert_eq!(count_existing(&mut c, "soon", 2_000), 0, "the soonest-expiring keys go first");
    assert_eq!(count_existing(&mut c, "late", 2_000), 2_000, "the latest-expiring keys stay");
}

#[test]
fn allkeys_lru_keeps_a_recently_read_key() {
    let s = start(&["--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "64"]);
    let mut c = s.conn();
    let _: () = cmd("SET").arg("hot").arg("v").query(&mut c).unwrap();
    write_keys(&mut c, "old", 3_000, 200, None);
    // The access clock ticks every 10 ms (Redis's every second): 50 ms apart is enough.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let _: String = cmd("GET").arg("hot").query(&mut c).unwrap();
    limit_to_current_use_plus(&mut c, 200 * 1024);
    write_keys(&mut c, "new", 2_000, 200, None);
    let old_left = count_existing(&mut c, "old", 3_000);
    assert!(old_left < 3_000, "untouched keys were evicted");
    let hot: Option<String> = cmd("GET").arg("hot").query(&mut c).unwrap();
    assert_eq!(hot.as_deref(), Some("v"), "the recently read key survives ({old_left} old keys left)");
}

#[test]
fn allkeys_lfu_keeps_a_frequently_read_key() {
    let s = start(&["--maxmemory-policy", "allkeys-lfu", "--maxmemory-samples", "64"]);
    let mut c = s.conn();
    let _: () = cmd("SET").arg("hot").arg("v").query(&mut c).unwrap();
    write_keys(&mut c, "once", 3_000, 200, None);
    for _ in 0..200 {
        let _: String = cmd("GET").arg("hot").query(&mut c).unwrap();
    }
    let freq: i64 = cmd("OBJECT").arg("FREQ").arg("hot").query(&mut c).unwrap();
    let cold: i64 = cmd("OBJECT").arg("FREQ").arg("once:1").query(&mut c).unwrap();
    assert!(freq > cold, "OBJECT FREQ: hot {freq}, cold {cold}");
    limit_to_current_use_plus(&mut c, 200 * 1024);
    write_keys(&mut c, "new", 2_000, 200, None);
    assert!(count_existing(&mut c, "once", 3_000) < 3_000);
    let hot: Option<String> = cmd("GET").arg("hot").query(&mut c).unwrap();
    assert_eq!(hot.as_deref(), Some("v"), "the frequently read key survives");
}

/// Reads 100 `hot` keys 8 times each, then writes 20,000 keys once each (about 5 MB)
/// with room for 1 MB more than was in use (some 4,000 keys); returns how many hot keys
/// survive. The room is more than the connection's buffers take while a pipeline of
/// 500 writes is in flight (a few hundred KB, counted in used_memory as in Redis): with
/// less, every key may have to go and the write still not fit.
fn hot_keys_left_after_a_scan(policy: &str) -> usize {
    let s = start(&["--maxmemory-policy", policy]);
    let mut c = s.conn();
    write_keys(&mut c, "hot", 100, 200, None);
    for _ in 0..8 {
        let mut p = redis::pipe();
        for i in 0..100 {
            p.cmd("GET").arg(format!("hot:{i}")).ignore();
        }
        let _: () = p.query(&mut c).unwrap();
    }
    limit_to_current_use_plus(&mut c, MB);
    write_keys(&mut c, "scan", 20_000, 200, None);
    // Writes may pass the limit by what the last pipelined batches added; the cron
    // evicts that within a tick or two.
    let max = info_field(&mut c, "memory", "maxmemory");
    let settled = eventually(|| info_field(&mut c, "memory", "used_memory") <= max);
    let evicted = info_field(&mut c, "stats", "evicted_keys");
    assert!(settled, "{policy}: used_memory stays above maxmemory {max}");
    assert!(evicted > 14_000, "{policy}: evicted_keys {evicted}");
    if policy == "allkeys-tinylfu" {
        let hot: i64 = cmd("OBJECT").arg("FREQ").arg("hot:1").query(&mut c).unwrap();
        assert!(hot >= 8, "OBJECT FREQ of a key read 8 times: {hot}");
    }
    count_existing(&mut c, "hot", 100)
}

#[test]
fn allkeys_tinylfu_keeps_frequently_read_keys_through_a_scan() {
    assert_eq!(hot_keys_left_after_a_scan("allkeys-tinylfu"), 100);
    // The same scan flushes them out of an LRU cache: the policy makes the difference.
    let lru = hot_keys_left_after_a_scan("allkeys-lru");
    assert!(lru < 50, "{lru} hot keys left under allkeys-lru");
}

#[test]
fn a_write_far_over_the_limit_evicts_in_steps_instead_of_failing() {
    let s = start(&["--maxmemory-policy", "allkeys-random"]);
    let mut c = s.conn();
    write_keys(&mut c, "big", 20_000, 1_000, None);
    let used = info_field(&mut c, "memory", "used_memory");
    // Right after the limit drops ~18 MB below use (some 18,000 keys, more than one
    // write evicts at once), the next write still succeeds.
    let (ok, set): (String, String) = redis::pipe()
        .cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(used - 18 * MB)
        .cmd("SET")
        .arg("after")
        .arg("v")
        .query(&mut c)
        .unwrap();
    assert_eq!((ok.as_str(), set.as_str()), ("OK", "OK"));
    assert!(info_field(&mut c, "stats", "evicted_keys") >= 4_096);
}

#[test]
fn lowering_maxmemory_at_runtime_evicts_down_to_it() {
    let s = start(&["--maxmemory-policy", "allkeys-random"]);
    let mut c = s.conn();
    write_keys(&mut c, "k", 30_000, 200, None);
    let before = info_field(&mut c, "memory", "used_memory");
    assert!(before > 6 * MB, "{before}");
    let _: () = cmd("CONFIG").arg("SET").arg("maxmemory").arg("4mb").query(&mut c).unwrap();
    // No writes: the cron evicts on its own.
    assert!(eventually(|| info_field(&mut c, "memory", "used_memory") <= 4 * MB));
    let keys: u64 = cmd("DBSIZE").query(&mut c).unwrap();
    assert!(keys > 0 && keys < 30_000, "{keys}");
}

#[test]
fn evicted_keys_are_published_as_keyspace_events() {
    let s = start(&["--maxmemory-policy", "allkeys-lru", "--notify-keyspace-events", "Ee"]);
    let mut c = s.conn();
    limit_to_current_use_plus(&mut c, 2 * MB);
    let mut listener = s.conn();
    let mut events = listener.as_pubsub();
    events.set_read_timeout(Some(common::WAIT)).unwrap();
    events.subscribe("__keyevent@0__:evicted").unwrap();
    write_keys(&mut c, "ev", 10_000, 1000, None);
    assert!(info_field(&mut c, "stats", "evicted_keys") > 0);
    let msg = events.get_message().expect("an evicted event");
    assert_eq!(msg.get_channel_name(), "__keyevent@0__:evicted");
    let key: String = msg.get_payload().unwrap();
    let i: usize = key.strip_prefix("ev:").and_then(|i| i.parse().ok()).expect("one of the written keys");
    assert!(i < 10_000);
    let present: bool = cmd("EXISTS").arg(&key).query(&mut c).unwrap();
    assert!(!present, "{key} was evicted");
}
