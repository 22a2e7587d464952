//! Every metric slotcache exports, named once. Names follow the widely used Redis
//! exporter where a metric means the same thing (so its dashboards work), and take a
//! `slotcache_` prefix otherwise. Labels come only from small bounded sets: command
//! names from the command table, error codes from `ERROR_CODES`, database and shard
//! numbers.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count, held by the Prometheus exporter.
    Counter,
    /// A counter of fractional seconds: the exporter's counters are integers, so the
    /// text writer renders these.
    SecondsCounter,
    Gauge,
    /// Rendered by the text writer from the per-thread buckets.
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter | Kind::SecondsCounter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

macro_rules! metrics {
    ($($id:ident = $name:literal, $kind:ident, $help:literal;)*) => {
        $(pub const $id: Metric = Metric { name: $name, kind: Kind::$kind, help: $help };)*
        /// All metrics, in exposition order.
        pub const ALL: &[Metric] = &[$($id),*];
    };
}

metrics! {
    UP = "redis_up", Gauge, "1 while the server is serving.";
    UPTIME = "redis_uptime_in_seconds", Gauge, "Seconds since the server started.";
    CONNECTED_CLIENTS = "redis_connected_clients", Gauge, "Connected clients.";
    BLOCKED_CLIENTS = "redis_blocked_clients", Gauge, "Clients blocked on a blocking command.";
    MAX_CLIENTS = "redis_config_maxclients", Gauge, "The maxclients setting.";
    MEMORY_USED = "redis_memory_used_bytes", Gauge, "Bytes the server holds (allocator statistics, less its thread caches).";
    MEMORY_RSS = "redis_memory_used_rss_bytes", Gauge, "Resident set size of the process.";
    MEMORY_MAX = "redis_memory_max_bytes", Gauge, "The maxmemory setting (0: none).";
    COMMANDS_PROCESSED = "redis_commands_processed_total", Counter, "Commands executed.";
    COMMANDS = "redis_commands_total", Counter, "Calls per command.";
    COMMANDS_DURATION = "redis_commands_duration_seconds_total", SecondsCounter, "Seconds spent executing each command.";
    COMMANDS_FAILED = "redis_commands_failed_calls_total", Counter, "Calls per command that returned an error.";
    COMMANDS_REJECTED = "redis_commands_rejected_calls_total", Counter, "Calls per command refused before running (arity, auth).";
    ERRORS = "redis_errors_total", Counter, "Error replies by error code.";
    KEYSPACE_HITS = "redis_keyspace_hits_total", Counter, "Key lookups that found the key.";
    KEYSPACE_MISSES = "redis_keyspace_misses_total", Counter, "Key lookups that did not find the key.";
    EXPIRED_KEYS = "redis_expired_keys_total", Counter, "Keys removed because their TTL passed.";
    EVICTED_KEYS = "redis_evicted_keys_total", Counter, "Keys evicted to stay under maxmemory.";
    DB_KEYS = "redis_db_keys", Gauge, "Keys per database.";
    DB_KEYS_EXPIRING = "redis_db_keys_expiring", Gauge, "Keys with a TTL per database.";
    NET_INPUT = "redis_net_input_bytes_total", Counter, "Bytes read from clients.";
    NET_OUTPUT = "redis_net_output_bytes_total", Counter, "Bytes written to clients.";
    CONNECTIONS_RECEIVED = "redis_connections_received_total", Counter, "Connections accepted.";
    REJECTED_CONNECTIONS = "redis_rejected_connections_total", Counter, "Connections refused because of maxclients.";
    SLOWLOG_LENGTH = "redis_slowlog_length", Gauge, "Entries in the slow log.";
    COMMAND_DURATION = "slotcache_command_duration_seconds", Histogram, "Command execution time.";
    SHARD_KEYS = "slotcache_shard_keys", Gauge, "Keys per keyspace shard, all databases.";
    SHARD_LOCK_WAIT = "slotcache_shard_lock_wait_seconds", Histogram, "Time spent waiting for a contended shard lock.";
    CONNECTED_REPLICAS = "redis_connected_slaves", Gauge, "Replicas connected and online.";
    REPL_OFFSET = "redis_master_repl_offset", Gauge, "Bytes of replication stream so far (a replica: applied from its primary).";
    REPLICA_OFFSET = "redis_connected_slave_offset_bytes", Gauge, "Offset each replica acknowledged last, by replica.";
    REPLICA_LAG = "redis_connected_slave_lag_seconds", Gauge, "Seconds since each replica acknowledged last, by replica.";
    REPL_BACKLOG = "redis_repl_backlog_history_bytes", Gauge, "Bytes of stream the backlog holds for partial resyncs.";
    MASTER_LINK_UP = "redis_master_link_up", Gauge, "A replica: 1 while its link to its primary is up.";
    RESYNCS_FULL = "redis_replica_resyncs_full", Gauge, "Full synchronizations served to replicas (a gauge, as the Redis exporter has it).";
    RESYNCS_PARTIAL_OK = "redis_replica_partial_resync_accepted", Gauge, "Partial resynchronizations served from the backlog.";
    RESYNCS_PARTIAL_ERR = "redis_replica_partial_resync_denied", Gauge, "Partial resynchronizations asked for and refused (a full one followed).";
    CLUSTER_ENABLED = "redis_cluster_enabled", Gauge, "1 in cluster mode.";
    CLUSTER_STATE = "slotcache_cluster_state_ok", Gauge, "1 while cluster_state is ok (a majority, and coverage if required).";
    CLUSTER_KNOWN_NODES = "slotcache_cluster_known_nodes", Gauge, "Members this node knows, itself and failed ones included.";
    CLUSTER_NODES_FAILING = "slotcache_cluster_nodes_failing", Gauge, "Members suspected (fail?) or failed (fail), by state.";
    CLUSTER_SLOTS_OWNED = "slotcache_cluster_slots_owned", Gauge, "Slots this node serves.";
    CLUSTER_REDIRECTS = "slotcache_cluster_redirects_total", Counter, "Commands refused before running, by kind (moved, crossslot, clusterdown).";
    CLUSTER_MESSAGES = "slotcache_cluster_messages_total", Counter, "Peer messages by direction and kind (swim, heartbeat).";
    CLUSTER_MESSAGE_BYTES = "slotcache_cluster_message_bytes_total", Counter, "Bytes of SWIM messages by direction.";
    CLUSTER_PROXIED = "slotcache_cluster_proxied_commands_total", Counter, "Commands answered through the proxy port.";
    CLUSTER_PROXY_DURATION = "slotcache_cluster_proxy_duration_seconds", Histogram, "Time from reading a proxied command to having its reply.";
}

/// Upper bounds (microseconds) of the command duration histogram: powers of two from
/// 1 µs to about 1 s, the buckets LATENCY HISTOGRAM reports as Redis 7.0 does (its HDR
/// histogram iterated in powers of two from 1024 ns).
pub const COMMAND_BUCKETS_US: [u64; 21] = {
    let mut b = [0u64; 21];
    let mut i = 0;
    while i < b.len() {
        b[i] = 1 << i;
        i += 1;
    }
    b
};

/// Upper bounds (microseconds) of the shard lock wait histogram: 1 µs to 100 ms.
pub const LOCK_WAIT_BUCKETS_US: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 1_000, 5_000, 25_000, 100_000];

/// The bucket a duration falls in; `bounds.len()` is the +Inf bucket.
#[inline]
pub fn bucket_index(bounds: &[u64], micros: u64) -> usize {
    bounds.iter().position(|&b| micros <= b).unwrap_or(bounds.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_conventional() {
        let mut names: Vec<&str> = ALL.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "metric names are unique");
        for m in ALL {
            assert!(m.name.starts_with("redis_") || m.name.starts_with("slotcache_"), "{}", m.name);
            assert!(m.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            assert_eq!(
                matches!(m.kind, Kind::Counter | Kind::SecondsCounter),
                m.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                m.name
            );
            assert!(!m.help.is_empty());
        }
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_index(&COMMAND_BUCKETS_US, 0), 0);
        assert_eq!(bucket_index(&COMMAND_BUCKETS_US, 1), 0);
        assert_eq!(bucket_index(&COMMAND_BUCKETS_US, 2), 1);
        assert_eq!(bucket_index(&COMMAND_BUCKETS_US, 3), 2);
        assert_eq!(bucket_index(&COMMAND_BUCKETS_US, 2_000_000), 21);
        assert!(COMMAND_BUCKETS_US.windows(2).all(|w| w[0] < w[1]));
        assert!(LOCK_WAIT_BUCKETS_US.windows(2).all(|w| w[0] < w[1]));
    }
}
