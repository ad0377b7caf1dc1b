//! Pop and ack bookkeeping for one (consumer group, topic, queue): which
//! offsets are out with a consumer and until when, which are done, and the
//! offset below which everything is done (what gets committed through Raft).
//!
//! Pure state, no clock and no I/O: the caller passes `now` in and applies
//! the decisions (reads messages, writes dead letters, commits offsets).
//!
//! ```text
//!   committed ≤ base ──────────── next ──────────► queue max
//!               │  in flight / done │ never delivered
//!   base: the lowest offset not done; everything below it is acknowledged
//! ```
//!
//! A failover loses this state; the new leader starts at the committed
//! offset, so it redelivers what was out or done but not yet committed:
//! the last moments of work, never less than what was acknowledged and
//! committed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// A message out with a consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// When it becomes visible again.
    pub deadline: Instant,
    /// Its delivery attempt (1 for the first delivery).
    pub attempt: u32,
    /// Changes at every delivery and visibility change: a receipt handle
    /// carrying another nonce is stale.
    pub nonce: u32,
}

/// Why an ack or a visibility change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleError {
    /// The message is not out with anybody (already acknowledged, or never
    /// delivered at this offset).
    NotInFlight,
    /// It was delivered again since this handle was issued.
    Stale,
}

/// One queue of one consumer group.
#[derive(Clone, Debug)]
pub struct PopQueue {
    base: u64,
    next: u64,
    committed: u64,
    in_flight: BTreeMap<u64, InFlight>,
    done: BTreeSet<u64>,
    nonce: u32,
}

impl PopQueue {
    /// A queue whose group has committed `committed` (the next offset to
    /// consume).
    pub fn new(committed: u64) -> Self {
        Self {
            base: committed,
            next: committed,
            committed,
            in_flight: BTreeMap::new(),
            done: BTreeSet::new(),
            nonce: 0,
        }
    }

    /// The lowest offset not done: what a commit should record.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The next offset never delivered.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// Whether `base` moved past what was last committed.
    pub fn commit_due(&self) -> Option<u64> {
        (self.base > self.committed).then_some(self.base)
    }

    /// Records that `offset` is committed.
    pub fn committed(&mut self, offset: u64) {
        self.committed = self.committed.max(offset);
    }

    /// Offsets whose invisibility ended by `now`, oldest first, at most `max`.
    pub fn expired(&self, now: Instant, max: usize) -> Vec<(u64, InFlight)> {
        self.in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .take(max)
            .map(|(o, f)| (*o, *f))
            .collect()
    }

    /// When the next in-flight message becomes visible again.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.in_flight.values().map(|f| f.deadline).min()
    }

    fn fresh_nonce(&mut self) -> u32 {
        self.nonce = self.nonce.wrapping_add(1);
        self.nonce
    }

    /// Delivers `offset` (an expired in-flight one again, or `next`):
    /// returns its new state. New offsets must be delivered in order.
    pub fn deliver(&mut self, offset: u64, now: Instant, invisible: Duration) -> InFlight {
        let attempt = self.in_flight.get(&offset).map_or(1, |f| f.attempt + 1);
        if offset >= self.next {
            // Offsets skipped on the way (filtered out) are done.
            for o in self.next..offset {
                self.done.insert(o);
            }
            self.next = offset + 1;
        }
        let f = InFlight {
            deadline: now + invisible,
            attempt,
            nonce: self.fresh_nonce(),
        };
        self.in_flight.insert(offset, f);
        self.advance();
        f
    }

    /// Everything below `offset` that was never delivered is done (read
    /// past by a filter, or below the queue's minimum).
    pub fn skip_to(&mut self, offset: u64) {
        if offset > self.next {
            for o in self.next..offset {
                self.done.insert(o);
            }
            self.next = offset;
            self.advance();
        }
    }

    /// Acknowledges `offset` delivered with `nonce` (`None`: a handle of an
    /// earlier leader, whose nonces mean nothing here: accepted if the
    /// offset is not done yet).
    pub fn ack(&mut self, offset: u64, nonce: Option<u32>) -> Result<(), HandleError> {
        match (self.in_flight.get(&offset), nonce) {
            (Some(f), Some(n)) if f.nonce != n => return Err(HandleError::Stale),
            (Some(_), _) => {
                self.in_flight.remove(&offset);
            }
            (None, Some(_)) => return Err(HandleError::NotInFlight),
            (None, None) => {
                if offset < self.base || self.done.contains(&offset) {
                    return Err(HandleError::NotInFlight);
                }
                // Delivered by the previous leader: done, even though this
                // leader has not handed it out (it will not now).
            }
        }
        self.done.insert(offset);
        self.advance();
        Ok(())
    }

    /// Changes when `offset` becomes visible again; returns its new state
    /// (with a new nonce).
    pub fn change_invisible(
        &mut self,
        offset: u64,
        nonce: Option<u32>,
        now: Instant,
        invisible: Duration,
    ) -> Result<InFlight, HandleError> {
        let fresh = self.fresh_nonce();
        let f = self
            .in_flight
            .get_mut(&offset)
            .ok_or(HandleError::NotInFlight)?;
        if nonce.is_some_and(|n| n != f.nonce) {
            return Err(HandleError::Stale);
        }
        f.deadline = now + invisible;
        f.nonce = fresh;
        Ok(*f)
    }

    fn advance(&mut self) {
        while self.base < self.next && self.done.remove(&self.base) {
            self.base += 1;
        }
        // Done offsets beyond `next` (acks of a previous leader's
        // deliveries) wait until `next` passes them.
    }

    /// Whether `offset` is done (acknowledged or skipped).
    pub fn is_done(&self, offset: u64) -> bool {
        offset < self.base || self.done.contains(&offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn acks_in_any_order_move_the_base_only_over_a_done_prefix() {
        let now = Instant::now();
        let mut q = PopQueue::new(10);
        let a = q.deliver(10, now, SEC);
        let b = q.deliver(11, now, SEC);
        let c = q.deliver(12, now, SEC);
        assert_eq!((q.base(), q.next()), (10, 13));
        q.ack(12, Some(c.nonce)).unwrap();
        assert_eq!(q.base(), 10);
        q.ack(10, Some(a.nonce)).unwrap();
        assert_eq!(q.base(), 11);
        q.ack(11, Some(b.nonce)).unwrap();
        assert_eq!(q.base(), 13);
        assert_eq!(q.commit_due(), Some(13));
        q.committed(13);
        assert_eq!(q.commit_due(), None);
    }

    #[test]
    fn an_unacked_message_comes_back_with_the_next_attempt_and_old_handles_go_stale() {
        let now = Instant::now();
        let mut q = PopQueue::new(0);
        let first = q.deliver(0, now, SEC);
        assert_eq!(first.attempt, 1);
        assert!(q.expired(now, 10).is_empty());
        let later = now + SEC;
        assert_eq!(q.expired(later, 10).len(), 1);
        let second = q.deliver(0, later, SEC);
        assert_eq!(second.attempt, 2);
        assert_eq!(q.ack(0, Some(first.nonce)), Err(HandleError::Stale));
        q.ack(0, Some(second.nonce)).unwrap();
        assert_eq!(q.ack(0, Some(second.nonce)), Err(HandleError::NotInFlight));
        assert_eq!(q.base(), 1);
    }

    #[test]
    fn skipped_offsets_are_done_and_visibility_can_change() {
        let now = Instant::now();
        let mut q = PopQueue::new(0);
        let f = q.deliver(3, now, SEC); // 0..3 filtered out
        assert_eq!(q.base(), 3);
        let g = q.change_invisible(3, Some(f.nonce), now, 10 * SEC).unwrap();
        assert_ne!(g.nonce, f.nonce);
        assert!(q.expired(now + 5 * SEC, 10).is_empty());
        assert_eq!(
            q.change_invisible(3, Some(f.nonce), now, SEC),
            Err(HandleError::Stale)
        );
        q.skip_to(7);
        q.ack(3, Some(g.nonce)).unwrap();
        assert_eq!(q.base(), 7);
    }

    #[test]
    fn acks_of_a_previous_leaders_deliveries_are_kept() {
        let mut q = PopQueue::new(5);
        q.ack(6, None).unwrap();
        assert_eq!(q.base(), 5);
        assert!(q.is_done(6));
        let now = Instant::now();
        let f = q.deliver(5, now, SEC);
        q.ack(5, Some(f.nonce)).unwrap();
        // 6 was done before it was handed out again.
        q.skip_to(7);
        assert_eq!(q.base(), 7);
        assert_eq!(q.ack(4, None), Err(HandleError::NotInFlight));
    }
}
