//! A topic's route as the client uses it, read from a `QueryRouteResponse`,
//! and the choice of a queue to send to. Pure: no I/O here.
//!
//! A route lists, per broker group, one `Broker{id: 0}` whose endpoints
//! are every member, leader first; queue ids are 0..n.

use std::hash::Hasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use raftmq_proto::rocketmq::v2;

use super::{ClientError, MessageQueue};

/// One broker group and its members' addresses, leader first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerGroup {
    pub name: String,
    pub addrs: Vec<String>,
}

/// One queue of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteQueue {
    pub queue: MessageQueue,
    pub readable: bool,
    pub writable: bool,
}

/// The queues of a topic and the groups that serve them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicRoute {
    pub topic: String,
    /// The topic, shared by the sends of this route.
    pub topic_key: Arc<str>,
    pub queues: Vec<RouteQueue>,
    pub groups: Vec<BrokerGroup>,
}

/// `host:port` of an address (IPv6 hosts in brackets).
pub(crate) fn address(a: &v2::Address) -> String {
    if a.host.contains(':') {
        format!("[{}]:{}", a.host, a.port)
    } else {
        format!("{}:{}", a.host, a.port)
    }
}

/// The group a `MessageQueue` of the protocol names, if it has endpoints.
pub(crate) fn broker_group(q: &v2::MessageQueue) -> Option<BrokerGroup> {
    let b = q.broker.as_ref()?;
    let addrs: Vec<String> = b
        .endpoints
        .as_ref()
        .map(|e| e.addresses.iter().map(address).collect())
        .unwrap_or_default();
    if b.name.is_empty() || addrs.is_empty() {
        return None;
    }
    Some(BrokerGroup {
        name: b.name.clone(),
        addrs,
    })
}

impl TopicRoute {
    /// Reads the queues of `topic`, keeping those of `broker.id == 0` (the
    /// member clients write to) that have addresses.
    pub fn from_proto(topic: &str, queues: &[v2::MessageQueue]) -> Result<Self, ClientError> {
        let mut route = TopicRoute {
            topic: topic.to_owned(),
            topic_key: Arc::from(topic),
            queues: Vec::new(),
            groups: Vec::new(),
        };
        for q in queues {
            if q.broker.as_ref().is_none_or(|b| b.id != 0) {
                continue;
            }
            let Some(group) = broker_group(q) else {
                continue;
            };
            let perm = v2::Permission::try_from(q.permission).unwrap_or(v2::Permission::None);
            route.queues.push(RouteQueue {
                queue: MessageQueue {
                    topic: topic.to_owned(),
                    broker: group.name.clone(),
                    queue_id: q.id,
                },
                readable: matches!(perm, v2::Permission::Read | v2::Permission::ReadWrite),
                writable: matches!(perm, v2::Permission::Write | v2::Permission::ReadWrite),
            });
            match route.groups.iter_mut().find(|g| g.name == group.name) {
                Some(g) => g.addrs = group.addrs,
                None => route.groups.push(group),
            }
        }
        if route.queues.is_empty() {
            return Err(ClientError::TopicNotFound {
                topic: topic.to_owned(),
            });
        }
        route.queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(route)
    }

    /// The queues producers may send to.
    pub fn writable(&self) -> impl Iterator<Item = &RouteQueue> {
        self.queues.iter().filter(|q| q.writable)
    }

    /// The queues consumers may read.
    pub fn readable(&self) -> impl Iterator<Item = &RouteQueue> {
        self.queues.iter().filter(|q| q.readable)
    }

    /// The groups with at least one readable queue.
    pub fn readable_groups(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.readable().map(|q| q.queue.broker.as_str()).collect();
        names.dedup();
        names
    }
}

/// Picks the queue for each send: round-robin over the writable queues,
/// or, for a FIFO message, the queue its message group hashes to.
#[derive(Debug, Default)]
pub(crate) struct QueueSelector {
    next: AtomicUsize,
}

impl QueueSelector {
    /// The queue for a message of `message_group` (if any).
    pub fn select<'a>(
        &self,
        route: &'a TopicRoute,
        message_group: Option<&str>,
    ) -> Result<&'a MessageQueue, ClientError> {
        let writable: Vec<&RouteQueue> = route.writable().collect();
        if writable.is_empty() {
            return Err(ClientError::NoQueue {
                topic: route.topic.clone(),
                what: "writable",
            });
        }
        let i = match message_group {
            Some(g) => (fnv1a(g.as_bytes()) % writable.len() as u64) as usize,
            None => self.next.fetch_add(1, Ordering::Relaxed) % writable.len(),
        };
        Ok(&writable[i].queue)
    }
}

/// FNV-1a: stable across processes and Rust versions, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(bytes);
    h.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
