//! The latency monitor (LATENCY LATEST/HISTORY/RESET/DOCTOR): events that took at
//! least `latency-monitor-threshold` milliseconds, as Redis records them: per event a
//! ring of the last [`HISTORY_LEN`] seconds that had a spike (the worst spike of each
//! second), plus the all-time maximum.
//!
//! The hot path pays one relaxed atomic load per command (the threshold); the lock is
//! taken only when something was slow.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Samples kept per event (Redis's LATENCY_TS_LEN).
pub const HISTORY_LEN: usize = 160;

#[derive(Debug, Clone, Default)]
pub struct EventSeries {
    /// (unix seconds, milliseconds), oldest first.
    pub samples: VecDeque<(u64, u64)>,
    pub max_ms: u64,
}

#[derive(Default)]
pub struct LatencyMonitor {
    /// 0 disables the monitor.
    pub threshold_ms: AtomicU64,
    events: Mutex<BTreeMap<&'static str, EventSeries>>,
}

impl LatencyMonitor {
    /// Records `ms` for `event` at `now_s` if it reaches the threshold.
    #[inline]
    pub fn observe(&self, event: &'static str, ms: u64, now_s: u64) {
        let threshold = self.threshold_ms.load(Relaxed);
        if threshold == 0 || ms < threshold {
            return;
        }
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        let series = events.entry(event).or_default();
        series.max_ms = series.max_ms.max(ms);
        match series.samples.back_mut() {
            Some(last) if last.0 == now_s => last.1 = last.1.max(ms),
            _ => {
                series.samples.push_back((now_s, ms));
                if series.samples.len() > HISTORY_LEN {
                    series.samples.pop_front();
                }
            }
        }
    }

    /// Every event with samples, by name.
    pub fn snapshot(&self) -> BTreeMap<&'static str, EventSeries> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forgets the given events (all when empty); returns how many were reset.
    pub fn reset(&self, which: &[&[u8]]) -> usize {
        let mut events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if which.is_empty() {
            let n = events.len();
            events.clear();
            return n;
        }
        let before = events.len();
        events.retain(|name, _| !which.iter().any(|w| w.eq_ignore_ascii_case(name.as_bytes())));
        before - events.len()
    }

    /// A short human report (LATENCY DOCTOR).
    pub fn doctor(&self) -> String {
        let events = self.snapshot();
        let threshold = self.threshold_ms.load(Relaxed);
        if threshold == 0 {
            return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this slotcache \
                    instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order \
                    to enable it.\n"
                .into();
        }
        if events.is_empty() {
            return "Dave, no latency spike was observed during the lifetime of this slotcache instance, \
                    not in the slightest bit. I honestly think you ought to sleep better tonight.\n"
                .into();
        }
        let mut out = String::from("Dave, I have observed latency spikes in this slotcache instance.\n\n");
        for (i, (name, s)) in events.iter().enumerate() {
            let avg = s.samples.iter().map(|x| x.1).sum::<u64>() / s.samples.len().max(1) as u64;
            out.push_str(&format!(
                "{}. {}: {} latency spikes (average {}ms, worst {}ms).\n",
                i + 1,
                name,
                s.samples.len(),
                avg,
                s.max_ms
            ));
        }
        out.push_str(
            "\nAdvice: commands over the threshold are listed by SLOWLOG GET with their arguments; \
             prefer O(1) and O(log N) commands on large keys, and pipelining over many round trips.\n",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_worst_per_second_and_a_bounded_history() {
        let m = LatencyMonitor::default();
        m.observe("command", 500, 1);
        assert!(m.snapshot().is_empty(), "disabled at threshold 0");
        m.threshold_ms.store(10, Relaxed);
        m.observe("command", 5, 1);
        m.observe("command", 20, 1);
        m.observe("command", 30, 1);
        m.observe("command", 15, 2);
        let s = &m.snapshot()["command"];
        assert_eq!(s.samples, VecDeque::from(vec![(1, 30), (2, 15)]));
        assert_eq!(s.max_ms, 30);
        for t in 3..400 {
            m.observe("command", 12, t);
        }
        assert_eq!(m.snapshot()["command"].samples.len(), HISTORY_LEN);
        assert_eq!(m.reset(&[b"COMMAND"]), 1);
        assert!(m.snapshot().is_empty());
    }
}
