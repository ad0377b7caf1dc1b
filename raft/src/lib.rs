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
pub mod channels;
#[cfg(feature = "test-util")]
pub mod cluster;
pub mod codec;
pub mod convert;
pub mod error;
mod forward;
pub mod hold;
pub mod limits;
pub mod log_store;
mod members;
pub mod meta;
pub mod network;
pub mod node;
pub mod partition;
pub mod peers;
pub mod proposer;
pub mod server;
pub mod state_machine;
pub mod types;

#[cfg(feature = "test-util")]
pub use cluster::{ClusterOptions, LocalCluster};
pub use error::{Refusal, StartError, WriteError};
pub use network::ReplicationTransport;
#[cfg(feature = "test-util")]
pub use node::FaultHooks;
pub use node::{Leadership, NodeConfig, Progress, RaftNode, RaftStatus, Role, Timing};
pub use types::{LogData, NodeId, TypeConfig};
