//! The words every raftmq crate shares, each with its one rule.
//!
//! A topic or group name is checked once, where it enters a process
//! (a client call, an admin command, a Raft proposal), and travels as a
//! [`TopicName`] or [`GroupName`] after that, so no crate needs a validator
//! of its own and no two crates can disagree about what a legal name is.
//!
//! ```text
//!  model  <-  proto  <-  store  <-  raft  <-  broker, nameserver
//!    ^                                         client (via proto)
//!    └── depends on nothing of ours
//! ```
//!
//! Numbers that mean different things get different types: a [`QueueOffset`]
//! is never passed where a [`LogIndex`] is expected.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod group;
mod ids;
mod message_type;
mod name;
mod perm;
mod subscription_group;
mod topic;

pub use group::GroupName;
pub use ids::{LogIndex, NodeId, QueueId, QueueOffset};
pub use message_type::{TopicMessageType, UnknownMessageType};
pub use name::{NameError, NameOf};
pub use perm::{Perm, PermError};
pub use subscription_group::{
    GroupConfigError, GroupRetryPolicy, SubscriptionGroupConfig, DEFAULT_CUSTOMIZED_LEVELS_MS,
    DEFAULT_EXPONENTIAL, FIFO_RETRY_INTERVAL_MS, MAX_LEVELS, MAX_RETRY_TIMES,
};
pub use topic::{TopicKind, TopicName};
