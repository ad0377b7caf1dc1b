//! openraft's log storage on the store's commitlog.
//!
//! Appends go straight into the commitlog; openraft's "flushed" callback is
//! answered by the store's durability: at once under ASYNC_FLUSH (the bytes
//! are in the mapped pages), after the group fsync under SYNC_FLUSH.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use bytes::Bytes;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use parking_lot::Mutex;
use raftmq_store::commitlog::NewEntry;
use raftmq_store::config::FlushMode;
use raftmq_store::record::entry::{self, EntryKind};
use raftmq_store::{MessageStore, StoreError};

use crate::codec;
use crate::meta::RaftMeta;
use crate::types::{log_id, Entry, LogId, TypeConfig, Vote};

/// Wraps a store error for openraft, which speaks `io::Error`.
pub fn to_io(e: StoreError) -> io::Error {
    io::Error::other(e)
}

/// The log storage (and, cloned, its reader).
#[derive(Clone, Debug)]
pub struct LogStore {
    /// Tells the member's stop when openraft let go of this (hold.rs).
    _hold: Option<crate::hold::StoreHold>,
    store: Arc<MessageStore>,
    meta: Arc<RaftMeta>,
    recent: Arc<Mutex<Recent>>,
}

/// Bytes of records [`Recent`] keeps at most: the last few group commits,
/// which is as far as followers in step lag.
const RECENT_BYTES: usize = 8 << 20;

/// The newest entries, as records, kept after their append: proposed on
/// this member (replication sends them to the followers without reading
/// them back from the log, a copy and a CRC check per follower, and a
/// request of one entry sends the record itself) or received from the
/// leader (the state machine applies them without reading them back: 9%
/// of a follower's CPU under load). Consecutive indexes; an
/// entry is served only while the log holds the same index with the same
/// term, so whatever rewrote the log since (a truncation, a snapshot) is
/// never answered from here.
#[derive(Debug, Default)]
struct Recent {
    entries: VecDeque<Entry>,
    bytes: usize,
}

impl Recent {
    fn push(&mut self, entry: Entry, len: usize) {
        let index = entry.log_id_parts().1;
        if self.next_index() != Some(index) {
            self.entries.clear();
            self.bytes = 0;
        }
        self.entries.push_back(entry);
        self.bytes += len;
        while self.bytes > RECENT_BYTES {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= codec::kept_record(&old).map_or(0, Bytes::len);
        }
    }

    fn next_index(&self) -> Option<u64> {
        self.entries.back().map(|e| e.log_id_parts().1 + 1)
    }

    fn get(&self, index: u64) -> Option<&Entry> {
        let first = self.entries.front()?.log_id_parts().1;
        self.entries
            .get(usize::try_from(index.checked_sub(first)?).ok()?)
    }

    /// Forgets the entries after `index` (all with `None`).
    fn truncate_after(&mut self, index: Option<u64>) {
        while let Some(last) = self.entries.back() {
            if index.is_some_and(|i| last.log_id_parts().1 <= i) {
                break;
            }
            self.bytes -= codec::kept_record(last).map_or(0, Bytes::len);
            self.entries.pop_back();
        }
    }
}

impl LogStore {
    /// Log storage over `store`, with its Raft files in `meta`.
    pub fn new(store: Arc<MessageStore>, meta: Arc<RaftMeta>) -> Self {
        Self {
            _hold: None,
            store,
            meta,
            recent: Arc::default(),
        }
    }

    /// The same, counted by `hold` until every copy is dropped.
    pub fn with_hold(self, hold: crate::hold::StoreHold) -> Self {
        Self {
            _hold: Some(hold),
            ..self
        }
    }

    fn last_log_id(&self) -> Option<LogId> {
        let b = self.store.commitlog().bounds();
        match b.last_index() {
            Some(last) => Some(log_id(b.last_term, last.0)),
            None => self.meta.purged(),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let to = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => u64::MAX,
        };
        let log = self.store.commitlog();
        let b = log.bounds();
        let from = from.max(b.start_index);
        let to = to.min(b.next_index);
        let mut out = Vec::with_capacity(to.saturating_sub(from) as usize);
        {
            let recent = self.recent.lock();
            while (out.len() as u64) < to.saturating_sub(from) {
                let i = from + out.len() as u64;
                let Some(e) = recent.get(i) else { break };
                let same = log
                    .location(i)
                    .is_ok_and(|l| l.term == **e.log_id_parts().0);
                if !same {
                    break;
                }
                out.push(e.clone());
            }
        }
        for i in from + out.len() as u64..to {
            let e = log.read_entry(i).map_err(to_io)?;
            let entry = codec::entry_from_checked_record(e.kind, e.index.0, e.term.0, e.bytes)
                .map_err(io::Error::other)?;
            out.push(entry);
        }
        Ok(out)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.meta.vote())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        Ok(LogState {
            last_purged_log_id: self.meta.purged(),
            last_log_id: self.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.meta.save_vote(vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        self.meta.save_committed(committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        // Never past what the log holds (a torn tail may have been cut).
        let last = self.last_log_id();
        Ok(self
            .meta
            .committed()
            .filter(|c| last.is_some_and(|l| c.index <= l.index)))
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut kept = Vec::new();
        let parts: Vec<(u64, u64, EntryKind, Bytes, Option<u32>)> = entries
            .into_iter()
            .map(|mut e| {
                let (term, index) = e.log_id_parts();
                let (index, term) = (index, **term);
                let (kind, body) = codec::kind_and_body(&e);
                let crc = match codec::kept_record(&e) {
                    // Received: stored with the CRC checked on receipt, and
                    // kept for the apply that follows (no read back).
                    Some(r) => {
                        let (crc, len) = (checked_crc(r, kind, index, term), r.len());
                        kept.push((e.clone(), len));
                        crc
                    }
                    // Proposed here: framed once, kept for replication.
                    None => codec::keep_record(&mut e).map(|(crc, len)| {
                        kept.push((e, len));
                        crc
                    }),
                };
                (index, term, kind, body, crc)
            })
            .collect();
        let news: Vec<NewEntry<'_>> = parts
            .iter()
            .map(|(index, term, kind, body, crc)| NewEntry {
                index: *index,
                term: *term,
                kind: *kind,
                body,
                crc: *crc,
            })
            .collect();
        let locations = self.store.append_entries(&news).map_err(to_io)?;
        if !kept.is_empty() {
            let mut recent = self.recent.lock();
            for (e, len) in kept {
                recent.push(e, len);
            }
        }
        let end = locations.last().map(|l| l.end());
        match (end, self.store.config().flush_mode) {
            (Some(end), FlushMode::Sync) => self.store.commitlog().when_durable(
                end,
                Box::new(move |r| callback.io_completed(r.map_err(to_io))),
            ),
            _ => callback.io_completed(Ok(())),
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.recent
            .lock()
            .truncate_after(last_log_id.map(|id| id.index));
        let log = self.store.commitlog();
        match last_log_id {
            Some(id) => self.store.truncate_after(id.index).map_err(to_io),
            None => {
                let b = log.bounds();
                match b.start_index.checked_sub(1) {
                    Some(before) => self.store.truncate_after(before).map_err(to_io),
                    None if b.is_empty() => Ok(()),
                    None => log.reset_to(0).map_err(to_io),
                }
            }
        }
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.meta.save_purged(&log_id)?;
        if self.meta.take_keep(log_id.index) {
            // The entries came with the snapshot just installed: they are
            // the retained messages this member was missing.
            return Ok(());
        }
        let log = self.store.commitlog();
        let b = log.bounds();
        if log_id.index + 1 >= b.next_index {
            // Purged past everything held (a snapshot was installed): the log
            // starts again after it.
            log.reset_to(log_id.index + 1).map_err(to_io)?;
            self.store.reset_dispatch(log_id.index + 1);
        } else {
            self.store.purge_before(log_id.index + 1).map_err(to_io)?;
        }
        Ok(())
    }
}

/// The CRC of a kept record, if its header is that of this entry: a
/// follower stores what it received without computing the CRC again.
fn checked_crc(record: &[u8], kind: EntryKind, index: u64, term: u64) -> Option<u32> {
    let h = entry::decode_header(record, record.len() as u64).ok()?;
    (h.kind == kind && h.index == index && h.term == term && h.len as usize == record.len())
        .then_some(h.crc)
}

#[cfg(test)]
mod tests {
    use openraft::EntryPayload;
    use raftmq_store::message_store::OpenOptions;
    use raftmq_store::StoreConfig;

    use super::*;
    use crate::types::{DataKind, LogData};

    fn open(dir: &std::path::Path) -> LogStore {
        let store = MessageStore::open_with(
            StoreConfig::small(dir.join("store")),
            OpenOptions {
                no_background: true,
                ..OpenOptions::default()
            },
        )
        .expect("open store");
        let meta = RaftMeta::open(&dir.join("raft")).expect("open meta");
        LogStore::new(store, Arc::new(meta))
    }

    fn proposed(term: u64, index: u64, body: &'static [u8]) -> Entry {
        let data = LogData::new(DataKind::Command, Bytes::from_static(body));
        Entry::new(log_id(term, index), EntryPayload::Normal(data))
    }

    fn bodies(entries: &[Entry]) -> Vec<(u64, u64, Bytes)> {
        entries
            .iter()
            .map(|e| {
                let (term, index) = e.log_id_parts();
                (**term, index, codec::kind_and_body(e).1)
            })
            .collect()
    }

    async fn append(log: &mut LogStore, entries: Vec<Entry>) {
        log.append(entries, IOFlushed::noop())
            .await
            .expect("append");
    }

    #[tokio::test]
    async fn proposed_entries_are_read_back_as_records_until_the_log_changes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        append(
            &mut log,
            vec![
                proposed(1, 0, b"a"),
                proposed(1, 1, b"b"),
                proposed(1, 2, b"c"),
            ],
        )
        .await;
        let read = log.try_get_log_entries(0..3).await.expect("read");
        let want = |t: u64, i: u64, b: &'static [u8]| (t, i, Bytes::from_static(b));
        assert_eq!(
            bodies(&read),
            vec![want(1, 0, b"a"), want(1, 1, b"b"), want(1, 2, b"c")]
        );
        // Each carries its record, byte for byte what the log holds.
        for e in &read {
            let index = e.log_id_parts().1;
            let stored = log.store.commitlog().read_entry(index).expect("entry");
            assert_eq!(codec::kept_record(e), Some(&stored.bytes));
        }

        // A new leader's entries replace the tail: never the old ones.
        log.truncate_after(Some(log_id(1, 0)))
            .await
            .expect("truncate");
        append(&mut log, vec![proposed(2, 1, b"B"), proposed(2, 2, b"C")]).await;
        let read = log.try_get_log_entries(0..3).await.expect("read");
        assert_eq!(
            bodies(&read),
            vec![want(1, 0, b"a"), want(2, 1, b"B"), want(2, 2, b"C")]
        );

        // Rewritten behind the log store's back (as a snapshot install
        // does): what the log holds now is what is read.
        log.store.truncate_after(1).expect("truncate the store");
        let body = Bytes::from_static(b"D");
        log.store
            .append_entries(&[NewEntry {
                index: 2,
                term: 3,
                kind: EntryKind::Command,
                body: &body,
                crc: None,
            }])
            .expect("append to the store");
        let read = log.try_get_log_entries(1..3).await.expect("read");
        assert_eq!(bodies(&read), vec![want(2, 1, b"B"), want(3, 2, b"D")]);
    }

    #[tokio::test]
    async fn received_entries_are_applied_from_memory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path());
        // As a follower gets them: records framed by the leader, decoded
        // as slices of the received buffer.
        let wire = codec::encode_records(&[proposed(1, 0, b"x"), proposed(1, 1, b"y")]);
        let received = codec::decode_records(wire.clone(), 2).expect("decode");
        append(&mut log, received).await;
        let read = log.try_get_log_entries(0..2).await.expect("read");
        let want = |t: u64, i: u64, b: &'static [u8]| (t, i, Bytes::from_static(b));
        assert_eq!(bodies(&read), vec![want(1, 0, b"x"), want(1, 1, b"y")]);
        let wire_range = wire.as_ptr_range();
        for e in &read {
            let record = codec::kept_record(e).expect("a record");
            assert!(
                wire_range.contains(&record.as_ptr()),
                "served from the received buffer, not read back from the log"
            );
            let stored = log
                .store
                .commitlog()
                .read_entry(e.log_id_parts().1)
                .expect("entry");
            assert_eq!(record, &stored.bytes, "the same bytes as the log holds");
        }
    }
}
