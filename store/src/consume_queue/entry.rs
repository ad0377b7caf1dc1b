//! One consume-queue entry, 32 bytes:
//!
//! ```text
//!  0               8       12      16              24              32
//!  +---------------+-------+-------+---------------+---------------+
//!  |   log pos     | size  | rsvd  |   tag hash    |  store ts ms  |
//!  +---------------+-------+-------+---------------+---------------+
//! ```
//! `size` is never 0 for a real entry, so zeros mark the unwritten end.

/// Bytes per entry.
pub const ENTRY_LEN: u64 = 32;

/// Where one message of a queue is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CqEntry {
    /// Commitlog position of the message record.
    pub pos: u64,
    /// Record length.
    pub size: u32,
    /// [`crate::record::message::tag_hash`] of the tag; 0 without one.
    pub tag_hash: u64,
    /// The message's store timestamp, ms since the epoch.
    pub store_ts_ms: i64,
}

/// The size that marks a placeholder: an entry that only fills a queue file
/// up to the offset a queue starts at (a member that installed a snapshot
/// starts its queues where the leader's retained messages start).
const PLACEHOLDER_SIZE: u32 = u32::MAX;

impl CqEntry {
    /// A placeholder entry (see `PLACEHOLDER_SIZE`).
    pub fn placeholder() -> Self {
        CqEntry {
            pos: 0,
            size: PLACEHOLDER_SIZE,
            tag_hash: 0,
            store_ts_ms: 0,
        }
    }

    /// Whether this is a placeholder rather than a message.
    pub fn is_placeholder(&self) -> bool {
        self.size == PLACEHOLDER_SIZE
    }

    /// Encodes the entry.
    pub fn encode(&self) -> [u8; ENTRY_LEN as usize] {
        let mut b = [0u8; ENTRY_LEN as usize];
        b[0..8].copy_from_slice(&self.pos.to_le_bytes());
        b[8..12].copy_from_slice(&self.size.to_le_bytes());
        b[16..24].copy_from_slice(&self.tag_hash.to_le_bytes());
        b[24..32].copy_from_slice(&self.store_ts_ms.to_le_bytes());
        b
    }

    /// Decodes an entry; None for an unwritten (zero-size) slot.
    pub fn decode(b: &[u8; ENTRY_LEN as usize]) -> Option<Self> {
        let mut w = [0u8; 8];
        let mut h = [0u8; 4];
        h.copy_from_slice(&b[8..12]);
        let size = u32::from_le_bytes(h);
        if size == 0 {
            return None;
        }
        w.copy_from_slice(&b[0..8]);
        let pos = u64::from_le_bytes(w);
        w.copy_from_slice(&b[16..24]);
        let tag_hash = u64::from_le_bytes(w);
        w.copy_from_slice(&b[24..32]);
        Some(CqEntry {
            pos,
            size,
            tag_hash,
            store_ts_ms: i64::from_le_bytes(w),
        })
    }
}
