//! Held messages end to end against an embedded nameserver and a group of
//! three (`raftmq_embedded::LocalDeployment`): a delay message reaches
//! consumers at its time and not before, a delivery time past the
//! broker's maximum is refused, a committed transaction is delivered and a
//! rolled-back one never, a transaction left open is checked back and
//! committed by the checker, and a commit made after the leader dies
//! still delivers.
//!
//! These need the broker's side of issue 19 (timers, transactions,
//! check-backs): `cargo test -p raftmq-client --test sdk_held_e2e`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use raftmq_client::sdk::{
    FilterExpression, Message, Producer, ReceivedMessage, Retry, SimpleConsumer,
    TransactionChecker, TransactionProducer, TransactionResolution, TransactionalMessage,
};
use raftmq_embedded::LocalDeployment;
use raftmq_proto::rocketmq::v2;
use tokio::time::Instant;

#[macro_use]
mod group;
use group::{bounded, config, deployment, BOUND};

/// The bound on a check-back: the broker checks a transaction left open
/// some seconds after it was sent, then at its check interval.
const CHECK_BOUND: Duration = Duration::from_secs(120);
/// How late after its due time a delay message may reach a consumer: the
/// broker's release (tens of ms) plus one receive's long poll.
const LATE: Duration = Duration::from_secs(3);

/// Milliseconds since the Unix epoch.
fn millis(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

async fn consumer(d: &LocalDeployment, group: &str, topic: &str) -> SimpleConsumer {
    let c = until_ok!("consumer start", SimpleConsumer::start(config(d), group));
    until_ok!("subscribe", c.subscribe(topic, FilterExpression::all()));
    c
}

/// Receives and acks until every id of `want` has come, within `bound`;
/// returns what came (by id) with the time each was received. Fails if
/// anything in `never` comes.
async fn receive_until(
    c: &SimpleConsumer,
    want: &HashSet<String>,
    never: &HashSet<String>,
    bound: Duration,
) -> HashMap<String, (ReceivedMessage, SystemTime)> {
    let mut got = HashMap::new();
    let deadline = Instant::now() + bound;
    while !want.iter().all(|id| got.contains_key(id)) {
        assert!(
            Instant::now() < deadline,
            "received {:?} of {want:?} within {bound:?}",
            got.keys().collect::<Vec<_>>()
        );
        let batch = until_ok!("receive", c.receive(16, Duration::from_secs(30)));
        let at = SystemTime::now();
        for m in batch {
            assert!(
                !never.contains(m.message_id()),
                "message {} must never be delivered: {m:?}",
                m.message_id()
            );
            until_ok!("ack", c.ack(&m));
            got.insert(m.message_id().to_owned(), (m, at));
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delay_message_reaches_consumers_at_its_time_and_not_before() {
    let d = deployment().await;
    let topic = "E2eDelay";
    let producer = until_ok!("producer start", Producer::start(config(&d), &[topic]));
    until_ok!("warm-up", producer.send(Message::new(topic, "warm-up")));
    let c = consumer(&d, "E2eDelayGroup", topic).await;

    // Two delay messages in one request, each with its own time, and a
    // plain one after them.
    let now = SystemTime::now();
    let (soon, later) = (now + Duration::from_secs(3), now + Duration::from_secs(6));
    let receipts = until_ok!(
        "send delayed",
        producer.send_batch(vec![
            Message::new(topic, "later").with_delivery_time(later),
            Message::new(topic, "soon").with_delivery_time(soon),
        ])
    );
    let (later_id, soon_id) = (
        receipts[0].message_id.clone(),
        receipts[1].message_id.clone(),
    );
    let plain = until_ok!("send plain", producer.send(Message::new(topic, "plain")));

    let want = HashSet::from([later_id.clone(), soon_id.clone(), plain.message_id.clone()]);
    let got = receive_until(&c, &want, &HashSet::new(), BOUND).await;
    for (id, due) in [(&soon_id, soon), (&later_id, later)] {
        let (m, at) = &got[id];
        assert!(
            *at >= due,
            "{id} came {:?} early",
            due.duration_since(*at).unwrap_or_default()
        );
        let late = at.duration_since(due).unwrap_or_default();
        assert!(late < LATE, "{id} came {late:?} after its time");
        assert_eq!(
            m.delivery_timestamp().map(millis),
            Some(millis(due)),
            "{id} keeps its delivery time (to the millisecond the broker stores)"
        );
    }
    let (_, plain_at) = &got[&plain.message_id];
    assert!(*plain_at < soon, "the plain message waited for nothing");
    assert!(got[&soon_id].1 <= got[&later_id].1, "in due order");

    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_time_past_the_brokers_maximum_is_refused() {
    let d = deployment().await;
    let topic = "E2eDelayTooFar";
    let producer = until_ok!("producer start", Producer::start(config(&d), &[topic]));
    until_ok!("warm-up", producer.send(Message::new(topic, "warm-up")));
    // timerMaxDelaySec is 3 days by default.
    let far = Message::new(topic, "far").with_delivery_delay(Duration::from_secs(4 * 86_400));
    let e = bounded("send", producer.send(far))
        .await
        .expect_err("refused");
    assert_eq!(e.code(), Some(v2::Code::IllegalDeliveryTime), "{e}");
    producer.shutdown().await;
    d.shutdown().await;
}

/// Commits messages whose `answer` is `commit`, rolls back `rollback`.
fn by_answer() -> Arc<dyn TransactionChecker> {
    Arc::new(|m: TransactionalMessage| async move {
        match m.properties().get("answer").map(String::as_str) {
            Some("commit") => TransactionResolution::Commit,
            Some("rollback") => TransactionResolution::Rollback,
            _ => TransactionResolution::Unknown,
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_transaction_is_delivered_and_a_rolled_back_one_never() {
    let d = deployment().await;
    let topic = "E2eTransactions";
    let producer = until_ok!(
        "producer start",
        TransactionProducer::start(config(&d), &[topic], by_answer())
    );
    let c = consumer(&d, "E2eTransactionsGroup", topic).await;

    let mut commit = producer.begin();
    let committed = until_ok!(
        "send",
        commit.send(Message::new(topic, "to commit").with_property("answer", "commit"))
    );
    let mut rollback = producer.begin();
    let rolled_back = until_ok!(
        "send",
        rollback.send(Message::new(topic, "to roll back").with_property("answer", "rollback"))
    );
    let never = HashSet::from([rolled_back.message_id.clone()]);

    // Held until the commit: a plain message sent after the half messages
    // comes first.
    let first = until_ok!(
        "send",
        producer.producer().send(Message::new(topic, "first"))
    );
    let got = receive_until(
        &c,
        &HashSet::from([first.message_id.clone()]),
        &never,
        BOUND,
    )
    .await;
    assert!(
        !got.contains_key(&committed.message_id),
        "delivered before its commit"
    );

    bounded("commit", commit.commit()).await.expect("committed");
    bounded("rollback", rollback.rollback())
        .await
        .expect("rolled back");
    let last = until_ok!(
        "send",
        producer.producer().send(Message::new(topic, "last"))
    );
    let want = HashSet::from([committed.message_id.clone(), last.message_id.clone()]);
    let got = receive_until(&c, &want, &never, BOUND).await;
    let (m, _) = &got[&committed.message_id];
    assert_eq!(&m.body()[..], b"to commit");
    assert_eq!(m.properties()["answer"], "commit");

    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_open_is_checked_back_and_ended_by_the_checker() {
    let d = deployment().await;
    let topic = "E2eTransactionCheck";
    let producer = until_ok!(
        "producer start",
        TransactionProducer::start(config(&d), &[topic], by_answer())
    );
    let c = consumer(&d, "E2eTransactionCheckGroup", topic).await;
    let mut ids = HashMap::new();
    for answer in ["commit", "rollback"] {
        let mut tx = producer.begin();
        let m = Message::new(topic, answer).with_property("answer", answer);
        let r = until_ok!("send", tx.send(m.clone()));
        ids.insert(answer, r.message_id);
        // Neither committed nor rolled back: the broker must ask.
        drop(tx);
    }
    let want = HashSet::from([ids["commit"].clone()]);
    let never = HashSet::from([ids["rollback"].clone()]);
    let got = receive_until(&c, &want, &never, CHECK_BOUND).await;
    assert_eq!(&got[&ids["commit"]].0.body()[..], b"commit");
    // The rolled-back one stays away: a plain message sent now comes alone.
    let marker = until_ok!(
        "send",
        producer.producer().send(Message::new(topic, "marker"))
    );
    receive_until(&c, &HashSet::from([marker.message_id]), &never, BOUND).await;

    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_made_after_the_leader_dies_still_delivers() {
    let mut d = deployment().await;
    let topic = "E2eTransactionFailover";
    let mut cfg = config(&d);
    // Enough attempts to outlast an election.
    cfg.send_retry = Retry {
        max_attempts: 30,
        initial: Duration::from_millis(100),
        multiplier: 2.0,
        max: Duration::from_secs(1),
    };
    let producer = until_ok!(
        "producer start",
        TransactionProducer::start(cfg.clone(), &[topic], by_answer())
    );
    let mut tx = producer.begin();
    let sent = until_ok!("send", tx.send(Message::new(topic, "across a failover")));
    let leader = d.wait_for_leader(BOUND).await.expect("leader");
    d.kill(leader).await;
    let new_leader = d.wait_for_leader(BOUND).await.expect("a new leader");
    assert_ne!(new_leader, leader);
    bounded("commit", tx.commit()).await.expect("committed");

    let c = consumer(&d, "E2eTransactionFailoverGroup", topic).await;
    let got = receive_until(
        &c,
        &HashSet::from([sent.message_id.clone()]),
        &HashSet::new(),
        BOUND,
    )
    .await;
    assert_eq!(&got[&sent.message_id].0.body()[..], b"across a failover");
    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_due_across_a_leader_kill_and_restart_fire_exactly_once() {
    let mut d = deployment().await;
    let topic = "E2eDelayFailover";
    let mut cfg = config(&d);
    cfg.send_retry = Retry {
        max_attempts: 30,
        initial: Duration::from_millis(100),
        multiplier: 2.0,
        max: Duration::from_secs(1),
    };
    let producer = until_ok!("producer start", Producer::start(cfg.clone(), &[topic]));
    until_ok!("warm-up", producer.send(Message::new(topic, "warm-up")));
    let c = consumer(&d, "E2eDelayFailoverGroup", topic).await;

    // Due from 1.5 s to 4 s from now: some while no leader is elected,
    // most under the new leader, the rest after the old one is back.
    let now = SystemTime::now();
    let messages: Vec<Message> = (0..50u64)
        .map(|i| {
            let due = now + Duration::from_millis(1_500 + i * 50);
            Message::new(topic, format!("timer {i}")).with_delivery_time(due)
        })
        .collect();
    let dues: Vec<SystemTime> = messages.iter().filter_map(Message::delivery_time).collect();
    let receipts = until_ok!("send timers", producer.send_batch(messages.clone()));
    let due_of: HashMap<String, SystemTime> = receipts
        .iter()
        .map(|r| r.message_id.clone())
        .zip(dues)
        .collect();
    let leader = d.wait_for_leader(BOUND).await.expect("leader");
    d.kill(leader).await;
    let new_leader = d.wait_for_leader(BOUND).await.expect("a new leader");
    assert_ne!(new_leader, leader);
    d.restart(leader).await.expect("the old leader restarts");

    // Where each came from: one queue position per message, however often
    // it is delivered (a redelivery keeps its position).
    let mut places: HashMap<String, HashSet<(i32, i64)>> = HashMap::new();
    let deadline = Instant::now() + BOUND;
    let quiet_after = |places: &HashMap<String, HashSet<(i32, i64)>>| {
        due_of.keys().all(|id| places.contains_key(id))
    };
    let mut settle: Option<Instant> = None;
    loop {
        assert!(
            Instant::now() < deadline,
            "received {} of {} timers within {BOUND:?}",
            places.len(),
            due_of.len()
        );
        if settle.is_some_and(|s| Instant::now() >= s) {
            break;
        }
        let batch = until_ok!("receive", c.receive(16, Duration::from_secs(30)));
        let at = SystemTime::now();
        for m in batch {
            if let Some(due) = due_of.get(m.message_id()) {
                assert!(
                    at >= *due,
                    "{} came {:?} early",
                    m.message_id(),
                    due.duration_since(at).unwrap_or_default()
                );
                places
                    .entry(m.message_id().to_owned())
                    .or_default()
                    .insert((m.queue_id(), m.queue_offset()));
            }
            until_ok!("ack", c.ack(&m));
        }
        // Once all came, look a little longer for a second copy.
        if settle.is_none() && quiet_after(&places) {
            settle = Some(Instant::now() + Duration::from_secs(2));
        }
    }
    let doubled: Vec<_> = places.iter().filter(|(_, p)| p.len() > 1).collect();
    assert!(doubled.is_empty(), "released twice: {doubled:?}");
    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_type_check_a_message_of_another_type_is_refused_and_not_stored() {
    let d = LocalDeployment::start_with(raftmq_embedded::LocalOptions {
        held: raftmq_embedded::HeldConf {
            enable_topic_message_type_check: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("deployment starts");
    d.wait_for_leader(BOUND).await.expect("a leader");
    let topic = "E2eTypeChecked";
    let producer = until_ok!("producer start", Producer::start(config(&d), &[topic]));
    // Created on first send, undeclared: NORMAL under the check.
    let normal = until_ok!("normal", producer.send(Message::new(topic, "normal")));
    let delayed = Message::new(topic, "delayed").with_delivery_delay(Duration::from_millis(200));
    let e = bounded("send delayed", producer.send(delayed))
        .await
        .expect_err("refused");
    assert_eq!(
        e.code(),
        Some(v2::Code::MessagePropertyConflictWithType),
        "{e}"
    );
    assert!(e.to_string().contains("enableTopicMessageTypeCheck"), "{e}");
    let after = until_ok!("normal after", producer.send(Message::new(topic, "after")));

    // Nothing of the refused one was stored: the queue holds the two
    // normal ones only, even after its due time.
    let c = consumer(&d, "E2eTypeCheckedGroup", topic).await;
    let want = HashSet::from([normal.message_id.clone(), after.message_id.clone()]);
    let got = receive_until(&c, &want, &HashSet::new(), BOUND).await;
    assert_eq!(got.len(), 2);
    let settle = Instant::now() + Duration::from_secs(1);
    while Instant::now() < settle {
        let more = until_ok!("receive", c.receive(16, Duration::from_secs(30)));
        assert!(more.is_empty(), "stored after all: {more:?}");
    }
    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

/// One end of an EndTransactions call.
fn end_of(
    topic: &str,
    tx: &raftmq_client::sdk::Transaction,
    resolution: raftmq_proto::client::v1::Resolution,
) -> raftmq_proto::client::v1::TransactionEnd {
    raftmq_proto::client::v1::TransactionEnd {
        topic: topic.into(),
        message_id: tx.message_id().expect("sent").into(),
        transaction_id: tx.transaction_id().expect("sent").into(),
        resolution: resolution as i32,
        source: raftmq_proto::client::v1::Source::Client as i32,
    }
}

/// EndTransactions to the member at `addr`, as a client with an id.
async fn end_transactions(
    addr: &str,
    ends: Vec<raftmq_proto::client::v1::TransactionEnd>,
) -> Vec<v2::Code> {
    use raftmq_proto::client::v1::client_extensions_client::ClientExtensionsClient;
    let mut c = bounded(
        "connect",
        ClientExtensionsClient::connect(format!("http://{addr}")),
    )
    .await
    .expect("connects");
    let mut request =
        tonic::Request::new(raftmq_proto::client::v1::EndTransactionsRequest { ends });
    request
        .metadata_mut()
        .insert("x-mq-client-id", "e2e-raw-client".parse().expect("header"));
    let answers = bounded("EndTransactions", c.end_transactions(request))
        .await
        .expect("answered")
        .into_inner()
        .answers;
    answers
        .into_iter()
        .map(|a| v2::Code::try_from(a.code).unwrap_or(v2::Code::Unspecified))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_ends_in_one_call_at_a_follower_are_each_answered_in_order() {
    use raftmq_proto::client::v1::{Resolution, TransactionEnd};
    let d = deployment().await;
    let topic = "E2eEndTransactions";
    // A checker that never decides: only the calls below end anything.
    let undecided: Arc<dyn TransactionChecker> =
        Arc::new(|_: TransactionalMessage| async { TransactionResolution::Unknown });
    let producer = until_ok!(
        "producer start",
        TransactionProducer::start(config(&d), &[topic], undecided.clone())
    );
    let c = consumer(&d, "E2eEndTransactionsGroup", topic).await;
    let mut txs = Vec::new();
    for body in ["a", "b", "c"] {
        let mut tx = producer.begin();
        until_ok!("send", tx.send(Message::new(topic, body)));
        txs.push(tx);
    }
    let (a, b, c_tx) = (&txs[0], &txs[1], &txs[2]);
    let leader = d.wait_for_leader(BOUND).await.expect("a leader");
    let (_, follower) = d
        .brokers()
        .find(|(id, _)| **id != leader)
        .expect("a follower");
    let follower = follower.client_addr().to_string();

    let bogus = TransactionEnd {
        transaction_id: "no-such-transaction".into(),
        ..end_of(topic, c_tx, Resolution::Commit)
    };
    let wrong_message = TransactionEnd {
        message_id: a.message_id().expect("sent").into(),
        ..end_of(topic, c_tx, Resolution::Commit)
    };
    let answers = end_transactions(
        &follower,
        vec![
            end_of(topic, a, Resolution::Commit),
            end_of(topic, b, Resolution::Rollback),
            end_of(topic, a, Resolution::Commit),
            bogus,
            end_of(topic, c_tx, Resolution::Unspecified),
            wrong_message,
        ],
    )
    .await;
    use v2::Code::{BadRequest, InvalidTransactionId, Ok as Done};
    assert_eq!(
        answers,
        [
            Done,
            Done,
            Done,
            InvalidTransactionId,
            BadRequest,
            InvalidTransactionId
        ],
        "one answer per end, in order: a repeat of an answer is OK"
    );
    // The other answer, later, keeps the first.
    let answers = end_transactions(
        &follower,
        vec![
            end_of(topic, a, Resolution::Rollback),
            end_of(topic, b, Resolution::Commit),
        ],
    )
    .await;
    assert_eq!(answers, [InvalidTransactionId, InvalidTransactionId]);

    // a is delivered once; b never; c (never ended) stays held. A plain
    // message sent after the ends marks how far to read.
    let last = until_ok!(
        "send",
        producer.producer().send(Message::new(topic, "last"))
    );
    let never = HashSet::from([
        b.message_id().expect("sent").to_owned(),
        c_tx.message_id().expect("sent").to_owned(),
    ]);
    let want = HashSet::from([a.message_id().expect("sent").to_owned(), last.message_id]);
    let got = receive_until(&c, &want, &never, BOUND).await;
    assert_eq!(got.len(), 2, "{:?}", got.keys().collect::<Vec<_>>());

    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_end_through_the_sdk_together() {
    let d = deployment().await;
    let topic = "E2eConcurrentEnds";
    let producer = until_ok!(
        "producer start",
        TransactionProducer::start(config(&d), &[topic], by_answer())
    );
    let c = consumer(&d, "E2eConcurrentEndsGroup", topic).await;
    let runs = (0..200).map(|i| {
        let mut tx = producer.begin();
        async move {
            let receipt = tx.send(Message::new(topic, format!("m{i}"))).await?;
            if i % 2 == 0 {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok::<_, raftmq_client::sdk::ClientError>((i, receipt.message_id))
        }
    });
    let ended = bounded("transactions", futures_util::future::join_all(runs)).await;
    let (mut want, mut never) = (HashSet::new(), HashSet::new());
    for r in ended {
        let (i, id) = r.expect("sent and ended");
        if i % 2 == 0 {
            want.insert(id);
        } else {
            never.insert(id);
        }
    }
    let last = until_ok!(
        "send",
        producer.producer().send(Message::new(topic, "last"))
    );
    want.insert(last.message_id);
    let got = receive_until(&c, &want, &never, BOUND).await;
    assert_eq!(got.len(), want.len(), "each committed one once");

    c.shutdown().await;
    producer.shutdown().await;
    d.shutdown().await;
}

/// `brokerStatus` of every member, as (name, value) maps.
async fn statuses(d: &LocalDeployment) -> Vec<HashMap<String, String>> {
    use raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient;
    use raftmq_proto::admin::v1::BrokerStatusRequest;
    let mut all = Vec::new();
    for (_, b) in d.brokers() {
        let addr = format!("http://{}", b.client_addr());
        let mut c = bounded("connect", BrokerAdminClient::connect(addr))
            .await
            .expect("connects");
        let entries = bounded("brokerStatus", c.broker_status(BrokerStatusRequest {}))
            .await
            .expect("answered")
            .into_inner()
            .entries;
        all.push(entries.into_iter().map(|e| (e.name, e.value)).collect());
    }
    all
}

/// The sum over members of a numeric `brokerStatus` entry.
fn total(statuses: &[HashMap<String, String>], name: &str) -> u64 {
    statuses
        .iter()
        .map(|s| {
            s.get(name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} is not a count in {s:?}"))
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphan_no_producer_answers_is_discarded_and_counted() {
    let d = LocalDeployment::start_with(raftmq_embedded::LocalOptions {
        held: raftmq_embedded::HeldConf {
            transaction_timeout: Duration::from_millis(300),
            transaction_check_interval: Duration::from_millis(300),
            transaction_check_max: 2,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("deployment starts");
    d.wait_for_leader(BOUND).await.expect("a leader");
    let topic = "E2eDiscarded";
    let undecided: Arc<dyn TransactionChecker> =
        Arc::new(|_: TransactionalMessage| async { TransactionResolution::Unknown });
    let producer = until_ok!(
        "producer start",
        TransactionProducer::start(config(&d), &[topic], undecided.clone())
    );
    let mut tx = producer.begin();
    until_ok!("send", tx.send(Message::new(topic, "never answered")));
    let before = statuses(&d).await;
    assert_eq!(total(&before, "transactionsDiscardedSinceStart"), 0);
    assert_eq!(
        total(&before, "halfMessagesOpen"),
        3,
        "open on every member"
    );

    // Checked twice with no answer, then discarded on every member and
    // counted once (by the leader that discarded it).
    let deadline = Instant::now() + BOUND;
    loop {
        let now = statuses(&d).await;
        if total(&now, "halfMessagesOpen") == 0 {
            assert_eq!(total(&now, "transactionsDiscardedSinceStart"), 1, "{now:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not discarded within {BOUND:?}: {now:?}"
        );
        tokio::time::sleep(group::POLL).await;
    }
    // Its end now comes too late: the first answer (the discard) stands.
    let e = bounded("commit", tx.commit()).await.expect_err("discarded");
    assert_eq!(e.code(), Some(v2::Code::InvalidTransactionId), "{e}");

    producer.shutdown().await;
    d.shutdown().await;
}
