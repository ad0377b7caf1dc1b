//! A three-member group in one process: formation, replication, failover,
//! catch-up after a restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use raftmq_raft::LocalCluster;
use raftmq_store::consume_queue::TagFilter;
use raftmq_store::record::message::Message;
use raftmq_store::QueueOffset;

fn msg(n: u64) -> Message {
    Message {
        queue_id: (n % 4) as u32,
        tag: Some("T".into()),
        body: Bytes::from(format!("value-{n}")),
        message_id: format!("M{n:08}"),
        keys: vec![format!("k{n}")],
        ..Message::new("G".parse().expect("legal topic"))
    }
}

/// The (queue, offset) -> body of every message a member holds.
fn contents(node: &raftmq_raft::RaftNode) -> Vec<(u32, u64, Bytes)> {
    let store = node.store();
    let mut out = Vec::new();
    for q in 0..4u32 {
        let batch = store
            .read_messages("G", q, QueueOffset(0), usize::MAX, &TagFilter::All)
            .expect("read");
        for m in batch.messages {
            let body = Bytes::copy_from_slice(m.view().expect("decode").body());
            out.push((q, m.queue_offset.expect("offset").0, body));
        }
    }
    out
}

/// Waits until every running member has applied `count` messages.
async fn wait_applied(c: &LocalCluster, count: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let done = c.running().all(|n| contents(n).len() >= count);
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "members did not all apply {count} messages in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_forms_replicates_fails_over_and_catches_up() {
    let mut c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");

    for n in 0..40 {
        let r = c
            .write(&[msg(n)], Duration::from_secs(5))
            .await
            .expect("write");
        assert_eq!(r.len(), 1);
    }
    wait_applied(&c, 40, Duration::from_secs(5)).await;
    let reference = contents(c.node(leader).expect("leader"));
    assert_eq!(reference.len(), 40);
    for n in c.running() {
        assert_eq!(contents(n), reference, "member {} differs", n.id());
    }

    // Kill the leader: another takes over and accepts writes.
    let killed_at = Instant::now();
    c.kill(leader).await;
    let new_leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a new leader");
    assert_ne!(new_leader, leader);
    c.write(&[msg(40)], Duration::from_secs(5))
        .await
        .expect("write after failover");
    let failover = killed_at.elapsed();
    assert!(
        failover < Duration::from_secs(3),
        "failover took {failover:?}"
    );
    for n in 41..60 {
        c.write(&[msg(n)], Duration::from_secs(5))
            .await
            .expect("write");
    }

    // The old leader comes back as a follower and catches up.
    c.restart(leader).await.expect("restart");
    wait_applied(&c, 60, Duration::from_secs(10)).await;
    let reference = contents(c.node(new_leader).expect("leader"));
    for n in c.running() {
        assert_eq!(
            contents(n),
            reference,
            "member {} differs after catch-up",
            n.id()
        );
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_on_request_and_to_the_preferred_member() {
    let c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    c.write(&[msg(0)], Duration::from_secs(5))
        .await
        .expect("write");
    let target = c
        .ids()
        .into_iter()
        .find(|i| *i != leader)
        .expect("another member");
    c.node(leader)
        .expect("leader")
        .transfer_leader(target)
        .await
        .expect("transfer");
    let deadline = Instant::now() + Duration::from_secs(5);
    let now = loop {
        let l = c
            .wait_for_leader(Duration::from_secs(5), None)
            .await
            .expect("a leader");
        if l == target || Instant::now() >= deadline {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(now, target, "leadership did not move to n{target}");
    c.write(&[msg(1)], Duration::from_secs(5))
        .await
        .expect("write on the new leader");
    c.shutdown().await;

    // With preferredLeaderIds, the group ends up led by the preferred member
    // whoever wins the first election.
    let c = LocalCluster::start_with(raftmq_raft::ClusterOptions {
        preferred_leader: Some(2),
        ..raftmq_raft::ClusterOptions::default()
    })
    .await
    .expect("start");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = c.wait_for_leader(Duration::from_secs(5), None).await;
        if l == Some(2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "preferred member n2 never took over (leader {l:?})"
        );
        let _ = c.write(&[msg(2)], Duration::from_secs(1)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_survive_a_leader_failover() {
    use raftmq_store::meta_state::Command;

    let mut c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    let commit = Command::CommitOffsets {
        group: "readers".parse().expect("legal"),
        offsets: vec![("G".parse().expect("legal"), 1, 42)],
    };
    c.node(leader)
        .expect("leader")
        .command(&commit)
        .await
        .expect("commit");
    c.kill(leader).await;
    let new_leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a new leader");
    // A write in the new term makes sure everything committed is applied.
    c.write(&[msg(1)], Duration::from_secs(5))
        .await
        .expect("write");
    let store = c.node(new_leader).expect("new leader").store();
    assert_eq!(store.consumer_offset("readers", "G", 1), Some(42));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_does_not_lead_forwards_writes_to_the_leader() {
    use raftmq_store::meta_state::{Command, Perm, TopicConfig};

    let c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    let follower = c
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");
    let f = c.node(follower).expect("follower");

    let results = f.write(&[msg(0), msg(4)]).await.expect("forwarded write");
    let offsets: Vec<u64> = results.iter().map(|r| r.queue_offset.0).collect();
    assert_eq!(offsets, vec![0, 1], "both went to queue 0, densely");

    let topic = TopicConfig {
        read_queues: 4,
        write_queues: 4,
        perm: Perm::READ_WRITE,
        message_type: Default::default(),
    };
    f.command(&Command::UpsertTopic {
        topic: "Forwarded".parse().expect("legal"),
        config: topic.clone(),
    })
    .await
    .expect("forwarded command");
    wait_applied(&c, 2, Duration::from_secs(5)).await;
    // The command is committed on the leader, and reaches every member.
    let deadline = Instant::now() + Duration::from_secs(5);
    while c
        .running()
        .any(|n| n.store().topic("Forwarded").as_ref() != Some(&topic))
    {
        assert!(
            Instant::now() < deadline,
            "the topic did not reach every member"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_has_applied_all_acknowledged_writes_once_it_says_so() {
    let mut c = LocalCluster::start(3).await.expect("start");
    let mut n = 0u64;
    for round in 0..3 {
        let leader = c
            .wait_for_leader(Duration::from_secs(5), None)
            .await
            .expect("a leader");
        // A follower is not ready, and says so at once.
        let follower = c
            .ids()
            .into_iter()
            .find(|i| *i != leader)
            .expect("two members");
        let asked = Instant::now();
        assert!(
            !c.node(follower)
                .expect("follower")
                .wait_applied_as_leader()
                .await
        );
        assert!(asked.elapsed() < Duration::from_secs(1));

        n += 1;
        let last = msg(n);
        c.write(std::slice::from_ref(&last), Duration::from_secs(5))
            .await
            .expect("write");
        // Killed right after the acknowledgement: the others may not yet
        // know that `last` is committed.
        c.kill(leader).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let next = loop {
            if let Some(l) = c.running().find(|m| m.is_leader()) {
                break l;
            }
            assert!(Instant::now() < deadline, "round {round}: no new leader");
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        assert!(next.wait_applied_as_leader().await, "round {round}");
        let found = next
            .store()
            .query_by_id(&last.message_id)
            .expect("key index");
        assert!(
            found.is_some(),
            "round {round}: the new leader has not applied {}",
            last.message_id
        );
        c.restart(leader).await.expect("restart");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_restarted_at_once_does_not_resume_its_old_term() {
    use openraft::type_config::async_runtime::WatchReceiver;
    let mut c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    c.write(&[msg(1)], Duration::from_secs(5))
        .await
        .expect("write");
    let old_term = c
        .node(leader)
        .expect("leader")
        .raft()
        .metrics()
        .borrow_watched()
        .current_term;
    // Back before the others' election timeout runs out.
    c.kill(leader).await;
    c.restart(leader).await.expect("restart");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = c
            .node(leader)
            .expect("restarted")
            .raft()
            .metrics()
            .borrow_watched()
            .clone();
        if m.state == openraft::ServerState::Leader {
            assert!(
                m.current_term > old_term,
                "n{leader} leads term {} again after a restart",
                m.current_term
            );
        }
        if c.wait_for_leader(Duration::from_millis(50), None)
            .await
            .is_some()
        {
            break;
        }
        assert!(Instant::now() < deadline, "no leader after the restart");
    }
    c.write(&[msg(2)], Duration::from_secs(5))
        .await
        .expect("write after the restart");
    wait_applied(&c, 2, Duration::from_secs(10)).await;
    c.shutdown().await;
}
