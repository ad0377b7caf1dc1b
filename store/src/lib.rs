//! raftmq's storage engine.
//!
//! ```text
//!  append ──► CommitLog (mmap segments, one Raft entry per record, CRC32)
//!                │  entry index: Raft index ─► position, O(1)
//!                ▼  dispatch, in log order
//!     ConsumeQueue per (topic, queue)      KeyIndex (topic#key, message id)
//!     queue offset ─► position, O(1)       hash slots ─► positions
//! ```
//!
//! The commitlog *is* the Raft log: an entry is a batch of messages or a
//! control command with its Raft index and term, so there is one write path
//! and one copy of every message. Consume queues and the key index are derived
//! from the log and rebuilt past their checkpoint on start.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

/// Stops a multi-step operation at the named step, as if the process died
/// there, when a test set that crash point on the switchboard of `$fs` (a
/// [`mapped::FileSystem`]). Compiles to nothing without the `failpoints`
/// feature.
macro_rules! crash_point {
    ($fs:expr, $point:literal) => {
        #[cfg(feature = "failpoints")]
        $fs.faults().crash_here($point)?;
        #[cfg(not(feature = "failpoints"))]
        let _ = &$fs;
    };
}

pub mod commitlog;
pub mod config;
pub mod consume_queue;
pub mod disk;
pub mod error;
#[cfg(feature = "failpoints")]
pub mod fault;
pub mod key_index;
pub mod mapped;
pub mod message_store;
pub mod meta_state;
pub mod record;
pub mod retention;
pub mod types;

pub use config::{FlushMode, StoreConfig};
pub use error::{Result, StoreError};
pub use message_store::{MessageStore, OpenOptions, StoreCore};
pub use types::{LogIndex, LogPos, QueueOffset, Term};
