//! SLOWLOG: commands that ran longer than `slowlog-log-slower-than` microseconds,
//! newest first, at most `slowlog-max-len` entries. The lock is only taken when a
//! command is slow.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

use super::clients::ClientInfo;

/// Arguments kept per entry, and bytes kept per argument (Redis's limits).
const MAX_ARGS: usize = 32;
const MAX_ARG_LEN: usize = 128;

pub struct SlowEntry {
    pub id: u64,
    pub time_s: u64,
    pub micros: u64,
    pub argv: Vec<Bytes>,
    pub addr: String,
    pub name: Bytes,
}

#[derive(Default)]
pub struct SlowLog {
    entries: Mutex<VecDeque<SlowEntry>>,
    next_id: AtomicU64,
    pub slower_than: AtomicI64,
    pub max_len: AtomicU64,
}

impl SlowLog {
    pub fn maybe_record(&self, client: &ClientInfo, argv: &[Bytes], micros: u64, now_ms: u64) {
        let threshold = self.slower_than.load(Relaxed);
        if threshold < 0 || micros < threshold as u64 {
            return;
        }
        let mut kept: Vec<Bytes> = argv.iter().take(MAX_ARGS).map(trim_arg).collect();
        if argv.len() > MAX_ARGS {
            kept[MAX_ARGS - 1] = Bytes::from(format!("... ({} more arguments)", argv.len() - MAX_ARGS + 1));
        }
        let entry = SlowEntry {
            id: self.next_id.fetch_add(1, Relaxed),
            time_s: now_ms / 1000,
            micros,
            argv: kept,
            addr: client.addr.clone(),
            name: client.name().unwrap_or_default(),
        };
        let max = self.max_len.load(Relaxed) as usize;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.push_front(entry);
        entries.truncate(max);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn with_entries<R>(&self, f: impl FnOnce(&VecDeque<SlowEntry>) -> R) -> R {
        f(&self.entries.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn trim(&self) {
        let max = self.max_len.load(Relaxed) as usize;
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).truncate(max);
    }
}

fn trim_arg(a: &Bytes) -> Bytes {
    if a.len() <= MAX_ARG_LEN {
        return a.clone();
    }
    let mut v = a[..MAX_ARG_LEN].to_vec();
    v.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_LEN).as_bytes());
    Bytes::from(v)
}
