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
//! Filled in further by the processes and protocol work.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod conf;
