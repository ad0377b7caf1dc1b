//! The load: producers sending unique values with bounded retries,
//! consumers draining with a SimpleConsumer, and the audit that reads every
//! queue from the start with a PullConsumer. The producers of held
//! messages are in `held.rs`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use raftmq_client::sdk::{
    ClientConfig, FilterExpression, Message, Producer, PullConsumer, SimpleConsumer, StartPosition,
};

use super::delivery::Delivery;
use super::fifo::{FIFO_GROUP, FIFO_TOPIC};
use super::history::{Audit, History};
use super::timers::TIMER_TOPIC;
use super::transactions::TX_TOPIC;

/// Sends of one value before it is given up (each may duplicate it).
pub const ATTEMPTS: u32 = 5;

/// The workloads, each on a topic and consumer group of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Normal messages ([`super::TOPIC`]).
    Normal,
    /// Delay messages ([`TIMER_TOPIC`]).
    Delayed,
    /// Transactional messages ([`TX_TOPIC`]).
    Transactions,
    /// FIFO message groups ([`FIFO_TOPIC`]), consumed by `fifo.rs`.
    Fifo,
}

impl Kind {
    /// Its topic.
    pub fn topic(self) -> &'static str {
        match self {
            Kind::Normal => super::TOPIC,
            Kind::Delayed => TIMER_TOPIC,
            Kind::Transactions => TX_TOPIC,
            Kind::Fifo => FIFO_TOPIC,
        }
    }

    /// Its consumer group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Normal => "faults-consumers",
            Kind::Delayed => "faults-delay-consumers",
            Kind::Transactions => "faults-tx-consumers",
            Kind::Fifo => FIFO_GROUP,
        }
    }
}

/// The shared record, locked briefly.
pub type Shared = Arc<Mutex<History>>;

/// Locks the history (a panicked holder does not poison the record).
pub fn lock(h: &Shared) -> MutexGuard<'_, History> {
    h.lock().unwrap_or_else(|e| e.into_inner())
}

/// The client configuration the workload uses: short waits, so stops and
/// failovers are quick.
pub fn config(namesrv: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(namesrv).expect("nameserver address");
    cfg.long_polling_timeout = Duration::from_secs(1);
    cfg.route_refresh = Duration::from_secs(2);
    cfg
}

/// One producer: sends `v-<id>-<seq>` every `interval` until `stop`.
pub async fn produce(
    namesrv: String,
    topic: String,
    id: usize,
    interval: Duration,
    history: Shared,
    stop: Arc<AtomicBool>,
) {
    let producer = match Producer::start(config(&namesrv), &[&topic]).await {
        Ok(p) => p,
        Err(e) => panic!("producer {id} did not start: {e}"),
    };
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("v-{id}-{seq}");
        seq += 1;
        lock(&history).attempt(&value);
        for attempt in 0..ATTEMPTS {
            let msg = Message::new(topic.clone(), value.clone().into_bytes()).with_keys([&value]);
            let res = tokio::time::timeout(Duration::from_secs(15), producer.send(msg)).await;
            match res {
                Ok(Ok(_)) => {
                    lock(&history).acked(&value);
                    break;
                }
                Ok(Err(e)) => lock(&history).failed(&value, &e.to_string()),
                Err(_) => lock(&history).failed(&value, "send timed out (15 s)"),
            }
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(interval).await;
    }
    producer.shutdown().await;
}

/// One consumer of `kind`'s group: receives, records, acks until `stop`.
/// `ready` counts consumers that have completed one receive.
pub async fn consume(
    namesrv: String,
    kind: Kind,
    history: Shared,
    ready: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let topic = kind.topic();
    let consumer = SimpleConsumer::start(config(&namesrv), kind.group())
        .await
        .unwrap_or_else(|e| panic!("consumer did not start: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = consumer.subscribe(topic, FilterExpression::all()).await {
        assert!(Instant::now() < deadline, "subscribe: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        let got = tokio::time::timeout(
            Duration::from_secs(10),
            consumer.receive(32, Duration::from_secs(10)),
        )
        .await;
        match got {
            Ok(Ok(msgs)) => {
                if first {
                    first = false;
                    ready.fetch_add(1, Ordering::SeqCst);
                }
                if msgs.is_empty() {
                    continue;
                }
                {
                    let mut h = lock(&history);
                    for m in &msgs {
                        let d = Delivery::of(m);
                        match kind {
                            Kind::Normal => h.delivered(&d.value),
                            Kind::Delayed => h.timers.delivered(d),
                            Kind::Transactions => h.transactions.delivered(d),
                            Kind::Fifo => h.fifo.delivered(m.message_group().unwrap_or(""), d),
                        }
                    }
                }
                let acked =
                    tokio::time::timeout(Duration::from_secs(5), consumer.ack_batch(&msgs)).await;
                if !matches!(acked, Ok(Ok(()))) {
                    lock(&history).consume_errors += 1;
                }
            }
            _ => {
                lock(&history).consume_errors += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    consumer.shutdown().await;
}

/// Reads every queue of `topic` from offset 0 until every value in
/// `expect` was seen and the queues stay empty, or `timeout`.
pub async fn audit(
    namesrv: &str,
    topic: &str,
    expect: &std::collections::HashSet<String>,
    timeout: Duration,
) -> Audit {
    let deadline = Instant::now() + timeout;
    let mut c = PullConsumer::start(config(namesrv), &format!("faults-audit-{topic}"))
        .await
        .expect("audit consumer");
    c.set_start_position(StartPosition::Beginning);
    c.set_long_polling(Duration::from_millis(200));
    let queues = loop {
        match c.queues(topic).await {
            Ok(q) if !q.is_empty() => break q,
            other => assert!(
                Instant::now() < deadline,
                "the audit found no queue: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    c.assign(queues);
    let mut out = Audit::default();
    let mut seen = 0usize;
    let mut empty_in_a_row = 0;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), c.pull(64)).await {
            Ok(Ok(msgs)) if msgs.is_empty() => {
                empty_in_a_row += 1;
                if seen >= expect.len() && empty_in_a_row >= 5 {
                    break;
                }
            }
            Ok(Ok(msgs)) => {
                empty_in_a_row = 0;
                for m in msgs {
                    let d = Delivery::of(&m);
                    if expect.contains(&d.value) {
                        seen += 1;
                    }
                    out.queues.entry(d.queue.clone()).or_default().push(d);
                }
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    c.shutdown().await;
    out
}
