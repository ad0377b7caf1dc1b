//! Dispatch: turning committed entries into consume-queue entries and key
//! index entries, in log order. Queue offsets are assigned here, so every
//! node that applies the same log assigns the same offsets.
//!
//! Held records (ADR 0012) go into the held index instead of a queue: a
//! timed message until a released copy of it is dispatched, a half message
//! until its transaction is committed (a released copy) or ended by a
//! command. A released copy is enqueued only if its record is still held;
//! otherwise it is dropped, and every member drops it alike.

use std::path::Path;
use std::sync::Arc;

use super::StoreCore;
use crate::commitlog::EntryLocation;
use crate::consume_queue::{ConsumeQueue, CqEntry};
use crate::error::{Result, StoreError};
use crate::key_index::{key_hash, message_id_hash, KeyPut};
use crate::mapped::write_atomic;
use crate::meta_state::{Command, Half, HeldId, HeldIndex, MetaState, Outcome};
use crate::record::entry::EntryKind;
use crate::record::message::{
    iter_batch, MessageView, FLAGS_HELD, FLAG_HALF, FLAG_RELEASE, RELEASES_PROPERTY,
};
use crate::types::{LogPos, QueueOffset};

/// Where one stored message went (results come in the order of the
/// messages put).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutResult {
    /// The entry holding it.
    pub index: u64,
    /// Its place among the entry's messages, from 0 (with `index`, the
    /// [`HeldId`] of a held record).
    pub slot: u32,
    /// Its offset in its queue.
    pub queue_offset: QueueOffset,
    /// Its record's commitlog position.
    pub pos: LogPos,
    /// Where it went.
    pub placed: Placed,
}

/// Where a dispatched message went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placed {
    /// Into its queue at `queue_offset`.
    #[default]
    Queued,
    /// Into the held index (a timed or half message); `queue_offset` is 0.
    Held,
    /// Nowhere: a released copy of a record that was no longer held
    /// (released or ended before); `queue_offset` is 0.
    Dropped,
}

/// What a held-message record means for the held index.
enum HeldRule {
    /// An ordinary message.
    None,
    /// Hold it.
    Hold,
    /// A released copy of the record named.
    Release(Option<HeldId>),
}

fn held_rule(view: &MessageView<'_>) -> HeldRule {
    let flags = view.flags();
    if flags & FLAGS_HELD == 0 {
        HeldRule::None
    } else if flags & FLAG_RELEASE != 0 {
        HeldRule::Release(
            view.property(RELEASES_PROPERTY)
                .and_then(|v| v.parse().ok()),
        )
    } else {
        HeldRule::Hold
    }
}

/// How many queues the dispatcher keeps at hand.
const RECENT_QUEUES: usize = 16;

/// The dispatcher's state; its lock orders dispatch.
#[derive(Debug)]
pub(super) struct Dispatcher {
    next_index: u64,
    /// Queues written lately, newest first: most batches go to a few
    /// queues, and a short scan beats the shared map.
    recent: Vec<Arc<ConsumeQueue>>,
    /// Topics and consumer offsets, built from command entries.
    pub(super) state: MetaState,
    /// Commands before this index are already in `state` (it was loaded
    /// from a file newer than the dispatch checkpoint).
    state_from: u64,
    /// Held records and releases before this index are already in
    /// `state.held` (as `state_from` after a restart; the sender's dispatch
    /// point after a snapshot, whose commands are replayed over it).
    held_from: u64,
    /// Bumped whenever the topic table may have changed (this member's
    /// own count, not replicated: a data version for the nameservers).
    pub(super) topics_version: u64,
    /// Messages dispatched since the store opened.
    pub(super) messages: u64,
    /// Timers held, and released (enqueued copies), since the store opened.
    pub(super) timers_in: u64,
    /// See `timers_in`.
    pub(super) timers_out: u64,
    /// Key-index entries of the entry being dispatched, put together.
    puts: Vec<KeyPut>,
    /// The entry whose dispatch failed last, if it has not been dispatched
    /// since: part of it may be in the queues and the index already.
    failed: Option<u64>,
    /// The held index before the entry being dispatched changed it (a copy
    /// that costs O(1), taken only by entries with held records).
    held_before: Option<HeldIndex>,
}

impl Dispatcher {
    pub(super) fn new(next_index: u64, state: MetaState, state_from: u64) -> Self {
        Self {
            next_index,
            recent: Vec::with_capacity(RECENT_QUEUES),
            state,
            state_from,
            held_from: state_from,
            topics_version: 1,
            messages: 0,
            timers_in: 0,
            timers_out: 0,
            puts: Vec::new(),
            failed: None,
            held_before: None,
        }
    }

    pub(super) fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Sets the next index outright (a snapshot replaced the log), with
    /// the state as of `state_index` (its held index is exact there; its
    /// commands are replayed from `next_index`).
    pub(super) fn reset_to(&mut self, next_index: u64, state: MetaState, state_index: u64) {
        self.next_index = next_index;
        self.recent.clear();
        self.state = state;
        self.state_from = next_index;
        self.held_from = state_index;
        self.topics_version += 1;
    }

    /// Moves past entries that are no longer in the log.
    pub(super) fn skip_to(&mut self, start_index: u64) {
        self.next_index = self.next_index.max(start_index);
        self.state.held.forget_dropped_before(start_index);
    }

    /// Applies a held record's rule to the held index (when `track`, else
    /// the index has it already) and says where the record goes.
    fn place(&mut self, view: &MessageView<'_>, id: HeldId, track: bool) -> Placed {
        let rule = held_rule(view);
        if track && !matches!(rule, HeldRule::None) && self.held_before.is_none() {
            self.held_before = Some(self.state.held.clone());
        }
        let held = &mut self.state.held;
        match rule {
            HeldRule::None => Placed::Queued,
            HeldRule::Hold => {
                if track {
                    if view.flags() & FLAG_HALF != 0 {
                        let half = Half {
                            topic: view.topic().to_owned(),
                            stored_ms: view.store_timestamp_ms(),
                            checks: 0,
                            last_check_ms: 0,
                        };
                        held.halves.insert(id, half);
                    } else {
                        let due = view
                            .delivery_timestamp_ms()
                            .unwrap_or_else(|| view.store_timestamp_ms());
                        held.timers.insert((due, id));
                        self.timers_in += 1;
                    }
                }
                Placed::Held
            }
            HeldRule::Release(origin) => {
                let live = if !track {
                    !held.dropped.contains(&id)
                } else if let Some(origin) = origin {
                    if view.flags() & FLAG_HALF != 0 {
                        held.end(origin, Outcome::Committed)
                    } else {
                        let due = view
                            .delivery_timestamp_ms()
                            .unwrap_or_else(|| view.store_timestamp_ms());
                        let released = held.timers.remove(&(due, origin)).is_some();
                        self.timers_out += u64::from(released);
                        released
                    }
                } else {
                    false
                };
                if live {
                    Placed::Queued
                } else {
                    if track {
                        held.dropped.insert(id);
                    }
                    Placed::Dropped
                }
            }
        }
    }

    fn queue(
        &mut self,
        store: &StoreCore,
        topic: &str,
        queue_id: u32,
    ) -> Result<Arc<ConsumeQueue>> {
        if let Some(q) = self
            .recent
            .iter()
            .find(|q| q.queue_id() == queue_id && q.topic() == topic)
        {
            return Ok(Arc::clone(q));
        }
        let q = store.queues.get_or_create(topic, queue_id)?;
        if self.recent.len() == RECENT_QUEUES {
            self.recent.pop();
        }
        self.recent.insert(0, Arc::clone(&q));
        Ok(q)
    }

    /// Dispatches the entry at `loc`, which must be the next one. With
    /// `replay`, messages the queues and index already hold are skipped.
    pub(super) fn dispatch(
        &mut self,
        store: &StoreCore,
        loc: &EntryLocation,
        kind: EntryKind,
        body: &[u8],
        replay: bool,
        out: Option<&mut Vec<PutResult>>,
    ) -> Result<()> {
        if loc.index != self.next_index {
            return Err(StoreError::NonContiguous {
                got: crate::types::LogIndex(loc.index),
                expected_after: self.next_index.checked_sub(1).map(crate::types::LogIndex),
            });
        }
        if kind == EntryKind::Command && loc.index >= self.state_from {
            let cmd = Command::decode(body).map_err(|reason| StoreError::Corrupt {
                path: "commitlog".into(),
                offset: loc.pos,
                reason: format!("command entry {}: {reason}", loc.index),
            })?;
            if !matches!(
                cmd,
                Command::CommitOffsets { .. }
                    | Command::UpsertGroup { .. }
                    | Command::DeleteGroup { .. }
            ) {
                self.topics_version += 1;
            }
            self.state.apply(cmd);
        }
        if kind == EntryKind::Messages {
            // Dispatched again after failing part way, an entry is a replay.
            let replay = replay || self.failed == Some(loc.index);
            let result = self.dispatch_messages(store, loc, body, replay, out);
            self.failed = result.is_err().then_some(loc.index);
            // The held index changed with the entry's records: put it back
            // if the entry failed part way, so that its retry applies them
            // once.
            if let Some(before) = self.held_before.take() {
                if result.is_err() {
                    self.state.held = before;
                }
            }
            result?;
        }
        self.next_index = loc.index + 1;
        Ok(())
    }

    fn dispatch_messages(
        &mut self,
        store: &StoreCore,
        loc: &EntryLocation,
        body: &[u8],
        replay: bool,
        mut out: Option<&mut Vec<PutResult>>,
    ) -> Result<()> {
        self.puts.clear();
        let keys_end = if replay { store.keys.end_pos() } else { None };
        let track = loc.index >= self.held_from;
        for (slot, item) in iter_batch(body).enumerate() {
            let (off, view) = item.map_err(|source| StoreError::Message {
                pos: LogPos(loc.body_pos()),
                source,
            })?;
            let pos = loc.body_pos() + off as u64;
            let ts = view.store_timestamp_ms();
            let id = HeldId {
                index: loc.index,
                slot: u32::try_from(slot).unwrap_or(u32::MAX),
            };
            let placed = self.place(&view, id, track);
            let queue_offset = if placed != Placed::Queued {
                QueueOffset(0)
            } else {
                let q = self.queue(store, view.topic(), view.queue_id())?;
                let in_queue = replay && q.last_pos()?.is_some_and(|last| last >= pos);
                if in_queue {
                    q.offset_at_pos(pos)?
                } else {
                    q.append(&CqEntry {
                        pos,
                        size: view.encoded_len() as u32,
                        tag_hash: view.tag_hash(),
                        store_ts_ms: ts,
                    })?
                }
            };
            if placed != Placed::Dropped && keys_end.is_none_or(|end| end <= pos) {
                let first = self.puts.len();
                self.puts.extend(view.keys().map(|key| KeyPut {
                    hash: key_hash(view.topic(), key),
                    pos,
                    ts,
                }));
                if !view.message_id().is_empty() {
                    self.puts.push(KeyPut {
                        hash: message_id_hash(view.message_id()),
                        pos,
                        ts,
                    });
                }
                if keys_end == Some(pos) {
                    // A failed write may have cut the last message indexed
                    // off between its keys: put the rest.
                    let these = self.puts.split_off(first);
                    let missing = these.into_iter().filter(|p| !store.keys.holds(p.hash, pos));
                    self.puts.extend(missing);
                }
            }
            self.messages += 1;
            if let Some(out) = out.as_deref_mut() {
                out.push(PutResult {
                    index: loc.index,
                    slot: id.slot,
                    queue_offset,
                    pos: LogPos(pos),
                    placed,
                });
            }
        }
        store.keys.put_many(&self.puts)
    }
}

/// `<root>/dispatch.checkpoint`: every entry before `next_index` is durable
/// in the consume queues and the key index.
///
/// ```text
///  0      4   5     8            16     20
///  +------+---+-----+------------+------+
///  |magic |ver| pad | next_index | crc  |
///  +------+---+-----+------------+------+
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DispatchCheckpoint {
    pub(super) next_index: u64,
}

const MAGIC: u32 = u32::from_le_bytes(*b"RMQD");

impl DispatchCheckpoint {
    pub(super) fn load(path: &Path) -> Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(path, "read", e)),
        };
        let ok = bytes.len() == 20
            && bytes[0..4] == MAGIC.to_le_bytes()
            && bytes[4] == 1
            && bytes[16..20] == crc32fast::hash(&bytes[..16]).to_le_bytes();
        if !ok {
            // Derived data: a bad checkpoint only costs a longer replay.
            tracing::warn!(path = %path.display(), "dispatch checkpoint unreadable; replaying the whole log");
            return Ok(None);
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[8..16]);
        Ok(Some(Self {
            next_index: u64::from_le_bytes(w),
        }))
    }

    pub(super) fn store(&self, path: &Path) -> Result<()> {
        let mut b = [0u8; 20];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4] = 1;
        b[8..16].copy_from_slice(&self.next_index.to_le_bytes());
        let crc = crc32fast::hash(&b[..16]);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        write_atomic(path, &b)
    }
}
