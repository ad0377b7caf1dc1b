//! SQL92 subscriptions through the SDK against an embedded nameserver and
//! group of three: a SimpleConsumer (ReceiveMessage) and a PullConsumer
//! (PullMessage) each get exactly the messages whose properties and tag
//! match, every one once; a match behind more non-matching messages than
//! one read scans comes in the first receive, well within its long poll; a
//! malformed expression is refused by the SDK before it is sent, and by the
//! broker when it is sent anyway.

use std::collections::BTreeSet;
use std::time::Duration;

use raftmq_client::sdk::{
    ClientError, FilterExpression, Message, Producer, PullConsumer, SimpleConsumer,
};
use raftmq_proto::admin::v1 as admin;
use raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient;
use raftmq_proto::rocketmq::v2;
use tokio::time::Instant;

#[macro_use]
mod group;
use group::{bounded, config, deployment, BOUND};

const TOPIC: &str = "Sql92Orders";
const SENT: usize = 90;

/// The properties of message `i`: a region, an amount (missing on every
/// seventh), a tag, and a non-numeric note on some.
fn message(i: usize) -> Message {
    let region = ["eu", "us", "ap"][i % 3];
    let mut m = Message::new(TOPIC, format!("body-{i}"))
        .with_tag(if i.is_multiple_of(4) {
            "Refund"
        } else {
            "Order"
        })
        .with_property("i", i.to_string())
        .with_property("region", region);
    if !i.is_multiple_of(7) {
        m = m.with_property("amount", (i * 10).to_string());
    }
    if i.is_multiple_of(5) {
        m = m.with_property("note", "see-attached");
    }
    m
}

const EXPRESSION: &str = "(region IN ('eu', 'ap') AND amount BETWEEN 100 AND 600 \
     AND TAGS <> 'Refund') OR (note IS NOT NULL AND amount > 800) OR i = 89";

/// What EXPRESSION selects, written out plainly.
fn expected() -> BTreeSet<usize> {
    (0..SENT)
        .filter(|&i| {
            let amount = (!i.is_multiple_of(7)).then_some(i * 10);
            let eu_or_ap = i % 3 != 1;
            let first = eu_or_ap
                && amount.is_some_and(|a| (100..=600).contains(&a))
                && !i.is_multiple_of(4);
            let second = i.is_multiple_of(5) && amount.is_some_and(|a| a > 800);
            first || second || i == 89
        })
        .collect()
}

fn index(body: &[u8]) -> usize {
    std::str::from_utf8(body)
        .ok()
        .and_then(|b| b.strip_prefix("body-"))
        .and_then(|n| n.parse().ok())
        .expect("a body-N body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_get_exactly_the_matching_messages() {
    let d = deployment().await;
    let producer = until_ok!("producer start", Producer::start(config(&d), &[TOPIC]));
    for i in 0..SENT {
        until_ok!("send", producer.send(message(i)));
    }
    let want = expected();
    assert!(want.len() > 10 && want.len() < SENT / 2, "{want:?}");

    // ReceiveMessage.
    let consumer = bounded(
        "consumer start",
        SimpleConsumer::start(config(&d), "Sql92Simple"),
    )
    .await
    .expect("consumer");
    let filter = FilterExpression::sql(EXPRESSION).expect("a valid expression");
    bounded("subscribe", consumer.subscribe(TOPIC, filter.clone()))
        .await
        .expect("subscribed");
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + BOUND;
    while got.len() < want.len() {
        assert!(Instant::now() < deadline, "received {got:?}, want {want:?}");
        let batch = until_ok!("receive", consumer.receive(16, Duration::from_secs(30)));
        for m in batch {
            let i = index(m.body());
            assert!(
                want.contains(&i),
                "message {i} does not match but was delivered"
            );
            assert!(got.insert(i), "message {i} delivered twice");
            bounded("ack", consumer.ack(&m)).await.expect("acked");
        }
    }
    assert_eq!(got, want);
    let again = until_ok!("receive", consumer.receive(16, Duration::from_secs(30)));
    assert!(again.is_empty(), "more came: {again:?}");

    // PullMessage, every queue from its start.
    let mut puller = bounded(
        "pull consumer start",
        PullConsumer::start(config(&d), "Sql92Pull"),
    )
    .await
    .expect("pull consumer");
    puller.set_long_polling(Duration::from_millis(100));
    puller.set_filter(TOPIC, filter);
    let queues = until_ok!("queues", puller.queues(TOPIC));
    puller.assign(queues);
    let mut pulled = BTreeSet::new();
    let deadline = Instant::now() + BOUND;
    while pulled.len() < want.len() {
        assert!(
            Instant::now() < deadline,
            "pulled {pulled:?}, want {want:?}"
        );
        for m in until_ok!("pull", puller.pull(32)) {
            let i = index(m.body());
            assert!(
                want.contains(&i),
                "message {i} does not match but was pulled"
            );
            assert!(pulled.insert(i), "message {i} pulled twice");
        }
    }
    assert!(until_ok!("pull", puller.pull(32)).is_empty());

    puller.shutdown().await;
    consumer.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_expression_is_refused_with_its_position() {
    // By the SDK, before anything is sent.
    let e = FilterExpression::sql("amount > 5 AND region IN ('eu'").expect_err("refused");
    assert!(matches!(e, ClientError::Invalid { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("column 31") && text.contains("expected"),
        "{text}"
    );

    // By the broker, when a client sends one anyway.
    let d = deployment().await;
    let producer = until_ok!("producer start", Producer::start(config(&d), &[TOPIC]));
    until_ok!("send", producer.send(message(1)));
    let consumer = bounded(
        "consumer start",
        SimpleConsumer::start(config(&d), "Sql92Bad"),
    )
    .await
    .expect("consumer");
    let unchecked = FilterExpression::Sql("amount >> 5".into());
    bounded("subscribe", consumer.subscribe(TOPIC, unchecked))
        .await
        .expect("subscribed");
    let deadline = Instant::now() + BOUND;
    let e = loop {
        match bounded("receive", consumer.receive(16, Duration::from_secs(30))).await {
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(group::POLL).await;
            }
            Err(e) => break e,
            Ok(got) => panic!("a malformed filter delivered {got:?}"),
        }
    };
    assert_eq!(e.code(), Some(v2::Code::IllegalFilterExpression), "{e}");
    assert!(e.to_string().contains("column 9"), "{e}");

    consumer.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

/// More than one read looks at (16 Ki entries) in one queue.
const SPARSE_MISSES: usize = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_match_behind_more_misses_than_one_read_scans_comes_in_the_first_receive() {
    let d = deployment().await;
    let leader = d.wait_for_leader(BOUND).await.expect("a leader");
    let addr = d.broker(leader).expect("the leader").client_addr();
    let mut admin = BrokerAdminClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the leader");
    admin
        .update_topic(admin::UpdateTopicRequest {
            topic: "Sql92Sparse".into(),
            read_queues: 1,
            write_queues: 1,
            perm: 6,
            ..Default::default()
        })
        .await
        .expect("a topic of one queue");
    let producer = until_ok!(
        "producer start",
        Producer::start(config(&d), &["Sql92Sparse"])
    );
    let miss = || Message::new("Sql92Sparse", "m").with_property("match", "no");
    until_ok!("first send", producer.send(miss()));
    for _ in 0..SPARSE_MISSES / 1000 {
        let batch: Vec<Message> = (0..1000).map(|_| miss()).collect();
        until_ok!("send a batch", producer.send_batch(batch.clone()));
    }
    let hit = Message::new("Sql92Sparse", "hit").with_property("match", "yes");
    until_ok!("send the match", producer.send(hit.clone()));

    let mut c = config(&d);
    c.long_polling_timeout = Duration::from_secs(20);
    let consumer = bounded("consumer start", SimpleConsumer::start(c, "Sql92Sparse"))
        .await
        .expect("consumer");
    let filter = FilterExpression::sql("match = 'yes'").expect("valid");
    bounded("subscribe", consumer.subscribe("Sql92Sparse", filter))
        .await
        .expect("subscribed");
    let asked = Instant::now();
    let got = until_ok!("receive", consumer.receive(16, Duration::from_secs(30)));
    let took = asked.elapsed();
    assert_eq!(got.len(), 1, "the first receive, after {took:?}: {got:?}");
    assert_eq!(&got[0].body()[..], b"hit");
    assert!(
        took < Duration::from_secs(15),
        "the match took {took:?}: the receive waited out its long poll"
    );

    consumer.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}
