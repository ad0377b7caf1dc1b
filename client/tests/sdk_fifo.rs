//! FIFO consumer groups end to end against an embedded group of three: a
//! group created with `consumeMessageOrderly` receives each message group
//! in order through the SimpleConsumer and the PushConsumer, a message
//! held unacknowledged holds back only its own group, and the order holds
//! across a leader's death.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftmq_client::admin::{BrokerClient, GroupOptions, GroupSpec};
use raftmq_client::sdk::{
    ConsumeResult, FilterExpression, Message, Producer, PushConsumer, ReceivedMessage, Retry,
    SimpleConsumer,
};
use raftmq_embedded::LocalDeployment;
use tokio::sync::Notify;
use tokio::time::Instant;

#[macro_use]
mod group;
use group::{bounded, config, deployment, BOUND, POLL};

/// Creates `group` as a FIFO consumer group (`updateSubGroup -o true`).
async fn fifo_group(d: &LocalDeployment, group: &str) {
    let spec = GroupSpec::new(&GroupOptions {
        group,
        orderly: Some("true"),
        ..Default::default()
    })
    .expect("a group spec");
    let members: Vec<String> = d
        .brokers()
        .map(|(_, b)| b.advertised_addr().to_owned())
        .collect();
    let admin = BrokerClient::new();
    let deadline = Instant::now() + BOUND;
    while let Err(e) = admin.update_sub_group(&members, &spec).await {
        assert!(Instant::now() < deadline, "updateSubGroup {group}: {e}");
        tokio::time::sleep(POLL).await;
    }
}

/// Sends `per_group` messages to each of `groups`, interleaved, one at a
/// time; the body is `<group>-<seq>`.
async fn send_groups(d: &LocalDeployment, topic: &str, groups: &[&str], per_group: usize) {
    let producer = until_ok!("producer start", Producer::start(config(d), &[topic]));
    for seq in 0..per_group {
        for g in groups {
            let m = Message::new(topic, format!("{g}-{seq}")).with_message_group(*g);
            until_ok!("send", producer.send(m.clone()));
        }
    }
    producer.shutdown().await;
}

fn body(m: &ReceivedMessage) -> String {
    String::from_utf8_lossy(m.body()).into_owned()
}

fn seq(m: &ReceivedMessage) -> usize {
    body(m)
        .rsplit('-')
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a body <group>-<seq>")
}

fn group_of(m: &ReceivedMessage) -> String {
    m.message_group().expect("a message group").to_owned()
}

async fn simple_consumer(d: &LocalDeployment, group: &str, topic: &str) -> SimpleConsumer {
    let c = until_ok!("consumer start", SimpleConsumer::start(config(d), group));
    until_ok!("subscribe", c.subscribe(topic, FilterExpression::all()));
    c
}

/// Checks each group's first deliveries came in send order.
fn assert_first_deliveries_in_order(deliveries: &[(String, usize)]) {
    let mut seen = HashSet::new();
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (g, s) in deliveries {
        if !seen.insert((g.as_str(), *s)) {
            continue;
        }
        let expected = last.get(g.as_str()).map_or(0, |l| l + 1);
        assert_eq!(*s, expected, "group {g}: first deliveries {deliveries:?}");
        last.insert(g, *s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_message_holds_back_its_group_only_until_it_comes_again_and_is_acked() {
    let d = deployment().await;
    let (topic, group) = ("FifoHeld", "FifoHeldGroup");
    fifo_group(&d, group).await;
    send_groups(&d, topic, &["A", "B"], 4).await;
    let c = simple_consumer(&d, group, topic).await;
    let invisible = Duration::from_secs(2);

    let mut order: Vec<(String, usize)> = Vec::new();
    let mut held: Option<ReceivedMessage> = None;
    let mut acked_b = 0;
    let deadline = Instant::now() + BOUND;
    // Hold A-0; B goes on to its end meanwhile.
    while held.is_none() || acked_b < 4 {
        assert!(Instant::now() < deadline, "B did not flow: {order:?}");
        let got = until_ok!("receive", c.receive(32, invisible));
        let mut groups = HashSet::new();
        for m in got {
            assert!(groups.insert(group_of(&m)), "two of one group in one batch");
            order.push((group_of(&m), seq(&m)));
            if group_of(&m) == "A" {
                assert_eq!(seq(&m), 0, "A-{} while A-0 is held: {order:?}", seq(&m));
                if held.is_none() {
                    held = Some(m);
                }
                continue;
            }
            until_ok!("ack", c.ack(&m));
            acked_b += 1;
        }
    }
    // A-0 comes again after its invisible time, before A-1.
    let held = held.expect("A-0 held");
    let again = loop {
        assert!(Instant::now() < deadline, "A-0 did not come again");
        let got = until_ok!("receive", c.receive(32, invisible));
        if let Some(m) = got.into_iter().next() {
            break m;
        }
    };
    assert_eq!((group_of(&again), seq(&again)), ("A".into(), 0));
    assert_eq!(again.delivery_attempt(), held.delivery_attempt() + 1);
    order.push(("A".into(), 0));
    until_ok!("ack", c.ack(&again));
    // Then the rest of A, in order.
    let mut a_next = 1;
    while a_next < 4 {
        assert!(
            Instant::now() < deadline,
            "A stalled at {a_next}: {order:?}"
        );
        for m in until_ok!("receive", c.receive(32, invisible)) {
            assert_eq!((group_of(&m), seq(&m)), ("A".into(), a_next));
            order.push((group_of(&m), seq(&m)));
            until_ok!("ack", c.ack(&m));
            a_next += 1;
        }
    }
    assert_first_deliveries_in_order(&order);
    c.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_of_a_group_holds_across_the_leaders_death() {
    let mut d = deployment().await;
    let (topic, group) = ("FifoFailover", "FifoFailoverGroup");
    fifo_group(&d, group).await;
    send_groups(&d, topic, &["A", "B", "C"], 4).await;
    let c = simple_consumer(&d, group, topic).await;
    // Long enough that only a new leader hands A-0 out again.
    let invisible = Duration::from_secs(30);

    let mut order: Vec<(String, usize)> = Vec::new();
    let mut firsts: HashSet<String> = HashSet::new();
    let deadline = Instant::now() + BOUND;
    while firsts.len() < 3 {
        assert!(Instant::now() < deadline, "not every group came: {order:?}");
        for m in until_ok!("receive", c.receive(32, invisible)) {
            order.push((group_of(&m), seq(&m)));
            assert_eq!(seq(&m), 0, "{order:?}");
            firsts.insert(group_of(&m));
            // A-0 stays out with this consumer; B-0 and C-0 are done.
            if group_of(&m) != "A" {
                until_ok!("ack", c.ack(&m));
            }
        }
    }

    let leader = d.wait_for_leader(BOUND).await.expect("a leader");
    d.kill(leader).await;
    let new_leader = d.wait_for_leader(BOUND).await.expect("a new leader");
    assert_ne!(new_leader, leader);

    // The new leader starts from the committed offsets: A-0 comes again
    // before A-1; whatever else comes again is a redelivery.
    let mut a0_acked = false;
    let mut done: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + 2 * BOUND;
    while done.values().sum::<usize>() < 12 {
        assert!(Instant::now() < deadline, "stalled: {order:?}");
        let got = match bounded("receive", c.receive(32, invisible)).await {
            Ok(got) => got,
            Err(e) => {
                assert!(e.is_retryable(), "receive after the failover: {e}");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        for m in got {
            let (g, s) = (group_of(&m), seq(&m));
            if g == "A" && s > 0 {
                assert!(
                    a0_acked,
                    "A-{s} delivered while A-0 is not acked: {order:?}"
                );
            }
            order.push((g.clone(), s));
            until_ok!("ack", c.ack(&m));
            if g == "A" && s == 0 {
                a0_acked = true;
            }
            let n = done.entry(g).or_default();
            *n = (*n).max(s + 1);
        }
    }
    assert!(a0_acked);
    assert_first_deliveries_in_order(&order);
    c.shutdown().await;
    d.shutdown().await;
}

/// What the listener saw: (group, seq, attempt) in the order it ran, and
/// whether two messages of one group ever ran at once.
#[derive(Default)]
struct Seen {
    runs: Vec<(String, usize, i32)>,
    running: HashSet<String>,
    overlaps: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_consumer_runs_a_group_one_message_at_a_time_in_order() {
    let d = deployment().await;
    let (topic, group) = ("FifoPush", "FifoPushGroup");
    fifo_group(&d, group).await;
    let groups = ["A", "B", "C", "D"];
    send_groups(&d, topic, &groups, 6).await;

    let seen: Arc<Mutex<Seen>> = Arc::default();
    let progress = Arc::new(Notify::new());
    let (record, wake) = (seen.clone(), progress.clone());
    let consumer = bounded(
        "push consumer start",
        PushConsumer::builder(config(&d), group)
            .subscribe(topic, FilterExpression::all())
            .concurrency(8)
            .invisible_duration(Duration::from_secs(1))
            .retry_backoff(Retry {
                max_attempts: 1,
                initial: Duration::from_millis(300),
                multiplier: 1.0,
                max: Duration::from_millis(300),
            })
            .start(move |m| {
                let (g, s, attempt) = (group_of(m), seq(m), m.delivery_attempt());
                {
                    let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                    if !seen.running.insert(g.clone()) {
                        seen.overlaps.push(format!("{g}-{s} attempt {attempt}"));
                    }
                    seen.runs.push((g.clone(), s, attempt));
                }
                // A-0's first run outlasts its invisible time: the broker
                // hands it out again meanwhile, and it must wait its turn.
                if (g.as_str(), s, attempt) == ("A", 0, 1) {
                    std::thread::sleep(Duration::from_millis(1_500));
                }
                let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                seen.running.remove(&g);
                drop(seen);
                wake.notify_one();
                // B-2 fails once: it comes again before B-3.
                if (g.as_str(), s, attempt) == ("B", 2, 1) {
                    return ConsumeResult::Failure;
                }
                ConsumeResult::Success
            }),
    )
    .await
    .expect("push consumer");

    let all_done = |s: &Seen| {
        groups
            .iter()
            .all(|g| s.runs.iter().any(|(rg, rs, _)| rg == g && *rs == 5))
    };
    let deadline = Instant::now() + BOUND;
    loop {
        let notified = progress.notified();
        if all_done(&seen.lock().unwrap_or_else(|e| e.into_inner())) {
            break;
        }
        assert!(Instant::now() < deadline, "not done in time");
        let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
    }
    consumer.shutdown().await;

    {
        let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        assert!(seen.overlaps.is_empty(), "ran at once: {:?}", seen.overlaps);
        let order: Vec<(String, usize)> =
            seen.runs.iter().map(|(g, s, _)| (g.clone(), *s)).collect();
        assert_first_deliveries_in_order(&order);
        let runs_of = |g: &str, s: usize| -> Vec<i32> {
            seen.runs
                .iter()
                .filter(|(rg, rs, _)| rg == g && *rs == s)
                .map(|(_, _, a)| *a)
                .collect()
        };
        assert!(runs_of("A", 0).len() >= 2, "A-0 ran {:?}", runs_of("A", 0));
        assert!(
            runs_of("B", 2).starts_with(&[1, 2]),
            "B-2 ran {:?}",
            runs_of("B", 2)
        );
        let pos = |g: &str, s: usize, a: i32| {
            seen.runs
                .iter()
                .position(|r| r == &(g.to_owned(), s, a))
                .unwrap_or(usize::MAX)
        };
        assert!(pos("B", 2, 2) < pos("B", 3, 1), "B-3 before B-2 came again");
    }
    d.shutdown().await;
}
