//! The store's errors.
//!
//! API errors (a caller asked for something that is not there, or the disk is
//! full) are kept apart from fatal ones (I/O failed, data is corrupt): after a
//! fatal error the store poisons itself and refuses further writes, so that
//! the Raft layer replaces the node instead of going on with uncertain data.

use std::io;
use std::path::PathBuf;

use crate::record::message::MessageCodecError;
use crate::types::{LogIndex, LogPos, QueueOffset};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O call on a store file failed.
    #[error("I/O error on {path}: {op} failed: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Bytes that were once durable no longer check out. The node must be
    /// repaired (wiped and refilled from its peers) by an operator.
    #[error("corrupt data in {path} at byte {offset}: {reason}; move the store aside and let the node refill from its group")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// Byte offset inside that file.
        offset: u64,
        /// What failed to check out.
        reason: String,
    },
    /// The disk holding `path` is fuller than `diskSpaceWarningLevelRatio`:
    /// the write was refused and nothing was written. Not fatal: writes
    /// succeed again once space is freed.
    #[error("disk full: {} is {used_percent:.1}% used, at or above the {limit_percent}% limit; free space on that disk or raise diskSpaceWarningLevelRatio", path.display())]
    DiskFull {
        /// A path on the full file system (the commitlog directory).
        path: PathBuf,
        /// How full it is.
        used_percent: f64,
        /// The configured limit.
        limit_percent: u8,
    },
    /// The file system had no space left for `path` (a block reservation or
    /// a write failed with ENOSPC): the write was refused and nothing was
    /// written. Not fatal.
    #[error("disk full: no space left for {}; free space on its disk", path.display())]
    NoSpace {
        /// The file that could not grow.
        path: PathBuf,
    },
    /// The asked-for entry was removed by retention or by a purge.
    #[error("log index {index} is below the log start {start}")]
    IndexBelowLogStart {
        /// What was asked for.
        index: LogIndex,
        /// The first index still held.
        start: LogIndex,
    },
    /// The asked-for entry has not been written.
    #[error("log index {index} is past the last entry {last:?}")]
    IndexPastEnd {
        /// What was asked for.
        index: LogIndex,
        /// The last index held, if any.
        last: Option<LogIndex>,
    },
    /// The asked-for byte position was removed by retention.
    #[error("offset {pos} is below the log start {start}")]
    OffsetBelowLogStart {
        /// What was asked for.
        pos: LogPos,
        /// The first position still held.
        start: LogPos,
    },
    /// A read past the end of the log.
    #[error("read of {len} bytes at offset {pos} goes past the log end {end}")]
    OffsetPastEnd {
        /// Where the read starts.
        pos: LogPos,
        /// How many bytes.
        len: usize,
        /// The log's end.
        end: LogPos,
    },
    /// A consume queue offset below what the queue still holds.
    #[error("queue offset {offset} of {topic}:{queue_id} is below the queue's minimum {min} (removed by retention)")]
    QueueOffsetBelowMin {
        /// Topic.
        topic: String,
        /// Queue id.
        queue_id: u32,
        /// What was asked for.
        offset: QueueOffset,
        /// The lowest offset still held.
        min: QueueOffset,
    },
    /// A consume queue offset at or past the end of the queue.
    #[error("queue offset {offset} of {topic}:{queue_id} is at or past the queue's end {max}")]
    QueueOffsetPastEnd {
        /// Topic.
        topic: String,
        /// Queue id.
        queue_id: u32,
        /// What was asked for.
        offset: QueueOffset,
        /// The next offset to be assigned.
        max: QueueOffset,
    },
    /// Appended entries must continue the log without a gap.
    #[error("append of index {got} does not follow the last index {expected_after:?}")]
    NonContiguous {
        /// Index of the first appended entry.
        got: LogIndex,
        /// The log's last index.
        expected_after: Option<LogIndex>,
    },
    /// An entry larger than a segment can hold.
    #[error("entry of {len} bytes does not fit in a segment of {segment_size} bytes; raise mappedFileSizeCommitLog or lower maxMessageSize")]
    EntryTooLarge {
        /// Encoded size.
        len: u64,
        /// Segment size.
        segment_size: u64,
    },
    /// Truncation below what has been applied to the consume queues.
    #[error("cannot truncate after {index}: entries up to {applied} are already applied")]
    TruncateBelowApplied {
        /// Asked-for truncation point.
        index: LogIndex,
        /// Last applied entry.
        applied: LogIndex,
    },
    /// A message record inside an entry failed to decode.
    #[error("bad message record at log position {pos}: {source}")]
    Message {
        /// Where the record starts.
        pos: LogPos,
        /// What was wrong with it.
        #[source]
        source: MessageCodecError,
    },
    /// A message, or a batch, is larger than the limit.
    #[error("{what} of {size} bytes exceeds the limit of {max} bytes; send smaller messages or raise maxMessageSize")]
    TooLarge {
        /// What was too large ("message", "batch").
        what: &'static str,
        /// Its encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A sync was asked for past the end of what was written.
    #[error("sync to position {pos} asked, past the log end {end}")]
    SyncPastEnd {
        /// The asked-for position.
        pos: u64,
        /// The log's end.
        end: u64,
    },
    /// A segment would be created before the last one of its list: a bug in
    /// the caller's positions, not bad input.
    #[error("segment {base} would be created before the last one {last} in {}", dir.display())]
    SegmentOutOfOrder {
        /// The list's directory.
        dir: PathBuf,
        /// The base asked for.
        base: u64,
        /// The last segment's base.
        last: u64,
    },
    /// A configuration value is out of range.
    #[error("invalid store configuration: {key} = {value}: {why}")]
    BadConfig {
        /// The setting at fault, as named in the conf file.
        key: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        why: &'static str,
    },
    /// A value the store was given is not acceptable (a name, a setting of
    /// a part of the store); the text says which and why.
    #[error("invalid input: {0}")]
    Config(String),
    /// An earlier fatal error (fsync failure, corruption) stopped the store.
    #[error("store stopped after a fatal error: {0}")]
    Poisoned(String),
}

impl StoreError {
    /// Wraps an I/O error with the file and operation.
    pub fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            op,
            source,
        }
    }

    /// Whether this error means the store can no longer be trusted.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            StoreError::Io { .. } | StoreError::Corrupt { .. } | StoreError::Poisoned(_)
        )
    }
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
