//! The entry index: Raft index -> position, one fixed 32-byte record per
//! entry at `index * 32`, as in DLedger.
//!
//! ```text
//!  0       4       8               16              24              32
//!  +-------+-------+---------------+---------------+---------------+
//!  | magic |  len  |      pos      |     index     |     term      |
//!  +-------+-------+---------------+---------------+---------------+
//! ```
//! It is derived data: recovery rewrites it from the log for every entry it
//! scans.

use crate::error::{Result, StoreError};
use crate::mapped::SegmentList;

/// Bytes per record.
pub const RECORD_LEN: u64 = 32;
/// Blocks of an index file are reserved this many bytes at a time (32 Ki
/// records), as the records reach them.
pub const RESERVE_STEP: u64 = 1 << 20;
/// `b"RMQI"` little-endian.
pub const INDEX_MAGIC: u32 = u32::from_le_bytes(*b"RMQI");

/// One entry's place in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexRecord {
    /// Entry length, header included.
    pub len: u32,
    /// Position of the entry's first byte.
    pub pos: u64,
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
}

impl IndexRecord {
    /// Encodes the record.
    pub fn encode(&self) -> [u8; RECORD_LEN as usize] {
        let mut b = [0u8; RECORD_LEN as usize];
        b[0..4].copy_from_slice(&INDEX_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        b[8..16].copy_from_slice(&self.pos.to_le_bytes());
        b[16..24].copy_from_slice(&self.index.to_le_bytes());
        b[24..32].copy_from_slice(&self.term.to_le_bytes());
        b
    }

    /// Decodes a record, or None if the bytes are not one.
    pub fn decode(b: &[u8; RECORD_LEN as usize]) -> Option<Self> {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        (u32_at(0) == INDEX_MAGIC).then(|| IndexRecord {
            len: u32_at(4),
            pos: u64_at(8),
            index: u64_at(16),
            term: u64_at(24),
        })
    }
}

/// Writes the record for `rec.index`, creating the file and reserving its
/// blocks if needed (an append has reserved them already; recovery, which
/// rewrites records, may not have).
pub fn write(list: &SegmentList, rec: &IndexRecord) -> Result<()> {
    let at = rec.index * RECORD_LEN;
    let file = list.find_or_create(at)?;
    let off = at - file.base();
    file.reserve(super::layout::reserve_mark(off + RECORD_LEN, RESERVE_STEP))?;
    file.write(off, &rec.encode());
    Ok(())
}

/// Reads the record of `index`, or None when absent or not a record for it.
pub fn read(list: &SegmentList, index: u64) -> Option<IndexRecord> {
    let at = index.checked_mul(RECORD_LEN)?;
    let file = list.find(at)?;
    let mut b = [0u8; RECORD_LEN as usize];
    if !file.read_into(at - file.base(), &mut b) {
        return None;
    }
    IndexRecord::decode(&b).filter(|r| r.index == index)
}

/// Reads the record of `index`, which must exist.
pub fn read_existing(list: &SegmentList, index: u64) -> Result<IndexRecord> {
    read(list, index).ok_or_else(|| {
        let at = index * RECORD_LEN;
        let base = crate::mapped::segment_base(at, list.segment_size());
        StoreError::Corrupt {
            path: list.dir().join(crate::mapped::segment_file_name(base)),
            offset: at - base,
            reason: format!("entry index record for index {index} is missing or damaged"),
        }
    })
}

/// Removes the records of `from` and every later index, durably.
pub fn truncate_from(list: &SegmentList, from: u64) -> Result<()> {
    let at = from * RECORD_LEN;
    match list.find(at) {
        Some(file) => {
            file.zero_from(at - file.base())?;
            list.remove_from(file.base() + file.len())?;
        }
        None => {
            list.remove_from(at)?;
        }
    }
    Ok(())
}

/// msync of the records of `[from, to)`.
pub fn flush(list: &SegmentList, from: u64, to: u64) -> Result<()> {
    crate::commitlog::flush_span(list, from * RECORD_LEN, to * RECORD_LEN)
}
