//! Memory figures from the allocator and the kernel, for INFO memory and /metrics.

/// Memory figures: jemalloc's allocated/active/resident bytes and the process RSS.
pub struct MemoryInfo {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub rss: u64,
}

pub fn memory_info() -> MemoryInfo {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    MemoryInfo {
        allocated: stats::allocated::read().unwrap_or(0) as u64,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
        rss: process_rss(),
    }
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
    let name = b"arena.4096.purge\0";
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

/// The allocator's bytes in use, cached: reading jemalloc's global statistics costs
/// about 10 µs, so it is refreshed by the cron every tick and, while maxmemory is set,
/// at most once a millisecond by the writes that need it.
#[derive(Default)]
pub struct MemoryGauge {
    used: std::sync::atomic::AtomicU64,
    refreshed_ms: std::sync::atomic::AtomicU64,
    /// Highest reading seen (MEMORY STATS peak.allocated, INFO used_memory_peak).
    pub peak: std::sync::atomic::AtomicU64,
}

impl MemoryGauge {
    pub fn refresh(&self, now_ms: u64) -> u64 {
        use tikv_jemalloc_ctl::{epoch, stats};
        let _ = epoch::advance();
        let used = stats::allocated::read().unwrap_or(0) as u64;
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

    /// Lowers the reading by bytes just freed (until the next refresh corrects it).
    pub fn freed(&self, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let _ = self.used.fetch_update(Relaxed, Relaxed, |u| Some(u.saturating_sub(bytes)));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn allocator_runs_one_arena() {
        // The shared arena, plus the one jemalloc keeps apart for huge allocations.
        assert_eq!(tikv_jemalloc_ctl::arenas::narenas::read().unwrap(), 2);
    }
}
