//! A member that lost its disk rejoins with every retained message, also
//! when the leader has deleted old segments by retention (the case DLedger
//! fails: its issues 61 and 87).

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use raftmq_raft::{LocalCluster, RaftNode};
use raftmq_store::consume_queue::TagFilter;
use raftmq_store::message_store::HourOrManual;
use raftmq_store::meta_state::Command;
use raftmq_store::record::message::Message;

fn msg(n: u64, size: usize) -> Message {
    Message {
        queue_id: (n % 3) as u32,
        body: Bytes::from(format!("{n:08}-").repeat(size / 9 + 1)),
        message_id: format!("C{n:08}"),
        keys: vec![format!("key{n}")],
        ..Message::new("C".parse().expect("legal topic"))
    }
}

/// One queue as a member sees it: (min, max, [(offset, message id)]).
type QueueView = (u64, u64, Vec<(u64, String)>);

fn view(node: &RaftNode) -> Vec<QueueView> {
    (0..3u32)
        .map(|q| {
            let store = node.store();
            let (min, max) = store.queue_offsets("C", q);
            let msgs = store
                .read_messages("C", q, min, usize::MAX, &TagFilter::All)
                .unwrap_or_else(|e| {
                    panic!(
                        "n{} queue {q} from {min}: {e}; log {:?}",
                        node.id(),
                        store.commitlog().bounds()
                    )
                })
                .messages
                .iter()
                .map(|m| {
                    let v = m.view().expect("decode");
                    (
                        m.queue_offset.map_or(u64::MAX, |o| o.0),
                        v.message_id().to_owned(),
                    )
                })
                .collect();
            (min.0, max.0, msgs)
        })
        .collect()
}

async fn wait_same(c: &LocalCluster, a: u64, b: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let (Some(x), Some(y)) = (c.node(a), c.node(b)) else {
            panic!("member missing");
        };
        if view(x) == view(y) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "n{b} did not catch up with n{a}:\n{:?}\nvs\n{:?}",
            view(x).iter().map(|q| (q.0, q.1)).collect::<Vec<_>>(),
            view(y).iter().map(|q| (q.0, q.1)).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wipe_and_restart(c: &mut LocalCluster, id: u64) {
    c.kill(id).await;
    let root = c.store_root(id).expect("root");
    std::fs::remove_dir_all(&root).expect("wipe");
    c.restart(id).await.expect("restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_member_gets_every_message_back() {
    let mut c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("leader");
    for n in 0..60 {
        c.write(&[msg(n, 100)], Duration::from_secs(5))
            .await
            .expect("write");
    }
    let follower = c
        .ids()
        .into_iter()
        .find(|i| *i != leader)
        .expect("follower");
    wipe_and_restart(&mut c, follower).await;
    wait_same(&c, leader, follower, Duration::from_secs(10)).await;
    assert_eq!(view(c.node(follower).expect("f"))[0].2.len(), 20);
    c.shutdown().await;
}

fn age_all_but_last_segment(dir: &std::path::Path) {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .collect();
    segs.sort();
    segs.pop();
    for p in segs {
        let f = std::fs::File::options().write(true).open(&p).expect("open");
        f.set_times(
            std::fs::FileTimes::new()
                .set_modified(SystemTime::now() - Duration::from_secs(100 * 3600)),
        )
        .expect("mtime");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_member_gets_every_retained_message_after_retention() {
    let mut c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("leader");
    // About 14 MiB: four 4 MiB segments on every member.
    let mut n = 0;
    while n < 1400 {
        let batch: Vec<Message> = (n..n + 20).map(|k| msg(k, 10_000)).collect();
        c.write(&batch, Duration::from_secs(10))
            .await
            .expect("write");
        n += 20;
    }
    // A control command early in the log: retention deletes its entry, the
    // snapshot must carry what it built.
    let offsets = Command::CommitOffsets {
        group: "g".parse().expect("legal"),
        offsets: vec![
            ("C".parse().expect("legal"), 0, 17),
            ("C".parse().expect("legal"), 2, 3),
        ],
    };
    c.node(leader)
        .expect("leader")
        .command(&offsets)
        .await
        .expect("commit offsets");
    let follower = c
        .ids()
        .into_iter()
        .find(|i| *i != leader)
        .expect("follower");
    wait_same(&c, leader, follower, Duration::from_secs(10)).await;
    for id in c.ids() {
        age_all_but_last_segment(&c.store_root(id).expect("root").join("commitlog"));
    }
    for id in c.ids() {
        let node = c.node(id).expect("member");
        node.run_retention(SystemTime::now(), Some(HourOrManual::Manual))
            .await
            .expect("retention");
    }
    // Purges through Raft may wait for replication to finish.
    let deadline = Instant::now() + Duration::from_secs(10);
    while c
        .node(leader)
        .expect("leader")
        .store()
        .commitlog()
        .bounds()
        .start_index
        == 0
    {
        assert!(Instant::now() < deadline, "the leader never purged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let min_before = view(c.node(leader).expect("leader"))[0].0;
    assert!(min_before > 0, "retention should have moved queue starts");

    wipe_and_restart(&mut c, follower).await;
    wait_same(&c, leader, follower, Duration::from_secs(20)).await;
    let back = view(c.node(follower).expect("follower"));
    assert_eq!(
        back[0].0, min_before,
        "queue starts where the leader's does"
    );
    let state = c.node(follower).expect("follower").store().meta_state();
    assert_eq!(state, c.node(leader).expect("leader").store().meta_state());
    assert_eq!(state.offsets.get(&("g".into(), "C".into(), 0)), Some(&17));
    // And it keeps following.
    c.write(&[msg(5000, 100)], Duration::from_secs(5))
        .await
        .expect("write");
    wait_same(&c, leader, follower, Duration::from_secs(10)).await;
    c.shutdown().await;
}
