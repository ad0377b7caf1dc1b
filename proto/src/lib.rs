//! The RocketMQ 5 gRPC contract (`apache.rocketmq.v2`) and raftmq's internal services.
//!
//! Every crate that speaks gRPC takes its types from here, so dependencies point
//! one way: `proto` <- `raft` <- `broker` (the store speaks no gRPC), and
//! `client` needs `proto`, `model` and `tasks` only.
//!
//! The `.proto` sources live under `proto/` in this crate and are compiled at build
//! time with `protox` (no system `protoc` needed) and `tonic-build`. Protobuf
//! `bytes` fields are generated as [`bytes::Bytes`], so decoding a large payload
//! slices the receive buffer instead of copying it.
//!
//! Modules:
//! - [`rocketmq::v2`] (`apache.rocketmq.v2`): the RocketMQ 5 client protocol that
//!   the official clients speak: `MessagingService` (route, send, receive, ack,
//!   telemetry, ...) and the small `Admin` service, with servers and clients.
//!   Written from the wire contract; field names and numbers match the clients'.
//! - [`raft::v1`] (`raftmq.raft.v1`): Raft RPCs between the members of one broker
//!   group (vote, append entries, snapshot install, leader transfer), with both the
//!   `RaftService` server and client.
//! - [`namesrv::v1`] (`raftmq.namesrv.v1`): broker registration and heartbeats,
//!   cluster list, topic list and routes, write-permission switches.
//! - [`client::v1`] (`raftmq.client.v1`): raftmq's additions to the client
//!   protocol, beside `MessagingService` on the client port (ending many
//!   transactions in one call); clients fall back to v2 where it is
//!   UNIMPLEMENTED.
//! - [`admin::v1`] (`raftmq.admin.v1`): administration of one broker group
//!   (topics, consumer groups, leadership transfer, status), served on every
//!   member.
//! - [`client_protocol`]: what the nameserver and the brokers answer alike in
//!   the client protocol (statuses, routes as queues, the Telemetry handshake).
//! - [`message_type`]: a topic's message type between the model and the wire.
//! - [`subscription_group`]: a consumer group's configuration between the
//!   model and the admin wire.

/// The RocketMQ 5 gRPC client protocol, as served by raftmq brokers.
pub mod rocketmq {
    /// Version 2 of the `apache.rocketmq` package: the types and services that
    /// official RocketMQ 5 clients use (`/apache.rocketmq.v2.MessagingService/*`).
    #[allow(clippy::all, missing_docs)]
    pub mod v2 {
        tonic::include_proto!("apache.rocketmq.v2");
    }
}

pub mod client_protocol;
pub mod message_type;
pub mod serve;
pub mod subscription_group;

/// Raft replication between the members of one broker group.
pub mod raft {
    /// Version 1 of the `raftmq.raft` package.
    #[allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("raftmq.raft.v1");
    }
}

/// The nameserver's own service (registration, cluster list, routes).
pub mod namesrv {
    /// Version 1 of the `raftmq.namesrv` package.
    #[allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("raftmq.namesrv.v1");
    }
}

/// raftmq's additions to the client protocol (calls that do a run of v2
/// calls at once), served on every member's client port.
pub mod client {
    /// Version 1 of the `raftmq.client` package.
    #[allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("raftmq.client.v1");
    }
}

/// Administration of one broker group, served on every member.
pub mod admin {
    /// Version 1 of the `raftmq.admin` package.
    #[allow(clippy::all, missing_docs)]
    pub mod v1 {
        tonic::include_proto!("raftmq.admin.v1");
    }
}

#[cfg(test)]
mod tests {
    use super::raft::v1::{AppendEntriesRequest, LeaderId, LogId, Vote};
    use bytes::Bytes;
    use prost::Message;

    #[test]
    fn append_entries_round_trip_keeps_entries_as_bytes() {
        let entries = Bytes::from_static(b"\x00\x00\x00\x10header-and-body\xff");
        let request = AppendEntriesRequest {
            vote: Some(Vote {
                leader_id: Some(LeaderId {
                    term: 3,
                    node_id: 1,
                }),
                committed: true,
            }),
            prev_log_id: Some(LogId { term: 2, index: 41 }),
            leader_commit: None,
            entries: entries.clone(),
            entry_count: 1,
        };

        let encoded = request.encode_to_vec();
        let decoded = AppendEntriesRequest::decode(Bytes::from(encoded)).unwrap();

        let decoded_entries: &Bytes = &decoded.entries;
        assert_eq!(decoded_entries, &entries);
        assert_eq!(decoded, request);
    }
}
