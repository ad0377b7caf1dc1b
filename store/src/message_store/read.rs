//! Reading messages back: by queue offset, by key, by message id, by time.

use bytes::Bytes;

use super::StoreCore;
use crate::consume_queue::MessageFilter;
use crate::error::{Result, StoreError};
use crate::record::message::{peek_len, Message, MessageCodecError, MessageView, TOTAL_LEN_OFFSET};
use crate::types::{LogPos, QueueOffset};

/// How many consume-queue entries one read may pass over while filtering.
const MAX_SCAN: usize = 16 * 1024;
/// Index candidates read per message id (hash collisions are rare).
const ID_CANDIDATES: usize = 16;

/// A message as stored: its record bytes, decoded on demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its queue offset (None when found by key or id, not via a queue).
    pub queue_offset: Option<QueueOffset>,
    /// Its commitlog position.
    pub pos: LogPos,
    /// The record.
    pub record: Bytes,
}

impl StoredMessage {
    /// A zero-copy view of the record.
    pub fn view(&self) -> std::result::Result<MessageView<'_>, MessageCodecError> {
        MessageView::decode(&self.record)
    }

    /// The message, owned.
    pub fn to_message(&self) -> Result<Message> {
        self.view()
            .map(|v| v.to_message())
            .map_err(|source| StoreError::Message {
                pos: self.pos,
                source,
            })
    }
}

/// What one queue read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBatch {
    /// Matching messages, in offset order.
    pub messages: Vec<StoredMessage>,
    /// Where the next read should start.
    pub next_offset: QueueOffset,
    /// The queue's lowest and next offsets at the time of the read.
    pub min_offset: QueueOffset,
    /// See `min_offset`.
    pub max_offset: QueueOffset,
}

impl StoreCore {
    /// The record bytes at `pos`; decoding (and so checking) them is left
    /// to the caller, who decodes anyway.
    fn record_at(&self, pos: u64, len: usize) -> Result<Bytes> {
        self.log.read(pos, len)
    }

    /// The message at `offset` of a queue.
    pub fn read_message(
        &self,
        topic: &str,
        queue_id: u32,
        offset: QueueOffset,
    ) -> Result<StoredMessage> {
        let q = self
            .queues
            .get(topic, queue_id)
            .ok_or_else(|| StoreError::QueueOffsetPastEnd {
                topic: topic.to_owned(),
                queue_id,
                offset,
                max: QueueOffset(0),
            })?;
        let e = q.get(offset)?;
        Ok(StoredMessage {
            queue_offset: Some(offset),
            pos: LogPos(e.pos),
            record: self.record_at(e.pos, e.size as usize)?,
        })
    }

    /// Up to `max` messages of a queue from `from` that pass `filter`
    /// (by tag hash in the queue, then exactly, on the record in place:
    /// only the messages kept are copied out). Offsets below the queue's
    /// minimum start at the minimum; an empty batch at the end is normal,
    /// and so is one that passed over entries that did not match.
    pub fn read_messages<F: MessageFilter + ?Sized>(
        &self,
        topic: &str,
        queue_id: u32,
        from: QueueOffset,
        max: usize,
        filter: &F,
    ) -> Result<ReadBatch> {
        let Some(q) = self.queues.get(topic, queue_id) else {
            return Ok(ReadBatch {
                messages: Vec::new(),
                next_offset: from,
                min_offset: QueueOffset(0),
                max_offset: QueueOffset(0),
            });
        };
        let (min, maxo) = (q.min_offset(), q.max_offset());
        let mut messages = Vec::new();
        let mut next = QueueOffset(from.0.max(min.0));
        let mut budget = MAX_SCAN;
        // Entries that pass the hash but not the exact check leave room in
        // the batch: scan on until it is full, the queue ends, or MAX_SCAN
        // entries were looked at.
        while messages.len() < max && budget > 0 {
            let (found, after) = q.scan(next, max - messages.len(), budget, filter)?;
            let looked_at = after.0.saturating_sub(next.0);
            budget = budget.saturating_sub(usize::try_from(looked_at).unwrap_or(usize::MAX));
            let at_end = after <= next || found.is_empty();
            next = after;
            for (offset, e) in found {
                if filter.needs_message() {
                    let keep = self
                        .log
                        .read_with(e.pos, e.size as usize, |record| {
                            MessageView::decode(record).map(|view| filter.matches_message(&view))
                        })?
                        .map_err(|source| StoreError::Message {
                            pos: LogPos(e.pos),
                            source,
                        })?;
                    if !keep {
                        continue;
                    }
                }
                let record = self.record_at(e.pos, e.size as usize)?;
                messages.push(StoredMessage {
                    queue_offset: Some(offset),
                    pos: LogPos(e.pos),
                    record,
                });
            }
            if at_end {
                break;
            }
        }
        self.messages_read
            .fetch_add(messages.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(ReadBatch {
            messages,
            next_offset: next,
            min_offset: min,
            max_offset: maxo,
        })
    }

    /// When the oldest retained message was stored (ms since the epoch),
    /// from the first message entry among the log's first few entries;
    /// `None` for a log without messages there.
    pub fn oldest_message_time_ms(&self) -> Option<i64> {
        const LOOK_AT: u64 = 16;
        let b = self.log.bounds();
        (b.start_index..b.next_index.min(b.start_index + LOOK_AT)).find_map(|index| {
            let entry = self.log.read_entry(index).ok()?;
            if entry.kind != crate::record::entry::EntryKind::Messages {
                return None;
            }
            let body = entry.body();
            let (_, view) = crate::record::message::iter_batch(&body).next()?.ok()?;
            Some(view.store_timestamp_ms())
        })
    }

    /// (min, max) offsets of a queue; (0, 0) for a queue never written.
    pub fn queue_offsets(&self, topic: &str, queue_id: u32) -> (QueueOffset, QueueOffset) {
        self.queues
            .get(topic, queue_id)
            .map_or((QueueOffset(0), QueueOffset(0)), |q| {
                (q.min_offset(), q.max_offset())
            })
    }

    /// The first offset of a queue stored at or after `ts_ms`.
    pub fn offset_at_time(&self, topic: &str, queue_id: u32, ts_ms: i64) -> Result<QueueOffset> {
        match self.queues.get(topic, queue_id) {
            Some(q) => q.offset_at_time(ts_ms),
            None => Ok(QueueOffset(0)),
        }
    }

    fn record_by_pos(&self, pos: u64) -> Result<Option<StoredMessage>> {
        let mut head = [0u8; 4];
        match self.log.read_with(pos + TOTAL_LEN_OFFSET as u64, 4, |b| {
            head.copy_from_slice(b)
        }) {
            Ok(()) => {}
            Err(StoreError::OffsetBelowLogStart { .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = peek_len(&head).map_err(|source| StoreError::Message {
            pos: LogPos(pos),
            source,
        })?;
        Ok(Some(StoredMessage {
            queue_offset: None,
            pos: LogPos(pos),
            record: self.record_at(pos, len)?,
        }))
    }

    /// Messages of `topic` carrying `key`, newest first, at most `max`.
    pub fn query_by_key(&self, topic: &str, key: &str, max: usize) -> Result<Vec<StoredMessage>> {
        let mut out = Vec::new();
        for pos in self
            .keys
            .lookup_key(topic, key, max.saturating_mul(2).max(16))
        {
            if out.len() >= max {
                break;
            }
            if let Some(m) = self.record_by_pos(pos)? {
                let v = m
                    .view()
                    .map_err(|source| StoreError::Message { pos: m.pos, source })?;
                if v.topic() == topic && v.keys().any(|k| k == key) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// The message with this id, if retained.
    pub fn query_by_id(&self, id: &str) -> Result<Option<StoredMessage>> {
        self.first_with_id(id, self.keys.lookup_message_id(id, ID_CANDIDATES))
    }

    /// [`StoreCore::query_by_id`] for each of `ids`, in one index lookup.
    pub fn query_by_ids(&self, ids: &[&str]) -> Vec<Result<Option<StoredMessage>>> {
        let candidates = self.keys.lookup_message_ids(ids, ID_CANDIDATES);
        ids.iter()
            .zip(candidates)
            .map(|(id, positions)| self.first_with_id(id, positions))
            .collect()
    }

    /// The first message among `positions` whose id is `id` (the index
    /// keeps hashes, so a candidate may be another message).
    fn first_with_id(&self, id: &str, positions: Vec<u64>) -> Result<Option<StoredMessage>> {
        for pos in positions {
            if let Some(m) = self.record_by_pos(pos)? {
                let v = m
                    .view()
                    .map_err(|source| StoreError::Message { pos: m.pos, source })?;
                if v.message_id() == id {
                    return Ok(Some(m));
                }
            }
        }
        Ok(None)
    }
}
