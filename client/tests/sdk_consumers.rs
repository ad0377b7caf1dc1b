//! The SDK consumers against a fake in-process MessagingService: receive,
//! ack and change of invisibility; the push consumer's ack, retry and
//! dead-letter paths; pulls by offset, commits and resuming.

#[path = "sdk_fake.rs"]
mod fake;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fake::{delivered, Fake, BOUND};
use raftmq_client::sdk::{
    ClientConfig, ClientError, ConsumeResult, FilterExpression, Message, Producer, PullConsumer,
    PushConsumer, Retry, SimpleConsumer,
};
use raftmq_proto::rocketmq::v2;

fn config(addr: &str) -> ClientConfig {
    let mut c = ClientConfig::new(addr).expect("config");
    c.long_polling_timeout = Duration::from_millis(300);
    c
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_consumer_receives_acks_and_postpones() {
    let fake = Fake::new(2);
    {
        let mut s = fake.lock();
        s.to_deliver.push_back(delivered("M1", "TagA", 1));
        s.to_deliver.push_back(delivered("M2", "TagB", 2));
    }
    let server = fake.serve(&[]).await;
    let consumer = bounded(SimpleConsumer::start(config(&server.addr), "G"))
        .await
        .expect("consumer");
    let err = bounded(consumer.receive(8, Duration::from_secs(15)))
        .await
        .expect_err("no subscription yet");
    assert!(matches!(err, ClientError::Invalid { .. }), "{err}");
    let filter = FilterExpression::tag("TagA || TagB").expect("filter");
    bounded(consumer.subscribe("T", filter))
        .await
        .expect("subscribed");

    let got = bounded(consumer.receive(8, Duration::from_secs(15)))
        .await
        .expect("received");
    assert_eq!(got.len(), 2);
    let m1 = &got[0];
    assert_eq!(m1.message_id(), "M1");
    assert_eq!(m1.topic(), "T");
    assert_eq!(m1.tag(), Some("TagA"));
    assert_eq!(&m1.body()[..], b"body-M1");
    assert_eq!(m1.receipt_handle(), "rh-M1");
    assert_eq!(m1.broker(), "g0");
    assert_eq!(m1.queue_id(), 1);
    assert_eq!(got[1].delivery_attempt(), 2);

    {
        let s = fake.lock();
        let req = s.receives.last().expect("a receive");
        assert_eq!(req.group.as_ref().map(|g| g.name.as_str()), Some("G"));
        let f = req.filter_expression.as_ref().expect("filter");
        assert_eq!(f.expression, "TagA || TagB");
        assert_eq!(f.r#type, v2::FilterType::Tag as i32);
        assert_eq!(req.batch_size, 8);
        assert_eq!(req.invisible_duration.map(|d| d.seconds), Some(15));
        assert_eq!(req.long_polling_timeout.map(|d| d.nanos), Some(300_000_000));
        let subs = s.settings.iter().rev().find_map(|st| match &st.pub_sub {
            Some(v2::settings::PubSub::Subscription(sub)) => Some(sub.clone()),
            _ => None,
        });
        let subs = subs.expect("subscription settings");
        assert_eq!(subs.group.map(|g| g.name).as_deref(), Some("G"));
    }

    bounded(consumer.ack(m1)).await.expect("acked");
    let later = bounded(consumer.change_invisible_duration(&got[1], Duration::from_secs(7)))
        .await
        .expect("changed");
    assert_eq!(later.receipt_handle(), "rh-M2-next");
    assert_eq!(later.message_id(), "M2");
    {
        let s = fake.lock();
        assert_eq!(s.changes, [("rh-M2".to_owned(), 7_000)]);
    }
    // The old handle stopped working; the new one acks.
    let err = bounded(consumer.ack(&got[1]))
        .await
        .expect_err("old handle");
    assert!(
        matches!(err, ClientError::InvalidReceiptHandle { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("M2"), "{err}");
    bounded(consumer.ack(&later))
        .await
        .expect("acked with the new handle");

    assert_eq!(fake.lock().acks, ["rh-M1", "rh-M2-next"]);
    // Nothing left: MESSAGE_NOT_FOUND after the long poll is an empty receive.
    let none = bounded(consumer.receive(8, Duration::from_secs(15)))
        .await
        .expect("empty");
    assert!(none.is_empty());
    consumer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_consumer_acks_retries_and_dead_letters() {
    let fake = Fake::new(2);
    {
        let mut s = fake.lock();
        s.to_deliver.push_back(delivered("ok", "A", 1));
        s.to_deliver.push_back(delivered("fail", "A", 3));
        s.to_deliver.push_back(delivered("last", "A", 5));
        s.to_deliver.push_back(delivered("panic", "A", 1));
    }
    let server = fake.serve(&[]).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let consumer = bounded(
        PushConsumer::builder(config(&server.addr), "G")
            .subscribe("T", FilterExpression::all())
            .concurrency(3)
            .max_delivery_attempts(5)
            .retry_backoff(Retry {
                max_attempts: 1,
                initial: Duration::from_millis(100),
                multiplier: 2.0,
                max: Duration::from_secs(60),
            })
            .start(move |m| {
                seen.fetch_add(1, Ordering::SeqCst);
                match m.message_id() {
                    "ok" => ConsumeResult::Success,
                    "panic" => panic!("listener bug"),
                    _ => ConsumeResult::Failure,
                }
            }),
    )
    .await
    .expect("push consumer");
    fake.wait_until("ack, retry and dead letter", |s| {
        s.acks.len() == 1 && s.changes.len() == 2 && s.dlq.len() == 1
    })
    .await;
    consumer.shutdown().await;
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let s = std::mem::take(&mut *fake.lock());
    assert_eq!(s.acks, ["rh-ok"]);
    let mut changes = s.changes.clone();
    changes.sort();
    // Attempt 3 waits 100 ms x 2^2; a panicking listener counts as a failure.
    assert_eq!(
        changes,
        [("rh-fail".to_owned(), 400), ("rh-panic".to_owned(), 100)]
    );
    assert_eq!(s.dlq, ["last"]);
    assert!(s.terminations >= 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_consumer_reads_by_offset_commits_and_resumes() {
    let fake = Fake::new(2);
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    let batch = (0..10)
        .map(|i| Message::new("T", format!("m{i}")))
        .collect();
    let receipts = bounded(producer.send_batch(batch)).await.expect("sent");
    producer.shutdown().await;
    let q_id = receipts[0].queue_id;

    let mut consumer = bounded(PullConsumer::start(config(&server.addr), "P"))
        .await
        .expect("consumer");
    consumer.set_long_polling(Duration::ZERO);
    let queues = bounded(consumer.queues("T")).await.expect("queues");
    assert_eq!(queues.len(), 2);
    let q = queues
        .iter()
        .find(|q| q.queue_id == q_id)
        .expect("the queue")
        .clone();
    consumer.assign(queues.clone());
    let first = bounded(consumer.pull(4)).await.expect("pulled");
    let bodies = |ms: &[raftmq_client::sdk::ReceivedMessage]| -> Vec<String> {
        ms.iter()
            .map(|m| String::from_utf8_lossy(m.body()).into_owned())
            .collect()
    };
    assert_eq!(bodies(&first), ["m0", "m1", "m2", "m3"]);
    assert_eq!(consumer.position(&q), Some(4));
    let second = bounded(consumer.pull(4)).await.expect("pulled");
    assert_eq!(bodies(&second), ["m4", "m5", "m6", "m7"]);
    bounded(consumer.commit()).await.expect("committed");
    assert_eq!(
        fake.lock().committed.get(&("P".into(), "T".into(), q_id)),
        Some(&8)
    );
    bounded(consumer.seek_to_begin(&q)).await.expect("seek");
    assert_eq!(consumer.position(&q), Some(0));
    bounded(consumer.seek_to_end(&q)).await.expect("seek");
    assert_eq!(consumer.position(&q), Some(10));
    consumer.seek(&q, 9).expect("seek");
    assert_eq!(
        bodies(&bounded(consumer.pull(4)).await.expect("pulled")),
        ["m9"]
    );
    assert!(bounded(consumer.pull(4)).await.expect("pulled").is_empty());
    consumer.shutdown().await;

    // A new consumer of the group resumes at the committed offset 8.
    let mut again = bounded(PullConsumer::start(config(&server.addr), "P"))
        .await
        .expect("consumer");
    again.set_long_polling(Duration::ZERO);
    again.assign(vec![q.clone()]);
    assert_eq!(bounded(again.committed(&q)).await.expect("offset"), Some(8));
    assert_eq!(
        bodies(&bounded(again.pull(10)).await.expect("pulled")),
        ["m8", "m9"]
    );
    let err = again
        .seek(&queues[1 - q_id as usize], 0)
        .expect_err("not assigned");
    assert!(matches!(err, ClientError::Invalid { what: "queue", .. }));
    again.shutdown().await;

    // A group without a committed offset starts at the beginning.
    let mut fresh = bounded(PullConsumer::start(config(&server.addr), "Other"))
        .await
        .expect("consumer");
    fresh.set_long_polling(Duration::ZERO);
    fresh.assign(vec![q.clone()]);
    assert_eq!(bounded(fresh.pull(1)).await.expect("pulled").len(), 1);
    assert_eq!(fresh.position(&q), Some(1));
    fresh.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_consumer_follows_the_groups_retry_policy_from_the_settings() {
    let mut fake = Fake::new(2);
    fake.group_config = Some(raftmq_model::SubscriptionGroupConfig {
        retry_max_times: 2,
        retry_policy: raftmq_model::GroupRetryPolicy::Customized {
            next: vec![250, 700],
        },
        ..Default::default()
    });
    {
        let mut s = fake.lock();
        s.to_deliver.push_back(delivered("first", "A", 1));
        s.to_deliver.push_back(delivered("second", "A", 2));
        s.to_deliver.push_back(delivered("third", "A", 3));
    }
    let server = fake.serve(&[]).await;
    // No retry_backoff and no max_delivery_attempts: the group's, from the
    // broker's settings.
    let consumer = bounded(
        PushConsumer::builder(config(&server.addr), "G")
            .subscribe("T", FilterExpression::all())
            .start(|_| ConsumeResult::Failure),
    )
    .await
    .expect("push consumer");
    fake.wait_until("two retries and a dead letter", |s| {
        s.changes.len() == 2 && s.dlq.len() == 1
    })
    .await;
    consumer.shutdown().await;
    let s = std::mem::take(&mut *fake.lock());
    let mut changes = s.changes.clone();
    changes.sort();
    assert_eq!(
        changes,
        [("rh-first".to_owned(), 250), ("rh-second".to_owned(), 700)],
        "the customized levels, by attempt"
    );
    assert_eq!(
        s.dlq,
        ["third"],
        "retryMaxTimes 2: the third delivery is the last"
    );
    server.stop().await;
}
