//! The figures a member reports to the nameservers for `clusterList`:
//! rates from counters sampled at each registration, the store's age and
//! disk use, and the group commit's load.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use raftmq_proto::namesrv::v1 as pb;
use raftmq_raft::RaftNode;

/// The version string shown in `#Version`.
pub const VERSION: &str = concat!("raftmq-", env!("CARGO_PKG_VERSION"));

/// Turns counters into per-second rates between two samples.
#[derive(Debug)]
pub struct StatsSampler {
    last: Option<(Instant, u64, u64)>,
}

impl Default for StatsSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl StatsSampler {
    /// A sampler with no sample yet (the first rates are 0).
    pub fn new() -> Self {
        Self { last: None }
    }

    /// The figures now.
    pub fn sample(&mut self, node: &RaftNode) -> pb::BrokerStats {
        let store = node.store();
        let now = Instant::now();
        let (stored, read) = (store.messages_stored(), store.messages_read());
        let (in_tps, out_tps) = match self.last {
            Some((t, s0, r0)) => {
                let secs = now.duration_since(t).as_secs_f64();
                if secs > 0.0 {
                    (
                        stored.saturating_sub(s0) as f64 / secs,
                        read.saturating_sub(r0) as f64 / secs,
                    )
                } else {
                    (0.0, 0.0)
                }
            }
            None => (0.0, 0.0),
        };
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
            // raftmq has no timer wheel yet: no delayed messages in flight.
            timer_progress: "-".into(),
            page_cache_wait_ms: u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
            hours,
            disk_used_ratio,
            activated: true,
            write_queue_len: waiting,
            write_queue_wait_ms: u64::try_from(oldest.as_millis()).unwrap_or(u64::MAX),
        }
    }
}
