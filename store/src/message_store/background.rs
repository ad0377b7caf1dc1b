//! The store's background threads: the flusher (ASYNC_FLUSH pacing,
//! checkpoints in both modes, derived files, cold pages given back), and
//! under SYNC_FLUSH the one that answers durability waiters. Retention is
//! not here: the raft layer purges through Raft.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::StoreCore;
use crate::commitlog::CommitLog;
use crate::config::{FlushMode, FlushPacing, StoreConfig};
use crate::error::{Result, StoreError};
use crate::retention::{self, SegmentAge, Trigger};

/// How often cold commitlog pages are released, and how much of the log's
/// tail stays mapped in (consumers that keep up read there).
const RELEASE_INTERVAL: Duration = Duration::from_secs(1);
const HOT_TAIL_BYTES: u64 = 16 << 20;

/// How often the consume queues, the key index and the topic/offset state
/// are made durable with the dispatch checkpoint, at most. They are
/// rebuilt from the log after a crash, so this only bounds the replay; and
/// each flush costs a TLB shootdown per page written through the mapping
/// (the key index writes its slots all over its table). Every 500 ms, they
/// were most of the 7% of a loaded group's CPU that went to msync.
const DERIVED_FLUSH_INTERVAL: Duration = Duration::from_secs(5);

/// Whether the ASYNC_FLUSH flusher should flush now.
pub(super) fn should_flush(dirty_bytes: u64, since_full: Duration, pacing: &FlushPacing) -> bool {
    dirty_bytes > 0
        && (dirty_bytes >= pacing.min_dirty_pages * 4096 || since_full >= pacing.full_interval)
}

/// The store's threads; stopping joins them.
#[derive(Debug)]
pub(super) struct Background {
    stop: mpsc::Sender<()>,
    housekeeping: Option<JoinHandle<()>>,
    log: Arc<CommitLog>,
    stop_sync: Arc<AtomicBool>,
    sync_flusher: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the SYNC_FLUSH flusher (SYNC_FLUSH only: writers depend on it)
    /// and, with `housekeeping`, the flusher/cleaner thread.
    pub(super) fn start(
        store: Weak<StoreCore>,
        log: Arc<CommitLog>,
        cfg: &StoreConfig,
        housekeeping: bool,
    ) -> Result<Self> {
        let (stop, stopped) = mpsc::channel();
        let pacing = cfg.flush_pacing;
        let mode = cfg.flush_mode;
        let housekeeping = if housekeeping {
            Some(
                std::thread::Builder::new()
                    .name("raftmq-store-bg".into())
                    .spawn(move || run(store, stopped, pacing, mode))
                    .map_err(|e| StoreError::io("raftmq-store-bg", "spawn thread", e))?,
            )
        } else {
            None
        };
        let stop_sync = Arc::new(AtomicBool::new(false));
        let sync_flusher = if mode == FlushMode::Sync {
            let log = Arc::clone(&log);
            let stop = Arc::clone(&stop_sync);
            Some(
                std::thread::Builder::new()
                    .name("raftmq-sync-flush".into())
                    .spawn(move || log.serve_durable_waiters(&stop))
                    .map_err(|e| StoreError::io("raftmq-sync-flush", "spawn thread", e))?,
            )
        } else {
            None
        };
        Ok(Self {
            stop,
            housekeeping,
            log,
            stop_sync,
            sync_flusher,
        })
    }

    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        if let Some(h) = self.housekeeping {
            let _ = h.join();
        }
        self.stop_sync.store(true, Ordering::Release);
        self.log.wake_durable_waiters();
        if let Some(h) = self.sync_flusher {
            let _ = h.join();
        }
    }
}

fn run(store: Weak<StoreCore>, stopped: mpsc::Receiver<()>, pacing: FlushPacing, mode: FlushMode) {
    let mut last_full = Instant::now();
    let mut last_durable = 0u64;
    let mut last_dispatched = 0u64;
    let mut last_derived = Instant::now();
    let mut last_release = Instant::now();
    // Whether reserving blocks or making the next segment ahead failed last
    // time (warned once until it succeeds again, not every pass).
    let mut ahead_failing = false;
    loop {
        match stopped.recv_timeout(pacing.interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(store) = store.upgrade() else { return };
        let log = store.commitlog();
        let outcome = (|| -> Result<()> {
            if mode == FlushMode::Async
                && should_flush(log.dirty_bytes(), last_full.elapsed(), &pacing)
            {
                log.flush()?;
                last_full = Instant::now();
            }
            // Ahead of need, off the writers' path. A failure (a full disk)
            // only means the writer reserves the blocks or creates the
            // segment itself, and meets the same error there.
            match log
                .reserve_ahead()
                .and_then(|()| log.prepare_next_segment())
            {
                Ok(_) => ahead_failing = false,
                Err(e) if !ahead_failing => {
                    ahead_failing = true;
                    tracing::warn!(error = %e, "could not reserve commitlog space ahead of need");
                }
                Err(_) => {}
            }
            let dispatched = store.dispatched().0;
            if dispatched != last_dispatched && last_derived.elapsed() >= DERIVED_FLUSH_INTERVAL {
                store.flush_derived()?;
                last_dispatched = dispatched;
                last_derived = Instant::now();
            }
            let durable = log.durable().0;
            if durable != last_durable {
                log.write_checkpoint(None)?;
                last_durable = durable;
            }
            if last_release.elapsed() >= RELEASE_INTERVAL {
                last_release = Instant::now();
                log.release_cold_pages(HOT_TAIL_BYTES);
            }
            // Retention is not done here: the store purges through Raft (the
            // raft layer asks `expired_purge_index`), so that Raft knows what
            // is gone.
            Ok(())
        })();
        if let Err(e) = outcome {
            tracing::error!(error = %e, "store background work failed");
            if e.is_fatal() {
                log.poison(e.to_string());
                return;
            }
        }
    }
}

/// What one retention pass did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// The log's first index afterwards.
    pub start_index: u64,
    /// The log's first position afterwards.
    pub start_pos: u64,
}

impl StoreCore {
    /// One retention pass at `now`: deletes the leading expired segments if
    /// the hour is a `deleteWhen` hour, the disk is above
    /// `diskMaxUsedSpaceRatio`, or `manual` says so (with the hour of day,
    /// for tests; None reads the local clock). Consume queues and the key
    /// index follow the log's new start. Never deletes entries that are not
    /// yet dispatched.
    pub fn delete_expired(
        &self,
        now: SystemTime,
        hour_or_manual: Option<HourOrManual>,
    ) -> Result<RetentionOutcome> {
        let before = self.log.segments().count();
        if let Some(index) = self.expired_purge_index(now, hour_or_manual)? {
            self.purge_before(index)?;
        }
        let after = self.log.bounds();
        let outcome = RetentionOutcome {
            segments_deleted: before.saturating_sub(self.log.segments().count()),
            start_index: after.start_index,
            start_pos: after.start_pos,
        };
        if outcome.segments_deleted > 0 {
            tracing::info!(
                deleted = outcome.segments_deleted,
                start = after.start_index,
                "retention"
            );
        }
        Ok(outcome)
    }

    /// The decision half of [`StoreCore::delete_expired`]: the index the log
    /// may be purged up to (exclusive) now, if retention would delete
    /// anything. A replicated store purges through Raft with it.
    pub fn expired_purge_index(
        &self,
        now: SystemTime,
        hour_or_manual: Option<HourOrManual>,
    ) -> Result<Option<u64>> {
        let cfg = &self.cfg.retention;
        let trig = match hour_or_manual {
            Some(HourOrManual::Manual) => Some(Trigger::Manual),
            Some(HourOrManual::Hour(h)) => {
                retention::trigger(cfg, h, self.log.disk().used_percent()?)
            }
            None => retention::trigger(cfg, local_hour(), self.log.disk().used_percent()?),
        };
        if trig.is_none() {
            return Ok(None);
        }
        let segments = self.log.segments().all();
        let mut ages = Vec::with_capacity(segments.len());
        for s in &segments {
            let modified = std::fs::metadata(s.path())
                .and_then(|m| m.modified())
                .map_err(|e| StoreError::io(s.path(), "stat", e))?;
            ages.push(SegmentAge {
                base: s.base(),
                age: now.duration_since(modified).unwrap_or(Duration::ZERO),
            });
        }
        let n = retention::expired_prefix(&ages, cfg.file_reserved_time);
        if n == 0 {
            return Ok(None);
        }
        let b = self.log.bounds();
        let index = self
            .log
            .first_index_in_segment(ages[n].base)
            .unwrap_or(b.next_index)
            .min(self.dispatched().0)
            // Held records stay until released (ADR 0012).
            .min(self.held().oldest_index().unwrap_or(u64::MAX));
        Ok((index > b.start_index).then_some(index))
    }

    /// Removes entries before `index` from the log, and what points at them
    /// from the queues and key index.
    pub fn purge_before(&self, index: u64) -> Result<()> {
        let b = self.log.bounds();
        let index = index.min(b.next_index);
        if index <= b.start_index {
            return Ok(());
        }
        let start = if index == b.next_index {
            b.end_pos
        } else {
            self.log.location(index)?.pos
        };
        // Queues and index first: a reader never finds a queue entry that
        // points below the log start.
        for q in self.queues.all() {
            q.purge_below_pos(start)?;
        }
        self.keys.purge_before(start)?;
        self.log.purge_before(index)
    }
}

/// The hour retention should assume, or an operator's request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HourOrManual {
    /// Local hour of day, 0-23.
    Hour(u8),
    /// Delete expired segments regardless of the hour.
    Manual,
}

fn local_hour() -> u8 {
    use chrono::Timelike;
    chrono::Local::now().hour() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_pacing_follows_pages_and_full_interval() {
        let p = FlushPacing::default();
        assert!(!should_flush(0, Duration::from_secs(60), &p));
        assert!(!should_flush(4095, Duration::from_secs(1), &p));
        assert!(should_flush(4 * 4096, Duration::ZERO, &p));
        assert!(should_flush(1, Duration::from_secs(10), &p));
    }
}
