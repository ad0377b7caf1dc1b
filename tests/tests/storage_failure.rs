//! A follower whose store can no longer get disk blocks, as real
//! processes: its Raft stops for good on the failed log write, and the
//! broker must exit (code 1, the cause in its log) rather than stay up
//! answering nothing; the other two members go on taking sends, and the
//! member restarted on its store catches up.
//!
//! The failure is injected (`InjectFault { allocation_fails }`, brokers
//! run with `faultInjectionEnable=true`): every block reservation of that
//! member's store fails as on a full disk. Segments are 1 MiB, so the
//! member needs new blocks after a few sends of 64 KiB.

use std::time::Duration;

use raftmq_client::sdk::{Message, Producer};
use raftmq_proto::admin::v1::InjectFaultRequest;
use raftmq_tests::faults::cluster::Layout;
use raftmq_tests::faults::{workload, Cluster};
use raftmq_tests::wait_for;

const TOPIC: &str = "StorageFailure";
/// Body of each message: 16 of them fill a segment.
const BODY: usize = 64 << 10;

/// Sends `n` messages of [`BODY`] bytes, each acknowledged within 15 s.
fn send(cluster: &Cluster, rt: &tokio::runtime::Runtime, n: usize, what: &str) {
    let ns = cluster.namesrv().to_owned();
    rt.block_on(async {
        let producer = Producer::start(workload::config(&ns), &[TOPIC])
            .await
            .expect("producer");
        for i in 0..n {
            let sent = tokio::time::timeout(
                Duration::from_secs(15),
                producer.send(Message::new(TOPIC, vec![b'a' + (i % 26) as u8; BODY])),
            )
            .await;
            assert!(matches!(sent, Ok(Ok(_))), "{what}: send {i}: {sent:?}");
        }
        producer.shutdown().await;
    });
}

#[test]
fn a_follower_whose_log_cannot_be_written_exits_and_the_group_goes_on() {
    let layout = Layout {
        segment_size: 1 << 20,
        ..Layout::default()
    };
    let mut cluster = Cluster::start_with(raftmq_tests::bins(), &layout);
    assert!(
        cluster.wait_healthy(Duration::from_secs(60)),
        "the group never came up"
    );
    cluster.create_topic(TOPIC);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    send(&cluster, &rt, 4, "before the fault");

    let leader = cluster.leader().expect("a leader");
    let follower = (leader + 1) % cluster.len();
    rt.block_on(cluster.inject(
        follower,
        InjectFaultRequest {
            isolate: None,
            disk_used_percent: None,
            allocation_fails: Some(true),
        },
    ))
    .expect("inject the fault");
    // Three segments' worth: the follower needs blocks it cannot have. A
    // majority (the leader and the other follower) acknowledges each.
    send(&cluster, &rt, 48, "with a follower's disk failing");
    let status = wait_for(
        "the failing follower to exit",
        Duration::from_secs(30),
        || cluster.exit_status(follower),
    );
    assert_eq!(status.code(), Some(1), "{status:?}");
    let log = cluster.log(follower);
    assert!(
        log.contains("Raft stopped") && log.contains("disk full"),
        "the exit does not say why:\n{}",
        log.lines().rev().take(10).collect::<Vec<_>>().join("\n")
    );
    send(&cluster, &rt, 4, "with two members");

    // Restarted on its store (the fault was the process's), it rejoins.
    cluster.restart(follower);
    assert!(
        cluster.wait_healthy(Duration::from_secs(60)),
        "the restarted member did not rejoin"
    );
    send(&cluster, &rt, 4, "after the restart");
}
