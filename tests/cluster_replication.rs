//! Replication inside the cluster with real nodes on 127.0.0.1: each range's copy on
//! the next node clockwise (`cluster-replicas 1`, the default), READONLY reads of it,
//! WAIT, keyspace-wide commands scoped to a node's primary ranges, and a SIGKILLed
//! primary's keys served by the node that copied them.

mod common;

use std::time::Duration;

use common::*;

/// The replicas CLUSTER SLOTS lists for `key`'s range, as node indexes of `c`.
fn replicas_of(c: &ClusterNodes, asking: usize, key: &str) -> Vec<usize> {
    let mut conn = c.conn(asking);
    let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut conn).unwrap();
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut conn).unwrap();
    for r in ranges {
        let (start, end): (u16, u16) =
            (redis::from_redis_value(r[0].clone()).unwrap(), redis::from_redis_value(r[1].clone()).unwrap());
        if (start..=end).contains(&slot) {
            return r[3..]
                .iter()
                .map(|n| {
                    let (_ip, port, _id, _meta): (String, u16, String, redis::Value) =
                        redis::from_redis_value(n.clone()).unwrap();
                    c.addrs.iter().position(|a| a.port() == port).expect("a node of the cluster")
                })
                .collect();
        }
    }
    panic!("slot {slot} is in no range");
}

/// Keys whose slots `node` serves, as node 0 sees it.
fn keys_on(c: &ClusterNodes, node: usize, prefix: &str, n: usize) -> Vec<String> {
    (0..1_000_000).map(|i| format!("{prefix}:{i}")).filter(|k| c.owner_of(0, k) == node).take(n).collect()
}

fn dbsize(c: &ClusterNodes, i: usize) -> u64 {
    redis::cmd("DBSIZE").query(&mut c.conn(i)).unwrap()
}

#[test]
fn a_killed_primarys_keys_are_served_by_the_node_that_copied_them() {
    let mut c = ClusterNodes::start(3, &[]);
    let keys = keys_on(&c, 2, "copy", 40);
    let mut p = c.conn(2);
    for (i, k) in keys.iter().enumerate() {
        let () = redis::cmd("SET").arg(k).arg(format!("v{i}")).query(&mut p).unwrap();
    }
    let counter = &keys[0];
    let hash = format!("{{{}}}h", keys[1]);
    let () = redis::cmd("SET").arg(counter).arg(10).query(&mut p).unwrap();
    let _: i64 = redis::cmd("INCRBY").arg(counter).arg(5).query(&mut p).unwrap();
    let _: i64 = redis::cmd("HSET").arg(&hash).arg("f").arg("x").arg("g").arg("y").query(&mut p).unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut p).unwrap();
    assert_eq!(acked, 1, "the range's one replica acknowledged every write");

    // The copy is on the next node clockwise: READONLY reads it there; without it, or
    // for a write, the client is sent to the primary.
    let heirs = replicas_of(&c, 0, counter);
    assert_eq!(heirs.len(), 1, "cluster-replicas 1: {}", c.describe());
    let heir = heirs[0];
    assert_ne!(heir, 2);
    // INFO shows the links: the primary's to its replicas, the replica's to its primaries.
    let id_2: String = redis::cmd("CLUSTER").arg("MYID").query(&mut p).unwrap();
    let info: String = redis::cmd("INFO").arg("replication").query(&mut p).unwrap();
    assert!(info.contains("role:master\r\n") && info.contains(",state=online,"), "{info}");
    let info: String = redis::cmd("INFO").arg("replication").query(&mut c.conn(heir)).unwrap();
    assert!(
        info.contains(&format!("node={id_2},ip=127.0.0.1,port={},state=connected,", c.addrs[2].port())),
        "{info}"
    );
    let mut r = c.conn(heir);
    let moved = redis::cmd("GET").arg(counter).query::<String>(&mut r).unwrap_err();
    assert!(error_text(&moved).starts_with("MOVED "), "{moved:?}");
    let () = redis::cmd("READONLY").query(&mut r).unwrap();
    let v: String = redis::cmd("GET").arg(counter).query(&mut r).unwrap();
    assert_eq!(v, "15");
    let h: Vec<String> = redis::cmd("HGETALL").arg(&hash).query(&mut r).unwrap();
    assert_eq!(h, ["f", "x", "g", "y"]);
    let write = redis::cmd("SET").arg(counter).arg(0).query::<()>(&mut r).unwrap_err();
    assert!(error_text(&write).starts_with("MOVED "), "{write:?}");
    let () = redis::cmd("READWRITE").query(&mut r).unwrap();
    assert!(redis::cmd("GET").arg(counter).query::<String>(&mut r).is_err(), "READWRITE ends it");

    // Every range of the node has its copy (WAIT counted the last write's range only).
    for (i, k) in keys.iter().enumerate().skip(1) {
        let holder = replicas_of(&c, 0, k)[0];
        let mut r = c.conn(holder);
        let () = redis::cmd("READONLY").query(&mut r).unwrap();
        let copied = eventually(|| {
            redis::cmd("GET").arg(k).query::<Option<String>>(&mut r).unwrap().as_deref()
                == Some(format!("v{i}").as_str())
        });
        assert!(copied, "{k} has its copy on node {holder}");
    }

    // Keyspace-wide commands count primaries only: the copies are not counted twice.
    let total: u64 = (0..3).map(|i| dbsize(&c, i)).sum();
    assert_eq!(total, keys.len() as u64 + 1, "DBSIZE over the nodes counts each key once");

    c.kill(2);
    let took = std::time::Instant::now();
    let served = eventually_within(NODE_TIMEOUT + Duration::from_secs(8), || {
        let Ok(mut a) = try_connect(c.addrs[heir]) else { return false };
        redis::cmd("INCR").arg(counter).query::<i64>(&mut a).is_ok()
    });
    assert!(served, "the copy's node did not take the range over: {}", c.describe());
    eprintln!("writes to the killed primary's keys succeed again after {:?}", took.elapsed());
    let mut h = c.conn(heir);
    let v: i64 = redis::cmd("GET").arg(counter).query(&mut h).unwrap();
    assert_eq!(v, 16, "the acknowledged value, incremented once more");
    // The other ranges of the killed node went to their own replicas, with their keys.
    for (i, k) in keys.iter().enumerate().skip(1) {
        let owner = c.owner_of(heir, k);
        // Each node declares the failure itself, within moments of the others.
        assert!(
            eventually(|| c.owner_of(owner, k) == owner),
            "node {owner} does not serve {k}: {}",
            c.describe()
        );
        let v: Option<String> = redis::cmd("GET").arg(k).query(&mut c.conn(owner)).unwrap();
        assert_eq!(v.as_deref(), Some(format!("v{i}").as_str()), "{k} on node {owner}");
    }
    // The range has a new copy on the one other live node, synced in full.
    let acked = eventually_within(Duration::from_secs(20), || {
        redis::cmd("WAIT").arg(1).arg(500).query::<i64>(&mut h).is_ok_and(|n| n == 1)
    });
    assert!(acked, "the surviving range got a new replica: {}", c.describe());
    let mut o = c.conn(1 - heir);
    let () = redis::cmd("READONLY").query(&mut o).unwrap();
    let v: i64 = redis::cmd("GET").arg(counter).query(&mut o).unwrap();
    assert_eq!(v, 16, "the new copy has the value: {}", c.describe());
}

#[test]
fn flushall_scan_and_keys_see_only_the_nodes_primary_ranges() {
    let c = ClusterNodes::start(3, &[]);
    let mut per_node = Vec::new();
    for node in 0..3 {
        let keys = keys_on(&c, node, &format!("scope{node}"), 25);
        let mut conn = c.conn(node);
        for k in &keys {
            let () = redis::cmd("SET").arg(k).arg("v").query(&mut conn).unwrap();
        }
        let acked: i64 = redis::cmd("WAIT").arg(1).arg(10_000).query(&mut conn).unwrap();
        assert_eq!(acked, 1);
        per_node.push(keys);
    }
    for (node, keys) in per_node.iter().enumerate() {
        let mut conn = c.conn(node);
        let mut listed: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut conn).unwrap();
        listed.sort();
        let mut want = keys.clone();
        want.sort();
        assert_eq!(listed, want, "KEYS on node {node}");
        let mut scanned: Vec<String> = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) =
                redis::cmd("SCAN").arg(cursor).arg("COUNT").arg(1000).query(&mut conn).unwrap();
            scanned.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        scanned.sort();
        assert_eq!(scanned, want, "SCAN on node {node}");
        assert_eq!(dbsize(&c, node), 25);
        let info: String = redis::cmd("INFO").arg("keyspace").query(&mut conn).unwrap();
        assert!(info.contains("db0:keys=25,"), "{info}");
    }
    // FLUSHALL on node 0 empties its ranges here and on their replicas, nothing else.
    let copy_holder = replicas_of(&c, 0, &per_node[0][0])[0];
    let () = redis::cmd("FLUSHALL").query(&mut c.conn(0)).unwrap();
    assert_eq!(dbsize(&c, 0), 0);
    let mut r = c.conn(copy_holder);
    let () = redis::cmd("READONLY").query(&mut r).unwrap();
    let gone = eventually(|| {
        redis::cmd("GET").arg(&per_node[0][0]).query::<Option<String>>(&mut r).unwrap().is_none()
    });
    assert!(gone, "the flush reached the copy");
    for (node, keys) in per_node.iter().enumerate().skip(1) {
        assert_eq!(dbsize(&c, node), 25, "node {node} keeps its keys");
        let v: Option<String> = redis::cmd("GET").arg(&keys[0]).query(&mut c.conn(node)).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
    }
}

#[test]
fn a_restarted_node_copies_its_ranges_back_before_it_serves_them_and_no_acknowledged_write_is_lost() {
    let mut c = ClusterNodes::start(3, &[]);
    let keys = keys_on(&c, 2, "back", 20);
    let entry = c.addrs[0];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (keys, stop) = (keys.clone(), stop.clone());
        in_background(move || {
            let mut w = Incrementer::default();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for k in &keys {
                    w.incr(k, entry);
                }
            }
            (w.acked, w.regressions)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    c.kill(2);
    assert!(
        eventually_within(Duration::from_secs(15), || c.owner_of(0, &keys[0]) != 2),
        "the killed node's ranges were not taken over: {}",
        c.describe()
    );
    std::thread::sleep(Duration::from_millis(500));
    // Back, it serves nothing until it holds its ranges again (else the counters it
    // serves would start over), then takes them over with the writes made meanwhile.
    c.restart(2);
    let id_2: String = redis::cmd("CLUSTER").arg("MYID").query(&mut c.conn(2)).unwrap();
    c.wait_formed(3);
    assert_eq!(c.owner_of(0, &keys[0]), 2, "it serves its ranges again");
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (acked, regressions) = writer.result();
    let mut p = c.conn(2);
    let Tally { writes, lost_acked, lost_unacked } = c.tally(&keys, &acked);
    eprintln!(
        "{writes} INCRs over a kill and a restart: {} acknowledged writes lost, {lost_unacked} unacknowledged",
        lost_acked.len()
    );
    c.assert_no_acknowledged_write_lost(&lost_acked, &regressions);
    assert!(writes > 0);
    // Replicas that held a range before a change stay until the new one says it holds
    // it too: in the end, every range lists its one replica.
    let one_replica = || {
        let slots: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut c.conn(2)).unwrap();
        slots.iter().all(|r| r.len() == 4)
    };
    assert!(eventually(one_replica), "every range lists its one replica: {}", c.describe());
    // Caught up, no node is `loading` any more.
    let shards = format!("{:?}", redis::cmd("CLUSTER").arg("SHARDS").query::<redis::Value>(&mut p).unwrap());
    assert!(shards.contains(&id_2) && !shards.contains("loading"), "{shards}");
}
