//! Failovers under writes, with real nodes on 127.0.0.1: a client INCRs counters on
//! every node's ranges and calls `WAIT 1` after each write, while nodes are SIGKILLed
//! and restarted, or SIGSTOPped past the node timeout and resumed. At the end every
//! counter is at least the value a `WAIT 1` acknowledged. Each kill also times, from a
//! client's side, how long until a write to the killed node's keys succeeds again.
//!
//! Each test runs `SLOTCACHE_FAILOVERS` kills (default 2);
//! `SLOTCACHE_FAILOVERS=20 cargo test --test cluster_failover -- --nocapture` is the
//! measurement the README quotes.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::*;

/// One cluster at a time: five debug-built nodes and a client already load a 2-core
/// machine, and a node starved of CPU past the node timeout is (rightly) declared
/// failed, which is not what these tests measure.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn failovers() -> usize {
    std::env::var("SLOTCACHE_FAILOVERS").ok().and_then(|v| v.parse().ok()).unwrap_or(2)
}

/// Which node serves `key`, as node `asking` sees it (None while the slot is unserved
/// or the node does not answer).
fn try_owner(c: &ClusterNodes, asking: usize, key: &str) -> Option<usize> {
    let mut conn = try_connect(c.addrs[asking]).ok()?;
    let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(key).query(&mut conn).ok()?;
    let slots = slot_ranges(redis::cmd("CLUSTER").arg("SLOTS").query(&mut conn).ok()?);
    let (_, _, _, addr) = slots.iter().find(|(a, b, _, _)| (*a..=*b).contains(&slot))?;
    c.addrs.iter().position(|a| a == addr)
}

/// A key `node` serves, as node `asking` sees it.
fn key_of(c: &ClusterNodes, asking: usize, node: usize, round: usize) -> String {
    (0..100_000)
        .map(|i| format!("probe:{round}:{i}"))
        .find(|k| try_owner(c, asking, k) == Some(node))
        .expect("every node serves some slot")
}

/// What [`write_until`]'s client saw ([`Incrementer`]'s fields of the same names).
#[derive(Debug)]
struct Written {
    acked: HashMap<String, (i64, i64)>,
    errors: BTreeMap<String, usize>,
    regressions: Vec<String>,
}

/// An [`Incrementer`] INCRing `keys` round after round until `stop`; a key whose node
/// is unknown starts from any node but `avoid` (none while it is `usize::MAX`). Returns
/// what it saw.
fn write_until(
    c: &ClusterNodes,
    keys: &[String],
    stop: &Arc<AtomicBool>,
    avoid: &Arc<AtomicUsize>,
) -> Pending<Written> {
    let (keys, stop, avoid, entries) = (keys.to_vec(), stop.clone(), avoid.clone(), c.addrs.clone());
    in_background(move || {
        let mut w = Incrementer::default();
        let mut round = 0;
        while !stop.load(Relaxed) {
            round += 1;
            for k in &keys {
                let mut entry = round % entries.len();
                if entry == avoid.load(Relaxed) {
                    entry = (entry + 1) % entries.len();
                }
                w.incr(k, entries[entry]);
            }
        }
        Written { acked: w.acked, errors: w.errors, regressions: w.regressions }
    })
}

/// Runs the kills (and one pause) on `nodes` nodes with `replicas` copies per range;
/// returns the failover times.
fn failovers_keep_every_acknowledged_write(nodes: usize, replicas: usize) -> Vec<Duration> {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let replicas_arg = replicas.to_string();
    let mut c = ClusterNodes::start(nodes, &["--cluster-replicas", &replicas_arg]);
    let keys: Vec<String> = (0..8 * nodes).map(|i| format!("counter:{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = write_until(&c, &keys, &stop, &Arc::new(AtomicUsize::new(usize::MAX)));
    let mut times = Vec::new();
    for round in 0..failovers() {
        // Not node 0: it answers the test's questions.
        let victim = 1 + round % (nodes - 1);
        let key = key_of(&c, 0, victim, round);
        c.kill(victim);
        let killed = Instant::now();
        let mut probe = Incrementer::default();
        let served = eventually_within(Duration::from_secs(20), || probe.incr(&key, c.addrs[0]));
        assert!(served, "round {round}: node {victim}'s keys were not served again: {}", c.describe());
        // Until the INCR succeeded (its WAIT waits for the range's new replica).
        let took = probe.written_at.expect("it wrote") - killed;
        eprintln!("{nodes} nodes, replicas {replicas}, round {round}: writes succeed again after {took:?}");
        times.push(took);
        c.restart(victim);
        c.wait_formed(nodes);
    }
    // A primary paused past the node timeout, then resumed: what it queued meanwhile
    // is refused, and it comes back as a copy first.
    let victim = nodes - 1;
    c.pause(victim);
    assert!(
        eventually_within(Duration::from_secs(20), || try_owner(&c, 0, &key_of(&c, 0, 0, 0))
            .is_some_and(|_| c.nodes_text().contains("master,fail "))),
        "the paused node was not declared failed: {}",
        c.describe()
    );
    c.resume(victim);
    c.wait_formed(nodes);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Relaxed);
    let Written { acked, regressions, .. } = writer.result();

    let Tally { writes, lost_acked, lost_unacked } = c.tally(&keys, &acked);
    eprintln!(
        "{nodes} nodes, replicas {replicas}: {writes} INCRs over {} kills and a pause: {} acknowledged \
         writes lost, {lost_unacked} unacknowledged",
        times.len(),
        lost_acked.len()
    );
    assert!(writes > 0, "the client wrote nothing");
    c.assert_no_acknowledged_write_lost(&lost_acked, &regressions);
    times
}

fn report(times: &mut [Duration]) {
    times.sort();
    if let (Some(median), Some(worst)) = (times.get(times.len() / 2), times.last()) {
        eprintln!("failover over {} kills: median {median:?}, worst {worst:?}", times.len());
    }
}

#[test]
fn three_nodes_one_replica_lose_no_acknowledged_write() {
    report(&mut failovers_keep_every_acknowledged_write(3, 1));
}

#[test]
fn three_nodes_two_replicas_lose_no_acknowledged_write() {
    report(&mut failovers_keep_every_acknowledged_write(3, 2));
}

#[test]
fn five_nodes_one_replica_lose_no_acknowledged_write() {
    report(&mut failovers_keep_every_acknowledged_write(5, 1));
}

#[test]
fn five_nodes_two_replicas_lose_no_acknowledged_write() {
    report(&mut failovers_keep_every_acknowledged_write(5, 2));
}

/// A rolling restart: each node in turn stopped with SHUTDOWN (which hands its ranges
/// to their replicas first) and started again, under the same writes. Nothing is lost,
/// acknowledged or not, and the client sees no error but `-MOVED`.
#[test]
#[ignore = "the client sometimes sees CLUSTERDOWN during a restart (3 runs in 9, no write lost): an open bug (issue 18)"]
fn a_rolling_restart_under_writes_loses_nothing_and_clients_see_only_moved() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let nodes = 3;
    let mut c = ClusterNodes::start(nodes, &["--cluster-replicas", "1"]);
    let keys: Vec<String> = (0..8 * nodes).map(|i| format!("counter:{i}")).collect();
    let stop = Arc::new(AtomicBool::new(false));
    // The node being restarted: a key whose node is unknown is asked elsewhere, as a
    // cluster client asks a node from its map (one just started answers CLUSTERDOWN
    // until it has heard from the others).
    let restarting = Arc::new(AtomicUsize::new(usize::MAX));
    let writer = write_until(&c, &keys, &stop, &restarting);
    for i in 0..nodes {
        std::thread::sleep(Duration::from_millis(300));
        restarting.store(i, Relaxed);
        c.shut_down(i);
        c.restart(i);
        c.wait_formed(nodes);
        restarting.store(usize::MAX, Relaxed);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Relaxed);
    let Written { acked, errors, regressions } = writer.result();
    let Tally { writes, lost_acked, lost_unacked } = c.tally(&keys, &acked);
    eprintln!(
        "rolling restart of {nodes} nodes: {writes} INCRs, {} acknowledged writes lost, {lost_unacked} \
         unacknowledged; errors other than MOVED: {errors:?}",
        lost_acked.len()
    );
    assert!(writes > 0, "the client wrote nothing");
    c.assert_no_acknowledged_write_lost(&lost_acked, &regressions);
    assert_eq!(lost_unacked, 0, "writes were lost");
    assert!(errors.is_empty(), "the client saw errors besides MOVED: {errors:?}");
}
