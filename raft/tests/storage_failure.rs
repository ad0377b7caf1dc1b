//! A member whose disk cannot take its log: openraft stops for good on a
//! storage error, and the member must say so, never serve as a shell that
//! answers nothing. At start, the start fails naming the cause; while
//! running, writes are refused at once and `failed()` reports it (the
//! broker process exits on it).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use raftmq_raft::proposer::Batching;
use raftmq_raft::{FaultHooks, NodeConfig, RaftNode, Refusal, StartError, Timing, WriteError};
use raftmq_store::fault::Faults;
use raftmq_store::record::message::Message;
use raftmq_store::StoreConfig;
use tokio::net::TcpListener;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(30);

/// A group of one on a fresh loopback port, storing under `root`.
async fn single(root: &Path, faults: &Faults) -> (NodeConfig, TcpListener, FaultHooks) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let cfg = NodeConfig {
        id: 0,
        peers: BTreeMap::from([(0, addr)]),
        store: StoreConfig::small(root),
        timing: Timing::default(),
        batching: Batching::default(),
        preferred_leader: None,
        replication: Default::default(),
        client_addr: None,
    };
    (cfg, listener, hooks(faults))
}

fn msg(n: usize, len: usize) -> Message {
    Message {
        queue_id: 0,
        body: Bytes::from(vec![b'x'; len]),
        message_id: format!("M{n:08}"),
        ..Message::new("S".parse().expect("legal topic"))
    }
}

fn hooks(faults: &Faults) -> FaultHooks {
    FaultHooks {
        store: faults.clone(),
        ..FaultHooks::default()
    }
}

async fn start(
    (cfg, listener, hooks): (NodeConfig, TcpListener, FaultHooks),
) -> Result<RaftNode, StartError> {
    tokio::time::timeout(
        BOUND,
        RaftNode::start_with_hooks(cfg, Some(listener), hooks),
    )
    .await
    .expect("start answers within the bound")
}

async fn wait_leading(node: &RaftNode) {
    let deadline = tokio::time::Instant::now() + BOUND;
    while !node.is_leader() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_cannot_write_its_first_entry_fails_to_start_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    faults.set_allocation_fails(true);
    let err = match start(single(dir.path(), &faults).await).await {
        Ok(_) => panic!("a member whose log cannot be written started"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(matches!(err, StartError::Raft { .. }), "{text}");
    assert!(
        text.contains("forming the group") && text.contains("disk full"),
        "{text}"
    );
    // The failed start let go of the store: with space back, the same
    // member starts on the same directory and takes writes.
    faults.set_allocation_fails(false);
    let node = start(single(dir.path(), &faults).await)
        .await
        .expect("starts once space is back");
    wait_leading(&node).await;
    let put = tokio::time::timeout(BOUND, node.write(&[msg(0, 100)]))
        .await
        .expect("bounded")
        .expect("write");
    assert_eq!(put.len(), 1);
    assert!(node.failure().is_none());
    node.stop(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_log_write_fails_reports_it_and_refuses_writes_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let faults = Faults::default();
    let node = start(single(dir.path(), &faults).await)
        .await
        .expect("start");
    wait_leading(&node).await;
    node.write(&[msg(0, 100)]).await.expect("first write");
    // A batch larger than a segment (the small store's are 64 KiB) could
    // never be written: refused before Raft, which goes on.
    let too_big: Vec<Message> = (1..4).map(|n| msg(n, 30_000)).collect();
    match node.write(&too_big).await {
        Err(WriteError::Refused(r @ Refusal::TooLarge { .. })) => {
            assert!(r.to_string().contains("does not fit"), "{r}")
        }
        other => panic!("{other:?}"),
    }
    node.write(&[msg(4, 100)])
        .await
        .expect("a write after the refusal");
    assert!(node.failure().is_none());
    // Writes that need blocks that cannot be had (the next segment):
    // openraft stops.
    faults.set_allocation_fails(true);
    let mut failed_write = None;
    for n in 5..10 {
        let outcome = tokio::time::timeout(BOUND, node.write(&[msg(n, 30_000)]))
            .await
            .expect("the write answers within the bound");
        if let Err(e) = outcome {
            failed_write = Some(e);
            break;
        }
    }
    assert!(
        failed_write.is_some(),
        "every write succeeded without blocks"
    );
    let why = tokio::time::timeout(BOUND, node.failed())
        .await
        .expect("the failure is reported within the bound");
    assert!(why.contains("disk full"), "{why}");
    assert_eq!(node.failure().as_deref(), Some(why.as_str()));
    // Later writes are refused at once, naming the cause, instead of
    // waiting for a leader that will never come.
    let again = tokio::time::timeout(Duration::from_secs(1), node.write(&[msg(9, 10)]))
        .await
        .expect("refused at once");
    match again {
        Err(e @ WriteError::Failed { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("Raft stopped") && text.contains("disk full"),
                "{text}"
            )
        }
        other => panic!("{other:?}"),
    }
    node.stop(false).await;
}
