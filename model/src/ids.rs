//! Newtypes for the numbers raftmq deals in, so that a queue offset is
//! never passed where a Raft index or a queue id is expected.

use std::fmt;

macro_rules! newtype {
    ($(#[$doc:meta])* $name:ident($int:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $int);

        impl From<$int> for $name {
            fn from(v: $int) -> Self {
                Self(v)
            }
        }

        impl From<$name> for $int {
            fn from(v: $name) -> $int {
                v.0
            }
        }
    };
}

macro_rules! display_as_number {
    ($($name:ident),*) => {
        $(impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        })*
    };
}

newtype!(
    /// A queue of a topic on one broker group, from 0.
    QueueId(u32)
);
newtype!(
    /// The position of a message in one consume queue, dense from 0.
    QueueOffset(u64)
);
newtype!(
    /// The index of an entry in the Raft log, which is the commitlog.
    LogIndex(u64)
);
newtype!(
    /// A member of a Raft group (`dLegerSelfId` without its letter).
    NodeId(u64)
);

display_as_number!(QueueId, QueueOffset, LogIndex);

/// `n{id}`, as members are named in the logs and the configuration.
impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_plainly_and_members_with_their_letter() {
        assert_eq!(QueueId(3).to_string(), "3");
        assert_eq!(QueueOffset(42).to_string(), "42");
        assert_eq!(LogIndex(7).to_string(), "7");
        assert_eq!(NodeId(2).to_string(), "n2");
        assert_eq!(u64::from(LogIndex::from(9)), 9);
        assert!(QueueOffset(1) < QueueOffset(2));
    }
}
