//! An in-memory file system for storage-failure and power-loss tests
//! (feature `failpoints`).
//!
//! Every file keeps two images: what the process sees (written through its
//! memory or with [`SegmentFile::write_at`]) and what a power cut would leave
//! (updated by syncs). Names behave the same way: a created, renamed or
//! removed file becomes durable when its directory is synced.
//! [`MemFs::crash`] throws away everything not durable, as a power cut
//! would. Switches make the next writes or syncs fail with EIO, refuse
//! reservations with ENOSPC, or tear a write so that only a prefix lands.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::fs::{Access, SegmentFile};

/// No torn write is armed.
const NO_TEAR: usize = usize::MAX;

/// The fault switches shared by a [`MemFs`] and its files.
#[derive(Debug)]
struct Switches {
    fail_writes: AtomicBool,
    fail_syncs: AtomicBool,
    no_space: AtomicBool,
    /// The next [`SegmentFile::write_at`] lands only this many bytes.
    tear_next_write: AtomicUsize,
}

/// An in-memory file system. See the module docs.
#[derive(Debug)]
pub struct MemFs {
    switches: Arc<Switches>,
    names: Mutex<Names>,
}

#[derive(Debug, Default)]
struct Names {
    /// What the process sees.
    live: BTreeMap<PathBuf, Arc<MemFile>>,
    /// What survives a crash.
    durable: BTreeMap<PathBuf, Arc<MemFile>>,
}

impl Default for MemFs {
    fn default() -> Self {
        Self {
            switches: Arc::new(Switches {
                fail_writes: AtomicBool::new(false),
                fail_syncs: AtomicBool::new(false),
                no_space: AtomicBool::new(false),
                tear_next_write: AtomicUsize::new(NO_TEAR),
            }),
            names: Mutex::new(Names::default()),
        }
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} does not exist", path.display()),
    )
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("injected EIO on {what}"))
}

impl MemFs {
    /// An empty file system, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Makes every later [`SegmentFile::write_at`] fail with EIO (or not).
    pub fn fail_writes(&self, on: bool) {
        self.switches.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Makes every later sync fail with EIO (or not).
    pub fn fail_syncs(&self, on: bool) {
        self.switches.fail_syncs.store(on, Ordering::SeqCst);
    }

    /// Makes every later block reservation fail with ENOSPC (or not).
    pub fn no_space(&self, on: bool) {
        self.switches.no_space.store(on, Ordering::SeqCst);
    }

    /// The next [`SegmentFile::write_at`] writes only its first `keep`
    /// bytes, durably (as far as the device got when the power went), and
    /// then fails with EIO.
    pub fn tear_next_write(&self, keep: usize) {
        self.switches.tear_next_write.store(keep, Ordering::SeqCst);
    }

    /// A power cut: every file goes back to what was last synced, and the
    /// names to what their directories last synced. Files made since are
    /// gone; files removed since are back. Handles to files stay valid and
    /// see the durable bytes. The switches are cleared (a new boot).
    ///
    /// Call it with no store open on this file system.
    pub fn crash(&self) {
        self.crash_keeping(0);
    }

    /// A power cut that lands the first `keep` unsynced bytes of each file
    /// (counted from the first byte that differs from the synced image): a
    /// torn tail.
    pub fn crash_keeping(&self, keep: usize) {
        let mut names = self.names.lock();
        names.live = names.durable.clone();
        for file in names.live.values() {
            file.revert_to_durable(keep);
        }
        self.fail_writes(false);
        self.fail_syncs(false);
        self.no_space(false);
        self.switches
            .tear_next_write
            .store(NO_TEAR, Ordering::SeqCst);
    }

    /// The files whose names are live, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.names.lock().live.keys().cloned().collect()
    }

    pub(super) fn create(&self, path: &Path, len: u64) -> io::Result<Arc<MemFile>> {
        let mut names = self.names.lock();
        if names.live.contains_key(path) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists", path.display()),
            ));
        }
        let file = Arc::new(MemFile::new(len, Arc::clone(&self.switches))?);
        names.live.insert(path.to_owned(), Arc::clone(&file));
        Ok(file)
    }

    pub(super) fn open(&self, path: &Path) -> io::Result<Arc<MemFile>> {
        self.names
            .lock()
            .live
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))
    }

    pub(super) fn file_len(&self, path: &Path) -> io::Result<u64> {
        Ok(self.open(path)?.len())
    }

    pub(super) fn extend(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut names = self.names.lock();
        let old = names
            .live
            .get(path)
            .cloned()
            .ok_or_else(|| not_found(path))?;
        if len <= old.len() {
            return Ok(());
        }
        let file = Arc::new(MemFile::new(len, Arc::clone(&self.switches))?);
        let mut bytes = vec![0u8; old.len() as usize];
        old.copy_out(0, &mut bytes);
        file.copy_in(0, &bytes);
        file.durable.lock()[..bytes.len()].copy_from_slice(&bytes);
        names.live.insert(path.to_owned(), Arc::clone(&file));
        // The new length is synced, as `set_len` followed by `sync_all`.
        if names.durable.contains_key(path) {
            names.durable.insert(path.to_owned(), file);
        }
        Ok(())
    }

    pub(super) fn remove(&self, path: &Path) -> io::Result<()> {
        self.names
            .lock()
            .live
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    pub(super) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut names = self.names.lock();
        let file = names.live.remove(from).ok_or_else(|| not_found(from))?;
        names.live.insert(to.to_owned(), file);
        Ok(())
    }

    pub(super) fn list(&self, dir: &Path) -> Vec<(String, PathBuf)> {
        self.names
            .lock()
            .live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| Some((p.file_name()?.to_str()?.to_owned(), p.clone())))
            .collect()
    }

    pub(super) fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        if self.switches.fail_syncs.load(Ordering::SeqCst) {
            return Err(eio("directory sync"));
        }
        let mut names = self.names.lock();
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        names.durable.retain(|p, _| !in_dir(p));
        let now: Vec<_> = names
            .live
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, f)| (p.clone(), Arc::clone(f)))
            .collect();
        names.durable.extend(now);
        Ok(())
    }
}

/// One file of a [`MemFs`]: its bytes as the process sees them, at a fixed
/// address, and the image a crash would leave.
pub struct MemFile {
    /// `len` bytes from `Box<[u8]>::into_raw`; freed in `Drop`.
    ptr: NonNull<u8>,
    len: usize,
    durable: Mutex<Vec<u8>>,
    switches: Arc<Switches>,
}

// SAFETY: the bytes behind `ptr` are owned by the file and live as long as
// it does; access to them follows `MappedFile`'s contract (one writer per
// range, readers below the published end), exactly as for a shared mapping,
// which is Send and Sync too.
unsafe impl Send for MemFile {}
// SAFETY: see `Send` above.
unsafe impl Sync for MemFile {}

impl std::fmt::Debug for MemFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemFile").field("len", &self.len).finish()
    }
}

impl Drop for MemFile {
    fn drop(&mut self) {
        let raw = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len);
        // SAFETY: `ptr` and `len` came from `Box::into_raw` of a boxed slice
        // of exactly that length in `MemFile::new`, and are freed only here.
        drop(unsafe { Box::from_raw(raw) });
    }
}

impl MemFile {
    fn new(len: u64, switches: Arc<Switches>) -> io::Result<Self> {
        let len = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::FileTooLarge, "too large for memory"))?;
        let bytes = vec![0u8; len].into_boxed_slice();
        let raw = Box::into_raw(bytes);
        let ptr = NonNull::new(raw.cast::<u8>())
            .ok_or_else(|| io::Error::other("allocation returned null"))?;
        Ok(Self {
            ptr,
            len,
            durable: Mutex::new(vec![0u8; len]),
            switches,
        })
    }

    fn range(&self, pos: u64, len: usize) -> io::Result<usize> {
        pos.checked_add(len as u64)
            .filter(|end| *end <= self.len as u64)
            .map(|_| pos as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "range past the end"))
    }

    fn copy_in(&self, pos: usize, data: &[u8]) {
        // SAFETY: callers pass a range inside the file (checked by `range`
        // or by construction); the bytes are ours and `data` is not inside
        // them.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(pos), data.len());
        }
    }

    fn copy_out(&self, pos: usize, out: &mut [u8]) {
        // SAFETY: as in `copy_in`, with the roles swapped.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.as_ptr().add(pos), out.as_mut_ptr(), out.len());
        }
    }

    /// Makes the live bytes of `[pos, pos + len)` durable.
    fn persist(&self, pos: usize, len: usize) {
        let mut durable = self.durable.lock();
        self.copy_out(pos, &mut durable[pos..pos + len]);
    }

    /// Sets the live bytes to the durable image plus the first `keep`
    /// bytes that differ from it.
    fn revert_to_durable(&self, keep: usize) {
        let mut durable = self.durable.lock();
        let mut live = vec![0u8; self.len];
        self.copy_out(0, &mut live);
        if let Some(first) = live.iter().zip(durable.iter()).position(|(a, b)| a != b) {
            let end = first.saturating_add(keep).min(self.len);
            durable[first..end].copy_from_slice(&live[first..end]);
        }
        self.copy_in(0, &durable);
    }

    fn fail(&self, switch: &AtomicBool, what: &str) -> io::Result<()> {
        if switch.load(Ordering::SeqCst) {
            return Err(eio(what));
        }
        Ok(())
    }
}

impl SegmentFile for MemFile {
    fn len(&self) -> u64 {
        self.len as u64
    }

    fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn allocate(&self, pos: u64, len: u64) -> io::Result<()> {
        if self.switches.no_space.load(Ordering::SeqCst) {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        self.range(pos, len as usize).map(drop)
    }

    fn write_at(&self, pos: u64, parts: &[&[u8]]) -> io::Result<()> {
        self.fail(&self.switches.fail_writes, "write")?;
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let start = self.range(pos, total)?;
        let keep = self
            .switches
            .tear_next_write
            .swap(NO_TEAR, Ordering::SeqCst);
        let mut at = start;
        let mut left = keep.min(total);
        for p in parts {
            let n = p.len().min(left);
            self.copy_in(at, &p[..n]);
            at += n;
            left -= n;
        }
        if keep != NO_TEAR {
            // What reached the device before it failed stays there.
            self.persist(start, keep.min(total));
            return Err(eio("write (torn)"));
        }
        Ok(())
    }

    fn read_at(&self, pos: u64, out: &mut [u8]) -> io::Result<bool> {
        let Ok(start) = self.range(pos, out.len()) else {
            return Ok(false);
        };
        self.copy_out(start, out);
        Ok(true)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.fail(&self.switches.fail_syncs, "fdatasync")?;
        self.persist(0, self.len);
        Ok(())
    }

    fn sync_range(&self, pos: u64, len: u64) -> io::Result<()> {
        self.fail(&self.switches.fail_syncs, "msync")?;
        let start = self.range(pos, len as usize)?;
        self.persist(start, len as usize);
        Ok(())
    }

    fn punch_hole(&self, pos: u64, len: u64) -> bool {
        let Ok(start) = self.range(pos, len as usize) else {
            return false;
        };
        // SAFETY: the range is inside the file (checked above).
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr().add(start), 0, len as usize) };
        true
    }

    fn zero_range(&self, pos: u64, len: u64) -> bool {
        self.punch_hole(pos, len)
    }

    fn advise(&self, _access: Access) {}

    fn release_pages(&self, _pos: u64, _len: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(f: &MemFile, pos: usize, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        f.copy_out(pos, &mut out);
        out
    }

    #[test]
    fn a_crash_keeps_what_was_synced_and_loses_the_rest() {
        let fs = MemFs::new();
        let dir = Path::new("/mem");
        let f = fs.create(&dir.join("a"), 64).unwrap();
        fs.sync_dir(dir).unwrap();
        f.write_at(0, &[b"durable"]).unwrap();
        f.sync_range(0, 7).unwrap();
        f.write_at(7, &[b"-lost"]).unwrap();
        let unsynced = fs.create(&dir.join("b"), 8).unwrap();
        unsynced.sync_data().unwrap();
        fs.crash();
        assert_eq!(fs.paths(), [dir.join("a")], "b's name was never synced");
        assert_eq!(bytes(&f, 0, 12), b"durable\0\0\0\0\0");
    }

    #[test]
    fn a_torn_crash_lands_a_prefix_of_the_unsynced_bytes() {
        let fs = MemFs::new();
        let f = fs.create(Path::new("/mem/a"), 64).unwrap();
        fs.sync_dir(Path::new("/mem")).unwrap();
        f.write_at(0, &[b"abcdef"]).unwrap();
        fs.crash_keeping(2);
        assert_eq!(bytes(&f, 0, 6), b"ab\0\0\0\0");
    }

    #[test]
    fn switches_fail_writes_syncs_and_reservations() {
        let fs = MemFs::new();
        let f = fs.create(Path::new("/mem/a"), 64).unwrap();
        fs.fail_writes(true);
        assert!(f.write_at(0, &[b"x"]).is_err());
        fs.fail_writes(false);
        fs.fail_syncs(true);
        assert!(f.sync_data().is_err());
        assert!(f.sync_range(0, 1).is_err());
        fs.fail_syncs(false);
        fs.no_space(true);
        let e = f.allocate(0, 64).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        fs.no_space(false);
        fs.tear_next_write(3);
        assert!(f.write_at(10, &[b"ab", b"cdef"]).is_err());
        assert_eq!(bytes(&f, 10, 6), b"abc\0\0\0");
        f.write_at(20, &[b"whole"]).unwrap();
        assert_eq!(bytes(&f, 20, 5), b"whole", "the tear fires once");
    }
}
