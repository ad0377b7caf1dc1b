//! One fixed-size mapped file.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Result, StoreError};
use crate::fault::Faults;

/// A file of fixed length mapped into memory.
///
/// Concurrency contract: the owner guarantees that a byte range is never
/// written while it is being read or written elsewhere. In the store this
/// holds because one writer appends past a published end, readers read only
/// below it, and truncation excludes readers with a lock.
pub struct MappedFile {
    path: PathBuf,
    base: u64,
    map: MmapRaw,
    file: File,
    /// Bytes from the start whose disk blocks are reserved.
    allocated: AtomicU64,
    /// Held while blocks are reserved or given back, so that a reservation
    /// (the background thread's, ahead of the writer) and a cut cannot
    /// interleave into a mark that claims blocks the cut gave back.
    reserving: parking_lot::Mutex<()>,
    faults: Faults,
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
    /// Creates a new file of `len` bytes (zeros) and maps it. No block is
    /// reserved: writers reserve what they are about to write with
    /// [`MappedFile::reserve`] first.
    pub fn create(path: &Path, base: u64, len: u64, faults: Faults) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| StoreError::io(path, "create", e))?;
        let created = file
            .set_len(len)
            .map_err(|e| StoreError::io(path, "set_len", e))
            .and_then(|()| Self::map(path, file, base, 0, faults));
        if created.is_err() {
            // Nothing may be left half made: a file of the wrong size would
            // stop the next start.
            let _ = std::fs::remove_file(path);
        }
        created
    }

    /// Opens and maps an existing file; its length is the file's length. The
    /// blocks of an existing file count as reserved up to `reserved`.
    pub fn open(path: &Path, base: u64, reserved: u64, faults: Faults) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io(path, "open", e))?;
        Self::map(path, file, base, reserved, faults)
    }

    fn map(path: &Path, file: File, base: u64, reserved: u64, faults: Faults) -> Result<Self> {
        let len = file
            .metadata()
            .map_err(|e| StoreError::io(path, "stat", e))?
            .len();
        let len_usize = usize::try_from(len)
            .map_err(|_| StoreError::Config(format!("{} is too large to map", path.display())))?;
        if len_usize == 0 {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                offset: 0,
                reason: "file is empty".into(),
            });
        }
        let map = MmapOptions::new()
            .len(len_usize)
            .map_raw(&file)
            .map_err(|e| StoreError::io(path, "mmap", e))?;
        Ok(Self {
            path: path.to_owned(),
            base,
            map,
            file,
            allocated: AtomicU64::new(reserved.min(len)),
            reserving: parking_lot::Mutex::new(()),
            faults,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file on disk (the mapping is unchanged). The directory
    /// is not synced.
    pub fn rename_to(&mut self, path: &Path) -> Result<()> {
        std::fs::rename(&self.path, path).map_err(|e| StoreError::io(path, "rename", e))?;
        self.path = path.to_owned();
        Ok(())
    }

    /// The global position of the file's first byte.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The file's length in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Whether the file has no bytes (never true for a mapped file).
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
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
        if self.faults.allocation_fails() {
            return Err(StoreError::DiskFull {
                detail: format!(
                    "reserving blocks of {} failed (injected); free space on its disk",
                    self.path.display()
                ),
            });
        }
        match rustix::fs::fallocate(
            &self.file,
            rustix::fs::FallocateFlags::empty(),
            done,
            upto - done,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::NOSPC) => {
                return Err(StoreError::DiskFull {
                    detail: format!(
                        "no space to reserve {} bytes of {}; free space on its disk",
                        upto - done,
                        self.path.display()
                    ),
                })
            }
            // A file system without fallocate: go on sparse, as RocketMQ does.
            Err(rustix::io::Errno::OPNOTSUPP) => {}
            Err(e) => return Err(StoreError::io(&self.path, "fallocate", e.into())),
        }
        self.allocated.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    fn check_range(&self, pos: u64, len: usize) -> Option<usize> {
        let end = pos.checked_add(len as u64)?;
        (end <= self.len()).then_some(pos as usize)
    }

    /// Copies `data` into the file at `pos`.
    ///
    /// Panics if the range is outside the file: callers compute positions from
    /// the file's own length, so that is a bug, never bad input.
    pub fn write(&self, pos: u64, data: &[u8]) {
        let start = self.check_range(pos, data.len()).unwrap_or_else(|| {
            panic!(
                "write of {} bytes at {} past the end of {}",
                data.len(),
                pos,
                self.path.display()
            )
        });
        // SAFETY: the range is inside the mapping (checked above), and by the
        // type's contract no one reads or writes it concurrently. `data` cannot
        // overlap the mapping's writable range that we own.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.map.as_mut_ptr().add(start),
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
        let mut done = 0usize;
        while done < total {
            // Skip what was written already, part by part.
            let mut skip = done;
            let mut slices = Vec::with_capacity(parts.len());
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                    continue;
                }
                slices.push(std::io::IoSlice::new(&p[skip..]));
                skip = 0;
            }
            match rustix::io::pwritev(&self.file, &slices, pos + done as u64) {
                Ok(0) => {
                    return Err(StoreError::io(
                        &self.path,
                        "pwritev",
                        std::io::Error::from(std::io::ErrorKind::WriteZero),
                    ))
                }
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::NOSPC) => {
                    return Err(StoreError::DiskFull {
                        detail: format!(
                            "writing {} failed: no space; free space on its disk",
                            self.path.display()
                        ),
                    })
                }
                Err(e) => return Err(StoreError::io(&self.path, "pwritev", e.into())),
            }
        }
        Ok(())
    }

    /// Fills `[pos, pos + len)` with zeros (clipped to the file).
    pub fn zero(&self, pos: u64, len: u64) {
        let pos = pos.min(self.len());
        let len = len.min(self.len() - pos) as usize;
        // SAFETY: `[pos, pos + len)` was clipped to the mapping, and by the
        // type's contract no one reads or writes it concurrently.
        unsafe {
            std::ptr::write_bytes(self.map.as_mut_ptr().add(pos as usize), 0, len);
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
        use rustix::fs::FallocateFlags as F;
        let reserving = self.reserving.lock();
        if rustix::fs::fallocate(&self.file, F::PUNCH_HOLE | F::KEEP_SIZE, pos, len).is_ok() {
            self.allocated.fetch_min(pos, Ordering::AcqRel);
            drop(reserving);
            return self.sync_data();
        }
        drop(reserving);
        if rustix::fs::fallocate(&self.file, F::ZERO_RANGE | F::KEEP_SIZE, pos, len).is_err() {
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
                if self.pread_exact(at, part)? && part.iter().any(|&b| b != 0) {
                    self.zero(at, chunk);
                }
                at += chunk;
            }
            self.flush_range(pos, len)?;
        }
        self.sync_data()
    }

    /// Fills `out` from the file (not the mapping) at `pos`; false if the
    /// file ends first.
    fn pread_exact(&self, pos: u64, out: &mut [u8]) -> Result<bool> {
        let mut done = 0;
        while done < out.len() {
            match rustix::io::pread(&self.file, &mut out[done..], pos + done as u64) {
                Ok(0) => return Ok(false),
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(StoreError::io(&self.path, "pread", e.into())),
            }
        }
        Ok(true)
    }

    /// fdatasync of the file: its data and the metadata needed to read it.
    pub fn sync_data(&self) -> Result<()> {
        if self.faults.fsync_fails() {
            return Err(StoreError::io(
                &self.path,
                "fdatasync",
                std::io::Error::other("injected fsync failure"),
            ));
        }
        self.file
            .sync_data()
            .map_err(|e| StoreError::io(&self.path, "fdatasync", e))
    }

    /// Copies `[pos, pos + out.len())` into `out`. Returns false (and copies
    /// nothing) if the range is outside the file.
    pub fn read_into(&self, pos: u64, out: &mut [u8]) -> bool {
        let Some(start) = self.check_range(pos, out.len()) else {
            return false;
        };
        // SAFETY: the range is inside the mapping, and by the type's contract
        // no one writes it while it is read.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(start),
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
        // SAFETY: in bounds (checked); the caller guarantees no concurrent
        // writes for the slice's lifetime.
        Some(unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(start), len) })
    }

    /// Forces `[pos, pos + len)` to disk (msync).
    pub fn flush_range(&self, pos: u64, len: u64) -> Result<()> {
        if self.faults.fsync_fails() {
            return Err(StoreError::io(
                &self.path,
                "msync",
                std::io::Error::other("injected fsync failure"),
            ));
        }
        let pos = pos.min(self.len());
        let len = len.min(self.len() - pos);
        if len == 0 {
            return Ok(());
        }
        self.map
            .flush_range(pos as usize, len as usize)
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
            // SAFETY: the mapping is a shared mapping of a file, so
            // MADV_DONTNEED only drops this process's page-table entries: the
            // data stays in the page cache (dirty pages are kept dirty) and the
            // next access faults it back in. The range is inside the mapping.
            // Advice only: a failure changes nothing we rely on.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start as usize,
                    (end - start) as usize,
                )
            };
        }
    }

    /// Asks the kernel not to read ahead around page faults. A file written
    /// through its mapping faults in each new page; with readahead, the
    /// kernel builds large folios there, and every msync then writes back
    /// whole folios instead of the few pages that changed.
    pub fn advise_no_readahead(&self) {
        // Advice only: a failure changes nothing we rely on.
        let _ = self.map.advise(memmap2::Advice::Random);
    }

    /// Restores normal readahead, for a file no longer written (readers of
    /// cold data then read ahead as usual).
    pub fn advise_normal(&self) {
        // Advice only: a failure changes nothing we rely on.
        let _ = self.map.advise(memmap2::Advice::Normal);
    }

    /// Removes the file from disk. The mapping stays valid until the last
    /// handle is dropped.
    pub fn remove(&self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| StoreError::io(&self.path, "remove", e))
    }
}
