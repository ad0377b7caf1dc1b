//! What a member that lost its data, or fell behind the leader's log start,
//! needs to get every retained message: where the leader's log starts, the
//! queue offset each queue has there, and the retained entries themselves.
//! The entries are installed as they are, so the member's queues assign
//! the same offsets as the leader's.

use super::StoreCore;
use crate::commitlog::NewEntry;
use crate::error::{Result, StoreError};
use crate::meta_state::MetaState;
use crate::record::entry::{self, HEADER_LEN};

/// Where the retained log starts, and each queue's offset there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotPlan {
    /// First retained entry.
    pub start_index: u64,
    /// (topic, queue id, queue offset of its first retained message).
    pub queue_bases: Vec<(String, u32, u64)>,
    /// Topics and consumer offsets as of `start_index` (commands from it on
    /// come with the entries), and the held index as of `state_index`.
    pub state: MetaState,
    /// The sender's dispatch point when the plan was made: `state`'s held
    /// index includes every entry before it.
    pub state_index: u64,
}

impl StoreCore {
    /// The plan of a snapshot taken now. The state it carries is the
    /// current one, not the one at the log start: the receiver replays the
    /// retained commands over it and then the entries that follow the
    /// snapshot, and since every command sets values outright (upserts,
    /// deletes, offset commits), it ends exactly where the sender is.
    pub fn snapshot_plan(&self) -> SnapshotPlan {
        // Dispatch and purge both hold the dispatcher or change the start
        // under it; holding it keeps the start and the bases consistent.
        let d = self.dispatcher.lock();
        let start_index = self.log.bounds().start_index;
        let mut queue_bases: Vec<(String, u32, u64)> = self
            .queues
            .all()
            .into_iter()
            .map(|q| (q.topic().to_owned(), q.queue_id(), q.min_offset().0))
            .collect();
        queue_bases.sort();
        SnapshotPlan {
            start_index,
            queue_bases,
            state: d.state.clone(),
            state_index: d.next_index(),
        }
    }

    /// Replaces everything this store holds with a snapshot: the log becomes
    /// `records` (entries laid end to end as stored, starting at
    /// `plan.start_index`), each queue starts at its base, and the entries
    /// are dispatched. Returns the last installed index.
    pub fn install_snapshot(&self, plan: &SnapshotPlan, records: &[u8]) -> Result<Option<u64>> {
        let mut entries = Vec::new();
        let mut at = 0usize;
        while at < records.len() {
            let rest = &records[at..];
            let bad = |reason: String| StoreError::Corrupt {
                path: "snapshot".into(),
                offset: at as u64,
                reason,
            };
            let h =
                entry::decode_header(rest, rest.len() as u64).map_err(|d| bad(d.to_string()))?;
            let len = h.len as usize;
            entry::verify(&h, &rest[..len]).map_err(|d| bad(d.to_string()))?;
            let expected = plan.start_index + entries.len() as u64;
            if h.index != expected {
                return Err(bad(format!(
                    "entry {} where {expected} was expected",
                    h.index
                )));
            }
            entries.push(NewEntry {
                index: h.index,
                term: h.term,
                kind: h.kind,
                body: &rest[HEADER_LEN..len],
                crc: Some(h.crc),
            });
            at += len;
        }
        let mut d = self.dispatcher.lock();
        self.queues.remove_all()?;
        self.keys.truncate_from(0)?;
        self.log.reset_to(plan.start_index)?;
        for chunk in entries.chunks(256) {
            self.log.append_replicated(chunk)?;
        }
        for (topic, queue_id, base) in &plan.queue_bases {
            self.queues
                .get_or_create(topic, *queue_id)?
                .start_at(*base)?;
        }
        d.reset_to(plan.start_index, plan.state.clone(), plan.state_index);
        let end = plan.start_index + entries.len() as u64;
        self.dispatch_locked(&mut d, end, false, None)?;
        Ok(end.checked_sub(1).filter(|_| !entries.is_empty()))
    }
}
