//! CLUSTER and the connection commands of Redis Cluster (READONLY, READWRITE, ASKING).
//!
//! Every reply is drawn from one [`ClusterState`] snapshot, in the exact shapes of
//! Redis 7.0 (`CLUSTER-FACTS.md`): all members are `master`, each listed with the
//! slot ranges its tokens give it. Slots are assigned by the ring, so the commands
//! that assign them by hand answer an error saying so.

use bytes::Bytes;

use super::Ctx;
use super::table::{ADMIN, CONNECTION, CommandSpec, FAST, LOADING, NOSCRIPT, STALE};
use crate::cluster::state::{ClusterState, Health, Node};
use crate::cluster::{Cluster, Inbound, slot};
use crate::error::{self, CmdResult, CommandError};
use crate::protocol::{Reply, args};

const ADM: u32 = ADMIN | NOSCRIPT | STALE;

/// How long CLUSTER FORGET waits for the membership thread to drop the node.
const FORGET_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("cluster", -2, 0, help)
        .group("cluster")
        .doc("A container for Redis Cluster commands.", "3.0.0")
        .subs(SUBCOMMANDS),
    CommandSpec::new("readonly", 1, FAST | LOADING | STALE, readonly)
        .acl(CONNECTION)
        .group("cluster")
        .doc("Enables read-only queries for a connection to a Redis Cluster replica node.", "3.0.0"),
    CommandSpec::new("readwrite", 1, FAST | LOADING | STALE, readwrite)
        .acl(CONNECTION)
        .group("cluster")
        .doc("Enables read-write queries for a connection to a Redis Cluster replica node.", "3.0.0"),
    CommandSpec::new("asking", 1, FAST, ok_in_cluster)
        .acl(CONNECTION)
        .group("cluster")
        .doc("Signals that a cluster client is following an -ASK redirect.", "3.0.0"),
];

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("cluster|info", 2, STALE, info)
        .group("cluster")
        .doc("Returns information about the state of a node.", "3.0.0"),
    CommandSpec::new("cluster|nodes", 2, STALE, nodes)
        .group("cluster")
        .doc("Returns the cluster configuration for a node.", "3.0.0"),
    CommandSpec::new("cluster|slots", 2, LOADING | STALE, slots)
        .group("cluster")
        .doc("Returns the mapping of cluster slots to nodes.", "3.0.0"),
    CommandSpec::new("cluster|shards", 2, LOADING | STALE, shards)
        .group("cluster")
        .doc("Returns the mapping of cluster slots to shards.", "7.0.0"),
    CommandSpec::new("cluster|myid", 2, STALE, myid)
        .group("cluster")
        .doc("Returns the ID of a node.", "3.0.0"),
    CommandSpec::new("cluster|keyslot", 3, STALE, keyslot)
        .group("cluster")
        .doc("Returns the hash slot for a key.", "3.0.0"),
    CommandSpec::new("cluster|countkeysinslot", 3, STALE, countkeysinslot)
        .group("cluster")
        .doc("Returns the number of keys in a hash slot.", "3.0.0"),
    CommandSpec::new("cluster|getkeysinslot", 4, STALE, getkeysinslot)
        .group("cluster")
        .doc("Returns the key names in a hash slot.", "3.0.0"),
    CommandSpec::new("cluster|links", 2, STALE, links)
        .group("cluster")
        .doc("Returns a list of all TCP links to and from peer nodes.", "7.0.0"),
    CommandSpec::new("cluster|replicas", 3, ADM, replicas)
        .group("cluster")
        .doc("Lists the replica nodes of a master node.", "5.0.0"),
    CommandSpec::new("cluster|slaves", 3, ADM, replicas)
        .group("cluster")
        .doc("Lists the replica nodes of a master node.", "3.0.0"),
    CommandSpec::new("cluster|meet", -4, ADM, meet)
        .group("cluster")
        .doc("Forces a node to handshake with another node.", "3.0.0"),
    CommandSpec::new("cluster|forget", 3, ADM, forget)
        .group("cluster")
        .doc("Removes a node from the nodes table.", "3.0.0"),
    CommandSpec::new("cluster|reset", -2, ADM | NOSCRIPT, reset)
        .group("cluster")
        .doc("Resets a node.", "3.0.0"),
    CommandSpec::new("cluster|saveconfig", 2, ADM, saveconfig)
        .group("cluster")
        .doc("Forces a node to save the cluster configuration to disk.", "3.0.0"),
    CommandSpec::new("cluster|addslots", -3, ADM, by_ring)
        .group("cluster")
        .doc("Assigns new hash slots to a node.", "3.0.0"),
    CommandSpec::new("cluster|addslotsrange", -4, ADM, by_ring)
        .group("cluster")
        .doc("Assigns new hash slot ranges to a node.", "7.0.0"),
    CommandSpec::new("cluster|delslots", -3, ADM, by_ring)
        .group("cluster")
        .doc("Sets hash slots as unbound for a node.", "3.0.0"),
    CommandSpec::new("cluster|delslotsrange", -4, ADM, by_ring)
        .group("cluster")
        .doc("Sets hash slot ranges as unbound for a node.", "7.0.0"),
    CommandSpec::new("cluster|flushslots", 2, ADM, by_ring)
        .group("cluster")
        .doc("Deletes all slots information from a node.", "3.0.0"),
    CommandSpec::new("cluster|setslot", -4, ADM, by_ring)
        .group("cluster")
        .doc("Binds a hash slot to a node.", "3.0.0"),
    CommandSpec::new("cluster|replicate", 3, ADM, by_ring)
        .group("cluster")
        .doc("Configure a node as replica of a master node.", "3.0.0"),
    CommandSpec::new("cluster|set-config-epoch", 3, ADM, by_ring)
        .group("cluster")
        .doc("Sets the configuration epoch for a new node.", "3.0.0"),
    CommandSpec::new("cluster|bumpepoch", 2, ADM, by_ring)
        .group("cluster")
        .doc("Advances the cluster config epoch.", "3.0.0"),
    CommandSpec::new("cluster|help", 2, LOADING | STALE, help)
        .group("cluster")
        .doc("Returns helpful text about the different subcommands.", "5.0.0"),
];

/// The cluster, or Redis's error when this node is not in cluster mode.
fn cluster<'a>(ctx: &Ctx<'a>) -> Result<&'a Cluster, CommandError> {
    ctx.server.cluster.as_deref().ok_or(error::CLUSTER_DISABLED)
}

/// ASKING: accepted in cluster mode (slots are handed over whole, so no -ASK is ever
/// sent).
fn ok_in_cluster(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// READONLY: this connection's reads of slots the node keeps copies of are served
/// from the copy (writes there still get -MOVED).
fn readonly(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.session.readonly = true;
    ctx.out.ok();
    Ok(())
}

/// READWRITE: back to reading from primaries only.
fn readwrite(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.session.readonly = false;
    ctx.out.ok();
    Ok(())
}

/// CLUSTER HELP
fn help(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() > 1 && !args::is(&argv[1], "help") {
        return Err(error::unknown_subcommand(&argv[1], "cluster"));
    }
    const LINES: &[&str] = &[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "FORGET <node-id>",
        "    Remove a node from the cluster.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "LINKS",
        "    Return information about all network links between this node and its peers.",
        "MEET <ip> <port>",
        "    Connect nodes into a working cluster.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port@port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "RESET [HARD|SOFT]",
        "    Leave the cluster and forget every node (HARD: take a new id too); the node",
        "    holds no slots until CLUSTER MEET makes it join again.",
        "REPLICAS <node-id>",
        "    Return <node-id> replicas.",
        "SAVECONFIG",
        "    Force saving cluster configuration on disk.",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "Slots are assigned by the ring: ADDSLOTS, DELSLOTS, SETSLOT, REPLICATE and",
        "SET-CONFIG-EPOCH are refused.",
        "HELP",
        "    Print this help.",
    ];
    ctx.out.array(LINES.len());
    for l in LINES {
        ctx.out.simple(l);
    }
    Ok(())
}

/// CLUSTER INFO
fn info(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let cluster = cluster(ctx)?;
    let state = cluster.state();
    let s = &cluster.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let (ping_sent, ping_received) = (load(&s.heartbeats_sent), load(&s.heartbeats_received));
    let fields: Vec<(&str, String)> = vec![
        ("cluster_state", if cluster.is_ok(&state) { "ok" } else { "fail" }.into()),
        ("cluster_slots_assigned", state.slots_assigned().to_string()),
        ("cluster_slots_ok", state.slots_in(Health::Online).to_string()),
        ("cluster_slots_pfail", state.slots_in(Health::Suspect).to_string()),
        ("cluster_slots_fail", state.slots_in(Health::Failed).to_string()),
        ("cluster_known_nodes", state.members.len().to_string()),
        ("cluster_size", state.size().to_string()),
        ("cluster_current_epoch", state.current_epoch.to_string()),
        ("cluster_my_epoch", state.me().epoch.to_string()),
        ("cluster_stats_messages_ping_sent", ping_sent.to_string()),
        ("cluster_stats_messages_sent", (ping_sent + load(&s.messages_sent)).to_string()),
        ("cluster_stats_messages_ping_received", ping_received.to_string()),
        ("cluster_stats_messages_received", (ping_received + load(&s.messages_received)).to_string()),
        ("total_cluster_links_buffer_limit_exceeded", "0".into()),
    ];
    let text: String = fields.iter().map(|(k, v)| format!("{k}:{v}\r\n")).collect();
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// `a-b` or `a` for each range a node serves.
fn slot_ranges(state: &ClusterState, node: u16) -> Vec<String> {
    state
        .ranges_of(node)
        .map(|r| if r.start == r.end { r.start.to_string() } else { format!("{}-{}", r.start, r.end) })
        .collect()
}

/// The CLUSTER NODES text: one `\n`-terminated line per member, in id order.
pub fn nodes_text(state: &ClusterState) -> String {
    (0..state.members.len()).map(|i| node_line(state, i)).collect()
}

/// One member's CLUSTER NODES line, `\n`-terminated.
fn node_line(state: &ClusterState, i: usize) -> String {
    let m = &state.members[i];
    let mine = i == state.myself as usize;
    let flags = match (mine, m.health) {
        (true, _) => "myself,master",
        (false, Health::Online) => "master",
        (false, Health::Suspect) => "master,fail?",
        (false, Health::Failed) => "master,fail",
    };
    let link = if mine || m.health != Health::Failed { "connected" } else { "disconnected" };
    let mut out = format!(
        "{} {}:{}@{} {flags} - {} {} {} {link}",
        m.id, m.ip, m.port, m.port, m.ping_sent_ms, m.pong_recv_ms, m.epoch
    );
    for r in slot_ranges(state, i as u16) {
        out.push(' ');
        out.push_str(&r);
    }
    out.push('\n');
    out
}

/// CLUSTER NODES
fn nodes(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let state = cluster(ctx)?.state();
    ctx.out.verbatim(nodes_text(&state).as_bytes());
    Ok(())
}

/// One node of CLUSTER SLOTS: endpoint, port, id, metadata (empty).
fn slot_node(out: &mut Reply, m: &Node) {
    out.array(4);
    out.bulk(m.ip.as_bytes());
    out.int(m.port as i64);
    out.bulk(m.id.as_bytes());
    out.map(0);
}

/// CLUSTER SLOTS: each range's primary, then its replicas but those still copying
/// their own arcs (as Redis hides replicas that have not synced), so that a READONLY
/// client never reads an empty copy.
fn slots(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let state = cluster(ctx)?.state();
    ctx.out.array(state.ranges.len());
    for r in &state.ranges {
        let replicas: Vec<&Node> =
            r.replicas.iter().map(|&n| &state.members[n as usize]).filter(|m| m.ready).collect();
        ctx.out.array(3 + replicas.len());
        ctx.out.int(r.start as i64);
        ctx.out.int(r.end as i64);
        slot_node(ctx.out, &state.members[r.primary as usize]);
        for m in replicas {
            slot_node(ctx.out, m);
        }
    }
    Ok(())
}

/// CLUSTER SHARDS: one shard per range (its replicas differ from its neighbours'), its
/// primary first with role `master`, then its replicas with role `replica` (health
/// `loading` while one still copies its own arcs).
fn shards(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let state = cluster(ctx)?.state();
    let my_offset = ctx.server.replication.stream().offset as i64;
    let out = &mut *ctx.out;
    out.array(state.ranges.len());
    for r in &state.ranges {
        out.map(2);
        out.bulk(b"slots");
        out.array(2);
        out.int(r.start as i64);
        out.int(r.end as i64);
        out.bulk(b"nodes");
        out.array(1 + r.replicas.len());
        let roles = std::iter::once((r.primary, "master")).chain(r.replicas.iter().map(|&n| (n, "replica")));
        for (n, role) in roles {
            let m = &state.members[n as usize];
            out.map(7);
            out.bulk(b"id");
            out.bulk(m.id.as_bytes());
            out.bulk(b"port");
            out.int(m.port as i64);
            out.bulk(b"ip");
            out.bulk(m.ip.as_bytes());
            out.bulk(b"endpoint");
            out.bulk(m.ip.as_bytes());
            out.bulk(b"role");
            out.bulk(role.as_bytes());
            out.bulk(b"replication-offset");
            // Known here for this node's own stream only.
            out.int(if n == state.myself && role == "master" { my_offset } else { 0 });
            out.bulk(b"health");
            out.bulk(match (m.health, m.ready) {
                (Health::Failed, _) => b"fail".as_slice(),
                (_, false) => b"loading",
                _ => b"online",
            });
        }
    }
    Ok(())
}

/// CLUSTER MYID
fn myid(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let state = cluster(ctx)?.state();
    ctx.out.bulk(state.me().id.as_bytes());
    Ok(())
}

/// CLUSTER KEYSLOT key
fn keyslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.int(slot::key_slot(&argv[2]) as i64);
    Ok(())
}

/// A slot argument: `ERR Invalid slot` outside 0..16383.
fn slot_arg(arg: &[u8], invalid: CommandError) -> Result<u16, CommandError> {
    let v = args::int(arg)?;
    if v < 0 || v >= slot::SLOTS as i64 {
        return Err(invalid);
    }
    Ok(v as u16)
}

/// CLUSTER COUNTKEYSINSLOT slot: keys this node holds there.
fn countkeysinslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    let s = slot_arg(&argv[2], error::INVALID_SLOT)?;
    let shard = ctx.server.keyspace.lock(s);
    let n = shard.dbs[0].slot_len(shard.local(s));
    drop(shard);
    ctx.out.int(n as i64);
    Ok(())
}

/// CLUSTER GETKEYSINSLOT slot count
fn getkeysinslot(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    let count = args::int(&argv[3])?;
    let s = slot_arg(&argv[2], error::INVALID_SLOT_OR_COUNT)?;
    if count < 0 {
        return Err(error::INVALID_SLOT_OR_COUNT);
    }
    let shard = ctx.server.keyspace.lock(s);
    let keys: Vec<Vec<u8>> = shard.dbs[0]
        .slot_iter(shard.local(s), ctx.now)
        .take(count as usize)
        .map(|e| e.key().to_vec())
        .collect();
    drop(shard);
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// CLUSTER LINKS: this node's link to each live peer.
fn links(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let state = cluster(ctx)?.state();
    let peers: Vec<&Node> = state
        .members
        .iter()
        .enumerate()
        .filter(|(i, m)| *i != state.myself as usize && m.health != Health::Failed)
        .map(|(_, m)| m)
        .collect();
    let out = &mut *ctx.out;
    out.array(peers.len());
    for m in peers {
        out.map(6);
        out.bulk(b"direction");
        out.bulk(b"to");
        out.bulk(b"node");
        out.bulk(m.id.as_bytes());
        out.bulk(b"create-time");
        out.int(m.pong_recv_ms as i64);
        out.bulk(b"events");
        out.bulk(b"rw");
        out.bulk(b"send-buffer-allocated");
        out.int(0);
        out.bulk(b"send-buffer-used");
        out.int(0);
    }
    Ok(())
}

fn unknown_node(id: &[u8]) -> CommandError {
    CommandError::owned(format!("ERR Unknown node {}", String::from_utf8_lossy(id)))
}

/// CLUSTER REPLICAS node-id: the CLUSTER NODES lines of the nodes that keep a copy of
/// any of that node's ranges.
fn replicas(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let state = cluster(ctx)?.state();
    let Some(node) = state.index_of(&String::from_utf8_lossy(&argv[2])) else {
        return Err(unknown_node(&argv[2]));
    };
    let mut copies: Vec<u16> = state.ranges_of(node).flat_map(|r| r.replicas.iter().copied()).collect();
    copies.sort_unstable();
    copies.dedup();
    let lines: Vec<String> = copies.iter().map(|&n| node_line(&state, n as usize)).collect();
    ctx.out.bulks(lines.iter().map(|l| l.as_bytes()));
    Ok(())
}

/// CLUSTER MEET ip port [cluster-bus-port]
fn meet(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cluster = cluster(ctx)?;
    if argv.len() > 5 {
        return Err(error::SYNTAX);
    }
    let ip = String::from_utf8_lossy(&argv[2]);
    let port = args::int(&argv[3])?;
    let addr = ip
        .parse::<std::net::IpAddr>()
        .ok()
        .filter(|_| (1..=65535).contains(&port))
        .map(|ip| std::net::SocketAddr::new(ip, port as u16))
        .ok_or_else(|| CommandError::owned(format!("ERR Invalid node address specified: {ip}:{port}")))?;
    if !cluster.deliver(Inbound::Meet(addr)) {
        return Err(CommandError::new("ERR the cluster is busy; try again"));
    }
    ctx.out.ok();
    Ok(())
}

/// CLUSTER FORGET node-id
fn forget(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cluster = cluster(ctx)?;
    let state = cluster.state();
    let id = &argv[2][..];
    if state.me().id.as_bytes() == id {
        return Err(CommandError::new("ERR I tried hard but I can't forget myself..."));
    }
    if !state.members.iter().any(|m| m.id.as_bytes() == id) {
        return Err(unknown_node(id));
    }
    if !cluster.deliver(Inbound::Forget(String::from_utf8_lossy(id).into_owned())) {
        return Err(CommandError::new("ERR the cluster is busy; try again"));
    }
    // As in Redis, the node is gone from this node's map when +OK comes: the membership
    // thread publishes the new state within a moment (bounded wait).
    let deadline = std::time::Instant::now() + FORGET_WAIT;
    while cluster.state().members.iter().any(|m| m.id.as_bytes() == id)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    ctx.out.ok();
    Ok(())
}

/// CLUSTER RESET [HARD|SOFT]
fn reset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cluster = cluster(ctx)?;
    let hard = match argv.get(2) {
        None => false,
        Some(a) if args::is(a, "soft") => false,
        Some(a) if args::is(a, "hard") => true,
        Some(_) => return Err(error::SYNTAX),
    };
    if argv.len() > 3 {
        return Err(error::SYNTAX);
    }
    if ctx.server.db_size(0) > 0 {
        return Err(CommandError::new("ERR CLUSTER RESET can't be called with master nodes containing keys"));
    }
    if !cluster.deliver(Inbound::Reset { hard }) {
        return Err(CommandError::new("ERR the cluster is busy; try again"));
    }
    ctx.out.ok();
    Ok(())
}

/// CLUSTER SAVECONFIG: the nodes file is written whenever the state changes.
fn saveconfig(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    ctx.out.ok();
    Ok(())
}

/// ADDSLOTS, DELSLOTS, SETSLOT ...: slots are the ring's to assign.
fn by_ring(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    cluster(ctx)?;
    Err(error::SLOTS_BY_RING)
}
