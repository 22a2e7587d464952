//! Cluster mode with real nodes: separate `slotcache` processes on 127.0.0.1 that form
//! a cluster from seeds, are killed (SIGKILL) and paused (SIGSTOP) — and clients that
//! speak Redis Cluster to them.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;

/// A RESP request of string arguments.
fn req(parts: &[&str]) -> Vec<u8> {
    resp(&parts.iter().map(|p| p.as_bytes()).collect::<Vec<_>>())
}

/// A key whose slot `node` serves, as node 0 sees it.
fn key_on(c: &ClusterNodes, node: usize, prefix: &str) -> String {
    (0..100_000)
        .map(|i| format!("{prefix}:{i}"))
        .find(|k| c.owner_of(0, k) == node)
        .expect("a key for each node")
}

#[test]
fn nodes_form_a_cluster_from_seeds_and_print_the_same_map() {
    let c = ClusterNodes::start(3, &[]);
    let mut ids = HashSet::new();
    let mut signatures = Vec::new();
    for i in 0..3 {
        let mut conn = c.conn(i);
        let id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut conn).unwrap();
        assert!(
            id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{id}"
        );
        ids.insert(id.clone());
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut conn).unwrap();
        assert!(nodes.ends_with('\n'), "every line ends with \\n: {nodes:?}");
        let lines: Vec<&str> = nodes.lines().collect();
        assert_eq!(lines.len(), 3, "{nodes}");
        let mine: Vec<&&str> = lines.iter().filter(|l| l.contains("myself,master")).collect();
        assert_eq!(mine.len(), 1, "{nodes}");
        assert!(mine[0].starts_with(&id));
        // <id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slots...>
        let mut signature = Vec::new();
        for l in &lines {
            let f: Vec<&str> = l.split(' ').collect();
            assert!(f.len() > 8, "every node serves slots: {l}");
            let (addr, cport) = f[1].split_once('@').unwrap();
            assert_eq!(addr.rsplit_once(':').unwrap().1, cport, "the client port is the cport: {l}");
            assert_eq!(f[3], "-");
            assert_eq!(f[7], "connected");
            let mut sig = vec![f[0].to_string()];
            sig.extend(f[8..].iter().map(|s| s.to_string()));
            signature.push(sig);
        }
        signature.sort();
        signatures.push(signature);
        let info: String = redis::cmd("INFO").arg("cluster").query(&mut conn).unwrap();
        assert!(info.contains("cluster_enabled:1"), "{info}");
        // Peer links are not clients: only this test's connection is one.
        assert!(
            eventually(|| info_field(&mut conn, "clients", "connected_clients") == 1),
            "{}",
            redis::cmd("CLIENT").arg("LIST").query::<String>(&mut conn).unwrap()
        );
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut conn).unwrap();
        for field in
            ["cluster_state:ok", "cluster_slots_assigned:16384", "cluster_known_nodes:3", "cluster_size:3"]
        {
            assert!(info.contains(&format!("{field}\r\n")), "{field} in {info}");
        }
    }
    assert_eq!(ids.len(), 3, "three distinct ids");
    assert!(signatures.windows(2).all(|w| w[0] == w[1]), "the nodes agree on the slots: {signatures:?}");

    // Each node owns about a third of the slots, in at most 16 ranges.
    let mut conn = c.conn(0);
    let slots = slot_ranges(redis::cmd("CLUSTER").arg("SLOTS").query(&mut conn).unwrap());
    for id in &ids {
        let mine: Vec<_> = slots.iter().filter(|s| &s.2 == id).collect();
        let owned: usize = mine.iter().map(|s| (s.1 - s.0) as usize + 1).sum();
        assert!(mine.len() <= 16, "{} ranges", mine.len());
        assert!((16384 / 3 * 9 / 10..=16384 / 3 * 11 / 10).contains(&owned), "{owned} slots");
    }
    // SHARDS: one shard per range, its primary then its replica (cluster-replicas 1).
    let shards: Vec<std::collections::HashMap<String, redis::Value>> =
        redis::cmd("CLUSTER").arg("SHARDS").query(&mut conn).unwrap();
    assert_eq!(shards.len(), slots.len());
    for (shard, range) in shards.iter().zip(&slots) {
        let bounds: Vec<u16> = redis::from_redis_value(shard["slots"].clone()).unwrap();
        assert_eq!(bounds, [range.0, range.1]);
        let nodes: Vec<std::collections::HashMap<String, redis::Value>> =
            redis::from_redis_value(shard["nodes"].clone()).unwrap();
        let roles: Vec<(String, String)> = nodes
            .iter()
            .map(|n| {
                (
                    redis::from_redis_value(n["id"].clone()).unwrap(),
                    redis::from_redis_value(n["role"].clone()).unwrap(),
                )
            })
            .collect();
        assert_eq!(roles.len(), 2, "{roles:?}");
        assert_eq!(roles[0], (range.2.clone(), "master".to_string()));
        assert_eq!(roles[1].1, "replica");
        assert_ne!(roles[1].0, range.2);
        // CLUSTER REPLICAS of the primary lists that replica among its lines.
        let lines: Vec<String> =
            redis::cmd("CLUSTER").arg("REPLICAS").arg(&range.2).query(&mut conn).unwrap();
        assert!(lines.iter().any(|l| l.starts_with(&roles[1].0) && l.ends_with('\n')), "{lines:?}");
    }
}

#[test]
fn members_already_serving_keep_serving_while_others_join() {
    let mut c = ClusterNodes::start(1, &[]);
    let mut conn = c.conn(0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let polling = {
        let (stop, addr) = (stop.clone(), c.addrs[0]);
        in_background(move || {
            // Every reply node 0 gives while two nodes join: OK, or MOVED once its slot
            // went to a joiner; never CLUSTERDOWN.
            let mut conn = connect(addr);
            let (mut replies, mut down) = (0, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for cmd in [
                    redis::cmd("SET").arg("probe").arg(replies).clone(),
                    redis::cmd("CLUSTER").arg("INFO").clone(),
                ] {
                    match cmd.query::<redis::Value>(&mut conn) {
                        Ok(redis::Value::BulkString(info))
                            if info.windows(18).any(|w| w == b"cluster_state:fail") =>
                        {
                            down.push("cluster_state:fail".to_string())
                        }
                        Err(e) if !error_text(&e).starts_with("MOVED") => down.push(error_text(&e)),
                        _ => {}
                    }
                    replies += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (replies, down)
        })
    };
    c.join();
    std::thread::sleep(NODE_TIMEOUT / 3);
    c.join();
    c.wait_formed(3);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (replies, down) = polling.result();
    assert!(replies > 100, "{replies} replies");
    assert!(
        down.is_empty(),
        "{} of {replies} replies while nodes joined: {:?}",
        down.len(),
        &down[..down.len().min(5)]
    );
    assert_eq!(
        redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut conn).map(|i| i.contains("cluster_state:ok")),
        Ok(true)
    );
}

#[test]
fn a_node_full_of_clients_still_lets_peers_in() {
    let mut c = ClusterNodes::start(2, &["--maxclients", "3"]);
    let mut held: Vec<redis::Connection> = (0..3).map(|_| c.conn(0)).collect();
    for h in &mut held {
        let () = redis::cmd("PING").query(h).unwrap();
    }
    // A fourth client is refused, whether it speaks or stays silent.
    let mut extra = Raw::connect(c.addrs[0]);
    extra.send(&req(&["PING"]));
    assert_eq!(extra.read_to_close(), b"-ERR max number of clients reached\r\n");
    let mut silent = Raw::connect(c.addrs[0]);
    assert_eq!(silent.read_to_close(), b"", "closed, unanswered, after its grace");
    // A node joining through this full one gets its links in, and the cluster forms.
    c.join();
    let formed = eventually_within(Duration::from_secs(30), || {
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut held[0]).unwrap();
        let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut held[0]).unwrap();
        nodes.lines().filter(|l| l.split(' ').count() > 8).count() == 3 && info.contains("cluster_state:ok")
    });
    assert!(formed, "{}", c.describe());
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut held[1]).unwrap();
    assert_eq!(clients.lines().count(), 3, "peer links are not clients: {clients}");
}

#[test]
fn redirections_and_cluster_errors_are_byte_exact() {
    let c = ClusterNodes::start(3, &[]);
    let other = key_on(&c, 1, "k");
    let mine = key_on(&c, 0, "k");
    let mut conn = c.conn(0);
    let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&other).query(&mut conn).unwrap();
    let mut raw = Raw::connect(c.addrs[0]);
    let moved = format!("-MOVED {slot} 127.0.0.1:{}\r\n", c.addrs[1].port());
    raw.roundtrip(&req(&["SET", &other, "v"]), moved.as_bytes());
    raw.roundtrip(&req(&["GET", &other]), moved.as_bytes());
    raw.roundtrip(&req(&["SET", &mine, "v"]), b"+OK\r\n");
    raw.roundtrip(
        &req(&["MSET", "{a}1", "x", "{b}1", "y"]),
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n",
    );
    let (a, b) = (format!("{{{mine}}}a"), format!("{{{mine}}}b"));
    raw.roundtrip(&req(&["MSET", &a, "x", &b, "y"]), b"+OK\r\n");
    raw.roundtrip(&req(&["SELECT", "1"]), b"-ERR SELECT is not allowed in cluster mode\r\n");
    raw.roundtrip(&req(&["SELECT", "0"]), b"+OK\r\n");
    raw.roundtrip(&req(&["ASKING"]), b"+OK\r\n");
    raw.roundtrip(&req(&["READONLY"]), b"+OK\r\n");
    raw.roundtrip(&req(&["READWRITE"]), b"+OK\r\n");
    raw.roundtrip(&req(&["PING"]), b"+PONG\r\n");
    raw.roundtrip(&req(&["CLUSTER", "KEYSLOT", "123456789"]), b":12739\r\n");
    raw.roundtrip(&req(&["CLUSTER", "COUNTKEYSINSLOT", "16384"]), b"-ERR Invalid slot\r\n");
    raw.roundtrip(&req(&["CLUSTER", "GETKEYSINSLOT", "0", "-1"]), b"-ERR Invalid slot or number of keys\r\n");
    raw.roundtrip(
        &req(&["CLUSTER", "KEYSLOT"]),
        b"-ERR wrong number of arguments for 'cluster|keyslot' command\r\n",
    );
    let my_slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&mine).query(&mut conn).unwrap();
    raw.roundtrip(&req(&["CLUSTER", "COUNTKEYSINSLOT", &my_slot.to_string()]), b":3\r\n");
    let got: Vec<String> =
        redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(my_slot).arg(10).query(&mut conn).unwrap();
    let one: Vec<String> =
        redis::cmd("CLUSTER").arg("GETKEYSINSLOT").arg(my_slot).arg(1).query(&mut conn).unwrap();
    assert_eq!(one.len(), 1, "at most count keys");
    let got: HashSet<String> = got.into_iter().collect();
    assert_eq!(got, HashSet::from([mine.clone(), a.clone(), b.clone()]), "the keys of that slot here");
    assert!(
        err(&mut conn, redis::cmd("CLUSTER").arg("ADDSLOTS").arg(1)).contains("assigned by slotcache's ring")
    );

    // SORT's BY and GET patterns must name keys of the sorted key's slot.
    let list = format!("{{{mine}}}list");
    raw.roundtrip(&req(&["RPUSH", &list, "3", "1", "2"]), b":3\r\n");
    raw.roundtrip(
        &req(&["SORT", &list, "BY", "w_*"]),
        b"-ERR BY option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.\r\n",
    );
    raw.roundtrip(
        &req(&["SORT", &list, "GET", "g_*"]),
        b"-ERR GET option of SORT denied in Cluster mode when keys formed by the pattern may be in different slots.\r\n",
    );
    raw.roundtrip(&req(&["SORT", &list, "BY", "nosort"]), b"*3\r\n$1\r\n3\r\n$1\r\n1\r\n$1\r\n2\r\n");
    let (by, get) = (format!("{{{mine}}}w_*"), format!("{{{mine}}}g_*"));
    raw.roundtrip(&req(&["SET", &format!("{{{mine}}}g_1"), "one"]), b"+OK\r\n");
    raw.roundtrip(
        &req(&["SORT", &list, "BY", &by, "GET", "#", "GET", &get, "LIMIT", "0", "1"]),
        b"*2\r\n$1\r\n1\r\n$3\r\none\r\n",
    );
    raw.roundtrip(&req(&["DEL", &list, &format!("{{{mine}}}g_1")]), b":2\r\n");

    // A redirected command inside MULTI makes EXEC fail, as in Redis.
    raw.roundtrip(&req(&["MULTI"]), b"+OK\r\n");
    raw.roundtrip(&req(&["SET", &mine, "w"]), b"+QUEUED\r\n");
    raw.roundtrip(&req(&["SET", &other, "w"]), moved.as_bytes());
    raw.roundtrip(&req(&["EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    raw.roundtrip(&req(&["GET", &mine]), b"$1\r\nv\r\n");

    // A client that is not a peer cannot speak the peers' internal command.
    raw.roundtrip(
        &req(&["SLOTCACHE.GOSSIP", "1", "swim", "x"]),
        b"-ERR unknown command 'SLOTCACHE.GOSSIP', with args beginning with: '1' 'swim' 'x' \r\n",
    );
}

#[test]
fn a_cluster_client_reads_and_writes_keys_over_every_node() {
    let c = ClusterNodes::start(3, &[]);
    let urls: Vec<String> = c.addrs.iter().map(|a| format!("redis://{a}/")).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = redis::cluster::ClusterClient::new(urls).unwrap();
        let mut conn = client.get_async_connection().await.unwrap();
        for i in 0..10_000 {
            let () = redis::cmd("SET").arg(format!("key:{i}")).arg(i).query_async(&mut conn).await.unwrap();
        }
        for i in (0..10_000).step_by(7) {
            let v: i64 = redis::cmd("GET").arg(format!("key:{i}")).query_async(&mut conn).await.unwrap();
            assert_eq!(v, i);
        }
    });
    // The keys are spread: every node holds a share.
    let mut total = 0;
    for i in 0..3 {
        let n: usize = redis::cmd("DBSIZE").query(&mut c.conn(i)).unwrap();
        assert!(n > 2_500, "node {i} holds {n} keys");
        total += n;
    }
    assert_eq!(total, 10_000);
}

#[test]
fn a_killed_nodes_slots_are_served_empty_without_replicas_and_it_returns_with_what_was_written_meanwhile() {
    let mut c = ClusterNodes::start(3, &["--cluster-replicas", "0"]);
    let on_2 = key_on(&c, 2, "kill");
    let on_0 = key_on(&c, 0, "kill");
    let id_2: String = redis::cmd("CLUSTER").arg("MYID").query(&mut c.conn(2)).unwrap();
    let () = redis::cmd("SET").arg(&on_2).arg("before").query(&mut c.conn(2)).unwrap();
    let () = redis::cmd("SET").arg(&on_0).arg("kept").query(&mut c.conn(0)).unwrap();

    c.kill(2);
    let killed = Instant::now();
    // Within the node timeout and a second more, the others serve its slots.
    let ok = eventually_within(NODE_TIMEOUT + Duration::from_secs(6), || {
        let Ok(mut a) = try_connect(c.addrs[0]) else { return false };
        let Ok(info) = redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut a) else { return false };
        info.contains("cluster_state:ok") && c.owner_of(0, &on_2) != 2
    });
    let took = killed.elapsed();
    assert!(ok, "the others did not take the killed node's slots: {}", c.describe());
    eprintln!("slots of the killed node served again after {took:?}");
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c.conn(0)).unwrap();
    let line = nodes.lines().find(|l| l.starts_with(&id_2)).unwrap();
    assert!(line.contains(" master,fail ") && line.contains(" disconnected"), "{line}");
    let heir = c.owner_of(0, &on_2);
    assert!(eventually(|| c.owner_of(heir, &on_2) == heir), "the heir agrees it serves the slot");
    let mut h = c.conn(heir);
    let v: Option<String> = redis::cmd("GET").arg(&on_2).query(&mut h).unwrap();
    assert_eq!(v, None, "its slots are served empty");
    let () = redis::cmd("SET").arg(&on_2).arg("interim").query(&mut h).unwrap();
    let v: String = redis::cmd("GET").arg(&on_0).query(&mut c.conn(0)).unwrap();
    assert_eq!(v, "kept", "the other slots are not affected");

    // A client blocked on a key of those slots is redirected when they move back.
    let slot: u16 = redis::cmd("CLUSTER").arg("KEYSLOT").arg(&on_2).query(&mut h).unwrap();
    let list = format!("{{{on_2}}}list");
    let heir_addr = c.addrs[heir];
    let blocked = in_background(move || {
        let mut b = connect(heir_addr);
        b.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        redis::cmd("BLPOP")
            .arg(&list)
            .arg(0)
            .query::<Option<(String, String)>>(&mut b)
            .map_err(|e| error_text(&e))
    });
    blocked.assert_waiting(Duration::from_millis(300));
    // So is a subscriber of a shard channel of those slots: it is told to go.
    let channel = format!("{{{on_2}}}ch");
    let mut sub = Raw::connect(c.addrs[heir]);
    sub.roundtrip(
        &req(&["SSUBSCRIBE", &channel]),
        format!("*3\r\n$10\r\nssubscribe\r\n${}\r\n{channel}\r\n:1\r\n", channel.len()).as_bytes(),
    );

    // Back with the same id, it copies its slots from the interim owner before it
    // serves them again (with the interim value, not its own from before the failure),
    // and the interim owner, no replica with cluster-replicas 0, drops what it held.
    c.restart(2);
    c.wait_formed(3);
    let again: String = redis::cmd("CLUSTER").arg("MYID").query(&mut c.conn(2)).unwrap();
    assert_eq!(again, id_2);
    assert!(eventually(|| c.owner_of(0, &on_2) == 2));
    let v: Option<String> = redis::cmd("GET").arg(&on_2).query(&mut c.conn(2)).unwrap();
    assert_eq!(
        v.as_deref(),
        Some("interim"),
        "what the interim owner served comes back with the slots: {}",
        c.describe()
    );
    let moved = blocked.result().expect_err("the blocked client is redirected");
    let told = sub.read_until(b":0\r\n");
    assert_eq!(
        String::from_utf8_lossy(&told),
        format!("*3\r\n$12\r\nsunsubscribe\r\n${}\r\n{channel}\r\n:0\r\n", channel.len())
    );
    assert_eq!(moved, format!("MOVED {slot} 127.0.0.1:{}", c.addrs[2].port()));
    assert!(
        eventually(
            || redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot).query::<u64>(&mut h).unwrap() == 0
        ),
        "the interim owner dropped the slot it handed back"
    );
}

#[test]
fn a_paused_node_answers_its_queued_requests_without_stale_data_and_rejoins() {
    let c = ClusterNodes::start(3, &[]);
    let on_2 = key_on(&c, 2, "pause");
    let () = redis::cmd("SET").arg(&on_2).arg("old").query(&mut c.conn(2)).unwrap();
    let mut raw = Raw::connect(c.addrs[2]);
    c.pause(2);
    // The others take its slots; meanwhile a client's request waits in its socket.
    assert!(
        eventually_within(Duration::from_secs(15), || c.owner_of(0, &on_2) != 2),
        "the paused node was not declared failed: {}",
        c.describe()
    );
    let heir = c.owner_of(0, &on_2);
    assert!(eventually(|| c.owner_of(heir, &on_2) == heir), "the heir agrees it serves the slot");
    let () = redis::cmd("SET").arg(&on_2).arg("new").query(&mut c.conn(heir)).unwrap();
    raw.send(&req(&["GET", &on_2]));
    c.resume(2);
    let reply = raw.read_until(b"\r\n");
    let reply = String::from_utf8_lossy(&reply).to_string();
    assert!(
        reply.starts_with("-CLUSTERDOWN") || reply.starts_with("-MOVED"),
        "a resumed node must not serve what it no longer owns: {reply:?}"
    );
    // It rejoins: declared failed, it drops what it held, copies its slots from the
    // node that served them meanwhile and serves them again with the value written
    // there: nobody serves a stale value, and nothing written meanwhile is lost.
    assert!(
        eventually_within(Duration::from_secs(20), || c.owner_of(0, &on_2) == 2 && c.owner_of(2, &on_2) == 2),
        "the resumed node did not rejoin: {}",
        c.describe()
    );
    c.wait_formed(3);
    let v: Option<String> = redis::cmd("GET").arg(&on_2).query(&mut c.conn(2)).unwrap();
    assert_eq!(v.as_deref(), Some("new"), "heir {heir}, key {on_2}: {}", c.describe());
}

#[test]
fn half_of_the_cluster_paused_leaves_no_majority() {
    let c = ClusterNodes::start(4, &[]);
    let on_0 = key_on(&c, 0, "split");
    let () = redis::cmd("SET").arg(&on_0).arg("v").query(&mut c.conn(0)).unwrap();
    c.pause(2);
    c.pause(3);
    let mut raw = Raw::connect(c.addrs[0]);
    let down = eventually_within(Duration::from_secs(10), || {
        raw.send(&req(&["GET", &on_0]));
        let reply = raw.read_until(b"\r\n");
        if reply.starts_with(b"$") {
            raw.read_until(b"\r\n");
        }
        reply == b"-CLUSTERDOWN The cluster is down\r\n"
    });
    assert!(down, "2 of 4 nodes cannot be a majority");
    // The other side of the split too (its lease ran from its own last answers).
    let mut one = c.conn(1);
    assert!(
        eventually(|| redis::cmd("CLUSTER")
            .arg("INFO")
            .query::<String>(&mut one)
            .unwrap()
            .contains("cluster_state:fail\r\n")),
        "node 1 still reports ok"
    );
    c.resume(2);
    c.resume(3);
}

#[test]
fn publish_reaches_subscribers_on_every_node() {
    let c = ClusterNodes::start(3, &[]);
    let mut conns: Vec<redis::Connection> = (0..3).map(|i| c.conn(i)).collect();
    let mut subscribers: Vec<redis::PubSub<'_>> = conns
        .iter_mut()
        .map(|conn| {
            let mut p = conn.as_pubsub();
            p.subscribe("news").unwrap();
            p
        })
        .collect();
    let n: i64 = redis::cmd("PUBLISH").arg("news").arg("hello").query(&mut c.conn(1)).unwrap();
    assert_eq!(n, 1, "the reply counts this node's subscribers, as in Redis");
    for (i, p) in subscribers.iter_mut().enumerate() {
        let m = p.get_message().unwrap_or_else(|e| panic!("node {i}: {e}"));
        assert_eq!(m.get_channel_name(), "news");
        assert_eq!(m.get_payload::<String>().unwrap(), "hello", "node {i}");
    }
    // Shard channels are routed by slot, as keys.
    let owner = c.owner_of(0, "shard-news");
    let other = (owner + 1) % 3;
    let e = err(&mut c.conn(other), redis::cmd("SPUBLISH").arg("shard-news").arg("x"));
    assert!(e.starts_with("MOVED "), "{e}");
}

#[test]
fn six_nodes_started_together_agree_on_a_balanced_ring() {
    let c = ClusterNodes::start(6, &[]);
    let slots = slot_ranges(redis::cmd("CLUSTER").arg("SLOTS").query(&mut c.conn(5)).unwrap());
    let mut owned: std::collections::HashMap<String, (usize, usize)> = Default::default();
    for (start, end, id, _) in &slots {
        let e = owned.entry(id.clone()).or_default();
        e.0 += (end - start) as usize + 1;
        e.1 += 1;
    }
    assert_eq!(owned.len(), 6);
    let mean = 16384.0 / 6.0;
    for (id, (n, ranges)) in &owned {
        assert!(*n as f64 <= 1.10 * mean, "{id} owns {n} slots, mean {mean:.0}");
        assert!(*ranges <= 16, "{id} has {ranges} ranges");
    }
    // redis-cli --cluster check compares the ids and slot ranges each node prints.
    let signature = |i: usize| -> Vec<String> {
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c.conn(i)).unwrap();
        let mut lines: Vec<String> = nodes
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                format!("{} {}", f[0], f[8..].join(" "))
            })
            .collect();
        lines.sort();
        lines
    };
    let first = signature(0);
    for i in 1..6 {
        assert_eq!(signature(i), first, "node {i} disagrees: {}", c.describe());
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns (status line, head, body).
fn http(port: u16, request: &str) -> (String, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("a whole response");
    (head.lines().next().unwrap().to_string(), head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn the_key_api_forwards_to_the_owner_and_cluster_json_shows_the_ring() {
    let c = ClusterNodes::start_with_metrics(3, &["--http-api", "yes"]);
    let key = key_on(&c, 1, "http");
    let id_1: String = redis::cmd("CLUSTER").arg("MYID").query(&mut c.conn(1)).unwrap();
    let body = format!("{{\"key\": \"{key}\", \"value\": \"v1\"}}");
    let (status, head, reply) = http(
        c.metrics_ports[0],
        &format!("POST /set HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
    );
    assert_eq!(status, "HTTP/1.1 200 OK", "{reply}");
    assert!(head.contains(&format!("x-slotcache-node: {id_1}")), "{head}");
    let v: Option<String> = redis::cmd("GET").arg(&key).query(&mut c.conn(1)).unwrap();
    assert_eq!(v.as_deref(), Some("v1"), "stored on the owner");
    let (status, head, reply) =
        http(c.metrics_ports[2], &format!("GET /get?key={key} HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(
        (status.as_str(), reply.as_str()),
        ("HTTP/1.1 200 OK", "{\"value\":\"v1\"}\n"),
        "{}",
        c.describe()
    );
    assert!(head.contains(&format!("x-slotcache-node: {id_1}")), "{head}");

    let (status, _, body) = http(c.metrics_ports[1], "GET /cluster HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["myself"], id_1.as_str());
    assert_eq!(view["state"], "ok");
    assert_eq!(view["members"].as_array().unwrap().len(), 3);
    let ranges = view["ranges"].as_array().unwrap();
    let covered: u64 =
        ranges.iter().map(|r| r["end"].as_u64().unwrap() - r["start"].as_u64().unwrap() + 1).sum();
    assert_eq!(covered, 16384);
    let keys: u64 =
        ranges.iter().filter(|r| r["primary"] == id_1.as_str()).map(|r| r["keys"].as_u64().unwrap()).sum();
    assert_eq!(keys, 1, "the key written through node 0 lives on node 1");
    assert!(ranges.iter().filter(|r| r["primary"] != id_1.as_str()).all(|r| r["keys"].is_null()));

    // The ring page is one self-contained document drawn from /cluster.
    let (status, head, page) = http(c.metrics_ports[0], "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(page.contains("<svg") && page.contains("fetch(\"/cluster\""), "the page draws /cluster");
    for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!page.contains(external), "no external assets: {external}");
    }
}

#[test]
fn the_proxy_port_stands_in_for_one_redis() {
    let c = ClusterNodes::start_with_metrics(3, &[]);
    let proxy = |i: usize| -> redis::Connection {
        connect(format!("127.0.0.1:{}", c.proxy_ports[i]).parse().unwrap())
    };
    let mut p = proxy(0);
    for i in 0..300 {
        let set = redis::cmd("SET").arg(format!("px:{i}")).arg(i).query::<()>(&mut p);
        if let Err(e) = set {
            panic!("SET px:{i} through the proxy: {e}: {}", c.describe());
        }
    }
    let v: i64 = redis::cmd("GET").arg("px:123").query(&mut proxy(1)).unwrap();
    assert_eq!(v, 123, "any node's proxy serves any key");
    let counts: Vec<usize> = (0..3).map(|i| redis::cmd("DBSIZE").query(&mut c.conn(i)).unwrap()).collect();
    assert!(counts.iter().all(|&n| n > 50), "the keys went to their owners: {counts:?}: {}", c.describe());
    let total: usize = redis::cmd("DBSIZE").query(&mut p).unwrap();
    assert_eq!(total, counts.iter().sum::<usize>(), "DBSIZE sums every node");

    // Multi-key commands are split per slot and put back together, in order.
    let () =
        redis::cmd("MSET").arg("a1").arg("1").arg("b2").arg("2").arg("c3").arg("3").query(&mut p).unwrap();
    let got: Vec<Option<String>> =
        redis::cmd("MGET").arg("c3").arg("missing").arg("a1").arg("b2").query(&mut p).unwrap();
    assert_eq!(got, vec![Some("3".into()), None, Some("1".into()), Some("2".into())]);
    let n: i64 = redis::cmd("EXISTS").arg("a1").arg("b2").arg("nope").arg("c3").query(&mut p).unwrap();
    assert_eq!(n, 3);
    let n: i64 = redis::cmd("DEL").arg("a1").arg("b2").arg("c3").query(&mut p).unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        err(&mut p, redis::cmd("RENAME").arg("{x}1").arg("{y}1")),
        "CROSSSLOT Keys in request don't hash to the same slot"
    );

    // KEYS and SCAN see every node's keys, each once.
    let keys: Vec<String> = redis::cmd("KEYS").arg("px:*").query(&mut p).unwrap();
    assert_eq!(keys.len(), 300);
    let mut seen = HashSet::new();
    let mut cursor = 0u64;
    for _ in 0..10_000 {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("px:*")
            .arg("COUNT")
            .arg(50)
            .query(&mut p)
            .unwrap();
        seen.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(cursor, 0, "the scan ended");
    assert_eq!(seen.len(), 300);

    // A transaction on one slot runs on its node; one across slots is refused.
    let mut t = proxy(2);
    let _: () = redis::cmd("MULTI").query(&mut t).unwrap();
    let _: () = redis::cmd("SET").arg("{tx}a").arg(1).query(&mut t).unwrap();
    let _: () = redis::cmd("INCR").arg("{tx}a").query(&mut t).unwrap();
    let done: (String, i64) = redis::cmd("EXEC").query(&mut t).unwrap();
    assert_eq!(done, ("OK".to_string(), 2));
    let mut raw = Raw::connect(format!("127.0.0.1:{}", c.proxy_ports[2]).parse().unwrap());
    raw.roundtrip(&req(&["MULTI"]), b"+OK\r\n");
    raw.roundtrip(&req(&["SET", "{tx}a", "1"]), b"+QUEUED\r\n");
    raw.roundtrip(
        &req(&["SET", "{other}a", "1"]),
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n",
    );
    raw.roundtrip(&req(&["EXEC"]), b"-EXECABORT Transaction discarded because of previous errors.\r\n");
    raw.roundtrip(&req(&["SELECT", "1"]), b"-ERR SELECT is not allowed in cluster mode\r\n");

    // BLPOP through one proxy, woken by a push made through another node's proxy.
    let addr = format!("127.0.0.1:{}", c.proxy_ports[1]).parse().unwrap();
    let blocked = in_background(move || {
        let mut b = connect(addr);
        redis::cmd("BLPOP")
            .arg("queue")
            .arg(5)
            .query::<Option<(String, String)>>(&mut b)
            .map_err(|e| error_text(&e))
    });
    blocked.assert_waiting(Duration::from_millis(300));
    let () = redis::cmd("SET").arg("unrelated").arg(1).query(&mut proxy(1)).unwrap();
    let _: i64 = redis::cmd("LPUSH").arg("queue").arg("job").query(&mut proxy(0)).unwrap();
    assert_eq!(blocked.result(), Ok(Some(("queue".to_string(), "job".to_string()))));

    // PUBLISH through one proxy reaches a subscriber on another.
    let mut sub = proxy(1);
    let mut ps = sub.as_pubsub();
    ps.subscribe("px-news").unwrap();
    let _: i64 = redis::cmd("PUBLISH").arg("px-news").arg("hi").query(&mut proxy(0)).unwrap();
    let m = ps.get_message().unwrap();
    assert_eq!(m.get_payload::<String>().unwrap(), "hi");
    drop(ps);

    // RESP3 after HELLO 3.
    let mut r3 = Raw::connect(format!("127.0.0.1:{}", c.proxy_ports[0]).parse().unwrap());
    r3.send(&req(&["HELLO", "3"]));
    let hello = r3.read_until(b"modules\r\n*0\r\n");
    assert!(hello.starts_with(b"%7\r\n"), "{}", String::from_utf8_lossy(&hello));
    r3.roundtrip(&req(&["GET", "px:7"]), b"$1\r\n7\r\n");
    r3.roundtrip(&req(&["MGET", "px:7", "nope"]), b"*2\r\n$1\r\n7\r\n_\r\n");
    r3.roundtrip(&req(&["QUIT"]), b"+OK\r\n");

    // Counted and timed on the node whose proxy answered.
    let (_, _, metrics) = http(c.metrics_ports[0], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let value = |name: &str| -> f64 {
        let line =
            metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let proxied = value("slotcache_cluster_proxied_commands_total");
    assert!(proxied >= 300.0, "{proxied}");
    assert_eq!(value("slotcache_cluster_proxy_duration_seconds_count"), proxied);
}

/// A RESP3 invalidation push for one key.
fn invalidate(key: &str) -> Vec<u8> {
    format!(">2\r\n$10\r\ninvalidate\r\n*1\r\n${}\r\n{key}\r\n", key.len()).into_bytes()
}

#[test]
fn a_resp3_client_tracks_keys_on_every_node_through_the_proxy() {
    let c = ClusterNodes::start_with_metrics(3, &[]);
    let proxy_addr =
        |i: usize| -> std::net::SocketAddr { format!("127.0.0.1:{}", c.proxy_ports[i]).parse().unwrap() };
    let resp3 = |i: usize| {
        let mut r = Raw::connect(proxy_addr(i));
        r.send(&req(&["HELLO", "3"]));
        r.read_until(b"modules\r\n*0\r\n");
        r
    };
    let keys: Vec<String> = (0..3).map(|n| key_on(&c, n, "tracked")).collect();
    let mut writer = connect(proxy_addr(1));
    for k in &keys {
        let () = redis::cmd("SET").arg(k).arg("v").query(&mut writer).unwrap();
    }

    // Default mode: every key read, on whichever node, is invalidated when written.
    let mut t = resp3(0);
    t.roundtrip(&req(&["CLIENT", "TRACKING", "ON"]), b"+OK\r\n");
    for k in &keys {
        t.roundtrip(&req(&["GET", k]), b"$1\r\nv\r\n");
    }
    for k in &keys {
        let () = redis::cmd("SET").arg(k).arg("w").query(&mut writer).unwrap();
        t.roundtrip(b"", &invalidate(k));
    }
    t.roundtrip(
        &req(&["CLIENT", "CACHING", "YES"]),
        b"-ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.\r\n",
    );
    // Off: nothing more.
    t.roundtrip(&req(&["CLIENT", "TRACKING", "OFF"]), b"+OK\r\n");
    t.roundtrip(&req(&["GET", &keys[1]]), b"$1\r\nw\r\n");
    let () = redis::cmd("SET").arg(&keys[1]).arg("x").query(&mut writer).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    t.roundtrip(&req(&["PING"]), b"+PONG\r\n");

    // OPTIN: only the read after CLIENT CACHING YES is remembered, on its own node.
    let mut o = resp3(2);
    o.roundtrip(&req(&["CLIENT", "TRACKING", "ON", "OPTIN"]), b"+OK\r\n");
    o.roundtrip(&req(&["GET", &keys[2]]), b"$1\r\nw\r\n");
    o.roundtrip(&req(&["CLIENT", "CACHING", "YES"]), b"+OK\r\n");
    o.roundtrip(&req(&["GET", &keys[0]]), b"$1\r\nw\r\n");
    let () = redis::cmd("SET").arg(&keys[2]).arg("y").query(&mut writer).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let () = redis::cmd("SET").arg(&keys[0]).arg("y").query(&mut writer).unwrap();
    o.roundtrip(b"", &invalidate(&keys[0]));

    // BCAST: writes on every node under the prefix, read or not.
    let mut b = resp3(1);
    b.roundtrip(&req(&["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "tracked"]), b"+OK\r\n");
    for k in &keys {
        let () = redis::cmd("SET").arg(k).arg("z").query(&mut writer).unwrap();
        b.roundtrip(b"", &invalidate(k));
    }

    // RESP2's REDIRECT needs a connection the nodes cannot name.
    let mut r2 = Raw::connect(proxy_addr(0));
    r2.roundtrip(
        &req(&["CLIENT", "TRACKING", "ON", "REDIRECT", "7"]),
        b"-ERR CLIENT TRACKING REDIRECT is not supported on the proxy port: use RESP3 (HELLO 3), whose invalidations come on the same connection\r\n",
    );
    r2.roundtrip(
        &req(&["CLIENT", "TRACKING", "ON", "BCAST", "OPTIN"]),
        b"-ERR OPTIN and OPTOUT are not compatible with BCAST\r\n",
    );
}

#[test]
fn a_reset_node_leaves_and_a_meet_brings_it_back_as_a_new_node() {
    let c = ClusterNodes::start(3, &[]);
    let mut n2 = c.conn(2);
    let key = key_on(&c, 2, "reset");
    let () = redis::cmd("SET").arg(&key).arg("v").query(&mut n2).unwrap();
    assert_eq!(
        err(&mut n2, redis::cmd("CLUSTER").arg("RESET").arg("HARD")),
        "ERR CLUSTER RESET can't be called with master nodes containing keys"
    );
    assert_eq!(err(&mut n2, redis::cmd("CLUSTER").arg("RESET").arg("NOW")), "ERR syntax error");
    let old_id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut n2).unwrap();
    let () = redis::cmd("FLUSHALL").query(&mut n2).unwrap();
    let () = redis::cmd("CLUSTER").arg("RESET").arg("HARD").query(&mut n2).unwrap();

    // It is alone, with a new id and no slots; the others serve its slots at once.
    assert!(
        eventually(|| {
            let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut n2).unwrap();
            nodes.lines().count() == 1
                && !nodes.starts_with(&old_id)
                && nodes.trim_end().ends_with("connected")
        }),
        "{}",
        c.describe()
    );
    assert_eq!(err(&mut n2, redis::cmd("GET").arg(&key)), "CLUSTERDOWN Hash slot not served");
    assert!(
        eventually_within(Duration::from_secs(10), || c.owner_of(0, &key) != 2),
        "the others did not take its slots: {}",
        c.describe()
    );

    // CLUSTER MEET makes it join again, as a new node that places its tokens.
    let () =
        redis::cmd("CLUSTER").arg("MEET").arg("127.0.0.1").arg(c.addrs[0].port()).query(&mut n2).unwrap();
    c.wait_formed(3);
    let new_id: String = redis::cmd("CLUSTER").arg("MYID").query(&mut n2).unwrap();
    assert_ne!(new_id, old_id);
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(&mut c.conn(0)).unwrap();
    assert!(nodes.contains(&new_id), "{nodes}");
}

#[test]
fn a_forgotten_node_leaves_the_map_and_a_cluster_client_carries_on_past_a_failure() {
    let mut c = ClusterNodes::start(3, &[]);
    let urls: Vec<String> = c.addrs.iter().map(|a| format!("redis://{a}/")).collect();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = redis::cluster::ClusterClient::new(urls).unwrap();
    let mut conn = rt.block_on(client.get_async_connection()).unwrap();
    let on_2 = key_on(&c, 2, "carry");
    rt.block_on(async {
        let () = redis::cmd("SET").arg(&on_2).arg("before").query_async(&mut conn).await.unwrap();
    });
    let id_2: String = redis::cmd("CLUSTER").arg("MYID").query(&mut c.conn(2)).unwrap();
    c.kill(2);
    // The same client, not restarted, reads and writes that slot again once the
    // others serve it (empty).
    let carried = eventually_within(Duration::from_secs(20), || {
        rt.block_on(async {
            let set: redis::RedisResult<()> =
                redis::cmd("SET").arg(&on_2).arg("after").query_async(&mut conn).await;
            let got: redis::RedisResult<Option<String>> =
                redis::cmd("GET").arg(&on_2).query_async(&mut conn).await;
            set.is_ok() && matches!(got, Ok(Some(ref v)) if v == "after")
        })
    });
    assert!(carried, "the cluster client did not carry on: {}", c.describe());

    // FORGET on every live node removes the failed node from their maps.
    for i in 0..2 {
        let () = redis::cmd("CLUSTER").arg("FORGET").arg(&id_2).query(&mut c.conn(i)).unwrap();
        // Gone from this node's map when +OK came, as in Redis.
        let mut conn = c.conn(i);
        assert_eq!(
            err(&mut conn, redis::cmd("CLUSTER").arg("FORGET").arg(&id_2)),
            format!("ERR Unknown node {id_2}")
        );
    }
    for i in 0..2 {
        let mut conn = c.conn(i);
        let me: String = redis::cmd("CLUSTER").arg("MYID").query(&mut conn).unwrap();
        assert_eq!(
            err(&mut conn, redis::cmd("CLUSTER").arg("FORGET").arg(&me)),
            "ERR I tried hard but I can't forget myself..."
        );
        assert!(
            eventually(|| {
                let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut conn).unwrap();
                info.contains("cluster_known_nodes:2\r\n") && info.contains("cluster_state:ok\r\n")
            }),
            "node {i}: {}",
            c.describe()
        );
    }
}

#[test]
fn a_loaded_snapshot_keeps_only_the_slots_the_node_serves_and_a_joiner_copies_its_share() {
    let base = std::env::temp_dir().join(format!("slotcache-cluster-load-{}", std::process::id()));
    let (dir_a, dir_b) = (base.join("a"), base.join("b"));
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let node = |dir: &std::path::Path, port: u16, seed: Option<String>| {
        let (dir, port) = (dir.to_string_lossy().into_owned(), port.to_string());
        let mut args = vec![
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
            "--metrics-port",
            "0",
            "--cluster-enabled",
            "yes",
            "--dir",
            &dir,
        ];
        let seed = seed.unwrap_or_default();
        if !seed.is_empty() {
            args.extend(["--cluster-seeds", &seed]);
        }
        Proc::start(&args)
    };
    // A single node serving every slot saves 1,000 keys and comes back with them.
    let a = node(&dir_a, 0, None);
    let mut c = a.conn();
    for i in 0..1000 {
        let () = redis::cmd("SET").arg(format!("k{i}")).arg(i).query(&mut c).unwrap();
    }
    let () = redis::cmd("SAVE").query(&mut c).unwrap();
    let port = a.addr.port();
    drop(c);
    drop(a);
    let a = node(&dir_a, port, None);
    let mut c = a.conn();
    let loaded = eventually_within(Duration::from_secs(20), || {
        redis::cmd("DBSIZE").query::<i64>(&mut c).is_ok_and(|n| n == 1000)
    });
    assert!(loaded, "the node that serves every slot keeps every key it saved");
    // The same file under a node that joins, after the first node changed every key:
    // the joiner keeps none of its stale keys; it copies its share from the first node
    // and serves it with the new values, and the two primaries' keys add up to the
    // 1,000 (the first node's DBSIZE counts its own ranges, not its copies).
    std::fs::copy(dir_a.join("dump.rdb"), dir_b.join("dump.rdb")).unwrap();
    for i in 0..1000 {
        let () = redis::cmd("SET").arg(format!("k{i}")).arg(format!("new{i}")).query(&mut c).unwrap();
    }
    let b = node(&dir_b, 0, Some(a.addr.to_string()));
    let mut cb = b.conn();
    let mut sizes = (0, 0);
    let shared = eventually_within(Duration::from_secs(30), || {
        let formed = redis::cmd("CLUSTER")
            .arg("INFO")
            .query::<String>(&mut cb)
            .is_ok_and(|i| i.contains("cluster_size:2"));
        sizes = (
            redis::cmd("DBSIZE").query::<i64>(&mut c).unwrap_or(-1),
            redis::cmd("DBSIZE").query::<i64>(&mut cb).unwrap_or(-1),
        );
        formed && sizes.0 > 0 && sizes.1 > 0 && sizes.0 + sizes.1 == 1000
    });
    assert!(shared, "the two nodes share the ring and the keys: {sizes:?}");
    let mut stale = Vec::new();
    for i in 0..1000 {
        let key = format!("k{i}");
        let v: redis::RedisResult<String> = redis::cmd("GET").arg(&key).query(&mut cb);
        match v {
            Ok(v) if v != format!("new{i}") => stale.push(format!("{key}={v}")),
            Err(e) if !error_text(&e).starts_with("MOVED") => {
                stale.push(format!("{key}: {}", error_text(&e)))
            }
            _ => {}
        }
    }
    assert!(
        stale.is_empty(),
        "the joiner serves its share as the first node left it: {:?}",
        &stale[..stale.len().min(5)]
    );
    let _ = std::fs::remove_dir_all(&base);
}
