//! The route registry: brokers register and heartbeat, clients ask for routes.
//!
//! ```text
//!  broker n0 ─┐  register / heartbeat (every 30 s)     ┌─► clusterList rows
//!  broker n1 ─┼──────────────► Registry ───────────────┼─► topic routes (leader first)
//!  broker n2 ─┘   expire(now) drops the silent (120 s) └─► topics, wipe/add write perm
//! ```
//!
//! As in RocketMQ, the nameserver is an AP registry: each instance is
//! independent and every broker registers with every nameserver, so a
//! nameserver that restarts or misses a heartbeat catches up from the next
//! one. The [`Registry`] is pure state: it reads no clock (the time is passed
//! in as [`Millis`]), opens no socket and starts no task, so the server around
//! it stays thin and every decision here is tested without I/O.
//!
//! What it holds: per group (`brokerName`, unique across clusters) its
//! cluster, its members (id, addresses, Raft role and term, data version,
//! permission, stats) and one topic table, taken from the group's leader.
//! The leader is derived from the members' reports on every read
//! ([`Group::leader`]): BID 0 in `clusterList` always names at most one
//! member per group.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod client_service;
pub mod conf;
pub mod convert;
pub mod error;
pub mod group;
pub mod model;
pub mod registration;
pub mod registry;
pub mod server;
pub mod view;

#[cfg(test)]
mod leader_tests;
#[cfg(test)]
mod registry_props;
#[cfg(test)]
mod registry_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod view_tests;

pub use conf::NamesrvConf;
pub use error::RegistryError;
pub use group::{Group, Member, TopicSource};
pub use model::{
    BrokerId, BrokerName, ClusterName, DataVersion, MemberId, Millis, Perm, Role, Term, TopicConfig,
};
pub use registration::{BrokerStats, Registration};
pub use registry::{RegisterOutcome, Registry, RemovedMember};
pub use server::{NameServer, NameServerService, StartError};
pub use view::{ClusterRow, GroupRoute, RouteMember, TopicRoute};
