//! FIFO order within one queue: per message group, the offsets read and not
//! done yet, oldest first. Only the first of a group is ever out with a
//! consumer; the others wait behind it ("held"), and the next one becomes
//! deliverable ("ready") when the one before it is done: acknowledged, moved
//! to the dead-letter topic, or gone by retention.
//!
//! ```text
//!   group a:  [12 out] 15 17        a's 15 waits for 12
//!   group b:  [13 ready]            b's 13 goes out at the next receive
//!   no group: [14 out] 16           messages without a group: one order per queue
//! ```
//!
//! Held and ready offsets together are bounded by the look-ahead: a read
//! that would hold back one more stops there (the queue then waits, like
//! upstream's queue lock, until something before it is done).

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{Hash, Hasher};

/// What orders a message in a FIFO consumer group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderKey {
    /// Messages without a message group: the queue is their order unit,
    /// as a queue is for upstream's orderly consumers.
    Queue,
    /// A message group, by a 64-bit hash of its name: two groups whose
    /// names collide are kept in one order, which blocks more and never
    /// reorders.
    Group(u64),
}

impl OrderKey {
    /// The key of a message with this message group (`None` or empty: the
    /// queue's).
    pub fn of(message_group: Option<&str>) -> Self {
        match message_group {
            None | Some("") => Self::Queue,
            Some(g) => {
                let mut h = DefaultHasher::new();
                g.hash(&mut h);
                Self::Group(h.finish())
            }
        }
    }
}

/// Where a newly read offset goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admit {
    /// Its group has nothing before it: it goes out now.
    Head,
    /// It waits behind an earlier message of its group.
    Held,
    /// It would wait, but the look-ahead is full: not taken.
    Full,
}

/// The order state of one FIFO queue.
#[derive(Clone, Debug)]
pub(super) struct Chains {
    look_ahead: usize,
    chains: HashMap<OrderKey, VecDeque<u64>>,
    keys: HashMap<u64, OrderKey>,
    /// First offsets of their group that are not out: deliverable now.
    ready: BTreeSet<u64>,
    /// Offsets behind the first of their group.
    held: usize,
}

impl Chains {
    pub fn new(look_ahead: usize) -> Self {
        Self {
            look_ahead,
            chains: HashMap::new(),
            keys: HashMap::new(),
            ready: BTreeSet::new(),
            held: 0,
        }
    }

    /// Offsets read and waiting (held or ready): at most the look-ahead.
    pub fn waiting(&self) -> usize {
        self.held + self.ready.len()
    }

    /// Takes `offset` (read in order, not done) of group `key`.
    pub fn admit(&mut self, offset: u64, key: OrderKey) -> Admit {
        let full = self.waiting() >= self.look_ahead;
        match self.chains.get_mut(&key) {
            None => {
                self.chains.insert(key, VecDeque::from([offset]));
                self.keys.insert(offset, key);
                Admit::Head
            }
            Some(_) if full => Admit::Full,
            Some(chain) => {
                chain.push_back(offset);
                self.keys.insert(offset, key);
                self.held += 1;
                Admit::Held
            }
        }
    }

    /// Whether `offset` is a ready one; it is not any more (it goes out).
    pub fn take_ready(&mut self, offset: u64) -> bool {
        self.ready.remove(&offset)
    }

    /// Whether some offset is ready.
    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Ready offsets, lowest first, at most `max`.
    pub fn ready(&self, max: usize) -> Vec<u64> {
        self.ready.iter().take(max).copied().collect()
    }

    /// `offset` is done: it leaves its group, and the next of the group
    /// becomes ready if it was the first.
    pub fn finish(&mut self, offset: u64) {
        let Some(key) = self.keys.remove(&offset) else {
            return;
        };
        let Some(chain) = self.chains.get_mut(&key) else {
            return;
        };
        if chain.front() == Some(&offset) {
            chain.pop_front();
            self.ready.remove(&offset);
            if let Some(&next) = chain.front() {
                self.held = self.held.saturating_sub(1);
                self.ready.insert(next);
            }
        } else if let Some(i) = chain.iter().position(|&o| o == offset) {
            // A later one acknowledged with a handle of an earlier
            // leader: done, and out of the order.
            chain.remove(i);
            self.held = self.held.saturating_sub(1);
        }
        if chain.is_empty() {
            self.chains.remove(&key);
        }
    }
}
