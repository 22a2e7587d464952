//! Prometheus metrics on a side HTTP port (`metrics-port`, `metrics-bind`).
//!
//! Nothing here runs on the data path. A scrape sums the per-thread counters that also
//! feed INFO ([`crate::server::Server::stats_snapshot`]), so a dashboard and INFO never
//! disagree, and renders the text exposition format directly. The HTTP server is a
//! deliberately small HTTP/1.1 responder on the acceptor thread: bounded request size,
//! connection count and time per request, `Connection: close` on every reply.
//!
//! The counters are per server rather than a process-global `metrics` recorder, so
//! several servers in one process (the tests) never mix their figures.

pub mod http;
pub mod names;

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

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

    fn single(&mut self, m: &Metric, value: impl std::fmt::Display) {
        self.header(m);
        self.sample(m.name, &[], value);
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

/// Reads one per-command series value from a command's counters.
type PerCommand = fn(&CmdSnapshot) -> f64;

/// The full `/metrics` body.
pub fn render(server: &Server) -> String {
    let s = server.stats_snapshot();
    let mem = memory_info();
    let (maxmemory, maxclients) = {
        let c = server.config();
        (c.maxmemory, c.maxclients)
    };
    let mut e = Exposition { out: String::with_capacity(32 * 1024) };
    e.single(&UP, if server.shutdown.is_cancelled() { 0 } else { 1 });
    e.single(&UPTIME, server.started.elapsed().as_secs());
    e.single(&CONNECTED_CLIENTS, server.clients.count());
    e.single(&BLOCKED_CLIENTS, 0);
    e.single(&MAX_CLIENTS, maxclients);
    e.single(&MEMORY_USED, mem.used);
    e.single(&MEMORY_RSS, mem.rss);
    e.single(&MEMORY_MAX, maxmemory);
    e.single(&COMMANDS_PROCESSED, s.commands_processed);

    let specs = &table().specs;
    let used: Vec<usize> =
        (0..specs.len()).filter(|&i| s.commands[i].calls + s.commands[i].rejected > 0).collect();
    let per_command: [(&Metric, PerCommand); 4] = [
        (&COMMANDS, |c| c.calls as f64),
        (&COMMANDS_DURATION, |c| seconds(c.usec)),
        (&COMMANDS_FAILED, |c| c.failed as f64),
        (&COMMANDS_REJECTED, |c| c.rejected as f64),
    ];
    for (metric, value) in per_command {
        e.header(metric);
        for &i in &used {
            e.sample(metric.name, &[("cmd", specs[i].name)], value(&s.commands[i]));
        }
    }
    e.header(&ERRORS);
    for (code, n) in ERROR_CODES.iter().zip(&s.errors) {
        if *n > 0 {
            e.sample(ERRORS.name, &[("err", code)], n);
        }
    }
    e.single(&KEYSPACE_HITS, s.keyspace_hits);
    e.single(&KEYSPACE_MISSES, s.keyspace_misses);
    e.single(&EXPIRED_KEYS, s.expired_keys);
    e.single(&EVICTED_KEYS, server.keyspace.evicted_keys());
    let dbs = server.keyspace.db_stats();
    for (metric, expiring) in [(&DB_KEYS, false), (&DB_KEYS_EXPIRING, true)] {
        e.header(metric);
        for (db, (keys, volatile)) in dbs.iter().enumerate() {
            if *keys > 0 {
                e.sample(metric.name, &[("db", &format!("db{db}"))], if expiring { volatile } else { keys });
            }
        }
    }
    e.single(&NET_INPUT, s.net_input);
    e.single(&NET_OUTPUT, s.net_output);
    e.single(&CONNECTIONS_RECEIVED, s.connections_received);
    e.single(&REJECTED_CONNECTIONS, s.rejected_connections);
    e.single(&SLOWLOG_LENGTH, server.slowlog.len());

    e.header(&COMMAND_DURATION);
    for &i in &used {
        let c = &s.commands[i];
        e.histogram(&COMMAND_DURATION, &[("cmd", specs[i].name)], &COMMAND_BUCKETS_US, &c.buckets, c.usec);
    }
    e.header(&SHARD_KEYS);
    for i in 0..server.keyspace.shard_count() {
        let keys: usize = server.keyspace.lock_index(i).dbs.iter().map(|d| d.len()).sum();
        e.sample(SHARD_KEYS.name, &[("shard", &i.to_string())], keys);
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
    e.out
}
