//! The commitlog: the Raft log and the message log in one.
//!
//! Entries go into fixed-size mapped segments (`<commitlog dir>/<20-digit
//! base>`), each entry whole inside one segment. The entry index
//! (`<root>/entryindex/`) maps a Raft index to a position in O(1). The
//! checkpoint (`<root>/checkpoint`) says where the log starts and how far it
//! is durable; recovery validates by CRC from there and cuts a torn tail.
//!
//! One writer at a time appends (a mutex); readers read below the published
//! end without blocking it. Truncation, which rewrites bytes readers might be
//! copying, excludes readers with the read gate.

mod checkpoint;
mod durability;
pub mod entry_index;
pub mod layout;
mod recovery;
mod truncate;
mod waiters;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

pub use checkpoint::Checkpoint;
use durability::Durability;
pub use waiters::DurableCallback;

use crate::disk::DiskGuard;
use crate::error::{Result, StoreError};
use crate::mapped::{segment_base, FileSystem, SegmentList};
use crate::record::entry::{self, EntryKind, HEADER_LEN};
use crate::types::{LogIndex, LogPos, Term};
use entry_index::IndexRecord;

/// Entries at least this large are written with `pwritev` rather than
/// through the mapping: see [`crate::mapped::MappedFile::write_through`].
/// Below it, a system call costs more than the page faults it saves.
const WRITE_THROUGH_MIN: usize = 16 << 10;

/// What the commitlog needs to open.
#[derive(Clone, Debug)]
pub struct CommitLogConfig {
    /// Segment directory.
    pub data_dir: PathBuf,
    /// Entry index directory.
    pub index_dir: PathBuf,
    /// Checkpoint file.
    pub checkpoint_path: PathBuf,
    /// Bytes per segment.
    pub segment_size: u64,
    /// Records per entry-index file.
    pub index_entries_per_file: u64,
    /// Refuse appends at or above this used-disk percent.
    pub disk_refuse_percent: u8,
    /// Keep readahead off the segment being written: set under SYNC_FLUSH
    /// (each sync would write back whole large folios) and for replicated
    /// stores (a leader reads entries back right after writing them, and
    /// readahead at the write frontier zero-fills pages ahead of the data).
    /// See [`SegmentList::no_readahead_while_writing`].
    pub no_readahead_while_writing: bool,
}

/// The log's extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Bounds {
    /// First index held.
    pub start_index: u64,
    /// Its position.
    pub start_pos: u64,
    /// The index the next append must carry.
    pub next_index: u64,
    /// Position right after the last entry.
    pub end_pos: u64,
    /// Term of the last entry (0 when empty).
    pub last_term: u64,
}

impl Bounds {
    /// Whether the log holds no entry.
    pub fn is_empty(&self) -> bool {
        self.next_index == self.start_index
    }

    /// The last index, if any.
    pub fn last_index(&self) -> Option<LogIndex> {
        (!self.is_empty()).then(|| LogIndex(self.next_index - 1))
    }
}

/// An entry to append.
#[derive(Clone, Copy, Debug)]
pub struct NewEntry<'a> {
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
    /// What the body holds.
    pub kind: EntryKind,
    /// The body.
    pub body: &'a [u8],
    /// The record's CRC, when the caller has it already: a record received
    /// from the leader with its CRC checked, whose header and body are
    /// these. `None`: computed here.
    pub crc: Option<u32>,
}

/// Where an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryLocation {
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
    /// Position of its first byte (header).
    pub pos: u64,
    /// Header plus body.
    pub len: u32,
}

impl EntryLocation {
    /// Position of the body's first byte.
    pub fn body_pos(&self) -> u64 {
        self.pos + HEADER_LEN as u64
    }

    /// Position right after the entry.
    pub fn end(&self) -> u64 {
        self.pos + u64::from(self.len)
    }
}

/// An entry read back, CRC checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Raft index.
    pub index: LogIndex,
    /// Raft term.
    pub term: Term,
    /// What the body holds.
    pub kind: EntryKind,
    /// Position of the header.
    pub pos: LogPos,
    /// Header and body, as on disk.
    pub bytes: Bytes,
}

impl Entry {
    /// The body, without the header.
    pub fn body(&self) -> Bytes {
        self.bytes.slice(HEADER_LEN..)
    }
}

/// The commitlog. See the module docs.
#[derive(Debug)]
pub struct CommitLog {
    cfg: CommitLogConfig,
    data: SegmentList,
    index: SegmentList,
    writer: Mutex<()>,
    bounds: RwLock<Bounds>,
    read_gate: RwLock<()>,
    durability: Durability,
    /// Serialises checkpoint writes; holds how far the entry index is synced.
    checkpoint_lock: Mutex<u64>,
    disk: DiskGuard,
    fs: FileSystem,
    waiters: waiters::Waiters,
}

impl CommitLog {
    /// Opens the log, recovering it: unfinished truncations and purges are
    /// finished, the tail is validated by CRC from the checkpoint and a torn
    /// tail is cut. Damage before the durable point is an error.
    pub fn open(cfg: CommitLogConfig, fs: FileSystem) -> Result<Self> {
        if cfg.segment_size > u64::from(u32::MAX) || cfg.segment_size < 4096 {
            return Err(StoreError::BadConfig {
                key: "mappedFileSizeCommitLog",
                value: cfg.segment_size.to_string(),
                why: "it must be between 4 KiB and 4 GiB",
            });
        }
        // Blocks are reserved as the writer reaches them, a step at a time
        // (`layout::SEGMENT_RESERVE_STEP`), not whole at creation.
        let mut data = SegmentList::open(&cfg.data_dir, cfg.segment_size, &fs)?;
        if cfg.no_readahead_while_writing {
            data = data.no_readahead_while_writing();
        }
        let index = SegmentList::open(
            &cfg.index_dir,
            cfg.index_entries_per_file * entry_index::RECORD_LEN,
            &fs,
        )?;
        let ckpt = Checkpoint::load(&cfg.checkpoint_path)?;
        let rec = recovery::recover(&data, &index, ckpt)?;
        let disk = DiskGuard::new(&cfg.data_dir, cfg.disk_refuse_percent);
        #[cfg(feature = "failpoints")]
        let disk = disk.with_faults(fs.faults().clone());
        let log = Self {
            data,
            index,
            writer: Mutex::new(()),
            bounds: RwLock::new(rec.bounds),
            read_gate: RwLock::new(()),
            durability: Durability::new(rec.durable_pos, rec.durable_next_index),
            checkpoint_lock: Mutex::new(0),
            disk,
            fs,
            waiters: waiters::Waiters::default(),
            cfg,
        };
        // Record what recovery settled (a finished truncation, a new start).
        log.write_checkpoint(None)?;
        Ok(log)
    }

    /// The log's extent now.
    pub fn bounds(&self) -> Bounds {
        *self.bounds.read()
    }

    /// The segment directory.
    pub fn data_dir(&self) -> &Path {
        &self.cfg.data_dir
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> &SegmentList {
        &self.data
    }

    /// The largest entry body a segment can hold: an append of a larger
    /// one is refused ([`StoreError::EntryTooLarge`]).
    pub fn max_entry_body(&self) -> u64 {
        self.cfg
            .segment_size
            .saturating_sub((HEADER_LEN + entry::EOS_LEN) as u64)
    }

    /// The disk gate.
    pub fn disk(&self) -> &DiskGuard {
        &self.disk
    }

    /// Appends entries that continue the log (the first must carry
    /// `next_index`; on an empty log any index starts it). Either every entry
    /// is written or none: space is reserved before the first byte is copied.
    /// Returns where each entry went. The entries are readable on return;
    /// durability is [`CommitLog::sync_to`]'s business.
    ///
    /// Refused whole when the disk is fuller than `diskSpaceWarningLevelRatio`.
    pub fn append(&self, entries: &[NewEntry<'_>]) -> Result<Vec<EntryLocation>> {
        self.disk.check()?;
        self.append_replicated(entries)
    }

    /// [`CommitLog::append`] without the disk-ratio admission: for entries a
    /// Raft leader already admitted. A member must not refuse what a
    /// majority may already hold (the group would stall); the ratio leaves
    /// the room for them, and a really full disk still fails the write.
    pub fn append_replicated(&self, entries: &[NewEntry<'_>]) -> Result<Vec<EntryLocation>> {
        let Some(first) = entries.first() else {
            return Ok(Vec::new());
        };
        self.durability.check_poisoned()?;
        let _writer = self.writer.lock();
        let b = self.bounds();
        if !(first.index == b.next_index || b.is_empty()) {
            return Err(StoreError::NonContiguous {
                got: LogIndex(first.index),
                expected_after: b.last_index(),
            });
        }
        let seg = self.cfg.segment_size;
        let mut end = b.end_pos;
        let mut plans = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if e.index != first.index + i as u64 {
                return Err(StoreError::NonContiguous {
                    got: LogIndex(e.index),
                    expected_after: Some(LogIndex(first.index + i as u64 - 1)),
                });
            }
            let len = (HEADER_LEN + e.body.len()) as u64;
            if !layout::fits(len, seg) {
                return Err(StoreError::EntryTooLarge {
                    len,
                    segment_size: seg,
                });
            }
            let p = layout::place(end, seg, len);
            plans.push(p);
            end = p.pos + len;
        }
        // Reserve the blocks of every byte this append writes, in every
        // file it touches, before writing one.
        reserve_range(&self.data, b.end_pos, end, layout::SEGMENT_RESERVE_STEP)?;
        let last_index = first.index + entries.len() as u64 - 1;
        reserve_range(
            &self.index,
            first.index * entry_index::RECORD_LEN,
            (last_index + 1) * entry_index::RECORD_LEN,
            entry_index::RESERVE_STEP,
        )?;

        let mut locations = Vec::with_capacity(entries.len());
        let mut header = [0u8; HEADER_LEN];
        for (e, p) in entries.iter().zip(&plans) {
            if let Some((at, remaining)) = p.eos {
                let file = self.segment(at)?;
                file.write(at - file.base(), &entry::encode_eos(remaining));
            }
            let file = self.segment(p.pos)?;
            match e.crc {
                Some(crc) => entry::encode_header_with_crc(
                    &mut header,
                    e.kind,
                    e.index,
                    e.term,
                    e.body.len(),
                    crc,
                ),
                None => entry::encode_header(&mut header, e.kind, e.index, e.term, e.body),
            }
            let off = p.pos - file.base();
            if e.body.len() >= WRITE_THROUGH_MIN {
                file.write_through(off, &[&header, e.body])?;
            } else {
                file.write(off, &header);
                file.write(off + HEADER_LEN as u64, e.body);
            }
            let len = (HEADER_LEN + e.body.len()) as u32;
            entry_index::write(
                &self.index,
                &IndexRecord {
                    len,
                    pos: p.pos,
                    index: e.index,
                    term: e.term,
                },
            )?;
            locations.push(EntryLocation {
                index: e.index,
                term: e.term,
                pos: p.pos,
                len,
            });
        }
        let mut bounds = self.bounds.write();
        if bounds.is_empty() {
            bounds.start_index = first.index;
            bounds.start_pos = plans[0].pos;
        }
        bounds.next_index = last_index + 1;
        bounds.end_pos = end;
        bounds.last_term = entries[entries.len() - 1].term;
        Ok(locations)
    }

    fn segment(&self, pos: u64) -> Result<std::sync::Arc<crate::mapped::MappedFile>> {
        self.data.find(pos).ok_or_else(|| StoreError::Corrupt {
            path: self
                .cfg
                .data_dir
                .join(crate::mapped::segment_file_name(segment_base(
                    pos,
                    self.cfg.segment_size,
                ))),
            offset: 0,
            reason: format!("segment holding position {pos} is missing"),
        })
    }

    /// Where entry `index` is.
    pub fn location(&self, index: u64) -> Result<EntryLocation> {
        let b = self.bounds();
        self.check_index(&b, index)?;
        let r = entry_index::read_existing(&self.index, index)?;
        Ok(EntryLocation {
            index,
            term: r.term,
            pos: r.pos,
            len: r.len,
        })
    }

    fn check_index(&self, b: &Bounds, index: u64) -> Result<()> {
        if index < b.start_index {
            return Err(StoreError::IndexBelowLogStart {
                index: LogIndex(index),
                start: LogIndex(b.start_index),
            });
        }
        if index >= b.next_index {
            return Err(StoreError::IndexPastEnd {
                index: LogIndex(index),
                last: b.last_index(),
            });
        }
        Ok(())
    }

    /// The term of entry `index`.
    pub fn term_at(&self, index: u64) -> Result<u64> {
        Ok(self.location(index)?.term)
    }

    /// Reads entry `index`, checking its CRC.
    pub fn read_entry(&self, index: u64) -> Result<Entry> {
        let loc = self.location(index)?;
        let bytes = self.read(loc.pos, loc.len as usize)?;
        let file = self.segment(loc.pos)?;
        let corrupt = |reason: String| StoreError::Corrupt {
            path: file.path().to_owned(),
            offset: loc.pos - file.base(),
            reason,
        };
        let header =
            entry::decode_header(&bytes, u64::from(loc.len)).map_err(|d| corrupt(d.to_string()))?;
        entry::verify(&header, &bytes).map_err(|d| corrupt(d.to_string()))?;
        if header.index != index {
            return Err(corrupt(format!(
                "entry holds index {}, expected {index}",
                header.index
            )));
        }
        Ok(Entry {
            index: LogIndex(index),
            term: Term(header.term),
            kind: header.kind,
            pos: LogPos(loc.pos),
            bytes,
        })
    }

    /// Reads `[from, to)` entries (clipped to the log), CRC checked.
    pub fn read_range(&self, from: u64, to: u64) -> Result<Vec<Entry>> {
        let b = self.bounds();
        let to = to.min(b.next_index);
        (from..to).map(|i| self.read_entry(i)).collect()
    }

    /// Copies `len` bytes at `pos`, which must lie inside the log.
    pub fn read(&self, pos: u64, len: usize) -> Result<Bytes> {
        self.read_with(pos, len, Bytes::copy_from_slice)
    }

    /// Runs `f` on the `len` bytes at `pos` in place, with no copy. Keep `f`
    /// short: a truncation waits for it.
    pub fn read_with<R>(&self, pos: u64, len: usize, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let _gate = self.read_gate.read();
        let b = self.bounds();
        if pos < b.start_pos {
            return Err(StoreError::OffsetBelowLogStart {
                pos: LogPos(pos),
                start: LogPos(b.start_pos),
            });
        }
        let end = pos.checked_add(len as u64);
        if end.is_none_or(|end| end > b.end_pos) {
            return Err(StoreError::OffsetPastEnd {
                pos: LogPos(pos),
                len,
                end: LogPos(b.end_pos),
            });
        }
        let file = self.segment(pos)?;
        // SAFETY: `[pos, pos + len)` lies below the published end, and the
        // writer only writes at or past it; truncation, the one writer below
        // the end, holds the read gate exclusively, and we hold it shared
        // for the slice's whole life.
        let slice = unsafe { file.slice(pos - file.base(), len) };
        match slice {
            Some(s) => Ok(f(s)),
            None => Err(StoreError::Corrupt {
                path: file.path().to_owned(),
                offset: pos - file.base(),
                reason: format!("a read of {len} bytes crosses the segment end"),
            }),
        }
    }

    /// Waits until every byte before `pos` is on disk, sharing one fsync with
    /// every other waiter (group commit). An fsync failure poisons the log.
    pub fn sync_to(&self, pos: u64) -> Result<()> {
        self.durability.sync_to(pos, || self.flush_now())
    }

    /// Flushes everything written so far.
    pub fn flush(&self) -> Result<()> {
        let end = self.bounds().end_pos;
        self.sync_to(end)
    }

    /// Stops counting durable data more than `keep` bytes behind the end in
    /// this process's resident memory: the pages leave its page tables but
    /// stay in the page cache, and a read faults them back in (a minor
    /// fault). Without it every message ever written or read stays resident
    /// in the broker, as with RocketMQ's mapped commitlog.
    pub fn release_cold_pages(&self, keep: u64) {
        let end = self.bounds().end_pos;
        let upto = self.durable().0.min(end.saturating_sub(keep));
        for file in self.data.all() {
            let base = file.base();
            if base >= upto {
                break;
            }
            file.release_pages(0, (upto - base).min(file.len()));
        }
    }

    /// Makes the next segment ahead of need once the write position is past
    /// the middle of the last one (see [`SegmentList::prepare_next`]).
    pub fn prepare_next_segment(&self) -> Result<bool> {
        self.data.prepare_next(self.bounds().end_pos)
    }

    /// Reserves the blocks of the segment being written a step past the
    /// write position (background thread), so that the writer seldom
    /// reserves any itself. A failure (a full disk) only means the writer
    /// meets the same error when it gets there, and writes nothing.
    pub fn reserve_ahead(&self) -> Result<()> {
        let end = self.bounds().end_pos;
        match self.data.find(end) {
            Some(file) => file.reserve(layout::reserve_mark(
                end - file.base() + layout::SEGMENT_RESERVE_STEP,
                layout::SEGMENT_RESERVE_STEP,
            )),
            None => Ok(()),
        }
    }

    /// (durable position, index of the entry there).
    pub fn durable(&self) -> (u64, u64) {
        self.durability.durable()
    }

    /// Bytes written but not yet durable.
    pub fn dirty_bytes(&self) -> u64 {
        self.bounds().end_pos.saturating_sub(self.durable().0)
    }

    /// Syncs the segments only: the entry index is derived and is synced
    /// before a checkpoint vouches for it (see `write_checkpoint`).
    fn flush_now(&self) -> Result<(u64, u64)> {
        let b = self.bounds();
        let (from_pos, _) = self.durability.durable();
        flush_span(&self.data, from_pos.min(b.end_pos), b.end_pos)?;
        Ok((b.end_pos, b.next_index))
    }

    /// Writes the checkpoint from the current state. The entry index is
    /// synced first up to the durable point, since recovery trusts index
    /// records before it.
    pub fn write_checkpoint(&self, truncating: Option<(u64, u64)>) -> Result<()> {
        let mut synced = self.checkpoint_lock.lock();
        let b = self.bounds();
        let (durable_pos, durable_next_index) = self.durable();
        let (durable_pos, durable_next_index) = if durable_pos <= b.start_pos {
            (b.start_pos, b.start_index)
        } else {
            (durable_pos, durable_next_index.min(b.next_index))
        };
        // Records before `*synced` were synced earlier; a truncation since
        // may have rewritten them, so never start past the durable point.
        let from = (*synced).max(b.start_index).min(durable_next_index);
        entry_index::flush(&self.index, from, durable_next_index)?;
        *synced = durable_next_index;
        let c = Checkpoint {
            start_index: b.start_index,
            start_pos: b.start_pos,
            durable_pos,
            durable_next_index,
            truncating,
        };
        c.store(&self.cfg.checkpoint_path)
    }

    /// Flushes everything and writes the checkpoint: a clean stop.
    pub fn close(&self) -> Result<()> {
        self.flush()?;
        self.write_checkpoint(None)
    }

    /// The first index of the segment starting at `base`, if it has an entry.
    pub fn first_index_in_segment(&self, base: u64) -> Option<u64> {
        let file = self.data.find(base)?;
        let mut h = [0u8; HEADER_LEN];
        if !file.read_into(0, &mut h) {
            return None;
        }
        entry::decode_header(&h, file.len()).ok().map(|h| h.index)
    }

    /// Marks the log poisoned by an outside fatal error.
    pub fn poison(&self, why: String) {
        self.durability.poison(why);
    }
}

/// Creates every file of `list` that positions `[from, end)` fall in and
/// reserves the blocks of the range in each, rounded up to a whole `step`.
fn reserve_range(list: &SegmentList, from: u64, end: u64, step: u64) -> Result<()> {
    let size = list.segment_size();
    let mut base = segment_base(from, size);
    while base < end {
        let file = list.find_or_create(base)?;
        file.reserve(layout::reserve_mark(end - base, step))?;
        base += size;
    }
    Ok(())
}

/// msync of `[from, to)` over the segments of a list.
pub(crate) fn flush_span(list: &SegmentList, from: u64, to: u64) -> Result<()> {
    if from >= to {
        return Ok(());
    }
    // The names of segments created since the last flush first.
    list.sync_dir_if_needed()?;
    let size = list.segment_size();
    let mut base = segment_base(from, size);
    while base < to {
        if let Some(file) = list.find(base) {
            let lo = from.max(base) - base;
            let hi = to.min(base + size) - base;
            file.flush_range(lo, hi - lo)?;
        }
        base += size;
    }
    Ok(())
}
