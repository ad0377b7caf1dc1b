//! Permission bits of a broker group (`brokerPermission`) and of a topic
//! (`perm`), as upstream RocketMQ's `PermName` defines them. On disk and on
//! the wire they stay a plain `u32`; [`Perm::bits`] and [`Perm::new`] cross
//! that line.

use std::fmt;

/// Permission bits: read 4, write 2, inherit 1, priority 8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Perm(u32);

/// A permission outside 0 to 7, the range upstream's `PermName.isValid`
/// accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad permission {bits}: use 0 to 7 (read 4 + write 2 + inherit 1), e.g. 6 for read and write"
)]
pub struct PermError {
    /// The bits as given.
    pub bits: u32,
}

impl Perm {
    /// Inherited by topics auto-created from this one.
    pub const INHERIT: Perm = Perm(1);
    /// Producers may write.
    pub const WRITE: Perm = Perm(2);
    /// Consumers may read.
    pub const READ: Perm = Perm(4);
    /// Upstream's priority bit. Like upstream, a configured permission may
    /// not set it ([`Perm::new`] refuses 8 and above); raftmq gives it no
    /// meaning.
    pub const PRIORITY: Perm = Perm(8);
    /// Read and write (6): the default of a group and of a new topic.
    pub const READ_WRITE: Perm = Perm(6);
    /// No access.
    pub const NONE: Perm = Perm(0);

    /// Checks raw bits as upstream's `PermName.isValid`: 0 to 7.
    pub fn new(bits: u32) -> Result<Perm, PermError> {
        if bits >= Perm::PRIORITY.0 {
            return Err(PermError { bits });
        }
        Ok(Perm(bits))
    }

    /// Takes raw `bits` as they are, undefined ones too: for values read
    /// back from disk, which must decode (and encode again) unchanged even
    /// if an older version wrote them without a check.
    pub fn from_bits_retain(bits: u32) -> Perm {
        Perm(bits)
    }

    /// The raw bits, as stored and sent.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether consumers may read.
    pub fn readable(self) -> bool {
        self.0 & Perm::READ.0 != 0
    }

    /// Whether producers may write.
    pub fn writable(self) -> bool {
        self.0 & Perm::WRITE.0 != 0
    }

    /// Whether the priority bit is set.
    pub fn is_priority(self) -> bool {
        self.0 & Perm::PRIORITY.0 != 0
    }

    /// Whether topics auto-created from this one inherit it.
    pub fn inheritable(self) -> bool {
        self.0 & Perm::INHERIT.0 != 0
    }

    /// The same bits without write.
    pub fn without_write(self) -> Perm {
        Perm(self.0 & !Perm::WRITE.0)
    }

    /// The bits both permissions have.
    pub fn intersect(self, other: Perm) -> Perm {
        Perm(self.0 & other.0)
    }

    /// The bits either permission has.
    pub fn union(self, other: Perm) -> Perm {
        Perm(self.0 | other.0)
    }

    /// `RWX` letters as upstream's `perm2String` prints them, `-` for a bit
    /// not set: `RW-` for read and write.
    pub fn letters(self) -> String {
        [
            (self.readable(), 'R'),
            (self.writable(), 'W'),
            (self.inheritable(), 'X'),
        ]
        .iter()
        .map(|(set, c)| if *set { *c } else { '-' })
        .collect()
    }
}

impl Default for Perm {
    fn default() -> Self {
        Perm::READ_WRITE
    }
}

/// The number, as `brokerPermission` is written in a configuration.
impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_mean_what_upstream_says() {
        assert!(Perm::READ_WRITE.readable() && Perm::READ_WRITE.writable());
        assert!(!Perm::READ.writable() && !Perm::WRITE.readable());
        assert_eq!(Perm::READ.union(Perm::WRITE), Perm::READ_WRITE);
        assert_eq!(Perm::READ_WRITE.without_write(), Perm::READ);
        assert_eq!(Perm::READ_WRITE.intersect(Perm::WRITE), Perm::WRITE);
        assert_eq!(Perm::new(6), Ok(Perm::READ_WRITE));
        assert_eq!(Perm::new(7).map(Perm::bits), Ok(7));
        assert_eq!(Perm::new(8), Err(PermError { bits: 8 }));
        assert_eq!(Perm::new(16), Err(PermError { bits: 16 }));
        assert!(Perm::from_bits_retain(12).is_priority());
        assert_eq!(Perm::from_bits_retain(0x16).bits(), 0x16);
        assert!(Perm::from_bits_retain(0x16).readable());
        assert_eq!(Perm::READ_WRITE.to_string(), "6");
        assert!(PermError { bits: 16 }.to_string().contains("0 to 7"));
    }

    #[test]
    fn letters_as_perm2string() {
        let l = |b| Perm::from_bits_retain(b).letters();
        assert_eq!(
            [l(6), l(4), l(2), l(0), l(7), l(1), l(14)],
            ["RW-", "R--", "-W-", "---", "RWX", "--X", "RW-"]
        );
    }
}
