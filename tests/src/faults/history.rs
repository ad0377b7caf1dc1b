//! What the workload saw, and the checker that judges it.
//!
//! Every value is unique (`v-<producer>-<seq>`). A value is *sent* once a
//! send of it was tried, *acknowledged* once a send returned Ok; the
//! consumer records every delivery; the audit reads every queue from offset
//! 0 with a PullConsumer. The checks:
//!
//! - lost: acknowledged, never delivered (or absent from the log);
//! - unexpected: delivered (or stored) but never sent;
//! - duplicated: deliveries beyond the first (redelivery after a failover
//!   is allowed), and values stored twice (allowed only for values with a
//!   failed send attempt: our own retry);
//! - offsets: per queue, the audit reads 0, 1, 2, ... with no gap.
//!
//! The held workloads keep their own records here ([`Timers`],
//! [`Transactions`]) with their own checks.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Instant;

use super::delivery::{offset_gaps, Delivery};
use super::fifo::{Fifo, FifoReport};
use super::timers::{TimerReport, Timers};
use super::transactions::{Transactions, TxReport};

/// Failed attempts kept whole, with their time (the rest are only counted).
const KEPT_ERRORS: usize = 10_000;

/// The record of one run.
#[derive(Debug, Default)]
pub struct History {
    /// Values tried, with whether one of their attempts failed.
    sent: HashMap<String, bool>,
    acked: HashSet<String>,
    /// Deliveries per value.
    delivered: HashMap<String, u32>,
    /// Send errors, by kind.
    pub send_errors: BTreeMap<String, u64>,
    /// Receive and ack errors.
    pub consume_errors: u64,
    /// Sends refused because the disk was full.
    pub disk_full_refusals: u64,
    /// The first failed attempts, whole, with when they failed.
    errors: Vec<(Instant, String)>,
    /// When a send last returned Ok.
    last_acked: Option<Instant>,
    /// The timer workload's record.
    pub timers: Timers,
    /// The transaction workload's record.
    pub transactions: Transactions,
    /// The FIFO workload's record.
    pub fifo: Fifo,
}

impl History {
    /// A send of `value` is about to be tried.
    pub fn attempt(&mut self, value: &str) {
        self.sent.entry(value.to_owned()).or_insert(false);
    }

    /// A send of `value` failed with `error`.
    pub fn failed(&mut self, value: &str, error: &str) {
        self.sent.insert(value.to_owned(), true);
        let lower = error.to_ascii_lowercase();
        if lower.contains("disk") && lower.contains("full") {
            self.disk_full_refusals += 1;
        }
        let kind: String = error.chars().take(60).collect();
        *self.send_errors.entry(kind).or_default() += 1;
        if self.errors.len() < KEPT_ERRORS {
            self.errors.push((Instant::now(), error.to_owned()));
        }
    }

    /// A send of `value` returned Ok.
    pub fn acked(&mut self, value: &str) {
        self.acked.insert(value.to_owned());
        self.last_acked = Some(Instant::now());
    }

    /// The failed attempts at or after `t` (of the first 10,000 kept).
    pub fn errors_since(&self, t: Instant) -> impl Iterator<Item = &str> {
        self.errors
            .iter()
            .filter(move |(at, _)| *at >= t)
            .map(|(_, e)| e.as_str())
    }

    /// When a send last returned Ok.
    pub fn last_acked(&self) -> Option<Instant> {
        self.last_acked
    }

    /// The consumer got `value`.
    pub fn delivered(&mut self, value: &str) {
        *self.delivered.entry(value.to_owned()).or_default() += 1;
    }

    /// Acknowledged values not delivered yet, of every workload (held
    /// ones count once due or committed).
    pub fn missing(&self) -> usize {
        self.acked
            .iter()
            .filter(|v| !self.delivered.contains_key(*v))
            .count()
            + self.timers.missing()
            + self.transactions.missing()
            + self.fifo.missing()
    }

    /// Acknowledged values.
    pub fn acked_values(&self) -> &HashSet<String> {
        &self.acked
    }

    /// Judges the run against the audit read of every queue.
    pub fn check(&self, audit: &Audit, faults: &BTreeMap<String, u32>) -> Report {
        let lost: Vec<String> = self
            .acked
            .iter()
            .filter(|v| !self.delivered.contains_key(*v))
            .cloned()
            .collect();
        let mut stored: HashMap<&str, u32> = HashMap::new();
        for q in audit.queues.values() {
            for d in q {
                *stored.entry(d.value.as_str()).or_default() += 1;
            }
        }
        let mut missing_from_log: Vec<&String> = self
            .acked
            .iter()
            .filter(|v| !stored.contains_key(v.as_str()))
            .collect();
        missing_from_log.sort_by_key(|v| value_order(v));
        let lost_in_log = missing_from_log.len();
        let unexpected = self
            .delivered
            .keys()
            .map(String::as_str)
            .chain(stored.keys().copied())
            .filter(|v| !self.sent.contains_key(*v))
            .collect::<HashSet<_>>()
            .len();
        let duplicated = self.delivered.values().map(|n| u64::from(n - 1)).sum();
        let stored_twice: Vec<&str> = stored
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(v, _)| *v)
            .collect();
        let bad_dups = stored_twice
            .iter()
            .filter(|v| self.sent.get(**v) != Some(&true))
            .count();
        Report {
            sent: self.sent.len(),
            acked: self.acked.len(),
            consumed: self.delivered.len(),
            lost: lost.len(),
            lost_sample: lost.into_iter().take(5).collect(),
            lost_in_log,
            lost_in_log_sample: missing_from_log.into_iter().take(10).cloned().collect(),
            duplicated,
            stored_twice: stored_twice.len(),
            bad_dups,
            unexpected,
            offset_gaps: offset_gaps(&audit.queues),
            queues: audit.queues.len(),
            stored: audit.queues.values().map(Vec::len).sum(),
            faults: faults.clone(),
            disk_full_refusals: self.disk_full_refusals,
            send_errors: self.send_errors.values().sum(),
            harness_errors: 0,
            delayed: None,
            transactions: None,
            fifo: None,
        }
    }
}

/// `v-<producer>-<seq>` as (producer, seq), for sorting; others last.
fn value_order(v: &str) -> (u64, u64) {
    let mut parts = v.strip_prefix("v-").unwrap_or("").splitn(2, '-');
    let mut num = || {
        parts
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(u64::MAX)
    };
    (num(), num())
}

/// Every queue of a topic read from offset 0, in read order.
#[derive(Debug, Default)]
pub struct Audit {
    /// Per queue (`broker/queue_id`).
    pub queues: BTreeMap<String, Vec<Delivery>>,
}

/// The verdict of one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Distinct values a send was tried for.
    pub sent: usize,
    /// Distinct values acknowledged.
    pub acked: usize,
    /// Distinct values delivered to the consumers.
    pub consumed: usize,
    /// Acknowledged, never delivered (must be 0).
    pub lost: usize,
    /// A few lost values, to look up in the logs.
    pub lost_sample: Vec<String>,
    /// Acknowledged, absent from the audit read (must be 0).
    pub lost_in_log: usize,
    /// The first of them by producer and sequence number.
    pub lost_in_log_sample: Vec<String>,
    /// Deliveries beyond the first (allowed, reported).
    pub duplicated: u64,
    /// Values stored at two positions (allowed after a failed attempt).
    pub stored_twice: usize,
    /// Values stored twice though every attempt succeeded (must be 0).
    pub bad_dups: usize,
    /// Delivered or stored, never sent (must be 0).
    pub unexpected: usize,
    /// Audit offsets that were not 0, 1, 2, ... in their queue (must be 0).
    pub offset_gaps: usize,
    /// Queues read by the audit.
    pub queues: usize,
    /// Messages read by the audit.
    pub stored: usize,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u32>,
    /// Sends refused for a full disk.
    pub disk_full_refusals: u64,
    /// Failed send attempts.
    pub send_errors: u64,
    /// Faults that could not be applied, or a group not healthy in time
    /// after one (must be 0).
    pub harness_errors: u32,
    /// The timer workload's verdict, if it ran.
    pub delayed: Option<TimerReport>,
    /// The transaction workload's verdict, if it ran.
    pub transactions: Option<TxReport>,
    /// The FIFO workload's verdict, if it ran.
    pub fifo: Option<FifoReport>,
}

impl Report {
    /// Whether every guarantee held.
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.lost_in_log == 0
            && self.unexpected == 0
            && self.bad_dups == 0
            && self.offset_gaps == 0
            && self.harness_errors == 0
            && self.delayed.as_ref().is_none_or(TimerReport::ok)
            && self.transactions.as_ref().is_none_or(TxReport::ok)
            && self.fifo.as_ref().is_none_or(FifoReport::ok)
    }

    /// Faults injected in total.
    pub fn fault_count(&self) -> u32 {
        self.faults.values().sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "faults report: sent={} acked={} consumed={} lost={} duplicated={} unexpected={} \
             faults={} | log: stored={} queues={} lost={} stored_twice={} bad_dups={} offset_gaps={} \
             | send_errors={} disk_full_refusals={} harness_errors={} | {} | {}",
            self.sent,
            self.acked,
            self.consumed,
            self.lost,
            self.duplicated,
            self.unexpected,
            self.fault_count(),
            self.stored,
            self.queues,
            self.lost_in_log,
            self.stored_twice,
            self.bad_dups,
            self.offset_gaps,
            self.send_errors,
            self.disk_full_refusals,
            self.harness_errors,
            self.faults
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(" "),
            if self.ok() { "OK" } else { "VIOLATED" },
        )?;
        if !self.lost_sample.is_empty() {
            write!(f, " lost e.g. {:?}", self.lost_sample)?;
        }
        if !self.lost_in_log_sample.is_empty() {
            write!(
                f,
                " missing from the log e.g. {:?}",
                self.lost_in_log_sample
            )?;
        }
        if let Some(r) = &self.delayed {
            write!(f, "\n{r}")?;
        }
        if let Some(r) = &self.transactions {
            write!(f, "\n{r}")?;
        }
        if let Some(r) = &self.fifo {
            write!(f, "\n{r}")?;
        }
        Ok(())
    }
}
