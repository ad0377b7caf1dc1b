//! The peers raftmq is measured against, side by side on the same machine:
//! NATS JetStream (a 3-node cluster started by `benches/scripts/nats-cluster.sh`)
//! and the ceiling of the RocketMQ 5 gRPC protocol itself (a do-nothing tonic
//! server in a separate process).
//!
//! Everything here is used by `peerbench` (`src/bin/peerbench.rs`), which
//! includes this module by path: the library crate does not depend on it.

pub mod cpu;
pub mod driver;
pub mod grpc;
pub mod nats;
pub mod report;
pub mod table;
