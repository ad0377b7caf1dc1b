//! The held index: timed messages and transactions' half messages that are
//! stored but not yet in their queues (ADR 0012).
//!
//! A held record is named by a [`HeldId`], its Raft log index and its slot
//! in the entry's batch: the same on every member (commitlog positions are
//! not, after a snapshot install). The maps are persistent (`imbl`), so a
//! copy for saving costs O(1) under the dispatcher's lock.

use std::fmt;
use std::str::FromStr;

use imbl::{OrdMap, OrdSet};

/// How many ended transactions' outcomes are remembered (the newest by id),
/// so that a repeated EndTransaction is answered as the first one was.
pub const ENDED_KEPT: usize = 65_536;

/// A held record: its entry's Raft index and its slot in the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeldId {
    /// The Raft index of the entry holding it.
    pub index: u64,
    /// Its place among the entry's messages, from 0.
    pub slot: u32,
}

impl fmt::Display for HeldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.index, self.slot)
    }
}

/// Text that is not `<index>.<slot>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a held message id (<log index>.<slot>)")]
pub struct BadHeldId(pub String);

impl FromStr for HeldId {
    type Err = BadHeldId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadHeldId(s.chars().take(64).collect());
        let (index, slot) = s.split_once('.').ok_or_else(bad)?;
        Ok(HeldId {
            index: index.parse().map_err(|_| bad())?,
            slot: slot.parse().map_err(|_| bad())?,
        })
    }
}

/// How a transaction ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Committed: its copy went into its queue.
    Committed,
    /// Rolled back by its producer.
    RolledBack,
    /// Given up after `transactionCheckMax` unanswered checks.
    Discarded,
}

impl Outcome {
    pub(crate) const fn as_u8(self) -> u8 {
        match self {
            Outcome::Committed => 1,
            Outcome::RolledBack => 2,
            Outcome::Discarded => 3,
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Outcome::Committed,
            2 => Outcome::RolledBack,
            3 => Outcome::Discarded,
            _ => return None,
        })
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Committed => "committed",
            Outcome::RolledBack => "rolled back",
            Outcome::Discarded => "discarded after its checks",
        })
    }
}

/// A half message waiting for its transaction to end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Half {
    /// Its topic (check-backs go to producers of it).
    pub topic: String,
    /// When it was stored, ms since the epoch.
    pub stored_ms: i64,
    /// Check-backs sent so far.
    pub checks: u32,
    /// When the last check-back round was decided, ms (0: none yet).
    pub last_check_ms: i64,
}

/// Timed messages and half messages held out of their queues, and what
/// release needs to stay exactly-once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldIndex {
    /// Timed messages by (due time ms, id).
    pub timers: OrdSet<(i64, HeldId)>,
    /// Half messages by id.
    pub halves: OrdMap<HeldId, Half>,
    /// Outcomes of the newest [`ENDED_KEPT`] ended transactions.
    pub ended: OrdMap<HeldId, Outcome>,
    /// Released copies that lost to an earlier release of the same record
    /// (a snapshot's receiver replays releases the state already includes:
    /// these are the ones it must not enqueue).
    pub dropped: OrdSet<HeldId>,
}

impl HeldIndex {
    /// Whether nothing is held or remembered.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
            && self.halves.is_empty()
            && self.ended.is_empty()
            && self.dropped.is_empty()
    }

    /// Records how a half message's transaction ended; returns whether it
    /// was still open (else nothing changes).
    pub fn end(&mut self, id: HeldId, outcome: Outcome) -> bool {
        if self.halves.remove(&id).is_none() {
            return false;
        }
        self.ended.insert(id, outcome);
        while self.ended.len() > ENDED_KEPT {
            let Some(oldest) = self.ended.get_min().map(|(id, _)| *id) else {
                break;
            };
            self.ended.remove(&oldest);
        }
        true
    }

    /// The oldest entry index a held record is in, if any.
    pub fn oldest_index(&self) -> Option<u64> {
        let timers = self.timers.iter().map(|(_, id)| id.index).min();
        let halves = self.halves.get_min().map(|(id, _)| id.index);
        timers.into_iter().chain(halves).min()
    }

    /// Forgets dropped copies in entries before `start_index` (no longer in
    /// the log, never replayed).
    pub fn forget_dropped_before(&mut self, start_index: u64) {
        while let Some(first) = self.dropped.get_min().copied() {
            if first.index >= start_index {
                break;
            }
            self.dropped.remove(&first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u64, slot: u32) -> HeldId {
        HeldId { index, slot }
    }

    #[test]
    fn ids_print_and_parse_and_bad_text_is_named() {
        assert_eq!("17.3".parse::<HeldId>(), Ok(id(17, 3)));
        assert_eq!(id(17, 3).to_string(), "17.3");
        for bad in ["", "17", "17.", ".3", "x.3", "17.3.1", "-1.2"] {
            let e = bad.parse::<HeldId>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn ending_keeps_the_first_outcome_and_a_bounded_memory() {
        let mut h = HeldIndex::default();
        let half = Half {
            topic: "T".into(),
            stored_ms: 1,
            checks: 0,
            last_check_ms: 0,
        };
        h.halves.insert(id(5, 0), half.clone());
        assert!(h.end(id(5, 0), Outcome::Committed));
        assert!(!h.end(id(5, 0), Outcome::RolledBack));
        assert_eq!(h.ended.get(&id(5, 0)), Some(&Outcome::Committed));
        for i in 0..(ENDED_KEPT as u64 + 10) {
            h.halves.insert(id(100 + i, 0), half.clone());
            h.end(id(100 + i, 0), Outcome::RolledBack);
        }
        assert_eq!(h.ended.len(), ENDED_KEPT);
        assert!(
            !h.ended.contains_key(&id(5, 0)),
            "the oldest outcome goes first"
        );
    }

    #[test]
    fn the_oldest_held_entry_counts_timers_and_halves() {
        let mut h = HeldIndex::default();
        assert_eq!(h.oldest_index(), None);
        h.timers.insert((50, id(9, 0)));
        h.timers.insert((10, id(12, 1)));
        assert_eq!(h.oldest_index(), Some(9));
        h.halves.insert(
            id(4, 2),
            Half {
                topic: "T".into(),
                stored_ms: 0,
                checks: 0,
                last_check_ms: 0,
            },
        );
        assert_eq!(h.oldest_index(), Some(4));
        h.dropped.insert(id(3, 0));
        h.dropped.insert(id(8, 0));
        h.forget_dropped_before(5);
        assert_eq!(
            h.dropped.iter().copied().collect::<Vec<_>>(),
            vec![id(8, 0)]
        );
    }
}
