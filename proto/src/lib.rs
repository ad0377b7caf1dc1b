//! The RocketMQ 5 gRPC contract (`apache.rocketmq.v2`) and raftmq's internal services.
//!
//! Filled in by the client-protocol work; present now so that the workspace has
//! its final shape and dependencies can point one way: `proto` <- `store` <- `raft`.
