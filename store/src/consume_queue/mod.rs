//! Consume queues: per (topic, queue id), a dense array of fixed 32-byte
//! entries pointing into the commitlog, in `<root>/consumequeue/<topic>/<queue
//! id>/<20-digit byte base>` files as upstream. The entry of queue offset `q`
//! is at byte `q * 32`: O(1) lookup, no per-message memory.
//!
//! Queues are derived from the log. They are written only by the dispatcher
//! in log order, flushed by the background flusher, and repaired on open:
//! entries past the log end are dropped and the rest replayed from the
//! dispatch checkpoint.

mod entry;
mod filter;
mod queue;
mod set;

pub use entry::{CqEntry, ENTRY_LEN};
pub use filter::{MessageFilter, TagFilter};
pub use queue::ConsumeQueue;
pub use set::{validate_topic, ConsumeQueueSet};
