//! How full the disk under the store is, and the gate that refuses appends
//! above `diskSpaceWarningLevelRatio` before the disk is really full.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Result, StoreError};
#[cfg(feature = "failpoints")]
use crate::fault::Faults;

/// How long a reading of the disk is trusted.
const REFRESH: Duration = Duration::from_millis(100);

/// Used space of the file system holding `path`, in percent (0-100).
pub fn used_percent(path: &Path) -> Result<f64> {
    let st = rustix::fs::statvfs(path).map_err(|e| StoreError::io(path, "statvfs", e.into()))?;
    // As df's Use%: used / (used + available to us). Blocks reserved for
    // root (or held back by a quota) are in neither, so a file system with a
    // large reserve does not look fuller than it is to the broker, and the
    // ratio still reaches 100 % exactly when nothing is left to write.
    let used = st.f_blocks.saturating_sub(st.f_bfree);
    let usable = used.saturating_add(st.f_bavail);
    if usable == 0 {
        return Ok(0.0);
    }
    Ok(used as f64 * 100.0 / usable as f64)
}

/// The append gate: refuses writes when the disk is fuller than a ratio.
#[derive(Debug)]
pub struct DiskGuard {
    path: PathBuf,
    refuse_percent: u8,
    #[cfg(feature = "failpoints")]
    faults: Faults,
    last: Mutex<Option<(Instant, f64)>>,
}

impl DiskGuard {
    /// A gate for the file system holding `path`.
    pub fn new(path: &Path, refuse_percent: u8) -> Self {
        Self {
            path: path.to_owned(),
            refuse_percent,
            #[cfg(feature = "failpoints")]
            faults: Faults::default(),
            last: Mutex::new(None),
        }
    }

    /// Consults `faults` for an overriding figure.
    #[cfg(feature = "failpoints")]
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Used percent, read at most every 100 ms.
    pub fn used_percent(&self) -> Result<f64> {
        #[cfg(feature = "failpoints")]
        if let Some(p) = self.faults.disk_used_percent() {
            return Ok(f64::from(p));
        }
        let mut last = self.last.lock();
        if let Some((at, p)) = *last {
            if at.elapsed() < REFRESH {
                return Ok(p);
            }
        }
        let p = used_percent(&self.path)?;
        *last = Some((Instant::now(), p));
        Ok(p)
    }

    /// The used percent at and above which appends are refused
    /// (`diskSpaceWarningLevelRatio`).
    pub fn refuse_percent(&self) -> u8 {
        self.refuse_percent
    }

    /// Ok when an append may go ahead.
    pub fn check(&self) -> Result<()> {
        let used = self.used_percent()?;
        if used >= f64::from(self.refuse_percent) {
            return Err(StoreError::DiskFull {
                path: self.path.clone(),
                used_percent: used,
                limit_percent: self.refuse_percent,
            });
        }
        Ok(())
    }
}
