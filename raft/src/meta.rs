//! The small Raft state kept beside the log: the vote, the last purged log
//! id and the last applied membership, each in its own file under
//! `<store root>/raft/`, replaced atomically and fsync'd; and the
//! committed log id, a hint rewritten in place.

use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use raftmq_store::mapped::write_atomic;

use crate::codec;
use crate::types::{log_id, LogId, StoredMembership, Vote};

/// Vote, purged id and membership, cached in memory.
#[derive(Debug)]
pub struct RaftMeta {
    dir: PathBuf,
    vote: Mutex<Option<Vote>>,
    purged: Mutex<Option<LogId>>,
    membership: Mutex<StoredMembership>,
    /// Entries up to this index came with an installed snapshot: openraft's
    /// purge that follows must not delete them.
    keep: Mutex<Option<u64>>,
    /// The committed log id, and when it was last written to its file.
    committed: Mutex<(Option<LogId>, Option<std::time::Instant>)>,
    /// The committed id's file, open for writing in place once written.
    committed_file: Mutex<Option<std::fs::File>>,
}

/// The committed id is written at most this often: it is a hint for a
/// faster restart (a stale one is safe, it only means more re-applying).
const COMMITTED_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

fn io_err(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

fn read_file(path: &Path) -> std::io::Result<Option<Bytes>> {
    match std::fs::read(path) {
        Ok(b) => {
            if b.len() < 4 {
                return Err(io_err(format!("{} is cut short", path.display())));
            }
            let (body, crc) = b.split_at(b.len() - 4);
            if crc32(body).to_le_bytes() != crc {
                return Err(io_err(format!(
                    "{} fails its CRC; delete the node's store to refill it from the group",
                    path.display()
                )));
            }
            Ok(Some(Bytes::copy_from_slice(body)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn crc32(b: &[u8]) -> u32 {
    crc32fast::hash(b)
}

fn write_file(path: &Path, mut body: BytesMut) -> std::io::Result<()> {
    let crc = crc32(&body);
    body.put_u32_le(crc);
    write_atomic(path, &body).map_err(|e| std::io::Error::other(e.to_string()))
}

/// Rewrites a file of exactly `body` + CRC bytes where it lies, and syncs
/// it: no new file, no new block, so that a vote can still be saved on a
/// full disk (an election then). The record is 21 bytes at offset 0, far
/// inside one sector, which disks write whole; the CRC would name a torn
/// one at start. False (nothing written) when the file is missing or of
/// another size: the caller writes it the usual way.
fn overwrite_in_place(path: &Path, body: &[u8]) -> std::io::Result<bool> {
    use std::os::unix::fs::FileExt;
    let mut record = body.to_vec();
    record.extend_from_slice(&crc32(body).to_le_bytes());
    let file = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() != record.len() as u64 {
        return Ok(false);
    }
    file.write_all_at(&record, 0)?;
    file.sync_data()?;
    Ok(true)
}

/// The committed file's record: term, index, CRC of both.
fn committed_record(id: &LogId) -> BytesMut {
    let mut b = BytesMut::with_capacity(20);
    b.put_u64_le(id.leader_id.term);
    b.put_u64_le(id.index);
    let crc = crc32(&b);
    b.put_u32_le(crc);
    b
}

impl RaftMeta {
    /// Loads (or starts) the files in `dir`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let vote = match read_file(&dir.join("vote"))? {
            Some(mut b) if b.len() == 17 => {
                let term = b.get_u64_le();
                let node = b.get_u64_le();
                let committed = b.get_u8() == 1;
                Some(if committed {
                    Vote::new_committed(term, node)
                } else {
                    Vote::new(term, node)
                })
            }
            Some(_) => return Err(io_err("vote file has the wrong size".into())),
            None => None,
        };
        let purged = match read_file(&dir.join("purged"))? {
            Some(mut b) if b.len() == 16 => {
                let term = b.get_u64_le();
                Some(log_id(term, b.get_u64_le()))
            }
            Some(_) => return Err(io_err("purged file has the wrong size".into())),
            None => None,
        };
        let committed = match read_file(&dir.join("committed")) {
            Ok(Some(mut b)) if b.len() == 16 => {
                let term = b.get_u64_le();
                Some(log_id(term, b.get_u64_le()))
            }
            // A hint only: an unreadable one is no committed id.
            _ => None,
        };
        let membership = match read_file(&dir.join("membership"))? {
            Some(mut b) if b.len() >= 17 => {
                let present = b.get_u8() == 1;
                let term = b.get_u64_le();
                let index = b.get_u64_le();
                let m = codec::decode_membership(&b).map_err(|e| io_err(e.to_string()))?;
                StoredMembership::new(present.then(|| log_id(term, index)), m)
            }
            Some(_) => return Err(io_err("membership file is cut short".into())),
            None => StoredMembership::default(),
        };
        Ok(Self {
            dir: dir.to_owned(),
            vote: Mutex::new(vote),
            purged: Mutex::new(purged),
            membership: Mutex::new(membership),
            keep: Mutex::new(None),
            committed: Mutex::new((committed, None)),
            committed_file: Mutex::new(None),
        })
    }

    /// The saved vote.
    pub fn vote(&self) -> Option<Vote> {
        *self.vote.lock()
    }

    /// Saves the vote durably before returning.
    pub fn save_vote(&self, v: &Vote) -> std::io::Result<()> {
        let mut b = BytesMut::with_capacity(21);
        b.put_u64_le(v.leader_id.term);
        b.put_u64_le(v.leader_id.voted_for);
        b.put_u8(u8::from(v.committed));
        let path = self.dir.join("vote");
        if !overwrite_in_place(&path, &b)? {
            write_file(&path, b)?;
        }
        *self.vote.lock() = Some(*v);
        Ok(())
    }

    /// The last purged log id.
    pub fn purged(&self) -> Option<LogId> {
        *self.purged.lock()
    }

    /// Saves the last purged log id durably.
    pub fn save_purged(&self, id: &LogId) -> std::io::Result<()> {
        let mut b = BytesMut::with_capacity(20);
        b.put_u64_le(id.leader_id.term);
        b.put_u64_le(id.index);
        write_file(&self.dir.join("purged"), b)?;
        *self.purged.lock() = Some(*id);
        Ok(())
    }

    /// The last committed log id saved.
    pub fn committed(&self) -> Option<LogId> {
        self.committed.lock().0
    }

    /// Records the committed log id; writes it (without fsync) at most
    /// every 100 ms, over the previous record in the same file. No file is
    /// created or removed on the way: this runs on the Raft core, and
    /// replacing a file frees its blocks, which on a file system mounted
    /// with `discard` waits for the device (measured here: the core
    /// stalled for tens of ms every 100 ms).
    pub fn save_committed(&self, id: Option<LogId>) -> std::io::Result<()> {
        let mut c = self.committed.lock();
        c.0 = id;
        if c.1
            .is_some_and(|at| at.elapsed() < COMMITTED_WRITE_INTERVAL)
        {
            return Ok(());
        }
        c.1 = Some(std::time::Instant::now());
        let Some(id) = id else { return Ok(()) };
        let b = committed_record(&id);
        // Best effort: a hint that could not be written (a full disk) only
        // means more re-applying after a restart. An error here would stop
        // openraft for good on a disk that fills up and then frees again.
        if let Err(e) = self.write_committed(&b) {
            tracing::warn!(
                path = %self.dir.join("committed").display(),
                error = %e,
                "could not save the committed log id (a hint; going on)"
            );
        }
        Ok(())
    }

    /// Writes a [`committed_record`] at offset 0 of its file. The record is
    /// 20 bytes, inside one sector; a torn one fails its CRC and reads as
    /// no hint.
    fn write_committed(&self, record: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut file = self.committed_file.lock();
        let f = match &mut *file {
            Some(f) => f,
            slot @ None => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(self.dir.join("committed"))?;
                if f.metadata()?.len() != record.len() as u64 {
                    f.set_len(record.len() as u64)?;
                }
                slot.insert(f)
            }
        };
        let written = f.write_all_at(record, 0);
        if written.is_err() {
            // Reopen next time (the file may have been replaced or cut).
            *file = None;
        }
        written
    }

    /// Marks entries up to `index` as installed from a snapshot.
    pub fn keep_through(&self, index: u64) {
        *self.keep.lock() = Some(index);
    }

    /// Whether a purge up to `index` is the one that follows a snapshot
    /// install (and clears the mark).
    pub fn take_keep(&self, index: u64) -> bool {
        let mut keep = self.keep.lock();
        if *keep == Some(index) {
            *keep = None;
            return true;
        }
        false
    }

    /// The last applied membership.
    pub fn membership(&self) -> StoredMembership {
        self.membership.lock().clone()
    }

    /// Saves the last applied membership durably.
    pub fn save_membership(&self, m: &StoredMembership) -> std::io::Result<()> {
        let mut b = BytesMut::new();
        let id = m.log_id();
        b.put_u8(u8::from(id.is_some()));
        b.put_u64_le(id.map_or(0, |i| i.leader_id.term));
        b.put_u64_le(id.map_or(0, |i| i.index));
        b.put_slice(&codec::encode_membership(m.membership()));
        write_file(&self.dir.join("membership"), b)?;
        *self.membership.lock() = m.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn committed_hint_is_rewritten_in_place() {
        let dir = tempfile::tempdir().unwrap();
        // A leftover of another size (an older layout, a torn copy).
        std::fs::write(dir.path().join("committed"), b"not a record").unwrap();
        let meta = RaftMeta::open(dir.path()).unwrap();
        assert_eq!(meta.committed(), None, "a bad hint reads as none");
        meta.save_committed(Some(log_id(3, 41))).unwrap();
        let path = dir.path().join("committed");
        let inode = std::fs::metadata(&path).unwrap().ino();
        assert_eq!(
            RaftMeta::open(dir.path()).unwrap().committed(),
            Some(log_id(3, 41))
        );

        meta.write_committed(&committed_record(&log_id(4, 99)))
            .unwrap();
        let after = std::fs::metadata(&path).unwrap();
        assert_eq!(after.ino(), inode, "the same file, not a replacement");
        assert_eq!(after.len(), 20);
        assert_eq!(
            RaftMeta::open(dir.path()).unwrap().committed(),
            Some(log_id(4, 99))
        );
    }
}
