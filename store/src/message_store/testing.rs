//! Writing to a store without Raft, for benches and tests (feature
//! `test-util`).
//!
//! These functions play the Raft layer of a one-member group: each batch is
//! appended as the next entry and applied at once, through the very calls
//! the Raft log store and state machine make
//! ([`StoreCore::append_entries`], [`StoreCore::apply_entry`]). There is no
//! second write path: what a bench measures here is what a member does.
//! Writers are ordered by one lock held for the append and the apply
//! (copies, never I/O); the wait for durability is outside it, so
//! concurrent writers share fsyncs as Raft's do.

use parking_lot::Mutex;

use super::{PutResult, StoreCore};
use crate::commitlog::NewEntry;
use crate::config::FlushMode;
use crate::error::{Result, StoreError};
use crate::meta_state::Command;
use crate::record::entry::EntryKind;
use crate::record::message::Message;

/// The term these helpers write its entries with.
pub const TERM: u64 = 1;

/// Orders writers (see the module docs). One for the process: the helpers
/// are for benches and tests, where one lock costs nothing.
static ORDER: Mutex<()> = Mutex::new(());

/// Appends one entry, as the leader admits it (the disk gate first), and
/// applies it. Returns the queue offsets and the entry's end position.
fn append_and_apply(
    core: &StoreCore,
    kind: EntryKind,
    body: &[u8],
) -> Result<(Vec<PutResult>, u64)> {
    core.commitlog().disk().check()?;
    let _order = ORDER.lock();
    let index = core.commitlog().bounds().next_index;
    let loc = core.append_entries(&[NewEntry {
        index,
        term: TERM,
        kind,
        body,
        crc: None,
    }])?[0];
    let results = core.apply_entry(index, kind, body)?;
    Ok((results, loc.end()))
}

/// Stores `msgs` as one entry, assigns their queue offsets, and returns once
/// they are stored per the flush mode. Either all are stored or none.
pub fn put(core: &StoreCore, msgs: &[Message]) -> Result<Vec<PutResult>> {
    if msgs.is_empty() {
        return Ok(Vec::new());
    }
    let body = core.encode_batch(msgs, usize::MAX)?;
    let (results, end) = append_and_apply(core, EntryKind::Messages, &body)?;
    if core.config().flush_mode == FlushMode::Sync {
        core.commitlog().sync_to(end)?;
    }
    Ok(results)
}

/// [`put`] for async callers: the append happens now (short, no I/O wait);
/// the future resolves once the messages are durable per the flush mode.
pub fn put_async(
    core: &StoreCore,
    msgs: &[Message],
) -> impl std::future::Future<Output = Result<Vec<PutResult>>> + Send + 'static {
    let appended = core
        .encode_batch(msgs, usize::MAX)
        .and_then(|body| append_and_apply(core, EntryKind::Messages, &body));
    let wait = match &appended {
        Ok((_, end)) if core.config().flush_mode == FlushMode::Sync => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            core.commitlog().when_durable(
                *end,
                Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            );
            Some(rx)
        }
        _ => None,
    };
    async move {
        let (results, _) = appended?;
        if let Some(rx) = wait {
            rx.await
                .map_err(|_| StoreError::Poisoned("the sync flusher stopped".into()))??;
        }
        Ok(results)
    }
}

/// Stores a command as its own entry and applies it.
pub fn put_command(core: &StoreCore, cmd: &Command) -> Result<()> {
    let body = cmd.encode()?;
    let (_, end) = append_and_apply(core, EntryKind::Command, &body)?;
    if core.config().flush_mode == FlushMode::Sync {
        core.commitlog().sync_to(end)?;
    }
    Ok(())
}

/// What Raft does when a member starts: applies every committed entry not
/// applied yet. Entries these helpers wrote are committed as soon as they
/// are in the log (a group of one), so this applies the log to its end.
pub fn apply_committed(core: &StoreCore) -> Result<Vec<PutResult>> {
    match core.commitlog().bounds().last_index() {
        Some(last) => core.dispatch_to(last.0),
        None => Ok(Vec::new()),
    }
}
