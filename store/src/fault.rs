//! Fault injection for tests: a shared switchboard the file layer consults
//! before it allocates blocks or syncs, so tests can make those calls fail the
//! way a dying disk or a full one would.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;

/// A handle to the switchboard; cheap to clone. The default has every fault off.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<Switches>);

#[derive(Debug)]
struct Switches {
    fsync: AtomicBool,
    allocation: AtomicBool,
    /// `u16::MAX`: no override.
    disk_percent: AtomicU16,
    /// A named step at which a multi-step operation stops as if the process
    /// died there.
    crash_point: parking_lot::Mutex<Option<&'static str>>,
}

impl Default for Switches {
    fn default() -> Self {
        Self {
            fsync: AtomicBool::new(false),
            allocation: AtomicBool::new(false),
            disk_percent: AtomicU16::new(u16::MAX),
            crash_point: parking_lot::Mutex::new(None),
        }
    }
}

impl Faults {
    /// Makes every later fsync/msync fail (or succeed again).
    pub fn set_fsync_fails(&self, on: bool) {
        self.0.fsync.store(on, Ordering::SeqCst);
    }

    /// Makes every later block reservation fail as on a full disk.
    pub fn set_allocation_fails(&self, on: bool) {
        self.0.allocation.store(on, Ordering::SeqCst);
    }

    pub(crate) fn fsync_fails(&self) -> bool {
        self.0.fsync.load(Ordering::Relaxed)
    }

    pub(crate) fn allocation_fails(&self) -> bool {
        self.0.allocation.load(Ordering::Relaxed)
    }
}

impl Faults {
    /// Pretends the disk is `percent` full (None: read the real figure).
    pub fn set_disk_used_percent(&self, percent: Option<u8>) {
        self.0
            .disk_percent
            .store(percent.map_or(u16::MAX, u16::from), Ordering::SeqCst);
    }

    pub(crate) fn disk_used_percent(&self) -> Option<u8> {
        u8::try_from(self.0.disk_percent.load(Ordering::Relaxed)).ok()
    }
}

impl Faults {
    /// Makes the operation reaching step `point` stop there with an error,
    /// leaving the files as a crash at that moment would. Fires once.
    pub fn set_crash_point(&self, point: Option<&'static str>) {
        *self.0.crash_point.lock() = point;
    }

    /// An error if a crash is set at `point` (and clears it).
    pub(crate) fn crash_here(&self, point: &'static str) -> crate::error::Result<()> {
        let mut cp = self.0.crash_point.lock();
        if *cp == Some(point) {
            *cp = None;
            return Err(crate::error::StoreError::io(
                point,
                "injected crash",
                std::io::Error::other("injected crash"),
            ));
        }
        Ok(())
    }
}
