//! The broker node: conf files, topics, offsets, pop/ack, the client service and
//! registration with the nameservers.
//!
//! ```text
//!   mqbroker -c conf/dledger/broker-n0.conf [-n host:port;...]
//!        │
//!        ▼
//!   conf::load ──► BrokerConf ──► store_config()  ──► raftmq_store::StoreConfig
//!                      │       └─► raft_timing()   ──► raftmq_raft::Timing
//!                      └──────────► dledger (group, peers, self id) ──► raftmq_raft::NodeConfig
//! ```
//!
//! [`Broker::start`] runs one member: its Raft node, its client port (the
//! RocketMQ 5 client protocol, `MessagingService`, and `BrokerAdmin`) and
//! its registration with every nameserver. `mqbroker` is a thin binary
//! around it.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod admin;
pub mod broker;
pub mod conf;
pub mod fault_injection;
pub mod messaging;
pub mod registrar;
pub mod stats;

pub use broker::{Broker, BrokerError, Listeners};
