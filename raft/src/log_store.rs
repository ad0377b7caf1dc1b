//! openraft's log storage on the store's commitlog.
//!
//! Appends go straight into the commitlog; openraft's "flushed" callback is
//! answered by the store's durability: at once under ASYNC_FLUSH (the bytes
//! are in the mapped pages), after the group fsync under SYNC_FLUSH.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use raftmq_store::commitlog::NewEntry;
use raftmq_store::config::FlushMode;
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
    store: Arc<MessageStore>,
    meta: Arc<RaftMeta>,
}

impl LogStore {
    /// Log storage over `store`, with its Raft files in `meta`.
    pub fn new(store: Arc<MessageStore>, meta: Arc<RaftMeta>) -> Self {
        Self { store, meta }
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
        for i in from..to {
            let e = log.read_entry(i).map_err(to_io)?;
            let entry = codec::entry_from_record(e.kind, e.index.0, e.term.0, e.body())
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
        let parts: Vec<(
            u64,
            u64,
            raftmq_store::record::entry::EntryKind,
            bytes::Bytes,
        )> = entries
            .into_iter()
            .map(|e| {
                let (term, index) = e.log_id_parts();
                let (kind, body) = codec::kind_and_body(&e);
                (index, **term, kind, body)
            })
            .collect();
        let news: Vec<NewEntry<'_>> = parts
            .iter()
            .map(|(index, term, kind, body)| NewEntry {
                index: *index,
                term: *term,
                kind: *kind,
                body,
            })
            .collect();
        let locations = self.store.append_entries(&news).map_err(to_io)?;
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
