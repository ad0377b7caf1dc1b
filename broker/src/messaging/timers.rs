//! Releasing timed messages when they are due (ADR 0012): the leader, once
//! it has applied an entry of its own term, writes a released copy of each
//! due timer through Raft. Whether a copy is enqueued is decided when it is
//! applied, on every member alike, so a copy written twice (a retry, two
//! leaders) is delivered once.

use std::time::Duration;

use raftmq_raft::WriteError;
use raftmq_store::message_store::Placed;
use raftmq_store::message_store::StoredMessage;
use raftmq_store::meta_state::HeldId;
use raftmq_store::record::message::{Message, FLAG_RELEASE, RELEASES_PROPERTY};
use raftmq_store::{StoreCore, StoreError};

use super::convert::now_ms;
use super::Inner;

/// Timers released by one write at most.
const BATCH: usize = 512;
/// Bytes of released copies in one write at most (past the first copy):
/// an entry stays far below the Raft frame and segment limits.
const BATCH_BYTES: usize = 8 << 20;
/// The pause after a failed write before the next try.
const BACKOFF: Duration = Duration::from_millis(100);

/// The released copy of held record `id`, read as `stored`: the same
/// message (id, born time, properties, due time), marked as the copy of
/// `id`, stamped when stored.
pub(super) fn release_of(stored: &StoredMessage, id: HeldId) -> Result<Message, StoreError> {
    let mut m = stored.to_message()?;
    m.flags |= FLAG_RELEASE;
    m.properties
        .push((RELEASES_PROPERTY.to_owned(), id.to_string()));
    m.store_timestamp_ms = 0;
    Ok(m)
}

/// Writes released copies on this member (it must lead), in writes of
/// [`BATCH_BYTES`] at most, all in flight at once: where each went, in order.
pub(super) async fn write_copies(
    inner: &Inner,
    copies: &[Message],
) -> Vec<Result<Placed, WriteError>> {
    let mut chunks = Vec::new();
    let (mut from, mut bytes) = (0, 0usize);
    for (i, m) in copies.iter().enumerate() {
        let len = m.encoded_len().unwrap_or(BATCH_BYTES);
        if i > from && bytes + len > BATCH_BYTES {
            chunks.push(&copies[from..i]);
            (from, bytes) = (i, 0);
        }
        bytes += len;
    }
    if from < copies.len() {
        chunks.push(&copies[from..]);
    }
    let written =
        futures_util::future::join_all(chunks.iter().map(|c| inner.node.write_here(c))).await;
    let mut placed = Vec::with_capacity(copies.len());
    for (chunk, result) in chunks.iter().zip(written) {
        match result {
            Ok(stored) if stored.len() == chunk.len() => {
                placed.extend(stored.into_iter().map(|r| Ok(r.placed)));
            }
            Ok(stored) => {
                let why = format!("{} results for {} copies", stored.len(), chunk.len());
                placed.extend(
                    chunk
                        .iter()
                        .map(|_| Err(WriteError::unknown_because(why.clone()))),
                );
            }
            Err(e) => placed.extend(chunk.iter().map(|_| Err(e.clone()))),
        }
    }
    placed
}

/// [`release_of`] the record `id` names, read from the store; None when
/// the record is not in the log.
fn released_copy(store: &StoreCore, id: HeldId) -> Result<Option<Message>, StoreError> {
    store
        .read_held(id)?
        .map(|stored| release_of(&stored, id))
        .transpose()
}

/// Waits until `at_ms`, or `longest`, or a change of leadership, whichever
/// comes first.
async fn nap(inner: &Inner, at_ms: Option<i64>, longest: Duration) {
    let wait = at_ms.map_or(longest, |at| {
        let ms = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
        Duration::from_millis(ms).min(longest)
    });
    let mut leadership = inner.node.leadership();
    leadership.borrow_and_update();
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        _ = leadership.changed() => {}
    }
}

/// Releases due timers while this member leads; runs until the member
/// stops.
pub(super) async fn run(inner: &Inner) {
    let precision = inner.conf.held.timer_precision;
    let store = inner.node.store();
    loop {
        let mut leadership = inner.node.leadership();
        leadership.borrow_and_update();
        if !inner.node.is_leader() {
            if leadership.changed().await.is_err() {
                return; // the member stopped
            }
            continue;
        }
        if !inner.node.wait_applied_as_leader().await {
            continue;
        }
        let due = store.due_timers(now_ms(), BATCH);
        if due.is_empty() {
            nap(inner, store.next_timer_due(), precision).await;
            continue;
        }
        let mut copies = Vec::with_capacity(due.len());
        let mut bytes = 0usize;
        for (_, id) in &due {
            if bytes >= BATCH_BYTES {
                break;
            }
            match released_copy(store, *id) {
                Ok(Some(m)) => {
                    bytes += m.encoded_len().unwrap_or(BATCH_BYTES);
                    copies.push(m);
                }
                Ok(None) => tracing::error!(timer = %id, "a held timer's record is not in the log"),
                Err(e) => tracing::error!(timer = %id, error = %e, "reading a held timer failed"),
            }
        }
        if copies.is_empty() {
            nap(inner, None, BACKOFF).await;
            continue;
        }
        match inner.node.write_here(&copies).await {
            Ok(stored) => {
                let dropped = stored
                    .iter()
                    .filter(|r| r.placed != raftmq_store::message_store::Placed::Queued)
                    .count();
                if dropped > 0 {
                    tracing::debug!(
                        dropped,
                        "timers released before (a copy lost to an earlier one)"
                    );
                }
            }
            Err(WriteError::NotLeader { .. } | WriteError::Stopped) => {}
            Err(e) => {
                tracing::warn!(error = %e, timers = copies.len(), "releasing due timers failed; retrying");
                nap(inner, None, BACKOFF).await;
            }
        }
    }
}
