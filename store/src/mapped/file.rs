//! One fixed-size mapped file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::fs::{Access, Backing, FileSystem, SegmentFile};
use crate::error::{Result, StoreError};

/// A file of fixed length whose bytes are in memory (a shared mapping of a
/// file on disk, or, in tests, a [`super::MemFs`] file).
///
/// Concurrency contract: the owner guarantees that a byte range is never
/// written while it is being read or written elsewhere. In the store this
/// holds because one writer appends past a published end, readers read only
/// below it, and truncation excludes readers with a lock.
pub struct MappedFile {
    path: PathBuf,
    base: u64,
    backing: Backing,
    fs: FileSystem,
    /// Bytes from the start whose disk blocks are reserved.
    allocated: AtomicU64,
    /// Held while blocks are reserved or given back, so that a reservation
    /// (the background thread's, ahead of the writer) and a cut cannot
    /// interleave into a mark that claims blocks the cut gave back.
    reserving: parking_lot::Mutex<()>,
}

impl std::fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("base", &self.base)
            .field("len", &self.len())
            .finish()
    }
}

impl MappedFile {
    /// Creates a new file of `len` bytes (zeros) on `fs` and maps it. No
    /// block is reserved: writers reserve what they are about to write with
    /// [`MappedFile::reserve`] first. Nothing is left behind on failure.
    pub fn create(path: &Path, base: u64, len: u64, fs: &FileSystem) -> Result<Self> {
        let backing = fs
            .create_file(path, len)
            .map_err(|e| StoreError::io(path, "create", e))?;
        Self::wrap(path, base, backing, 0, fs)
    }

    /// Opens and maps an existing file; its length is the file's length. The
    /// blocks of an existing file count as reserved up to `reserved`.
    pub fn open(path: &Path, base: u64, reserved: u64, fs: &FileSystem) -> Result<Self> {
        let backing = match fs.open_file(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    offset: 0,
                    reason: "file is empty".into(),
                })
            }
            Err(e) => return Err(StoreError::io(path, "open", e)),
        };
        Self::wrap(path, base, backing, reserved, fs)
    }

    fn wrap(
        path: &Path,
        base: u64,
        backing: Backing,
        reserved: u64,
        fs: &FileSystem,
    ) -> Result<Self> {
        let len = backing.len();
        Ok(Self {
            path: path.to_owned(),
            base,
            backing,
            fs: fs.clone(),
            allocated: AtomicU64::new(reserved.min(len)),
            reserving: parking_lot::Mutex::new(()),
        })
    }

    /// The error for a reservation or write refused for want of space.
    fn no_space(&self) -> StoreError {
        StoreError::NoSpace {
            path: self.path.clone(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file (the memory is unchanged). The directory is not
    /// synced.
    pub fn rename_to(&mut self, path: &Path) -> Result<()> {
        self.fs
            .rename(&self.path, path)
            .map_err(|e| StoreError::io(path, "rename", e))?;
        self.path = path.to_owned();
        Ok(())
    }

    /// The global position of the file's first byte.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The file's length in bytes.
    #[inline]
    pub fn len(&self) -> u64 {
        self.backing.len()
    }

    /// Whether the file has no bytes (never true for a mapped file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves disk blocks for bytes `[0, upto)`. Cheap when already done.
    pub fn reserve(&self, upto: u64) -> Result<()> {
        let upto = upto.min(self.len());
        if upto <= self.allocated.load(Ordering::Acquire) {
            return Ok(());
        }
        let _reserving = self.reserving.lock();
        let done = self.allocated.load(Ordering::Acquire);
        if upto <= done {
            return Ok(());
        }
        #[cfg(feature = "failpoints")]
        if self.fs.injected_allocation_failure() {
            return Err(self.no_space());
        }
        match self.backing.allocate(done, upto - done) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return Err(self.no_space()),
            // A file system without fallocate: go on sparse, as RocketMQ does.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {}
            Err(e) => return Err(StoreError::io(&self.path, "fallocate", e)),
        }
        self.allocated.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    #[inline]
    fn check_range(&self, pos: u64, len: usize) -> Option<usize> {
        let end = pos.checked_add(len as u64)?;
        (end <= self.len()).then_some(pos as usize)
    }

    /// Copies `data` into the file at `pos`.
    ///
    /// Panics if the range is outside the file: callers compute positions from
    /// the file's own length, so that is a bug, never bad input.
    #[inline]
    pub fn write(&self, pos: u64, data: &[u8]) {
        let start = self.check_range(pos, data.len()).unwrap_or_else(|| {
            panic!(
                "write of {} bytes at {} past the end of {}",
                data.len(),
                pos,
                self.path.display()
            )
        });
        // SAFETY: the range is inside the file's memory (checked above), and
        // by the type's contract no one reads or writes it concurrently.
        // `data` cannot overlap the writable range that we own.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.backing.as_ptr().add(start),
                data.len(),
            );
        }
    }

    /// Writes `parts` one after another at `pos` through the file rather
    /// than the mapping (the page cache is shared, so readers of the mapping
    /// see the bytes at once). For large writes this is cheaper: pages that
    /// the write covers whole are filled straight from the buffers, where a
    /// write through the mapping first faults each page in and zeroes it.
    ///
    /// Panics if the range is outside the file, as [`MappedFile::write`].
    pub fn write_through(&self, pos: u64, parts: &[&[u8]]) -> Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if self.check_range(pos, total).is_none() {
            panic!(
                "write of {total} bytes at {pos} past the end of {}",
                self.path.display()
            );
        }
        match self.backing.write_at(pos, parts) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => Err(self.no_space()),
            Err(e) => Err(StoreError::io(&self.path, "pwritev", e)),
        }
    }

    /// Fills `[pos, pos + len)` with zeros (clipped to the file).
    pub fn zero(&self, pos: u64, len: u64) {
        let pos = pos.min(self.len());
        let len = len.min(self.len() - pos) as usize;
        // SAFETY: `[pos, pos + len)` was clipped to the file's memory, and by
        // the type's contract no one reads or writes it concurrently.
        unsafe {
            std::ptr::write_bytes(self.backing.as_ptr().add(pos as usize), 0, len);
        }
    }

    /// Zeros every byte from `pos` to the end of the file, and makes that
    /// durable. The blocks past `pos` are given back to the file system
    /// (`FALLOC_FL_PUNCH_HOLE`), so a cut, or the cut of a torn tail that
    /// recovery makes at every open, leaves the file holding only what
    /// precedes it (zeroing the range instead allocated every block of the
    /// rest of the file: a whole segment at each start); writers reserve
    /// again from `pos` ([`MappedFile::reserve`]). Where holes cannot be
    /// punched, the range is zeroed in place (`FALLOC_FL_ZERO_RANGE`, else
    /// by hand) and its blocks stay.
    pub fn zero_from(&self, pos: u64) -> Result<()> {
        let pos = pos.min(self.len());
        let len = self.len() - pos;
        if len == 0 {
            return Ok(());
        }
        let reserving = self.reserving.lock();
        if self.backing.punch_hole(pos, len) {
            self.allocated.fetch_min(pos, Ordering::AcqRel);
            drop(reserving);
            return self.sync_data();
        }
        drop(reserving);
        if !self.backing.zero_range(pos, len) {
            // No ZERO_RANGE here (tmpfs): zero by hand the pages that hold
            // data. They are found by reading through the file, not the
            // mapping: on tmpfs a read fault on a hole allocates a page, so
            // scanning through the mapping filled every unreserved page of
            // the file, and raised SIGBUS once the file system was full.
            // read(2) of a hole allocates nothing.
            let page = 4096u64;
            let mut at = pos;
            let mut buf = vec![0u8; page as usize];
            while at < self.len() {
                let chunk = (page - at % page).min(self.len() - at);
                let part = &mut buf[..chunk as usize];
                let read = self
                    .backing
                    .read_at(at, part)
                    .map_err(|e| StoreError::io(&self.path, "pread", e))?;
                if read && part.iter().any(|&b| b != 0) {
                    self.zero(at, chunk);
                }
                at += chunk;
            }
            self.flush_range(pos, len)?;
        }
        self.sync_data()
    }

    /// An injected sync failure, if the switchboard says so.
    #[cfg(feature = "failpoints")]
    fn injected_sync_failure(&self, op: &'static str) -> Result<()> {
        if self.fs.injected_fsync_failure() {
            return Err(StoreError::io(
                &self.path,
                op,
                std::io::Error::other("injected fsync failure"),
            ));
        }
        Ok(())
    }

    /// fdatasync of the file: its data and the metadata needed to read it.
    pub fn sync_data(&self) -> Result<()> {
        #[cfg(feature = "failpoints")]
        self.injected_sync_failure("fdatasync")?;
        self.backing
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, "fdatasync", e))
    }

    /// Copies `[pos, pos + out.len())` into `out`. Returns false (and copies
    /// nothing) if the range is outside the file.
    pub fn read_into(&self, pos: u64, out: &mut [u8]) -> bool {
        let Some(start) = self.check_range(pos, out.len()) else {
            return false;
        };
        // SAFETY: the range is inside the file's memory, and by the type's
        // contract no one writes it while it is read.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.backing.as_ptr().add(start),
                out.as_mut_ptr(),
                out.len(),
            );
        }
        true
    }

    /// Borrows `[pos, pos + len)`, or None if outside the file.
    ///
    /// # Safety
    /// No one may write the range while the slice lives.
    pub unsafe fn slice(&self, pos: u64, len: usize) -> Option<&[u8]> {
        let start = self.check_range(pos, len)?;
        // SAFETY: in bounds (checked), and the memory lives as long as
        // `self`; the caller guarantees no concurrent writes for the slice's
        // lifetime.
        Some(unsafe { std::slice::from_raw_parts(self.backing.as_ptr().add(start), len) })
    }

    /// Forces `[pos, pos + len)` to disk (msync).
    pub fn flush_range(&self, pos: u64, len: u64) -> Result<()> {
        #[cfg(feature = "failpoints")]
        self.injected_sync_failure("msync")?;
        let pos = pos.min(self.len());
        let len = len.min(self.len() - pos);
        if len == 0 {
            return Ok(());
        }
        self.backing
            .sync_range(pos, len)
            .map_err(|e| StoreError::io(&self.path, "msync", e))
    }

    /// Tells the kernel the pages of `[pos, pos + len)` will not be read soon,
    /// so that they stop counting in this process's resident memory (they stay
    /// in the page cache). Only for flushed ranges.
    pub fn release_pages(&self, pos: u64, len: u64) {
        let page = 4096u64;
        let start = pos.div_ceil(page) * page;
        let end = (pos + len).min(self.len()) / page * page;
        if end > start {
            self.backing.release_pages(start, end - start);
        }
    }

    /// Asks the kernel not to read ahead around page faults. A file written
    /// through its mapping faults in each new page; with readahead, the
    /// kernel builds large folios there, and every msync then writes back
    /// whole folios instead of the few pages that changed.
    pub fn advise_no_readahead(&self) {
        self.backing.advise(Access::Random);
    }

    /// Restores normal readahead, for a file no longer written (readers of
    /// cold data then read ahead as usual).
    pub fn advise_normal(&self) {
        self.backing.advise(Access::Normal);
    }

    /// Removes the file. Its memory stays valid until the last handle is
    /// dropped.
    pub fn remove(&self) -> Result<()> {
        self.fs
            .remove_file(&self.path)
            .map_err(|e| StoreError::io(&self.path, "remove", e))
    }
}
