//! The commitlog entry: one Raft log entry as it lies on disk.
//!
//! ```text
//!  0       4   5   6       8       12      16              24              32
//!  +-------+---+---+-------+-------+-------+---------------+---------------+------
//!  | magic |ver|knd| flags |  len  |  crc  |     index     |     term      | body
//!  +-------+---+---+-------+-------+-------+---------------+---------------+------
//! ```
//! All integers little-endian. `len` counts header and body. `crc` is CRC32
//! over bytes `[0, 12)` and `[16, len)`: everything but itself.
//!
//! A segment that cannot hold the next entry ends with an end-of-segment
//! marker (`EOS_MAGIC`, then the number of bytes it covers), and the entry goes
//! at the start of the next segment. A run of zeros is never a valid entry, so
//! a torn write is always told apart from data.

/// `b"RMQE"` read as a little-endian u32.
pub const ENTRY_MAGIC: u32 = u32::from_le_bytes(*b"RMQE");
/// `b"RMQZ"`: the rest of the segment is padding.
pub const EOS_MAGIC: u32 = u32::from_le_bytes(*b"RMQZ");
/// The only format version written so far.
pub const ENTRY_VERSION: u8 = 1;
/// Header bytes before the body.
pub const HEADER_LEN: usize = 32;
/// Bytes of an end-of-segment marker.
pub const EOS_LEN: usize = 8;

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EntryKind {
    /// No payload (a new leader's first entry).
    Blank = 1,
    /// A Raft membership change; the body is the Raft layer's encoding.
    Membership = 2,
    /// A batch of message records laid end to end.
    Messages = 3,
    /// A control command (topic change, offset commit, ...); the body is the
    /// state machine's encoding.
    Command = 4,
}

impl EntryKind {
    /// Decodes the kind byte.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => EntryKind::Blank,
            2 => EntryKind::Membership,
            3 => EntryKind::Messages,
            4 => EntryKind::Command,
            _ => return None,
        })
    }
}

/// The decoded fixed header of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryHeader {
    /// What the body holds.
    pub kind: EntryKind,
    /// Header plus body, bytes.
    pub len: u32,
    /// CRC32 of everything but this field.
    pub crc: u32,
    /// Raft index.
    pub index: u64,
    /// Raft term.
    pub term: u64,
}

/// Why bytes are not a valid entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryDefect {
    /// Fewer bytes than a header, or than the header's length says.
    Short,
    /// All zeros: nothing was ever written here.
    Zeros,
    /// The magic is wrong.
    BadMagic(u32),
    /// A version this build does not read.
    BadVersion(u8),
    /// An unknown kind byte.
    BadKind(u8),
    /// The length is below the header size or past what the segment holds.
    BadLength(u32),
    /// The CRC does not match.
    BadCrc {
        /// Stored.
        stored: u32,
        /// Computed.
        computed: u32,
    },
}

impl std::fmt::Display for EntryDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryDefect::Short => write!(f, "entry cut short"),
            EntryDefect::Zeros => write!(f, "no entry (zeros)"),
            EntryDefect::BadMagic(m) => write!(f, "bad entry magic {m:#010x}"),
            EntryDefect::BadVersion(v) => write!(f, "unknown entry version {v}"),
            EntryDefect::BadKind(k) => write!(f, "unknown entry kind {k}"),
            EntryDefect::BadLength(l) => write!(f, "bad entry length {l}"),
            EntryDefect::BadCrc { stored, computed } => {
                write!(
                    f,
                    "entry CRC mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
        }
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Writes the header for a body into `out[..HEADER_LEN]`, CRC included.
pub fn encode_header(
    out: &mut [u8; HEADER_LEN],
    kind: EntryKind,
    index: u64,
    term: u64,
    body: &[u8],
) {
    encode_header_with_crc(out, kind, index, term, body.len(), 0);
    let crc = crc_of(&out[..], body);
    out[12..16].copy_from_slice(&crc.to_le_bytes());
}

/// [`encode_header`] for a body of `body_len` bytes whose record CRC is
/// known already (the CRC of a checked record with this header and body).
pub fn encode_header_with_crc(
    out: &mut [u8; HEADER_LEN],
    kind: EntryKind,
    index: u64,
    term: u64,
    body_len: usize,
    crc: u32,
) {
    let len = (HEADER_LEN + body_len) as u32;
    out[0..4].copy_from_slice(&ENTRY_MAGIC.to_le_bytes());
    out[4] = ENTRY_VERSION;
    out[5] = kind as u8;
    out[6..8].copy_from_slice(&0u16.to_le_bytes());
    out[8..12].copy_from_slice(&len.to_le_bytes());
    out[12..16].copy_from_slice(&crc.to_le_bytes());
    out[16..24].copy_from_slice(&index.to_le_bytes());
    out[24..32].copy_from_slice(&term.to_le_bytes());
}

fn crc_of(header: &[u8], body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[0..12]);
    h.update(&header[16..HEADER_LEN]);
    h.update(body);
    h.finalize()
}

/// Decodes and checks a header without the body: magic, version, kind and a
/// length no larger than `max_len`.
pub fn decode_header(bytes: &[u8], max_len: u64) -> Result<EntryHeader, EntryDefect> {
    if bytes.len() < HEADER_LEN {
        return Err(EntryDefect::Short);
    }
    let magic = le_u32(bytes, 0);
    if magic != ENTRY_MAGIC {
        if bytes[..HEADER_LEN].iter().all(|&b| b == 0) {
            return Err(EntryDefect::Zeros);
        }
        return Err(EntryDefect::BadMagic(magic));
    }
    if bytes[4] != ENTRY_VERSION {
        return Err(EntryDefect::BadVersion(bytes[4]));
    }
    let kind = EntryKind::from_u8(bytes[5]).ok_or(EntryDefect::BadKind(bytes[5]))?;
    let len = le_u32(bytes, 8);
    if (len as usize) < HEADER_LEN || u64::from(len) > max_len {
        return Err(EntryDefect::BadLength(len));
    }
    Ok(EntryHeader {
        kind,
        len,
        crc: le_u32(bytes, 12),
        index: le_u64(bytes, 16),
        term: le_u64(bytes, 24),
    })
}

/// Checks a whole entry (`bytes` is exactly `header.len` long).
pub fn verify(header: &EntryHeader, bytes: &[u8]) -> Result<(), EntryDefect> {
    if bytes.len() != header.len as usize {
        return Err(EntryDefect::Short);
    }
    let computed = crc_of(bytes, &bytes[HEADER_LEN..]);
    if computed != header.crc {
        return Err(EntryDefect::BadCrc {
            stored: header.crc,
            computed,
        });
    }
    Ok(())
}

/// Encodes an end-of-segment marker covering `remaining` bytes.
pub fn encode_eos(remaining: u32) -> [u8; EOS_LEN] {
    let mut out = [0u8; EOS_LEN];
    out[0..4].copy_from_slice(&EOS_MAGIC.to_le_bytes());
    out[4..8].copy_from_slice(&remaining.to_le_bytes());
    out
}

/// Whether `bytes` starts with an end-of-segment marker covering exactly
/// `remaining` bytes.
pub fn is_eos(bytes: &[u8], remaining: u64) -> bool {
    bytes.len() >= EOS_LEN
        && le_u32(bytes, 0) == EOS_MAGIC
        && u64::from(le_u32(bytes, 4)) == remaining
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: EntryKind, index: u64, term: u64, body: &[u8]) -> Vec<u8> {
        let mut h = [0u8; HEADER_LEN];
        encode_header(&mut h, kind, index, term, body);
        let mut v = h.to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn header_round_trip_and_crc() {
        let bytes = entry(EntryKind::Messages, 7, 3, b"hello");
        let h = decode_header(&bytes, 1 << 20).expect("valid header");
        assert_eq!(
            (h.kind, h.index, h.term, h.len),
            (EntryKind::Messages, 7, 3, 37)
        );
        verify(&h, &bytes).expect("valid crc");
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let bytes = entry(EntryKind::Command, 1, 1, b"some body bytes");
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                let caught = match decode_header(&b, 1 << 20) {
                    Err(_) => true,
                    Ok(h) => b
                        .get(..h.len as usize)
                        .is_none_or(|s| verify(&h, s).is_err()),
                };
                assert!(caught, "flip of bit {bit} in byte {i} not caught");
            }
        }
    }

    #[test]
    fn zeros_and_short_are_named() {
        assert_eq!(decode_header(&[0u8; 32], 100), Err(EntryDefect::Zeros));
        assert_eq!(decode_header(&[0u8; 5], 100), Err(EntryDefect::Short));
        let bytes = entry(EntryKind::Blank, 1, 1, &[]);
        assert_eq!(decode_header(&bytes, 16), Err(EntryDefect::BadLength(32)));
    }

    #[test]
    fn eos_marker() {
        let m = encode_eos(100);
        assert!(is_eos(&m, 100));
        assert!(!is_eos(&m, 99));
        assert!(!is_eos(&[0u8; 8], 0));
    }
}
