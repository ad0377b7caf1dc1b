//! Held messages against a fake in-process MessagingService: delay
//! messages keep their own delivery time in coalesced requests, and the
//! transactional producer's sends, commits, rollbacks, retries and
//! check-back answers, as the fake sees them on the wire.

#[path = "sdk_fake.rs"]
mod fake;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use fake::{Fake, BOUND};
use raftmq_client::sdk::{
    ClientConfig, ClientError, Message, Producer, Retry, TransactionChecker, TransactionProducer,
    TransactionResolution, TransactionalMessage,
};
use raftmq_proto::rocketmq::v2;
use tokio::sync::Notify;

fn config(addr: &str) -> ClientConfig {
    let mut c = ClientConfig::new(addr).expect("config");
    c.send_retry = Retry {
        max_attempts: 4,
        initial: Duration::from_millis(10),
        multiplier: 2.0,
        max: Duration::from_millis(50),
    };
    c
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("in time")
}

/// The transaction ids a checker was asked about.
#[derive(Default)]
struct Asked {
    ids: Mutex<Vec<String>>,
    changed: Notify,
}

impl Asked {
    async fn wait_for(&self, transaction_id: &str) {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            let notified = self.changed.notified();
            let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if ids.iter().any(|id| id == transaction_id) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the checker was never asked about {transaction_id}: {ids:?}");
            }
        }
    }
}

/// A checker answering by the message's `answer` property, recording the
/// transaction ids it was asked about.
fn checker(asked: Arc<Asked>) -> Arc<dyn TransactionChecker> {
    Arc::new(move |m: TransactionalMessage| {
        asked
            .ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(m.transaction_id().to_owned());
        asked.changed.notify_waiters();
        async move {
            match m.properties().get("answer").map(String::as_str) {
                Some("commit") => TransactionResolution::Commit,
                Some("rollback") => TransactionResolution::Rollback,
                _ => TransactionResolution::Unknown,
            }
        }
    })
}

async fn start(addr: &str) -> TransactionProducer {
    bounded(TransactionProducer::start(
        config(addr),
        &["T"],
        checker(Arc::default()),
    ))
    .await
    .expect("transaction producer")
}

fn stored(fake: &Fake) -> Vec<v2::Message> {
    fake.lock().log.values().flatten().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_delay_messages_keep_their_own_delivery_times() {
    let fake = Fake {
        send_delay: Duration::from_millis(5),
        ..Fake::new(2)
    };
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    let base = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let due = |i: u64| base + Duration::from_millis(i * 37);
    let sends: Vec<_> = (0..64)
        .map(|i| producer.send_async(Message::new("T", format!("d{i}")).with_delivery_time(due(i))))
        .collect();
    for r in bounded(futures_util::future::join_all(sends)).await {
        r.expect("sent");
    }
    let sizes = fake.lock().send_sizes.clone();
    assert!(
        sizes.iter().any(|n| *n > 1),
        "some request carries several delay messages: {sizes:?}"
    );
    let log = stored(&fake);
    assert_eq!(log.len(), 64);
    for m in log {
        let i: u64 = std::str::from_utf8(&m.body[1..])
            .expect("utf-8")
            .parse()
            .expect("n");
        let sp = m.system_properties.expect("system properties");
        assert_eq!(sp.message_type, v2::MessageType::Delay as i32, "d{i}");
        let ts = sp.delivery_timestamp.expect("a delivery timestamp");
        let at = UNIX_EPOCH + Duration::new(ts.seconds as u64, ts.nanos as u32);
        assert_eq!(at, due(i), "d{i} keeps its own time");
    }
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_share_requests_and_each_gets_its_own_id() {
    let fake = Fake {
        send_delay: Duration::from_millis(5),
        ..Fake::new(2)
    };
    let server = fake.serve(&[]).await;
    let producer = start(&server.addr).await;
    let sends = (0..64).map(|i| {
        let mut tx = producer.begin();
        async move {
            let r = tx.send(Message::new("T", format!("t{i}"))).await;
            (tx, r)
        }
    });
    let sent = bounded(futures_util::future::join_all(sends)).await;
    let sizes = fake.lock().send_sizes.clone();
    assert!(
        sizes.iter().any(|n| *n > 1),
        "some request carries several transactions' messages: {sizes:?}"
    );
    for (tx, r) in sent {
        let receipt = r.expect("sent");
        let expected = format!("tx-{}", receipt.message_id);
        assert_eq!(tx.transaction_id(), Some(expected.as_str()));
    }
    for m in stored(&fake) {
        let sp = m.system_properties.expect("system properties");
        assert_eq!(sp.message_type, v2::MessageType::Transaction as i32);
    }
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transaction_sends_one_transactional_message_then_commits_it() {
    let fake = Fake::new(4);
    let server = fake.serve(&[]).await;
    let producer = start(&server.addr).await;
    let mut tx = producer.begin();
    assert_eq!(tx.transaction_id(), None);
    let receipt = bounded(tx.send(Message::new("T", "half").with_keys(["order-1"])))
        .await
        .expect("sent");
    assert_eq!(receipt.topic, "T");
    assert_eq!(receipt.broker, "g0");
    let expected_tx = format!("tx-{}", receipt.message_id);
    assert_eq!(tx.transaction_id(), Some(expected_tx.as_str()));
    assert_eq!(tx.message_id(), Some(receipt.message_id.as_str()));
    {
        let s = fake.lock();
        assert_eq!(s.send_sizes, [1], "alone, a request of its own");
        let m = s.log.values().flatten().next().expect("stored");
        let sp = m.system_properties.as_ref().expect("system properties");
        assert_eq!(sp.message_type, v2::MessageType::Transaction as i32);
        assert_eq!(sp.message_group, None);
        assert_eq!(sp.delivery_timestamp, None);
        assert_eq!(sp.message_id, receipt.message_id);
        assert!(s.ends.is_empty(), "nothing ended before commit");
    }
    bounded(tx.commit()).await.expect("committed");
    let ends = fake.lock().ends.clone();
    assert_eq!(ends.len(), 1);
    let e = &ends[0];
    assert_eq!(e.topic.as_ref().map(|t| t.name.as_str()), Some("T"));
    assert_eq!(e.message_id, receipt.message_id);
    assert_eq!(e.transaction_id, expected_tx);
    assert_eq!(e.resolution(), v2::TransactionResolution::Commit);
    assert_eq!(e.source(), v2::TransactionSource::SourceClient);
    assert_eq!(
        fake.lock().transactions[&expected_tx],
        Some(v2::TransactionResolution::Commit)
    );
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_is_sent_and_retried_while_the_group_is_not_available() {
    let fake = Fake::new(1);
    let server = fake.serve(&[]).await;
    let producer = start(&server.addr).await;
    let mut tx = producer.begin();
    let receipt = bounded(tx.send(Message::new("T", "half")))
        .await
        .expect("sent");
    fake.lock().fail_ends = 2;
    bounded(tx.rollback()).await.expect("rolled back");
    let ends = fake.lock().ends.clone();
    assert_eq!(ends.len(), 3, "two HA_NOT_AVAILABLE, then OK");
    for e in &ends {
        assert_eq!(e.message_id, receipt.message_id);
        assert_eq!(e.resolution(), v2::TransactionResolution::Rollback);
        assert_eq!(e.source(), v2::TransactionSource::SourceClient);
    }

    // Past the bound of attempts, the error comes back.
    let mut tx = producer.begin();
    bounded(tx.send(Message::new("T", "half")))
        .await
        .expect("sent");
    fake.lock().fail_ends = 10;
    let e = bounded(tx.commit()).await.expect_err("refused");
    assert_eq!(e.code(), Some(v2::Code::HaNotAvailable), "{e}");
    assert_eq!(fake.lock().ends.len(), 3 + 4, "max_attempts tries");
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_a_transaction_the_other_way_is_an_invalid_transaction() {
    let fake = Fake::new(1);
    let server = fake.serve(&[]).await;
    let producer = start(&server.addr).await;
    let mut tx = producer.begin();
    let receipt = bounded(tx.send(Message::new("T", "half")))
        .await
        .expect("sent");
    // A check-back answered first, the other way.
    let id = format!("tx-{}", receipt.message_id);
    fake.lock()
        .transactions
        .insert(id.clone(), Some(v2::TransactionResolution::Rollback));
    match bounded(tx.commit()).await {
        Err(ClientError::InvalidTransaction {
            transaction_id,
            message_id,
            ..
        }) => {
            assert_eq!(transaction_id, id);
            assert_eq!(message_id, receipt.message_id);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.lock().ends.len(), 1, "not retried");
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_transaction_cannot_carry_is_refused_before_sending() {
    let fake = Fake::new(1);
    let server = fake.serve(&[]).await;
    let producer = start(&server.addr).await;

    let e = bounded(producer.begin().commit()).await.expect_err("empty");
    assert!(
        matches!(
            e,
            ClientError::Invalid {
                what: "transaction",
                ..
            }
        ),
        "{e}"
    );

    let mut tx = producer.begin();
    for m in [
        Message::new("T", "fifo").with_message_group("g"),
        Message::new("T", "delay").with_delivery_delay(Duration::from_secs(5)),
    ] {
        let e = bounded(tx.send(m)).await.expect_err("refused");
        assert!(
            matches!(
                e,
                ClientError::Invalid {
                    what: "transactional message",
                    ..
                }
            ),
            "{e}"
        );
    }
    assert!(fake.lock().sent_ids.is_empty(), "nothing sent");

    bounded(tx.send(Message::new("T", "one")))
        .await
        .expect("sent");
    let e = bounded(tx.send(Message::new("T", "two")))
        .await
        .expect_err("one message per transaction");
    assert!(e.to_string().contains("one message per transaction"), "{e}");
    assert_eq!(fake.lock().sent_ids.len(), 1);
    bounded(tx.rollback()).await.expect("rolled back");
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_from_telemetry_are_answered_with_the_checkers_resolution() {
    let fake = Fake::new(1);
    let server = fake.serve(&[]).await;
    let asked: Arc<Asked> = Arc::default();
    let producer = bounded(TransactionProducer::start(
        config(&server.addr),
        &["T"],
        checker(asked.clone()),
    ))
    .await
    .expect("transaction producer");
    // The producer's Telemetry settings: a PRODUCER publishing T.
    fake.wait_until("settings", |s| !s.settings.is_empty())
        .await;
    let settings = fake.lock().settings[0].clone();
    assert_eq!(settings.client_type(), v2::ClientType::Producer);
    match settings.pub_sub {
        Some(v2::settings::PubSub::Publishing(p)) => {
            assert_eq!(
                p.topics.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
                ["T"]
            );
        }
        other => panic!("{other:?}"),
    }

    // Three transactions left open (sent, never ended).
    let mut ids = HashMap::new();
    for answer in ["commit", "rollback", "unknown"] {
        let mut tx = producer.begin();
        let m = Message::new("T", answer).with_property("answer", answer);
        let r = bounded(tx.send(m)).await.expect("sent");
        ids.insert(answer, r.message_id);
        drop(tx);
    }
    let message = |answer: &str| {
        let id = &ids[answer];
        let stored = stored(&fake)
            .into_iter()
            .find(|m| m.system_properties.as_ref().map(|p| &p.message_id) == Some(id))
            .expect("stored");
        v2::telemetry_command::Command::RecoverOrphanedTransactionCommand(
            v2::RecoverOrphanedTransactionCommand {
                message: Some(stored),
                transaction_id: format!("tx-{id}"),
            },
        )
    };
    // Unknown first: it sends nothing, and holds up nothing after it.
    for answer in ["unknown", "commit", "rollback", "commit"] {
        assert!(fake.tell(message(answer)).await >= 1, "a stream took it");
    }
    fake.wait_until("3 answers", |s| s.ends.len() >= 3).await;
    let ends = fake.lock().ends.clone();
    for e in &ends {
        assert_eq!(e.source(), v2::TransactionSource::SourceServerCheck);
        assert_ne!(e.message_id, ids["unknown"], "Unknown sends nothing");
    }
    let answer_of = |answer: &str| -> Vec<v2::TransactionResolution> {
        ends.iter()
            .filter(|e| e.message_id == ids[answer])
            .map(|e| e.resolution())
            .collect()
    };
    assert_eq!(
        answer_of("commit"),
        [v2::TransactionResolution::Commit; 2],
        "asked twice, answered twice"
    );
    assert_eq!(answer_of("rollback"), [v2::TransactionResolution::Rollback]);
    // The checker was asked about each check, the unknown one included.
    asked.wait_for(&format!("tx-{}", ids["unknown"])).await;
    {
        let s = fake.lock();
        assert_eq!(s.transactions[&format!("tx-{}", ids["unknown"])], None);
        assert_eq!(
            s.transactions[&format!("tx-{}", ids["commit"])],
            Some(v2::TransactionResolution::Commit)
        );
    }
    producer.shutdown().await;
    server.stop().await;
}
