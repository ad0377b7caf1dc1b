//! Coalescing of sends, as pure bookkeeping: what waits for each queue and
//! what the next SendMessage request takes. The sender task
//! ([`super::sender`]) owns one `Batcher` per broker group and does the I/O.
//!
//! ```text
//! push(m1..m5)            waiting: q0 [m1 m3 m5]  q1 [m2 m4]
//! next_batch()  -> q0 [m1 m3 m5] q1 [m2 m4]   (the key whose head waited
//!                                              longest, then the others)
//! ```
//!
//! The producer files sends without a message group under their topic's
//! [`ANY_QUEUE`] key, so one request carries messages for several queues
//! (each message names its own); FIFO sends go under their queue's key.
//!
//! A batch takes everything waiting for its topic's free keys, each key's
//! sends kept together and in order, up to `max_messages` and `max_bytes`
//! (a single message larger than that goes alone). A queue
//! whose batch in flight carries FIFO messages (a message group) gets no
//! second batch until that one is done, so a group's order holds on the
//! wire.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use super::BatchLimits;

/// The `queue_id` of a [`QueueKey`] that any queue of its topic shares:
/// sends without a message group, which need no order between requests.
pub(crate) const ANY_QUEUE: i32 = -1;

/// A queue of a topic in one broker group (or all of them, [`ANY_QUEUE`]):
/// what a request is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct QueueKey {
    pub topic: Arc<str>,
    pub queue_id: i32,
}

/// What the batcher needs to know of a pending send.
pub(crate) trait Pending {
    fn key(&self) -> &QueueKey;
    /// Encoded size in bytes.
    fn size(&self) -> usize;
    /// Whether it is a FIFO message (its queue's order matters).
    fn ordered(&self) -> bool;
}

/// Sends to go in one request: of one topic, from one key or more.
#[derive(Debug)]
pub(crate) struct Batch<T> {
    /// The keys its sends came from, the one waiting longest first.
    pub keys: Vec<QueueKey>,
    pub items: Vec<T>,
    /// The keys of its FIFO sends: busy until it is answered.
    pub busy: Vec<QueueKey>,
}

impl<T> Batch<T> {
    /// The topic of its sends.
    pub fn topic(&self) -> &Arc<str> {
        &self.keys[0].topic
    }
}

/// The sends waiting per queue.
#[derive(Debug)]
pub(crate) struct Batcher<T> {
    limits: BatchLimits,
    waiting: HashMap<QueueKey, VecDeque<(u64, T)>>,
    busy: HashSet<QueueKey>,
    seq: u64,
    len: usize,
}

impl<T: Pending> Batcher<T> {
    pub fn new(limits: BatchLimits) -> Self {
        Self {
            limits,
            waiting: HashMap::new(),
            busy: HashSet::new(),
            seq: 0,
            len: 0,
        }
    }

    /// Queues a send.
    pub fn push(&mut self, item: T) {
        self.seq += 1;
        self.len += 1;
        self.waiting
            .entry(item.key().clone())
            .or_default()
            .push_back((self.seq, item));
    }

    /// Sends waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next request's sends: those of the key whose oldest send waited
    /// longest among those free to send, then of the topic's other free
    /// keys, oldest first, as many as the limits allow.
    #[cfg(test)]
    pub fn next_batch(&mut self) -> Option<Batch<T>> {
        self.next_batch_of(usize::MAX)
    }

    /// As [`Batcher::next_batch`], with at most `at_most` sends (at least
    /// one) unless the first key's sends are FIFO: those (and explicit
    /// batches) go in as few requests as the limits allow.
    pub fn next_batch_of(&mut self, at_most: usize) -> Option<Batch<T>> {
        let first = self.oldest_free(None, &[])?;
        let fifo = self
            .waiting
            .get(&first)
            .and_then(VecDeque::front)
            .is_some_and(|(_, t)| t.ordered());
        let max_messages = if fifo {
            self.limits.max_messages
        } else {
            self.limits.max_messages.min(at_most.max(1))
        };
        let topic = Arc::clone(&first.topic);
        let mut batch = Batch {
            keys: Vec::new(),
            items: Vec::new(),
            busy: Vec::new(),
        };
        let mut bytes = 0usize;
        let mut key = Some(first);
        while let Some(k) = key {
            self.take(&k, max_messages, &mut bytes, &mut batch);
            batch.keys.push(k);
            if batch.items.len() >= max_messages {
                break;
            }
            key = self.oldest_free(Some(&topic), &batch.keys);
        }
        self.len -= batch.items.len();
        for k in &batch.busy {
            self.busy.insert(k.clone());
        }
        Some(batch)
    }

    /// The free key (of `topic`, if given; not in `except`) whose oldest
    /// send waited longest.
    fn oldest_free(&self, topic: Option<&Arc<str>>, except: &[QueueKey]) -> Option<QueueKey> {
        self.waiting
            .iter()
            .filter(|(k, q)| {
                !q.is_empty()
                    && !self.busy.contains(*k)
                    && topic.is_none_or(|t| *t == k.topic)
                    && !except.contains(k)
            })
            .min_by_key(|(_, q)| q.front().map(|(seq, _)| *seq))
            .map(|(k, _)| k.clone())
    }

    /// Moves `key`'s sends, in order, into `batch` while they fit (the
    /// first send of an empty batch always does).
    fn take(
        &mut self,
        key: &QueueKey,
        max_messages: usize,
        bytes: &mut usize,
        batch: &mut Batch<T>,
    ) {
        let Some(queue) = self.waiting.get_mut(key) else {
            return;
        };
        let mut fifo = false;
        while let Some((_, next)) = queue.front() {
            let full = batch.items.len() >= max_messages
                || bytes.saturating_add(next.size()) > self.limits.max_bytes;
            if !batch.items.is_empty() && full {
                break;
            }
            let Some((_, item)) = queue.pop_front() else {
                break;
            };
            *bytes = bytes.saturating_add(item.size());
            fifo |= item.ordered();
            batch.items.push(item);
        }
        if queue.is_empty() {
            self.waiting.remove(key);
        }
        if fifo {
            batch.busy.push(key.clone());
        }
    }

    /// Records that a batch whose FIFO keys were `busy` is answered.
    pub fn done(&mut self, busy: &[QueueKey]) {
        for k in busy {
            self.busy.remove(k);
        }
    }

    /// Takes every waiting send (to fail them at shutdown).
    pub fn drain(&mut self) -> Vec<T> {
        self.len = 0;
        self.waiting
            .drain()
            .flat_map(|(_, q)| q.into_iter().map(|(_, t)| t))
            .collect()
    }
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
