//! Replication of the commitlog through openraft.
//!
//! ```text
//!   client write ──► Proposer (group commit: many sends, one entry)
//!                      │ client_write
//!                      ▼
//!   openraft core ──► LogStore ──► store::CommitLog   (the Raft log is the commitlog)
//!        │                               ▲
//!        │ committed                     │ AppendEntries: records as stored, no re-encoding
//!        ▼                               │
//!   StateMachine ──► dispatch: queue offsets in log order   ◄── Network/Server (tonic)
//! ```
//!
//! openraft 0.10 (pinned pre-release, see docs/adr/0002) drives elections and
//! replication; this crate supplies its storage on the store's commitlog,
//! the state machine that dispatches committed entries into consume queues,
//! and the transport between group members.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod append_wire;
pub mod cluster;
pub mod codec;
pub mod convert;
mod forward;
pub mod log_store;
pub mod meta;
pub mod network;
pub mod node;
pub mod peers;
pub mod proposer;
pub mod server;
pub mod state_machine;
pub mod types;

pub use cluster::{ClusterOptions, LocalCluster};
pub use network::ReplicationTransport;
pub use node::{NodeConfig, RaftNode, Timing};
pub use types::{LogData, NodeId, TypeConfig};
