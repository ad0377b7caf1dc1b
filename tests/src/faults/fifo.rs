//! The FIFO workload: its producers and consumers, its record and its
//! checker.
//!
//! Values are `f-<producer>-<seq>`. Each producer sends one value at a time
//! with the message group `g-<producer>-<seq % GROUPS>`, so a group's send
//! order is the order of its values' seqs. The consumer group is created
//! FIFO (`mqadmin updateSubGroup -o true`); its SimpleConsumers receive
//! with a short invisible time and leave about one delivery in fifty
//! unacknowledged, so it comes again (and holds its group back meanwhile).
//!
//! ```text
//!   producer p ──f-p-0 (g-p-0), f-p-1 (g-p-1), ... one at a time──▶ FIFO topic
//!   consumers ──receive (invisible 3 s), ack all but ~1 in 50──▶ first deliveries per group
//! ```
//!
//! The checks:
//! - out of order: within a message group, a position (queue, offset)
//!   delivered for the first time after a later position of the group was
//!   (must be 0); a redelivery of an earlier position is no violation;
//! - missing: acknowledged, never delivered or absent from the audit;
//! - duplicates: one message id at two positions (our own retry stores a
//!   value twice under two ids: allowed after a failed attempt);
//! - unexpected: delivered or stored, never sent;
//! - offset gaps: the audit reads each queue 0, 1, 2, ...

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftmq_client::sdk::{FilterExpression, Message, Producer, SimpleConsumer};

use super::delivery::{count_error, doubles, offset_gaps, top_errors, Delivery};
use super::workload::{config, lock, Shared, ATTEMPTS};

/// The topic of the FIFO workload.
pub const FIFO_TOPIC: &str = "FaultSuiteFifo";
/// Its consumer group, created with `consumeMessageOrderly`.
pub const FIFO_GROUP: &str = "faults-fifo-consumers";
/// Message groups per producer: enough that a group's share of the
/// producer's rate stays well below what one group can be consumed at
/// (one message out at a time, some held for the invisible time).
pub const GROUPS: u64 = 64;
/// How long a received message stays invisible.
const INVISIBLE: Duration = Duration::from_secs(3);
/// One in this many first deliveries is left unacknowledged.
const HOLD_ONE_IN: u64 = 50;

/// What the FIFO workload did and saw.
#[derive(Debug, Default)]
pub struct Fifo {
    /// Values tried, with whether an attempt failed.
    sent: HashMap<String, bool>,
    acked: HashSet<String>,
    /// Every delivery, in the order the consumers recorded them, with its
    /// message group.
    deliveries: Vec<(String, Delivery)>,
    /// Deliveries left unacknowledged on purpose.
    pub held: u64,
    /// Failed send attempts.
    pub send_errors: u64,
    /// Failed receives and acks.
    pub consume_errors: u64,
    error_kinds: BTreeMap<String, u64>,
}

impl Fifo {
    /// A send of `value` is about to be tried.
    pub fn attempt(&mut self, value: &str) {
        self.sent.entry(value.to_owned()).or_insert(false);
    }

    /// A send of `value` failed with `error`.
    pub fn failed(&mut self, value: &str, error: &str) {
        count_error(&mut self.error_kinds, error);
        self.sent.insert(value.to_owned(), true);
        self.send_errors += 1;
    }

    /// A send of `value` returned Ok.
    pub fn acked(&mut self, value: &str) {
        self.acked.insert(value.to_owned());
    }

    /// A consumer got `d` of message group `group`.
    pub fn delivered(&mut self, group: &str, d: Delivery) {
        self.deliveries.push((group.to_owned(), d));
    }

    /// Acknowledged values not delivered yet.
    pub fn missing(&self) -> usize {
        let got: HashSet<&str> = self
            .deliveries
            .iter()
            .map(|(_, d)| d.value.as_str())
            .collect();
        self.acked
            .iter()
            .filter(|v| !got.contains(v.as_str()))
            .count()
    }

    /// Acknowledged values.
    pub fn acked_values(&self) -> &HashSet<String> {
        &self.acked
    }

    /// First deliveries that came after a later position of their group:
    /// `group: offset after offset` descriptions.
    fn out_of_order(&self) -> (Vec<String>, usize) {
        let mut seen: HashSet<(&str, i64)> = HashSet::new();
        // Per group: the queue and highest offset first-delivered so far.
        let mut last: HashMap<&str, (&str, i64)> = HashMap::new();
        let mut bad = Vec::new();
        let mut moved = 0;
        for (group, d) in &self.deliveries {
            if !seen.insert((d.queue.as_str(), d.offset)) {
                continue; // a redelivery
            }
            match last.get(group.as_str()) {
                Some(&(queue, offset)) if queue == d.queue && d.offset < offset => {
                    bad.push(format!(
                        "{group}: {} at {}/{} first delivered after {}",
                        d.value, d.queue, d.offset, offset
                    ));
                    continue;
                }
                Some(&(queue, _)) if queue != d.queue => moved += 1,
                _ => {}
            }
            last.insert(group, (d.queue.as_str(), d.offset));
        }
        (bad, moved)
    }

    /// Judges the run against the audit read of the topic's queues.
    pub fn check(&self, audit: &BTreeMap<String, Vec<Delivery>>) -> FifoReport {
        let got: HashSet<&str> = self
            .deliveries
            .iter()
            .map(|(_, d)| d.value.as_str())
            .collect();
        let stored: HashSet<&str> = audit.values().flatten().map(|d| d.value.as_str()).collect();
        let mut missing: Vec<&String> = self
            .acked
            .iter()
            .filter(|v| !got.contains(v.as_str()) || !stored.contains(v.as_str()))
            .collect();
        missing.sort();
        let both = doubles(
            self.deliveries
                .iter()
                .map(|(_, d)| d)
                .chain(audit.values().flatten()),
        );
        let retried = |v: &String| self.sent.get(v).is_some_and(|failed| *failed);
        let own_retries = both.same_value.iter().filter(|v| retried(v)).count();
        let mut duplicates: Vec<String> = both.same_id.iter().cloned().collect();
        duplicates.extend(both.same_value.iter().filter(|v| !retried(v)).cloned());
        let unexpected = got
            .iter()
            .chain(stored.iter())
            .filter(|v| !self.sent.contains_key(**v))
            .collect::<HashSet<_>>()
            .len();
        let (out_of_order, queue_moves) = self.out_of_order();
        let groups: HashSet<&str> = self.deliveries.iter().map(|(g, _)| g.as_str()).collect();
        FifoReport {
            sent: self.sent.len(),
            acked: self.acked.len(),
            delivered: self
                .acked
                .iter()
                .filter(|v| got.contains(v.as_str()))
                .count(),
            deliveries: self.deliveries.len(),
            groups: groups.len(),
            held: self.held,
            out_of_order: out_of_order.len(),
            out_of_order_sample: out_of_order.into_iter().take(5).collect(),
            queue_moves,
            missing: missing.len(),
            missing_sample: missing.into_iter().take(5).cloned().collect(),
            duplicates: duplicates.len(),
            duplicate_sample: duplicates.into_iter().take(5).collect(),
            own_retries,
            unexpected,
            offset_gaps: offset_gaps(audit),
            stored: audit.values().map(Vec::len).sum(),
            send_errors: self.send_errors,
            consume_errors: self.consume_errors,
            errors: top_errors(&self.error_kinds),
        }
    }
}

/// The FIFO workload's verdict.
#[derive(Debug, Clone, Default)]
pub struct FifoReport {
    /// Distinct values a send was tried for.
    pub sent: usize,
    /// Distinct values acknowledged.
    pub acked: usize,
    /// Acknowledged values delivered.
    pub delivered: usize,
    /// Deliveries in all (redeliveries included).
    pub deliveries: usize,
    /// Message groups seen.
    pub groups: usize,
    /// Deliveries left unacknowledged on purpose.
    pub held: u64,
    /// First deliveries after a later one of their group (must be 0).
    pub out_of_order: usize,
    /// A few of them.
    pub out_of_order_sample: Vec<String>,
    /// First deliveries of a group from another queue than the one before
    /// (not judged: the producer pins a group to a queue of the route).
    pub queue_moves: usize,
    /// Acknowledged, not delivered or not in the audit (must be 0).
    pub missing: usize,
    /// A few of them.
    pub missing_sample: Vec<String>,
    /// Made visible twice (must be 0).
    pub duplicates: usize,
    /// A few of them.
    pub duplicate_sample: Vec<String>,
    /// Values stored twice after a failed attempt (allowed).
    pub own_retries: usize,
    /// Delivered or stored, never sent (must be 0).
    pub unexpected: usize,
    /// Audit offsets not 0, 1, 2, ... (must be 0).
    pub offset_gaps: usize,
    /// Messages the audit read.
    pub stored: usize,
    /// Failed send attempts.
    pub send_errors: u64,
    /// Failed receives and acks.
    pub consume_errors: u64,
    /// The most frequent kinds of failed attempts.
    pub errors: Vec<(String, u64)>,
}

impl FifoReport {
    /// Whether every guarantee held.
    pub fn ok(&self) -> bool {
        self.out_of_order == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.unexpected == 0
            && self.offset_gaps == 0
    }
}

impl fmt::Display for FifoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fifo: sent={} acked={} delivered={} deliveries={} groups={} held={} out_of_order={} \
             queue_moves={} missing={} duplicates={} own_retries={} unexpected={} | log: stored={} \
             offset_gaps={} | send_errors={} consume_errors={} | ",
            self.sent,
            self.acked,
            self.delivered,
            self.deliveries,
            self.groups,
            self.held,
            self.out_of_order,
            self.queue_moves,
            self.missing,
            self.duplicates,
            self.own_retries,
            self.unexpected,
            self.stored,
            self.offset_gaps,
            self.send_errors,
            self.consume_errors,
        )?;
        super::write_verdict(
            f,
            self.ok(),
            &self.errors,
            &[
                ("out of order", &self.out_of_order_sample),
                ("missing", &self.missing_sample),
                ("duplicated", &self.duplicate_sample),
            ],
        )
    }
}

/// One FIFO producer: sends `f-<id>-<seq>` in group `g-<id>-<seq % GROUPS>`
/// every `interval` until `stop`, each value until acked (bounded tries).
pub async fn produce(
    namesrv: String,
    id: usize,
    interval: Duration,
    history: Shared,
    stop: Arc<AtomicBool>,
) {
    let producer = match Producer::start(config(&namesrv), &[FIFO_TOPIC]).await {
        Ok(p) => p,
        Err(e) => panic!("fifo producer {id} did not start: {e}"),
    };
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("f-{id}-{seq}");
        let group = format!("g-{id}-{}", seq % GROUPS);
        seq += 1;
        lock(&history).fifo.attempt(&value);
        for attempt in 0..ATTEMPTS {
            let msg = Message::new(FIFO_TOPIC, value.clone().into_bytes())
                .with_keys([&value])
                .with_message_group(group.clone());
            let res = tokio::time::timeout(Duration::from_secs(15), producer.send(msg)).await;
            match res {
                Ok(Ok(_)) => {
                    lock(&history).fifo.acked(&value);
                    break;
                }
                Ok(Err(e)) => lock(&history).fifo.failed(&value, &e.to_string()),
                Err(_) => lock(&history).fifo.failed(&value, "send timed out (15 s)"),
            }
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(interval).await;
    }
    producer.shutdown().await;
}

/// One consumer of the FIFO group: receives, records, acks all but about
/// one first delivery in [`HOLD_ONE_IN`], until `stop`. `ready` counts
/// consumers that have completed one receive.
pub async fn consume(
    namesrv: String,
    id: u64,
    history: Shared,
    ready: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let consumer = SimpleConsumer::start(config(&namesrv), FIFO_GROUP)
        .await
        .unwrap_or_else(|e| panic!("fifo consumer did not start: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Err(e) = consumer
        .subscribe(FIFO_TOPIC, FilterExpression::all())
        .await
    {
        assert!(Instant::now() < deadline, "subscribe: {e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut first = true;
    let mut n = id;
    while !stop.load(Ordering::Relaxed) {
        let got =
            tokio::time::timeout(Duration::from_secs(10), consumer.receive(32, INVISIBLE)).await;
        let Ok(Ok(msgs)) = got else {
            lock(&history).fifo.consume_errors += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if first {
            first = false;
            ready.fetch_add(1, Ordering::SeqCst);
        }
        let mut to_ack = Vec::with_capacity(msgs.len());
        {
            let mut h = lock(&history);
            for m in msgs {
                h.fifo
                    .delivered(m.message_group().unwrap_or(""), Delivery::of(&m));
                n += 1;
                if m.delivery_attempt() == 1 && n.is_multiple_of(HOLD_ONE_IN) {
                    h.fifo.held += 1;
                } else {
                    to_ack.push(m);
                }
            }
        }
        if to_ack.is_empty() {
            continue;
        }
        let acked = tokio::time::timeout(Duration::from_secs(5), consumer.ack_batch(&to_ack)).await;
        if !matches!(acked, Ok(Ok(()))) {
            lock(&history).fifo.consume_errors += 1;
        }
    }
    consumer.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn seen(value: &str, id: &str, offset: i64) -> Delivery {
        Delivery {
            value: value.into(),
            message_id: id.into(),
            queue: "b/0".into(),
            offset,
            at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_later_position_first_delivered_before_an_earlier_one_is_out_of_order() {
        let mut f = Fifo::default();
        for v in ["f-0-0", "f-0-1", "f-0-2", "f-0-3"] {
            f.attempt(v);
            f.acked(v);
        }
        f.delivered("g", seen("f-0-0", "M0", 0));
        f.delivered("h", seen("f-0-1", "M1", 1));
        f.delivered("g", seen("f-0-0", "M0", 0)); // redelivered: fine
        f.delivered("g", seen("f-0-3", "M3", 3));
        f.delivered("g", seen("f-0-2", "M2", 2)); // after 3: violation
        let q: Vec<Delivery> = (0..4)
            .map(|i| seen(&format!("f-0-{i}"), &format!("M{i}"), i))
            .collect();
        let r = f.check(&BTreeMap::from([("b/0".to_owned(), q)]));
        assert_eq!((r.out_of_order, r.missing, r.duplicates), (1, 0, 0), "{r}");
        assert!(
            r.out_of_order_sample[0].starts_with("g: f-0-2 at b/0/2"),
            "{r}"
        );
        assert_eq!((r.groups, r.deliveries), (2, 5));
        assert!(!r.ok());
    }

    #[test]
    fn redeliveries_in_order_pass() {
        let mut f = Fifo::default();
        for v in ["f-0-0", "f-0-1"] {
            f.attempt(v);
            f.acked(v);
        }
        f.delivered("g", seen("f-0-0", "M0", 0));
        f.delivered("g", seen("f-0-0", "M0", 0));
        f.delivered("g", seen("f-0-1", "M1", 1));
        f.delivered("g", seen("f-0-0", "M0", 0)); // after a failover: allowed
        let q = vec![seen("f-0-0", "M0", 0), seen("f-0-1", "M1", 1)];
        let r = f.check(&BTreeMap::from([("b/0".to_owned(), q)]));
        assert!(r.ok(), "{r}");
        assert_eq!(r.delivered, 2);
    }
}
