//! The store's settings, with RocketMQ's defaults. The broker maps its conf
//! keys (`mappedFileSizeCommitLog`, `flushDiskType`, `fileReservedTime`, ...)
//! onto these.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Result, StoreError};

/// When an appended entry counts as stored on this node (`flushDiskType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FlushMode {
    /// Stored once in the mapped pages; a background flusher writes them out.
    /// A crash of the process loses nothing; a crash of the machine loses
    /// what was not yet flushed.
    #[default]
    Async,
    /// Stored once fsync'd. Concurrent appends share one fsync (group commit).
    Sync,
}

impl std::str::FromStr for FlushMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ASYNC_FLUSH" => Ok(FlushMode::Async),
            "SYNC_FLUSH" => Ok(FlushMode::Sync),
            other => Err(format!("`{other}` is not ASYNC_FLUSH or SYNC_FLUSH")),
        }
    }
}

/// The background flusher's pacing (ASYNC_FLUSH), as upstream's
/// `flushIntervalCommitLog`, `flushCommitLogLeastPages`,
/// `flushCommitLogThoroughInterval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlushPacing {
    /// How often the flusher wakes.
    pub interval: Duration,
    /// Pages (4 KiB) that must be dirty before a wake-up flushes.
    pub min_dirty_pages: u64,
    /// A flush regardless of dirty pages at least this often.
    pub full_interval: Duration,
}

impl Default for FlushPacing {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(500),
            min_dirty_pages: 4,
            full_interval: Duration::from_secs(10),
        }
    }
}

/// Retention settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionConfig {
    /// `fileReservedTime`: a segment whose newest message is older than this
    /// may be deleted.
    pub file_reserved_time: Duration,
    /// `deleteWhen`: the hours of the day (local time, 0-23) at which expired
    /// segments are deleted.
    pub delete_hours: Vec<u8>,
    /// `diskMaxUsedSpaceRatio`, percent: above it, expired segments are
    /// deleted at any hour.
    pub disk_max_used_ratio: u8,
    /// `diskSpaceWarningLevelRatio`, percent: above it, appends are refused.
    pub disk_refuse_ratio: u8,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            file_reserved_time: Duration::from_secs(72 * 3600),
            delete_hours: vec![4],
            disk_max_used_ratio: 75,
            disk_refuse_ratio: 90,
        }
    }
}

/// Everything the store needs to open.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `storePathRootDir`: checkpoints, consume queues and the key index live
    /// under it.
    pub root: PathBuf,
    /// `storePathCommitLog`: the commitlog segments; `<root>/commitlog` when
    /// not set.
    pub commitlog_dir: Option<PathBuf>,
    /// `mappedFileSizeCommitLog`: bytes per segment (1 GiB).
    pub segment_size: u64,
    /// Entries per entry-index file (32 bytes each).
    pub index_entries_per_file: u64,
    /// Entries per consume-queue file (`mappedFileSizeConsumeQueue` / entry
    /// size upstream; 300,000).
    pub queue_entries_per_file: u64,
    /// Hash slots per key-index file.
    pub key_index_slots: u32,
    /// Entries per key-index file.
    pub key_index_entries: u32,
    /// `flushDiskType`.
    pub flush_mode: FlushMode,
    /// Background flusher pacing.
    pub flush_pacing: FlushPacing,
    /// Retention.
    pub retention: RetentionConfig,
}

impl StoreConfig {
    /// RocketMQ's defaults under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            commitlog_dir: None,
            segment_size: 1 << 30,
            index_entries_per_file: 1 << 20,
            queue_entries_per_file: 300_000,
            key_index_slots: 1 << 20,
            key_index_entries: 4 << 20,
            flush_mode: FlushMode::Async,
            flush_pacing: FlushPacing::default(),
            retention: RetentionConfig::default(),
        }
    }

    /// Small files, for tests and examples. Appends are refused only on a
    /// disk that is entirely full (`disk_refuse_ratio` 100), not above the
    /// shipped 90%: such stores live in temporary directories, often on a
    /// build machine's disk that is fuller than that.
    pub fn small(root: impl Into<PathBuf>) -> Self {
        let mut cfg = Self {
            segment_size: 64 << 10,
            index_entries_per_file: 256,
            queue_entries_per_file: 128,
            key_index_slots: 64,
            key_index_entries: 512,
            ..Self::new(root)
        };
        cfg.retention.disk_refuse_ratio = 100;
        cfg
    }

    /// Where the commitlog segments live.
    pub fn commitlog_dir(&self) -> PathBuf {
        self.commitlog_dir
            .clone()
            .unwrap_or_else(|| self.root.join("commitlog"))
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<()> {
        let min_segment = 4096;
        if self.segment_size < min_segment {
            return Err(StoreError::BadConfig {
                key: "mappedFileSizeCommitLog",
                value: self.segment_size.to_string(),
                why: "it must be at least 4096 bytes",
            });
        }
        if self.index_entries_per_file == 0 {
            return Err(StoreError::BadConfig {
                key: "index entries per file",
                value: "0".into(),
                why: "it must be positive",
            });
        }
        if self.queue_entries_per_file == 0 {
            return Err(StoreError::BadConfig {
                key: "mappedFileSizeConsumeQueue",
                value: "0".into(),
                why: "it must hold at least one entry",
            });
        }
        let r = &self.retention;
        if r.disk_max_used_ratio == 0 || r.disk_max_used_ratio > 100 {
            return Err(StoreError::BadConfig {
                key: "diskMaxUsedSpaceRatio",
                value: r.disk_max_used_ratio.to_string(),
                why: "it must be 1..=100",
            });
        }
        if r.disk_refuse_ratio == 0 || r.disk_refuse_ratio > 100 {
            return Err(StoreError::BadConfig {
                key: "diskSpaceWarningLevelRatio",
                value: r.disk_refuse_ratio.to_string(),
                why: "it must be 1..=100",
            });
        }
        if let Some(h) = r.delete_hours.iter().find(|h| **h > 23) {
            return Err(StoreError::BadConfig {
                key: "deleteWhen",
                value: h.to_string(),
                why: "every hour must be 0-23",
            });
        }
        Ok(())
    }
}
