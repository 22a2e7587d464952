//! The cached clock. A connection reads the monotonic clock once per request batch;
//! Unix milliseconds for expiry are derived from that reading plus an offset the cron
//! refreshes every tick, so wall-clock changes are followed within one tick and no
//! command pays for a second clock read.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Unix milliseconds minus milliseconds since `epoch()`.
static OFFSET_MS: AtomicI64 = AtomicI64::new(i64::MIN);

fn wall_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Re-reads the wall clock (the cron calls this every tick).
pub fn refresh() {
    let mono = epoch().elapsed().as_millis() as i64;
    OFFSET_MS.store(wall_ms() - mono, Relaxed);
}

/// Unix milliseconds at the monotonic instant `at`.
#[inline]
pub fn unix_ms_at(at: Instant) -> u64 {
    let mut offset = OFFSET_MS.load(Relaxed);
    if offset == i64::MIN {
        refresh();
        offset = OFFSET_MS.load(Relaxed);
    }
    let mono = at.saturating_duration_since(epoch()).as_millis() as i64;
    (mono + offset).max(0) as u64
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    unix_ms_at(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_time_tracks_the_wall_clock() {
        refresh();
        let derived = now_ms() as i64;
        assert!((derived - wall_ms()).abs() < 50, "{derived}");
        let later = unix_ms_at(Instant::now() + std::time::Duration::from_millis(1500));
        assert!(later as i64 - derived >= 1499);
    }
}
