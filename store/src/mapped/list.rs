//! A directory of equal-sized mapped files named by their first byte's
//! global position.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::{FileSystem, MappedFile};
use crate::error::{Result, StoreError};

/// The base of the segment of `size` bytes that holds global position `pos`.
pub fn segment_base(pos: u64, size: u64) -> u64 {
    pos - pos % size
}

/// The file name of a segment: its base, 20 digits, zero-padded.
pub fn segment_file_name(base: u64) -> String {
    format!("{base:020}")
}

/// Whether `name` is a segment's: 20 decimal digits.
fn is_segment_name(name: &str) -> bool {
    name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit())
}

/// A segment made ahead of need is named `<base>.spare` until it is taken.
const SPARE_SUFFIX: &str = ".spare";

/// Equal-sized mapped files in one directory, ordered by base. Gaps are
/// allowed (a consume queue may start past zero after retention).
#[derive(Debug)]
pub struct SegmentList {
    dir: PathBuf,
    segment_size: u64,
    fs: FileSystem,
    segments: RwLock<Vec<Arc<MappedFile>>>,
    /// The segment being written is synced often (SYNC_FLUSH): keep
    /// readahead off it, see [`MappedFile::advise_no_readahead`].
    no_readahead_while_writing: bool,
    /// A segment was created since the directory was last synced: its name
    /// is not durable yet. [`SegmentList::sync_dir_if_needed`] makes it so;
    /// whoever declares data in it durable calls that first.
    dir_unsynced: AtomicBool,
    /// The next segment, made ahead of need by [`SegmentList::prepare_next`].
    spare: Mutex<Option<MappedFile>>,
}

impl SegmentList {
    /// Opens (creating if needed) the directory and maps every segment in it.
    /// Files whose names are not 20 digits are left alone; a segment of the
    /// wrong size is an error naming it.
    pub fn open(dir: &Path, segment_size: u64, fs: &FileSystem) -> Result<Self> {
        if segment_size == 0 {
            return Err(StoreError::BadConfig {
                key: "segment size",
                value: format!("0 (for {})", dir.display()),
                why: "it must be positive",
            });
        }
        fs.create_dir_all(dir)
            .map_err(|e| StoreError::io(dir, "create_dir_all", e))?;
        let mut bases = Vec::new();
        let listed = fs
            .list_dir(dir)
            .map_err(|e| StoreError::io(dir, "read_dir", e))?;
        for (name, path) in listed {
            let name = name.as_str();
            if name.strip_suffix(SPARE_SUFFIX).is_some_and(is_segment_name) {
                // Made ahead of need before a stop and never used: it holds
                // nothing.
                fs.remove_file(&path)
                    .map_err(|e| StoreError::io(&path, "remove", e))?;
                continue;
            }
            if is_segment_name(name) {
                if let Ok(base) = name.parse::<u64>() {
                    bases.push(base);
                }
            }
        }
        bases.sort_unstable();
        let mut segments = Vec::with_capacity(bases.len());
        let last_base = bases.last().copied();
        for base in bases {
            let path = dir.join(segment_file_name(base));
            if base % segment_size != 0 {
                return Err(StoreError::Corrupt {
                    path,
                    offset: 0,
                    reason: format!(
                        "segment name is not a multiple of the segment size {segment_size}"
                    ),
                });
            }
            if Some(base) == last_base {
                extend_short_last(fs, &path, segment_size)?;
            }
            let file = MappedFile::open(&path, base, 0, fs)?;
            if file.len() != segment_size {
                return Err(StoreError::Corrupt {
                    path,
                    offset: 0,
                    reason: format!(
                        "segment is {} bytes, expected {segment_size}; was the segment size changed? it must stay as the store was created",
                        file.len()
                    ),
                });
            }
            segments.push(Arc::new(file));
        }
        Ok(Self {
            dir: dir.to_owned(),
            segment_size,
            fs: fs.clone(),
            segments: RwLock::new(segments),
            no_readahead_while_writing: false,
            dir_unsynced: AtomicBool::new(false),
            spare: Mutex::new(None),
        })
    }

    /// Keeps readahead off the segment being written. It then faults in
    /// single pages rather than large folios: each sync writes back only
    /// what changed (SYNC_FLUSH, 64 writers: 46,000 -> 185,000 msg/s), and a
    /// leader reading back what it just wrote does not zero-fill pages
    /// ahead of the data (256 writers in a group: about +15%). For a
    /// standalone store written through the mapping and flushed in the
    /// background, large folios are faster (fewer faults), so this is off
    /// by default.
    pub fn no_readahead_while_writing(mut self) -> Self {
        self.no_readahead_while_writing = true;
        if let Some(last) = self.segments.read().last() {
            last.advise_no_readahead();
        }
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size of every segment.
    pub fn segment_size(&self) -> u64 {
        self.segment_size
    }

    /// The segment holding `pos`, if it exists.
    pub fn find(&self, pos: u64) -> Option<Arc<MappedFile>> {
        let base = segment_base(pos, self.segment_size);
        let segments = self.segments.read();
        segments
            .binary_search_by_key(&base, |s| s.base())
            .ok()
            .map(|i| Arc::clone(&segments[i]))
    }

    /// The first segment.
    pub fn first(&self) -> Option<Arc<MappedFile>> {
        self.segments.read().first().cloned()
    }

    /// The last segment.
    pub fn last(&self) -> Option<Arc<MappedFile>> {
        self.segments.read().last().cloned()
    }

    /// A snapshot of the list.
    pub fn all(&self) -> Vec<Arc<MappedFile>> {
        self.segments.read().clone()
    }

    /// How many segments there are.
    pub fn count(&self) -> usize {
        self.segments.read().len()
    }

    /// The segment holding `pos`, created if missing. Only the last position
    /// onward may be created: the list never grows in the middle. A
    /// segment made ahead by [`SegmentList::prepare_next`] is taken if it
    /// is the one wanted. Either way the directory is not synced here (a
    /// writer would wait on the device): see
    /// [`SegmentList::sync_dir_if_needed`].
    pub fn find_or_create(&self, pos: u64) -> Result<Arc<MappedFile>> {
        if let Some(found) = self.find(pos) {
            return Ok(found);
        }
        let base = segment_base(pos, self.segment_size);
        let mut segments = self.segments.write();
        if let Some(last) = segments.last() {
            if last.base() >= base {
                return Err(StoreError::SegmentOutOfOrder {
                    dir: self.dir.clone(),
                    base,
                    last: last.base(),
                });
            }
        }
        let path = self.dir.join(segment_file_name(base));
        let spare = self.spare.lock().take();
        let file = match spare {
            Some(mut spare) if spare.base() == base => {
                spare.rename_to(&path)?;
                spare
            }
            other => {
                if let Some(stale) = other {
                    remove_spare(&stale);
                }
                MappedFile::create(&path, base, self.segment_size, &self.fs)?
            }
        };
        if self.no_readahead_while_writing {
            file.advise_no_readahead();
            if let Some(previous) = segments.last() {
                previous.advise_normal();
            }
        }
        self.dir_unsynced.store(true, Ordering::Release);
        let file = Arc::new(file);
        segments.push(Arc::clone(&file));
        Ok(file)
    }

    /// Makes the segment after the last one ahead of need, under a spare
    /// name, when `pos` (the write position) is past the middle of the last
    /// segment; [`SegmentList::find_or_create`] then only renames it. This
    /// is RocketMQ's ahead-of-time allocation of the next mapped file: the
    /// creation, block reservation and zero-length mapping happen here, on
    /// a background thread, instead of stalling the writer at the roll.
    /// Returns whether a spare was made.
    pub fn prepare_next(&self, pos: u64) -> Result<bool> {
        let Some(last) = self.last() else {
            return Ok(false);
        };
        if pos < last.base() + self.segment_size / 2 {
            return Ok(false);
        }
        let base = last.base() + self.segment_size;
        let mut spare = self.spare.lock();
        match spare.as_ref() {
            Some(s) if s.base() == base => return Ok(false),
            Some(s) => {
                remove_spare(s);
                *spare = None;
            }
            None => {}
        }
        let path = self
            .dir
            .join(format!("{}{SPARE_SUFFIX}", segment_file_name(base)));
        // A spare left by an earlier failed attempt.
        let _ = self.fs.remove_file(&path);
        let file = MappedFile::create(&path, base, self.segment_size, &self.fs)?;
        *spare = Some(file);
        Ok(true)
    }

    /// Syncs the directory if a segment was created since it last was, so
    /// that the segments' names survive a crash. Called before data in a
    /// new segment is declared durable.
    pub fn sync_dir_if_needed(&self) -> Result<()> {
        if self.dir_unsynced.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.sync_dir() {
                self.dir_unsynced.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Drops the spare, if any (the list is cut or destroyed).
    fn drop_spare(&self) {
        if let Some(s) = self.spare.lock().take() {
            remove_spare(&s);
        }
    }

    /// Removes every segment that ends at or before `pos`. Returns how many.
    pub fn remove_before(&self, pos: u64) -> Result<usize> {
        let doomed: Vec<_> = {
            let mut segments = self.segments.write();
            let keep_from = segments
                .iter()
                .position(|s| s.base() + s.len() > pos)
                .unwrap_or(segments.len());
            segments.drain(..keep_from).collect()
        };
        self.remove_files(&doomed)?;
        Ok(doomed.len())
    }

    /// Removes every segment that starts at or after `pos`.
    pub fn remove_from(&self, pos: u64) -> Result<usize> {
        let doomed: Vec<_> = {
            let mut segments = self.segments.write();
            let keep = segments.iter().take_while(|s| s.base() < pos).count();
            segments.drain(keep..).collect()
        };
        // The spare follows the old last segment, which may be gone.
        self.drop_spare();
        self.remove_files(&doomed)?;
        Ok(doomed.len())
    }

    /// Removes every segment and the directory itself.
    pub fn destroy(&self) -> Result<()> {
        let doomed: Vec<_> = self.segments.write().drain(..).collect();
        self.drop_spare();
        self.remove_files(&doomed)?;
        match self.fs.remove_dir(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            // Something else lives there: leave the directory.
            Err(_) => Ok(()),
        }
    }

    fn remove_files(&self, doomed: &[Arc<MappedFile>]) -> Result<()> {
        if doomed.is_empty() {
            return Ok(());
        }
        for file in doomed {
            match file.remove() {
                Ok(()) => {}
                Err(StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<()> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| StoreError::io(&self.dir, "fsync dir", e))
    }
}

/// Removes a spare's file. Best effort: a leftover is removed at the next
/// open, and nothing refers to it.
fn remove_spare(spare: &MappedFile) {
    if let Err(e) = spare.remove() {
        tracing::warn!(error = %e, "could not remove a spare segment");
    }
}

/// Makes a directory's entries (files created, renamed or removed) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let handle = std::fs::File::open(dir).map_err(|e| StoreError::io(dir, "open dir", e))?;
    handle
        .sync_all()
        .map_err(|e| StoreError::io(dir, "fsync dir", e))
}

/// Replaces `path` with `bytes` atomically and durably: write a temporary
/// file, fsync it, rename it over `path`, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    // A full disk is not a broken one: the caller may try again later.
    let full_or_io = |e: std::io::Error, op| {
        if e.kind() == std::io::ErrorKind::StorageFull {
            StoreError::NoSpace {
                path: path.to_owned(),
            }
        } else {
            StoreError::io(&tmp, op, e)
        }
    };
    let mut f = std::fs::File::create(&tmp).map_err(|e| full_or_io(e, "create"))?;
    f.write_all(bytes).map_err(|e| full_or_io(e, "write"))?;
    f.sync_all().map_err(|e| StoreError::io(&tmp, "fsync", e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| StoreError::io(path, "rename", e))?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// A last segment cut short (a copy gone wrong, a file system that lost the
/// end of it) gets its length back with zeros: what is missing is a torn
/// tail, which recovery then cuts cleanly.
fn extend_short_last(fs: &FileSystem, path: &Path, segment_size: u64) -> Result<()> {
    let len = fs
        .file_len(path)
        .map_err(|e| StoreError::io(path, "stat", e))?;
    if len < segment_size {
        tracing::warn!(path = %path.display(), len, segment_size, "last segment is short; extending it with zeros");
        fs.extend_file(path, segment_size)
            .map_err(|e| StoreError::io(path, "set_len", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    const SEG: u64 = 64 * 1024;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn spare_name(base: u64) -> String {
        format!("{}{SPARE_SUFFIX}", segment_file_name(base))
    }

    #[test]
    fn the_next_segment_is_made_ahead_and_taken_at_the_roll() {
        let dir = tempfile::tempdir().unwrap();
        let list = SegmentList::open(dir.path(), SEG, &FileSystem::disk()).unwrap();
        assert!(!list.prepare_next(0).unwrap(), "no segment yet to follow");
        list.find_or_create(0).unwrap();
        assert!(
            !list.prepare_next(SEG / 2 - 1).unwrap(),
            "not past the middle"
        );
        assert!(list.prepare_next(SEG / 2).unwrap());
        assert!(!list.prepare_next(SEG - 1).unwrap(), "made once");
        assert_eq!(
            names(dir.path()),
            [segment_file_name(0), spare_name(SEG)],
            "the spare is not a segment yet"
        );
        assert_eq!(list.count(), 1);
        let inode = std::fs::metadata(dir.path().join(spare_name(SEG)))
            .unwrap()
            .ino();

        let next = list.find_or_create(SEG + 10).unwrap();
        assert_eq!(next.base(), SEG);
        assert_eq!(next.path(), dir.path().join(segment_file_name(SEG)));
        assert_eq!(
            std::fs::metadata(next.path()).unwrap().ino(),
            inode,
            "the spare itself"
        );
        assert_eq!(
            names(dir.path()),
            [segment_file_name(0), segment_file_name(SEG)]
        );
        next.write(10, b"after the roll");
        let mut back = [0u8; 14];
        assert!(next.read_into(10, &mut back));
        assert_eq!(&back, b"after the roll");
    }

    #[test]
    fn a_spare_left_behind_is_removed_at_open_and_a_cut_drops_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let list = SegmentList::open(dir.path(), SEG, &FileSystem::disk()).unwrap();
            list.find_or_create(0).unwrap();
            assert!(list.prepare_next(SEG - 1).unwrap());
        }
        let list = SegmentList::open(dir.path(), SEG, &FileSystem::disk()).unwrap();
        assert_eq!(names(dir.path()), [segment_file_name(0)]);
        assert_eq!(list.count(), 1);

        assert!(list.prepare_next(SEG - 1).unwrap());
        list.remove_from(0).unwrap();
        assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        // The list starts again wherever it is asked to.
        let again = list.find_or_create(5 * SEG).unwrap();
        assert_eq!(again.base(), 5 * SEG);
    }

    #[test]
    fn a_spare_for_another_position_is_not_taken() {
        let dir = tempfile::tempdir().unwrap();
        let list = SegmentList::open(dir.path(), SEG, &FileSystem::disk()).unwrap();
        list.find_or_create(0).unwrap();
        assert!(list.prepare_next(SEG - 1).unwrap());
        // The log was cut inside segment 0, then restarted further on.
        list.remove_before(SEG).unwrap();
        let far = list.find_or_create(3 * SEG).unwrap();
        assert_eq!(far.base(), 3 * SEG);
        assert_eq!(names(dir.path()), [segment_file_name(3 * SEG)]);
    }

    #[test]
    fn created_segments_leave_the_directory_to_be_synced() {
        let dir = tempfile::tempdir().unwrap();
        let list = SegmentList::open(dir.path(), SEG, &FileSystem::disk()).unwrap();
        assert!(!list.dir_unsynced.load(Ordering::Acquire));
        list.find_or_create(0).unwrap();
        assert!(list.dir_unsynced.load(Ordering::Acquire));
        list.sync_dir_if_needed().unwrap();
        assert!(!list.dir_unsynced.load(Ordering::Acquire));
        // flush_span syncs it before the data.
        list.find_or_create(SEG).unwrap();
        list.find(SEG).unwrap().write(0, b"x");
        crate::commitlog::flush_span(&list, SEG, SEG + 1).unwrap();
        assert!(!list.dir_unsynced.load(Ordering::Acquire));
    }
}
