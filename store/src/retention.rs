//! Which commitlog segments retention may delete: a pure decision over ages,
//! the hour and disk usage, so it is tested without files or clocks.
//!
//! A segment may go when its newest write is older than `fileReservedTime`
//! and either the hour is one of `deleteWhen` or the disk is fuller than
//! `diskMaxUsedSpaceRatio`. Only a leading run goes (the log stays
//! contiguous), and never the last segment, which is being written.

use std::time::Duration;

use crate::config::RetentionConfig;

/// What retention knows of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentAge {
    /// The segment's base position.
    pub base: u64,
    /// Time since its last write.
    pub age: Duration,
}

/// Why retention ran, or None when it may not run now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The hour is one of `deleteWhen`.
    DeleteHour,
    /// The disk is fuller than `diskMaxUsedSpaceRatio`.
    DiskRatio,
    /// An operator asked (mqadmin deleteExpiredCommitLog).
    Manual,
}

/// Whether retention may delete now.
pub fn trigger(cfg: &RetentionConfig, local_hour: u8, disk_used_percent: f64) -> Option<Trigger> {
    if disk_used_percent >= f64::from(cfg.disk_max_used_ratio) {
        Some(Trigger::DiskRatio)
    } else if cfg.delete_hours.contains(&local_hour) {
        Some(Trigger::DeleteHour)
    } else {
        None
    }
}

/// How many segments, from the oldest, may be deleted.
pub fn expired_prefix(segments: &[SegmentAge], reserved: Duration) -> usize {
    let deletable = segments.len().saturating_sub(1);
    segments[..deletable]
        .iter()
        .take_while(|s| s.age >= reserved)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ages(hours: &[u64]) -> Vec<SegmentAge> {
        hours
            .iter()
            .enumerate()
            .map(|(i, h)| SegmentAge {
                base: i as u64 * 100,
                age: Duration::from_secs(h * 3600),
            })
            .collect()
    }

    #[test]
    fn only_a_leading_run_of_expired_segments_and_never_the_last() {
        let reserved = Duration::from_secs(72 * 3600);
        assert_eq!(expired_prefix(&ages(&[100, 80, 10, 90]), reserved), 2);
        assert_eq!(expired_prefix(&ages(&[10, 100]), reserved), 0);
        assert_eq!(expired_prefix(&ages(&[100, 100]), reserved), 1);
        assert_eq!(expired_prefix(&ages(&[100]), reserved), 0);
        assert_eq!(expired_prefix(&[], reserved), 0);
    }

    #[test]
    fn runs_at_delete_hour_or_above_the_ratio_only() {
        let cfg = RetentionConfig::default();
        assert_eq!(trigger(&cfg, 4, 10.0), Some(Trigger::DeleteHour));
        assert_eq!(trigger(&cfg, 5, 10.0), None);
        assert_eq!(trigger(&cfg, 5, 75.0), Some(Trigger::DiskRatio));
        assert_eq!(trigger(&cfg, 4, 80.0), Some(Trigger::DiskRatio));
    }
}
