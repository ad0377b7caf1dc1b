//! Group commit into Raft: concurrent writes become one entry.
//!
//! Writers queue encoded message batches; the proposer takes everything
//! queued (bounded by bytes and count), joins the bodies into one messages
//! entry and proposes it, without waiting for the previous proposal to
//! commit (up to a bound of proposals in flight). When nothing else is
//! queued a write goes out at once: no linger is added to a lone writer.
//!
//! One task does it all: it takes writes and drives the proposals in flight
//! side by side, so no proposal has a task of its own to outlive the member.

use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use openraft::Raft;
use raftmq_store::message_store::PutResult;
use raftmq_tasks::Tasks;
use tokio::sync::{mpsc, oneshot};

pub use crate::error::WriteError;
use crate::state_machine::StateMachine;
use crate::types::{ApplyResult, DataKind, LogData, TypeConfig};

/// Limits of one group commit.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    /// Body bytes per entry at most (a single larger write goes alone).
    pub max_bytes: usize,
    /// Writes per entry at most.
    pub max_writes: usize,
    /// Proposals in flight at most.
    pub max_in_flight: usize,
}

impl Default for Batching {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 20,
            max_writes: 1024,
            max_in_flight: 2,
        }
    }
}

struct Pending {
    since: std::time::Instant,
    body: bytes::Bytes,
    count: usize,
    reply: oneshot::Sender<Result<Vec<PutResult>, WriteError>>,
}

/// The handle writers use.
#[derive(Clone, Debug)]
pub struct Proposer {
    tx: mpsc::UnboundedSender<Pending>,
    load: Arc<Load>,
}

/// How loaded the proposer is: what `clusterList` shows beside `#InTPS`.
#[derive(Debug, Default)]
pub struct Load {
    waiting: std::sync::atomic::AtomicU64,
    seq: std::sync::atomic::AtomicU64,
    /// Groups proposed and not yet answered, with their oldest write's
    /// arrival.
    in_flight: parking_lot::Mutex<std::collections::BTreeMap<u64, std::time::Instant>>,
}

impl Load {
    /// Writes not yet answered, and how long the oldest proposed one has
    /// waited.
    pub fn now(&self) -> (u64, std::time::Duration) {
        let waiting = self.waiting.load(std::sync::atomic::Ordering::Relaxed);
        let oldest = self
            .in_flight
            .lock()
            .values()
            .min()
            .map(|t| t.elapsed())
            .unwrap_or_default();
        (waiting, oldest)
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("count", &self.count)
            .finish()
    }
}

impl Proposer {
    /// Starts the proposer task for `raft`, owned by `tasks`: it ends when
    /// they stop, failing the writes it holds with [`WriteError::Stopped`].
    pub fn start(raft: Raft<TypeConfig, StateMachine>, batching: Batching, tasks: &Tasks) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let load = Arc::new(Load::default());
        tasks.spawn("proposer", run(raft, rx, batching, Arc::clone(&load)));
        Self { tx, load }
    }

    /// Its load now.
    pub fn load(&self) -> &Load {
        &self.load
    }

    /// Proposes an encoded batch of `count` message records; resolves with
    /// one result per record once committed and applied.
    pub async fn write(
        &self,
        body: bytes::Bytes,
        count: usize,
    ) -> Result<Vec<PutResult>, WriteError> {
        use std::sync::atomic::Ordering::Relaxed;
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Pending {
                since: std::time::Instant::now(),
                body,
                count,
                reply,
            })
            .map_err(|_| WriteError::Stopped)?;
        // Counted while awaited, also if the caller gives up early.
        struct Waiting<'a>(&'a Load);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.waiting.fetch_sub(1, Relaxed);
            }
        }
        self.load.waiting.fetch_add(1, Relaxed);
        let _waiting = Waiting(&self.load);
        rx.await.map_err(|_| WriteError::Stopped)?
    }
}

async fn run(
    raft: Raft<TypeConfig, StateMachine>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    b: Batching,
    load: Arc<Load>,
) {
    let max_in_flight = b.max_in_flight.max(1);
    let mut in_flight = FuturesUnordered::new();
    // A write that would have taken the group past `max_bytes` starts the
    // next one: an entry never grows past it by joining (only a single
    // write that is larger by itself goes alone).
    let mut carried: Option<Pending> = None;
    let mut open = true;
    loop {
        let room = in_flight.len() < max_in_flight;
        let first = tokio::select! {
            // Answers first: they free room for the next proposal.
            biased;
            Some(seq) = in_flight.next(), if !in_flight.is_empty() => {
                load.in_flight.lock().remove(&seq);
                continue;
            }
            p = async { carried.take() }, if room && carried.is_some() => p,
            p = rx.recv(), if room && open && carried.is_none() => p,
            else => return,
        };
        let Some(first) = first else {
            // Every handle is gone: answer what is in flight, then end.
            open = false;
            continue;
        };
        let mut bytes = first.body.len();
        let mut group = vec![first];
        while group.len() < b.max_writes {
            match rx.try_recv() {
                Ok(p) if bytes + p.body.len() <= b.max_bytes => {
                    bytes += p.body.len();
                    group.push(p);
                }
                Ok(p) => {
                    carried = Some(p);
                    break;
                }
                Err(_) => break,
            }
        }
        let seq = load.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        load.in_flight.lock().insert(seq, group[0].since);
        let raft = raft.clone();
        in_flight.push(async move {
            propose(&raft, group).await;
            seq
        });
    }
}

async fn propose(raft: &Raft<TypeConfig, StateMachine>, group: Vec<Pending>) {
    let body = if group.len() == 1 {
        group[0].body.clone()
    } else {
        let mut joined = Vec::with_capacity(group.iter().map(|p| p.body.len()).sum());
        for p in &group {
            joined.extend_from_slice(&p.body);
        }
        bytes::Bytes::from(joined)
    };
    let outcome = raft
        .client_write(LogData::new(DataKind::Messages, body))
        .await;
    match outcome {
        Ok(resp) => {
            let mut results = match resp.data {
                ApplyResult::Stored(r) => r.into_iter(),
                other => {
                    let e =
                        WriteError::unknown_because(format!("unexpected apply result {other:?}"));
                    for p in group {
                        let _ = p.reply.send(Err(e.clone()));
                    }
                    return;
                }
            };
            for p in group {
                let mine: Vec<PutResult> = results.by_ref().take(p.count).collect();
                let _ = p.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            let err = match e.forward_to_leader() {
                Some(f) => WriteError::NotLeader {
                    leader: f.leader_id,
                },
                None => WriteError::unknown("proposing the entry", e),
            };
            for p in group {
                let _ = p.reply.send(Err(err.clone()));
            }
        }
    }
}
