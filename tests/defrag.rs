//! Active defragmentation against the real binary: blocks move out of sparse allocator
//! pages and every value stays as it was.

mod common;

use common::{Proc, eventually, info_field};
use redis::cmd;

fn value(i: usize) -> Vec<u8> {
    // Lengths 40..=119 spread the keys' blocks over several size classes.
    let len = 40 + i % 80;
    (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
}

#[test]
fn defragmentation_moves_blocks_and_keeps_every_value() {
    let p = Proc::start(&[
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--threads",
        "2",
        "--activedefrag",
        "no",
    ]);
    let mut c = p.conn();
    const N: usize = 200_000;
    for start in (0..N).step_by(1000) {
        let mut pipe = redis::pipe();
        for i in start..start + 1000 {
            let k = format!("k:{i}");
            if i % 5 == 0 {
                pipe.cmd("SET").arg(k).arg(value(i)).arg("EX").arg(3600).ignore();
            } else {
                pipe.cmd("SET").arg(k).arg(value(i)).ignore();
            }
        }
        let _: () = pipe.query(&mut c).unwrap();
    }
    let long_value = vec![b'L'; 70_000];
    let _: () = cmd("SET").arg("long").arg(&long_value).query(&mut c).unwrap();
    let _: () = cmd("HSET").arg("h").arg("f1").arg("v1").arg("f2").arg("v2").query(&mut c).unwrap();
    // Delete three keys in four: every slab keeps a few survivors.
    for start in (0..N).step_by(1000) {
        let mut pipe = redis::pipe();
        for i in (start..start + 1000).filter(|i| i % 4 != 0) {
            pipe.cmd("DEL").arg(format!("k:{i}")).ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
    }
    let frag_before = info_field(&mut c, "memory", "allocator_frag_bytes");
    assert!(frag_before > 4_000_000, "deletions leave partly used pages: {frag_before}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(info_field(&mut c, "stats", "active_defrag_hits"), 0, "off until enabled");

    let _: () = cmd("CONFIG").arg("SET").arg("activedefrag").arg("yes").query(&mut c).unwrap();
    assert!(
        eventually(|| info_field(&mut c, "memory", "allocator_frag_bytes") < frag_before / 2),
        "fragmentation {frag_before} -> {}",
        info_field(&mut c, "memory", "allocator_frag_bytes")
    );
    assert!(info_field(&mut c, "stats", "active_defrag_key_hits") > 0);

    // Every survivor reads back intact, with its TTL; nothing else came back.
    assert_eq!(cmd("DBSIZE").query::<usize>(&mut c).unwrap(), N / 4 + 2);
    for start in (0..N).step_by(4000) {
        let keys: Vec<String> = (start..start + 4000).step_by(4).map(|i| format!("k:{i}")).collect();
        let got: Vec<Vec<u8>> = cmd("MGET").arg(&keys).query(&mut c).unwrap();
        for (j, v) in got.iter().enumerate() {
            let i = start + 4 * j;
            assert_eq!(v, &value(i), "k:{i}");
        }
    }
    for i in (0..N).step_by(20) {
        let ttl: i64 = cmd("TTL").arg(format!("k:{i}")).query(&mut c).unwrap();
        assert!(ttl > 3000, "k:{i} keeps its TTL: {ttl}");
    }
    let ttl: i64 = cmd("TTL").arg("k:4").query(&mut c).unwrap();
    assert_eq!(ttl, -1);
    assert_eq!(cmd("GET").arg("long").query::<Vec<u8>>(&mut c).unwrap(), long_value);
    assert_eq!(cmd("HGET").arg("h").arg("f2").query::<String>(&mut c).unwrap(), "v2");
}

#[test]
fn defrag_settings_are_checked_like_redis() {
    let p = Proc::start(&["--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0"]);
    let mut c = p.conn();
    let got: Vec<String> = cmd("CONFIG").arg("GET").arg("active-defrag-cycle-*").query(&mut c).unwrap();
    assert_eq!(got.len(), 4);
    let e = common::err(&mut c, cmd("CONFIG").arg("SET").arg("active-defrag-cycle-max").arg("100"));
    assert!(e.contains("argument must be between 1 and 99 inclusive"), "{e}");
    let _: () =
        cmd("CONFIG").arg("SET").arg("active-defrag-threshold-lower").arg("20").query(&mut c).unwrap();
    let got: Vec<String> =
        cmd("CONFIG").arg("GET").arg("active-defrag-threshold-lower").query(&mut c).unwrap();
    assert_eq!(got, ["active-defrag-threshold-lower", "20"]);
    assert_eq!(info_field(&mut c, "memory", "active_defrag_running"), 0);
}
