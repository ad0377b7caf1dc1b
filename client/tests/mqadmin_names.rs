//! `mqadmin updateTopic` against a real deployment (nameserver and a Raft
//! group in-process): a topic name that breaks the topic rule is refused
//! with the rule stated, and nothing is created.

use std::time::Duration;

use raftmq_embedded::LocalDeployment;
use tokio::time::Instant;

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(60);
/// Pause between two checks of a condition that has no event to await.
const POLL: Duration = Duration::from_millis(100);
/// `brokerClusterName` of the embedded deployment (the default).
const CLUSTER: &str = "DefaultCluster";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn mqadmin(args: &[&str]) -> Run {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(BOUND, child)
        .await
        .expect("mqadmin ends in time")
        .expect("mqadmin runs");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8"),
        stderr: String::from_utf8(out.stderr).expect("utf-8"),
    }
}

/// Runs `updateTopic -t topic` until it succeeds, while the group is still
/// registering; bounded.
async fn create(ns: &str, topic: &str) {
    let deadline = Instant::now() + BOUND;
    loop {
        let run = mqadmin(&["updateTopic", "-n", ns, "-c", CLUSTER, "-t", topic]).await;
        if run.code == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "updateTopic -t {topic} kept failing: {}",
            run.stderr
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The topics `topicList` prints once `expected` is among them; bounded.
async fn topics_with(ns: &str, expected: &str) -> Vec<String> {
    let deadline = Instant::now() + BOUND;
    loop {
        let run = mqadmin(&["topicList", "-n", ns]).await;
        let topics: Vec<String> = run.stdout.lines().map(str::to_owned).collect();
        if run.code == 0 && topics.iter().any(|t| t == expected) {
            return topics;
        }
        assert!(
            Instant::now() < deadline,
            "{expected} never listed: {topics:?} {}",
            run.stderr
        );
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_topic_with_an_illegal_name_is_refused_with_the_rule() {
    let d = LocalDeployment::start(3).await.expect("deployment starts");
    d.wait_for_leader(BOUND).await.expect("a leader");
    let ns = d.namesrv_addr();

    for bad in ["a.b", "%DLQ%g", "rmq_sys_x"] {
        let run = mqadmin(&["updateTopic", "-n", &ns, "-c", CLUSTER, "-t", bad]).await;
        assert_ne!(run.code, 0, "{bad}: {}", run.stdout);
        assert!(
            run.stderr.contains(&format!("invalid -t '{bad}'")),
            "{bad}: {}",
            run.stderr
        );
    }
    let dot = mqadmin(&["updateTopic", "-n", &ns, "-c", CLUSTER, "-t", "a.b"]).await;
    assert!(
        dot.stderr
            .contains("'.' at position 2 (counting from 1); a topic name is 1 to 127 characters of A-Z, a-z, 0-9, %, |, _ and -"),
        "the rule is stated: {}",
        dot.stderr
    );

    // A legal topic goes through the same cluster; the illegal ones never
    // appear next to it.
    create(&ns, "Good").await;
    let topics = topics_with(&ns, "Good").await;
    for bad in ["a.b", "%DLQ%g", "rmq_sys_x"] {
        assert!(!topics.iter().any(|t| t == bad), "{bad} listed: {topics:?}");
    }
    for (_, b) in d.brokers() {
        assert!(b.node().store().topic("a.b").is_none());
    }
    d.shutdown().await;
}
