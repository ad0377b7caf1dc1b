//! What the broker asks of the held index (ADR 0012): which timers are
//! due, which half messages wait, how a transaction ended, and the held
//! records themselves.

use bytes::Bytes;

use super::read::StoredMessage;
use super::StoreCore;
use crate::error::{Result, StoreError};
use crate::meta_state::{Half, HeldId, HeldIndex, Outcome};
use crate::record::entry::{self, EntryKind, HEADER_LEN};
use crate::record::message::peek_len;
use crate::types::LogPos;

/// Pending timers and how late the earliest is, for `clusterList`'s
/// `#Timer(Progress)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerProgress {
    /// Timers held.
    pub pending: usize,
    /// How far past its due time the earliest pending timer is, ms (0 when
    /// none is overdue).
    pub behind_ms: i64,
    /// Timers held since the store opened.
    pub held_total: u64,
    /// Timers released (copies enqueued) since the store opened.
    pub released_total: u64,
}

impl StoreCore {
    /// The held index as applied so far (a copy that costs O(1)).
    pub fn held(&self) -> HeldIndex {
        self.dispatcher.lock().state.held.clone()
    }

    /// The earliest due time of a pending timer.
    pub fn next_timer_due(&self) -> Option<i64> {
        self.dispatcher
            .lock()
            .state
            .held
            .timers
            .get_min()
            .map(|(due, _)| *due)
    }

    /// Up to `max` timers due at or before `now_ms`, earliest first.
    pub fn due_timers(&self, now_ms: i64, max: usize) -> Vec<(i64, HeldId)> {
        let d = self.dispatcher.lock();
        d.state
            .held
            .timers
            .iter()
            .take_while(|(due, _)| *due <= now_ms)
            .take(max)
            .copied()
            .collect()
    }

    /// Pending timers and how late the earliest is at `now_ms`.
    pub fn timer_progress(&self, now_ms: i64) -> TimerProgress {
        let d = self.dispatcher.lock();
        let timers = &d.state.held.timers;
        TimerProgress {
            pending: timers.len(),
            behind_ms: timers
                .get_min()
                .map_or(0, |(due, _)| now_ms.saturating_sub(*due).max(0)),
            held_total: d.timers_in,
            released_total: d.timers_out,
        }
    }

    /// The half message `id`, while its transaction is open.
    pub fn half(&self, id: HeldId) -> Option<Half> {
        self.dispatcher.lock().state.held.halves.get(&id).cloned()
    }

    /// How the transaction of half message `id` ended, if it did lately
    /// (the newest [`crate::meta_state::ENDED_KEPT`] are remembered).
    pub fn transaction_outcome(&self, id: HeldId) -> Option<Outcome> {
        self.dispatcher.lock().state.held.ended.get(&id).copied()
    }

    /// The record `id` names: the `slot`th message of entry `index`. None
    /// when the entry is no longer (or not yet) in the log, or holds no
    /// such message. Reads the record alone, in place: the entry was checked
    /// when it was appended, as a consume queue's reads trust it.
    pub fn read_held(&self, id: HeldId) -> Result<Option<StoredMessage>> {
        let found = self.in_entry(id.index, |body, body_pos| {
            let Some((_, at, len)) = walk(body, body_pos, |slot, _| slot == id.slot as usize)?
            else {
                return Ok(None);
            };
            let record = body.get(at..at + len).ok_or_else(|| StoreError::Corrupt {
                path: "commitlog".into(),
                offset: body_pos + at as u64,
                reason: format!("record {id} runs past its entry"),
            })?;
            Ok(Some((body_pos + at as u64, Bytes::copy_from_slice(record))))
        })?;
        Ok(found.flatten().map(|(pos, record)| StoredMessage {
            queue_offset: None,
            pos: LogPos(pos),
            record,
        }))
    }

    /// Runs `f` on the body of message entry `index` (and where the body
    /// starts in the log), in place; None when the entry is not in the log
    /// or holds no messages.
    fn in_entry<R>(
        &self,
        index: u64,
        f: impl FnOnce(&[u8], u64) -> Result<R>,
    ) -> Result<Option<R>> {
        let b = self.log.bounds();
        if index < b.start_index || index >= b.next_index {
            return Ok(None);
        }
        let loc = self.log.location(index)?;
        let body_pos = loc.body_pos();
        self.log.read_with(loc.pos, loc.len as usize, |entry| {
            let header = entry::decode_header(entry, entry.len() as u64).map_err(|d| {
                StoreError::Corrupt {
                    path: "commitlog".into(),
                    offset: loc.pos,
                    reason: format!("entry {index}: {d}"),
                }
            })?;
            if header.kind != EntryKind::Messages {
                return Ok(None);
            }
            f(entry.get(HEADER_LEN..).unwrap_or_default(), body_pos).map(Some)
        })?
    }
}

/// Walks the records of a message entry's `body` (at `body_pos` in the
/// log) by their lengths alone, no decoding: the (slot, offset, length) of
/// the first record for which `hit(slot, offset)` holds; None past the last.
fn walk(
    body: &[u8],
    body_pos: u64,
    mut hit: impl FnMut(usize, usize) -> bool,
) -> Result<Option<(usize, usize, usize)>> {
    let mut at = 0usize;
    for slot in 0.. {
        let Some(rest) = body.get(at..).filter(|r| !r.is_empty()) else {
            return Ok(None);
        };
        let len = peek_len(rest).map_err(|source| StoreError::Message {
            pos: LogPos(body_pos + at as u64),
            source,
        })?;
        if hit(slot, at) {
            return Ok(Some((slot, at, len)));
        }
        at += len;
    }
    Ok(None)
}

impl StoreCore {
    /// The id of the record at `pos` (a message found by its message id),
    /// if `pos` starts a message in the log.
    pub fn held_id_at(&self, pos: LogPos) -> Result<Option<HeldId>> {
        let b = self.log.bounds();
        if pos.0 < b.start_pos || pos.0 >= b.end_pos || b.start_index >= b.next_index {
            return Ok(None);
        }
        // The last entry that starts at or before `pos`.
        let (mut lo, mut hi) = (b.start_index, b.next_index);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.log.location(mid)?.pos <= pos.0 {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let Some(index) = lo.checked_sub(1).filter(|i| *i >= b.start_index) else {
            return Ok(None);
        };
        let target = pos.0;
        let found = self.in_entry(index, |body, body_pos| {
            // Records past `pos` cannot start at it: stop at the first
            // at or past it.
            let reached = |_, at: usize| body_pos + at as u64 >= target;
            Ok(walk(body, body_pos, reached)?.filter(|(_, at, _)| body_pos + *at as u64 == target))
        })?;
        let Some(Some((slot, _, _))) = found else {
            return Ok(None);
        };
        let slot = u32::try_from(slot).unwrap_or(u32::MAX);
        Ok(Some(HeldId { index, slot }))
    }
}
