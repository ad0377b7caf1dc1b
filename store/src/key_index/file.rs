//! One key-index file: a 64-byte header, `slot_count` hash slots and
//! `max_entries` entries, all little-endian.
//!
//! ```text
//!  header   0 magic u32 "RMQK" | 4 version u8 | 5 reserved [3]
//!           8 slot_count u32 | 12 max_entries u32 | 16 entry_count u32
//!          20 begin_ts i64 | 28 end_ts i64 | 36 begin_pos u64 | 44 end_pos u64
//!          52 zero padding to 64
//!  slots    slot_count × u32: 1-based number of the newest entry of the slot
//!  entries  max_entries × 24: key_hash u64 | pos u64 | prev u32 | ts_delta u32
//! ```
//!
//! Every field is naturally aligned inside the entry area, so no field can be
//! torn across two pages by a crash: an entry is either whole, or some of its
//! fields read as zero. A real entry has a non-zero hash (see
//! [`super::key_hash`]) and a non-zero position.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::error::{Result, StoreError};
use crate::mapped::FileSystem;
use crate::mapped::MappedFile;

use super::KeyPut;

/// `b"RMQK"` read as a little-endian u32.
pub(super) const MAGIC: u32 = u32::from_le_bytes(*b"RMQK");
/// The only format version written so far.
pub(super) const VERSION: u8 = 1;
/// Header bytes before the slots.
pub(super) const HEADER_LEN: u64 = 64;
/// Bytes of a slot.
pub(super) const SLOT_LEN: u64 = 4;
/// Bytes of an entry.
pub(super) const ENTRY_LEN: u64 = 24;
/// Entry blocks are reserved this many bytes at a time.
const RESERVE_CHUNK: u64 = 64 << 10;
/// Entries read at a time when scanning a file.
const SCAN_ENTRIES: u64 = 4096;
/// Suffix of a file being created; such files are removed on open.
pub(super) const TMP_SUFFIX: &str = ".tmp";

const OFF_MAGIC: u64 = 0;
const OFF_VERSION: u64 = 4;
const OFF_SLOT_COUNT: u64 = 8;
const OFF_MAX_ENTRIES: u64 = 12;
const OFF_ENTRY_COUNT: u64 = 16;
const OFF_BEGIN_TS: u64 = 20;
const OFF_END_TS: u64 = 28;
const OFF_BEGIN_POS: u64 = 36;
const OFF_END_POS: u64 = 44;

/// The file name of the index file whose first message is at `pos`.
pub(super) fn file_name(pos: u64) -> String {
    format!("{pos:020}")
}

/// The length of a file of the given geometry.
pub(super) fn file_len(slot_count: u32, max_entries: u32) -> u64 {
    HEADER_LEN + u64::from(slot_count) * SLOT_LEN + u64::from(max_entries) * ENTRY_LEN
}

/// Seconds from `begin_ts` to `ts` (both milliseconds), clamped to a u32.
pub(super) fn ts_delta(begin_ts: i64, ts: i64) -> u32 {
    let ms = ts.saturating_sub(begin_ts).max(0);
    u32::try_from(ms / 1000).unwrap_or(u32::MAX)
}

/// One entry as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Entry {
    /// FNV-1a of the indexed key; never 0 for a real entry.
    pub hash: u64,
    /// Commitlog position of the message; never 0 for a real entry.
    pub pos: u64,
    /// 1-based number of the previous entry of the same slot, 0 for none.
    pub prev: u32,
    /// Seconds since the file's `begin_ts`, saturating.
    pub ts_delta: u32,
}

impl Entry {
    fn encode(&self) -> [u8; ENTRY_LEN as usize] {
        let mut b = [0u8; ENTRY_LEN as usize];
        b[0..8].copy_from_slice(&self.hash.to_le_bytes());
        b[8..16].copy_from_slice(&self.pos.to_le_bytes());
        b[16..20].copy_from_slice(&self.prev.to_le_bytes());
        b[20..24].copy_from_slice(&self.ts_delta.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Self {
        let mut e = Entry::default();
        if b.len() >= ENTRY_LEN as usize {
            e.hash = le_u64(&b[0..8]);
            e.pos = le_u64(&b[8..16]);
            e.prev = le_u32(&b[16..20]);
            e.ts_delta = le_u32(&b[20..24]);
        }
        e
    }

    /// Whether this looks like a whole entry written by `append`.
    fn is_plausible(&self) -> bool {
        self.hash != 0 && self.pos != 0
    }
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Header bytes from field offset `off` on.
fn at(h: &[u8], off: u64) -> &[u8] {
    &h[off as usize..]
}

/// Copies `bytes` into the header at field offset `off`.
fn set(h: &mut [u8], off: u64, bytes: &[u8]) {
    h[off as usize..off as usize + bytes.len()].copy_from_slice(bytes);
}

/// The header as read from disk.
struct Header {
    slot_count: u32,
    max_entries: u32,
    entry_count: u32,
    begin_ts: i64,
    end_ts: i64,
    begin_pos: u64,
}

/// One mapped index file and its in-memory state.
///
/// Concurrency: `append` is called by one writer at a time; it writes the
/// entry past the published count, then the slot under the index's slot lock,
/// then publishes the count. Readers read a slot under the same lock and then
/// follow entry numbers that were all written before that slot value, so they
/// never read bytes being written. Truncation, which rewrites published
/// bytes, runs only while the index excludes readers.
pub(super) struct IndexFile {
    map: MappedFile,
    slot_count: u32,
    max_entries: u32,
    begin_pos: u64,
    begin_ts: i64,
    /// Entries written and published (readers may follow them).
    count: AtomicU32,
    /// Position of the last entry (0 when there is none).
    end_pos: AtomicU64,
    /// Greatest timestamp put, milliseconds (an upper bound after truncation).
    end_ts: AtomicI64,
    /// Entries whose bytes and whose count in the header are durable.
    flushed: AtomicU32,
}

impl std::fmt::Debug for IndexFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexFile")
            .field("path", &self.map.path())
            .field("begin_pos", &self.begin_pos)
            .field("count", &self.count())
            .finish()
    }
}

impl IndexFile {
    /// Creates `<dir>/<begin_pos>` with an initialized, durable header.
    ///
    /// The file is made under a temporary name and renamed into place once its
    /// header is on disk, so a file with an index name always has a valid
    /// header, whatever the moment of a crash.
    pub(super) fn create(
        dir: &Path,
        slot_count: u32,
        max_entries: u32,
        begin_pos: u64,
        begin_ts: i64,
        fs: &FileSystem,
    ) -> Result<Self> {
        let name = file_name(begin_pos);
        let path = dir.join(&name);
        let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
        match std::fs::remove_file(&tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io(&tmp, "remove", e)),
        }
        let len = file_len(slot_count, max_entries);
        let entries_off = HEADER_LEN + u64::from(slot_count) * SLOT_LEN;
        {
            let map = MappedFile::create(&tmp, begin_pos, len, fs)?;
            let init = map.reserve(entries_off).and_then(|()| {
                let mut h = [0u8; HEADER_LEN as usize];
                set(&mut h, OFF_MAGIC, &MAGIC.to_le_bytes());
                set(&mut h, OFF_VERSION, &[VERSION]);
                set(&mut h, OFF_SLOT_COUNT, &slot_count.to_le_bytes());
                set(&mut h, OFF_MAX_ENTRIES, &max_entries.to_le_bytes());
                set(&mut h, OFF_BEGIN_TS, &begin_ts.to_le_bytes());
                set(&mut h, OFF_END_TS, &begin_ts.to_le_bytes());
                set(&mut h, OFF_BEGIN_POS, &begin_pos.to_le_bytes());
                set(&mut h, OFF_END_POS, &begin_pos.to_le_bytes());
                map.write(0, &h);
                map.flush_range(0, HEADER_LEN)
            });
            if let Err(e) = init {
                let _ = map.remove();
                return Err(e);
            }
        }
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(StoreError::io(&path, "rename", e));
        }
        crate::mapped::sync_dir(dir)?;
        let map = MappedFile::open(&path, begin_pos, entries_off, fs)?;
        Ok(Self {
            map,
            slot_count,
            max_entries,
            begin_pos,
            begin_ts,
            count: AtomicU32::new(0),
            end_pos: AtomicU64::new(0),
            end_ts: AtomicI64::new(begin_ts),
            flushed: AtomicU32::new(0),
        })
    }

    /// Maps an existing file and checks its header. The count is the header's
    /// (durable) count; call [`IndexFile::recover`] on the last file to find
    /// entries written after it.
    pub(super) fn open(path: &Path, base: u64, fs: &FileSystem) -> Result<Self> {
        let map = MappedFile::open(path, base, 0, fs)?;
        let corrupt = |offset: u64, reason: String| StoreError::Corrupt {
            path: path.to_owned(),
            offset,
            reason,
        };
        if map.len() < HEADER_LEN {
            return Err(corrupt(
                0,
                format!("file of {} bytes has no room for a header", map.len()),
            ));
        }
        let mut h = [0u8; HEADER_LEN as usize];
        map.read_into(0, &mut h);
        let magic = le_u32(at(&h, OFF_MAGIC));
        if magic != MAGIC {
            return Err(corrupt(
                OFF_MAGIC,
                format!("bad key-index magic {magic:#010x}"),
            ));
        }
        let version = h[OFF_VERSION as usize];
        if version != VERSION {
            return Err(corrupt(
                OFF_VERSION,
                format!("unknown key-index version {version}"),
            ));
        }
        let header = Header {
            slot_count: le_u32(at(&h, OFF_SLOT_COUNT)),
            max_entries: le_u32(at(&h, OFF_MAX_ENTRIES)),
            entry_count: le_u32(at(&h, OFF_ENTRY_COUNT)),
            begin_ts: le_u64(at(&h, OFF_BEGIN_TS)) as i64,
            end_ts: le_u64(at(&h, OFF_END_TS)) as i64,
            begin_pos: le_u64(at(&h, OFF_BEGIN_POS)),
        };
        if header.slot_count == 0 {
            return Err(corrupt(OFF_SLOT_COUNT, "slot count is 0".into()));
        }
        if header.max_entries == 0 {
            return Err(corrupt(OFF_MAX_ENTRIES, "entry capacity is 0".into()));
        }
        let expected = file_len(header.slot_count, header.max_entries);
        if map.len() != expected {
            return Err(corrupt(
                OFF_SLOT_COUNT,
                format!(
                    "file is {} bytes but its header ({} slots, {} entries) needs {expected}",
                    map.len(),
                    header.slot_count,
                    header.max_entries
                ),
            ));
        }
        if header.entry_count > header.max_entries {
            return Err(corrupt(
                OFF_ENTRY_COUNT,
                format!(
                    "entry count {} exceeds the capacity {}",
                    header.entry_count, header.max_entries
                ),
            ));
        }
        if header.begin_pos != base {
            return Err(corrupt(
                OFF_BEGIN_POS,
                format!(
                    "header begins at position {} but the file is named {base}",
                    header.begin_pos
                ),
            ));
        }
        let file = Self {
            map,
            slot_count: header.slot_count,
            max_entries: header.max_entries,
            begin_pos: header.begin_pos,
            begin_ts: header.begin_ts,
            count: AtomicU32::new(header.entry_count),
            end_pos: AtomicU64::new(0),
            end_ts: AtomicI64::new(header.end_ts.max(header.begin_ts)),
            flushed: AtomicU32::new(header.entry_count),
        };
        if header.entry_count > 0 {
            let last = file.entry(header.entry_count);
            if !last.is_plausible() || last.pos < file.begin_pos {
                return Err(corrupt(
                    file.entry_offset(header.entry_count - 1),
                    format!("flushed entry {} is missing", header.entry_count),
                ));
            }
            file.end_pos.store(last.pos, Ordering::Relaxed);
        }
        Ok(file)
    }

    /// Finds the entries written after the last flush, zeroes whatever lies
    /// past them and makes the slots agree with exactly those entries; then
    /// makes the result durable. Only for the last file, before it is shared.
    pub(super) fn recover(&self) -> Result<()> {
        let durable = self.count();
        let mut prev_pos = match durable {
            0 => self.begin_pos,
            n => self.entry(n).pos,
        };
        let mut n = durable;
        while n < self.max_entries {
            let e = self.entry(n + 1);
            if !e.is_plausible() || e.pos < prev_pos {
                break;
            }
            prev_pos = e.pos;
            n += 1;
        }
        let zeroed = self.zero_entries_from(n)?;
        let rebuild = n > durable || self.any_slot_above(durable);
        let mut end_ts = self.end_ts.load(Ordering::Relaxed);
        if rebuild {
            let max_delta = self.rebuild_slots(n);
            if let Some(max_delta) = max_delta {
                let upper = self
                    .begin_ts
                    .saturating_add(i64::from(max_delta).saturating_mul(1000))
                    .saturating_add(999);
                end_ts = end_ts.max(upper);
            }
        }
        self.count.store(n, Ordering::Relaxed);
        self.end_pos.store(
            if n == 0 { 0 } else { self.entry(n).pos },
            Ordering::Relaxed,
        );
        self.end_ts.store(end_ts, Ordering::Relaxed);
        if zeroed || rebuild || n != durable {
            let len = self.map.len();
            self.map.flush_range(HEADER_LEN, len - HEADER_LEN)?;
            self.write_header_state(n)?;
            self.map
                .release_pages(self.entry_offset(n), len - self.entry_offset(n));
        }
        self.flushed.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// Zeroes every non-zero entry at index `from` (0-based) or later. Only the
    /// parts of the file that hold data are read when the file system can say
    /// which those are. Returns whether anything was zeroed.
    fn zero_entries_from(&self, from: u32) -> Result<bool> {
        let start = self.entry_offset(from);
        let len = self.map.len();
        if start >= len {
            return Ok(false);
        }
        let path = self.map.path();
        let probe = File::open(path).map_err(|e| StoreError::io(path, "open", e))?;
        let mut zeroed = false;
        let mut off = start;
        while off < len {
            let Some(data) = next_data(&probe, off, len) else {
                break;
            };
            let hole = next_hole(&probe, data, len).max(data + 1);
            let first = (data.max(start) - self.entries_start()) / ENTRY_LEN;
            let last = (hole.min(len) - self.entries_start()).div_ceil(ENTRY_LEN);
            zeroed |= self.zero_nonzero_entries(first, last.min(u64::from(self.max_entries)));
            off = hole;
        }
        Ok(zeroed)
    }

    /// Zeroes the non-zero entries with 0-based indexes in `[first, last)`.
    fn zero_nonzero_entries(&self, first: u64, last: u64) -> bool {
        let mut zeroed = false;
        let mut buf = vec![0u8; (SCAN_ENTRIES * ENTRY_LEN) as usize];
        let mut i = first;
        while i < last {
            let k = (last - i).min(SCAN_ENTRIES);
            let bytes = &mut buf[..(k * ENTRY_LEN) as usize];
            let off = self.entries_start() + i * ENTRY_LEN;
            self.map.read_into(off, bytes);
            if bytes.iter().any(|&b| b != 0) {
                for (j, e) in bytes.chunks_exact(ENTRY_LEN as usize).enumerate() {
                    if e.iter().any(|&b| b != 0) {
                        // The entry's blocks hold data, so this cannot fault.
                        self.map.zero(off + j as u64 * ENTRY_LEN, ENTRY_LEN);
                        zeroed = true;
                    }
                }
            }
            i += k;
        }
        zeroed
    }

    /// Whether some slot names an entry past `count`.
    fn any_slot_above(&self, count: u32) -> bool {
        let mut buf = vec![0u8; (SCAN_ENTRIES * SLOT_LEN) as usize];
        let mut s = 0u64;
        let slots = u64::from(self.slot_count);
        while s < slots {
            let k = (slots - s).min(SCAN_ENTRIES);
            let bytes = &mut buf[..(k * SLOT_LEN) as usize];
            self.map.read_into(HEADER_LEN + s * SLOT_LEN, bytes);
            if bytes
                .chunks_exact(SLOT_LEN as usize)
                .any(|v| le_u32(v) > count)
            {
                return true;
            }
            s += k;
        }
        false
    }

    /// Recomputes every slot and every entry's `prev` from entries `[0, n)`,
    /// writing only what differs. Returns the greatest `ts_delta` seen.
    fn rebuild_slots(&self, n: u32) -> Option<u32> {
        let mut slots = vec![0u32; self.slot_count as usize];
        let mut max_delta = None;
        let mut buf = vec![0u8; (SCAN_ENTRIES * ENTRY_LEN) as usize];
        let mut i = 0u64;
        let n64 = u64::from(n);
        while i < n64 {
            let k = (n64 - i).min(SCAN_ENTRIES);
            let bytes = &mut buf[..(k * ENTRY_LEN) as usize];
            let off = self.entries_start() + i * ENTRY_LEN;
            self.map.read_into(off, bytes);
            for (j, raw) in bytes.chunks_exact(ENTRY_LEN as usize).enumerate() {
                let e = Entry::decode(raw);
                let slot = self.slot_index(e.hash);
                let number = (i + j as u64 + 1) as u32;
                if e.prev != slots[slot] {
                    self.map
                        .write(off + j as u64 * ENTRY_LEN + 16, &slots[slot].to_le_bytes());
                }
                slots[slot] = number;
                max_delta = max_delta.max(Some(e.ts_delta));
            }
            i += k;
        }
        let mut disk = vec![0u8; (SCAN_ENTRIES * SLOT_LEN) as usize];
        for (c, chunk) in slots.chunks(SCAN_ENTRIES as usize).enumerate() {
            let off = HEADER_LEN + c as u64 * SCAN_ENTRIES * SLOT_LEN;
            let bytes = &mut disk[..chunk.len() * SLOT_LEN as usize];
            self.map.read_into(off, bytes);
            for (j, (want, have)) in chunk.iter().zip(bytes.chunks_exact(4)).enumerate() {
                if *want != le_u32(have) {
                    self.map
                        .write(off + j as u64 * SLOT_LEN, &want.to_le_bytes());
                }
            }
        }
        max_delta
    }

    /// Writes the header's count and end fields for `count` entries and makes
    /// the header durable. The caller has made those entries durable.
    fn write_header_state(&self, count: u32) -> Result<()> {
        let end_pos = match count {
            0 => self.begin_pos,
            n => self.entry(n).pos,
        };
        let end_ts = self.end_ts.load(Ordering::Relaxed);
        self.map.write(OFF_ENTRY_COUNT, &count.to_le_bytes());
        self.map.write(OFF_END_TS, &end_ts.to_le_bytes());
        self.map.write(OFF_END_POS, &end_pos.to_le_bytes());
        self.map.flush_range(0, HEADER_LEN)
    }

    /// Appends `puts` (more than [`IndexFile::room`] is an error) and links
    /// each into its slot's chain. Reserves blocks ahead in chunks
    /// (`reserved` is how far the caller knows they are reserved); on
    /// failure nothing is written. The caller is the only writer.
    pub(super) fn append_many(
        &self,
        slot_lock: &RwLock<()>,
        reserved: &mut u64,
        puts: &[KeyPut],
    ) -> Result<()> {
        let Some(last) = puts.last() else {
            return Ok(());
        };
        let n = self.count.load(Ordering::Relaxed);
        let count = u32::try_from(puts.len())
            .ok()
            .and_then(|k| n.checked_add(k))
            .filter(|c| *c <= self.max_entries)
            .ok_or_else(|| {
                StoreError::Config(format!(
                    "key index file {} has room for {} more entries, not {}",
                    self.path().display(),
                    self.room(),
                    puts.len()
                ))
            })?;
        let end = self.entry_offset(count);
        if end > *reserved {
            let upto = end
                .div_ceil(RESERVE_CHUNK)
                .saturating_mul(RESERVE_CHUNK)
                .min(self.map.len());
            self.map.reserve(upto)?;
            *reserved = upto;
        }
        // The loop below then finds the slots in cache.
        self.touch_slots(puts.iter().map(|p| p.hash));
        let mut max_ts = i64::MIN;
        {
            // Only this writer ever writes slots outside truncation, so their
            // values cannot change under us; readers take the lock to read.
            let _slots = slot_lock.write();
            for (number, p) in (n + 1..).zip(puts) {
                let slot_off = self.slot_offset(p.hash);
                let mut prev = [0u8; 4];
                self.map.read_into(slot_off, &mut prev);
                let entry = Entry {
                    hash: p.hash,
                    pos: p.pos,
                    prev: u32::from_le_bytes(prev),
                    ts_delta: ts_delta(self.begin_ts, p.ts),
                };
                // The entry is whole before its slot names it.
                self.map
                    .write(self.entry_offset(number - 1), &entry.encode());
                self.map.write(slot_off, &number.to_le_bytes());
                max_ts = max_ts.max(p.ts);
            }
        }
        self.end_pos.store(last.pos, Ordering::Relaxed);
        self.end_ts.fetch_max(max_ts, Ordering::Relaxed);
        self.count.store(count, Ordering::Release);
        Ok(())
    }

    /// Makes every published entry durable, then the header's count. The
    /// caller holds the index's flush lock.
    pub(super) fn flush(&self) -> Result<()> {
        let count = self.count.load(Ordering::Acquire);
        let flushed = self.flushed.load(Ordering::Relaxed);
        if count == flushed {
            return Ok(());
        }
        let from = self.entry_offset(flushed.min(count));
        self.map
            .flush_range(from, self.entry_offset(count) - from)?;
        self.map
            .flush_range(HEADER_LEN, u64::from(self.slot_count) * SLOT_LEN)?;
        self.write_header_state(count)?;
        self.flushed.store(count, Ordering::Relaxed);
        Ok(())
    }

    /// Removes the entries whose position is `pos` or more, newest first,
    /// giving each slot back the removed entry's `prev`, and makes the result
    /// durable. The caller excludes the writer, flushes and readers. Returns
    /// the number of entries left.
    pub(super) fn truncate_from(&self, pos: u64) -> Result<u32> {
        let old = self.count();
        let mut n = old;
        while n > 0 {
            let e = self.entry(n);
            if e.pos < pos {
                break;
            }
            let slot_off = self.slot_offset(e.hash);
            self.map.write(slot_off, &e.prev.to_le_bytes());
            self.map.zero(self.entry_offset(n - 1), ENTRY_LEN);
            n -= 1;
        }
        if n == old {
            return Ok(n);
        }
        self.count.store(n, Ordering::Release);
        self.end_pos.store(
            if n == 0 { 0 } else { self.entry(n).pos },
            Ordering::Relaxed,
        );
        let from = self.entry_offset(n);
        self.map.flush_range(from, self.entry_offset(old) - from)?;
        self.map
            .flush_range(HEADER_LEN, u64::from(self.slot_count) * SLOT_LEN)?;
        self.write_header_state(n)?;
        self.flushed.store(n, Ordering::Relaxed);
        Ok(n)
    }

    /// Appends to `out` the positions of the entries with `hash`, newest
    /// first, until `out` holds `max`; skips a position equal to the last one
    /// in `out`. With `range`, only entries whose second may fall in
    /// `[begin_ms, end_ms]`.
    pub(super) fn lookup(
        &self,
        slot_lock: &RwLock<()>,
        hash: u64,
        range: Option<(i64, i64)>,
        max: usize,
        out: &mut Vec<u64>,
    ) {
        let mut number = {
            let _slots = slot_lock.read();
            self.read_slot(hash)
        };
        while number != 0 && out.len() < max {
            let e = self.entry(number);
            if e.hash == hash && self.in_range(&e, range) && out.last() != Some(&e.pos) {
                out.push(e.pos);
            }
            if e.prev >= number {
                // Chains only go back; anything else is damage. Stop.
                break;
            }
            number = e.prev;
        }
    }

    fn in_range(&self, e: &Entry, range: Option<(i64, i64)>) -> bool {
        let Some((begin_ms, end_ms)) = range else {
            return true;
        };
        let low = self
            .begin_ts
            .saturating_add(i64::from(e.ts_delta).saturating_mul(1000));
        low <= end_ms && low.saturating_add(999) >= begin_ms
    }

    /// Whether the file may hold entries stored in `[begin_ms, end_ms]`.
    pub(super) fn overlaps(&self, begin_ms: i64, end_ms: i64) -> bool {
        self.begin_ts <= end_ms && self.end_ts.load(Ordering::Relaxed) >= begin_ms
    }

    /// Removes the file from disk (its mapping lives on while shared).
    pub(super) fn remove(&self) -> Result<()> {
        match self.map.remove() {
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(())
            }
            other => other,
        }
    }

    /// The entry with 1-based number `number` (must be in the file).
    pub(super) fn entry(&self, number: u32) -> Entry {
        let mut b = [0u8; ENTRY_LEN as usize];
        if number == 0 || !self.map.read_into(self.entry_offset(number - 1), &mut b) {
            return Entry::default();
        }
        Entry::decode(&b)
    }

    /// Reads the slots of `hashes` and drops the values: independent loads,
    /// so their cache misses overlap, where reading each slot just before
    /// its use (behind locks and writes) waits for one miss at a time.
    pub(super) fn touch_slots(&self, hashes: impl IntoIterator<Item = u64>) {
        let mut any = 0u32;
        for h in hashes {
            any |= self.read_slot(h);
        }
        std::hint::black_box(any);
    }

    fn read_slot(&self, hash: u64) -> u32 {
        let mut b = [0u8; 4];
        self.map.read_into(self.slot_offset(hash), &mut b);
        u32::from_le_bytes(b)
    }

    fn slot_index(&self, hash: u64) -> usize {
        (hash % u64::from(self.slot_count)) as usize
    }

    fn slot_offset(&self, hash: u64) -> u64 {
        HEADER_LEN + self.slot_index(hash) as u64 * SLOT_LEN
    }

    fn entries_start(&self) -> u64 {
        HEADER_LEN + u64::from(self.slot_count) * SLOT_LEN
    }

    /// Byte offset of the entry with 0-based index `index`.
    pub(super) fn entry_offset(&self, index: u32) -> u64 {
        self.entries_start() + u64::from(index) * ENTRY_LEN
    }

    pub(super) fn path(&self) -> &Path {
        self.map.path()
    }

    pub(super) fn begin_pos(&self) -> u64 {
        self.begin_pos
    }

    pub(super) fn count(&self) -> u32 {
        self.count.load(Ordering::Acquire)
    }

    pub(super) fn is_full(&self) -> bool {
        self.count() >= self.max_entries
    }

    /// Entries that still fit.
    pub(super) fn room(&self) -> usize {
        self.max_entries.saturating_sub(self.count()) as usize
    }

    /// Position of the last entry, or None if the file has none.
    pub(super) fn end_pos(&self) -> Option<u64> {
        match self.end_pos.load(Ordering::Acquire) {
            0 => None,
            p => Some(p),
        }
    }

    pub(super) fn needs_flush(&self) -> bool {
        self.flushed.load(Ordering::Relaxed) != self.count()
    }
}

/// The first offset at or after `from` that may hold data, or None if the
/// rest of the file is a hole. Where the file system cannot tell, everything
/// may hold data.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn next_data(file: &File, from: u64, len: u64) -> Option<u64> {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Data(from)) {
        Ok(off) if off >= len => None,
        Ok(off) => Some(off.max(from)),
        Err(rustix::io::Errno::NXIO) => None,
        Err(_) => Some(from),
    }
}

/// The first offset at or after `from` that is in a hole (or the end).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn next_hole(file: &File, from: u64, len: u64) -> u64 {
    match rustix::fs::seek(file, rustix::fs::SeekFrom::Hole(from)) {
        Ok(off) => off.max(from).min(len),
        Err(_) => len,
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn next_data(_file: &File, from: u64, len: u64) -> Option<u64> {
    (from < len).then_some(from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn next_hole(_file: &File, _from: u64, len: u64) -> u64 {
    len
}
