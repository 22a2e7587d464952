//! Memory figures from the allocator and the kernel, for INFO memory and /metrics.

/// Memory figures: jemalloc's allocated/active/resident bytes and the process RSS.
pub struct MemoryInfo {
    /// What the server holds: the allocator's allocated bytes less the blocks freed into
    /// its per-thread caches (see [`used_bytes`]).
    pub used: u64,
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub rss: u64,
}

pub fn memory_info() -> MemoryInfo {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let allocated = stats::allocated::read().unwrap_or(0) as u64;
    MemoryInfo {
        used: less_thread_caches(allocated),
        allocated,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
        rss: process_rss(),
    }
}

/// The bytes the server holds as of the last statistics epoch: jemalloc's `allocated`
/// less the blocks sitting freed in its thread caches. jemalloc counts a cached block as
/// allocated until the cache flushes it back to its slab, and with a cache per worker,
/// blocking-pool and cron thread that is most of an idle server's figure (~0.7 MB of
/// 1.3 MB) and swings by hundreds of KB as threads come and go. Redis counts what it
/// has allocated and not yet freed (its own counter), which is what this gives too.
pub fn used_bytes() -> u64 {
    less_thread_caches(tikv_jemalloc_ctl::stats::allocated::read().unwrap_or(0) as u64)
}

fn less_thread_caches(allocated: u64) -> u64 {
    allocated.saturating_sub(tcache_bytes())
}

/// Bytes in every thread's cache (`stats.arenas.<all>.tcache_bytes`), as of the last
/// statistics epoch; 0 where the allocator does not report it.
fn tcache_bytes() -> u64 {
    static MIB: std::sync::OnceLock<Option<[usize; 4]>> = std::sync::OnceLock::new();
    let mib = MIB.get_or_init(|| {
        let mut m = [0usize; 4];
        tikv_jemalloc_ctl::raw::name_to_mib(b"stats.arenas.4096.tcache_bytes\0", &mut m).ok().map(|_| m)
    });
    // SAFETY: the statistic is a size_t.
    mib.and_then(|m| unsafe { tikv_jemalloc_ctl::raw::read_mib::<usize>(&m) }.ok()).unwrap_or(0) as u64
}

/// jemalloc's statistics report (MEMORY MALLOC-STATS), as `malloc_stats_print` writes it.
pub fn malloc_stats() -> String {
    unsafe extern "C" fn append(opaque: *mut std::ffi::c_void, text: *const std::ffi::c_char) {
        // SAFETY: `opaque` is the `String` passed below, alive for the whole call, and
        // jemalloc hands over a NUL-terminated string.
        unsafe {
            let out = &mut *opaque.cast::<String>();
            out.push_str(&std::ffi::CStr::from_ptr(text).to_string_lossy());
        }
    }
    let mut out = String::new();
    // SAFETY: the callback only appends to `out`, which outlives the call; a null
    // options pointer asks for the default report.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(
            Some(append),
            (&mut out as *mut String).cast(),
            std::ptr::null(),
        );
    }
    out
}

/// Returns every arena's unused dirty pages to the system (MEMORY PURGE).
pub fn purge() {
    // MALLCTL_ARENAS_ALL (4096) names every arena at once.
    arena_call(b"arena.4096.purge\0");
}

/// Applies jemalloc's decay policy now: pages unused for longer than the decay time go
/// back to the system. jemalloc otherwise decays only as it allocates, so an idle
/// server (whose connections gave their buffers back) would keep them resident.
pub fn decay() {
    arena_call(b"arena.4096.decay\0");
}

fn arena_call(name: &[u8]) {
    // SAFETY: a void mallctl: no old or new value is read or written.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// Resident set size from /proc (0 where unavailable).
fn process_rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// The bytes in use ([`used_bytes`]), cached: reading jemalloc's global statistics costs
/// about 10 µs, so it is refreshed by the cron every tick and, while maxmemory is set,
/// at most once a millisecond by the writes that need it.
#[derive(Default)]
pub struct MemoryGauge {
    used: std::sync::atomic::AtomicU64,
    refreshed_ms: std::sync::atomic::AtomicU64,
    /// Highest reading seen (MEMORY STATS peak.allocated, INFO used_memory_peak).
    peak: std::sync::atomic::AtomicU64,
}

impl MemoryGauge {
    pub fn refresh(&self, now_ms: u64) -> u64 {
        let _ = tikv_jemalloc_ctl::epoch::advance();
        let used = used_bytes();
        self.used.store(used, std::sync::atomic::Ordering::Relaxed);
        self.peak.fetch_max(used, std::sync::atomic::Ordering::Relaxed);
        self.refreshed_ms.store(now_ms, std::sync::atomic::Ordering::Relaxed);
        used
    }

    /// The reading, refreshed first unless it was taken during `now_ms` already.
    pub fn current(&self, now_ms: u64) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.refreshed_ms.load(Relaxed);
        if last != now_ms && self.refreshed_ms.compare_exchange(last, now_ms, Relaxed, Relaxed).is_ok() {
            return self.refresh(now_ms);
        }
        self.used.load(Relaxed)
    }

    /// The highest reading seen, counting `used` (a fresh reading) too.
    pub fn peak(&self, used: u64) -> u64 {
        self.peak.load(std::sync::atomic::Ordering::Relaxed).max(used)
    }

    /// Lowers the reading by bytes just freed (until the next refresh corrects it).
    pub fn freed(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self.used.fetch_update(Relaxed, Relaxed, |u| Some(u.saturating_sub(bytes)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_caches_are_measured() {
        // A thread of its own, so no other test's allocations touch its cache.
        std::thread::spawn(|| {
            let blocks: Vec<Box<[u8; 64]>> = (0..100).map(|_| Box::new([1u8; 64])).collect();
            drop(blocks);
            let _ = tikv_jemalloc_ctl::epoch::advance();
            let cached = tcache_bytes();
            assert!(cached >= 64 * 20, "{cached} bytes cached after freeing 100 blocks of 64");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn allocator_runs_one_arena() {
        // The shared arena, plus the one jemalloc keeps apart for huge allocations.
        assert_eq!(tikv_jemalloc_ctl::arenas::narenas::read().unwrap(), 2);
    }
}
