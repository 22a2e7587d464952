//! Server commands: INFO, CONFIG, COMMAND, TIME, DEBUG, SLOWLOG, MEMORY, LASTSAVE,
//! SHUTDOWN.

use crate::cluster::slot::SLOTS;
use crate::server::digest;
use crate::server::pubsub::Kind;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::Ctx;
use super::connection::help;
use super::keyspec::{self, Begin, Find};
use super::table::*;
use crate::error::{self, CmdResult, CommandError};
use crate::metrics::names::COMMAND_BUCKETS_US;
use crate::protocol::args;
use crate::server::memory::memory_info;
use crate::server::stats::ERROR_CODES;
use crate::server::{REDIS_VERSION, SLOTCACHE_VERSION};
use crate::storage::keyspace::TABLE_BYTES_PER_KEY;

const SRV: u32 = SERVER;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("info", -1, LOADING | STALE, info)
        .acl(DANGEROUS)
        .group("server")
        .doc("Returns information and statistics about the server.", "1.0.0"),
    CommandSpec::new("config", -2, 0, config_help)
        .acl(SRV)
        .group("server")
        .doc("A container for server configuration commands.", "2.0.0")
        .subs(CONFIG_SUBCOMMANDS),
    CommandSpec::new("command", -1, LOADING | STALE, command)
        .acl(CONNECTION)
        .group("server")
        .doc("Returns detailed information about all commands.", "2.8.13")
        .subs(COMMAND_SUBCOMMANDS),
    CommandSpec::new("time", 1, LOADING | STALE | FAST, time)
        .group("server")
        .doc("Returns the server time.", "2.6.0"),
    CommandSpec::new("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | PROTECTED, debug)
        .group("server")
        .doc("A container for debugging commands.", "1.0.0"),
    CommandSpec::new("slowlog", -2, 0, slowlog_help)
        .group("server")
        .doc("A container for slow log commands.", "2.2.12")
        .subs(SLOWLOG_SUBCOMMANDS),
    CommandSpec::new("latency", -2, 0, latency_help)
        .group("server")
        .doc("A container for latency diagnostics commands.", "2.8.13")
        .subs(LATENCY_SUBCOMMANDS),
    CommandSpec::new("memory", -2, 0, memory_help)
        .group("server")
        .doc("A container for memory diagnostics commands.", "4.0.0")
        .subs(MEMORY_SUBCOMMANDS),
    CommandSpec::new("lolwut", -1, READONLY | FAST, lolwut)
        .group("server")
        .doc("Displays computer art and the Redis version", "5.0.0"),
    CommandSpec::new("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, shutdown)
        .group("server")
        .doc("Synchronously saves the database(s) to disk and shuts down the Redis server.", "1.0.0"),
];

const CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("config|get", -3, ADMIN | NOSCRIPT | LOADING | STALE, config_get)
        .group("server")
        .doc("Returns the effective values of configuration parameters.", "2.0.0"),
    CommandSpec::new("config|set", -4, ADMIN | NOSCRIPT | LOADING | STALE, config_set)
        .group("server")
        .doc("Sets configuration parameters in-flight.", "2.0.0"),
    CommandSpec::new("config|resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, config_resetstat)
        .group("server")
        .doc("Resets the server's statistics.", "2.0.0"),
    CommandSpec::new("config|rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE, config_rewrite)
        .group("server")
        .doc("Persists the effective configuration to file.", "2.8.0"),
    CommandSpec::new("config|help", 2, LOADING | STALE, config_help)
        .group("server")
        .doc("Returns helpful text about the different subcommands.", "5.0.0"),
];

const COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("command|count", 2, LOADING | STALE, command_count)
        .acl(CONNECTION)
        .group("server")
        .doc("Returns a count of commands.", "2.8.13"),
    CommandSpec::new("command|info", -2, LOADING | STALE, command_info)
        .acl(CONNECTION)
        .group("server")
        .doc("Returns information about one, multiple or all commands.", "2.8.13"),
    CommandSpec::new("command|docs", -2, LOADING | STALE, command_docs)
        .acl(CONNECTION)
        .group("server")
        .doc("Returns documentary information about one, multiple or all commands.", "7.0.0"),
    CommandSpec::new("command|list", -2, LOADING | STALE, command_list)
        .acl(CONNECTION)
        .group("server")
        .doc("Returns a list of command names.", "7.0.0"),
    CommandSpec::new("command|getkeys", -4, LOADING | STALE, command_getkeys)
        .acl(CONNECTION)
        .group("server")
        .doc("Extracts the key names from an arbitrary command.", "2.8.13"),
    CommandSpec::new("command|getkeysandflags", -4, LOADING | STALE, command_getkeysandflags)
        .acl(CONNECTION)
        .group("server")
        .doc("Extracts the key names and access flags for an arbitrary command.", "7.0.0"),
    CommandSpec::new("command|help", 2, LOADING | STALE, command_help)
        .acl(CONNECTION)
        .group("server")
        .doc("Returns helpful text about the different subcommands.", "5.0.0"),
];

const SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("slowlog|get", -2, ADMIN | LOADING | STALE, slowlog_get)
        .group("server")
        .doc("Returns the slow log's entries.", "2.2.12"),
    CommandSpec::new("slowlog|len", 2, ADMIN | LOADING | STALE, slowlog_len)
        .group("server")
        .doc("Returns the number of entries in the slow log.", "2.2.12"),
    CommandSpec::new("slowlog|reset", 2, ADMIN | LOADING | STALE, slowlog_reset)
        .group("server")
        .doc("Clears all entries from the slow log.", "2.2.12"),
    CommandSpec::new("slowlog|help", 2, LOADING | STALE, slowlog_help)
        .group("server")
        .doc("Show helpful text about the different subcommands", "6.2.0"),
];

const LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("latency|latest", 2, ADMIN | NOSCRIPT | LOADING | STALE, latency_latest)
        .group("server")
        .doc("Returns the latest latency samples for all events.", "2.8.13"),
    CommandSpec::new("latency|history", 3, ADMIN | NOSCRIPT | LOADING | STALE, latency_history)
        .group("server")
        .doc("Returns timestamp-latency samples for an event.", "2.8.13"),
    CommandSpec::new("latency|reset", -2, ADMIN | NOSCRIPT | LOADING | STALE, latency_reset)
        .group("server")
        .doc("Resets the latency data for one or more events.", "2.8.13"),
    CommandSpec::new("latency|doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE, latency_doctor)
        .group("server")
        .doc("Returns a human-readable latency analysis report.", "2.8.13"),
    CommandSpec::new("latency|histogram", -2, ADMIN | NOSCRIPT | LOADING | STALE, latency_histogram)
        .group("server")
        .doc("Returns the cumulative distribution of latencies of a subset or all commands.", "7.0.0"),
    CommandSpec::new("latency|help", 2, LOADING | STALE, latency_help)
        .group("server")
        .doc("Returns helpful text about the different subcommands.", "2.8.13"),
];

const MEMORY_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("memory|usage", -3, READONLY, memory_usage)
        .keys(2, 2, 1)
        .group("server")
        .doc("Estimates the memory usage of a key.", "4.0.0"),
    CommandSpec::new("memory|stats", 2, 0, memory_stats)
        .group("server")
        .doc("Returns details about memory usage.", "4.0.0"),
    CommandSpec::new("memory|doctor", 2, 0, memory_doctor)
        .group("server")
        .doc("Outputs a memory problems report.", "4.0.0"),
    CommandSpec::new("memory|malloc-stats", 2, 0, memory_malloc_stats)
        .group("server")
        .doc("Returns the allocator statistics.", "4.0.0"),
    CommandSpec::new("memory|purge", 2, 0, memory_purge)
        .group("server")
        .doc("Asks the allocator to release memory.", "4.0.0"),
    CommandSpec::new("memory|help", 2, LOADING | STALE, memory_help)
        .group("server")
        .doc("Returns helpful text about the different subcommands.", "4.0.0"),
];

/// User and system CPU seconds of this process (from /proc/self/stat).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (tick(11), tick(12))
}

/// The `q` quantile of a duration histogram (per-bucket counts), in microseconds, as
/// the upper bound of the bucket holding it: an estimate never below the true value
/// (calls past the last bound report that bound).
pub fn percentile_us(buckets: &[u64], q: f64) -> f64 {
    let total: u64 = buckets.iter().sum();
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in buckets.iter().enumerate() {
        seen += n;
        if seen >= rank {
            let i = i.min(COMMAND_BUCKETS_US.len() - 1);
            return COMMAND_BUCKETS_US[i] as f64;
        }
    }
    0.0
}

pub fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
];

/// INFO [section [section ...]]
fn info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut wanted: Vec<&str> = Vec::new();
    if argv.len() == 1 {
        wanted.extend(DEFAULT_SECTIONS);
    }
    for a in &argv[1..] {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend(ALL_SECTIONS),
            other => {
                if let Some(s) = ALL_SECTIONS.iter().find(|s| **s == other) {
                    wanted.push(s);
                }
            }
        }
    }
    let mut text = String::new();
    for section in ALL_SECTIONS.iter().filter(|s| wanted.contains(s)) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        info_section(ctx, section, &mut text);
    }
    ctx.out.verbatim(text.as_bytes());
    Ok(())
}

/// Appends one INFO section (header and `field:value` lines).
pub fn info_section(ctx: &Ctx<'_>, section: &str, t: &mut String) {
    let server = ctx.server;
    let title = match section {
        "cpu" => "CPU".to_string(),
        s => s[..1].to_ascii_uppercase() + &s[1..],
    };
    let _ = write!(t, "# {title}\r\n");
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = write!(t, "{k}:{v}\r\n");
    };
    match section {
        "server" => {
            let cfg = server.config();
            let uptime = server.started.elapsed().as_secs();
            line("redis_version", &REDIS_VERSION);
            line("slotcache_version", &SLOTCACHE_VERSION);
            line("redis_git_sha1", &"00000000");
            line("redis_git_dirty", &0);
            line("redis_build_id", &"0");
            line("redis_mode", &"standalone");
            line("os", &format!("{} {}", std::env::consts::OS, std::env::consts::ARCH));
            line("arch_bits", &64);
            line("monotonic_clock", &"POSIX clock_gettime");
            line("multiplexing_api", &"epoll");
            line("process_id", &std::process::id());
            line("process_supervised", &"no");
            line("run_id", &server.run_id);
            line("tcp_port", &server.tcp_port.load(Relaxed));
            line("server_time_usec", &(ctx.now * 1000));
            line("uptime_in_seconds", &uptime);
            line("uptime_in_days", &(uptime / 86400));
            line("hz", &cfg.hz);
            line("configured_hz", &cfg.hz);
            line("lru_clock", &crate::storage::evict::lru_clock(ctx.now));
            line("executable", &std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default());
            line(
                "config_file",
                &cfg.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            );
            line("io_threads_active", &0);
            line("slotcache_threads", &server.threads);
            line("slotcache_shards", &server.keyspace.shard_count());
        }
        "clients" => {
            line("connected_clients", &server.clients.count());
            line("cluster_connections", &0);
            line("maxclients", &server.limits.maxclients.load(Relaxed));
            line("client_recent_max_input_buffer", &0);
            line("client_recent_max_output_buffer", &0);
            line("blocked_clients", &server.blocking.blocked_clients());
            line("tracking_clients", &server.tracking.stats().clients);
            line("clients_in_timeout_table", &0);
        }
        "memory" => {
            let m = memory_info();
            let cfg = server.config();
            line("used_memory", &m.used);
            line("used_memory_human", &human_bytes(m.used));
            line("used_memory_rss", &m.rss);
            line("used_memory_rss_human", &human_bytes(m.rss));
            let peak = server.memory.peak(m.used);
            line("used_memory_peak", &peak);
            line("used_memory_peak_human", &human_bytes(peak));
            line("used_memory_startup", &server.startup_used);
            line("used_memory_dataset", &m.used.saturating_sub(server.startup_used));
            line("allocator_allocated", &m.allocated);
            line("allocator_active", &m.active);
            line("allocator_resident", &m.resident);
            let alloc_frag = if m.allocated > 0 { m.active as f64 / m.allocated as f64 } else { 0.0 };
            line("allocator_frag_ratio", &format!("{alloc_frag:.2}"));
            line("allocator_frag_bytes", &m.active.saturating_sub(m.allocated));
            line("maxmemory", &cfg.maxmemory);
            line("maxmemory_human", &human_bytes(cfg.maxmemory));
            line("maxmemory_policy", &cfg.maxmemory_policy);
            let frag = if m.used > 0 { m.rss as f64 / m.used as f64 } else { 0.0 };
            line("mem_fragmentation_ratio", &format!("{frag:.2}"));
            line("mem_allocator", &"jemalloc");
            line("active_defrag_running", &server.defrag.running.load(Relaxed));
            line("lazyfree_pending_objects", &0);
        }
        "persistence" => {
            let p = &server.persistence;
            let loading = p.loading.load(Relaxed);
            line("loading", &(loading as u8));
            line("async_loading", &0);
            if loading {
                let (total, done) = (p.load_total_bytes.load(Relaxed), p.load_done_bytes.load(Relaxed));
                let started = p.load_started_s.load(Relaxed);
                let elapsed = (crate::storage::now_ms() / 1000).saturating_sub(started).max(1);
                let eta = (total.saturating_sub(done) * elapsed).checked_div(done).unwrap_or(1);
                line("loading_start_time", &started);
                line("loading_total_bytes", &total);
                line("loading_rdb_used_mem", &0);
                line("loading_loaded_bytes", &done);
                line("loading_loaded_perc", &format!("{:.2}", done as f64 * 100.0 / total.max(1) as f64));
                line("loading_eta_seconds", &eta);
            }
            let bgsave = p.bgsave_running.load(Relaxed);
            let (done, total) = match bgsave {
                true => (p.save_keys_done.load(Relaxed), p.save_keys_total.load(Relaxed)),
                false => (0, 0),
            };
            let kept = if bgsave { server.keyspace.capture_kept_bytes() } else { 0 };
            let now_s = crate::storage::now_ms() / 1000;
            line("current_cow_peak", &kept);
            line("current_cow_size", &kept);
            line("current_cow_size_age", &0);
            line("current_fork_perc", &format!("{:.2}", done as f64 * 100.0 / total.max(1) as f64));
            line("current_save_keys_processed", &done);
            line("current_save_keys_total", &total);
            line("rdb_changes_since_last_save", &server.changes_since_save());
            line("rdb_bgsave_in_progress", &(bgsave as u8));
            line("rdb_last_save_time", &p.last_save_s.load(Relaxed));
            line("rdb_last_bgsave_status", &if p.last_bgsave_ok.load(Relaxed) { "ok" } else { "err" });
            let last_ms = p.last_save_duration_ms.load(Relaxed);
            line(
                "rdb_last_bgsave_time_sec",
                &if p.saves.load(Relaxed) == 0 { -1 } else { (last_ms / 1000) as i64 },
            );
            let current =
                if bgsave { now_s.saturating_sub(p.bgsave_started_s.load(Relaxed)) as i64 } else { -1 };
            line("rdb_current_bgsave_time_sec", &current);
            line("rdb_saves", &p.saves.load(Relaxed));
            line("rdb_last_load_keys_loaded", &p.load_keys.load(Relaxed));
            line("aof_enabled", &0);
            line("aof_rewrite_in_progress", &0);
            line("aof_last_write_status", &"ok");
        }
        "stats" => {
            let s = server.stats_snapshot();
            let (ops, in_kbps, out_kbps) = server.instantaneous();
            line("total_connections_received", &s.connections_received);
            line("total_commands_processed", &s.commands_processed);
            line("instantaneous_ops_per_sec", &ops);
            line("total_net_input_bytes", &s.net_input);
            line("total_net_output_bytes", &s.net_output);
            line("instantaneous_input_kbps", &format!("{in_kbps:.2}"));
            line("instantaneous_output_kbps", &format!("{out_kbps:.2}"));
            line("rejected_connections", &s.rejected_connections);
            line("expired_keys", &s.expired_keys);
            line("evicted_keys", &server.keyspace.evicted_keys());
            line("evicted_clients", &s.evicted_clients);
            let repl = &server.replication;
            line("sync_full", &repl.full_syncs.load(Relaxed));
            line("sync_partial_ok", &repl.partial_ok.load(Relaxed));
            line("sync_partial_err", &repl.partial_err.load(Relaxed));
            let t = server.tracking.stats();
            line("tracking_total_keys", &t.keys);
            line("tracking_total_items", &t.items);
            line("tracking_total_prefixes", &t.prefixes);
            line("keyspace_hits", &s.keyspace_hits);
            line("keyspace_misses", &s.keyspace_misses);
            line("pubsub_channels", &server.pubsub.count(Kind::Channel));
            line("pubsub_patterns", &server.pubsub.count(Kind::Pattern));
            line("pubsubshard_channels", &server.pubsub.count(Kind::Shard));
            line("active_defrag_hits", &server.defrag.hits.load(Relaxed));
            line("active_defrag_misses", &server.defrag.misses.load(Relaxed));
            line("active_defrag_key_hits", &server.defrag.key_hits.load(Relaxed));
            line("active_defrag_key_misses", &server.defrag.key_misses.load(Relaxed));
            line("total_error_replies", &s.total_error_replies());
        }
        "replication" => super::replication::info_lines(server, &mut line),
        "cpu" => {
            let (user, sys) = cpu_seconds();
            line("used_cpu_sys", &format!("{sys:.6}"));
            line("used_cpu_user", &format!("{user:.6}"));
            line("used_cpu_sys_children", &"0.000000");
            line("used_cpu_user_children", &"0.000000");
        }
        "commandstats" => {
            let s = server.stats_snapshot();
            for (spec, c) in table().specs.iter().zip(s.commands.iter()) {
                if c.calls == 0 && c.rejected == 0 {
                    continue;
                }
                let per = if c.calls > 0 { c.usec as f64 / c.calls as f64 } else { 0.0 };
                let v = format!(
                    "calls={},usec={},usec_per_call={per:.2},rejected_calls={},failed_calls={}",
                    c.calls, c.usec, c.rejected, c.failed
                );
                line(&format!("cmdstat_{}", spec.name), &v);
            }
        }
        "latencystats" => {
            let s = server.stats_snapshot();
            for (spec, c) in table().specs.iter().zip(s.commands.iter()) {
                if c.calls == 0 {
                    continue;
                }
                let [p50, p99, p999] = [0.5, 0.99, 0.999].map(|q| percentile_us(&c.buckets, q));
                line(
                    &format!("latency_percentiles_usec_{}", spec.name),
                    &format!("p50={p50:.3},p99={p99:.3},p99.9={p999:.3}"),
                );
            }
        }
        "errorstats" => {
            let s = server.stats_snapshot();
            for (code, n) in ERROR_CODES.iter().zip(s.errors.iter()) {
                if *n > 0 {
                    line(&format!("errorstat_{code}"), &format!("count={n}"));
                }
            }
        }
        "cluster" => line("cluster_enabled", &(server.cluster.is_some() as u8)),
        "keyspace" => {
            for (i, (keys, expires)) in server.db_stats().iter().enumerate() {
                if *keys > 0 {
                    line(&format!("db{i}"), &format!("keys={keys},expires={expires},avg_ttl=0"));
                }
            }
        }
        _ => {}
    }
}

/// CONFIG GET parameter [parameter ...]
fn config_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cfg = ctx.server.config();
    // (name as replied, canonical name), in the order found, each parameter once under
    // each name: an exact name is answered under the name asked for (an alias too), a
    // pattern under every name and alias it matches, as Redis 7.0.
    let mut pairs: Vec<(String, String)> = Vec::new();
    for p in &argv[2..] {
        if !p.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            let asked = String::from_utf8_lossy(p).into_owned();
            let name = crate::config::canonical_name(&asked);
            if crate::config::is_runtime(&name).is_some()
                && !pairs.iter().any(|(n, _)| n.eq_ignore_ascii_case(&asked))
            {
                pairs.push((asked, name));
            }
            continue;
        }
        for (name, matchable) in crate::config::all_names() {
            if matchable
                && args::glob_match(p, name.as_bytes(), true)
                && !pairs.iter().any(|(n, _)| n == name)
            {
                pairs.push((name.to_string(), crate::config::canonical_name(name)));
            }
        }
    }
    let values: Vec<(String, String)> =
        pairs.into_iter().map(|(shown, name)| (shown, cfg.get(&name).unwrap_or_default())).collect();
    drop(cfg);
    ctx.out.map(values.len());
    for (name, value) in values {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// CONFIG SET parameter value [parameter value ...]
///
/// All or nothing: the values are applied to a copy and swapped in only if all parse;
/// a parameter named twice (under any of its names) is an error.
fn config_set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(error::wrong_arity("config|set"));
    }
    let mut next = ctx.server.config().clone();
    let mut seen: Vec<String> = Vec::new();
    for pair in argv[2..].chunks(2) {
        let asked = String::from_utf8_lossy(&pair[0]).into_owned();
        let name = crate::config::canonical_name(&asked);
        let value = String::from_utf8_lossy(&pair[1]).into_owned();
        let failed = |why: &str| {
            CommandError::owned(format!(
                "ERR CONFIG SET failed (possibly related to argument '{asked}') - {why}"
            ))
        };
        let Some(runtime) = crate::config::is_runtime(&name) else {
            return Err(CommandError::owned(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                error::sanitize(&pair[0])
            )));
        };
        if !runtime {
            return Err(failed("can't set immutable config"));
        }
        if seen.contains(&name) {
            return Err(failed("duplicate parameter"));
        }
        seen.push(name.clone());
        let multi = matches!(
            crate::config::KNOWN.iter().find(|k| k.name == name).map(|k| k.kind),
            Some(crate::config::Kind::Special | crate::config::Kind::Enum(_))
        ) && name != "dir";
        let values: Vec<String> = if value.is_empty() {
            vec![]
        } else if multi || name == "save" || name == "client-output-buffer-limit" {
            value.split_whitespace().map(String::from).collect()
        } else {
            vec![value]
        };
        next.set(&name, &values).map_err(|e| failed(&e))?;
    }
    let (port_changed, bind_changed) = {
        let current = ctx.server.config();
        (next.port != current.port, next.bind != current.bind)
    };
    if port_changed || bind_changed {
        // Bound before anything changes, so a failure leaves every setting as it was.
        let (arg, why) = if port_changed {
            ("port", "Unable to listen on this port")
        } else {
            ("bind", "Failed to bind to specified addresses.")
        };
        let asked = argv[2..]
            .chunks(2)
            .map(|p| String::from_utf8_lossy(&p[0]).into_owned())
            .find(|n| crate::config::canonical_name(n) == arg);
        if let Err(e) = ctx.server.rebind(&next) {
            tracing::warn!("CONFIG SET {arg} failed: {e}");
            let arg = asked.unwrap_or_else(|| arg.to_string());
            return Err(CommandError::owned(format!(
                "ERR CONFIG SET failed (possibly related to argument '{arg}') - {why}"
            )));
        }
    }
    *ctx.server.config_mut() = next;
    ctx.server.apply_config();
    ctx.out.ok();
    Ok(())
}

/// CONFIG RESETSTAT
fn config_resetstat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.server.reset_stats();
    ctx.out.ok();
    Ok(())
}

/// CONFIG REWRITE
fn config_rewrite(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.server.config().rewrite().map_err(|e| CommandError::owned(format!("ERR {e}")))?;
    tracing::info!("CONFIG REWRITE executed with success.");
    ctx.out.ok();
    Ok(())
}

/// CONFIG HELP
fn config_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

/// A command's key specs in COMMAND INFO's shape (`addReplyCommandKeySpecs`).
fn write_key_specs(out: &mut crate::protocol::Reply, spec: &CommandSpec) {
    let specs = keyspec::of(spec.name);
    out.set(specs.len());
    for ks in specs {
        out.map(3 + ks.notes.is_some() as usize);
        if let Some(notes) = ks.notes {
            out.bulk(b"notes");
            out.bulk(notes.as_bytes());
        }
        out.bulk(b"flags");
        write_key_flags(out, ks.flags);
        let begin: Step<'_> = match ks.begin {
            Begin::Unknown => ("unknown", &[]),
            Begin::Index(pos) => ("index", &[("index", Field::Int(pos as i64))]),
            Begin::Keyword(word, from) => {
                ("keyword", &[("keyword", Field::Str(word)), ("startfrom", Field::Int(from as i64))])
            }
        };
        let find: Step<'_> = match ks.find {
            Find::Unknown => ("unknown", &[]),
            Find::Range { lastkey, step, limit } => (
                "range",
                &[
                    ("lastkey", Field::Int(lastkey as i64)),
                    ("keystep", Field::Int(step as i64)),
                    ("limit", Field::Int(limit as i64)),
                ],
            ),
            Find::Keynum { keynumidx, firstkey, step } => (
                "keynum",
                &[
                    ("keynumidx", Field::Int(keynumidx as i64)),
                    ("firstkey", Field::Int(firstkey as i64)),
                    ("keystep", Field::Int(step as i64)),
                ],
            ),
        };
        for (name, (kind, fields)) in [("begin_search", begin), ("find_keys", find)] {
            out.bulk(name.as_bytes());
            out.map(2);
            out.bulk(b"type");
            out.bulk(kind.as_bytes());
            out.bulk(b"spec");
            out.map(fields.len());
            for (field, value) in fields {
                out.bulk(field.as_bytes());
                match value {
                    Field::Int(v) => out.int(*v),
                    Field::Str(v) => out.bulk(v.as_bytes()),
                }
            }
        }
    }
}

/// A key's flags, as Redis names them (`RW`, `access`...).
fn write_key_flags(out: &mut crate::protocol::Reply, flags: u16) {
    let names: Vec<&str> = keyspec::flag_names(flags).collect();
    out.set(names.len());
    for name in names {
        out.simple(name);
    }
}

/// A value in a key spec's `spec` map.
enum Field<'a> {
    Int(i64),
    Str(&'a str),
}

/// A key spec's search step: its type and `spec` fields.
type Step<'a> = (&'a str, &'a [(&'a str, Field<'a>)]);

fn write_command_info(ctx: &mut Ctx<'_>, spec: &'static CommandSpec) {
    ctx.out.array(10);
    ctx.out.bulk(spec.name.as_bytes());
    ctx.out.int(spec.arity as i64);
    let flags = spec.flag_names();
    ctx.out.set(flags.len());
    for f in flags {
        ctx.out.simple(f);
    }
    ctx.out.int(spec.first_key as i64);
    ctx.out.int(spec.last_key as i64);
    ctx.out.int(spec.step as i64);
    let cats = spec.acl_categories();
    ctx.out.set(cats.len());
    for c in cats {
        ctx.out.simple(c);
    }
    let tips = keyspec::tips(spec.name);
    ctx.out.set(tips.len());
    for tip in tips {
        ctx.out.bulk(tip.as_bytes());
    }
    write_key_specs(ctx.out, spec);
    ctx.out.array(spec.subcommands.len());
    for sub in spec.subcommands {
        write_command_info(ctx, sub);
    }
}

/// COMMAND
fn command(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let specs: Vec<_> = table().commands().collect();
    ctx.out.array(specs.len());
    for spec in specs {
        write_command_info(ctx, spec);
    }
    Ok(())
}

/// COMMAND COUNT
fn command_count(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(table().commands().count() as i64);
    Ok(())
}

fn lookup_name(name: &[u8]) -> Option<&'static CommandSpec> {
    let t = table();
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    t.get(&lower)
}

/// COMMAND INFO [command-name [command-name ...]]
fn command_info(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if argv.len() == 2 {
        return command(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match lookup_name(name) {
            Some(spec) => write_command_info(ctx, spec),
            None => ctx.out.null_array(),
        }
    }
    Ok(())
}

fn write_docs(ctx: &mut Ctx<'_>, spec: &'static CommandSpec) {
    let subs = !spec.subcommands.is_empty();
    ctx.out.map(if subs { 4 } else { 3 });
    ctx.out.bulk(b"summary");
    ctx.out.bulk(spec.summary.as_bytes());
    ctx.out.bulk(b"since");
    ctx.out.bulk(spec.since.as_bytes());
    ctx.out.bulk(b"group");
    ctx.out.bulk(spec.group.as_bytes());
    if subs {
        ctx.out.bulk(b"subcommands");
        ctx.out.map(spec.subcommands.len());
        for sub in spec.subcommands {
            ctx.out.bulk(sub.name.as_bytes());
            write_docs(ctx, sub);
        }
    }
}

/// COMMAND DOCS [command-name [command-name ...]]
fn command_docs(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let specs: Vec<&'static CommandSpec> = if argv.len() == 2 {
        table().commands().collect()
    } else {
        argv[2..].iter().filter_map(|n| lookup_name(n)).collect()
    };
    ctx.out.map(specs.len());
    for spec in specs {
        ctx.out.bulk(spec.name.as_bytes());
        write_docs(ctx, spec);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE module-name | ACLCAT category | PATTERN pattern]
fn command_list(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let all = table().specs.iter().copied();
    let names: Vec<&str> = match argv.len() {
        2 => all.map(|s| s.name).collect(),
        5 if args::is(&argv[2], "FILTERBY") => {
            let (kind, val) = (&argv[3], &argv[4]);
            if args::is(kind, "MODULE") {
                Vec::new()
            } else if args::is(kind, "ACLCAT") {
                let cat = format!("@{}", String::from_utf8_lossy(val).to_ascii_lowercase());
                all.filter(|s| s.acl_categories().contains(&cat.as_str())).map(|s| s.name).collect()
            } else if args::is(kind, "PATTERN") {
                all.filter(|s| args::glob_match(val, s.name.as_bytes(), true)).map(|s| s.name).collect()
            } else {
                return Err(error::SYNTAX);
            }
        }
        _ => return Err(error::SYNTAX),
    };
    ctx.out.bulks(names.iter().map(|n| n.as_bytes()));
    Ok(())
}

/// The keys of a command given as arguments (COMMAND GETKEYS / GETKEYSANDFLAGS), with
/// Redis's checks in its order: the command, whether it has keys at all, its arity.
fn keys_of(cmd: &[Bytes]) -> Result<Vec<keyspec::KeyRef>, CommandError> {
    let t = table();
    let Some(mut idx) = t.lookup(&cmd[0]) else {
        return Err(CommandError::new("ERR Invalid command specified"));
    };
    if !t.specs[idx].subcommands.is_empty() && cmd.len() >= 2 {
        idx =
            t.lookup_sub(t.specs[idx], &cmd[1]).ok_or(CommandError::new("ERR Invalid command specified"))?;
    }
    let spec = t.specs[idx];
    if !keyspec::has_keys(spec) {
        return Err(CommandError::new("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(cmd.len()) {
        return Err(CommandError::new("ERR Invalid number of arguments specified for command"));
    }
    let keys = keyspec::keys(spec, cmd);
    if keys.is_empty() {
        return Err(CommandError::new("ERR Invalid arguments specified for command"));
    }
    Ok(keys)
}

/// COMMAND GETKEYS command [arg [arg ...]]
fn command_getkeys(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cmd = &argv[2..];
    let keys = keys_of(cmd)?;
    ctx.out.array(keys.len());
    for (i, _) in keys {
        ctx.out.bulk(&cmd[i]);
    }
    Ok(())
}

/// COMMAND GETKEYSANDFLAGS command [arg [arg ...]]: `[key, flags]` per key, the flags
/// of the key spec that found it.
fn command_getkeysandflags(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let cmd = &argv[2..];
    let keys = keys_of(cmd)?;
    ctx.out.array(keys.len());
    for (i, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(&cmd[i]);
        write_key_flags(ctx.out, flags);
    }
    Ok(())
}

/// COMMAND HELP
fn command_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    );
    Ok(())
}

/// TIME
fn time(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk_int(now.as_secs() as i64);
    ctx.out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}

/// Longest DEBUG SLEEP accepted, so a typo cannot park a thread for days.
const MAX_DEBUG_SLEEP_S: f64 = 3600.0;

/// DEBUG SLEEP seconds | DEBUG SET-ACTIVE-EXPIRE 0|1 | DEBUG HELP
fn debug(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let sub = &argv[1];
    if args::is(sub, "SLEEP") && argv.len() == 3 {
        let secs = args::float(&argv[2])?;
        if !(0.0..=MAX_DEBUG_SLEEP_S).contains(&secs) {
            return Err(error::NOT_FLOAT);
        }
        // Redis blocks the whole server here; slotcache blocks this I/O thread only.
        std::thread::sleep(std::time::Duration::from_secs_f64(secs));
        ctx.out.ok();
    } else if args::is(sub, "ERROR") && argv.len() == 3 {
        // The message as the whole error line, CR and LF turned into spaces.
        let text: String = String::from_utf8_lossy(&argv[2]).replace(['\r', '\n'], " ");
        ctx.out.raw(format!("-{text}\r\n").as_bytes());
    } else if args::is(sub, "OBJECT") && argv.len() == 3 {
        debug_object(ctx, &argv[2])?;
    } else if args::is(sub, "CHANGE-REPL-ID") && argv.len() == 2 {
        *ctx.server.replid.lock().unwrap_or_else(|p| p.into_inner()) = crate::server::random_hex40();
        ctx.out.ok();
    } else if args::is(sub, "DIGEST") && argv.len() == 2 {
        let d = digest::dataset(&ctx.server.keyspace, 0..=(SLOTS as u16 - 1), ctx.now);
        ctx.out.simple(&digest::hex(&d));
    } else if args::is(sub, "DIGEST-SLOTS") && argv.len() == 4 {
        let slot = |a: &[u8]| match args::parse_i64(a) {
            Some(n) if (0..SLOTS as i64).contains(&n) => Ok(n as u16),
            _ => Err(CommandError::new("ERR Invalid or out of range slot")),
        };
        let d = digest::dataset(&ctx.server.keyspace, slot(&argv[2])?..=slot(&argv[3])?, ctx.now);
        ctx.out.simple(&digest::hex(&d));
    } else if args::is(sub, "DIGEST-VALUE") {
        ctx.out.array(argv.len() - 2);
        for key in &argv[2..] {
            let slot = crate::cluster::slot::key_slot(key);
            let mut shard = ctx.server.keyspace.lock(slot);
            let d = digest::value(shard.peek(ctx.db(), slot, key, ctx.now).as_deref());
            drop(shard);
            ctx.out.simple(&digest::hex(&d));
        }
    } else if args::is(sub, "RELOAD") {
        let (mut nosave, mut noflush, mut merge) = (false, false, false);
        for a in &argv[2..] {
            match () {
                _ if args::is(a, "NOSAVE") => nosave = true,
                _ if args::is(a, "NOFLUSH") => noflush = true,
                _ if args::is(a, "MERGE") => merge = true,
                _ => {
                    return Err(CommandError::new(
                        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                    ));
                }
            }
        }
        ctx.server.reload_snapshot(nosave, noflush, merge).map_err(CommandError::owned)?;
        ctx.out.ok();
    } else if args::is(sub, "SET-ACTIVE-EXPIRE") && argv.len() == 3 {
        let on = args::int(&argv[2])? != 0;
        ctx.server.active_expire.store(on, Relaxed);
        ctx.out.ok();
    } else if args::is(sub, "HELP") {
        help(
            ctx,
            "DEBUG",
            &[
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
                "ERROR <string>",
                "    Return a Redis protocol error with <string> as message.",
                "OBJECT <key>",
                "    Show low level info about the key and associated value.",
                "CHANGE-REPL-ID",
                "    Change the replication IDs of the instance.",
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "DIGEST-SLOTS <start> <end>",
                "    Output a hex signature of the keys in the slot range (slotcache).",
                "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
                "    Save the RDB on disk and reload it back to memory. By default it will save",
                "    the RDB file and load it back.",
                "    * MERGE: merge the RDB data with the keys in memory; on a key in both the file's",
                "      value wins.",
                "    * NOFLUSH: do not remove the keys in memory before loading the RDB (a key in",
                "      both stops the load, unless MERGE).",
                "    * NOSAVE: the saving of the RDB file is skipped.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not accessed.",
            ],
        );
    } else {
        return Err(error::unknown_subcommand_arity(sub, "debug"));
    }
    Ok(())
}

/// DEBUG OBJECT key: Redis's fields. `serializedlength` is the value's size in an RDB
/// file; `lru` is the LRU clock in seconds, as Redis keeps it.
fn debug_object(ctx: &mut Ctx<'_>, key: &[u8]) -> CmdResult {
    let compress = super::persist::compression(ctx);
    let slot = crate::cluster::slot::key_slot(key);
    let mut shard = ctx.server.keyspace.lock(slot);
    let Some(e) = shard.peek(ctx.db(), slot, key, ctx.now) else {
        return Err(error::NO_SUCH_KEY);
    };
    let idle = crate::storage::evict::idle_ms(e.clock(), ctx.now) / 1000;
    let text = format!(
        "Value at:{:p} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
        &e as *const _,
        e.encoding_name(),
        crate::persist::saved_len(&e.value(), compress),
        (ctx.now / 1000).saturating_sub(idle) & ((1 << 24) - 1),
        idle
    );
    drop(shard);
    ctx.out.simple(&text);
    Ok(())
}

/// SLOWLOG GET [count]
fn slowlog_get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let count = match argv.get(2) {
        None => 10,
        Some(a) => match args::parse_i64(a) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return Err(CommandError::new("ERR count should be greater than or equal to -1")),
        },
    };
    let slowlog = &ctx.server.slowlog;
    let out = &mut *ctx.out;
    slowlog.with_entries(|entries| {
        let n = entries.len().min(count);
        out.array(n);
        for e in entries.iter().take(n) {
            out.array(6);
            out.int(e.id as i64);
            out.int(e.time_s as i64);
            out.int(e.micros as i64);
            out.bulks(e.argv.iter().map(|a| &a[..]));
            out.bulk(e.addr.as_bytes());
            out.bulk(&e.name);
        }
    });
    Ok(())
}

/// SLOWLOG LEN
fn slowlog_len(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.server.slowlog.len() as i64);
    Ok(())
}

/// SLOWLOG RESET
fn slowlog_reset(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.server.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

/// SLOWLOG HELP
fn slowlog_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

/// LATENCY LATEST
fn latency_latest(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let events = ctx.server.latency.snapshot();
    ctx.out.array(events.len());
    for (name, s) in &events {
        let (at, ms) = s.samples.back().copied().unwrap_or_default();
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(at as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(s.max_ms as i64);
    }
    Ok(())
}

/// LATENCY HISTORY event
fn latency_history(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let events = ctx.server.latency.snapshot();
    let series = events.iter().find(|(name, _)| name.as_bytes().eq_ignore_ascii_case(&argv[2]));
    let samples: Vec<(u64, u64)> =
        series.map(|(_, s)| s.samples.iter().copied().collect()).unwrap_or_default();
    ctx.out.array(samples.len());
    for (at, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(at as i64);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

/// LATENCY RESET [event [event ...]]
fn latency_reset(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let which: Vec<&[u8]> = argv[2..].iter().map(|a| &a[..]).collect();
    ctx.out.int(ctx.server.latency.reset(&which) as i64);
    Ok(())
}

/// LATENCY DOCTOR
fn latency_doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let report = ctx.server.latency.doctor();
    ctx.out.verbatim(report.as_bytes());
    Ok(())
}

/// LATENCY HISTOGRAM [command [command ...]]
///
/// Per command: calls and the cumulative count of calls at or under each bucket bound
/// (microseconds), from the same histogram /metrics exports.
fn latency_histogram(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let s = ctx.server.stats_snapshot();
    let specs = &table().specs;
    let wanted =
        |name: &str| argv.len() == 2 || argv[2..].iter().any(|a| a.eq_ignore_ascii_case(name.as_bytes()));
    let rows: Vec<usize> =
        (0..specs.len()).filter(|&i| s.commands[i].calls > 0 && wanted(specs[i].name)).collect();
    ctx.out.map(rows.len());
    for i in rows {
        let c = &s.commands[i];
        ctx.out.bulk(specs[i].name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(c.calls as i64);
        ctx.out.bulk(b"histogram_usec");
        let mut cumulative = 0;
        let points: Vec<(u64, u64)> = COMMAND_BUCKETS_US
            .iter()
            .zip(c.buckets.iter())
            .filter_map(|(&bound, &n)| {
                cumulative += n;
                (n > 0).then_some((bound, cumulative))
            })
            .collect();
        ctx.out.map(points.len());
        for (bound, count) in points {
            ctx.out.int(bound as i64);
            ctx.out.int(count as i64);
        }
    }
    Ok(())
}

/// LATENCY HELP
fn latency_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified",
            "    command names. If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

/// MEMORY USAGE key [SAMPLES count]
fn memory_usage(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    // Redis's default: collections' elements estimated from 5 of them; 0 counts all.
    let samples = match argv.len() {
        3 => 5,
        5 if args::is(&argv[3], "SAMPLES") => match args::int(&argv[4])? {
            n if n < 0 => return Err(error::SYNTAX),
            n => n as usize,
        },
        _ => return Err(error::SYNTAX),
    };
    let mut shard = ctx.shard();
    match shard.peek(ctx.db(), ctx.slot, &argv[2], ctx.now) {
        Some(e) => ctx.out.int((e.heap_size_sampled(samples) + TABLE_BYTES_PER_KEY) as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// MEMORY STATS
fn memory_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let server = ctx.server;
    let m = memory_info();
    let peak = server.memory.peak(m.used);
    let dbs = server.keyspace.db_stats();
    let keys: usize = dbs.iter().map(|d| d.0).sum();
    let dataset = m.used.saturating_sub(server.startup_used);
    let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
    let used_dbs: Vec<(usize, usize)> =
        dbs.iter().enumerate().filter(|(_, d)| d.0 > 0).map(|(i, d)| (i, d.0)).collect();
    let out = &mut *ctx.out;
    out.map(14 + used_dbs.len());
    for (name, value) in [
        ("peak.allocated", peak),
        ("total.allocated", m.used),
        ("startup.allocated", server.startup_used),
        ("clients.normal", 0),
        ("keys.count", keys as u64),
    ] {
        out.bulk(name.as_bytes());
        out.int(value as i64);
    }
    for (db, n) in used_dbs {
        out.bulk(format!("db.{db}").as_bytes());
        out.map(1);
        out.bulk(b"keys");
        out.int(n as i64);
    }
    out.bulk(b"keys.bytes-per-key");
    out.int(if keys > 0 { (dataset / keys as u64) as i64 } else { 0 });
    out.bulk(b"dataset.bytes");
    out.int(dataset as i64);
    out.bulk(b"dataset.percentage");
    out.double(100.0 * ratio(dataset, m.used));
    out.bulk(b"peak.percentage");
    out.double(100.0 * ratio(m.used, peak));
    for (name, value) in [
        ("allocator.allocated", m.allocated),
        ("allocator.active", m.active),
        ("allocator.resident", m.resident),
        ("rss", m.rss),
    ] {
        out.bulk(name.as_bytes());
        out.int(value as i64);
    }
    out.bulk(b"fragmentation");
    out.double(ratio(m.rss, m.used));
    Ok(())
}

/// MEMORY DOCTOR
fn memory_doctor(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    let m = memory_info();
    let peak = ctx.server.memory.peak(m.used);
    let mut issues = Vec::new();
    if m.used < 5 * 1024 * 1024 {
        issues.push(None);
    } else {
        if peak > m.used * 3 / 2 {
            issues.push(Some(format!(
                "Peak memory: at some point the allocator held {} ({}% more than the {} now in use).                  The process may not give all of it back to the system.",
                human_bytes(peak),
                (peak - m.used) * 100 / m.used.max(1),
                human_bytes(m.used)
            )));
        }
        let frag = m.rss as f64 / m.used.max(1) as f64;
        if frag > 1.4 {
            issues.push(Some(format!(
                "High fragmentation: RSS is {frag:.2} times the memory in use. Many small deletions or                  evictions after a peak leave pages partly used."
            )));
        }
    }
    let report = match issues.as_slice() {
        [None] => "Hi Sam, this instance is empty or is using very little memory, my issues detector can't                    be used in these conditions. Please, leave for your mission on Earth and fill it with                    some data. The new Sam and I will be back to our programming as soon as I finished                    rebooting.\n"
            .to_string(),
        [] => "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs                on this base.\n"
            .to_string(),
        found => {
            let lines: Vec<String> = found.iter().flatten().map(|l| format!(" * {l}\n")).collect();
            format!("Sam, I detected a few issues in this slotcache instance memory implants:\n\n{}", lines.concat())
        }
    };
    ctx.out.verbatim(report.as_bytes());
    Ok(())
}

/// MEMORY MALLOC-STATS
fn memory_malloc_stats(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.out.verbatim(crate::server::memory::malloc_stats().as_bytes());
    Ok(())
}

/// MEMORY PURGE
fn memory_purge(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    crate::server::memory::purge();
    ctx.out.ok();
    Ok(())
}

/// MEMORY HELP
fn memory_help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value.",
        ],
    );
    Ok(())
}

/// LOLWUT [VERSION version]: a ring of hash slots, then Redis's `Redis ver.` line.
fn lolwut(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let mut size = 7;
    if argv.len() >= 3 && args::is(&argv[1], "VERSION") {
        size = 5 + args::int(&argv[2])?.clamp(0, 10) as usize;
    }
    // Points on a circle: the slot ring the keys live on.
    let mut art = String::new();
    for y in 0..size {
        for x in 0..2 * size {
            let (dx, dy) = (x as f64 / 2.0 - size as f64 / 2.0 + 0.25, y as f64 - size as f64 / 2.0 + 0.5);
            let r = (dx * dx + dy * dy).sqrt();
            art.push(if (r - size as f64 / 2.0 + 0.6).abs() < 0.5 { '#' } else { ' ' });
        }
        art.truncate(art.trim_end().len());
        art.push('\n');
    }
    art.push_str(&format!(
        "\nslotcache: every key on one ring. Redis ver. {}\n",
        crate::server::REDIS_VERSION
    ));
    ctx.out.verbatim(art.as_bytes());
    Ok(())
}

/// SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]; in a cluster, without NOW, this
/// node's ranges are handed over first ([`crate::cluster::handover`]).
fn shutdown(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    for a in &argv[1..] {
        if args::is(a, "ABORT") {
            return Err(CommandError::new("ERR No shutdown in progress."));
        }
        if !["NOSAVE", "SAVE", "NOW", "FORCE"].iter().any(|o| args::is(a, o)) {
            return Err(error::SYNTAX);
        }
    }
    tracing::info!("User requested shutdown...");
    let has = |o: &str| argv[1..].iter().any(|a| args::is(a, o));
    if let Err(e) = ctx.server.save_before_shutdown(has("SAVE"), has("NOSAVE"))
        && !has("FORCE")
    {
        tracing::warn!("{e}");
        return Err(CommandError::new("ERR Errors trying to SHUTDOWN. Check logs."));
    }
    // In a cluster, the ranges go to their replicas first (no reply: the connection
    // closes when the server stops, as Redis's does).
    if ctx.server.cluster.is_some()
        && !has("NOW")
        && let Some(server) = ctx.server.shared()
    {
        crate::cluster::handover::hand_over_then_stop(server);
        return Ok(());
    }
    ctx.session.close_after_reply = true;
    ctx.server.shutdown.cancel();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::percentile_us;

    #[test]
    fn percentiles_from_buckets() {
        let mut b = [0u64; 22];
        b[0] = 98; // <= 1 us
        b[7] = 1; // <= 128 us
        b[21] = 1; // past the last bound
        assert_eq!(percentile_us(&b, 0.5), 1.0);
        assert_eq!(percentile_us(&b, 0.99), 128.0);
        assert_eq!(percentile_us(&b, 0.999), (1 << 20) as f64);
        assert_eq!(percentile_us(&[0; 22], 0.5), 0.0);
    }
}
