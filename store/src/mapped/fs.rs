//! The seam under the mapped files: what the store asks of a file system.
//!
//! ```text
//!  MappedFile / SegmentList   (reservation marks, error mapping, naming)
//!            │ SegmentFile (one file's bytes)   FileSystem (names, dirs)
//!            ▼
//!   Backing::Disk: mmap + fallocate + msync     Backing::Memory (tests only)
//! ```
//!
//! Writers and readers copy bytes through a pointer into the file's memory
//! (the mapping), so the hot path is a `memcpy` on either backing; only
//! reservations, syncs and directory changes go through the seam, and they
//! dispatch over one enum, not a trait object. The in-memory backing exists
//! with the `failpoints` feature only: it can fail a write or a sync, refuse
//! a reservation, tear a write, and lose what was not synced (see
//! [`super::mem`]).

use std::io;
use std::path::{Path, PathBuf};
#[cfg(feature = "failpoints")]
use std::sync::Arc;

use super::disk_file::DiskFile;
#[cfg(feature = "failpoints")]
use super::mem::{MemFile, MemFs};
#[cfg(feature = "failpoints")]
use crate::fault::Faults;

/// How a file will be read next (advice only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No readahead around faults: the file is being written.
    Random,
    /// The kernel's default readahead.
    Normal,
}

/// The operations one fixed-size segment file offers the store.
///
/// The file's bytes live at [`SegmentFile::as_ptr`] for [`SegmentFile::len`]
/// bytes as long as the file value lives; writes and reads through that
/// pointer are the caller's business (see [`super::MappedFile`]'s
/// concurrency contract). Everything that may fail returns an
/// [`io::Error`]: a reservation on a full disk fails with
/// [`io::ErrorKind::StorageFull`], one the file system cannot do with
/// [`io::ErrorKind::Unsupported`].
pub trait SegmentFile: std::fmt::Debug + Send + Sync {
    /// The file's length, fixed when it was made.
    fn len(&self) -> u64;

    /// Whether the file has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first byte of the file's memory.
    fn as_ptr(&self) -> *mut u8;

    /// Reserves the disk blocks of `[pos, pos + len)`.
    fn allocate(&self, pos: u64, len: u64) -> io::Result<()>;

    /// Writes `parts` one after another at `pos` through the file rather
    /// than its memory; all of it, or an error.
    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()>;

    /// Fills `out` from the file (not its memory) at `pos`; false if the
    /// file ends first.
    fn read_at(&self, pos: u64, out: &mut [u8]) -> io::Result<bool>;

    /// Makes every written byte of the file durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;

    /// Makes the bytes of `[pos, pos + len)` durable (msync).
    fn sync_range(&self, pos: u64, len: u64) -> io::Result<()>;

    /// Zeros `[pos, pos + len)` and gives its blocks back. False if the file
    /// system cannot.
    fn punch_hole(&self, pos: u64, len: u64) -> bool;

    /// Zeros `[pos, pos + len)` keeping its blocks. False if the file system
    /// cannot.
    fn zero_range(&self, pos: u64, len: u64) -> bool;

    /// Advice on how the file will be read.
    fn advise(&self, access: Access);

    /// Drops the pages of `[pos, pos + len)` (page aligned) from this
    /// process's resident memory; the data stays.
    fn release_pages(&self, pos: u64, len: u64);
}

/// A segment file on one of the backings. An enum rather than a trait
/// object: without the `failpoints` feature it has one variant and every
/// call compiles to a direct one.
#[derive(Debug)]
pub enum Backing {
    /// A file on disk, mapped.
    Disk(DiskFile),
    /// A file in memory (tests).
    #[cfg(feature = "failpoints")]
    Memory(Arc<MemFile>),
}

macro_rules! each {
    ($self:ident, $f:ident => $e:expr) => {
        match $self {
            Backing::Disk($f) => $e,
            #[cfg(feature = "failpoints")]
            Backing::Memory($f) => $e,
        }
    };
}

impl SegmentFile for Backing {
    #[inline]
    fn len(&self) -> u64 {
        each!(self, f => f.len())
    }
    #[inline]
    fn as_ptr(&self) -> *mut u8 {
        each!(self, f => f.as_ptr())
    }
    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        each!(self, f => f.allocate(pos, len))
    }
    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()> {
        each!(self, f => f.write_at(pos, parts))
    }
    fn read_at(&self, pos: u64, out: &mut [u8]) -> io::Result<bool> {
        each!(self, f => f.read_at(pos, out))
    }
    fn sync_data(&self) -> io::Result<()> {
        each!(self, f => f.sync_data())
    }
    fn sync_range(&self, pos: u64, len: u64) -> io::Result<()> {
        each!(self, f => f.sync_range(pos, len))
    }
    fn punch_hole(&self, pos: u64, len: u64) -> bool {
        each!(self, f => f.punch_hole(pos, len))
    }
    fn zero_range(&self, pos: u64, len: u64) -> bool {
        each!(self, f => f.zero_range(pos, len))
    }
    fn advise(&self, access: Access) {
        each!(self, f => f.advise(access))
    }
    fn release_pages(&self, pos: u64, len: u64) {
        each!(self, f => f.release_pages(pos, len))
    }
}

/// Where the store's mapped files live, and the names and directories
/// around them. Cheap to clone. The default is the real disk; with the
/// `failpoints` feature it may carry the fault switchboard
/// ([`FileSystem::with_faults`]) or be an in-memory file system
/// ([`FileSystem::memory`]).
#[derive(Clone, Debug, Default)]
pub struct FileSystem {
    #[cfg(feature = "failpoints")]
    faults: Faults,
    #[cfg(feature = "failpoints")]
    memory: Option<Arc<MemFs>>,
}

impl FileSystem {
    /// The real disk.
    pub fn disk() -> Self {
        Self::default()
    }

    /// The real disk, consulting `faults` before reservations and syncs.
    #[cfg(feature = "failpoints")]
    pub fn with_faults(faults: Faults) -> Self {
        Self {
            faults,
            memory: None,
        }
    }

    /// Files kept in `fs`, in memory.
    #[cfg(feature = "failpoints")]
    pub fn memory(fs: Arc<MemFs>) -> Self {
        Self {
            faults: Faults::default(),
            memory: Some(fs),
        }
    }

    /// The fault switchboard.
    #[cfg(feature = "failpoints")]
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Creates a file of `len` zero bytes at `path`, which must not exist.
    /// Nothing is left behind on failure.
    pub fn create_file(&self, path: &Path, len: u64) -> io::Result<Backing> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return m.create(path, len).map(Backing::Memory);
        }
        DiskFile::create(path, len).map(Backing::Disk)
    }

    /// Opens an existing file.
    pub fn open_file(&self, path: &Path) -> io::Result<Backing> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return m.open(path).map(Backing::Memory);
        }
        DiskFile::open(path).map(Backing::Disk)
    }

    /// The length of the file at `path`.
    pub fn file_len(&self, path: &Path) -> io::Result<u64> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return m.file_len(path);
        }
        Ok(std::fs::metadata(path)?.len())
    }

    /// Lengthens the file at `path` to `len` with zeros, durably.
    pub fn extend_file(&self, path: &Path, len: u64) -> io::Result<()> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return m.extend(path, len);
        }
        let f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.set_len(len)?;
        f.sync_all()
    }

    /// Removes the file at `path`.
    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return m.remove(path);
        }
        std::fs::remove_file(path)
    }

    /// Renames a file (the directory is not synced).
    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return m.rename(from, to);
        }
        std::fs::rename(from, to)
    }

    /// Makes `dir` and its parents.
    pub fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        #[cfg(feature = "failpoints")]
        if self.memory.is_some() {
            return Ok(());
        }
        std::fs::create_dir_all(dir)
    }

    /// Removes `dir` if it is empty.
    pub fn remove_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(feature = "failpoints")]
        if self.memory.is_some() {
            return Ok(());
        }
        std::fs::remove_dir(dir)
    }

    /// The files directly in `dir`: (name, path). Names that are not UTF-8
    /// are left out.
    pub fn list_dir(&self, dir: &Path) -> io::Result<Vec<(String, PathBuf)>> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return Ok(m.list(dir));
        }
        let mut out = Vec::new();
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            if let Ok(name) = item.file_name().into_string() {
                out.push((name, item.path()));
            }
        }
        Ok(out)
    }

    /// Makes the entries of `dir` (files created, renamed, removed) durable.
    pub fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return m.sync_dir(dir);
        }
        std::fs::File::open(dir)?.sync_all()
    }

    /// Whether reservations and syncs are to fail (the switchboard).
    #[cfg(feature = "failpoints")]
    pub(crate) fn injected_allocation_failure(&self) -> bool {
        self.faults.allocation_fails()
    }

    /// See [`FileSystem::injected_allocation_failure`].
    #[cfg(feature = "failpoints")]
    pub(crate) fn injected_fsync_failure(&self) -> bool {
        self.faults.fsync_fails()
    }
}
