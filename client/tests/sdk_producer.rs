//! The SDK producer against a fake in-process MessagingService: coalescing
//! of concurrent sends, a lone send going at once, retries keeping the
//! message id, failover to the next member, headers and Telemetry.

#[path = "sdk_fake.rs"]
mod fake;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fake::{dead_addr, Fake, BOUND};
use raftmq_client::sdk::{BatchLimits, ClientConfig, ClientError, Message, Producer, Retry};
use raftmq_proto::rocketmq::v2;

fn config(addr: &str) -> ClientConfig {
    ClientConfig::new(addr).expect("config")
}

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, f).await.expect("in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_coalesced_into_few_requests() {
    let fake = Fake {
        // A broker's commit latency: sends made meanwhile queue up.
        send_delay: Duration::from_millis(5),
        ..Fake::new(4)
    };
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    let sends: Vec<_> = (0..256)
        .map(|i| producer.send_async(Message::new("T", format!("m{i}"))))
        .collect();
    let receipts = bounded(futures_util::future::join_all(sends)).await;
    let receipts: Vec<_> = receipts.into_iter().map(|r| r.expect("sent")).collect();

    let ids: HashSet<&str> = receipts.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), 256, "every message has its own id");
    let queues: HashSet<i32> = receipts.iter().map(|r| r.queue_id).collect();
    assert_eq!(queues.len(), 4, "round-robin over the 4 queues");
    // Offsets are dense per queue: each message got its own entry.
    for q in 0..4 {
        let mut offsets: Vec<i64> = receipts
            .iter()
            .filter(|r| r.queue_id == q)
            .map(|r| r.offset)
            .collect();
        offsets.sort_unstable();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
    }
    let sizes = fake.lock().send_sizes.clone();
    eprintln!(
        "256 concurrent sends went in {} SendMessage requests: {sizes:?}",
        sizes.len()
    );
    assert_eq!(sizes.iter().sum::<usize>(), 256);
    assert!(
        sizes.len() <= 64,
        "far fewer requests than messages: {sizes:?}"
    );
    // Messages for different queues share a request (each names its own).
    let queues = fake.lock().send_queues.clone();
    assert!(
        queues.iter().any(|q| q.len() == 4),
        "some request carries all 4 queues: {queues:?}"
    );
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_send_goes_at_once_in_a_request_of_its_own() {
    let fake = Fake::new(4);
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    bounded(producer.send(Message::new("T", "warm-up")))
        .await
        .expect("sent");
    let started = Instant::now();
    for i in 0..20 {
        let r = bounded(producer.send(Message::new("T", format!("m{i}"))))
            .await
            .expect("sent");
        assert_eq!(r.topic, "T");
        assert_eq!(r.broker, "g0");
    }
    let took = started.elapsed();
    let sizes = fake.lock().send_sizes.clone();
    assert_eq!(sizes, vec![1; 21], "one message per request when alone");
    // No linger: 20 sequential sends on loopback take milliseconds each.
    assert!(took < Duration::from_secs(2), "20 sends took {took:?}");
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_respect_the_batch_limits() {
    let fake = Fake {
        send_delay: Duration::from_millis(5),
        ..Fake::new(1)
    };
    let server = fake.serve(&[]).await;
    let mut cfg = config(&server.addr);
    cfg.batch = BatchLimits {
        max_messages: 10,
        max_bytes: 1 << 20,
        max_in_flight: 2,
    };
    let producer = bounded(Producer::start(cfg, &["T"]))
        .await
        .expect("producer");
    let sends: Vec<_> = (0..100)
        .map(|i| producer.send_async(Message::new("T", format!("m{i}"))))
        .collect();
    for r in bounded(futures_util::future::join_all(sends)).await {
        r.expect("sent");
    }
    let sizes = fake.lock().send_sizes.clone();
    assert_eq!(sizes.iter().sum::<usize>(), 100);
    assert!(sizes.iter().all(|n| *n <= 10), "{sizes:?}");
    assert!(sizes.len() >= 10);
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_batch_puts_its_messages_on_one_queue() {
    let fake = Fake::new(8);
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    let batch = (0..50)
        .map(|i| Message::new("T", format!("m{i}")))
        .collect();
    let receipts = bounded(producer.send_batch(batch)).await.expect("sent");
    assert_eq!(receipts.len(), 50);
    let queues: HashSet<i32> = receipts.iter().map(|r| r.queue_id).collect();
    assert_eq!(queues.len(), 1);
    let offsets: Vec<i64> = receipts.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..50).collect::<Vec<i64>>(), "stored in order");
    assert_eq!(fake.lock().send_sizes, [50], "in one request");
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_batch_answers_in_the_order_given_when_some_go_apart() {
    let fake = Fake::new(8);
    fake.lock().topics.insert("U".into());
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T", "U"]))
        .await
        .expect("producer");
    // Another topic and a FIFO message go apart from the batch's queue.
    let batch = vec![
        Message::new("T", "t0"),
        Message::new("U", "u0"),
        Message::new("T", "g0").with_message_group("g"),
        Message::new("T", "t1"),
    ];
    let receipts = bounded(producer.send_batch(batch)).await.expect("sent");
    let topics: Vec<&str> = receipts.iter().map(|r| r.topic.as_str()).collect();
    assert_eq!(topics, ["T", "U", "T", "T"]);
    assert_eq!(
        receipts[0].queue_id, receipts[3].queue_id,
        "the batch's queue"
    );
    assert_eq!(receipts[3].offset, receipts[0].offset + 1, "in order");
    let ids: HashSet<&str> = receipts.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), 4);
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_group_keeps_to_one_queue() {
    let fake = Fake::new(8);
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    let mut queues = HashSet::new();
    for i in 0..10 {
        let m = Message::new("T", format!("m{i}")).with_message_group("order-42");
        queues.insert(bounded(producer.send(m)).await.expect("sent").queue_id);
    }
    assert_eq!(queues.len(), 1);
    let log = fake.lock().log.clone();
    let stored = &log[&("T".to_owned(), *queues.iter().next().expect("queue"))];
    let bodies: Vec<String> = stored
        .iter()
        .map(|m| String::from_utf8_lossy(&m.body).into_owned())
        .collect();
    assert_eq!(bodies, (0..10).map(|i| format!("m{i}")).collect::<Vec<_>>());
    let sp = stored[0].system_properties.as_ref().expect("props");
    assert_eq!(sp.message_type, v2::MessageType::Fifo as i32);
    assert_eq!(sp.message_group.as_deref(), Some("order-42"));
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_keep_the_message_id() {
    let fake = Fake::new(2);
    fake.lock().fail_sends = 2;
    let server = fake.serve(&[]).await;
    let mut cfg = config(&server.addr);
    cfg.send_retry = Retry {
        max_attempts: 3,
        initial: Duration::from_millis(10),
        ..Retry::default()
    };
    let producer = bounded(Producer::start(cfg, &["T"]))
        .await
        .expect("producer");
    let r = bounded(producer.send(Message::new("T", "x")))
        .await
        .expect("third attempt");
    let ids = fake.lock().sent_ids.clone();
    assert_eq!(ids, vec![r.message_id.clone(); 3]);

    fake.lock().fail_sends = 3;
    let err = bounded(producer.send(Message::new("T", "y")))
        .await
        .expect_err("3 failed attempts");
    assert!(
        matches!(err, ClientError::Broker { code: 50001, .. }),
        "{err}"
    );
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_is_retried_together_keeping_its_ids() {
    let fake = Fake::new(2);
    fake.lock().fail_sends = 1;
    let server = fake.serve(&[]).await;
    let mut cfg = config(&server.addr);
    cfg.send_retry = Retry {
        max_attempts: 3,
        initial: Duration::from_millis(50),
        ..Retry::default()
    };
    let producer = bounded(Producer::start(cfg, &["T"]))
        .await
        .expect("producer");
    let batch = (0..20)
        .map(|i| Message::new("T", format!("m{i}")))
        .collect();
    let receipts = bounded(producer.send_batch(batch))
        .await
        .expect("sent on the retry");
    assert_eq!(receipts.len(), 20);
    let (sizes, ids) = {
        let f = fake.lock();
        (f.send_sizes.clone(), f.sent_ids.clone())
    };
    // The refused request, then the 20 retries: side by side, so they
    // coalesce (one at a time they would take 20 requests).
    assert_eq!(sizes.first(), Some(&20), "{sizes:?}");
    assert!(sizes.len() <= 11, "{sizes:?}");
    for r in &receipts {
        let sent = ids.iter().filter(|id| **id == r.message_id).count();
        assert_eq!(sent, 2, "{} sent {sent} times", r.message_id);
    }
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_member_is_skipped_for_the_next() {
    let fake = Fake::new(2);
    let dead = dead_addr().await;
    let server = fake.serve(std::slice::from_ref(&dead)).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    for i in 0..5 {
        bounded(producer.send(Message::new("T", format!("m{i}"))))
            .await
            .expect("sent through the second member");
    }
    assert_eq!(fake.lock().sent_ids.len(), 5, "no retry needed");
    producer.shutdown().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_carries_the_client_headers_and_telemetry_comes_first() {
    let fake = Fake::new(2);
    let server = fake.serve(&[]).await;
    let producer = bounded(Producer::start(config(&server.addr), &["T"]))
        .await
        .expect("producer");
    bounded(producer.send(Message::new("T", "x").with_tag("A").with_keys(["k"])))
        .await
        .expect("sent");
    let client_id = producer.client_id().to_owned();
    producer.shutdown().await;
    fake.wait_until("termination", |s| s.terminations >= 1)
        .await;
    let s = std::mem::take(&mut *fake.lock());
    assert!(!s.headers.is_empty());
    for h in &s.headers {
        assert_eq!(h.get("x-mq-client-id"), Some(&client_id), "{h:?}");
        assert_eq!(h.get("x-mq-language").map(String::as_str), Some("RUST"));
        assert_eq!(h.get("x-mq-protocol").map(String::as_str), Some("v2"));
        assert!(h.contains_key("x-mq-client-version"));
        assert!(h.contains_key("x-raftmq-all-members"));
    }
    let settings = s.settings.first().expect("telemetry settings");
    assert_eq!(settings.client_type, Some(v2::ClientType::Producer as i32));
    let Some(v2::settings::PubSub::Publishing(p)) = &settings.pub_sub else {
        panic!("publishing settings expected: {settings:?}");
    };
    assert_eq!(p.topics[0].name, "T");
    let stored = &s.log[&("T".to_owned(), 0)][0];
    let sp = stored.system_properties.as_ref().expect("props");
    assert_eq!(sp.tag.as_deref(), Some("A"));
    assert_eq!(sp.keys, ["k"]);
    assert_eq!(sp.message_id.len(), 34);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_to_do() {
    let fake = Fake::new(2);
    let server = fake.serve(&[]).await;
    let err = bounded(Producer::start(config(&server.addr), &["Nope"]))
        .await
        .expect_err("no such topic");
    assert!(matches!(&err, ClientError::TopicNotFound { topic } if topic == "Nope"));
    assert!(
        err.to_string().contains("mqadmin updateTopic -t Nope"),
        "{err}"
    );

    let producer = bounded(Producer::start(config(&server.addr), &[]))
        .await
        .expect("producer");
    let err = bounded(producer.send(Message::new("bad topic", "x")))
        .await
        .expect_err("invalid");
    assert!(matches!(err, ClientError::Invalid { what: "topic", .. }));
    producer.shutdown().await;
    server.stop().await;

    let dead = dead_addr().await;
    let mut cfg = config(&dead);
    cfg.send_retry.max_attempts = 1;
    let err = bounded(Producer::start(cfg, &["T"]))
        .await
        .expect_err("nobody there");
    let ClientError::Unavailable { tried, .. } = &err else {
        panic!("unavailable expected: {err}");
    };
    assert_eq!(tried, std::slice::from_ref(&dead));
    assert!(err.to_string().contains("NAMESRV_ADDR"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_telemetry_costs_a_bounded_wait() {
    let fake = Fake {
        silent_telemetry: true,
        ..Fake::new(2)
    };
    let server = fake.serve(&[]).await;
    let mut cfg = config(&server.addr);
    cfg.telemetry_timeout = Duration::from_millis(200);
    let started = Instant::now();
    let producer = bounded(Producer::start(cfg, &["T"]))
        .await
        .expect("producer");
    for i in 0..5 {
        bounded(producer.send(Message::new("T", format!("m{i}"))))
            .await
            .expect("sent");
    }
    // One bounded wait for the one endpoint, not one per call.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(fake.lock().send_sizes.len(), 5);
    producer.shutdown().await;
    server.stop().await;
}

/// Waits until the runtime runs no more tasks than `baseline`.
async fn tasks_back_to(baseline: usize, what: &str) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = tokio::time::Instant::now() + BOUND;
    while metrics.num_alive_tasks() > baseline {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {} tasks alive, {baseline} before",
            metrics.num_alive_tasks()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A producer that has sent (so it runs heartbeats, a Telemetry reader and
/// a group sender) and the count of tasks alive before it started.
async fn a_producer_that_sent(fake: &Fake, addr: &str) -> (Producer, usize) {
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let producer = bounded(Producer::start(config(addr), &["T"]))
        .await
        .expect("producer");
    bounded(producer.send(Message::new("T", "one")))
        .await
        .expect("sent");
    fake.wait_until("the settings", |s| !s.settings.is_empty())
        .await;
    let metrics = tokio::runtime::Handle::current().metrics();
    assert!(
        metrics.num_alive_tasks() > baseline,
        "the producer runs tasks"
    );
    (producer, baseline)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_producer_leaves_no_task_running() {
    let fake = Fake::new(1);
    let server = fake.serve(&[]).await;
    let (producer, baseline) = a_producer_that_sent(&fake, &server.addr).await;
    drop(producer);
    // Its tasks, its connections' tasks, and the server's for them.
    tasks_back_to(baseline, "after the drop").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_shut_down_leaves_no_task_running() {
    let fake = Fake::new(1);
    let server = fake.serve(&[]).await;
    let (producer, baseline) = a_producer_that_sent(&fake, &server.addr).await;
    bounded(producer.shutdown()).await;
    tasks_back_to(baseline, "after the shutdown").await;
    assert_eq!(fake.lock().terminations, 1);
    server.stop().await;
}
