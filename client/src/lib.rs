//! The raftmq Rust SDK and the admin client behind `mqadmin`.
//!
//! - [`sdk`]: producers and consumers (simple, push, pull) over the
//!   RocketMQ 5 gRPC protocol, with coalesced sends, failover between the
//!   members of a broker group, and errors that say what to do.
//! - [`admin`]: the nameserver and broker-admin calls `mqadmin` makes, and
//!   the text it prints, usable from other tools and tests.
//!
//! Among raftmq's crates the library depends only on `raftmq-proto`,
//! `raftmq-model` (names) and `raftmq-tasks` (its tasks' owner).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
pub mod sdk;
