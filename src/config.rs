//! Configuration: embedded defaults < a redis.conf-style file < `--directive value` flags.
//!
//! One [`Config`] struct holds every directive. [`DIRECTIVES`] lists them in the order
//! `conf/slotcache.conf` documents them, with whether `CONFIG SET` may change them at
//! runtime. Values are parsed and printed here and nowhere else, so the file, the CLI,
//! `CONFIG GET`, `CONFIG SET` and `CONFIG REWRITE` always agree.

mod known;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use known::{KNOWN, Kind, Known};

use crate::server::defrag::DefragSettings;

use crate::protocol::request::split_args;
use crate::storage::Encodings;

pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_BIND: &str = "127.0.0.1 -::1";
pub const DEFAULT_DATABASES: usize = 16;
pub const DEFAULT_MAXCLIENTS: usize = 10_000;
pub const DEFAULT_TCP_KEEPALIVE: u64 = 300;
pub const DEFAULT_TCP_BACKLOG: u32 = 511;
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
pub const DEFAULT_QUERY_BUFFER_LIMIT: u64 = 1024 * 1024 * 1024;
pub const DEFAULT_HZ: u32 = 10;
pub const DEFAULT_SLOWLOG_SLOWER_THAN: i64 = 10_000;
pub const DEFAULT_SLOWLOG_MAX_LEN: u64 = 128;
pub const DEFAULT_MAXMEMORY_SAMPLES: u32 = 5;
pub const DEFAULT_UNIXSOCKETPERM: u32 = 0;
/// The port Redis exporters conventionally use, so existing scrape configs find it.
pub const DEFAULT_METRICS_PORT: u16 = 9121;
pub const DEFAULT_METRICS_BIND: &str = "127.0.0.1";
/// `cluster-node-timeout`: how long a peer may be silent before it is suspected, and a
/// node without a majority of the cluster may go on serving (Redis's default is 15 s).
pub const DEFAULT_CLUSTER_NODE_TIMEOUT_MS: u64 = 1000;
/// `cluster-replicas`: one copy of every range besides its primary's.
pub const DEFAULT_CLUSTER_REPLICAS: usize = 1;
/// Most `cluster-replicas` accepted.
pub const MAX_CLUSTER_REPLICAS: usize = 8;
/// Largest accepted `proto-max-bulk-len`: keeps every stored key and value within the
/// storage layer's 32-bit block lengths.
pub const MAX_PROTO_BULK_LEN: u64 = 2 * 1024 * 1024 * 1024;
/// `include` nesting limit, so a file including itself fails instead of looping.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Cluster mode (`cluster-*` directives).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSettings {
    pub enabled: bool,
    /// `host:port` of nodes already in the cluster (empty for the first node).
    pub seeds: Vec<String>,
    /// The node's identity, tokens and known members, relative to `dir`.
    pub config_file: String,
    /// The address other nodes and clients are told (empty: the bound address).
    pub announce_ip: String,
    /// The port other nodes and clients are told (0: the bound port).
    pub announce_port: u16,
    pub node_timeout_ms: u64,
    pub require_full_coverage: bool,
    pub allow_reads_when_down: bool,
    /// Shared secret peer connections authenticate with (empty: loopback peers only).
    pub secret: String,
    /// The port of the proxy for clients that are not cluster-aware (0: off).
    pub proxy_port: u16,
    /// `cluster-replicas`: copies of each slot range besides its primary's, on the
    /// next distinct nodes clockwise.
    pub replicas: usize,
}

impl Default for ClusterSettings {
    fn default() -> ClusterSettings {
        ClusterSettings {
            enabled: false,
            seeds: Vec::new(),
            config_file: "nodes.conf".into(),
            announce_ip: String::new(),
            announce_port: 0,
            node_timeout_ms: DEFAULT_CLUSTER_NODE_TIMEOUT_MS,
            require_full_coverage: true,
            allow_reads_when_down: false,
            secret: String::new(),
            proxy_port: 0,
            replicas: DEFAULT_CLUSTER_REPLICAS,
        }
    }
}

/// One output-buffer-limit class: hard bytes, soft bytes, soft seconds (0: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BufferLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub bind: Vec<String>,
    pub port: u16,
    pub unixsocket: String,
    pub unixsocketperm: u32,
    pub threads: usize,
    pub shards: usize,
    pub databases: usize,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub tcp_backlog: u32,
    pub maxclients: usize,
    pub requirepass: String,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub output_limit_normal: BufferLimit,
    pub output_limit_replica: BufferLimit,
    pub output_limit_pubsub: BufferLimit,
    pub hz: u32,
    pub loglevel: String,
    pub logfile: String,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub latency_monitor_threshold: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxmemory_samples: u32,
    pub lfu_log_factor: u32,
    pub lfu_decay_time: u32,
    /// Active defragmentation (`activedefrag`, `active-defrag-*`).
    pub defrag: DefragSettings,
    pub dir: String,
    pub dbfilename: String,
    pub save: String,
    pub appendonly: bool,
    pub protected_mode: bool,
    pub daemonize: bool,
    pub pidfile: String,
    pub lazyfree_lazy_user_flush: bool,
    /// Keyspace notification classes (`notify-keyspace-events`), as flags.
    pub notify_keyspace_events: u32,
    /// When small collections leave their packed forms (`*-max-listpack-*`).
    pub encodings: Encodings,
    pub metrics_port: u16,
    /// `metrics-port` was given by the file or the command line: then a busy port is
    /// fatal; the default one, when busy, is skipped with a warning.
    pub metrics_port_explicit: bool,
    pub metrics_bind: String,
    pub http_api: bool,
    pub cluster: ClusterSettings,
    /// The file this configuration was read from, for CONFIG REWRITE.
    pub config_file: Option<PathBuf>,
    /// Values of Redis 7.0 parameters slotcache accepts and reports but does not act on
    /// ([`KNOWN`] entries that are not [`DIRECTIVES`]), by name; unset ones report
    /// Redis's default.
    pub other: BTreeMap<&'static str, String>,
    /// Such parameters set by the file or the command line, for one warning each at
    /// start-up.
    pub inert: Vec<&'static str>,
}

/// A directive's name and whether CONFIG SET may change it while running.
pub struct Directive {
    pub name: &'static str,
    pub runtime: bool,
}

macro_rules! directives {
    ($($name:literal => $rt:literal),* $(,)?) => {
        pub const DIRECTIVES: &[Directive] = &[$(Directive { name: $name, runtime: $rt }),*];
    };
}

directives! {
    "bind" => true, "port" => true, "unixsocket" => false, "unixsocketperm" => false,
    "threads" => false, "shards" => false, "databases" => false, "timeout" => true,
    "tcp-keepalive" => true, "tcp-backlog" => false, "maxclients" => true,
    "requirepass" => true, "proto-max-bulk-len" => true, "client-query-buffer-limit" => true,
    "client-output-buffer-limit" => true, "hz" => true, "loglevel" => true,
    "logfile" => false, "slowlog-log-slower-than" => true, "slowlog-max-len" => true,
    "latency-monitor-threshold" => true,
    "maxmemory" => true, "maxmemory-policy" => true, "maxmemory-samples" => true,
    "lfu-log-factor" => true, "lfu-decay-time" => true,
    "activedefrag" => true, "active-defrag-ignore-bytes" => true,
    "active-defrag-threshold-lower" => true, "active-defrag-threshold-upper" => true,
    "active-defrag-cycle-min" => true, "active-defrag-cycle-max" => true,
    "dir" => true, "dbfilename" => true, "save" => true, "appendonly" => true,
    "protected-mode" => true, "daemonize" => false, "pidfile" => false,
    "lazyfree-lazy-user-flush" => true, "notify-keyspace-events" => true,
    "hash-max-listpack-entries" => true, "hash-max-listpack-value" => true,
    "list-max-listpack-size" => true, "set-max-intset-entries" => true,
    "set-max-listpack-entries" => true, "set-max-listpack-value" => true,
    "zset-max-listpack-entries" => true, "zset-max-listpack-value" => true, "metrics-port" => false, "metrics-bind" => false,
    "http-api" => true,
    "cluster-enabled" => false, "cluster-seeds" => false, "cluster-config-file" => false,
    "cluster-announce-ip" => true, "cluster-announce-port" => true, "cluster-node-timeout" => true,
    "cluster-require-full-coverage" => true, "cluster-allow-reads-when-down" => true,
    "cluster-secret" => false, "cluster-proxy-port" => false, "cluster-replicas" => false,
}

pub const MAXMEMORY_POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-tinylfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

pub const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning"];

impl Default for Config {
    fn default() -> Config {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            bind: DEFAULT_BIND.split(' ').map(String::from).collect(),
            port: DEFAULT_PORT,
            unixsocket: String::new(),
            unixsocketperm: DEFAULT_UNIXSOCKETPERM,
            threads: cores,
            shards: cores,
            databases: DEFAULT_DATABASES,
            timeout: 0,
            tcp_keepalive: DEFAULT_TCP_KEEPALIVE,
            tcp_backlog: DEFAULT_TCP_BACKLOG,
            maxclients: DEFAULT_MAXCLIENTS,
            requirepass: String::new(),
            proto_max_bulk_len: DEFAULT_PROTO_MAX_BULK_LEN,
            client_query_buffer_limit: DEFAULT_QUERY_BUFFER_LIMIT,
            output_limit_normal: BufferLimit { hard: 0, soft: 0, soft_seconds: 0 },
            output_limit_replica: BufferLimit { hard: 256 << 20, soft: 64 << 20, soft_seconds: 60 },
            output_limit_pubsub: BufferLimit { hard: 32 << 20, soft: 8 << 20, soft_seconds: 60 },
            hz: DEFAULT_HZ,
            loglevel: "notice".into(),
            logfile: String::new(),
            slowlog_log_slower_than: DEFAULT_SLOWLOG_SLOWER_THAN,
            slowlog_max_len: DEFAULT_SLOWLOG_MAX_LEN,
            latency_monitor_threshold: 0,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: DEFAULT_MAXMEMORY_SAMPLES,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            defrag: DefragSettings {
                enabled: true,
                ignore_bytes: 1024 * 1024,
                threshold_lower: 2,
                threshold_upper: 100,
                cycle_min: 5,
                cycle_max: 25,
            },
            dir: ".".into(),
            dbfilename: "dump.rdb".into(),
            save: String::new(),
            appendonly: false,
            protected_mode: true,
            daemonize: false,
            pidfile: String::new(),
            lazyfree_lazy_user_flush: false,
            notify_keyspace_events: 0,
            encodings: Encodings::default(),
            metrics_port: DEFAULT_METRICS_PORT,
            metrics_port_explicit: false,
            metrics_bind: DEFAULT_METRICS_BIND.into(),
            http_api: false,
            cluster: ClusterSettings::default(),
            config_file: None,
            other: BTreeMap::new(),
            inert: Vec::new(),
        }
    }
}

/// A directive's name, lower-cased, with Redis's aliases (`hash-max-ziplist-entries`,
/// `slave-priority`, `lua-time-limit`...) mapped to the current names.
pub fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match KNOWN.iter().find(|k| k.alias == Some(lower.as_str())) {
        Some(k) => k.name.to_string(),
        None => lower,
    }
}

/// Redis 7.0 parameters kept with the others (no field of their own) that slotcache
/// does act on, so setting them draws no "no effect" warning.
const READ_BY_SLOTCACHE: &[&str] = &[
    "enable-debug-command",
    "tracking-table-max-keys",
    "maxmemory-clients",
    "rdbcompression",
    "rdbchecksum",
    "key-load-delay",
    "stop-writes-on-bgsave-error",
    "rdb-key-save-delay",
    "replicaof",
    "masterauth",
    "masteruser",
    "repl-backlog-size",
    "repl-timeout",
    "repl-ping-replica-period",
    "replica-read-only",
    "replica-serve-stale-data",
    "min-replicas-to-write",
    "min-replicas-max-lag",
];

/// The Redis 7.0 parameter called `name` (canonical), if slotcache does not handle it
/// itself.
fn inert(name: &str) -> Option<&'static Known> {
    if DIRECTIVES.iter().any(|d| d.name == name) {
        return None;
    }
    KNOWN.iter().find(|k| k.name == name)
}

/// Whether CONFIG SET may change `name` (canonical) while running; None when unknown.
pub fn is_runtime(name: &str) -> Option<bool> {
    DIRECTIVES.iter().find(|d| d.name == name).map(|d| d.runtime).or_else(|| inert(name).map(|k| k.runtime))
}

/// Every parameter name CONFIG GET can report: slotcache's directives, then Redis's
/// others, each followed by its alias if it has one, with whether a pattern may match it.
pub fn all_names() -> impl Iterator<Item = (&'static str, bool)> {
    let aliases = |name: &'static str| KNOWN.iter().find(|k| k.name == name).and_then(|k| k.alias);
    DIRECTIVES
        .iter()
        .map(|d| (d.name, false))
        .chain(KNOWN.iter().filter(|k| inert(k.name).is_some()).map(|k| (k.name, k.hidden)))
        .flat_map(move |(name, hidden)| {
            std::iter::once((name, !hidden)).chain(aliases(name).map(|a| (a, !hidden)))
        })
}

const BAD_ARGS: &str = "Bad directive or wrong number of arguments";

/// The one argument of a directive that takes exactly one.
fn single_arg(args: &[String]) -> Result<&str, String> {
    match args {
        [one] => Ok(one.as_str()),
        _ => Err(BAD_ARGS.into()),
    }
}

/// Checks a value of an inert parameter against its grammar and returns it as CONFIG
/// GET will print it.
fn validate_known(k: &Known, args: &[String]) -> Result<String, String> {
    let bad_args = || BAD_ARGS.to_string();
    let joined = args.join(" ");
    let single = || single_arg(args);
    let range = |v: i64, lo: i64, hi: i64| {
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(format!("argument must be between {lo} and {hi} inclusive"))
        }
    };
    Ok(match k.kind {
        Kind::Bool => yes_no(parse_bool(single()?)?),
        Kind::Int(lo, hi) => range(parse_num(single()?)?, lo, hi)?.to_string(),
        Kind::Mem(lo, hi) => {
            let v = parse_mem(single()?)?;
            range(i64::try_from(v).map_err(|_| "argument out of range".to_string())?, lo, hi)?.to_string()
        }
        Kind::MemPercent(lo, hi) | Kind::Percent(lo, hi) => {
            let v = single()?;
            match v.strip_suffix('%') {
                Some(p) => format!("{}%", range(parse_num(p)?, 0, -lo)?),
                None if k.kind == Kind::Percent(lo, hi) => range(parse_num(v)?, 0, hi)?.to_string(),
                None => range(parse_mem(v)? as i64, 0, hi)?.to_string(),
            }
        }
        Kind::Octal => {
            format!(
                "{:o}",
                u32::from_str_radix(single()?, 8).map_err(|_| "argument must be an octal number")?
            )
        }
        Kind::Enum(words) => {
            // Multi-word enums (shutdown-on-sigterm) take several words.
            let mut out = Vec::new();
            for w in joined.split_whitespace() {
                out.push(one_of(w, words)?);
            }
            if out.is_empty() {
                return Err(bad_args());
            }
            out.join(" ")
        }
        Kind::Str => joined,
        Kind::Special => {
            match k.name {
                "oom-score-adj-values" => {
                    let v: Vec<i64> = joined
                        .split_whitespace()
                        .map(parse_num)
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad_args())?;
                    if v.len() != 3 || v.iter().any(|x| !(-2000..=2000).contains(x)) {
                        return Err(
                            "Invalid oom-score-adj-values, elements must be between -2000 and 2000.".into()
                        );
                    }
                    joined
                }
                "replicaof" => {
                    // Also as one quoted argument ("host port"), as CONFIG REWRITE writes it.
                    let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
                    match words[..] {
                        [h, p] if h.eq_ignore_ascii_case("no") && p.eq_ignore_ascii_case("one") => {
                            String::new()
                        }
                        [h, p] => format!("{h} {}", parse_num::<u16>(p)?),
                        _ => return Err(bad_args()),
                    }
                }
                "latency-tracking-info-percentiles" => {
                    for v in joined.split_whitespace() {
                        let p: f64 =
                            v.parse().map_err(|_| "Invalid latency-tracking-info-percentiles parameters")?;
                        if !(0.0..=100.0).contains(&p) {
                            return Err("latency-tracking-info-percentiles parameters should sit between [0.0, 100.0]".into());
                        }
                    }
                    joined
                }
                _ => joined,
            }
        }
    })
}

/// Parses a memory size as Redis's `memtoull`: `100`, `100k` (1000), `100kb` (1024),
/// `m`, `mb`, `g`, `gb`, case-insensitive.
pub fn parse_memory(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.is_empty() {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes".into() } else { "no".into() }
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse().map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

/// A whole number of percent within Redis's bounds for the defrag settings.
fn parse_percent(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let v: u64 = parse_num(s)?;
    if !(min..=max).contains(&v) {
        return Err(format!("argument must be between {min} and {max} inclusive"));
    }
    Ok(v)
}

fn parse_mem(s: &str) -> Result<u64, String> {
    parse_memory(s).ok_or_else(|| "argument must be a memory value".to_string())
}

fn one_of(s: &str, allowed: &[&str]) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    if allowed.contains(&lower.as_str()) {
        Ok(lower)
    } else {
        Err("argument(s) must be one of the following: ".to_string() + &allowed.join(", "))
    }
}

impl Config {
    /// Builds the configuration from an optional file and `--directive value` flags.
    pub fn load(file: Option<&Path>, flags: &[String]) -> Result<Config, String> {
        let mut cfg = Config::default();
        if let Some(path) = file {
            cfg.load_file(path, 0)?;
            cfg.config_file = Some(std::fs::canonicalize(path).unwrap_or(path.to_path_buf()));
        }
        for (i, line) in flags_to_lines(flags)?.iter().enumerate() {
            cfg.apply_line(line).map_err(|e| {
                format!("FATAL CONFIG ERROR in command line argument {} >>> '{}': {}", i + 1, line, e)
            })?;
        }
        cfg.validate()?;
        cfg.inert = cfg.other.keys().copied().filter(|k| !READ_BY_SLOTCACHE.contains(k)).collect();
        Ok(cfg)
    }

    fn load_file(&mut self, path: &Path, depth: usize) -> Result<(), String> {
        if depth > MAX_INCLUDE_DEPTH {
            return Err(format!("FATAL CONFIG ERROR: include nesting too deep at '{}'", path.display()));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("FATAL CONFIG ERROR: can't open config file '{}': {}", path.display(), e))?;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fail = |e: String| {
                format!("FATAL CONFIG ERROR at {}:{} >>> '{}': {}", path.display(), n + 1, trimmed, e)
            };
            let args = split_args(trimmed.as_bytes()).ok_or_else(|| fail("unbalanced quotes".into()))?;
            let args: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
            if args[0].eq_ignore_ascii_case("include") {
                if args.len() != 2 {
                    return Err(fail("wrong number of arguments".into()));
                }
                let inc = Path::new(&args[1]);
                let inc = if inc.is_relative() {
                    path.parent().unwrap_or(Path::new(".")).join(inc)
                } else {
                    inc.to_path_buf()
                };
                self.load_file(&inc, depth + 1)
                    .map_err(|e| format!("{e} (included from {}:{})", path.display(), n + 1))?;
                continue;
            }
            self.set(&args[0], &args[1..]).map_err(fail)?;
        }
        Ok(())
    }

    fn apply_line(&mut self, line: &str) -> Result<(), String> {
        let args = split_args(line.as_bytes()).ok_or("unbalanced quotes")?;
        let args: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if args.is_empty() {
            return Err("empty directive".into());
        }
        self.set(&args[0], &args[1..])
    }

    fn validate(&self) -> Result<(), String> {
        if self.threads == 0 || self.threads > 1024 {
            return Err("FATAL CONFIG ERROR: threads must be between 1 and 1024".into());
        }
        if self.shards == 0 || self.shards > 16384 {
            return Err("FATAL CONFIG ERROR: shards must be between 1 and 16384".into());
        }
        if self.databases == 0 {
            return Err("FATAL CONFIG ERROR: databases must be at least 1".into());
        }
        Ok(())
    }

    /// Sets one directive from its arguments. Errors are the reason only; callers add
    /// the context (file line, CONFIG SET argument).
    pub fn set(&mut self, name: &str, args: &[String]) -> Result<(), String> {
        let name = canonical_name(name);
        if let Some(k) = inert(&name) {
            let value = validate_known(k, args)?;
            self.other.insert(k.name, value);
            return Ok(());
        }
        if !DIRECTIVES.iter().any(|d| d.name == name) {
            return Err(BAD_ARGS.into());
        }
        let joined = args.join(" ");
        let single = || single_arg(args);
        match name.as_str() {
            "bind" => {
                if args.is_empty() {
                    return Err(BAD_ARGS.into());
                }
                self.bind = args.iter().flat_map(|a| a.split_whitespace().map(String::from)).collect();
            }
            "port" => self.port = parse_num(single()?)?,
            "unixsocket" => self.unixsocket = single()?.to_string(),
            "unixsocketperm" => {
                self.unixsocketperm = u32::from_str_radix(single()?, 8)
                    .map_err(|_| "argument must be an octal number".to_string())?
            }
            "threads" => self.threads = positive_or_cores(single()?)?,
            "shards" => self.shards = positive_or_cores(single()?)?,
            "databases" => {
                self.databases = parse_num(single()?)?;
                if self.databases == 0 || self.databases > 1024 * 1024 {
                    return Err("argument must be between 1 and 1048576 inclusive".into());
                }
            }
            "timeout" => self.timeout = parse_num(single()?)?,
            "tcp-keepalive" => self.tcp_keepalive = parse_num(single()?)?,
            "tcp-backlog" => self.tcp_backlog = parse_num(single()?)?,
            "maxclients" => {
                let v: usize = parse_num(single()?)?;
                if v == 0 {
                    return Err("argument must be between 1 and 4294967295 inclusive".into());
                }
                self.maxclients = v;
            }
            "requirepass" => {
                self.requirepass = if args.is_empty() { String::new() } else { single()?.to_string() }
            }
            "proto-max-bulk-len" => {
                let v = parse_mem(single()?)?;
                if !(1024 * 1024..=MAX_PROTO_BULK_LEN).contains(&v) {
                    return Err("argument must be a memory value between 1mb and 2gb".into());
                }
                self.proto_max_bulk_len = v;
            }
            "client-query-buffer-limit" => {
                let v = parse_mem(single()?)?;
                if v < 1024 * 1024 {
                    return Err("argument must be a memory value of at least 1mb".into());
                }
                self.client_query_buffer_limit = v;
            }
            "client-output-buffer-limit" => {
                let parts: Vec<&str> = joined.split_whitespace().collect();
                if parts.is_empty() || !parts.len().is_multiple_of(4) {
                    return Err("Wrong number of arguments in buffer limit configuration.".into());
                }
                for c in parts.chunks(4) {
                    let limit = BufferLimit {
                        hard: parse_mem(c[1])?,
                        soft: parse_mem(c[2])?,
                        soft_seconds: parse_num(c[3])?,
                    };
                    match c[0].to_ascii_lowercase().as_str() {
                        "normal" => self.output_limit_normal = limit,
                        "replica" | "slave" => self.output_limit_replica = limit,
                        "pubsub" => self.output_limit_pubsub = limit,
                        _ => {
                            return Err(
                                "Invalid client class specified in buffer limit configuration.".into()
                            );
                        }
                    }
                }
            }
            "hz" => self.hz = parse_num::<u32>(single()?)?.clamp(1, 500),
            "loglevel" => self.loglevel = one_of(single()?, LOGLEVELS)?,
            "logfile" => self.logfile = if args.is_empty() { String::new() } else { single()?.to_string() },
            "slowlog-log-slower-than" => self.slowlog_log_slower_than = parse_num(single()?)?,
            "slowlog-max-len" => self.slowlog_max_len = parse_num(single()?)?,
            "latency-monitor-threshold" => self.latency_monitor_threshold = parse_num(single()?)?,
            "maxmemory" => self.maxmemory = parse_mem(single()?)?,
            "maxmemory-policy" => self.maxmemory_policy = one_of(single()?, MAXMEMORY_POLICIES)?,
            "maxmemory-samples" => {
                let v: u32 = parse_num(single()?)?;
                if !(1..=64).contains(&v) {
                    return Err("argument must be between 1 and 64 inclusive".into());
                }
                self.maxmemory_samples = v;
            }
            "lfu-log-factor" => self.lfu_log_factor = parse_num(single()?)?,
            "lfu-decay-time" => self.lfu_decay_time = parse_num(single()?)?,
            "activedefrag" => self.defrag.enabled = parse_bool(single()?)?,
            "active-defrag-ignore-bytes" => self.defrag.ignore_bytes = parse_mem(single()?)?,
            "active-defrag-threshold-lower" => {
                self.defrag.threshold_lower = parse_percent(single()?, 0, 1000)?
            }
            "active-defrag-threshold-upper" => {
                self.defrag.threshold_upper = parse_percent(single()?, 0, 1000)?
            }
            "active-defrag-cycle-min" => self.defrag.cycle_min = parse_percent(single()?, 1, 99)?,
            "active-defrag-cycle-max" => self.defrag.cycle_max = parse_percent(single()?, 1, 99)?,
            "dir" => self.dir = single()?.to_string(),
            "dbfilename" => self.dbfilename = single()?.to_string(),
            "save" => {
                // Pairs of `seconds changes`, or nothing (snapshots off), as Redis checks.
                let words: Vec<&str> = joined.split_whitespace().collect();
                if !words.len().is_multiple_of(2) || words.iter().any(|w| w.parse::<u64>().is_err()) {
                    return Err("Invalid save parameters".into());
                }
                self.save = words.join(" ");
            }
            "appendonly" => {
                if parse_bool(single()?)? {
                    return Err("appendonly is not supported: slotcache persists with RDB snapshots (SAVE, dir, dbfilename)".into());
                }
                self.appendonly = false;
            }
            "protected-mode" => self.protected_mode = parse_bool(single()?)?,
            "daemonize" => self.daemonize = parse_bool(single()?)?,
            "pidfile" => self.pidfile = if args.is_empty() { String::new() } else { single()?.to_string() },
            "lazyfree-lazy-user-flush" => self.lazyfree_lazy_user_flush = parse_bool(single()?)?,
            "notify-keyspace-events" => {
                self.notify_keyspace_events = crate::server::pubsub::events::parse(&joined)
                    .ok_or("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")?
            }
            "hash-max-listpack-entries" => self.encodings.hash_entries = parse_num(single()?)?,
            "hash-max-listpack-value" => self.encodings.hash_value = parse_num(single()?)?,
            "set-max-intset-entries" => self.encodings.set_intset_entries = parse_num(single()?)?,
            "set-max-listpack-entries" => self.encodings.set_listpack_entries = parse_num(single()?)?,
            "set-max-listpack-value" => self.encodings.set_listpack_value = parse_num(single()?)?,
            "zset-max-listpack-entries" => self.encodings.zset_entries = parse_num(single()?)?,
            "zset-max-listpack-value" => self.encodings.zset_value = parse_num(single()?)?,
            "list-max-listpack-size" => {
                let v: i64 = parse_num(single()?)?;
                if v == 0 || v < -5 {
                    return Err(
                        "argument must be between -5 and 9223372036854775807 inclusive, except 0".into()
                    );
                }
                self.encodings.list_size = v;
            }
            "metrics-port" => {
                self.metrics_port = parse_num(single()?)?;
                self.metrics_port_explicit = true;
            }
            "http-api" => self.http_api = parse_bool(single()?)?,
            "metrics-bind" => {
                let addr = single()?;
                addr.parse::<std::net::IpAddr>().map_err(|_| format!("invalid address '{addr}'"))?;
                self.metrics_bind = addr.to_string();
            }
            "cluster-enabled" => self.cluster.enabled = parse_bool(single()?)?,
            "cluster-seeds" => {
                let seeds: Vec<String> = joined.split_whitespace().map(String::from).collect();
                for seed in &seeds {
                    let port = seed.rsplit_once(':').and_then(|(_, p)| p.parse::<u16>().ok());
                    if port.is_none_or(|p| p == 0) {
                        return Err(format!("invalid seed '{seed}' (host:port)"));
                    }
                }
                self.cluster.seeds = seeds;
            }
            "cluster-config-file" => self.cluster.config_file = single()?.to_string(),
            "cluster-announce-ip" => {
                self.cluster.announce_ip = if args.is_empty() { String::new() } else { single()?.to_string() }
            }
            "cluster-announce-port" => self.cluster.announce_port = parse_num(single()?)?,
            "cluster-node-timeout" => {
                let v: u64 = parse_num(single()?)?;
                if v == 0 {
                    return Err("argument must be between 1 and 9223372036854775807 inclusive".into());
                }
                self.cluster.node_timeout_ms = v;
            }
            "cluster-require-full-coverage" => self.cluster.require_full_coverage = parse_bool(single()?)?,
            "cluster-allow-reads-when-down" => self.cluster.allow_reads_when_down = parse_bool(single()?)?,
            "cluster-secret" => {
                self.cluster.secret = if args.is_empty() { String::new() } else { single()?.to_string() }
            }
            "cluster-proxy-port" => self.cluster.proxy_port = parse_num(single()?)?,
            "cluster-replicas" => {
                let v: usize = parse_num(single()?)?;
                if v > MAX_CLUSTER_REPLICAS {
                    return Err(format!("argument must be between 0 and {MAX_CLUSTER_REPLICAS} inclusive"));
                }
                self.cluster.replicas = v;
            }
            _ => return Err(BAD_ARGS.into()),
        }
        Ok(())
    }

    /// The value of a directive as CONFIG GET prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        let limit = |l: &BufferLimit| format!("{} {} {}", l.hard, l.soft, l.soft_seconds);
        Some(match name {
            "bind" => self.bind.join(" "),
            "port" => self.port.to_string(),
            "unixsocket" => self.unixsocket.clone(),
            "unixsocketperm" => format!("{:o}", self.unixsocketperm),
            "threads" => self.threads.to_string(),
            "shards" => self.shards.to_string(),
            "databases" => self.databases.to_string(),
            "timeout" => self.timeout.to_string(),
            "tcp-keepalive" => self.tcp_keepalive.to_string(),
            "tcp-backlog" => self.tcp_backlog.to_string(),
            "maxclients" => self.maxclients.to_string(),
            "requirepass" => self.requirepass.clone(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "client-output-buffer-limit" => format!(
                "normal {} slave {} pubsub {}",
                limit(&self.output_limit_normal),
                limit(&self.output_limit_replica),
                limit(&self.output_limit_pubsub)
            ),
            "hz" => self.hz.to_string(),
            "loglevel" => self.loglevel.clone(),
            "logfile" => self.logfile.clone(),
            "slowlog-log-slower-than" => self.slowlog_log_slower_than.to_string(),
            "slowlog-max-len" => self.slowlog_max_len.to_string(),
            "latency-monitor-threshold" => self.latency_monitor_threshold.to_string(),
            "maxmemory" => self.maxmemory.to_string(),
            "maxmemory-policy" => self.maxmemory_policy.clone(),
            "maxmemory-samples" => self.maxmemory_samples.to_string(),
            "lfu-log-factor" => self.lfu_log_factor.to_string(),
            "lfu-decay-time" => self.lfu_decay_time.to_string(),
            "activedefrag" => yes_no(self.defrag.enabled),
            "active-defrag-ignore-bytes" => self.defrag.ignore_bytes.to_string(),
            "active-defrag-threshold-lower" => self.defrag.threshold_lower.to_string(),
            "active-defrag-threshold-upper" => self.defrag.threshold_upper.to_string(),
            "active-defrag-cycle-min" => self.defrag.cycle_min.to_string(),
            "active-defrag-cycle-max" => self.defrag.cycle_max.to_string(),
            "dir" => self.dir.clone(),
            "dbfilename" => self.dbfilename.clone(),
            "save" => self.save.clone(),
            "appendonly" => yes_no(self.appendonly),
            "protected-mode" => yes_no(self.protected_mode),
            "daemonize" => yes_no(self.daemonize),
            "pidfile" => self.pidfile.clone(),
            "lazyfree-lazy-user-flush" => yes_no(self.lazyfree_lazy_user_flush),
            "notify-keyspace-events" => crate::server::pubsub::events::format(self.notify_keyspace_events),
            "hash-max-listpack-entries" => self.encodings.hash_entries.to_string(),
            "hash-max-listpack-value" => self.encodings.hash_value.to_string(),
            "set-max-intset-entries" => self.encodings.set_intset_entries.to_string(),
            "set-max-listpack-entries" => self.encodings.set_listpack_entries.to_string(),
            "set-max-listpack-value" => self.encodings.set_listpack_value.to_string(),
            "zset-max-listpack-entries" => self.encodings.zset_entries.to_string(),
            "zset-max-listpack-value" => self.encodings.zset_value.to_string(),
            "list-max-listpack-size" => self.encodings.list_size.to_string(),
            "metrics-port" => self.metrics_port.to_string(),
            "metrics-bind" => self.metrics_bind.clone(),
            "http-api" => yes_no(self.http_api),
            "cluster-enabled" => yes_no(self.cluster.enabled),
            "cluster-seeds" => self.cluster.seeds.join(" "),
            "cluster-config-file" => self.cluster.config_file.clone(),
            "cluster-announce-ip" => self.cluster.announce_ip.clone(),
            "cluster-announce-port" => self.cluster.announce_port.to_string(),
            "cluster-node-timeout" => self.cluster.node_timeout_ms.to_string(),
            "cluster-require-full-coverage" => yes_no(self.cluster.require_full_coverage),
            "cluster-allow-reads-when-down" => yes_no(self.cluster.allow_reads_when_down),
            "cluster-secret" => self.cluster.secret.clone(),
            "cluster-proxy-port" => self.cluster.proxy_port.to_string(),
            "cluster-replicas" => self.cluster.replicas.to_string(),
            other => match inert(other) {
                Some(k) => self.other.get(k.name).cloned().unwrap_or_else(|| k.default.to_string()),
                None => return None,
            },
        })
    }

    /// Writes the current configuration back to the file it was loaded from: directive
    /// lines are updated in place (comments and order kept), duplicates dropped, and
    /// values not yet in the file appended when they differ from the defaults.
    pub fn rewrite(&self) -> Result<(), String> {
        let path = self.config_file.as_ref().ok_or("The server is running without a config file")?;
        let original = std::fs::read_to_string(path).unwrap_or_default();
        let defaults = Config::default();
        // slotcache's directives, then the Redis parameters set here (by the file, the
        // command line or CONFIG SET); an alias in the file is written under the name.
        let names: Vec<&'static str> =
            DIRECTIVES.iter().map(|d| d.name).chain(self.other.keys().copied()).collect();
        let mut written: Vec<&str> = Vec::new();
        let mut out = String::new();
        for line in original.lines() {
            let name = canonical_name(line.split_whitespace().next().unwrap_or(""));
            match names.iter().find(|n| **n == name && !line.trim_start().starts_with('#')) {
                Some(n) if written.contains(n) => continue,
                Some(n) => {
                    written.push(n);
                    out.push_str(&self.line_for(n));
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        let mut header = false;
        for &name in &names {
            if written.contains(&name) || self.get(name) == defaults.get(name) {
                continue;
            }
            if !header {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            out.push_str(&self.line_for(name));
            out.push('\n');
        }
        let tmp = path.with_extension("rewrite.tmp");
        std::fs::write(&tmp, out).map_err(|e| format!("Rewriting config file: {e}"))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("Rewriting config file: {e}"))
    }

    fn line_for(&self, name: &str) -> String {
        let value = self.get(name).unwrap_or_default();
        match name {
            "client-output-buffer-limit" => value
                .split_whitespace()
                .collect::<Vec<_>>()
                .chunks(4)
                .map(|c| format!("{} {}", name, c.join(" ")))
                .collect::<Vec<_>>()
                .join("\n"),
            "bind" | "save" | "cluster-seeds" => format!("{name} {value}"),
            _ => format!("{name} {}", quote(&value)),
        }
    }
}

fn positive_or_cores(s: &str) -> Result<usize, String> {
    let v: usize = parse_num(s)?;
    if v == 0 { Ok(std::thread::available_parallelism().map_or(1, |n| n.get())) } else { Ok(v) }
}

fn quote(v: &str) -> String {
    if v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

/// `--port 7000 --save "" --bind a b` → `["port 7000", "save \"\"", "bind a b"]`.
fn flags_to_lines(flags: &[String]) -> Result<Vec<String>, String> {
    let mut lines: Vec<String> = Vec::new();
    for flag in flags {
        if let Some(name) = flag.strip_prefix("--") {
            if name.is_empty() {
                return Err("FATAL CONFIG ERROR: empty option '--'".into());
            }
            lines.push(name.to_string());
        } else {
            let Some(line) = lines.last_mut() else {
                return Err(format!(
                    "FATAL CONFIG ERROR: unexpected argument '{flag}' (options start with --)"
                ));
            };
            line.push(' ');
            line.push_str(&quote(flag));
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicaof_reads_two_words_or_one_quoted_pair_as_config_rewrite_writes_it() {
        for args in [vec!["127.0.0.1".to_string(), "7000".to_string()], vec!["127.0.0.1 7000".to_string()]] {
            let mut c = Config::default();
            c.set("replicaof", &args).unwrap();
            assert_eq!(c.get("replicaof").as_deref(), Some("127.0.0.1 7000"), "{args:?}");
        }
        let mut c = Config::default();
        c.set("replicaof", &["no one".to_string()]).unwrap();
        assert_eq!(c.get("replicaof").as_deref(), Some(""));
        assert!(c.set("replicaof", &["127.0.0.1".to_string()]).is_err());
        assert!(c.set("replicaof", &["h".to_string(), "99999".to_string()]).is_err());
    }

    #[test]
    fn directives_change_at_runtime_where_redis_allows() {
        for d in DIRECTIVES {
            if let Some(k) = KNOWN.iter().find(|k| k.name == d.name) {
                assert_eq!(
                    d.runtime, k.runtime,
                    "{}: CONFIG SET allowed in Redis 7.0: {}",
                    d.name, k.runtime
                );
            }
        }
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("100"), Some(100));
        assert_eq!(parse_memory("100k"), Some(100_000));
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("512mb"), Some(512 << 20));
        assert_eq!(parse_memory("1GB"), Some(1 << 30));
        assert_eq!(parse_memory("1x"), None);
        assert_eq!(parse_memory("-1"), None);
    }

    #[test]
    fn flags_override_and_reject_unknown() {
        let flags: Vec<String> =
            ["--port", "7000", "--maxclients", "100", "--save", ""].iter().map(|s| s.to_string()).collect();
        let cfg = Config::load(None, &flags).unwrap();
        assert_eq!(cfg.port, 7000);
        assert_eq!(cfg.maxclients, 100);
        assert_eq!(cfg.save, "");
        let err = Config::load(None, &["--nosuch".into(), "1".into()]).unwrap_err();
        assert!(err.contains("nosuch 1"), "{err}");
        let err = Config::load(None, &["--proto-max-bulk-len".into(), "3gb".into()]).unwrap_err();
        assert!(err.contains("between 1mb and 2gb"), "{err}");
        assert!(Config::load(None, &["--proto-max-bulk-len".into(), "2gb".into()]).is_ok());
    }

    #[test]
    fn shipped_conf_documents_every_directive() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/slotcache.conf");
        let text = std::fs::read_to_string(&path).unwrap();
        for d in DIRECTIVES {
            let documented = text.lines().any(|l| l.split_whitespace().next() == Some(d.name));
            assert!(documented, "conf/slotcache.conf does not document '{}'", d.name);
        }
        let cfg = Config::load(Some(&path), &[]).unwrap();
        let defaults = Config::default();
        for d in DIRECTIVES {
            if d.name != "threads" && d.name != "shards" {
                assert_eq!(
                    cfg.get(d.name),
                    defaults.get(d.name),
                    "default of {} in the shipped file",
                    d.name
                );
            }
        }
    }

    #[test]
    fn every_directive_reads_back() {
        let cfg = Config::default();
        for d in DIRECTIVES {
            let value = cfg.get(d.name).unwrap_or_else(|| panic!("{} has no getter", d.name));
            let mut copy = cfg.clone();
            let args: Vec<String> = if value.is_empty() {
                vec![]
            } else if d.name == "save"
                || d.name == "bind"
                || d.name == "client-output-buffer-limit"
                || d.name == "cluster-seeds"
            {
                value.split_whitespace().map(String::from).collect()
            } else {
                vec![value.clone()]
            };
            if [
                "save",
                "requirepass",
                "logfile",
                "pidfile",
                "cluster-seeds",
                "cluster-announce-ip",
                "cluster-secret",
            ]
            .contains(&d.name)
            {
                copy.set(d.name, &args).unwrap();
            } else if !args.is_empty() {
                copy.set(d.name, &args).unwrap_or_else(|e| panic!("{}: {e}", d.name));
            }
            assert_eq!(copy.get(d.name), Some(value), "{}", d.name);
        }
    }
}
