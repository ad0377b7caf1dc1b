//! The store as the rest of raftmq sees it: the commitlog plus everything
//! derived from it, kept in step.
//!
//! One way to write, the Raft layer's: `StoreCore::append_entries` puts
//! entries in the log, and `StoreCore::apply_entry` (or
//! `StoreCore::dispatch_to`) dispatches them once they are committed, so
//! that queue offsets are assigned in log order on every node. Benches and
//! tests drive the same two calls through [`testing::put`] (feature
//! `test-util`).

mod background;
mod dispatch;
mod held;
mod read;
mod snapshot;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::Mutex;

pub use background::{HourOrManual, RetentionOutcome};
pub use dispatch::{Placed, PutResult};
pub use held::TimerProgress;
pub use read::{ReadBatch, StoredMessage};
pub use snapshot::SnapshotPlan;

use crate::commitlog::{CommitLog, CommitLogConfig, EntryLocation, NewEntry};
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueueSet;
use crate::error::{Result, StoreError};
#[cfg(feature = "failpoints")]
use crate::fault::Faults;
use crate::key_index::{KeyIndex, KeyIndexConfig};
use crate::mapped::FileSystem;
#[cfg(feature = "failpoints")]
use crate::mapped::MemFs;
use crate::meta_state::{MetaState, SubscriptionGroupConfig, TopicConfig};
use crate::record::entry::EntryKind;
use crate::record::message::{self, Message};
use crate::types::LogIndex;
use background::Background;
use dispatch::{DispatchCheckpoint, Dispatcher};

/// Options beyond [`StoreConfig`].
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Fault switches, for tests (feature `failpoints`).
    #[cfg(feature = "failpoints")]
    pub faults: Faults,
    /// Keep the commitlog's segments and entry index in this in-memory
    /// file system rather than on disk (feature `failpoints`). The consume
    /// queues, the key index and the small state files stay under the
    /// root on disk.
    #[cfg(feature = "failpoints")]
    pub memory: Option<std::sync::Arc<MemFs>>,
    /// Run no flusher or cleaner thread (tests that drive them by hand).
    pub no_background: bool,
}

impl OpenOptions {
    /// The file system of the consume queues and the key index.
    fn disk(&self) -> FileSystem {
        #[cfg(feature = "failpoints")]
        return FileSystem::with_faults(self.faults.clone());
        #[cfg(not(feature = "failpoints"))]
        FileSystem::disk()
    }

    /// The file system of the commitlog.
    fn log_fs(&self) -> FileSystem {
        #[cfg(feature = "failpoints")]
        if let Some(m) = &self.memory {
            return FileSystem::memory(std::sync::Arc::clone(m));
        }
        self.disk()
    }
}

/// The store. See the module docs. Everything it does is on
/// [`StoreCore`], which it derefs to; the store itself owns the background
/// threads, so that dropping it (from any thread but those) stops and joins
/// them: no work of an old store runs on after it is gone.
#[derive(Debug)]
pub struct MessageStore {
    core: Arc<StoreCore>,
    background: Mutex<Option<Background>>,
}

/// The store's state and operations, shared with its background threads.
#[derive(Debug)]
pub struct StoreCore {
    cfg: StoreConfig,
    log: Arc<CommitLog>,
    queues: ConsumeQueueSet,
    keys: KeyIndex,
    dispatcher: Mutex<Dispatcher>,
    dispatch_checkpoint: PathBuf,
    /// Messages handed to readers since the store opened.
    messages_read: std::sync::atomic::AtomicU64,
}

impl std::ops::Deref for MessageStore {
    type Target = StoreCore;

    fn deref(&self) -> &StoreCore {
        &self.core
    }
}

impl MessageStore {
    /// Opens the store with default options.
    pub fn open(cfg: StoreConfig) -> Result<Arc<Self>> {
        Self::open_with(cfg, OpenOptions::default())
    }

    /// Opens the store: recovers the log, repairs the consume queues and key
    /// index against it, replays what they miss, and starts the flusher and
    /// cleaner.
    pub fn open_with(cfg: StoreConfig, opts: OpenOptions) -> Result<Arc<Self>> {
        cfg.validate()?;
        std::fs::create_dir_all(&cfg.root)
            .map_err(|e| StoreError::io(&cfg.root, "create_dir_all", e))?;
        let log = Arc::new(CommitLog::open(
            CommitLogConfig {
                data_dir: cfg.commitlog_dir(),
                index_dir: cfg.root.join("entryindex"),
                checkpoint_path: cfg.root.join("checkpoint"),
                segment_size: cfg.segment_size,
                index_entries_per_file: cfg.index_entries_per_file,
                disk_refuse_percent: cfg.retention.disk_refuse_ratio,
                no_readahead_while_writing: true,
            },
            opts.log_fs(),
        )?);
        let queues = ConsumeQueueSet::open(
            &cfg.root.join("consumequeue"),
            cfg.queue_entries_per_file,
            opts.disk(),
        )?;
        let keys = KeyIndex::open(
            &cfg.root.join("index"),
            KeyIndexConfig {
                slot_count: cfg.key_index_slots,
                max_entries: cfg.key_index_entries,
            },
            opts.disk(),
        )?;
        let b = log.bounds();
        // Derived data never points past the log's end or before its start.
        for q in queues.all() {
            q.truncate_from_pos(b.end_pos)?;
            q.purge_below_pos(b.start_pos)?;
        }
        keys.truncate_from(b.end_pos)?;
        keys.purge_before(b.start_pos)?;

        let dispatch_checkpoint = cfg.root.join("dispatch.checkpoint");
        let saved = DispatchCheckpoint::load(&dispatch_checkpoint)?;
        let (state, state_from) = MetaState::load(&cfg.root.join("metadata"))?.unwrap_or_default();
        let next = saved
            .map_or(b.start_index, |c| c.next_index)
            .min(state_from.max(b.start_index))
            .clamp(b.start_index, b.next_index);
        let core = Arc::new(StoreCore {
            log,
            queues,
            keys,
            dispatcher: Mutex::new(Dispatcher::new(next, state, state_from)),
            dispatch_checkpoint,
            messages_read: std::sync::atomic::AtomicU64::new(0),
            cfg,
        });
        // Only committed entries were ever dispatched: replay up to the last
        // one the queues or the index already point into, so that the next
        // apply does not add them twice.
        let replay_end = core.last_dispatched_on_disk()?.map_or(0, |i| i + 1);
        core.replay_to(replay_end)?;
        let bg = Background::start(
            Arc::downgrade(&core),
            Arc::clone(&core.log),
            &core.cfg,
            !opts.no_background,
        )?;
        Ok(Arc::new(MessageStore {
            core,
            background: Mutex::new(Some(bg)),
        }))
    }

    /// Stops the background threads and flushes everything: a clean stop.
    pub fn close(&self) -> Result<()> {
        if let Some(bg) = self.background.lock().take() {
            bg.stop();
        }
        self.core.flush()
    }
}

impl StoreCore {
    /// The settings the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.cfg
    }

    /// The commitlog.
    pub fn commitlog(&self) -> &CommitLog {
        &self.log
    }

    /// The consume queues.
    pub fn queues(&self) -> &ConsumeQueueSet {
        &self.queues
    }

    /// The key index.
    pub fn key_index(&self) -> &KeyIndex {
        &self.keys
    }

    /// The index the next dispatched entry must carry: every entry before it
    /// is in the consume queues.
    pub fn dispatched(&self) -> LogIndex {
        LogIndex(self.dispatcher.lock().next_index())
    }

    /// Encodes messages into one batch entry body, checking sizes and
    /// stamping a store time on records that have none. Topics are not
    /// checked again: a [`Message`]'s topic is a
    /// [`TopicName`](raftmq_model::TopicName), checked where the name entered
    /// the process (a Propose from a peer is checked by
    /// [`check_batch`](crate::record::message::check_batch) instead).
    pub fn encode_batch(&self, msgs: &[Message], max_message_size: usize) -> Result<Vec<u8>> {
        let now = now_ms();
        let mut total = 0usize;
        for m in msgs {
            total =
                total.saturating_add(m.encoded_len().map_err(|source| StoreError::Message {
                    pos: crate::types::LogPos(0),
                    source,
                })?);
        }
        let mut body = Vec::with_capacity(total);
        for m in msgs {
            let start = body.len();
            m.encode(&mut body).map_err(|source| StoreError::Message {
                pos: crate::types::LogPos(0),
                source,
            })?;
            let len = body.len() - start;
            if len > max_message_size {
                return Err(StoreError::TooLarge {
                    what: "message",
                    size: len,
                    max: max_message_size,
                });
            }
            if m.store_timestamp_ms == 0 {
                let at = start + message::STORE_TIMESTAMP_OFFSET;
                body[at..at + 8].copy_from_slice(&now.to_le_bytes());
            }
        }
        Ok(body)
    }

    /// Appends entries to the log without dispatching them. They were
    /// admitted by the Raft leader (see `CommitLog::append_replicated`).
    pub fn append_entries(&self, entries: &[NewEntry<'_>]) -> Result<Vec<EntryLocation>> {
        self.log.append_replicated(entries)
    }

    /// Dispatches every entry up to and including `index` (committed), in
    /// log order. Returns the queue offsets assigned to their messages.
    pub fn dispatch_to(&self, index: u64) -> Result<Vec<PutResult>> {
        let mut out = Vec::new();
        self.dispatch_until(index.saturating_add(1), false, Some(&mut out))?;
        Ok(out)
    }

    /// Dispatches one committed entry whose body the caller holds (the Raft
    /// state machine): no read back from the log. The entry must be the next
    /// one to dispatch.
    pub fn apply_entry(&self, index: u64, kind: EntryKind, body: &[u8]) -> Result<Vec<PutResult>> {
        let mut d = self.dispatcher.lock();
        d.skip_to(self.log.bounds().start_index);
        if index < d.next_index() {
            // Applied before a restart; the queues have it.
            return Ok(Vec::new());
        }
        let loc = self.log.location(index)?;
        let mut out = Vec::new();
        d.dispatch(self, &loc, kind, body, false, Some(&mut out))?;
        Ok(out)
    }

    /// Moves dispatch to `next_index` without dispatching what lies before
    /// (a Raft snapshot covered it).
    pub fn reset_dispatch(&self, next_index: u64) {
        self.dispatcher.lock().skip_to(next_index);
    }

    /// The index of the newest entry that a consume queue or the key index
    /// points into, found by binary search over the entry index.
    fn last_dispatched_on_disk(&self) -> Result<Option<u64>> {
        let mut max_pos = self.keys.end_pos();
        for q in self.queues.all() {
            max_pos = max_pos.max(q.last_pos()?);
        }
        let Some(pos) = max_pos else { return Ok(None) };
        let b = self.log.bounds();
        let (mut lo, mut hi) = (b.start_index, b.next_index);
        // The first entry that starts after `pos`; the one before holds it.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.log.location(mid)?.pos <= pos {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.checked_sub(1).filter(|i| *i >= b.start_index))
    }

    /// Re-dispatches after a restart, skipping what the queues already hold.
    fn replay_to(&self, next_index: u64) -> Result<()> {
        self.dispatch_until(next_index, true, None)
    }

    /// Dispatches from the dispatcher's next index up to `end` (exclusive),
    /// reading each entry back from the log.
    fn dispatch_until(
        &self,
        end: u64,
        replay: bool,
        out: Option<&mut Vec<PutResult>>,
    ) -> Result<()> {
        let mut d = self.dispatcher.lock();
        self.dispatch_locked(&mut d, end, replay, out)
    }

    fn dispatch_locked(
        &self,
        d: &mut Dispatcher,
        end: u64,
        replay: bool,
        mut out: Option<&mut Vec<PutResult>>,
    ) -> Result<()> {
        // Entries before the log start were dispatched already or are
        // covered by a snapshot; on a log that began past 0 there were none.
        d.skip_to(self.log.bounds().start_index);
        while d.next_index() < end {
            let entry = self.log.read_entry(d.next_index())?;
            let loc = EntryLocation {
                index: entry.index.0,
                term: entry.term.0,
                pos: entry.pos.0,
                len: entry.bytes.len() as u32,
            };
            d.dispatch(
                self,
                &loc,
                entry.kind,
                &entry.body(),
                replay,
                out.as_deref_mut(),
            )?;
        }
        Ok(())
    }

    /// Removes entries after `index` (a Raft conflict). Entries already
    /// dispatched are committed and can never be removed.
    pub fn truncate_after(&self, index: u64) -> Result<()> {
        let dispatched = self.dispatcher.lock().next_index();
        if index.saturating_add(1) < dispatched {
            return Err(StoreError::TruncateBelowApplied {
                index: LogIndex(index),
                applied: LogIndex(dispatched.saturating_sub(1)),
            });
        }
        self.log.truncate_after(index)
    }

    /// Flushes the log, the queues and the key index, and writes both
    /// checkpoints.
    pub fn flush(&self) -> Result<()> {
        self.log.flush()?;
        self.flush_derived()?;
        self.log.write_checkpoint(None)
    }

    /// Saves topics and offsets, flushes queues and key index, then
    /// records how far they are durable.
    fn flush_derived(&self) -> Result<()> {
        let (next_index, state) = {
            let d = self.dispatcher.lock();
            (d.next_index(), d.state.clone())
        };
        state.store(&self.cfg.root.join("metadata"), next_index)?;
        self.queues.flush()?;
        self.keys.flush()?;
        DispatchCheckpoint { next_index }.store(&self.dispatch_checkpoint)
    }

    /// Topics and consumer offsets as applied so far.
    pub fn meta_state(&self) -> MetaState {
        self.dispatcher.lock().state.clone()
    }

    /// The topic table, with a version that changes whenever the table may
    /// have (this member's own counter, for the nameservers).
    pub fn topics(&self) -> (u64, std::collections::BTreeMap<String, TopicConfig>) {
        let d = self.dispatcher.lock();
        (d.topics_version, d.state.topics.clone())
    }

    /// The topic table's version alone (see [`StoreCore::topics`]).
    pub fn topics_version(&self) -> u64 {
        self.dispatcher.lock().topics_version
    }

    /// Messages dispatched into the queues since the store opened (stored
    /// here, by a write or by replication).
    pub fn messages_stored(&self) -> u64 {
        self.dispatcher.lock().messages
    }

    /// Messages handed to readers since the store opened.
    pub fn messages_read(&self) -> u64 {
        self.messages_read
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A topic's configuration.
    pub fn topic(&self, name: &str) -> Option<TopicConfig> {
        self.dispatcher.lock().state.topics.get(name).cloned()
    }

    /// A consumer group's configuration, if the group exists.
    pub fn group(&self, name: &str) -> Option<SubscriptionGroupConfig> {
        self.dispatcher.lock().state.groups.get(name).cloned()
    }

    /// Whether consumer group `name` consumes orderly (false for a group
    /// not created): read in place, without copying the configuration (the
    /// ack and visibility paths ask it on every call).
    pub fn group_consumes_orderly(&self, name: &str) -> bool {
        self.dispatcher
            .lock()
            .state
            .groups
            .get(name)
            .is_some_and(|c| c.consume_orderly)
    }

    /// Every consumer group's configuration, by name.
    pub fn groups(&self) -> std::collections::BTreeMap<String, SubscriptionGroupConfig> {
        self.dispatcher.lock().state.groups.clone()
    }

    /// A group's committed offset in a queue.
    pub fn consumer_offset(&self, group: &str, topic: &str, queue_id: u32) -> Option<u64> {
        self.dispatcher
            .lock()
            .state
            .offsets
            .get(&(group.to_owned(), topic.to_owned(), queue_id))
            .copied()
    }
}

impl MessageStore {
    /// Stops the background threads (flusher, cleaner) now, rather than when
    /// the last handle drops: the owner of a store that others may still
    /// hold a handle to ends its work here. Idempotent.
    pub fn stop_background(&self) {
        let bg = self.background.lock().take();
        if let Some(bg) = bg {
            bg.stop();
        }
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        if let Some(bg) = self.background.get_mut().take() {
            bg.stop();
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
