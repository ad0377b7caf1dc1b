//! The timer workload's record and its checker.
//!
//! Values are `d-<producer>-<seq>`, each sent as a delay message due 1 to
//! 8 s after its first attempt; a retry sends the same value with the same
//! due time (a new message id). The checks:
//!
//! - missing: acknowledged, never delivered (or absent from the audit);
//! - early: received before its due time (5 ms of clock slack);
//! - duplicates: one message id at two queue positions (released twice),
//!   or a value at two positions though none of its attempts failed;
//! - unexpected: delivered or stored, never sent;
//! - offset gaps: the audit reads each queue 0, 1, 2, ...

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use super::delivery::{count_error, doubles, offset_gaps, top_errors, Delivery};

/// The topic of the timer workload.
pub const TIMER_TOPIC: &str = "FaultSuiteDelay";

/// How much earlier than its due time a delivery may be seen: every
/// process reads this machine's clock.
pub const CLOCK_SLACK: Duration = Duration::from_millis(5);

/// What the timer workload did and saw.
#[derive(Debug, Default)]
pub struct Timers {
    /// Values tried: due time, and whether an attempt failed.
    sent: HashMap<String, (SystemTime, bool)>,
    acked: HashSet<String>,
    deliveries: Vec<Delivery>,
    /// Failed send attempts.
    pub send_errors: u64,
    /// Failed send attempts by kind.
    error_kinds: BTreeMap<String, u64>,
}

impl Timers {
    /// A send of `value`, due at `due`, is about to be tried.
    pub fn attempt(&mut self, value: &str, due: SystemTime) {
        self.sent.entry(value.to_owned()).or_insert((due, false));
    }

    /// A send of `value` failed with `error`.
    pub fn failed(&mut self, value: &str, error: &str) {
        count_error(&mut self.error_kinds, error);
        if let Some(s) = self.sent.get_mut(value) {
            s.1 = true;
        }
        self.send_errors += 1;
    }

    /// A send of `value` returned Ok.
    pub fn acked(&mut self, value: &str) {
        self.acked.insert(value.to_owned());
    }

    /// A consumer got `d`.
    pub fn delivered(&mut self, d: Delivery) {
        self.deliveries.push(d);
    }

    /// Acknowledged values not delivered yet.
    pub fn missing(&self) -> usize {
        let got: HashSet<&str> = self.deliveries.iter().map(|d| d.value.as_str()).collect();
        self.acked
            .iter()
            .filter(|v| !got.contains(v.as_str()))
            .count()
    }

    /// Acknowledged values.
    pub fn acked_values(&self) -> &HashSet<String> {
        &self.acked
    }

    /// Judges the run against the audit read of the topic's queues.
    pub fn check(&self, audit: &BTreeMap<String, Vec<Delivery>>) -> TimerReport {
        let got: HashSet<&str> = self.deliveries.iter().map(|d| d.value.as_str()).collect();
        let stored: HashSet<&str> = audit.values().flatten().map(|d| d.value.as_str()).collect();
        let mut missing: Vec<&String> = self
            .acked
            .iter()
            .filter(|v| !got.contains(v.as_str()) || !stored.contains(v.as_str()))
            .collect();
        missing.sort();
        let mut early: Vec<String> = self
            .deliveries
            .iter()
            .filter_map(|d| {
                let (due, _) = self.sent.get(&d.value)?;
                let ahead = due.duration_since(d.at).ok()?;
                (ahead > CLOCK_SLACK).then(|| {
                    format!(
                        "{} ({}, {} ms early)",
                        d.value,
                        d.message_id,
                        ahead.as_millis()
                    )
                })
            })
            .collect();
        early.sort();
        early.dedup();
        let both = doubles(self.deliveries.iter().chain(audit.values().flatten()));
        let retried = |v: &String| self.sent.get(v).is_some_and(|s| s.1);
        let own_retries = both.same_value.iter().filter(|v| retried(v)).count();
        let mut duplicates: Vec<String> = both.same_id.iter().cloned().collect();
        duplicates.extend(both.same_value.iter().filter(|v| !retried(v)).cloned());
        let unexpected = got
            .iter()
            .chain(stored.iter())
            .filter(|v| !self.sent.contains_key(**v))
            .collect::<HashSet<_>>()
            .len();
        TimerReport {
            sent: self.sent.len(),
            acked: self.acked.len(),
            delivered: self
                .acked
                .iter()
                .filter(|v| got.contains(v.as_str()))
                .count(),
            early: early.len(),
            early_sample: early.into_iter().take(5).collect(),
            missing: missing.len(),
            missing_sample: missing.into_iter().take(5).cloned().collect(),
            duplicates: duplicates.len(),
            duplicate_sample: duplicates.into_iter().take(5).collect(),
            own_retries,
            unexpected,
            offset_gaps: offset_gaps(audit),
            stored: audit.values().map(Vec::len).sum(),
            send_errors: self.send_errors,
            errors: top_errors(&self.error_kinds),
        }
    }
}

/// The timer workload's verdict.
#[derive(Debug, Clone, Default)]
pub struct TimerReport {
    /// Distinct values a send was tried for.
    pub sent: usize,
    /// Distinct values acknowledged.
    pub acked: usize,
    /// Acknowledged values delivered.
    pub delivered: usize,
    /// Values received before their due time (must be 0).
    pub early: usize,
    /// A few of them, with their message ids.
    pub early_sample: Vec<String>,
    /// Acknowledged, not delivered or not in the audit (must be 0).
    pub missing: usize,
    /// A few of them.
    pub missing_sample: Vec<String>,
    /// Made visible twice (must be 0).
    pub duplicates: usize,
    /// A few of them (message ids or values).
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
    /// The most frequent kinds of failed attempts.
    pub errors: Vec<(String, u64)>,
}

impl TimerReport {
    /// Whether every guarantee held.
    pub fn ok(&self) -> bool {
        self.early == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.unexpected == 0
            && self.offset_gaps == 0
    }
}

impl fmt::Display for TimerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delayed: sent={} acked={} delivered={} early={} missing={} duplicates={} \
             own_retries={} unexpected={} | log: stored={} offset_gaps={} | send_errors={} | ",
            self.sent,
            self.acked,
            self.delivered,
            self.early,
            self.missing,
            self.duplicates,
            self.own_retries,
            self.unexpected,
            self.stored,
            self.offset_gaps,
            self.send_errors,
        )?;
        super::write_verdict(
            f,
            self.ok(),
            &self.errors,
            &[
                ("early", &self.early_sample),
                ("missing", &self.missing_sample),
                ("duplicated", &self.duplicate_sample),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(value: &str, id: &str, offset: i64, at: SystemTime) -> Delivery {
        Delivery {
            value: value.into(),
            message_id: id.into(),
            queue: "b/0".into(),
            offset,
            at,
        }
    }

    #[test]
    fn early_missing_and_doubled_messages_are_violations() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let ms = Duration::from_millis;
        let mut t = Timers::default();
        for v in ["d-0-0", "d-0-1", "d-0-2", "d-0-3"] {
            t.attempt(v, t0);
            t.acked(v);
        }
        let audit_q = vec![
            seen("d-0-0", "M0", 0, t0),
            seen("d-0-1", "M1", 1, t0),
            seen("d-0-3", "M3", 2, t0),
            seen("d-0-3", "M3", 3, t0),
        ];
        for d in &audit_q {
            t.delivered(d.clone());
        }
        // Within the slack; then a redelivery of one position.
        t.delivered(seen("d-0-0", "M0", 0, t0 - ms(4)));
        t.delivered(seen("d-0-1", "M1", 1, t0 - ms(50)));
        let audit = BTreeMap::from([("b/0".to_owned(), audit_q)]);
        let r = t.check(&audit);
        assert_eq!((r.early, r.missing, r.duplicates), (1, 1, 1), "{r}");
        assert_eq!(r.missing_sample, vec!["d-0-2".to_owned()]);
        assert!(r.early_sample[0].starts_with("d-0-1 (M1, 50 ms"), "{r}");
        assert_eq!(r.duplicate_sample, vec!["M3".to_owned()]);
        assert!(!r.ok());
    }

    #[test]
    fn a_retried_value_stored_twice_is_allowed() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut t = Timers::default();
        t.attempt("d-1-0", t0);
        t.failed("d-1-0", "timed out");
        t.acked("d-1-0");
        let q = vec![seen("d-1-0", "M0", 0, t0), seen("d-1-0", "M1", 1, t0)];
        for d in &q {
            t.delivered(d.clone());
        }
        let r = t.check(&BTreeMap::from([("b/0".to_owned(), q)]));
        assert!(r.ok(), "{r}");
        assert_eq!((r.own_retries, r.delivered), (1, 1));
    }
}
