//! One message as a consumer received it or the audit read it, and the
//! duplicate rule the held workloads share.
//!
//! A position is `(broker/queue_id, queue offset)`. The same position seen
//! again is a redelivery (allowed); one message id at two positions is a
//! message made visible twice (a release or a commit taking effect twice:
//! always a violation); one value at two positions under two message ids
//! is our own retry stored twice (the timer workload allows it after a
//! failed attempt; a transaction is never retried, so never).

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use raftmq_client::sdk::ReceivedMessage;

/// One message seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The body: the workload's value.
    pub value: String,
    /// The message id the broker gave it.
    pub message_id: String,
    /// `broker/queue_id`.
    pub queue: String,
    /// Its queue offset.
    pub offset: i64,
    /// When it was seen (this machine's clock).
    pub at: SystemTime,
}

impl Delivery {
    /// `m` as seen now.
    pub fn of(m: &ReceivedMessage) -> Delivery {
        Delivery {
            value: String::from_utf8_lossy(m.body()).into_owned(),
            message_id: m.message_id().to_owned(),
            queue: format!("{}/{}", m.broker(), m.queue_id()),
            offset: m.queue_offset(),
            at: SystemTime::now(),
        }
    }
}

/// What [`doubles`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Doubles {
    /// Message ids seen at two or more positions.
    pub same_id: BTreeSet<String>,
    /// Values seen at two or more positions under different message ids.
    pub same_value: BTreeSet<String>,
}

/// The message ids and values of `seen` that sit at more than one position.
pub fn doubles<'a>(seen: impl IntoIterator<Item = &'a Delivery>) -> Doubles {
    let mut by_id: BTreeMap<&str, BTreeSet<(&str, i64)>> = BTreeMap::new();
    let mut by_value: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for d in seen {
        by_id
            .entry(&d.message_id)
            .or_default()
            .insert((&d.queue, d.offset));
        by_value.entry(&d.value).or_default().insert(&d.message_id);
    }
    Doubles {
        same_id: by_id
            .into_iter()
            .filter(|(_, at)| at.len() > 1)
            .map(|(id, _)| id.to_owned())
            .collect(),
        same_value: by_value
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(v, _)| v.to_owned())
            .collect(),
    }
}

/// Counts `error` under its first 60 characters.
pub fn count_error(kinds: &mut BTreeMap<String, u64>, error: &str) {
    *kinds.entry(error.chars().take(60).collect()).or_default() += 1;
}

/// The most frequent error kinds, for a report line.
pub fn top_errors(kinds: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = kinds.iter().map(|(k, n)| (k.clone(), *n)).collect();
    all.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    all.truncate(3);
    all
}

/// Audit offsets that are not 0, 1, 2, ... in their queue.
pub fn offset_gaps(queues: &BTreeMap<String, Vec<Delivery>>) -> usize {
    queues
        .values()
        .map(|q| {
            q.iter()
                .enumerate()
                .filter(|(i, d)| d.offset != *i as i64)
                .count()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(value: &str, id: &str, queue: &str, offset: i64) -> Delivery {
        Delivery {
            value: value.into(),
            message_id: id.into(),
            queue: queue.into(),
            offset,
            at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_redelivery_is_no_double_but_a_second_position_is() {
        let d = doubles(&[
            seen("a", "M1", "b/0", 3),
            seen("a", "M1", "b/0", 3),
            seen("b", "M2", "b/0", 4),
            seen("b", "M2", "b/1", 9),
            seen("c", "M3", "b/0", 5),
            seen("c", "M4", "b/1", 10),
        ]);
        assert_eq!(d.same_id, BTreeSet::from(["M2".to_owned()]));
        assert_eq!(d.same_value, BTreeSet::from(["c".to_owned()]));
    }
}
