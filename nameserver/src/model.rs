//! The words of the registry: names, ids, roles, permissions and topics.
//!
//! Newtypes keep a cluster name from being passed where a group name is
//! expected, and a member id from being shown where a BID belongs (the two
//! differ by one, see [`BrokerId`]).

use std::fmt;
use std::str::FromStr;

pub use raftmq_model::{Perm, TopicMessageType};

use crate::error::RegistryError;

macro_rules! name_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub String);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<&str> for $name {
            fn from(v: &str) -> Self {
                Self(v.to_owned())
            }
        }

        impl $name {
            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

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
    };
}

name_newtype!(
    /// A cluster (`brokerClusterName`), e.g. `RaftCluster`.
    ClusterName
);
name_newtype!(
    /// A broker group (`brokerName`, also its `dLegerGroup`), e.g.
    /// `RaftNode00`. Group names are unique across clusters.
    BrokerName
);
u64_newtype!(
    /// A member of a group: the number in its `dLegerSelfId` (`n2` is 2).
    MemberId
);
u64_newtype!(
    /// A Raft term as the member reports it.
    Term
);
u64_newtype!(
    /// A counter a broker bumps whenever its topic table changes.
    DataVersion
);
u64_newtype!(
    /// A point in time in milliseconds on the caller's monotonic clock. The
    /// registry never reads a clock: every call that needs the time takes it.
    Millis
);
u64_newtype!(
    /// The BID `mqadmin clusterList` shows: 0 for the group's leader, member
    /// id + 1 for every other member, as upstream DLedger mode shows them.
    BrokerId
);

impl BrokerId {
    /// The leader's ("master's") BID.
    pub const LEADER: BrokerId = BrokerId(0);
}

impl Millis {
    /// Milliseconds from `earlier` to `self`, or 0 if `earlier` is later.
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl FromStr for MemberId {
    type Err = RegistryError;

    /// Parses a `dLegerSelfId` such as `n0` (one optional leading letter, then
    /// digits), as upstream does with `substring(1)`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(s);
        let bad = || RegistryError::BadSelfId { id: s.to_owned() };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let id: u64 = digits.parse().map_err(|_| bad())?;
        if id == u64::MAX {
            return Err(bad());
        }
        Ok(MemberId(id))
    }
}

/// The Raft role a member reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// It believes it leads the group in its term.
    Leader,
    /// It follows a leader.
    Follower,
    /// Standing for election, or its role is not known.
    Candidate,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Leader => "LEADER",
            Role::Follower => "FOLLOWER",
            Role::Candidate => "CANDIDATE",
        })
    }
}

/// A topic as one group serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TopicConfig {
    /// Queues consumers read from.
    pub read_queues: u32,
    /// Queues producers write to.
    pub write_queues: u32,
    /// The topic's own permission on this group.
    pub perm: Perm,
    /// Its `message.type` on this group.
    pub message_type: TopicMessageType,
}
