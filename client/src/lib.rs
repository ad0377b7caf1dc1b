//! The raftmq Rust SDK and the admin client behind `mqadmin`.
//!
//! - [`admin`]: the nameserver and broker-admin calls `mqadmin` makes, and
//!   the text it prints, usable from other tools and tests.
//!
//! The producer and consumer SDK comes with the client-protocol work.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
