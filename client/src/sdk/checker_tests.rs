use super::*;
use crate::sdk::end_transaction::Ended;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// Every wait in these tests is bounded by this.
const BOUND: Duration = Duration::from_secs(10);

/// Records the EndTransactions a checks loop sends.
#[derive(Default)]
struct Recorded {
    ends: Mutex<Vec<(String, Ending)>>,
    changed: Notify,
}

impl Recorded {
    fn ends(&self) -> Vec<(String, Ending)> {
        self.ends.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            let notified = self.changed.notified();
            if self.ends.lock().unwrap().len() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{} of {n} EndTransactions", self.ends().len());
            }
        }
    }
}

struct Recorder(Arc<Recorded>);

impl EndTransactions for Recorder {
    fn end(&self, endpoint: String, ending: Ending) -> Ended {
        let r = Arc::clone(&self.0);
        Box::pin(async move {
            r.ends.lock().unwrap().push((endpoint, ending));
            r.changed.notify_waiters();
            Ok(())
        })
    }
}

fn command(id: &str, tx: &str) -> v2::RecoverOrphanedTransactionCommand {
    v2::RecoverOrphanedTransactionCommand {
        message: Some(v2::Message {
            topic: Some(v2::Resource {
                resource_namespace: String::new(),
                name: "T".into(),
            }),
            user_properties: [("answer".to_owned(), id.to_owned())].into(),
            system_properties: Some(v2::SystemProperties {
                tag: Some("TagA".into()),
                keys: vec!["order-1".into()],
                message_id: id.into(),
                message_type: v2::MessageType::Transaction.into(),
                born_timestamp: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            body: Bytes::from_static(b"half"),
        }),
        transaction_id: tx.into(),
    }
}

fn orphan(endpoint: &str, id: &str, tx: &str) -> Orphan {
    Orphan {
        endpoint: endpoint.into(),
        command: command(id, tx),
    }
}

/// Answers by the message's `answer` property: commit, rollback, else
/// unknown.
fn by_property() -> Arc<dyn TransactionChecker> {
    Arc::new(|m: TransactionalMessage| async move {
        match m.properties().get("answer").map(String::as_str) {
            Some(a) if a.starts_with("commit") => TransactionResolution::Commit,
            Some(a) if a.starts_with("rollback") => TransactionResolution::Rollback,
            _ => TransactionResolution::Unknown,
        }
    })
}

/// A checks loop on its own tasks; returns the sender, the record and the
/// loop's handle.
fn start(
    checker: Arc<dyn TransactionChecker>,
) -> (
    mpsc::Sender<Orphan>,
    Arc<Recorded>,
    tokio::task::JoinHandle<()>,
    Tasks,
) {
    let (tx, rx) = mpsc::channel(CHECKS_WAITING);
    let recorded = Arc::new(Recorded::default());
    let tasks = Tasks::new("checker test");
    let ends: Arc<dyn EndTransactions> = Arc::new(Recorder(Arc::clone(&recorded)));
    let handle = tasks.spawn(
        "checks",
        answer_checks(rx, checker, ends, tasks.child("checks")),
    );
    (tx, recorded, handle, tasks)
}

#[test]
fn a_check_command_reads_as_the_message_the_checker_gets() {
    let m = TransactionalMessage::try_from(command("M1", "tx-1")).expect("a message");
    assert_eq!(m.topic(), "T");
    assert_eq!(m.message_id(), "M1");
    assert_eq!(m.transaction_id(), "tx-1");
    assert_eq!(m.tag(), Some("TagA"));
    assert_eq!(m.keys(), ["order-1"]);
    assert_eq!(m.properties()["answer"], "M1");
    assert_eq!(&m.body()[..], b"half");
    assert!(m.born_timestamp().is_some());

    let mut no_tx = command("M1", "");
    assert!(TransactionalMessage::try_from(no_tx.clone()).is_err());
    no_tx.transaction_id = "tx".into();
    no_tx.message = None;
    assert!(matches!(
        TransactionalMessage::try_from(no_tx),
        Err(ClientError::BadResponse {
            call: "Telemetry",
            ..
        })
    ));
}

#[test]
fn resolutions_map_to_an_answer_or_none() {
    assert_eq!(
        TransactionResolution::Commit.decision(),
        Some(Decision::Commit)
    );
    assert_eq!(
        TransactionResolution::Rollback.decision(),
        Some(Decision::Rollback)
    );
    assert_eq!(TransactionResolution::Unknown.decision(), None);
}

#[tokio::test]
async fn each_check_is_answered_as_the_checker_says_to_the_member_that_asked() {
    let (tx, recorded, handle, tasks) = start(by_property());
    for o in [
        orphan("10.0.0.1:8081", "commit-1", "tx-1"),
        orphan("10.0.0.2:8081", "unknown-1", "tx-2"),
        orphan("10.0.0.2:8081", "rollback-1", "tx-3"),
        // The same check again, from another member: answered again.
        orphan("10.0.0.3:8081", "commit-1", "tx-1"),
    ] {
        tx.send(o).await.expect("queued");
    }
    drop(tx);
    // The loop ends once its channel closes and its checks are done.
    tokio::time::timeout(BOUND, handle)
        .await
        .expect("the loop ends")
        .expect("no panic");
    let mut ends = recorded.ends();
    ends.sort_by(|a, b| (&a.0, &a.1.message_id).cmp(&(&b.0, &b.1.message_id)));
    let ends: Vec<(&str, &str, &str, Decision, v2::TransactionSource)> = ends
        .iter()
        .map(|(ep, e)| {
            assert_eq!(e.topic, "T");
            (
                ep.as_str(),
                e.message_id.as_str(),
                e.transaction_id.as_str(),
                e.decision,
                e.source,
            )
        })
        .collect();
    let check = v2::TransactionSource::SourceServerCheck;
    assert_eq!(
        ends,
        [
            ("10.0.0.1:8081", "commit-1", "tx-1", Decision::Commit, check),
            (
                "10.0.0.2:8081",
                "rollback-1",
                "tx-3",
                Decision::Rollback,
                check
            ),
            ("10.0.0.3:8081", "commit-1", "tx-1", Decision::Commit, check),
        ],
        "Unknown sends nothing"
    );
    tasks.stop(BOUND).await.expect("stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_checker_holds_up_no_other_check_and_checks_run_bounded() {
    // Checks of `slow-*` wait for permits; the others answer at once.
    let gate = Arc::new(Semaphore::new(0));
    let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let checker: Arc<dyn TransactionChecker> = {
        let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
        Arc::new(move |m: TransactionalMessage| {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            async move {
                if m.message_id().starts_with("slow") {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let permit = gate.acquire().await.expect("gate open");
                    permit.forget();
                    running.fetch_sub(1, Ordering::SeqCst);
                }
                TransactionResolution::Commit
            }
        })
    };
    let (tx, recorded, handle, tasks) = start(checker);
    tx.send(orphan("a", "slow-0", "tx-s0"))
        .await
        .expect("queued");
    tx.send(orphan("a", "fast-0", "tx-f0"))
        .await
        .expect("queued");
    recorded.wait_for(1).await;
    assert_eq!(recorded.ends()[0].1.message_id, "fast-0");

    // More slow checks than may run at once: the rest wait their turn.
    let slow = MAX_CHECKS + 4;
    for i in 1..slow {
        tx.send(orphan("a", &format!("slow-{i}"), &format!("tx-s{i}")))
            .await
            .expect("queued");
    }
    drop(tx);
    let deadline = tokio::time::Instant::now() + BOUND;
    while running.load(Ordering::SeqCst) < MAX_CHECKS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "checks did not start"
        );
        tokio::task::yield_now().await;
    }
    gate.add_permits(slow);
    recorded.wait_for(1 + slow).await;
    tokio::time::timeout(BOUND, handle)
        .await
        .expect("the loop ends")
        .expect("no panic");
    assert_eq!(
        most.load(Ordering::SeqCst),
        MAX_CHECKS,
        "at most {MAX_CHECKS} at once"
    );
    tasks.stop(BOUND).await.expect("stopped");
}

#[tokio::test]
async fn a_checker_that_panics_answers_nothing_and_the_loop_goes_on() {
    let checker: Arc<dyn TransactionChecker> = Arc::new(|m: TransactionalMessage| async move {
        assert!(!m.message_id().starts_with("boom"), "the checker panics");
        TransactionResolution::Rollback
    });
    let (tx, recorded, handle, tasks) = start(checker);
    tx.send(orphan("a", "boom", "tx-0")).await.expect("queued");
    tx.send(orphan("a", "fine", "tx-1")).await.expect("queued");
    drop(tx);
    tokio::time::timeout(BOUND, handle)
        .await
        .expect("the loop ends")
        .expect("no panic in the loop");
    let ends = recorded.ends();
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].1.message_id, "fine");
    assert_eq!(ends[0].1.decision, Decision::Rollback);
    tasks.stop(BOUND).await.expect("stopped");
}
