//! One consume queue.

use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;

use super::entry::{CqEntry, ENTRY_LEN};
use super::filter::MessageFilter;
use crate::error::{Result, StoreError};
use crate::mapped::FileSystem;
use crate::mapped::{MappedFile, SegmentList};
use crate::types::QueueOffset;

/// Blocks are reserved this far ahead of the write position.
const RESERVE_CHUNK: u64 = 64 << 10;

#[derive(Clone, Copy, Debug)]
struct Extent {
    /// Lowest offset still held.
    min: u64,
    /// Next offset to assign.
    next: u64,
    /// Entries before this are flushed.
    flushed: u64,
}

/// One (topic, queue id) consume queue. One writer (the dispatcher), many
/// readers.
#[derive(Debug)]
pub struct ConsumeQueue {
    topic: String,
    queue_id: u32,
    files: SegmentList,
    extent: RwLock<Extent>,
    /// The file appends go to, and how far its blocks are reserved: only the
    /// dispatcher appends, so this lock is never contended.
    tail: parking_lot::Mutex<Option<(Arc<MappedFile>, u64)>>,
}

impl ConsumeQueue {
    /// Opens (or creates) the queue in `dir`, finding its end by the first
    /// unwritten entry.
    pub fn open(
        dir: &Path,
        topic: &str,
        queue_id: u32,
        entries_per_file: u64,
        fs: FileSystem,
    ) -> Result<Self> {
        let files = SegmentList::open(dir, entries_per_file * ENTRY_LEN, &fs)?;
        let (min, next) = match (files.first(), files.last()) {
            (Some(first), Some(last)) => {
                let mut next = last.base() / ENTRY_LEN;
                let end = (last.base() + last.len()) / ENTRY_LEN;
                let mut b = [0u8; ENTRY_LEN as usize];
                while next < end && last.read_into(next * ENTRY_LEN - last.base(), &mut b) {
                    if CqEntry::decode(&b).is_none() {
                        break;
                    }
                    next += 1;
                }
                // Zero whatever a crash left past the first hole.
                last.zero_from(next * ENTRY_LEN - last.base())?;
                (first.base() / ENTRY_LEN, next)
            }
            _ => (0, 0),
        };
        Ok(Self {
            topic: topic.to_owned(),
            queue_id,
            files,
            extent: RwLock::new(Extent {
                min,
                next,
                flushed: next,
            }),
            tail: parking_lot::Mutex::new(None),
        })
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The queue id.
    pub fn queue_id(&self) -> u32 {
        self.queue_id
    }

    /// Lowest offset still held.
    pub fn min_offset(&self) -> QueueOffset {
        QueueOffset(self.extent.read().min)
    }

    /// The next offset to be assigned: one past the last message.
    pub fn max_offset(&self) -> QueueOffset {
        QueueOffset(self.extent.read().next)
    }

    /// Appends an entry; returns its queue offset.
    pub fn append(&self, e: &CqEntry) -> Result<QueueOffset> {
        let mut tail = self.tail.lock();
        let next = self.extent.read().next;
        let at = next * ENTRY_LEN;
        let cached = tail
            .as_ref()
            .filter(|(f, _)| at >= f.base() && at + ENTRY_LEN <= f.base() + f.len());
        let (file, reserved) = match cached {
            Some((f, r)) => (Arc::clone(f), *r),
            None => (self.files.find_or_create(at)?, 0),
        };
        let off = at - file.base();
        let reserved = if off + ENTRY_LEN > reserved {
            let upto = (off + ENTRY_LEN).div_ceil(RESERVE_CHUNK) * RESERVE_CHUNK;
            file.reserve(upto)?;
            upto
        } else {
            reserved
        };
        file.write(off, &e.encode());
        *tail = Some((file, reserved));
        self.extent.write().next = next + 1;
        Ok(QueueOffset(next))
    }

    /// The entry at `offset`.
    pub fn get(&self, offset: QueueOffset) -> Result<CqEntry> {
        let ext = self.extent.read();
        self.check(&ext, offset.0)?;
        self.read_entry(offset.0)
    }

    fn check(&self, ext: &Extent, offset: u64) -> Result<()> {
        if offset < ext.min {
            return Err(StoreError::QueueOffsetBelowMin {
                topic: self.topic.clone(),
                queue_id: self.queue_id,
                offset: QueueOffset(offset),
                min: QueueOffset(ext.min),
            });
        }
        if offset >= ext.next {
            return Err(StoreError::QueueOffsetPastEnd {
                topic: self.topic.clone(),
                queue_id: self.queue_id,
                offset: QueueOffset(offset),
                max: QueueOffset(ext.next),
            });
        }
        Ok(())
    }

    /// Reads an entry known to be inside the extent (the caller holds the
    /// extent lock, shared or exclusive).
    fn read_entry(&self, offset: u64) -> Result<CqEntry> {
        let at = offset * ENTRY_LEN;
        let corrupt = |reason: &str| StoreError::Corrupt {
            path: self.files.dir().to_owned(),
            offset: at,
            reason: format!("consume queue entry {offset}: {reason}"),
        };
        let file = self.files.find(at).ok_or_else(|| corrupt("file missing"))?;
        let mut b = [0u8; ENTRY_LEN as usize];
        if !file.read_into(at - file.base(), &mut b) {
            return Err(corrupt("outside its file"));
        }
        CqEntry::decode(&b).ok_or_else(|| corrupt("unwritten"))
    }

    /// Up to `max` entries from `from` whose tag hash passes `filter`,
    /// looking at no more than `max_scan` entries. Returns the matches and
    /// the offset to continue from.
    pub fn scan<F: MessageFilter + ?Sized>(
        &self,
        from: QueueOffset,
        max: usize,
        max_scan: usize,
        filter: &F,
    ) -> Result<(Vec<(QueueOffset, CqEntry)>, QueueOffset)> {
        let ext = self.extent.read();
        let start = from.0.max(ext.min);
        if from.0 > ext.next {
            self.check(&ext, from.0)?;
        }
        let stop = ext.next.min(start.saturating_add(max_scan as u64));
        let mut out = Vec::with_capacity(max.min(64));
        let mut at = start;
        while at < stop && out.len() < max {
            let e = self.read_entry(at)?;
            if filter.matches_hash(e.tag_hash) {
                out.push((QueueOffset(at), e));
            }
            at += 1;
        }
        Ok((out, QueueOffset(at)))
    }

    /// The first offset whose message was stored at or after `ts_ms`, or the
    /// max offset when none was. Store times are non-decreasing in a queue
    /// but for clock steps across leaders; the search then lands near the
    /// step, as upstream's does.
    pub fn offset_at_time(&self, ts_ms: i64) -> Result<QueueOffset> {
        let ext = self.extent.read();
        self.partition_point(&ext, |e| e.store_ts_ms < ts_ms)
            .map(QueueOffset)
    }

    /// The first offset whose entry points at or after log position `pos`.
    pub fn offset_at_pos(&self, pos: u64) -> Result<QueueOffset> {
        let ext = self.extent.read();
        self.lower_bound_pos(&ext, pos).map(QueueOffset)
    }

    fn lower_bound_pos(&self, ext: &Extent, pos: u64) -> Result<u64> {
        // Placeholders come first in a queue and point at no message.
        self.partition_point(ext, |e| e.is_placeholder() || e.pos < pos)
    }

    /// The first offset in the extent whose entry fails `before` (entries
    /// passing it come first), by binary search.
    fn partition_point(&self, ext: &Extent, before: impl Fn(&CqEntry) -> bool) -> Result<u64> {
        let (mut lo, mut hi) = (ext.min, ext.next);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(&self.read_entry(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The log position of the last entry, if any.
    pub fn last_pos(&self) -> Result<Option<u64>> {
        let ext = self.extent.read();
        if ext.next == ext.min {
            return Ok(None);
        }
        Ok(Some(self.read_entry(ext.next - 1)?.pos))
    }

    /// Drops every entry pointing at or past log position `pos` (the log
    /// lost its tail). Durable on return.
    pub fn truncate_from_pos(&self, pos: u64) -> Result<()> {
        // Lock order as in `append`: tail, then extent.
        let mut tail = self.tail.lock();
        let mut ext = self.extent.write();
        let cut = self.lower_bound_pos(&ext, pos)?;
        if cut == ext.next {
            return Ok(());
        }
        let at = cut * ENTRY_LEN;
        if let Some(file) = self.files.find(at) {
            file.zero_from(at - file.base())?;
            self.files.remove_from(file.base() + file.len())?;
        }
        ext.next = cut;
        ext.flushed = ext.flushed.min(cut);
        *tail = None;
        if ext.min > cut {
            ext.min = cut;
        }
        Ok(())
    }

    /// Makes an empty queue start at `offset`: its first message will get
    /// that offset. The file holding it is filled with placeholders up to
    /// it, so that the offset survives a restart.
    pub fn start_at(&self, offset: u64) -> Result<()> {
        let mut tail = self.tail.lock();
        let mut ext = self.extent.write();
        if ext.next != 0 || self.files.count() > 0 {
            return Err(StoreError::Config(format!(
                "consume queue {}:{} is not empty; it cannot start at {offset}",
                self.topic, self.queue_id
            )));
        }
        let at = offset * ENTRY_LEN;
        let file = self.files.find_or_create(at)?;
        let first = file.base() / ENTRY_LEN;
        let fill = (at - file.base()) as usize;
        file.reserve((fill as u64 + ENTRY_LEN).div_ceil(RESERVE_CHUNK) * RESERVE_CHUNK)?;
        let one = CqEntry::placeholder().encode();
        let mut buf = Vec::with_capacity(fill);
        for _ in first..offset {
            buf.extend_from_slice(&one);
        }
        file.write(0, &buf);
        ext.min = offset;
        ext.next = offset;
        ext.flushed = first;
        *tail = None;
        Ok(())
    }

    /// Drops entries pointing below log position `log_start` (retention).
    /// Whole files go once every entry in them is below.
    pub fn purge_below_pos(&self, log_start: u64) -> Result<()> {
        let mut ext = self.extent.write();
        let min = self.lower_bound_pos(&ext, log_start)?;
        ext.min = min;
        drop(ext);
        // The last file stays even when empty of live entries: its name
        // carries the next offset across a restart.
        let keep_from = self
            .files
            .last()
            .map_or(0, |last| (min * ENTRY_LEN).min(last.base()));
        self.files.remove_before(keep_from)?;
        Ok(())
    }

    /// msync of the entries written since the last flush.
    pub fn flush(&self) -> Result<()> {
        let (from, to) = {
            let ext = self.extent.read();
            (ext.flushed, ext.next)
        };
        if from >= to {
            return Ok(());
        }
        crate::commitlog::flush_span(&self.files, from * ENTRY_LEN, to * ENTRY_LEN)?;
        let mut ext = self.extent.write();
        ext.flushed = ext.flushed.max(to.min(ext.next));
        Ok(())
    }

    /// Removes the queue's files and directory.
    pub fn destroy(&self) -> Result<()> {
        self.files.destroy()
    }
}
