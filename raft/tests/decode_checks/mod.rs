//! What the Raft layer's decoders promise whatever a peer sends, as
//! functions that both `tests/decode_garbage.rs` (stable, in CI) and the
//! cargo-fuzz targets in `fuzz/` (`raft_records`, `raft_append`,
//! `raft_membership`) run: decoding returns `Ok` or `Err` and never panics
//! or aborts, and what decodes encodes back to the same entries.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use openraft::entry::RaftEntry;
use openraft::impls::BasicNode;
use openraft::EntryPayload;
use raftmq_proto::raft::v1 as pb;
use raftmq_raft::codec;
use raftmq_raft::convert;
use raftmq_raft::types::{log_id, DataKind, Entry, Membership};
use raftmq_raft::LogData;
use raftmq_store::message_store::SnapshotPlan;
use raftmq_store::meta_state::{Command, MetaState, Perm, TopicConfig};

/// `entries` as an AppendEntries carries them, announced as `expected`
/// entries (the wire's `entry_count`).
pub fn records(entries: &[u8], expected: u32) {
    // The snapshot receiver reads the same bytes for their span.
    let span = codec::records_span(entries);
    let buf = Bytes::copy_from_slice(entries);
    let Ok(decoded) = codec::decode_records(buf, expected as usize) else {
        return;
    };
    assert_eq!(decoded.len(), expected as usize);
    if let Ok(span) = span {
        let index = |e: Option<&Entry>| e.map(|e| e.log_id_parts().1);
        let ends = index(decoded.first()).zip(index(decoded.last()));
        assert_eq!(span, ends, "span of the records that decoded");
    }
    let again = codec::encode_records(&decoded);
    let back = codec::decode_records(again, decoded.len()).expect("re-encoded records");
    assert_eq!(back, decoded, "decode, encode, decode changed the entries");
}

/// An AppendEntries request as the Raft port's handler converts it.
pub fn append_request(request: pb::AppendEntriesRequest) {
    let count = request.entry_count;
    let Ok(decoded) = convert::from_append_request(request) else {
        return;
    };
    assert_eq!(decoded.entries.len(), count as usize);
    let wire = convert::append_request(&decoded);
    assert_eq!(wire.entry_count, count);
    let back = convert::from_append_request(wire).expect("re-encoded request");
    assert_eq!(back.vote, decoded.vote);
    assert_eq!(back.prev_log_id, decoded.prev_log_id);
    assert_eq!(back.leader_commit, decoded.leader_commit);
    assert_eq!(back.entries, decoded.entries);
}

/// A membership body (entries of kind `Membership`, snapshot metadata).
pub fn membership(data: &[u8]) {
    if let Ok(m) = codec::decode_membership(data) {
        let again = codec::encode_membership(&m);
        assert_eq!(codec::decode_membership(&again).ok(), Some(m));
    }
}

/// A snapshot plan (the first chunk of InstallSnapshot).
pub fn plan(data: &[u8]) {
    if let Ok(p) = codec::decode_plan(data) {
        let again = codec::encode_plan(&p).expect("a decoded plan encodes again");
        assert_eq!(codec::decode_plan(&again).ok(), Some(p));
    }
}

/// A three-member membership on loopback ports.
pub fn members() -> Membership {
    let nodes: BTreeMap<u64, BasicNode> = (0..3)
        .map(|i| (i, BasicNode::new(format!("127.0.0.1:{}", 40911 + i))))
        .collect();
    let voters: BTreeSet<u64> = nodes.keys().copied().collect();
    Membership::new(vec![voters], nodes).expect("a valid membership")
}

/// Entries of every kind, as a leader sends them.
pub fn valid_entries() -> Vec<Entry> {
    let command = Command::UpsertTopic {
        topic: "TopicTest".parse().expect("legal"),
        config: TopicConfig {
            read_queues: 8,
            write_queues: 8,
            perm: Perm::READ_WRITE,
            message_type: Default::default(),
        },
    }
    .encode()
    .expect("encode a command");
    vec![
        Entry::new(log_id(1, 1), EntryPayload::Membership(members())),
        Entry::new(log_id(1, 2), EntryPayload::Blank),
        Entry::new(
            log_id(1, 3),
            EntryPayload::Normal(LogData::new(DataKind::Command, Bytes::from(command))),
        ),
        Entry::new(
            log_id(2, 4),
            EntryPayload::Normal(LogData::new(
                DataKind::Messages,
                Bytes::from_static(b"message records"),
            )),
        ),
    ]
}

/// A valid AppendEntries request carrying `entries`.
pub fn valid_request(entries: &[Entry]) -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest {
        vote: Some(pb::Vote {
            leader_id: Some(pb::LeaderId {
                term: 2,
                node_id: 0,
            }),
            committed: true,
        }),
        prev_log_id: Some(pb::LogId { term: 1, index: 0 }),
        leader_commit: Some(pb::LogId { term: 1, index: 1 }),
        entries: codec::encode_records(entries),
        entry_count: u32::try_from(entries.len()).expect("a few entries"),
    }
}

/// A snapshot plan with a topic, queue bases and an offset.
pub fn valid_plan() -> SnapshotPlan {
    let mut state = MetaState::default();
    state.apply(Command::UpsertTopic {
        topic: "TopicTest".parse().expect("legal"),
        config: TopicConfig {
            read_queues: 4,
            write_queues: 4,
            perm: Perm::READ_WRITE,
            message_type: Default::default(),
        },
    });
    state.apply(Command::CommitOffsets {
        group: "GroupA".parse().expect("legal"),
        offsets: vec![("TopicTest".parse().expect("legal"), 1, 42)],
    });
    SnapshotPlan {
        start_index: 17,
        queue_bases: vec![("TopicTest".into(), 0, 5), ("TopicTest".into(), 1, 3)],
        state,
        state_index: 20,
    }
}
