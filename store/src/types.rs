//! Newtypes for the numbers the store deals in, so that a queue offset is never
//! passed where a byte position or a Raft index is expected. [`LogIndex`] and
//! [`QueueOffset`] are domain types shared with the other crates and live in
//! `raftmq-model`; they are re-exported here so existing paths keep working.

use std::fmt;

pub use raftmq_model::{LogIndex, QueueOffset};

macro_rules! u64_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                Self(v)
            }
        }
    };
}

u64_newtype!(
    /// A Raft term.
    Term
);
u64_newtype!(
    /// A byte position in the commitlog, counted across segments from the
    /// first byte ever written (segment files are named by the position of
    /// their first byte).
    LogPos
);
