//! FIFO mode of [`PopQueue`]: examples, then property tests over random
//! receive / ack / nack / expiry sequences, within one leadership and
//! across failovers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::{InFlight, Offer, OrderKey, PopQueue};

const SEC: Duration = Duration::from_secs(1);

fn key(g: &str) -> OrderKey {
    OrderKey::of(Some(g))
}

fn delivered(o: Offer) -> InFlight {
    match o {
        Offer::Deliver(f) => f,
        other => panic!("expected a delivery, got {other:?}"),
    }
}

#[test]
fn a_later_message_waits_for_the_earlier_one_of_its_group_and_others_flow() {
    let now = Instant::now();
    let mut q = PopQueue::fifo(0, 16);
    let a0 = delivered(q.offer(0, key("a"), now, SEC));
    assert_eq!(q.offer(1, key("a"), now, SEC), Offer::Held);
    let b2 = delivered(q.offer(2, key("b"), now, SEC));
    assert_eq!(q.offer(3, key("b"), now, SEC), Offer::Held);
    assert_eq!(q.next(), 4);
    assert!(q.ready(10).is_empty());
    // Held offsets are not done: the base stays at the first of them.
    q.ack(2, Some(b2.nonce)).unwrap();
    assert_eq!(q.ready(10), vec![3]);
    assert_eq!(q.base(), 0);
    q.ack(0, Some(a0.nonce)).unwrap();
    assert_eq!(q.base(), 1);
    assert_eq!(q.commit_due(), Some(1));
    assert_eq!(q.ready(10), vec![1, 3]);
    let a1 = q.deliver(1, now, SEC).unwrap();
    assert_eq!(a1.attempt, 1);
    assert_eq!(q.ready(10), vec![3]);
    // Not ready twice.
    assert_eq!(q.deliver(1, now, SEC).map(|f| f.attempt), None);
}

#[test]
fn an_expired_message_comes_again_before_the_next_of_its_group() {
    let now = Instant::now();
    let mut q = PopQueue::fifo(0, 16);
    let first = delivered(q.offer(0, key("a"), now, SEC));
    assert_eq!(q.offer(1, key("a"), now, SEC), Offer::Held);
    let later = now + SEC;
    assert_eq!(q.expired(later, 10), vec![(0, first)]);
    assert!(q.ready(10).is_empty(), "1 waits while 0 is due again");
    let again = q.deliver(0, later, SEC).unwrap();
    assert_eq!(again.attempt, 2);
    q.ack(0, Some(again.nonce)).unwrap();
    assert_eq!(q.ready(10), vec![1]);
}

#[test]
fn a_message_moved_to_the_dead_letters_lets_the_next_follow() {
    let now = Instant::now();
    let mut q = PopQueue::fifo(0, 16);
    delivered(q.offer(0, key("a"), now, SEC));
    assert_eq!(q.offer(1, key("a"), now, SEC), Offer::Held);
    // What dead_letter does once the copy is written.
    q.ack(0, None).unwrap();
    assert_eq!(q.ready(10), vec![1]);
    assert_eq!(q.base(), 1);
}

#[test]
fn messages_without_a_group_keep_the_order_of_their_queue() {
    let now = Instant::now();
    let mut q = PopQueue::fifo(0, 16);
    let none = OrderKey::of(None);
    assert_eq!(none, OrderKey::of(Some("")));
    let m0 = delivered(q.offer(0, none, now, SEC));
    assert_eq!(q.offer(1, none, now, SEC), Offer::Held);
    delivered(q.offer(2, key("a"), now, SEC));
    q.ack(0, Some(m0.nonce)).unwrap();
    assert_eq!(q.ready(10), vec![1]);
}

#[test]
fn a_full_look_ahead_stops_the_read_without_taking_the_offset() {
    let now = Instant::now();
    let mut q = PopQueue::fifo(0, 2);
    let a0 = delivered(q.offer(0, key("a"), now, SEC));
    assert_eq!(q.offer(1, key("a"), now, SEC), Offer::Held);
    assert_eq!(q.offer(2, key("a"), now, SEC), Offer::Held);
    assert_eq!(q.waiting(), 2);
    // A free group still gets in; a busy one finds the look-ahead full.
    delivered(q.offer(3, key("b"), now, SEC));
    assert_eq!(q.offer(5, key("a"), now, SEC), Offer::Full);
    assert_eq!(q.next(), 5, "4 was filtered out; 5 was not taken");
    q.ack(0, Some(a0.nonce)).unwrap();
    let a1 = q.deliver(1, now, SEC).unwrap();
    assert_eq!(q.waiting(), 1);
    assert_eq!(q.offer(5, key("a"), now, SEC), Offer::Held);
    q.ack(1, Some(a1.nonce)).unwrap();
    assert_eq!(q.ready(10), vec![2]);
}

#[test]
fn an_earlier_leaders_ack_of_a_held_message_takes_it_out_of_the_order() {
    let now = Instant::now();
    let mut q = PopQueue::fifo(0, 16);
    let a0 = delivered(q.offer(0, key("a"), now, SEC));
    assert_eq!(q.offer(1, key("a"), now, SEC), Offer::Held);
    assert_eq!(q.offer(2, key("a"), now, SEC), Offer::Held);
    q.ack(1, None).unwrap();
    q.ack(0, Some(a0.nonce)).unwrap();
    assert_eq!(q.ready(10), vec![2]);
    assert_eq!(q.base(), 2);
    // Acknowledged before it was read: skipped when reached.
    q.ack(4, None).unwrap();
    delivered(q.offer(3, key("b"), now, SEC));
    assert_eq!(q.offer(4, key("b"), now, SEC), Offer::Skip);
    assert_eq!(q.next(), 5);
}

#[test]
fn a_restart_in_the_other_mode_starts_again_from_the_base() {
    let now = Instant::now();
    let mut q = PopQueue::new(0);
    let f0 = q.deliver(0, now, SEC).unwrap();
    q.deliver(1, now, SEC).unwrap();
    q.ack(0, Some(f0.nonce)).unwrap();
    q.restart(Some(8));
    assert!(q.is_fifo());
    assert_eq!((q.base(), q.next()), (1, 1));
    assert_eq!(q.commit_due(), Some(1));
    delivered(q.offer(1, key("a"), now, SEC));
    q.restart(None);
    assert!(!q.is_fifo());
    assert_eq!(q.next(), 1);
}

#[test]
fn done_runs_cost_one_entry_while_an_early_message_is_out() {
    let now = Instant::now();
    let mut q = PopQueue::fifo(0, 16);
    delivered(q.offer(0, key("slow"), now, SEC));
    for o in 1..10_000 {
        let f = delivered(q.offer(o, key(&format!("g{}", o % 7)), now, SEC));
        q.ack(o, Some(f.nonce)).unwrap();
    }
    assert_eq!(q.base(), 0);
    assert_eq!(q.done.ranges(), 1);
}

/// A failover: the new leader starts from the committed offset in FIFO
/// mode. What the old leader had out comes again first, and a later
/// message of its group waits for it.
#[test]
fn after_a_failover_the_earlier_unacked_message_comes_before_the_later_one() {
    let now = Instant::now();
    let mut old = PopQueue::fifo(0, 16);
    let a0 = delivered(old.offer(0, key("a"), now, 60 * SEC));
    old.ack(0, Some(a0.nonce)).unwrap();
    old.deliver(1, now, 60 * SEC); // never read: 1 is not ready yet
    delivered(old.offer(1, key("a"), now, 60 * SEC)); // out with a consumer
    assert_eq!(old.offer(2, key("a"), now, 60 * SEC), Offer::Held);
    // Commit 1 (0 is done); then the leader is lost.
    old.committed(old.commit_due().unwrap());
    let mut new = PopQueue::fifo(1, 16);
    delivered(new.offer(1, key("a"), now, SEC));
    assert_eq!(new.offer(2, key("a"), now, SEC), Offer::Held);
    assert!(new.ready(10).is_empty());
    // The consumer of the old delivery acknowledges it here.
    new.ack(1, None).unwrap();
    assert_eq!(new.ready(10), vec![2]);
}

// ---- property tests ----

const GROUPS: u8 = 4;
const MAX_ATTEMPTS: u32 = 3;
const INVISIBLE: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
enum Op {
    Receive(usize),
    Ack(usize),
    AckOld(usize),
    Nack(usize),
    Advance(u64),
    Commit,
    Failover,
    /// The deposed leader, not knowing it yet, serves a receive or an ack.
    StaleReceive(usize),
    StaleAck(usize),
}

fn op(failovers: bool) -> impl Strategy<Value = Op> {
    let fo = if failovers { 1u32 } else { 0 };
    prop_oneof![
        4 => (1usize..6).prop_map(Op::Receive),
        4 => any::<usize>().prop_map(Op::Ack),
        2 * fo => any::<usize>().prop_map(Op::AckOld),
        1 => any::<usize>().prop_map(Op::Nack),
        2 => (0u64..3).prop_map(Op::Advance),
        1 => Just(Op::Commit),
        fo => Just(Op::Failover),
        fo => (1usize..4).prop_map(Op::StaleReceive),
        fo => any::<usize>().prop_map(Op::StaleAck),
    ]
}

/// A delivery a consumer holds: the leadership that made it, the offset,
/// the nonce.
#[derive(Clone, Copy, Debug)]
struct Handle {
    epoch: u32,
    offset: u64,
    nonce: u32,
}

/// One queue's messages (their groups; `None`: no group), a leader's
/// `PopQueue` driven the way `receive.rs` drives it, consumers holding
/// handles, and the oracle: what is acknowledged, what was delivered.
struct Sim {
    groups: Vec<Option<u8>>,
    look_ahead: usize,
    q: PopQueue,
    epoch: u32,
    /// The previous leader, still serving until it learns of the new term.
    stale: Option<PopQueue>,
    committed: u64,
    start: Instant,
    secs: u64,
    handles: Vec<Handle>,
    acked: BTreeSet<u64>,
    first: BTreeMap<Option<u8>, Vec<u64>>,
    ever: BTreeSet<u64>,
}

impl Sim {
    fn new(groups: Vec<Option<u8>>, look_ahead: usize) -> Self {
        Self {
            groups,
            look_ahead,
            q: PopQueue::fifo(0, look_ahead),
            epoch: 0,
            stale: None,
            committed: 0,
            start: Instant::now(),
            secs: 0,
            handles: Vec::new(),
            acked: BTreeSet::new(),
            first: BTreeMap::new(),
            ever: BTreeSet::new(),
        }
    }

    fn now(&self) -> Instant {
        self.start + Duration::from_secs(self.secs)
    }

    fn key(&self, o: u64) -> OrderKey {
        match self.groups[o as usize] {
            None => OrderKey::of(None),
            Some(g) => OrderKey::of(Some(&format!("group-{g}"))),
        }
    }

    /// The oracle at a delivery of `o`: every earlier message of its group
    /// is acknowledged, and a first delivery comes after the first
    /// deliveries of the earlier ones.
    fn on_delivery(&mut self, epoch: u32, o: u64, f: InFlight) -> Result<(), TestCaseError> {
        let g = self.groups[o as usize];
        for e in 0..o {
            if self.groups[e as usize] == g {
                prop_assert!(
                    self.acked.contains(&e),
                    "{} of group {:?} delivered while {} is not acknowledged",
                    o,
                    g,
                    e
                );
            }
        }
        if self.ever.insert(o) {
            let firsts = self.first.entry(g).or_default();
            prop_assert!(
                firsts.last().is_none_or(|&l| l < o),
                "first deliveries of group {:?} out of order: {:?} then {}",
                g,
                firsts,
                o
            );
            firsts.push(o);
        }
        self.handles.push(Handle {
            epoch,
            offset: o,
            nonce: f.nonce,
        });
        Ok(())
    }

    /// What `pop_some` does for one queue, on the current leader.
    fn receive(&mut self, max: usize) -> Result<(), TestCaseError> {
        let mut q = std::mem::replace(&mut self.q, PopQueue::new(0));
        let r = self.receive_on(&mut q, self.epoch, max);
        self.q = q;
        r
    }

    fn receive_on(
        &mut self,
        q: &mut PopQueue,
        epoch: u32,
        max: usize,
    ) -> Result<(), TestCaseError> {
        let now = self.now();
        let mut out = 0;
        for (o, f) in q.expired(now, max) {
            if f.attempt >= MAX_ATTEMPTS {
                // Moved to the dead letters.
                q.ack(o, None)
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                self.acked.insert(o);
                continue;
            }
            let f = q.deliver(o, now, INVISIBLE);
            prop_assert!(f.is_some(), "expired {} not deliverable", o);
            self.on_delivery(
                epoch,
                o,
                f.unwrap_or(InFlight {
                    deadline: now,
                    attempt: 0,
                    nonce: 0,
                }),
            )?;
            out += 1;
        }
        for o in q.ready(max.saturating_sub(out)) {
            let f = q.deliver(o, now, INVISIBLE);
            prop_assert!(f.is_some(), "ready {} not deliverable", o);
            self.on_delivery(
                epoch,
                o,
                f.unwrap_or(InFlight {
                    deadline: now,
                    attempt: 0,
                    nonce: 0,
                }),
            )?;
            out += 1;
        }
        while out < max && (q.next() as usize) < self.groups.len() {
            let o = q.next();
            match q.offer(o, self.key(o), now, INVISIBLE) {
                Offer::Deliver(f) => {
                    self.on_delivery(epoch, o, f)?;
                    out += 1;
                }
                Offer::Held | Offer::Skip => {}
                Offer::Full => break,
            }
        }
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now();
        match *op {
            Op::Receive(n) => self.receive(n)?,
            Op::Ack(i) | Op::AckOld(i) if !self.handles.is_empty() => {
                let current: Vec<usize> = (0..self.handles.len())
                    .filter(|&j| (self.handles[j].epoch == self.epoch) == matches!(op, Op::Ack(_)))
                    .collect();
                if let Some(&j) = current.get(i % current.len().max(1)) {
                    let h = self.handles.swap_remove(j);
                    let nonce = (h.epoch == self.epoch).then_some(h.nonce);
                    if self.q.ack(h.offset, nonce).is_ok() {
                        self.acked.insert(h.offset);
                    }
                }
            }
            Op::Nack(i) if !self.handles.is_empty() => {
                let j = i % self.handles.len();
                let h = self.handles[j];
                if h.epoch == self.epoch {
                    if let Ok(f) =
                        self.q
                            .change_invisible(h.offset, Some(h.nonce), now, Duration::ZERO)
                    {
                        self.handles[j].nonce = f.nonce;
                    }
                }
            }
            Op::Advance(s) => self.secs += s,
            Op::Commit => {
                if let Some(c) = self.q.commit_due() {
                    self.q.committed(c);
                    self.committed = c;
                }
            }
            Op::Failover => {
                self.epoch += 1;
                let old =
                    std::mem::replace(&mut self.q, PopQueue::fifo(self.committed, self.look_ahead));
                self.stale = Some(old);
            }
            Op::StaleReceive(n) => {
                if let Some(mut old) = self.stale.take() {
                    let r = self.receive_on(&mut old, self.epoch - 1, n);
                    self.stale = Some(old);
                    r?;
                }
            }
            Op::StaleAck(i) if !self.handles.is_empty() => {
                let j = i % self.handles.len();
                let h = self.handles.swap_remove(j);
                if let Some(old) = &mut self.stale {
                    let nonce = (h.epoch + 1 == self.epoch).then_some(h.nonce);
                    if old.ack(h.offset, nonce).is_ok() {
                        self.acked.insert(h.offset);
                    }
                }
            }
            _ => {}
        }
        self.check()
    }

    /// State invariants: the base never passes an offset not done, and the
    /// look-ahead holds.
    fn check(&self) -> Result<(), TestCaseError> {
        let undone = (0..self.groups.len() as u64).find(|o| !self.acked.contains(o));
        if let Some(u) = undone {
            prop_assert!(
                self.q.base() <= u,
                "base {} passed undone {}",
                self.q.base(),
                u
            );
        }
        prop_assert!(self.q.base() <= self.q.next());
        prop_assert!(self.committed <= self.q.base() || self.epoch > 0);
        prop_assert!(self.q.waiting() <= self.look_ahead);
        let mut out_per_group: BTreeMap<Option<u8>, usize> = BTreeMap::new();
        for (o, _) in self
            .q
            .expired(self.now() + Duration::from_secs(1 << 20), usize::MAX)
        {
            *out_per_group.entry(self.groups[o as usize]).or_default() += 1;
        }
        prop_assert!(
            out_per_group.values().all(|&n| n <= 1),
            "{:?}",
            out_per_group
        );
        Ok(())
    }
}

fn messages() -> impl Strategy<Value = Vec<Option<u8>>> {
    proptest::collection::vec(proptest::option::weighted(0.8, 0..GROUPS), 1..40)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn one_leader_keeps_every_group_in_order(
        groups in messages(),
        look_ahead in 1usize..8,
        ops in proptest::collection::vec(op(false), 1..120),
    ) {
        let mut sim = Sim::new(groups, look_ahead);
        for op in &ops {
            sim.step(op)?;
        }
    }

    #[test]
    fn failovers_keep_every_group_in_order(
        groups in messages(),
        look_ahead in 1usize..8,
        ops in proptest::collection::vec(op(true), 1..160),
    ) {
        let mut sim = Sim::new(groups, look_ahead);
        for op in &ops {
            sim.step(op)?;
        }
    }

    /// Draining to the end: acknowledging everything that goes out
    /// delivers every message, each group in order, whatever the
    /// look-ahead.
    #[test]
    fn a_drain_delivers_everything_in_group_order(
        groups in messages(),
        look_ahead in 1usize..8,
    ) {
        let n = groups.len() as u64;
        let mut sim = Sim::new(groups, look_ahead);
        for _ in 0..(4 * n + 8) {
            sim.receive(3)?;
            while let Some(h) = sim.handles.pop() {
                prop_assert!(sim.q.ack(h.offset, Some(h.nonce)).is_ok());
                sim.acked.insert(h.offset);
            }
            sim.check()?;
        }
        prop_assert_eq!(sim.acked.len() as u64, n);
        prop_assert_eq!(sim.q.base(), n);
    }
}
