//! Orderly consumption in the push consumer: when the server says the
//! group is FIFO (`Settings.subscription.fifo`), messages of one message
//! group (of one queue) go through the listener one at a time, in the order
//! they arrive.
//!
//! The broker already hands out one message of a group at a time and the
//! next only after the ack; a lane is for what reaches the client anyway:
//! a message delivered again (its invisible time ran out, or a new leader
//! took over) while a worker still runs the listener on it or on its
//! predecessor. That one waits in the lane instead of running beside it.
//!
//! ```text
//!   worker takes m ── lane of m free? ──yes──► listener(m), settle, then the next waiting in the lane
//!                                    └──no───► m waits in the lane; the worker takes another message
//! ```

use std::collections::{HashMap, VecDeque};

use super::ReceivedMessage;

/// The order unit of a message: its queue and its message group (none:
/// the queue's messages without a group, which the broker keeps in queue
/// order).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LaneKey {
    broker: String,
    topic: String,
    queue_id: i32,
    group: Option<String>,
}

impl LaneKey {
    pub fn of(m: &ReceivedMessage) -> Self {
        Self {
            broker: m.broker().to_owned(),
            topic: m.topic().to_owned(),
            queue_id: m.queue_id(),
            group: m
                .message_group()
                .filter(|g| !g.is_empty())
                .map(str::to_owned),
        }
    }
}

/// The lanes with a message in the listener, and what waits in each.
#[derive(Debug, Default)]
pub(crate) struct Lanes {
    busy: HashMap<LaneKey, VecDeque<ReceivedMessage>>,
}

impl Lanes {
    /// `m` if its lane is free (the lane is busy with it from now on:
    /// call [`Lanes::done`] after it), `None` if it waits behind the
    /// message in its lane.
    pub fn enter(&mut self, m: ReceivedMessage) -> Option<ReceivedMessage> {
        match self.busy.get_mut(&LaneKey::of(&m)) {
            Some(waiting) => {
                waiting.push_back(m);
                None
            }
            None => {
                self.busy.insert(LaneKey::of(&m), VecDeque::new());
                Some(m)
            }
        }
    }

    /// The lane `key` finished its message: the next waiting in it (the
    /// lane stays busy with that one), or `None` (the lane is free).
    pub fn done(&mut self, key: &LaneKey) -> Option<ReceivedMessage> {
        let waiting = self.busy.get_mut(key)?;
        let next = waiting.pop_front();
        if next.is_none() {
            self.busy.remove(key);
        }
        next
    }

    /// Messages waiting in lanes.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.busy.values().map(VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::convert::resource;
    use bytes::Bytes;
    use raftmq_proto::rocketmq::v2;

    fn msg(id: &str, queue: i32, group: Option<&str>) -> ReceivedMessage {
        let m = v2::Message {
            topic: Some(resource("T")),
            user_properties: Default::default(),
            system_properties: Some(v2::SystemProperties {
                message_id: id.into(),
                queue_id: queue,
                message_group: group.map(str::to_owned),
                ..Default::default()
            }),
            body: Bytes::new(),
        };
        ReceivedMessage::from_proto(m, "g0").expect("a message")
    }

    #[test]
    fn a_group_goes_one_at_a_time_in_arrival_order_and_others_pass() {
        let mut lanes = Lanes::default();
        let a1 = lanes.enter(msg("a1", 0, Some("a"))).expect("lane a free");
        assert!(lanes.enter(msg("a2", 0, Some("a"))).is_none());
        assert!(lanes.enter(msg("a3", 0, Some("a"))).is_none());
        // Another group, the same group on another queue, no group: free.
        assert!(lanes.enter(msg("b1", 0, Some("b"))).is_some());
        assert!(lanes.enter(msg("a1'", 1, Some("a"))).is_some());
        assert!(lanes.enter(msg("n1", 0, None)).is_some());
        assert!(lanes.enter(msg("n2", 0, Some(""))).is_none());
        assert_eq!(lanes.waiting(), 3);
        let key = LaneKey::of(&a1);
        assert_eq!(
            lanes.done(&key).map(|m| m.message_id().to_owned()),
            Some("a2".into())
        );
        assert_eq!(
            lanes.done(&key).map(|m| m.message_id().to_owned()),
            Some("a3".into())
        );
        assert!(lanes.done(&key).is_none());
        // Free again.
        assert!(lanes.enter(msg("a4", 0, Some("a"))).is_some());
    }
}
