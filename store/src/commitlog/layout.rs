//! Where entries go: pure arithmetic over positions and segment sizes.

use crate::mapped::segment_base;
use crate::record::entry::EOS_LEN;

/// Where one entry is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Position of the entry's first byte.
    pub pos: u64,
    /// An end-of-segment marker to write first: its position and the bytes it
    /// covers, when the entry did not fit in the current segment.
    pub eos: Option<(u64, u32)>,
}

/// Places an entry of `len` bytes at the log's end `end`. An entry never
/// spans segments, and every segment keeps room for an end-of-segment marker.
/// The caller has checked `len + EOS_LEN <= segment_size`.
pub fn place(end: u64, segment_size: u64, len: u64) -> Placement {
    let seg_end = segment_base(end, segment_size) + segment_size;
    if end + len + EOS_LEN as u64 <= seg_end {
        Placement {
            pos: end,
            eos: None,
        }
    } else {
        Placement {
            pos: seg_end,
            eos: Some((end, (seg_end - end) as u32)),
        }
    }
}

/// Disk blocks of a segment are reserved this many bytes at a time, as
/// the writer reaches them (and by the background thread a step ahead of
/// it), so that the disk holds what was written and little more: a store
/// starts on a disk with less free space than one segment, and a group of
/// stores on one disk (fast-try, tests) does not reserve gigabytes it never
/// writes. A step costs one `fallocate` of well under a millisecond.
pub const SEGMENT_RESERVE_STEP: u64 = 16 << 20;

/// How far into a file to reserve so that its first `used` bytes have their
/// blocks: `used` rounded up to a whole `step` (the file caps it at its
/// length).
pub fn reserve_mark(used: u64, step: u64) -> u64 {
    used.div_ceil(step).saturating_mul(step)
}

/// Whether an entry of `len` bytes can ever fit in a segment.
pub fn fits(len: u64, segment_size: u64) -> bool {
    len + EOS_LEN as u64 <= segment_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_in_place_or_rolls() {
        assert_eq!(place(0, 100, 50), Placement { pos: 0, eos: None });
        assert_eq!(place(42, 100, 50), Placement { pos: 42, eos: None });
        // 43 + 50 + 8 > 100: roll, marker covers 57 bytes.
        assert_eq!(
            place(43, 100, 50),
            Placement {
                pos: 100,
                eos: Some((43, 57))
            }
        );
        assert_eq!(
            place(192, 100, 10),
            Placement {
                pos: 200,
                eos: Some((192, 8))
            }
        );
        assert!(fits(92, 100));
        assert!(!fits(93, 100));
    }
}
