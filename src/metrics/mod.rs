//! Prometheus metrics on a side HTTP port (`metrics-port`, `metrics-bind`).
//!
//! Nothing here runs on the data path. A scrape sums the per-thread counters that also
//! feed INFO ([`crate::server::Server::stats_snapshot`]), so a dashboard and INFO never
//! disagree, and renders them in the text exposition format: counts and gauges through
//! `metrics-exporter-prometheus` (a recorder local to the scrape), the histograms and the
//! seconds counters by [`Exposition`]. The exporter takes histogram *samples*; ours are
//! kept as per-thread bucket counts with an exact sum, and replaying them as samples
//! costs time and memory in proportion to every command ever run (10 M samples: 390 ms
//! and 160 MB per scrape) while losing the exact sum; its counters are integers.
//! The HTTP server ([`http`]) is hyper's HTTP/1.1 with bounded connections and time.
//!
//! The counters are per server rather than a process-global `metrics` recorder, so
//! several servers in one process (the tests) never mix their figures.

pub mod http;
pub mod names;

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use metrics::{Label, SharedString};
use metrics_exporter_prometheus::PrometheusBuilder;
use names::*;

use crate::command::table;
use crate::server::Server;
use crate::server::memory::memory_info;
use crate::server::stats::{CmdSnapshot, ERROR_CODES};

/// Writes samples in the text exposition format.
struct Exposition {
    out: String,
}

impl Exposition {
    fn header(&mut self, m: &Metric) {
        let _ = write!(self.out, "# HELP {} {}\n# TYPE {} {}\n", m.name, m.help, m.name, m.kind.as_str());
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram series from per-bucket (not cumulative) counts.
    fn histogram(
        &mut self,
        m: &Metric,
        labels: &[(&str, &str)],
        bounds_us: &[u64],
        counts: &[u64],
        sum_us: u64,
    ) {
        let bucket = format!("{}_bucket", m.name);
        let mut cumulative = 0;
        for (i, count) in counts.iter().enumerate() {
            cumulative += count;
            let le = bounds_us.get(i).map_or("+Inf".to_string(), |us| seconds(*us).to_string());
            let mut l = labels.to_vec();
            l.push(("le", &le));
            self.sample(&bucket, &l, cumulative);
        }
        self.sample(&format!("{}_sum", m.name), labels, seconds(sum_us));
        self.sample(&format!("{}_count", m.name), labels, cumulative);
    }
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Reads one per-command count from a command's counters.
type PerCommand = fn(&CmdSnapshot) -> u64;

/// Sets one series in the scrape's recorder: counts and gauges, all integral here.
fn set(m: &Metric, labels: Vec<Label>, value: u64) {
    match m.kind {
        Kind::Counter => metrics::counter!(m.name, labels).absolute(value),
        Kind::Gauge => metrics::gauge!(m.name, labels).set(value as f64),
        Kind::SecondsCounter | Kind::Histogram => unreachable!("{} is rendered as text", m.name),
    }
}

fn label(key: &'static str, value: impl Into<SharedString>) -> Vec<Label> {
    vec![Label::new(key, value)]
}

/// Replication's gauges and counters (INFO replication and INFO stats's sync_*).
fn replication_metrics(server: &Server) {
    let repl = &server.replication;
    let link = server.replica_link();
    let stream = repl.stream();
    set(&CONNECTED_REPLICAS, vec![], stream.replicas.iter().filter(|l| l.online()).count() as u64);
    set(&REPL_OFFSET, vec![], link.as_ref().and_then(|l| l.offset).unwrap_or(stream.offset));
    set(&REPL_BACKLOG, vec![], stream.backlog().1 as u64);
    let now = crate::storage::now_ms();
    for l in &stream.replicas {
        let labels = || {
            vec![
                Label::new("slave_ip", l.ip.clone()),
                Label::new("slave_port", l.port.to_string()),
                Label::new("slave_state", if l.online() { "online" } else { "wait_bgsave" }),
            ]
        };
        set(&REPLICA_OFFSET, labels(), l.ack);
        set(&REPLICA_LAG, labels(), if l.ack_ms == 0 { 0 } else { now.saturating_sub(l.ack_ms) / 1000 });
    }
    drop(stream);
    if let Some(l) = link {
        set(&MASTER_LINK_UP, vec![], u64::from(l.state == "connected"));
    }
    set(&RESYNCS_FULL, vec![], repl.full_syncs.load(Relaxed));
    set(&RESYNCS_PARTIAL_OK, vec![], repl.partial_ok.load(Relaxed));
    set(&RESYNCS_PARTIAL_ERR, vec![], repl.partial_err.load(Relaxed));
}

/// The full `/metrics` body. Counts and gauges go through a Prometheus exporter recorder
/// made for this scrape (local, not the process-global one, so servers sharing a process
/// stay apart, and series of a reset or emptied source simply vanish); seconds counters
/// and histograms, which it cannot hold as we keep them, follow from the text writer.
pub fn render(server: &Server) -> String {
    let s = server.stats_snapshot();
    let mem = memory_info();
    let (maxmemory, maxclients) = {
        let c = server.config();
        (c.maxmemory, c.maxclients)
    };
    let specs = &table().specs;
    let used: Vec<usize> =
        (0..specs.len()).filter(|&i| s.commands[i].calls + s.commands[i].rejected > 0).collect();
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, || {
        for m in ALL {
            match m.kind {
                Kind::Counter => metrics::describe_counter!(m.name, m.help),
                Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
                Kind::SecondsCounter | Kind::Histogram => {}
            }
        }
        set(&UP, vec![], if server.shutdown.is_cancelled() { 0 } else { 1 });
        set(&UPTIME, vec![], server.started.elapsed().as_secs());
        set(&CONNECTED_CLIENTS, vec![], server.clients.count() as u64);
        set(&BLOCKED_CLIENTS, vec![], 0);
        set(&MAX_CLIENTS, vec![], maxclients as u64);
        set(&MEMORY_USED, vec![], mem.used);
        set(&MEMORY_RSS, vec![], mem.rss);
        set(&MEMORY_MAX, vec![], maxmemory);
        set(&COMMANDS_PROCESSED, vec![], s.commands_processed);
        let per_command: [(&Metric, PerCommand); 3] = [
            (&COMMANDS, |c| c.calls),
            (&COMMANDS_FAILED, |c| c.failed),
            (&COMMANDS_REJECTED, |c| c.rejected),
        ];
        for (metric, value) in per_command {
            for &i in &used {
                set(metric, label("cmd", specs[i].name), value(&s.commands[i]));
            }
        }
        for (code, n) in ERROR_CODES.iter().zip(&s.errors).filter(|(_, n)| **n > 0) {
            set(&ERRORS, label("err", *code), *n);
        }
        set(&KEYSPACE_HITS, vec![], s.keyspace_hits);
        set(&KEYSPACE_MISSES, vec![], s.keyspace_misses);
        set(&EXPIRED_KEYS, vec![], s.expired_keys);
        set(&EVICTED_KEYS, vec![], server.keyspace.evicted_keys());
        for (db, (keys, volatile)) in server.db_stats().iter().enumerate().filter(|(_, (k, _))| *k > 0) {
            set(&DB_KEYS, label("db", format!("db{db}")), *keys as u64);
            set(&DB_KEYS_EXPIRING, label("db", format!("db{db}")), *volatile as u64);
        }
        set(&NET_INPUT, vec![], s.net_input);
        set(&NET_OUTPUT, vec![], s.net_output);
        set(&CONNECTIONS_RECEIVED, vec![], s.connections_received);
        set(&REJECTED_CONNECTIONS, vec![], s.rejected_connections);
        set(&SLOWLOG_LENGTH, vec![], server.slowlog.len() as u64);
        for i in 0..server.keyspace.shard_count() {
            let keys: usize = server.keyspace.lock_index(i).dbs.iter().map(|d| d.len()).sum();
            set(&SHARD_KEYS, label("shard", i.to_string()), keys as u64);
        }
        replication_metrics(server);
        set(&CLUSTER_ENABLED, vec![], server.cluster.is_some() as u64);
        if let Some(cluster) = &server.cluster {
            cluster_metrics(cluster);
        }
    });

    let mut e = Exposition { out: handle.render() };
    e.header(&COMMANDS_DURATION);
    for &i in &used {
        e.sample(COMMANDS_DURATION.name, &[("cmd", specs[i].name)], seconds(s.commands[i].usec));
    }
    e.header(&COMMAND_DURATION);
    for &i in &used {
        let c = &s.commands[i];
        e.histogram(&COMMAND_DURATION, &[("cmd", specs[i].name)], &COMMAND_BUCKETS_US, &c.buckets, c.usec);
    }
    e.header(&SHARD_LOCK_WAIT);
    for i in 0..server.keyspace.shard_count() {
        let w = server.keyspace.lock_wait(i);
        let counts: Vec<u64> = w.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let shard = i.to_string();
        e.histogram(
            &SHARD_LOCK_WAIT,
            &[("shard", &shard)],
            &LOCK_WAIT_BUCKETS_US,
            &counts,
            w.sum_us.load(Relaxed),
        );
    }
    if let Some(cluster) = &server.cluster {
        let st = &cluster.stats;
        let counts: Vec<u64> = st.proxy_buckets.iter().map(|b| b.load(Relaxed)).collect();
        e.header(&CLUSTER_PROXY_DURATION);
        e.histogram(
            &CLUSTER_PROXY_DURATION,
            &[],
            &COMMAND_BUCKETS_US,
            &counts,
            st.proxy_sum_us.load(Relaxed),
        );
    }
    e.out
}

/// The cluster's gauges and counters (cluster mode only).
fn cluster_metrics(cluster: &crate::cluster::Cluster) {
    use crate::cluster::state::Health;
    let state = cluster.state();
    let st = &cluster.stats;
    set(&CLUSTER_STATE, vec![], cluster.is_ok(&state) as u64);
    set(&CLUSTER_KNOWN_NODES, vec![], state.members.len() as u64);
    for (health, name) in [(Health::Suspect, "pfail"), (Health::Failed, "fail")] {
        let n = state.members.iter().filter(|m| m.health == health).count();
        set(&CLUSTER_NODES_FAILING, label("state", name), n as u64);
    }
    set(&CLUSTER_SLOTS_OWNED, vec![], state.slots_of(state.myself) as u64);
    for (kind, n) in [
        ("moved", &st.redirects_moved),
        ("crossslot", &st.redirects_crossslot),
        ("clusterdown", &st.redirects_down),
    ] {
        set(&CLUSTER_REDIRECTS, label("kind", kind), n.load(Relaxed));
    }
    for (direction, kind, n) in [
        ("sent", "swim", &st.messages_sent),
        ("received", "swim", &st.messages_received),
        ("sent", "heartbeat", &st.heartbeats_sent),
        ("received", "heartbeat", &st.heartbeats_received),
    ] {
        let labels = vec![Label::new("direction", direction), Label::new("kind", kind)];
        set(&CLUSTER_MESSAGES, labels, n.load(Relaxed));
    }
    set(&CLUSTER_MESSAGE_BYTES, label("direction", "sent"), st.bytes_sent.load(Relaxed));
    set(&CLUSTER_MESSAGE_BYTES, label("direction", "received"), st.bytes_received.load(Relaxed));
    set(&CLUSTER_PROXIED, vec![], st.proxied.load(Relaxed));
}
