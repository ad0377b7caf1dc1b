//! Group commit into Raft: concurrent writes become one entry.
//!
//! Writers queue encoded message batches; the proposer takes everything
//! queued (bounded by bytes and count), joins the bodies into one messages
//! entry and proposes it, without waiting for the previous proposal to
//! commit (up to a bound of proposals in flight). When nothing else is
//! queued a write goes out at once: no linger is added to a lone writer.

use std::sync::Arc;

use openraft::Raft;
use raftmq_store::message_store::PutResult;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::state_machine::StateMachine;
use crate::types::{ApplyResult, DataKind, LogData, NodeId, TypeConfig};

/// Why a write failed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    /// This member is not the leader; send to `leader` (when known).
    #[error("not the leader; the leader is {leader:?}")]
    NotLeader {
        /// The leader, if this member knows it.
        leader: Option<NodeId>,
    },
    /// The write may or may not have been stored (the leader changed, or a
    /// store error); retrying may store it twice.
    #[error("write outcome unknown: {0}")]
    Unknown(String),
    /// The member is shutting down.
    #[error("the member is stopping")]
    Stopped,
    /// Refused before it was proposed (nothing stored), e.g. the disk is
    /// fuller than `diskSpaceWarningLevelRatio`.
    #[error("refused, nothing stored: {0}")]
    Refused(String),
}

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
    /// Starts the proposer task for `raft`.
    pub fn start(
        raft: Raft<TypeConfig, StateMachine>,
        batching: Batching,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let load = Arc::new(Load::default());
        let task = tokio::spawn(run(raft, rx, batching, Arc::clone(&load)));
        (Self { tx, load }, task)
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
    let in_flight = Arc::new(Semaphore::new(b.max_in_flight));
    // A write that would have taken the group past `max_bytes` starts the
    // next one: an entry never grows past it by joining (only a single
    // write that is larger by itself goes alone).
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
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
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let raft = raft.clone();
        let load = Arc::clone(&load);
        let seq = load.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        load.in_flight.lock().insert(seq, group[0].since);
        tokio::spawn(async move {
            propose(&raft, group).await;
            load.in_flight.lock().remove(&seq);
            drop(permit);
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
                    let e = WriteError::Unknown(format!("unexpected apply result {other:?}"));
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
                None => WriteError::Unknown(e.to_string()),
            };
            for p in group {
                let _ = p.reply.send(Err(err.clone()));
            }
        }
    }
}
