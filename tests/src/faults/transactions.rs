//! The transaction workload's record and its checker.
//!
//! Values are `t-<producer>-<seq>`, one per transaction. Once its half
//! message is acknowledged the producer draws the outcome and records it
//! *before* ending the transaction; some transactions it then leaves open
//! (orphans), and the broker's check-back asks the producer's
//! [`TransactionChecker`](raftmq_client::sdk::TransactionChecker), which
//! answers from the recorded decision. A half send that fails is decided
//! Rollback (it may be stored all the same: the check-back rolls it back).
//! The recorded decision is the truth an end answer is judged against: an
//! end that fails or is refused is counted, and the check-back settles it.
//!
//! The checks:
//! - rolled back delivered: a value decided Rollback was delivered or is in
//!   a queue (must be 0);
//! - missing: decided Commit with its half acknowledged, never delivered
//!   or absent from the audit (must be 0);
//! - duplicates: a value at two queue positions (must be 0);
//! - unexpected: delivered or stored, never begun (must be 0).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::delivery::{count_error, doubles, offset_gaps, top_errors, Delivery};

/// The topic of the transaction workload.
pub const TX_TOPIC: &str = "FaultSuiteTx";

/// How a transaction is to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Deliver its message.
    Commit,
    /// Drop its message.
    Rollback,
}

/// What the transaction workload did and saw.
#[derive(Debug, Default)]
pub struct Transactions {
    begun: HashSet<String>,
    /// Half messages acknowledged.
    acked: HashSet<String>,
    decided: HashMap<String, Decision>,
    orphans: HashSet<String>,
    deliveries: Vec<Delivery>,
    /// Failed half sends (after the client's own retries).
    pub send_errors: u64,
    /// Ends answered OK.
    pub ended: u64,
    /// Ends that failed after the client's retries (the check settles them).
    pub end_errors: u64,
    /// Ends refused with INVALID_TRANSACTION_ID.
    pub end_refused: u64,
    /// Check-backs answered from a recorded decision.
    pub checks: u64,
    /// Check-backs about a value not decided yet (answered Unknown).
    pub checks_unknown: u64,
    /// Failed sends and ends by kind.
    error_kinds: BTreeMap<String, u64>,
}

impl Transactions {
    /// The transaction of `value` is begun, its send about to be tried.
    pub fn begun(&mut self, value: &str) {
        self.begun.insert(value.to_owned());
    }

    /// Its half message was acknowledged.
    pub fn acked(&mut self, value: &str) {
        self.acked.insert(value.to_owned());
    }

    /// Its send failed with `error`: it is decided Rollback.
    pub fn send_failed(&mut self, value: &str, error: &str) {
        self.send_errors += 1;
        count_error(&mut self.error_kinds, error);
        self.decide(value, Decision::Rollback);
    }

    /// It is to end as `decision`.
    pub fn decide(&mut self, value: &str, decision: Decision) {
        self.decided.insert(value.to_owned(), decision);
    }

    /// Its end failed with `error` (`refused`: INVALID_TRANSACTION_ID).
    pub fn end_failed(&mut self, error: &str, refused: bool) {
        if refused {
            self.end_refused += 1;
        } else {
            self.end_errors += 1;
        }
        count_error(&mut self.error_kinds, &format!("end: {error}"));
    }

    /// It is left open for the check-back.
    pub fn orphaned(&mut self, value: &str) {
        self.orphans.insert(value.to_owned());
    }

    /// The recorded decision, for a check-back (counted).
    pub fn answer_check(&mut self, value: &str) -> Option<Decision> {
        let d = self.decided.get(value).copied();
        match d {
            Some(_) => self.checks += 1,
            None => self.checks_unknown += 1,
        }
        d
    }

    /// A consumer got `d`.
    pub fn delivered(&mut self, d: Delivery) {
        self.deliveries.push(d);
    }

    /// Values that must be delivered: half acknowledged, decided Commit.
    pub fn committed(&self) -> HashSet<String> {
        self.acked
            .iter()
            .filter(|v| self.decided.get(*v) == Some(&Decision::Commit))
            .cloned()
            .collect()
    }

    /// Committed values not delivered yet.
    pub fn missing(&self) -> usize {
        let got: HashSet<&str> = self.deliveries.iter().map(|d| d.value.as_str()).collect();
        self.committed()
            .iter()
            .filter(|v| !got.contains(v.as_str()))
            .count()
    }

    /// Judges the run against the audit read of the topic's queues.
    pub fn check(&self, audit: &BTreeMap<String, Vec<Delivery>>) -> TxReport {
        let got: HashSet<&str> = self.deliveries.iter().map(|d| d.value.as_str()).collect();
        let stored: HashSet<&str> = audit.values().flatten().map(|d| d.value.as_str()).collect();
        let committed = self.committed();
        let mut missing: Vec<&String> = committed
            .iter()
            .filter(|v| !got.contains(v.as_str()) || !stored.contains(v.as_str()))
            .collect();
        missing.sort();
        let mut rolled_back_seen: Vec<String> = got
            .iter()
            .chain(stored.iter())
            .filter(|v| self.decided.get(**v) == Some(&Decision::Rollback))
            .map(|v| (*v).to_owned())
            .collect();
        rolled_back_seen.sort();
        rolled_back_seen.dedup();
        let both = doubles(self.deliveries.iter().chain(audit.values().flatten()));
        let mut duplicates: Vec<String> = both.same_id.into_iter().collect();
        duplicates.extend(both.same_value);
        let unexpected = got
            .iter()
            .chain(stored.iter())
            .filter(|v| !self.begun.contains(**v))
            .collect::<HashSet<_>>()
            .len();
        let rolled_back = self
            .acked
            .iter()
            .filter(|v| self.decided.get(*v) == Some(&Decision::Rollback))
            .count();
        TxReport {
            begun: self.begun.len(),
            acked: self.acked.len(),
            committed: committed.len(),
            rolled_back,
            orphans: self.orphans.len(),
            delivered: committed
                .iter()
                .filter(|v| got.contains(v.as_str()))
                .count(),
            rolled_back_delivered: rolled_back_seen.len(),
            rolled_back_sample: rolled_back_seen.into_iter().take(5).collect(),
            missing: missing.len(),
            missing_sample: missing.into_iter().take(5).cloned().collect(),
            duplicates: duplicates.len(),
            duplicate_sample: duplicates.into_iter().take(5).collect(),
            unexpected,
            offset_gaps: offset_gaps(audit),
            stored: audit.values().map(Vec::len).sum(),
            send_errors: self.send_errors,
            ended: self.ended,
            end_errors: self.end_errors,
            end_refused: self.end_refused,
            checks: self.checks,
            checks_unknown: self.checks_unknown,
            errors: top_errors(&self.error_kinds),
        }
    }
}

/// The transaction workload's verdict.
#[derive(Debug, Clone, Default)]
pub struct TxReport {
    /// Transactions begun.
    pub begun: usize,
    /// Half messages acknowledged.
    pub acked: usize,
    /// Acknowledged and decided Commit.
    pub committed: usize,
    /// Acknowledged and decided Rollback.
    pub rolled_back: usize,
    /// Left open for the check-back.
    pub orphans: usize,
    /// Committed values delivered.
    pub delivered: usize,
    /// Values decided Rollback (acknowledged or not) delivered or stored
    /// in a queue (must be 0).
    pub rolled_back_delivered: usize,
    /// A few of them.
    pub rolled_back_sample: Vec<String>,
    /// Committed, not delivered or not in the audit (must be 0).
    pub missing: usize,
    /// A few of them.
    pub missing_sample: Vec<String>,
    /// Message ids or values at two queue positions (must be 0).
    pub duplicates: usize,
    /// A few of them.
    pub duplicate_sample: Vec<String>,
    /// Delivered or stored, never begun (must be 0).
    pub unexpected: usize,
    /// Audit offsets not 0, 1, 2, ... (must be 0).
    pub offset_gaps: usize,
    /// Messages the audit read.
    pub stored: usize,
    /// Failed half sends.
    pub send_errors: u64,
    /// Ends answered OK.
    pub ended: u64,
    /// Ends failed after retries.
    pub end_errors: u64,
    /// Ends refused with INVALID_TRANSACTION_ID.
    pub end_refused: u64,
    /// Check-backs answered.
    pub checks: u64,
    /// Check-backs answered Unknown.
    pub checks_unknown: u64,
    /// The most frequent kinds of failed sends and ends.
    pub errors: Vec<(String, u64)>,
}

impl TxReport {
    /// Whether every guarantee held.
    pub fn ok(&self) -> bool {
        self.rolled_back_delivered == 0
            && self.missing == 0
            && self.duplicates == 0
            && self.unexpected == 0
            && self.offset_gaps == 0
    }
}

impl fmt::Display for TxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transactions: begun={} acked={} committed={} rolled_back={} orphans={} \
             delivered={} rolled_back_delivered={} missing={} duplicates={} unexpected={} \
             | log: stored={} offset_gaps={} | send_errors={} ended={} end_errors={} \
             end_refused={} checks={} checks_unknown={} | ",
            self.begun,
            self.acked,
            self.committed,
            self.rolled_back,
            self.orphans,
            self.delivered,
            self.rolled_back_delivered,
            self.missing,
            self.duplicates,
            self.unexpected,
            self.stored,
            self.offset_gaps,
            self.send_errors,
            self.ended,
            self.end_errors,
            self.end_refused,
            self.checks,
            self.checks_unknown,
        )?;
        super::write_verdict(
            f,
            self.ok(),
            &self.errors,
            &[
                ("rolled back but seen", &self.rolled_back_sample),
                ("missing", &self.missing_sample),
                ("duplicated", &self.duplicate_sample),
            ],
        )
    }
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
    fn the_decision_is_what_delivery_is_judged_against() {
        let mut t = Transactions::default();
        for (v, d) in [
            ("t-0-0", Decision::Commit),
            ("t-0-1", Decision::Rollback),
            ("t-0-2", Decision::Commit),
            ("t-0-3", Decision::Commit),
        ] {
            t.begun(v);
            t.acked(v);
            t.decide(v, d);
        }
        t.orphaned("t-0-3");
        t.begun("t-0-4");
        t.send_failed("t-0-4", "timed out");
        assert_eq!(t.answer_check("t-0-3"), Some(Decision::Commit));
        assert_eq!(t.answer_check("t-9-9"), None);
        let q = vec![
            seen("t-0-0", "M0", 0),
            seen("t-0-3", "M3", 1),
            seen("t-0-4", "M4", 2),
        ];
        for d in &q {
            t.delivered(d.clone());
        }
        let r = t.check(&BTreeMap::from([("b/0".to_owned(), q)]));
        assert_eq!((r.committed, r.rolled_back, r.orphans), (3, 1, 1), "{r}");
        assert_eq!(r.rolled_back_sample, vec!["t-0-4".to_owned()]);
        assert_eq!(r.missing_sample, vec!["t-0-2".to_owned()]);
        assert_eq!((r.delivered, r.duplicates, r.checks), (2, 0, 1));
        assert!(!r.ok());
    }

    #[test]
    fn a_value_at_two_positions_is_a_duplicate() {
        let mut t = Transactions::default();
        t.begun("t-1-0");
        t.acked("t-1-0");
        t.decide("t-1-0", Decision::Commit);
        let q = vec![seen("t-1-0", "M0", 0), seen("t-1-0", "M0", 1)];
        t.delivered(q[0].clone());
        t.delivered(q[0].clone());
        let r = t.check(&BTreeMap::from([("b/0".to_owned(), q)]));
        assert_eq!(r.duplicates, 1, "{r}");
        assert!(!r.ok());
    }
}
