//! The SDK end to end against an embedded nameserver and a group of three
//! (`raftmq_embedded::LocalDeployment`): send and receive with a tag
//! filter, a push consumer that consumes everything (one message retried),
//! and a pull consumer that resumes from committed offsets after the
//! leader is killed, with no rewind and no client restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftmq_client::sdk::{
    ConsumeResult, FilterExpression, Message, MessageQueue, Producer, PullConsumer, PushConsumer,
    ReceivedMessage, Retry, SimpleConsumer,
};
use raftmq_embedded::LocalDeployment;
use tokio::sync::Notify;
use tokio::time::Instant;

#[macro_use]
mod group;
use group::{bounded, config, deployment, BOUND};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_simple_consumer_with_a_tag_filter() {
    let d = deployment().await;
    let producer = until_ok!(
        "producer start",
        Producer::start(config(&d), &["E2eSimple"])
    );
    let mut tag_a = HashSet::new();
    for i in 0..20 {
        let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
        let m = Message::new("E2eSimple", format!("body-{i}"))
            .with_tag(tag)
            .with_keys([format!("key-{i}")])
            .with_property("n", i.to_string());
        let r = until_ok!("send", producer.send(m.clone()));
        assert_eq!(r.topic, "E2eSimple");
        if tag == "TagA" {
            tag_a.insert(r.message_id);
        }
    }

    let consumer = bounded(
        "consumer start",
        SimpleConsumer::start(config(&d), "E2eGroupA"),
    )
    .await
    .expect("consumer");
    let filter = FilterExpression::tag("TagA").expect("filter");
    bounded("subscribe", consumer.subscribe("E2eSimple", filter))
        .await
        .expect("subscribed");
    let mut got: HashMap<String, ReceivedMessage> = HashMap::new();
    let deadline = Instant::now() + BOUND;
    while got.len() < tag_a.len() {
        assert!(Instant::now() < deadline, "received {} of 10", got.len());
        let batch = until_ok!("receive", consumer.receive(16, Duration::from_secs(30)));
        for m in batch {
            assert_eq!(m.tag(), Some("TagA"), "the filter lets TagA through only");
            assert!(!m.receipt_handle().is_empty());
            assert!(m.delivery_attempt() >= 1);
            assert!(m.store_timestamp().is_some() && m.born_timestamp().is_some());
            let n: usize = m.properties()["n"].parse().expect("n");
            assert_eq!(&m.body()[..], format!("body-{n}").as_bytes());
            assert_eq!(m.keys(), [format!("key-{n}")]);
            bounded("ack", consumer.ack(&m)).await.expect("acked");
            got.insert(m.message_id().to_owned(), m);
        }
    }
    let ids: HashSet<String> = got.keys().cloned().collect();
    assert_eq!(ids, tag_a);
    // Everything acked: nothing comes back.
    let again = until_ok!("receive", consumer.receive(16, Duration::from_secs(30)));
    assert!(again.is_empty(), "acked messages came back: {again:?}");

    consumer.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_consumer_consumes_everything_and_retries_a_failure() {
    let d = deployment().await;
    let producer = until_ok!("producer start", Producer::start(config(&d), &["E2ePush"]));
    let mut sent = HashSet::new();
    let sends: Vec<_> = (0..50)
        .map(|i| producer.send_async(Message::new("E2ePush", format!("p{i}"))))
        .collect();
    for r in bounded("sends", futures_util::future::join_all(sends)).await {
        sent.insert(r.expect("sent").message_id);
    }
    let fail_once = sent.iter().next().cloned().expect("a message");

    let done: Arc<Mutex<BTreeMap<String, i32>>> = Arc::default();
    let progress = Arc::new(Notify::new());
    let (seen, wake, failing) = (done.clone(), progress.clone(), fail_once.clone());
    let consumer = bounded(
        "push consumer start",
        PushConsumer::builder(config(&d), "E2ePushGroup")
            .subscribe("E2ePush", FilterExpression::all())
            .concurrency(4)
            .retry_backoff(Retry {
                max_attempts: 1,
                initial: Duration::from_millis(200),
                multiplier: 2.0,
                max: Duration::from_secs(1),
            })
            .start(move |m| {
                if m.message_id() == failing && m.delivery_attempt() == 1 {
                    return ConsumeResult::Failure;
                }
                let mut done = seen.lock().unwrap_or_else(|e| e.into_inner());
                done.insert(m.message_id().to_owned(), m.delivery_attempt());
                wake.notify_one();
                ConsumeResult::Success
            }),
    )
    .await
    .expect("push consumer");
    let deadline = Instant::now() + BOUND;
    loop {
        let notified = progress.notified();
        if done.lock().unwrap_or_else(|e| e.into_inner()).len() >= sent.len() {
            break;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            let n = done.lock().unwrap_or_else(|e| e.into_inner()).len();
            panic!("consumed {n} of {}", sent.len());
        }
    }
    bounded("push consumer shutdown", consumer.shutdown()).await;
    let done = done.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let ids: HashSet<String> = done.keys().cloned().collect();
    assert_eq!(ids, sent);
    assert_eq!(done[&fail_once], 2, "the failed message came back once");
    producer.shutdown().await;
    d.shutdown().await;
}

/// Pulls until `n` messages are collected (bounded).
async fn pull_n(c: &mut PullConsumer, n: usize) -> Vec<ReceivedMessage> {
    let mut out = Vec::new();
    let deadline = Instant::now() + BOUND;
    while out.len() < n {
        assert!(Instant::now() < deadline, "pulled {} of {n}", out.len());
        let want = n - out.len();
        let got = until_ok!("pull", c.pull(want));
        out.extend(got);
    }
    out
}

fn positions(c: &PullConsumer, queues: &[MessageQueue]) -> BTreeMap<MessageQueue, i64> {
    queues
        .iter()
        .filter_map(|q| c.position(q).map(|p| (q.clone(), p)))
        .collect()
}

async fn pull_consumer(d: &LocalDeployment) -> PullConsumer {
    let mut c = bounded(
        "pull consumer start",
        PullConsumer::start(config(d), "E2ePullGroup"),
    )
    .await
    .expect("consumer");
    c.set_long_polling(Duration::from_millis(200));
    c
}

/// Sends 40, pulls 20 and commits, kills the leader, sends 10 more, pulls
/// 5 and commits; a new consumer then resumes at the committed offsets
/// and reads the other 25: every message once, none twice. With
/// `keep_clients`, the producer and the first consumer live through the
/// failover; without, they are shut down before the kill and started
/// anew after it.
async fn pull_resume_after_leader_death(topic: &str, keep_clients: bool) {
    let mut d = deployment().await;
    let producer = until_ok!("producer start", Producer::start(config(&d), &[topic]));
    let mut sent = HashSet::new();
    for i in 0..40 {
        let m = Message::new(topic, format!("q{i}"));
        sent.insert(until_ok!("send", producer.send(m.clone())).message_id);
    }

    let mut a = pull_consumer(&d).await;
    let queues = until_ok!("queues", a.queues(topic));
    assert!(!queues.is_empty());
    a.assign(queues.clone());
    let first = pull_n(&mut a, 20).await;
    until_ok!("commit", a.commit());
    let committed_before = positions(&a, &queues);

    let leader = d.wait_for_leader(BOUND).await.expect("leader");
    let (producer, mut a) = if keep_clients {
        d.kill(leader).await;
        (producer, a)
    } else {
        bounded("shutdown", a.shutdown()).await;
        bounded("shutdown", producer.shutdown()).await;
        d.kill(leader).await;
        let p = until_ok!("producer start", Producer::start(config(&d), &[topic]));
        let mut c = pull_consumer(&d).await;
        c.assign(queues.clone());
        (p, c)
    };
    let new_leader = d.wait_for_leader(BOUND).await.expect("a new leader");
    assert_ne!(new_leader, leader);
    for i in 40..50 {
        let m = Message::new(topic, format!("q{i}"));
        let r = until_ok!("send after failover", producer.send(m.clone()));
        sent.insert(r.message_id);
    }
    let second = pull_n(&mut a, 5).await;
    until_ok!("commit after failover", a.commit());
    // Queues the consumer after the failover did not touch keep the
    // offsets committed before it.
    let mut committed_after = committed_before.clone();
    committed_after.extend(positions(&a, &queues));
    bounded("shutdown", a.shutdown()).await;

    // A new consumer of the group resumes exactly where the group was.
    let mut b = pull_consumer(&d).await;
    b.assign(queues.clone());
    for q in &queues {
        let c = until_ok!("committed", b.committed(q));
        assert_eq!(c, committed_after.get(q).copied(), "{q}");
        if let (Some(before), Some(after)) = (committed_before.get(q), c) {
            assert!(after >= *before, "{q}: committed offset went back");
        }
    }
    let rest = pull_n(&mut b, 50 - 25).await;

    let mut seen = HashSet::new();
    for m in first.iter().chain(&second).chain(&rest) {
        assert!(
            seen.insert(m.message_id().to_owned()),
            "message {} ({}) read twice: a rewind",
            m.message_id(),
            m.queue()
        );
    }
    assert_eq!(seen, sent);
    let none = until_ok!("pull at the end", b.pull(10));
    assert!(none.is_empty());
    bounded("shutdown", b.shutdown()).await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_consumer_resumes_from_committed_offsets_after_a_leader_change() {
    pull_resume_after_leader_death("E2ePullRestart", false).await;
}

/// The same with no client restart: the producer and the consumer find
/// the new leader by themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_consumer_and_producer_ride_out_the_leader_death_without_restart() {
    pull_resume_after_leader_death("E2ePullNoRestart", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_in_batches_finish_every_message() {
    let d = deployment().await;
    let producer = until_ok!(
        "producer start",
        Producer::start(config(&d), &["E2eBatchAck"])
    );
    let msgs: Vec<Message> = (0..40)
        .map(|i| Message::new("E2eBatchAck", format!("b-{i}")))
        .collect();
    until_ok!("send batch", producer.send_batch(msgs.clone()));
    let consumer = until_ok!(
        "consumer start",
        SimpleConsumer::start(config(&d), "BatchAckers")
    );
    until_ok!(
        "subscribe",
        consumer.subscribe("E2eBatchAck", FilterExpression::all())
    );
    let mut seen = HashSet::new();
    let deadline = Instant::now() + BOUND;
    while seen.len() < 40 {
        assert!(Instant::now() < deadline, "received {} of 40", seen.len());
        let got = bounded("receive", consumer.receive(32, Duration::from_secs(30)))
            .await
            .expect("receive");
        bounded("ack batch", consumer.ack_batch(&got))
            .await
            .expect("ack batch");
        for m in &got {
            seen.insert(m.message_id().to_owned());
        }
    }
    // Acked in batches: nothing comes back.
    let again = bounded("receive", consumer.receive(32, Duration::from_secs(30)))
        .await
        .expect("receive");
    assert!(again.is_empty(), "{} came back", again.len());
    consumer.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}
