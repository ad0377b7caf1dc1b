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
//! A queue of a FIFO consumer group ([`PopQueue::fifo`]) also keeps each
//! message group in order (see `fifo.rs`): a message is not handed out while
//! an earlier one of its group is out or waiting to go out again; offsets
//! read past because their group is busy wait ("held"), never done.
//!
//! A failover loses this state; the new leader starts at the committed
//! offset, so it redelivers what was out or done but not yet committed:
//! the last moments of work, never less than what was acknowledged and
//! committed. In FIFO mode that restart keeps the order too: the base never
//! passes an offset that is not done, so every message a new leader starts
//! from comes again in its group's order (ADR 0013).

mod done;
mod fifo;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use done::DoneSet;
use fifo::{Admit, Chains};

pub use fifo::OrderKey;

/// Offsets a FIFO queue may read ahead and hold back while their message
/// groups are busy.
pub const FIFO_LOOK_AHEAD: usize = 4096;

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

/// What became of a newly read offset ([`PopQueue::offer`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    /// Hand it out.
    Deliver(InFlight),
    /// FIFO: an earlier message of its group is out or waiting; it waits.
    Held,
    /// Already done (acknowledged with an earlier leader's handle) or read
    /// before: nothing to do.
    Skip,
    /// FIFO: it would wait, but the look-ahead is full; it was not taken,
    /// and reading this queue must stop here until something is done.
    Full,
}

/// One queue of one consumer group.
#[derive(Clone, Debug)]
pub struct PopQueue {
    base: u64,
    next: u64,
    committed: u64,
    in_flight: BTreeMap<u64, InFlight>,
    done: DoneSet,
    nonce: u32,
    fifo: Option<Chains>,
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
            done: DoneSet::default(),
            nonce: 0,
            fifo: None,
        }
    }

    /// A queue of a FIFO consumer group, holding back at most `look_ahead`
    /// offsets while their message groups are busy.
    pub fn fifo(committed: u64, look_ahead: usize) -> Self {
        Self {
            fifo: Some(Chains::new(look_ahead.max(1))),
            ..Self::new(committed)
        }
    }

    /// Whether this queue keeps message groups in order.
    pub fn is_fifo(&self) -> bool {
        self.fifo.is_some()
    }

    /// Starts again from `base` in the mode asked for (`Some(look_ahead)`:
    /// FIFO), forgetting what is out and what is done above `base`, as a new
    /// leader would: those are delivered again. Handles issued before are
    /// refused as not in flight.
    pub fn restart(&mut self, fifo: Option<usize>) {
        let mut q = match fifo {
            Some(n) => Self::fifo(self.base, n),
            None => Self::new(self.base),
        };
        q.committed = self.committed;
        q.nonce = self.nonce;
        *self = q;
    }

    /// The lowest offset not done: what a commit should record.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The next offset never read.
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

    /// FIFO: held offsets whose turn came (the one before them in their
    /// group is done), lowest first, at most `max`. Deliver them with
    /// [`PopQueue::deliver`].
    pub fn ready(&self, max: usize) -> Vec<u64> {
        self.fifo.as_ref().map_or_else(Vec::new, |c| c.ready(max))
    }

    /// FIFO: whether a held offset's turn came.
    pub fn has_ready(&self) -> bool {
        self.fifo.as_ref().is_some_and(Chains::has_ready)
    }

    /// FIFO: offsets read and waiting to go out (held or ready).
    pub fn waiting(&self) -> usize {
        self.fifo.as_ref().map_or(0, Chains::waiting)
    }

    fn fresh_nonce(&mut self) -> u32 {
        self.nonce = self.nonce.wrapping_add(1);
        self.nonce
    }

    fn send(&mut self, offset: u64, now: Instant, invisible: Duration) -> InFlight {
        let attempt = self.in_flight.get(&offset).map_or(1, |f| f.attempt + 1);
        let f = InFlight {
            deadline: now + invisible,
            attempt,
            nonce: self.fresh_nonce(),
        };
        self.in_flight.insert(offset, f);
        f
    }

    /// Delivers `offset` again: one out whose invisibility ended by `now`, or in
    /// FIFO mode a held one whose turn came. In the normal mode a new
    /// offset (at or past `next`) may be delivered here too: the ones
    /// skipped on the way are done (filtered out). `None`: not
    /// deliverable now (in FIFO mode, new offsets go through
    /// [`PopQueue::offer`], which knows their group).
    pub fn deliver(&mut self, offset: u64, now: Instant, invisible: Duration) -> Option<InFlight> {
        if let Some(f) = self.in_flight.get(&offset) {
            return (f.deadline <= now).then(|| self.send(offset, now, invisible));
        }
        match &mut self.fifo {
            Some(c) => c
                .take_ready(offset)
                .then(|| self.send(offset, now, invisible)),
            None if offset >= self.next && !self.done.contains(offset) => {
                self.skip_to(offset);
                self.next = offset + 1;
                Some(self.send(offset, now, invisible))
            }
            None => None,
        }
    }

    /// A newly read offset, at or past `next` (the offsets between are
    /// done: filtered out), of the message group `key` (used in FIFO mode
    /// only).
    pub fn offer(
        &mut self,
        offset: u64,
        key: OrderKey,
        now: Instant,
        invisible: Duration,
    ) -> Offer {
        if offset < self.next {
            return Offer::Skip;
        }
        if self.done.contains(offset) {
            self.skip_to(offset + 1);
            return Offer::Skip;
        }
        let admit = self
            .fifo
            .as_mut()
            .map_or(Admit::Head, |c| c.admit(offset, key));
        if admit == Admit::Full {
            self.skip_to(offset);
            return Offer::Full;
        }
        self.skip_to(offset);
        self.next = offset + 1;
        match admit {
            Admit::Held => Offer::Held,
            _ => Offer::Deliver(self.send(offset, now, invisible)),
        }
    }

    /// Everything below `offset` that was never read is done (read past
    /// by a filter, or below the queue's minimum).
    pub fn skip_to(&mut self, offset: u64) {
        if offset > self.next {
            self.done.insert_range(self.next, offset);
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
                if self.is_done(offset) {
                    return Err(HandleError::NotInFlight);
                }
                // Delivered by the previous leader: done, even though this
                // leader has not handed it out (it will not now).
            }
        }
        self.done.insert(offset);
        if let Some(c) = &mut self.fifo {
            c.finish(offset);
        }
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
        // Done offsets beyond `next` (acks of a previous leader's
        // deliveries) wait until `next` passes them. Ranges are merged, so
        // one step takes the whole done run at `base`.
        self.base = self.done.take_from(self.base, self.next);
    }

    /// Whether `offset` is done (acknowledged or skipped).
    pub fn is_done(&self, offset: u64) -> bool {
        offset < self.base || self.done.contains(offset)
    }
}

#[cfg(test)]
mod fifo_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn acks_in_any_order_move_the_base_only_over_a_done_prefix() {
        let now = Instant::now();
        let mut q = PopQueue::new(10);
        let a = q.deliver(10, now, SEC).unwrap();
        let b = q.deliver(11, now, SEC).unwrap();
        let c = q.deliver(12, now, SEC).unwrap();
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
        let first = q.deliver(0, now, SEC).unwrap();
        assert_eq!(first.attempt, 1);
        assert!(q.expired(now, 10).is_empty());
        let later = now + SEC;
        assert_eq!(q.expired(later, 10).len(), 1);
        let second = q.deliver(0, later, SEC).unwrap();
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
        let f = q.deliver(3, now, SEC).unwrap(); // 0..3 filtered out
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
        let f = q.deliver(5, now, SEC).unwrap();
        q.ack(5, Some(f.nonce)).unwrap();
        // 6 was done before it was handed out again.
        q.skip_to(7);
        assert_eq!(q.base(), 7);
        assert_eq!(q.ack(4, None), Err(HandleError::NotInFlight));
    }
}
