//! Removing entries from either end of the log, crash-safely.
//!
//! Truncation (`truncate_after`): the checkpoint first records the cut
//! (position and index) and lowers the durable point; then the bytes from the
//! cut are zeroed, later segments removed, and the entry index cleared the
//! same way; then the checkpoint forgets the cut. A crash anywhere in between
//! re-runs the cut on open, so the log never shows a half-removed tail.
//!
//! Purge (`purge_before`): the checkpoint first records the new start; then
//! the segments wholly before it are removed. A crash in between removes them
//! on open.

use crate::error::{Result, StoreError};
use crate::mapped::{segment_base, FileSystem, SegmentList};
use crate::types::LogIndex;

use super::{entry_index, CommitLog};

/// Cuts the log at `pos`, where entry `next_index` would start: zeros the
/// rest of that segment, removes later segments, and clears the entry index
/// from `next_index` on. Idempotent.
pub(super) fn cut(
    data: &SegmentList,
    index: &SegmentList,
    pos: u64,
    next_index: u64,
    fs: &FileSystem,
) -> Result<()> {
    let size = data.segment_size();
    match data.find(pos) {
        Some(file) => {
            file.zero_from(pos - file.base())?;
            crash_point!(fs, "truncate:zeroed");
            data.remove_from(file.base() + size)?;
        }
        None => {
            data.remove_from(pos)?;
        }
    }
    crash_point!(fs, "truncate:segments-removed");
    entry_index::truncate_from(index, next_index)
}

impl CommitLog {
    /// Removes every entry after `index` (Raft: a conflicting uncommitted
    /// tail). The files end up exactly as if those entries had never been
    /// written. `index` may be `start_index - 1` to empty the log.
    pub fn truncate_after(&self, index: u64) -> Result<()> {
        let _writer = self.writer.lock();
        let b = self.bounds();
        if index.saturating_add(1) >= b.next_index {
            return Ok(());
        }
        if index.saturating_add(1) < b.start_index {
            return Err(StoreError::IndexBelowLogStart {
                index: LogIndex(index),
                start: LogIndex(b.start_index),
            });
        }
        let next_index = index + 1;
        let cut_pos = if next_index == b.start_index {
            b.start_pos
        } else {
            self.location(index)?.end()
        };
        let last_term = if next_index == b.start_index {
            0
        } else {
            self.location(index)?.term
        };
        self.durability.lower_to(cut_pos, next_index);
        self.write_checkpoint(Some((cut_pos, next_index)))?;
        crash_point!(self.fs, "truncate:recorded");
        {
            let _gate = self.read_gate.write();
            {
                let mut bounds = self.bounds.write();
                bounds.next_index = next_index;
                bounds.end_pos = cut_pos;
                bounds.last_term = last_term;
            }
            let done = cut(&self.data, &self.index, cut_pos, next_index, &self.fs);
            if let Err(e) = done {
                self.poison(format!("truncation failed: {e}"));
                return Err(e);
            }
        }
        crash_point!(self.fs, "truncate:cut");
        self.write_checkpoint(None)
    }

    /// Removes every entry before `index` (retention, or a snapshot that
    /// covers them). Readers of removed entries get "below log start".
    /// Whole segments are deleted; the rest of a partly purged segment stays
    /// on disk until all of it is purged.
    pub fn purge_before(&self, index: u64) -> Result<()> {
        let _writer = self.writer.lock();
        let b = self.bounds();
        let index = index.min(b.next_index);
        if index <= b.start_index {
            return Ok(());
        }
        let start_pos = if index == b.next_index {
            b.end_pos
        } else {
            self.location(index)?.pos
        };
        {
            let mut bounds = self.bounds.write();
            bounds.start_index = index;
            bounds.start_pos = start_pos;
        }
        self.write_checkpoint(None)?;
        crash_point!(self.fs, "purge:recorded");
        self.data.remove_before(start_pos)?;
        crash_point!(self.fs, "purge:segments-removed");
        self.index.remove_before(index * entry_index::RECORD_LEN)?;
        Ok(())
    }

    /// Empties the log and starts it again at `next_index` (after a snapshot
    /// was installed past everything held). Positions continue from the start
    /// of the next segment.
    pub fn reset_to(&self, next_index: u64) -> Result<()> {
        let _writer = self.writer.lock();
        let b = self.bounds();
        let size = self.cfg.segment_size;
        let pos = if b.end_pos == 0 {
            0
        } else {
            segment_base(b.end_pos, size) + size
        };
        {
            let _gate = self.read_gate.write();
            let mut bounds = self.bounds.write();
            *bounds = super::Bounds {
                start_index: next_index,
                start_pos: pos,
                next_index,
                end_pos: pos,
                last_term: 0,
            };
        }
        self.durability.reset(pos, next_index);
        self.write_checkpoint(None)?;
        self.data.remove_before(pos)?;
        self.index.remove_before(u64::MAX)?;
        Ok(())
    }
}
