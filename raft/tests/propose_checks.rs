//! A Propose on the Raft port is checked before anything is committed: a
//! record naming a topic that breaks the topic rule, or a command naming an
//! illegal topic or group, would fail to apply on every member, so it is
//! refused with INVALID_ARGUMENT and the log does not grow.

use std::time::Duration;

use bytes::Bytes;
use raftmq_proto::raft::v1 as pb;
use raftmq_proto::raft::v1::raft_service_client::RaftServiceClient;
use raftmq_raft::LocalCluster;
use raftmq_store::meta_state::{Command, Perm, TopicConfig, TopicName};
use raftmq_store::record::message::{encode_batch, Message};

const WAIT: Duration = Duration::from_secs(10);

/// A record naming `topic` as it is: the proposer skips the check, as a
/// member of an older build or a hostile peer would.
fn record(topic: &str) -> Bytes {
    let m = Message {
        body: Bytes::from_static(b"x"),
        message_id: "ILLEGAL0001".into(),
        ..Message::new(TopicName::from_stored(topic.to_owned()))
    };
    let mut out = Vec::new();
    encode_batch(std::slice::from_ref(&m), &mut out).expect("encode");
    Bytes::from(out)
}

/// An upsert naming `topic` as it is: the proposer skips the check, as a
/// member of an older build or a hostile peer would.
fn upsert(topic: &str) -> Bytes {
    let cmd = Command::UpsertTopic {
        topic: TopicName::from_stored(topic.to_owned()),
        config: TopicConfig {
            read_queues: 1,
            write_queues: 1,
            perm: Perm::READ_WRITE,
            message_type: Default::default(),
        },
    };
    Bytes::from(cmd.encode().expect("encode"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_propose_naming_an_illegal_topic_is_refused_before_commit() {
    let c = LocalCluster::start(3).await.expect("start");
    let leader = c.wait_for_leader(WAIT, None).await.expect("a leader");
    c.write(
        &[Message {
            message_id: "P0001".into(),
            ..Message::new("P".parse().expect("legal topic"))
        }],
        WAIT,
    )
    .await
    .expect("a legal write");
    let node = c.node(leader).expect("the leader runs");
    let end = || node.store().commitlog().bounds().next_index;
    let before = end();
    let addr = c.raft_addr(leader).expect("address").to_owned();
    let mut grpc = RaftServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("grpc connect");

    let refusals = [
        (pb::EntryKind::Messages, record("a.b"), 1, "\"a.b\""),
        (pb::EntryKind::Command, upsert("a.b"), 0, "\"a.b\""),
        (pb::EntryKind::Messages, record(""), 1, "empty"),
    ];
    for (kind, body, count, says) in refusals {
        let status = grpc
            .propose(pb::ProposeRequest {
                from: 99,
                kind: kind.into(),
                body,
                count,
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(says), "{}", status.message());
        assert!(
            status.message().contains("A-Z, a-z, 0-9, %, |, _ and -"),
            "the rule is stated: {}",
            status.message()
        );
    }
    assert_eq!(end(), before, "nothing was appended to the log");
    assert!(node.store().topic("a.b").is_none());

    // A legal one still goes through the same door.
    grpc.propose(pb::ProposeRequest {
        from: 99,
        kind: pb::EntryKind::Messages.into(),
        body: record("Legal"),
        count: 1,
    })
    .await
    .expect("a legal propose");
    assert!(end() > before);
    c.shutdown().await;
}
