//! The key index: finds messages by `(topic, key)` and by message id, as
//! RocketMQ's `IndexFile` does.
//!
//! The index is a directory of fixed-size mapped files, each named by the
//! commitlog position of the first message it indexes (20 digits). A file is a
//! hash table of `slot_count` slots over an append-only array of entries; each
//! slot holds the number of the newest entry that hashed to it, and each entry
//! the number of the previous one, so a lookup walks one chain per file, newest
//! first. The byte layout is described in `key_index/file.rs`.
//!
//! A message key is indexed under `topic + "#" + key` and a message id under
//! `"#id#" + id` (a topic never starts with `#`); the hash is a 64-bit FNV-1a.
//! Lookups return *candidate* positions: the caller reads each message and
//! checks the key, because different keys may share a hash.
//!
//! Durability: [`KeyIndex::flush`] makes the entries and slots durable before
//! the header's entry count, so that count is a lower bound of the durable
//! entries. On open, the last file is scanned past that count for entries
//! written later; the scan stops at the first missing or out-of-order entry,
//! everything past it is zeroed and the slots are rebuilt to match. When a
//! file fills up it is flushed before the next one is created, so only the
//! last file can have lost entries. The index is derived from the commitlog:
//! after a crash the dispatcher re-indexes the messages past
//! [`KeyIndex::end_pos`].
//!
//! Disk blocks are reserved (fallocate) before they are written, for the
//! header and slots when a file is created and for entries 64 KiB at a time,
//! so a full disk makes a put fail with [`StoreError::NoSpace`] instead of
//! killing the process with SIGBUS.

mod file;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::{Result, StoreError};
use crate::mapped::sync_dir;
use crate::mapped::FileSystem;
use file::IndexFile;

/// Sizes of the key-index files created from now on (existing files keep the
/// sizes recorded in their headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyIndexConfig {
    /// Hash slots per file (RocketMQ's `maxHashSlotNum`; 1 Mi).
    pub slot_count: u32,
    /// Entries per file (RocketMQ's `maxIndexNum`; 4 Mi).
    pub max_entries: u32,
}

impl Default for KeyIndexConfig {
    fn default() -> Self {
        Self {
            slot_count: 1 << 20,
            max_entries: 4 << 20,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a over the concatenation of `parts`, never 0 (0 marks an
/// unwritten entry).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h = FNV_OFFSET;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// The hash a message key is indexed under: that of `topic + "#" + key`.
pub fn key_hash(topic: &str, key: &str) -> u64 {
    fnv1a(&[topic.as_bytes(), b"#", key.as_bytes()])
}

/// The hash a message id is indexed under: that of `"#id#" + id`.
pub fn message_id_hash(id: &str) -> u64 {
    fnv1a(&[b"#id#", id.as_bytes()])
}

/// One entry for [`KeyIndex::put_many`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPut {
    /// The hash of what is indexed: [`key_hash`] or [`message_id_hash`].
    pub hash: u64,
    /// The message's commitlog position (never 0).
    pub pos: u64,
    /// The message's store time, in milliseconds.
    pub ts: i64,
}

/// The writer's state: the file being appended to.
#[derive(Debug, Default)]
struct Writer {
    active: Option<Arc<IndexFile>>,
    /// Bytes of `active` known to have reserved blocks.
    reserved: u64,
}

/// The key index of one store. `Send + Sync`: one thread puts (the
/// dispatcher), any number look up concurrently, and flush, truncation and
/// purging may come from other threads.
///
/// Locks, always taken in this order: `writer` (puts, truncation),
/// `flush_lock` (flushes, truncation), `readers` (shared by lookups, exclusive
/// while truncation rewrites published entries), `files`, `slots` (held
/// for one slot word by a put or a lookup).
#[derive(Debug)]
pub struct KeyIndex {
    dir: PathBuf,
    cfg: KeyIndexConfig,
    fs: FileSystem,
    writer: Mutex<Writer>,
    flush_lock: Mutex<()>,
    readers: RwLock<()>,
    files: RwLock<Vec<Arc<IndexFile>>>,
    slots: RwLock<()>,
    /// Position of the last indexed message; 0 for none (0 is never a
    /// message position).
    end: AtomicU64,
}

impl KeyIndex {
    /// Opens the index in `dir` (the index directory itself, e.g.
    /// `<root>/index`; created if missing), validating every file's header
    /// and recovering the last file's unflushed entries. An empty directory
    /// gives an empty index.
    pub fn open(dir: &Path, cfg: KeyIndexConfig, fs: FileSystem) -> Result<KeyIndex> {
        if cfg.slot_count == 0 || cfg.max_entries == 0 {
            return Err(StoreError::Config(format!(
                "key index needs at least one slot and one entry per file (got {} slots, {} entries)",
                cfg.slot_count, cfg.max_entries
            )));
        }
        if usize::try_from(file::file_len(cfg.slot_count, cfg.max_entries)).is_err() {
            return Err(StoreError::Config(
                "key index files of that size cannot be mapped".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, "create_dir_all", e))?;
        let mut bases = Vec::new();
        let mut leftovers = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, "read_dir", e))? {
            let item = item.map_err(|e| StoreError::io(dir, "read_dir", e))?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            let is_index_name = |n: &str| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit());
            if is_index_name(name) {
                if let Ok(base) = name.parse::<u64>() {
                    bases.push(base);
                }
            } else if let Some(stem) = name.strip_suffix(file::TMP_SUFFIX) {
                if is_index_name(stem) {
                    leftovers.push(item.path());
                }
            }
        }
        for path in &leftovers {
            std::fs::remove_file(path).map_err(|e| StoreError::io(path, "remove", e))?;
        }
        bases.sort_unstable();
        let mut files = Vec::with_capacity(bases.len());
        for base in bases {
            let path = dir.join(file::file_name(base));
            files.push(Arc::new(IndexFile::open(&path, base, &fs)?));
        }
        let mut removed = !leftovers.is_empty();
        // Only the last file can hold entries past its header's count. A last
        // file left with none (its first entry never reached the disk) is
        // removed, and the one before it is checked the same way.
        while let Some(last) = files.last() {
            last.recover()?;
            if last.count() > 0 {
                break;
            }
            last.remove()?;
            files.pop();
            removed = true;
        }
        if removed {
            sync_dir(dir)?;
        }
        let end = files.last().and_then(|f| f.end_pos()).unwrap_or(0);
        let writer = Writer {
            active: files.last().cloned(),
            reserved: 0,
        };
        Ok(KeyIndex {
            dir: dir.to_owned(),
            cfg,
            fs,
            writer: Mutex::new(writer),
            flush_lock: Mutex::new(()),
            readers: RwLock::new(()),
            files: RwLock::new(files),
            slots: RwLock::new(()),
            end: AtomicU64::new(end),
        })
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Indexes the message at `pos` under `topic + "#" + key`.
    ///
    /// Positions must not decrease from one put to the next; several keys of
    /// one message share its position. A position below the last indexed one
    /// is ignored as already indexed (a dispatcher replaying from an older
    /// checkpoint). Position 0 is refused.
    pub fn put_key(&self, topic: &str, key: &str, pos: u64, store_ts_ms: i64) -> Result<()> {
        self.put_hash(key_hash(topic, key), pos, store_ts_ms)
    }

    /// Indexes the message at `pos` under `"#id#" + id`; as
    /// [`KeyIndex::put_key`].
    pub fn put_message_id(&self, id: &str, pos: u64, store_ts_ms: i64) -> Result<()> {
        self.put_hash(message_id_hash(id), pos, store_ts_ms)
    }

    fn put_hash(&self, hash: u64, pos: u64, ts: i64) -> Result<()> {
        self.put_many(&[KeyPut { hash, pos, ts }])
    }

    /// Indexes several entries at once, in the order given; each as
    /// [`KeyIndex::put_key`]. One lock for all of them, and the slots they
    /// update are read before any is written, so their cache misses overlap
    /// instead of waiting one after another behind each write.
    pub fn put_many(&self, puts: &[KeyPut]) -> Result<()> {
        if puts.iter().any(|p| p.pos == 0) {
            return Err(StoreError::Config(
                "position 0 cannot be put in the key index".into(),
            ));
        }
        let mut guard = self.writer.lock();
        let end = self.end.load(Ordering::Relaxed);
        // Positions do not decrease: what lies below the end is a replay.
        let mut rest = &puts[puts.partition_point(|p| p.pos < end)..];
        let w = &mut *guard;
        while let Some(first) = rest.first() {
            let need_file = match &w.active {
                Some(f) => f.is_full(),
                None => true,
            };
            if need_file {
                let file = self.roll(w.active.as_deref(), first.pos, first.ts)?;
                w.active = Some(file);
                w.reserved = 0;
            }
            let Some(active) = w.active.as_deref() else {
                return Err(StoreError::Config("key index has no file to write".into()));
            };
            let (now, later) = rest.split_at(active.room().min(rest.len()));
            active.append_many(&self.slots, &mut w.reserved, now)?;
            if let Some(last) = now.last() {
                self.end.store(last.pos, Ordering::Release);
            }
            rest = later;
        }
        Ok(())
    }

    /// Makes the full file `old` durable, then creates the next file, named
    /// `pos`, and publishes it.
    fn roll(&self, old: Option<&IndexFile>, pos: u64, ts: i64) -> Result<Arc<IndexFile>> {
        if let Some(old) = old {
            if old.begin_pos() >= pos {
                return Err(StoreError::Config(format!(
                    "key index file {} filled up with keys of the single message at {pos}; raise the entries per file",
                    old.path().display()
                )));
            }
            let _flush = self.flush_lock.lock();
            old.flush()?;
        }
        crash_point!(self.fs, "key-index:roll");
        let file = Arc::new(IndexFile::create(
            &self.dir,
            self.cfg.slot_count,
            self.cfg.max_entries,
            pos,
            ts,
            &self.fs,
        )?);
        self.files.write().push(Arc::clone(&file));
        Ok(file)
    }

    /// Candidate positions of messages with `key` in `topic`, newest first,
    /// at most `max`.
    pub fn lookup_key(&self, topic: &str, key: &str, max: usize) -> Vec<u64> {
        self.lookup_hash(key_hash(topic, key), None, max)
    }

    /// As [`KeyIndex::lookup_key`], restricted to messages stored in
    /// `[begin_ms, end_ms]`. Entry times are kept to the second, so messages
    /// up to a second outside the range may be returned too.
    pub fn lookup_key_between(
        &self,
        topic: &str,
        key: &str,
        begin_ms: i64,
        end_ms: i64,
        max: usize,
    ) -> Vec<u64> {
        self.lookup_hash(key_hash(topic, key), Some((begin_ms, end_ms)), max)
    }

    /// Candidate positions of the message with id `id`, newest first, at
    /// most `max`.
    pub fn lookup_message_id(&self, id: &str, max: usize) -> Vec<u64> {
        self.lookup_hash(message_id_hash(id), None, max)
    }

    /// Candidate positions of each message id of `ids`, as
    /// [`KeyIndex::lookup_message_id`]; one lookup for many ids (a send
    /// checking every message of a request for an earlier copy).
    pub fn lookup_message_ids(&self, ids: &[&str], max: usize) -> Vec<Vec<u64>> {
        let hashes: Vec<u64> = ids.iter().map(|id| message_id_hash(id)).collect();
        let _readers = self.readers.read();
        let files = self.files.read();
        // Most ids are new and end at the newest file's slot: load those
        // slots together first, so their cache misses overlap.
        if let Some(newest) = files.last() {
            newest.touch_slots(hashes.iter().copied());
        }
        hashes
            .iter()
            .map(|h| Self::lookup_in(&files, &self.slots, *h, None, max))
            .collect()
    }

    fn lookup_hash(&self, hash: u64, range: Option<(i64, i64)>, max: usize) -> Vec<u64> {
        let _readers = self.readers.read();
        let files = self.files.read();
        Self::lookup_in(&files, &self.slots, hash, range, max)
    }

    fn lookup_in(
        files: &[Arc<IndexFile>],
        slots: &RwLock<()>,
        hash: u64,
        range: Option<(i64, i64)>,
        max: usize,
    ) -> Vec<u64> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        for f in files.iter().rev() {
            if let Some((begin_ms, end_ms)) = range {
                if !f.overlaps(begin_ms, end_ms) {
                    continue;
                }
            }
            f.lookup(slots, hash, range, max, &mut out);
            if out.len() >= max {
                break;
            }
        }
        out
    }

    /// Makes every entry put so far durable: entries and slots first, then
    /// each header's count and end fields.
    pub fn flush(&self) -> Result<()> {
        let _flush = self.flush_lock.lock();
        let pending: Vec<Arc<IndexFile>> = self
            .files
            .read()
            .iter()
            .filter(|f| f.needs_flush())
            .cloned()
            .collect();
        for f in pending {
            f.flush()?;
        }
        Ok(())
    }

    /// Whether the newest entry under `hash` is at `pos`: a replay asks
    /// this of the message at [`KeyIndex::end_pos`], which a failed write
    /// may have left with only some of its keys.
    pub fn holds(&self, hash: u64, pos: u64) -> bool {
        self.lookup_hash(hash, None, 1).first() == Some(&pos)
    }

    /// Position of the last indexed message, if any.
    pub fn end_pos(&self) -> Option<u64> {
        match self.end.load(Ordering::Acquire) {
            0 => None,
            p => Some(p),
        }
    }

    /// Position of the first message of the oldest file, if any.
    pub fn begin_pos(&self) -> Option<u64> {
        self.files.read().first().map(|f| f.begin_pos())
    }

    /// How many files the index has.
    pub fn file_count(&self) -> usize {
        self.files.read().len()
    }

    /// Removes every entry whose position is `pos` or more, durably: files
    /// that begin at or after `pos` are deleted, newest first, and the last
    /// remaining file loses its entries from the newest back.
    pub fn truncate_from(&self, pos: u64) -> Result<()> {
        let mut w = self.writer.lock();
        let _flush = self.flush_lock.lock();
        let _readers = self.readers.write();
        let mut files = self.files.write();
        let keep = files.iter().take_while(|f| f.begin_pos() < pos).count();
        let doomed: Vec<Arc<IndexFile>> = files.drain(keep..).collect();
        // Whatever happens next, the writer must not append to a removed
        // file: start again from the new last one.
        w.active = files.last().cloned();
        w.reserved = 0;
        let mut result = Ok(());
        for f in doomed.iter().rev() {
            if let Err(e) = f.remove() {
                result = Err(e);
                break;
            }
        }
        if !doomed.is_empty() {
            result = result.and_then(|()| sync_dir(&self.dir));
        }
        if let Some(last) = files.last() {
            result = result.and_then(|()| last.truncate_from(pos).map(|_| ()));
        }
        // Recomputed even on error: the in-memory state is what was done.
        let end = files.last().and_then(|f| f.end_pos()).unwrap_or(0);
        self.end.store(end, Ordering::Release);
        result
    }

    /// Removes the files whose every entry is below `pos`, oldest first,
    /// never the last (active) one. Returns how many were removed.
    pub fn purge_before(&self, pos: u64) -> Result<usize> {
        // The writer is not excluded: it only ever appends to the last file,
        // which is never purged.
        let doomed: Vec<Arc<IndexFile>> = {
            let mut files = self.files.write();
            let removable = files.len().saturating_sub(1);
            let n = files[..removable]
                .iter()
                .take_while(|f| !matches!(f.end_pos(), Some(end) if end >= pos))
                .count();
            files.drain(..n).collect()
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        for f in &doomed {
            f.remove()?;
        }
        sync_dir(&self.dir)?;
        Ok(doomed.len())
    }
}
