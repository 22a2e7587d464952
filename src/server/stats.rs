//! Statistics counters: one [`ThreadStats`] per I/O thread, written only by that thread
//! and summed when INFO (or, later, a metrics scrape) asks.
//!
//! A counter is bumped with a relaxed load and store rather than an atomic add: each
//! has a single writer, so no update is lost, and the hot path pays no locked
//! instruction and no shared cache line. CONFIG RESETSTAT does not write other threads'
//! counters; it records a baseline that readings subtract.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use crate::metrics::names::{COMMAND_BUCKETS_US, bucket_index};

/// A counter with one writing thread and any number of readers.
#[derive(Default, Debug)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub fn incr(&self) {
        self.add(1);
    }

    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Buckets of the command duration histogram, +Inf included.
pub const DURATION_BUCKETS: usize = COMMAND_BUCKETS_US.len() + 1;

/// Per-command counters (INFO commandstats, the metrics' per-command series).
#[derive(Default, Debug)]
pub struct CmdStat {
    pub calls: Counter,
    pub usec: Counter,
    pub failed: Counter,
    pub rejected: Counter,
    /// Calls per duration bucket (not cumulative).
    pub buckets: [Counter; DURATION_BUCKETS],
}

impl CmdStat {
    /// Counts one executed call that took `micros`.
    #[inline]
    pub fn record(&self, micros: u64) {
        self.calls.incr();
        self.usec.add(micros);
        self.buckets[bucket_index(&COMMAND_BUCKETS_US, micros)].incr();
    }
}

/// A summed reading of one command's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CmdSnapshot {
    pub calls: u64,
    pub usec: u64,
    pub failed: u64,
    pub rejected: u64,
    pub buckets: [u64; DURATION_BUCKETS],
}

/// Error codes counted separately in INFO errorstats; anything else counts as ERR.
pub const ERROR_CODES: &[&str] = &[
    "ERR",
    "WRONGTYPE",
    "NOAUTH",
    "WRONGPASS",
    "NOPROTO",
    "OOM",
    "EXECABORT",
    "NOSCRIPT",
    "BUSY",
    "MOVED",
    "ASK",
    "CROSSSLOT",
    "CLUSTERDOWN",
    "TRYAGAIN",
    "LOADING",
    "NOPERM",
    "READONLY",
    "MASTERDOWN",
    "NOREPLICAS",
    "UNBLOCKED",
    "INVALIDOBJ",
    "BUSYKEY",
];

#[derive(Debug)]
pub struct ThreadStats {
    pub commands: Box<[CmdStat]>,
    pub commands_processed: Counter,
    pub net_input: Counter,
    pub net_output: Counter,
    pub keyspace_hits: Counter,
    pub keyspace_misses: Counter,
    pub errors: Box<[Counter]>,
    /// Changes to the dataset (Redis's dirty counter): one per key a write changed.
    pub dirty: Counter,
    /// A write runs on this thread without the replication order (the stream is not
    /// kept): the stream's start waits for it ([`crate::server::replication`]).
    pub in_write: std::sync::atomic::AtomicBool,
}

impl ThreadStats {
    pub fn new(commands: usize) -> ThreadStats {
        ThreadStats {
            commands: (0..commands).map(|_| CmdStat::default()).collect(),
            commands_processed: Counter::default(),
            net_input: Counter::default(),
            net_output: Counter::default(),
            keyspace_hits: Counter::default(),
            keyspace_misses: Counter::default(),
            errors: ERROR_CODES.iter().map(|_| Counter::default()).collect(),
            dirty: Counter::default(),
            in_write: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn count_error(&self, code: &str) {
        let i = ERROR_CODES.iter().position(|c| *c == code).unwrap_or(0);
        self.errors[i].incr();
    }
}

/// A summed reading of every counter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub commands: Vec<CmdSnapshot>,
    pub commands_processed: u64,
    pub net_input: u64,
    pub net_output: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub errors: Vec<u64>,
    pub connections_received: u64,
    pub rejected_connections: u64,
    /// Clients disconnected to stay under `maxmemory-clients`.
    pub evicted_clients: u64,
    pub expired_keys: u64,
    /// Dataset changes since start (CONFIG RESETSTAT leaves it, as Redis's dirty
    /// counter; a snapshot will reset it).
    pub dirty: u64,
}

impl Snapshot {
    fn minus(mut self, base: &Snapshot) -> Snapshot {
        let sub = |a: &mut u64, b: u64| *a = a.saturating_sub(b);
        for (c, b) in self.commands.iter_mut().zip(base.commands.iter()) {
            sub(&mut c.calls, b.calls);
            sub(&mut c.usec, b.usec);
            sub(&mut c.failed, b.failed);
            sub(&mut c.rejected, b.rejected);
            for (x, y) in c.buckets.iter_mut().zip(b.buckets.iter()) {
                sub(x, *y);
            }
        }
        for (e, b) in self.errors.iter_mut().zip(base.errors.iter()) {
            sub(e, *b);
        }
        sub(&mut self.commands_processed, base.commands_processed);
        sub(&mut self.net_input, base.net_input);
        sub(&mut self.net_output, base.net_output);
        sub(&mut self.keyspace_hits, base.keyspace_hits);
        sub(&mut self.keyspace_misses, base.keyspace_misses);
        sub(&mut self.connections_received, base.connections_received);
        sub(&mut self.rejected_connections, base.rejected_connections);
        sub(&mut self.evicted_clients, base.evicted_clients);
        sub(&mut self.expired_keys, base.expired_keys);
        self
    }

    pub fn total_error_replies(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// All threads' counters plus the few process-wide ones (connections).
#[derive(Default)]
pub struct Stats {
    threads: Mutex<Vec<Arc<ThreadStats>>>,
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub evicted_clients: AtomicU64,
    baseline: Mutex<Snapshot>,
}

impl Stats {
    pub fn register(&self, t: Arc<ThreadStats>) {
        self.threads.lock().unwrap_or_else(|p| p.into_inner()).push(t);
    }

    /// Waits until no thread runs a write that started without the replication order
    /// (each takes microseconds; bounded at 10 seconds all the same).
    pub fn quiesce_writes(&self) {
        let threads = self.threads.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        for t in threads {
            while t.in_write.load(std::sync::atomic::Ordering::SeqCst) && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
    }

    fn raw(&self, commands: usize, expired_keys: u64) -> Snapshot {
        let mut s = Snapshot {
            commands: vec![CmdSnapshot::default(); commands],
            errors: vec![0; ERROR_CODES.len()],
            connections_received: self.connections_received.load(Relaxed),
            rejected_connections: self.rejected_connections.load(Relaxed),
            evicted_clients: self.evicted_clients.load(Relaxed),
            expired_keys,
            ..Snapshot::default()
        };
        for t in self.threads.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            for (acc, c) in s.commands.iter_mut().zip(t.commands.iter()) {
                acc.calls += c.calls.get();
                acc.usec += c.usec.get();
                acc.failed += c.failed.get();
                acc.rejected += c.rejected.get();
                for (a, b) in acc.buckets.iter_mut().zip(c.buckets.iter()) {
                    *a += b.get();
                }
            }
            for (acc, e) in s.errors.iter_mut().zip(t.errors.iter()) {
                *acc += e.get();
            }
            s.commands_processed += t.commands_processed.get();
            s.net_input += t.net_input.get();
            s.net_output += t.net_output.get();
            s.keyspace_hits += t.keyspace_hits.get();
            s.keyspace_misses += t.keyspace_misses.get();
            s.dirty += t.dirty.get();
        }
        s
    }

    /// Raw totals of commands processed, input bytes and output bytes.
    pub fn totals(&self) -> [u64; 3] {
        let mut t = [0; 3];
        for s in self.threads.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            t[0] += s.commands_processed.get();
            t[1] += s.net_input.get();
            t[2] += s.net_output.get();
        }
        t
    }

    /// Counters since start (or since the last CONFIG RESETSTAT).
    pub fn snapshot(&self, commands: usize, expired_keys: u64) -> Snapshot {
        let raw = self.raw(commands, expired_keys);
        let base = self.baseline.lock().unwrap_or_else(|p| p.into_inner());
        raw.minus(&base)
    }

    pub fn reset(&self, commands: usize, expired_keys: u64) {
        let raw = self.raw(commands, expired_keys);
        *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) = raw;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_subtracts_a_baseline() {
        let stats = Stats::default();
        let t = Arc::new(ThreadStats::new(2));
        stats.register(t.clone());
        t.commands[1].calls.add(5);
        t.commands[1].record(30);
        t.count_error("WRONGTYPE");
        t.count_error("SOMETHINGELSE");
        let s = stats.snapshot(2, 0);
        assert_eq!(s.commands[1].calls, 6);
        assert_eq!(s.commands[1].buckets[5], 1, "30 us falls in the (16, 32] us bucket");
        assert_eq!(s.errors[1], 1);
        assert_eq!(s.errors[0], 1);
        stats.reset(2, 0);
        t.commands[1].calls.incr();
        assert_eq!(stats.snapshot(2, 0).commands[1].calls, 1);
    }
}
