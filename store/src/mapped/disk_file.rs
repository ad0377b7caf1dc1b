//! The real backing: a file on disk, mapped shared into memory.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

use memmap2::{MmapOptions, MmapRaw};

use super::fs::{Access, SegmentFile};

/// A file on disk and its shared mapping.
#[derive(Debug)]
pub struct DiskFile {
    map: MmapRaw,
    file: File,
}

impl DiskFile {
    /// Creates `path` (which must not exist) with `len` zero bytes and maps
    /// it. The file is removed again if a later step fails.
    pub(super) fn create(path: &Path, len: u64) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        let made = file.set_len(len).and_then(|()| Self::map(file));
        if made.is_err() {
            // A file of the wrong size would stop the next start.
            let _ = std::fs::remove_file(path);
        }
        made
    }

    /// Opens and maps the existing file at `path`.
    pub(super) fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Self::map(file)
    }

    fn map(file: File) -> io::Result<Self> {
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::new(io::ErrorKind::FileTooLarge, "too large to map"))?;
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the file is empty",
            ));
        }
        let map = MmapOptions::new().len(len).map_raw(&file)?;
        Ok(Self { map, file })
    }
}

fn errno(e: rustix::io::Errno) -> io::Error {
    e.into()
}

impl SegmentFile for DiskFile {
    #[inline]
    fn len(&self) -> u64 {
        self.map.len() as u64
    }

    #[inline]
    fn as_ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), pos, len)
            .map_err(errno)
    }

    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
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
                slices.push(io::IoSlice::new(&p[skip..]));
                skip = 0;
            }
            match rustix::io::pwritev(&self.file, &slices, pos + done as u64) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        Ok(())
    }

    fn read_at(&self, pos: u64, out: &mut [u8]) -> io::Result<bool> {
        let mut done = 0;
        while done < out.len() {
            match rustix::io::pread(&self.file, &mut out[done..], pos + done as u64) {
                Ok(0) => return Ok(false),
                Ok(n) => done += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(errno(e)),
            }
        }
        Ok(true)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_range(&self, pos: u64, len: u64) -> io::Result<()> {
        self.map.flush_range(pos as usize, len as usize)
    }

    fn punch_hole(&self, pos: u64, len: u64) -> bool {
        use rustix::fs::FallocateFlags as F;
        rustix::fs::fallocate(&self.file, F::PUNCH_HOLE | F::KEEP_SIZE, pos, len).is_ok()
    }

    fn zero_range(&self, pos: u64, len: u64) -> bool {
        use rustix::fs::FallocateFlags as F;
        rustix::fs::fallocate(&self.file, F::ZERO_RANGE | F::KEEP_SIZE, pos, len).is_ok()
    }

    fn advise(&self, access: Access) {
        let advice = match access {
            Access::Random => memmap2::Advice::Random,
            Access::Normal => memmap2::Advice::Normal,
        };
        // Advice only: a failure changes nothing we rely on.
        let _ = self.map.advise(advice);
    }

    fn release_pages(&self, pos: u64, len: u64) {
        // SAFETY: the mapping is a shared mapping of a file, so
        // MADV_DONTNEED only drops this process's page-table entries: the
        // data stays in the page cache (dirty pages are kept dirty) and the
        // next access faults it back in. The caller keeps the range inside
        // the mapping. Advice only: a failure changes nothing we rely on.
        let _ = unsafe {
            self.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                pos as usize,
                len as usize,
            )
        };
    }
}
