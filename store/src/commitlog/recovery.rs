//! Opening the log after a stop, clean or not.
//!
//! 1. A truncation the checkpoint says was under way is finished.
//! 2. Segments wholly before the log start (an interrupted purge) are removed.
//! 3. The window before the durable point (the checkpoint) is re-validated:
//!    any damage there is corruption, reported with file and offset.
//! 4. From the durable point on, entries are validated by CRC and their index
//!    records rewritten; the first bad one starts the torn tail, which is cut.
//!    Without a checkpoint, damage followed by a valid entry is corruption in
//!    the middle, not a tail, and is reported instead of cut.

use crate::error::{Result, StoreError};
use crate::mapped::FileSystem;
use crate::mapped::{segment_base, MappedFile, SegmentList};
use crate::record::entry::{self, EntryDefect, EntryHeader, HEADER_LEN};

use super::entry_index::{self, IndexRecord};
use super::{truncate, Bounds, Checkpoint};

/// How far before the durable point recovery re-checks CRCs.
const VERIFY_WINDOW: u64 = 1 << 30;

pub(super) struct Recovered {
    pub(super) bounds: Bounds,
    pub(super) durable_pos: u64,
    pub(super) durable_next_index: u64,
}

/// What is at a position.
enum Found {
    /// A whole, valid entry.
    Entry(EntryHeader),
    /// An end-of-segment marker: continue at the next segment.
    EndOfSegment,
    /// No segment holds the position: the log ends here.
    NoSegment,
    /// Not a valid entry.
    Defect(EntryDefect),
}

fn inspect(data: &SegmentList, pos: u64) -> Found {
    let Some(file) = data.find(pos) else {
        return Found::NoSegment;
    };
    inspect_in(&file, pos)
}

fn inspect_in(file: &MappedFile, pos: u64) -> Found {
    let off = pos - file.base();
    let remaining = file.len() - off;
    let mut head = [0u8; HEADER_LEN];
    let avail = remaining.min(HEADER_LEN as u64) as usize;
    if !file.read_into(off, &mut head[..avail]) {
        return Found::Defect(EntryDefect::Short);
    }
    if entry::is_eos(&head[..avail], remaining) {
        return Found::EndOfSegment;
    }
    let header = match entry::decode_header(&head[..avail], remaining - entry::EOS_LEN as u64) {
        Ok(h) => h,
        Err(d) => return Found::Defect(d),
    };
    // SAFETY: recovery runs before the log is shared: nothing writes the
    // file while the slice lives.
    let Some(bytes) = (unsafe { file.slice(off, header.len as usize) }) else {
        return Found::Defect(EntryDefect::Short);
    };
    match entry::verify(&header, bytes) {
        Ok(()) => Found::Entry(header),
        Err(d) => Found::Defect(d),
    }
}

fn corrupt(data: &SegmentList, pos: u64, reason: String) -> StoreError {
    let base = segment_base(pos, data.segment_size());
    StoreError::Corrupt {
        path: data.dir().join(crate::mapped::segment_file_name(base)),
        offset: pos - base,
        reason,
    }
}

pub(super) fn recover(
    data: &SegmentList,
    index: &SegmentList,
    ckpt: Option<Checkpoint>,
) -> Result<Recovered> {
    if let Some((pos, idx)) = ckpt.and_then(|c| c.truncating) {
        tracing::info!(pos, index = idx, "finishing an interrupted truncation");
        truncate::cut(data, index, pos, idx, &FileSystem::disk())?;
    }
    let (start_index, start_pos) = match ckpt {
        Some(c) => (c.start_index, c.start_pos),
        None => match data.first() {
            None => (0, 0),
            Some(first) => match inspect_in(&first, first.base()) {
                Found::Entry(h) => (h.index, first.base()),
                // A first segment without a first entry: an empty log that
                // crashed right after creating it, unless data follows.
                _ => (0, first.base()),
            },
        },
    };
    // Finish an interrupted purge.
    data.remove_before(start_pos)?;
    index.remove_before(start_index * entry_index::RECORD_LEN)?;

    let mut scan = Scan {
        pos: start_pos,
        next: start_index,
        last_term: 0,
    };
    let mut durable = (start_pos, start_index);
    if let Some(c) = ckpt {
        if c.truncating.is_none() && c.durable_pos > start_pos {
            verify_durable(data, index, &c, start_pos, start_index, &mut scan)?;
            durable = (c.durable_pos, c.durable_next_index);
        } else if let Some((pos, idx)) = c.truncating {
            // After a cut the durable point is at most the cut.
            if c.durable_pos > start_pos {
                durable = (c.durable_pos.min(pos), c.durable_next_index.min(idx));
            }
            if durable.0 > start_pos {
                verify_durable(
                    data,
                    index,
                    &Checkpoint {
                        durable_pos: durable.0,
                        durable_next_index: durable.1,
                        ..c
                    },
                    start_pos,
                    start_index,
                    &mut scan,
                )?;
            }
        }
    }

    // The tail.
    let tail_at = loop {
        match inspect(data, scan.pos) {
            Found::Entry(h) if h.index == scan.next => scan.accept(index, &h)?,
            Found::EndOfSegment => {
                let next_base = segment_base(scan.pos, data.segment_size()) + data.segment_size();
                if data.find(next_base).is_none() {
                    break scan.pos;
                }
                scan.pos = next_base;
            }
            Found::NoSegment => break scan.pos,
            Found::Entry(h) => {
                let reason = format!("entry holds index {}, expected {}", h.index, scan.next);
                if ckpt.is_none() && valid_after(data, index, scan.pos, scan.next) {
                    return Err(corrupt(data, scan.pos, reason));
                }
                tracing::warn!(pos = scan.pos, %reason, "cutting the log tail");
                break scan.pos;
            }
            Found::Defect(EntryDefect::BadVersion(v)) => {
                // Never cut what a newer build wrote: refuse instead.
                return Err(corrupt(
                    data,
                    scan.pos,
                    format!(
                        "entry format version {v} is not one this build reads; run a newer raftmq"
                    ),
                ));
            }
            Found::Defect(d) => {
                if ckpt.is_none() && valid_after(data, index, scan.pos, scan.next) {
                    return Err(corrupt(
                        data,
                        scan.pos,
                        format!("{d}, and valid entries follow: damage in the middle of the log"),
                    ));
                }
                if d != EntryDefect::Zeros {
                    tracing::warn!(pos = scan.pos, defect = %d, "cutting a torn log tail");
                }
                break scan.pos;
            }
        }
    };
    // The end is the end of the last entry, never past an end marker that
    // nothing follows.
    truncate::cut(data, index, tail_at, scan.next, &FileSystem::disk())?;
    if scan.last_term == 0 && scan.next > start_index {
        scan.last_term = entry_index::read_existing(index, scan.next - 1)?.term;
    }
    let durable = if durable.0 > tail_at {
        (tail_at, scan.next)
    } else {
        durable
    };
    Ok(Recovered {
        bounds: Bounds {
            start_index,
            start_pos,
            next_index: scan.next,
            end_pos: tail_at,
            last_term: scan.last_term,
        },
        durable_pos: durable.0,
        durable_next_index: durable.1,
    })
}

struct Scan {
    pos: u64,
    next: u64,
    last_term: u64,
}

impl Scan {
    fn accept(&mut self, index: &SegmentList, h: &EntryHeader) -> Result<()> {
        entry_index::write(
            index,
            &IndexRecord {
                len: h.len,
                pos: self.pos,
                index: h.index,
                term: h.term,
            },
        )?;
        self.pos += u64::from(h.len);
        self.next += 1;
        self.last_term = h.term;
        Ok(())
    }
}

/// Re-checks the entries of the verify window before the durable point and
/// leaves `scan` at the durable point.
fn verify_durable(
    data: &SegmentList,
    index: &SegmentList,
    c: &Checkpoint,
    start_pos: u64,
    start_index: u64,
    scan: &mut Scan,
) -> Result<()> {
    if c.durable_next_index < start_index {
        return Err(corrupt(
            data,
            c.durable_pos,
            format!(
                "checkpoint's durable index {} is before the log start {start_index}",
                c.durable_next_index
            ),
        ));
    }
    // Start the walk at a segment base (an entry boundary) inside the window.
    let from = segment_base(
        c.durable_pos.saturating_sub(VERIFY_WINDOW),
        data.segment_size(),
    )
    .max(start_pos);
    let (mut pos, mut expect) = if from == start_pos {
        (start_pos, Some(start_index))
    } else {
        (from, None)
    };
    let mut last_term = 0;
    while pos < c.durable_pos {
        match inspect(data, pos) {
            Found::Entry(h) => {
                if expect.is_some_and(|e| e != h.index) {
                    return Err(corrupt(
                        data,
                        pos,
                        format!("entry holds index {}, expected {expect:?}", h.index),
                    ));
                }
                if index_record_mismatch(index, pos, &h) {
                    entry_index::write(
                        index,
                        &IndexRecord {
                            len: h.len,
                            pos,
                            index: h.index,
                            term: h.term,
                        },
                    )?;
                }
                expect = Some(h.index + 1);
                last_term = h.term;
                pos += u64::from(h.len);
            }
            Found::EndOfSegment => {
                pos = segment_base(pos, data.segment_size()) + data.segment_size();
            }
            Found::NoSegment => {
                return Err(corrupt(
                    data,
                    pos,
                    format!("segment missing below the durable point {}", c.durable_pos),
                ))
            }
            Found::Defect(d) => {
                return Err(corrupt(
                    data,
                    pos,
                    format!("{d} below the durable point {}", c.durable_pos),
                ))
            }
        }
    }
    if pos != c.durable_pos || expect.is_some_and(|e| e != c.durable_next_index) {
        return Err(corrupt(
            data,
            pos,
            format!(
                "checkpoint says entry {} starts at {}, the log disagrees",
                c.durable_next_index, c.durable_pos
            ),
        ));
    }
    scan.pos = c.durable_pos;
    scan.next = c.durable_next_index;
    scan.last_term = last_term;
    Ok(())
}

fn index_record_mismatch(index: &SegmentList, pos: u64, h: &EntryHeader) -> bool {
    entry_index::read(index, h.index)
        != Some(IndexRecord {
            len: h.len,
            pos,
            index: h.index,
            term: h.term,
        })
}

/// Whether a valid entry exists after the damaged one at `pos` (which should
/// have held `next`): then the damage is in the middle of the log.
fn valid_after(data: &SegmentList, index: &SegmentList, pos: u64, next: u64) -> bool {
    let is_later = |at: u64| matches!(inspect(data, at), Found::Entry(h) if h.index > next);
    // The damaged header may still give the length.
    if let Some(file) = data.find(pos) {
        let off = pos - file.base();
        let mut head = [0u8; HEADER_LEN];
        if file.read_into(off, &mut head) {
            if let Ok(h) = entry::decode_header(&head, file.len() - off) {
                let after = pos + u64::from(h.len);
                if is_later(after) {
                    return true;
                }
                if matches!(inspect(data, after), Found::EndOfSegment)
                    && is_later(segment_base(after, data.segment_size()) + data.segment_size())
                {
                    return true;
                }
            }
        }
    }
    // The entry index may know where later entries are.
    for i in next + 1..next + 64 {
        if let Some(r) = entry_index::read(index, i) {
            if r.pos > pos && is_later(r.pos) {
                return true;
            }
        }
    }
    // A later segment that starts with an entry.
    data.all()
        .iter()
        .filter(|s| s.base() > pos)
        .any(|s| is_later(s.base()))
}
