//! Writes that reach a member which does not lead are sent on to the leader
//! over the Raft port, so a client (or `mqadmin`) may call any member.
//!
//! ```text
//!   follower: propose locally ──NotLeader{n2}──► Propose RPC to n2's Raft port
//!   n2 (leader): proposes it itself (never forwards again) ──► results back
//! ```
//!
//! One hop only: the receiving member proposes locally and answers
//! FAILED_PRECONDITION with the leader it knows if it does not lead (the
//! leader changed meanwhile); the forwarding member then tries again.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use bytes::Bytes;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::Raft;
use raftmq_proto::raft::v1 as pb;
use raftmq_store::message_store::{Placed, PutResult};
use raftmq_store::{LogPos, QueueOffset};
use tonic::Status;

use crate::channels::never_sent;
use crate::error::{Refusal, WriteError};
use crate::members::Members;
use crate::proposer::Proposer;
use crate::state_machine::StateMachine;
use crate::types::{DataKind, LogData, NodeId, TypeConfig};

/// How long a forwarded write may take before its outcome is unknown.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The metadata key naming the leader in a refusal.
const LEADER_KEY: &str = "raftmq-leader";

/// Proposes writes on this member only.
#[derive(Clone)]
pub(crate) struct LocalWriter {
    pub(crate) raft: Raft<TypeConfig, StateMachine>,
    pub(crate) proposer: Proposer,
    pub(crate) store: std::sync::Arc<raftmq_store::MessageStore>,
}

impl LocalWriter {
    /// Admission: messages are refused here, before Raft, when the disk is
    /// too full; replication itself never refuses.
    fn disk_check(&self) -> Result<(), WriteError> {
        match self.store.commitlog().disk().check() {
            Ok(()) => Ok(()),
            Err(
                e @ (raftmq_store::StoreError::DiskFull { .. }
                | raftmq_store::StoreError::NoSpace { .. }),
            ) => Err(Refusal::DiskFull {
                detail: e.to_string(),
            }
            .into()),
            Err(e) => Err(WriteError::unknown("checking the disk", e)),
        }
    }

    /// Proposes `body` here: messages through the group commit, commands
    /// one entry each.
    pub(crate) async fn propose(
        &self,
        kind: DataKind,
        body: Bytes,
        count: usize,
    ) -> Result<Vec<PutResult>, WriteError> {
        match kind {
            DataKind::Messages => {
                self.disk_check()?;
                // An entry larger than a segment would stop Raft (a log
                // write that can never succeed); refuse it here instead.
                let max = self.store.commitlog().max_entry_body();
                if body.len() as u64 > max {
                    return Err(Refusal::TooLarge {
                        size: body.len(),
                        max,
                    }
                    .into());
                }
                self.proposer.write(body, count).await
            }
            DataKind::Command => self
                .raft
                .client_write(LogData::new(kind, body))
                .await
                .map(|_| Vec::new())
                .map_err(|e| match e.forward_to_leader() {
                    Some(f) => WriteError::NotLeader {
                        leader: f.leader_id,
                    },
                    None => WriteError::unknown("proposing the command", e),
                }),
        }
    }
}

/// The server side of a forwarded write.
pub(crate) async fn serve(
    local: &LocalWriter,
    r: pb::ProposeRequest,
) -> Result<pb::ProposeResponse, Status> {
    let kind = match pb::EntryKind::try_from(r.kind) {
        Ok(pb::EntryKind::Messages) => DataKind::Messages,
        Ok(pb::EntryKind::Command) => DataKind::Command,
        _ => return Err(Status::invalid_argument(format!("kind {} unknown", r.kind))),
    };
    let count = usize::try_from(r.count).unwrap_or(usize::MAX);
    // Once committed, an entry is applied by every member, forever: one
    // that does not decode would stop them all, restarts included.
    check_body(kind, &r.body, count)
        .map_err(|what| Status::invalid_argument(Refusal::Malformed { what }.to_string()))?;
    match local.propose(kind, r.body, count).await {
        Ok(results) => Ok(pb::ProposeResponse {
            stored: results
                .into_iter()
                .map(|p| pb::Stored {
                    index: p.index,
                    slot: p.slot,
                    queue_offset: p.queue_offset.0,
                    pos: p.pos.0,
                    placed: match p.placed {
                        Placed::Queued => 0,
                        Placed::Held => 1,
                        Placed::Dropped => 2,
                    },
                })
                .collect(),
        }),
        Err(WriteError::NotLeader { leader }) => {
            let mut s = Status::failed_precondition("not the leader");
            if let Some(l) = leader {
                if let Ok(v) = l.to_string().parse() {
                    s.metadata_mut().insert(LEADER_KEY, v);
                }
            }
            Err(s)
        }
        Err(e @ WriteError::Stopped) => Err(Status::unavailable(e.to_string())),
        Err(e @ WriteError::Failed { .. }) => Err(Status::unavailable(e.to_string())),
        Err(WriteError::Refused(refusal)) => Err(refusal_status(&refusal)),
        Err(e @ WriteError::Unknown { .. }) => Err(Status::unknown(e.to_string())),
    }
}

/// A refusal on the wire: its kind in the code (and a detail key), so the
/// forwarding member rebuilds the same [`Refusal`].
fn refusal_status(refusal: &Refusal) -> Status {
    let (code, kind) = match refusal {
        Refusal::DiskFull { .. } => (tonic::Code::ResourceExhausted, "disk-full"),
        Refusal::TooLarge { .. } => (tonic::Code::OutOfRange, "too-large"),
        Refusal::Malformed { .. } => (tonic::Code::InvalidArgument, "malformed"),
    };
    let mut s = Status::new(code, refusal.to_string());
    s.metadata_mut().insert(
        REFUSAL_KEY,
        tonic::metadata::MetadataValue::from_static(kind),
    );
    if let Refusal::TooLarge { size, max } = refusal {
        if let Ok(v) = format!("{size}/{max}").parse() {
            s.metadata_mut().insert(SIZE_KEY, v);
        }
    }
    s
}

/// The [`Refusal`] a forwarded write came back with, if it was one.
fn refusal_of(s: &Status) -> Option<Refusal> {
    let kind = s.metadata().get(REFUSAL_KEY)?.to_str().ok()?;
    let message = s.message().to_owned();
    Some(match kind {
        "disk-full" => Refusal::DiskFull { detail: message },
        "too-large" => {
            let (size, max) = s.metadata().get(SIZE_KEY)?.to_str().ok()?.split_once('/')?;
            Refusal::TooLarge {
                size: size.parse().ok()?,
                max: max.parse().ok()?,
            }
        }
        "malformed" => Refusal::Malformed { what: message },
        _ => return None,
    })
}

/// The metadata key naming a refusal's kind.
const REFUSAL_KEY: &str = "raftmq-refusal";
/// The metadata key holding a too-large refusal's `size/max`.
const SIZE_KEY: &str = "raftmq-refusal-size";

/// Whether a forwarded body is what its kind says and names only legal
/// topics and groups: exactly `count` whole message records, or one control
/// command. An illegal name would fail to apply on every member.
fn check_body(kind: DataKind, body: &[u8], count: usize) -> Result<(), String> {
    match kind {
        DataKind::Messages => {
            raftmq_store::record::message::check_batch(body, count).map_err(|e| e.to_string())
        }
        DataKind::Command => {
            let cmd = raftmq_store::meta_state::Command::decode(body)
                .map_err(|e| format!("the body is not a control command: {e}"))?;
            cmd.check()
                .map_err(|e| format!("the command is refused: {e}"))
        }
    }
}

/// Sends writes to the leader's Raft port, found in the group's address
/// book.
#[derive(Clone, Debug)]
pub(crate) struct Forwarder {
    pub(crate) raft: Raft<TypeConfig, StateMachine>,
    pub(crate) members: Members,
}

impl Forwarder {
    /// Forwards one write to `leader`.
    pub(crate) async fn propose(
        &self,
        leader: NodeId,
        kind: DataKind,
        body: Bytes,
        count: usize,
    ) -> Result<Vec<PutResult>, WriteError> {
        let unreachable = || WriteError::NotLeader { leader: None };
        let me = self.members.me();
        if self.members.partition().is_cut(me, leader) {
            return Err(unreachable());
        }
        let addr = self.members.raft_addr(leader).ok_or_else(unreachable)?;
        // A bad address never sends anything: as unreachable.
        let mut client = self
            .members
            .channels()
            .client_for(&addr)
            .map_err(|_| unreachable())?;
        let request = pb::ProposeRequest {
            from: me,
            kind: match kind {
                DataKind::Messages => pb::EntryKind::Messages,
                DataKind::Command => pb::EntryKind::Command,
            }
            .into(),
            body,
            count: u32::try_from(count).unwrap_or(u32::MAX),
        };
        // A leader that dies mid-call may leave the call hanging; once this
        // member sees another leader, the outcome is unknown either way.
        let mut metrics = self.raft.metrics();
        let moved = metrics.wait_until(|m| m.current_leader.is_some_and(|l| l != leader));
        let outcome = tokio::select! {
            r = tokio::time::timeout(FORWARD_TIMEOUT, client.propose(request)) => match r {
                Ok(r) => r,
                Err(_) => Err(Status::deadline_exceeded(format!(
                    "no answer within {FORWARD_TIMEOUT:?}"
                ))),
            },
            _ = moved => {
                return Err(WriteError::unknown_because(format!(
                    "the leader changed from n{leader} while it had the write"
                )))
            }
        };
        match outcome {
            Ok(resp) => Ok(resp
                .into_inner()
                .stored
                .into_iter()
                .map(|s| PutResult {
                    index: s.index,
                    slot: s.slot,
                    queue_offset: QueueOffset(s.queue_offset),
                    pos: LogPos(s.pos),
                    placed: match s.placed {
                        1 => Placed::Held,
                        2 => Placed::Dropped,
                        _ => Placed::Queued,
                    },
                })
                .collect()),
            Err(s) => Err(match s.code() {
                _ if s.metadata().contains_key(REFUSAL_KEY) => match refusal_of(&s) {
                    Some(refusal) => WriteError::Refused(refusal),
                    None => WriteError::unknown(format!("forwarded to n{leader}"), s),
                },
                tonic::Code::FailedPrecondition => WriteError::NotLeader {
                    leader: s
                        .metadata()
                        .get(LEADER_KEY)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok()),
                },
                // Not connected: the write never left this member.
                tonic::Code::Unavailable if never_sent(&s) => unreachable(),
                tonic::Code::Unavailable => WriteError::unknown(
                    format!("the leader n{leader} went away during the write"),
                    s,
                ),
                _ => WriteError::unknown(format!("forwarded to n{leader}"), s),
            }),
        }
    }
}
