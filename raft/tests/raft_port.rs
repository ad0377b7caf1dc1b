//! The Raft port serves two kinds of connection: replication sessions in
//! raftmq's own framing (`append_wire`) and gRPC. Leaders of earlier builds
//! replicate over gRPC's `StreamAppend`, which is still answered; anything
//! else that reaches the port is dropped without disturbing the group.

use std::time::Duration;

use bytes::Bytes;
use raftmq_proto::raft::v1 as pb;
use raftmq_proto::raft::v1::append_entries_response::Result as Answer;
use raftmq_proto::raft::v1::raft_service_client::RaftServiceClient;
use raftmq_raft::append_wire::{self, FrameReader, MAGIC};
use raftmq_raft::{ClusterOptions, LocalCluster, ReplicationTransport};
use raftmq_store::record::message::Message;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

fn msg(n: u64) -> Message {
    Message {
        body: Bytes::from(format!("value-{n}")),
        message_id: format!("P{n:08}"),
        ..Message::new("P".parse().expect("legal topic"))
    }
}

/// An append from a leader of term 0, which every member has left behind.
fn stale_append() -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest {
        vote: Some(pb::Vote {
            leader_id: Some(pb::LeaderId {
                term: 0,
                node_id: 99,
            }),
            committed: true,
        }),
        ..Default::default()
    }
}

fn is_higher_vote(a: &pb::AppendEntriesResponse) -> bool {
    matches!(&a.result, Some(Answer::HigherVote(v)) if v.leader_id.as_ref().is_some_and(|l| l.term > 0))
}

/// Whether the peer closed `stream` (EOF or reset) within [`WAIT`].
async fn closed_by_peer(stream: TcpStream) -> bool {
    let mut frames = FrameReader::new(stream);
    matches!(
        tokio::time::timeout(WAIT, frames.next()).await,
        Ok(Ok(None) | Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_kinds_of_session_are_answered_and_garbage_is_dropped() {
    let c = LocalCluster::start(3).await.expect("start");
    let leader = c.wait_for_leader(WAIT, None).await.expect("a leader");
    c.write(&[msg(0)], WAIT).await.expect("first write");
    let follower = c
        .ids()
        .into_iter()
        .find(|i| *i != leader)
        .expect("a follower");
    let addr = c.raft_addr(follower).expect("address").to_owned();

    // Our framing: a stale leader is told the member's newer vote.
    let mut raw = TcpStream::connect(&addr).await.expect("connect");
    raw.write_all(&MAGIC).await.expect("magic");
    append_wire::write_request(&mut raw, stale_append())
        .await
        .expect("request");
    let mut frames = FrameReader::new(raw);
    let frame = tokio::time::timeout(WAIT, frames.next())
        .await
        .expect("an answer in time")
        .expect("read")
        .expect("a frame");
    let answer = append_wire::decode_answer(frame).expect("an answer");
    assert!(is_higher_vote(&answer), "{answer:?}");

    // gRPC's StreamAppend, as earlier builds' leaders use it: the same.
    let mut grpc = RaftServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("grpc connect");
    let mut answers = grpc
        .stream_append(tokio_stream::iter(vec![stale_append()]))
        .await
        .expect("stream")
        .into_inner();
    let answer = tokio::time::timeout(WAIT, answers.message())
        .await
        .expect("an answer in time")
        .expect("status")
        .expect("a message");
    assert!(is_higher_vote(&answer), "{answer:?}");

    // Garbage after the magic, a frame announced past the limit, a wrong
    // magic: each connection is closed by the member.
    let mut bad_head = TcpStream::connect(&addr).await.expect("connect");
    bad_head.write_all(&MAGIC).await.expect("magic");
    bad_head
        .write_all(&[6, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff])
        .await
        .expect("frame");
    assert!(
        closed_by_peer(bad_head).await,
        "a head that does not decode"
    );
    let mut huge = TcpStream::connect(&addr).await.expect("connect");
    huge.write_all(&MAGIC).await.expect("magic");
    huge.write_all(&u32::MAX.to_le_bytes())
        .await
        .expect("length");
    assert!(closed_by_peer(huge).await, "a frame over the limit");
    let mut wrong = TcpStream::connect(&addr).await.expect("connect");
    wrong
        .write_all(&[MAGIC[0], b'X', b'X', b'X', b'X', b'X', b'X', b'X'])
        .await
        .expect("bytes");
    assert!(closed_by_peer(wrong).await, "a wrong magic");

    // The group went on as before: the same leader, and a write commits.
    assert_eq!(
        c.wait_for_leader(WAIT, None).await.expect("a leader"),
        leader
    );
    c.write(&[msg(1)], WAIT)
        .await
        .expect("write after the garbage");
    c.shutdown().await;
}

/// `raftReplicationTransport=grpc`: leaders replicate over gRPC's
/// `StreamAppend`, as members of earlier builds need during an upgrade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_told_so_replicates_over_grpc() {
    let c = LocalCluster::start_with(ClusterOptions {
        replication: ReplicationTransport::Grpc,
        ..ClusterOptions::default()
    })
    .await
    .expect("start");
    c.wait_for_leader(WAIT, None).await.expect("a leader");
    let msgs: Vec<Message> = (0..50).map(msg).collect();
    for chunk in msgs.chunks(10) {
        c.write(chunk, WAIT).await.expect("write");
    }
    // Every member holds the whole log.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let ends: Vec<u64> = c
            .running()
            .map(|n| n.store().commitlog().bounds().next_index)
            .collect();
        if ends.len() == 3 && ends.iter().all(|e| *e == ends[0]) && ends[0] >= 5 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "members' logs end at {ends:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.shutdown().await;
}
