//! The commitlog's checkpoint file: where the log starts, how far it is known
//! to be durable, and a truncation that was started but maybe not finished.
//!
//! ```text
//!  0      4   5    6     8             16            24             32                40         48          56     60
//!  +------+---+----+-----+-------------+-------------+--------------+-----------------+----------+-----------+------+
//!  |magic |ver|flag| pad | start_index | start_pos   | durable_pos  | durable_next_idx| trunc_pos| trunc_idx | crc  |
//!  +------+---+----+-----+-------------+-------------+--------------+-----------------+----------+-----------+------+
//! ```
//! Written whole to `checkpoint.tmp`, fsync'd, renamed over `checkpoint`, and
//! the directory fsync'd: a reader sees the old file or the new one.

use std::path::Path;

use crate::error::{Result, StoreError};
use crate::mapped::write_atomic;

const MAGIC: u32 = u32::from_le_bytes(*b"RMQC");
const VERSION: u8 = 1;
const LEN: usize = 60;
const FLAG_TRUNCATING: u8 = 1;

/// What the checkpoint records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Checkpoint {
    /// First index still in the log.
    pub start_index: u64,
    /// Position of that entry.
    pub start_pos: u64,
    /// Everything before this position was fsync'd (an entry boundary).
    pub durable_pos: u64,
    /// The index of the entry at `durable_pos`.
    pub durable_next_index: u64,
    /// A truncation in progress: cut at this position, removing this index on.
    pub truncating: Option<(u64, u64)>,
}

impl Checkpoint {
    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4] = VERSION;
        b[5] = if self.truncating.is_some() {
            FLAG_TRUNCATING
        } else {
            0
        };
        let (tp, ti) = self.truncating.unwrap_or((0, 0));
        for (i, v) in [
            self.start_index,
            self.start_pos,
            self.durable_pos,
            self.durable_next_index,
            tp,
            ti,
        ]
        .into_iter()
        .enumerate()
        {
            b[8 + i * 8..16 + i * 8].copy_from_slice(&v.to_le_bytes());
        }
        let crc = crc32fast::hash(&b[..56]);
        b[56..60].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> std::result::Result<Self, String> {
        if b.len() != LEN {
            return Err(format!("{} bytes, expected {LEN}", b.len()));
        }
        let word = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[8 + i * 8..16 + i * 8]);
            u64::from_le_bytes(a)
        };
        let mut m = [0u8; 4];
        m.copy_from_slice(&b[0..4]);
        if u32::from_le_bytes(m) != MAGIC {
            return Err("bad magic".into());
        }
        if b[4] != VERSION {
            return Err(format!("unknown version {}", b[4]));
        }
        m.copy_from_slice(&b[56..60]);
        if u32::from_le_bytes(m) != crc32fast::hash(&b[..56]) {
            return Err("CRC mismatch".into());
        }
        Ok(Checkpoint {
            start_index: word(0),
            start_pos: word(1),
            durable_pos: word(2),
            durable_next_index: word(3),
            truncating: (b[5] & FLAG_TRUNCATING != 0).then(|| (word(4), word(5))),
        })
    }

    /// Reads the checkpoint; None when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>> {
        match std::fs::read(path) {
            Ok(bytes) => {
                Checkpoint::decode(&bytes)
                    .map(Some)
                    .map_err(|reason| StoreError::Corrupt {
                        path: path.to_owned(),
                        offset: 0,
                        reason: format!(
                            "checkpoint unreadable: {reason}; delete it to recover by a full scan"
                        ),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, "read", e)),
        }
    }

    /// Replaces the checkpoint atomically and durably.
    pub fn store(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("checkpoint");
        assert_eq!(Checkpoint::load(&path).expect("load"), None);
        let c = Checkpoint {
            start_index: 3,
            start_pos: 4096,
            durable_pos: 9000,
            durable_next_index: 40,
            truncating: Some((8000, 35)),
        };
        c.store(&path).expect("store");
        assert_eq!(Checkpoint::load(&path).expect("load"), Some(c));
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[20] ^= 1;
        std::fs::write(&path, &bytes).expect("write");
        let err = Checkpoint::load(&path).expect_err("damaged");
        assert!(err.to_string().contains("CRC mismatch"), "{err}");
    }
}
