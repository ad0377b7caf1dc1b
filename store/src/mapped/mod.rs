//! Fixed-size memory-mapped files and ordered lists of them.
//!
//! Every file the store writes at speed (commitlog segments, the entry index,
//! consume queues) is a [`MappedFile`]: a file of fixed length, mapped once,
//! written by one writer at increasing positions and read by many. A
//! [`SegmentList`] is a directory of such files named by the global position
//! of their first byte, 20 digits wide, as RocketMQ and DLedger name theirs.
//!
//! Disk blocks are reserved with `fallocate` *before* bytes are written into
//! the mapping. Writing to a hole of a sparse mapped file on a full disk kills
//! the process with SIGBUS; reserving first turns that into an ordinary
//! "disk full" error returned before anything was written.
//!
//! Under the files is a seam ([`FileSystem`], [`SegmentFile`]): the real
//! disk, or, with the `failpoints` feature, memory ([`MemFs`]) that tests
//! make fail, tear or lose what was not synced.

mod disk_file;
mod file;
mod fs;
mod list;
#[cfg(feature = "failpoints")]
mod mem;

pub use disk_file::DiskFile;
pub use file::MappedFile;
pub use fs::{Access, Backing, FileSystem, SegmentFile};
pub(crate) use list::sync_dir;
pub use list::write_atomic;
pub use list::{segment_base, segment_file_name, SegmentList};
#[cfg(feature = "failpoints")]
pub use mem::{MemFile, MemFs};
