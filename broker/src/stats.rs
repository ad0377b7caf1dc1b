//! The figures a member reports to the nameservers for `clusterList`:
//! rates from counters sampled at each registration, the store's age and
//! disk use, and the group commit's load.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use raftmq_proto::namesrv::v1 as pb;
use raftmq_raft::RaftNode;

/// The version string shown in `#Version`.
pub const VERSION: &str = concat!("raftmq-", env!("CARGO_PKG_VERSION"));

/// `#Timer(Progress)` as upstream prints it: seconds the earliest pending
/// timer is overdue, messages not yet in the timer index (always 0 here:
/// timers are indexed as they are applied), pending timers in units of
/// 10,000 (`w`), timers held and released per second.
pub fn timer_progress(
    t: &raftmq_store::message_store::TimerProgress,
    held_tps: f64,
    released_tps: f64,
) -> String {
    format!(
        "{}-0({:.1}w, {:.1}, {:.1})",
        t.behind_ms / 1000,
        t.pending as f64 / 10_000.0,
        held_tps,
        released_tps
    )
}

/// Turns counters into per-second rates between two samples.
#[derive(Debug)]
pub struct StatsSampler {
    last: Option<(Instant, u64, u64)>,
    /// Timers held and released at the last sample.
    timers: (u64, u64),
}

impl Default for StatsSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl StatsSampler {
    /// A sampler with no sample yet (the first rates are 0).
    pub fn new() -> Self {
        Self {
            last: None,
            timers: (0, 0),
        }
    }

    /// The figures now.
    pub fn sample(&mut self, node: &RaftNode) -> pb::BrokerStats {
        let store = node.store();
        let now = Instant::now();
        let (stored, read) = (store.messages_stored(), store.messages_read());
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let timers = store.timer_progress(wall_ms);
        let secs = self
            .last
            .map_or(0.0, |(t, _, _)| now.duration_since(t).as_secs_f64());
        let rate = |now: u64, then: u64| {
            if secs > 0.0 {
                now.saturating_sub(then) as f64 / secs
            } else {
                0.0
            }
        };
        let (s0, r0) = self.last.map_or((stored, read), |(_, s, r)| (s, r));
        let (in_tps, out_tps) = (rate(stored, s0), rate(read, r0));
        let (held0, released0) = self.timers;
        let timer_progress = timer_progress(
            &timers,
            rate(timers.held_total, held0),
            rate(timers.released_total, released0),
        );
        self.timers = (timers.held_total, timers.released_total);
        self.last = Some((now, stored, read));
        let hours = store
            .oldest_message_time_ms()
            .map(|t| {
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as i64)
                    .unwrap_or(0);
                (now_ms.saturating_sub(t)).max(0) as f64 / 3_600_000.0
            })
            .unwrap_or(0.0);
        let disk_used_ratio = store
            .commitlog()
            .disk()
            .used_percent()
            .map(|p| p / 100.0)
            .unwrap_or(-1.0);
        let (waiting, oldest) = node.write_load();
        pb::BrokerStats {
            version: VERSION.into(),
            in_tps,
            out_tps,
            timer_progress,
            page_cache_wait_ms: u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
            hours,
            disk_used_ratio,
            activated: true,
            write_queue_len: waiting,
            write_queue_wait_ms: u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use raftmq_store::message_store::TimerProgress;

    use super::timer_progress;

    #[test]
    fn timer_progress_reads_as_upstreams_column() {
        let t = TimerProgress {
            pending: 123_456,
            behind_ms: 2_500,
            held_total: 0,
            released_total: 0,
        };
        assert_eq!(
            timer_progress(&t, 10_000.0, 9_500.25),
            "2-0(12.3w, 10000.0, 9500.2)"
        );
        assert_eq!(
            timer_progress(&TimerProgress::default(), 0.0, 0.0),
            "0-0(0.0w, 0.0, 0.0)"
        );
    }
}
