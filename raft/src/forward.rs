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

use std::collections::BTreeMap;

use bytes::Bytes;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::Raft;
use raftmq_proto::raft::v1 as pb;
use raftmq_store::message_store::PutResult;
use raftmq_store::{LogPos, QueueOffset};
use tonic::Status;

use crate::network::{Channels, Partition};
use crate::proposer::{Proposer, WriteError};
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
    fn raft_store_disk_check(&self) -> Result<(), String> {
        self.store
            .commitlog()
            .disk()
            .check()
            .map_err(|e| e.to_string())
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
                // Admission: messages are refused here, before Raft, when the
                // disk is too full; replication itself never refuses.
                if let Err(e) = self.raft_store_disk_check() {
                    return Err(WriteError::Refused(e));
                }
                // An entry larger than a segment would stop Raft (a log
                // write that can never succeed); refuse it here instead.
                let max = self.store.commitlog().max_entry_body();
                if body.len() as u64 > max {
                    return Err(WriteError::Refused(format!(
                        "a batch of {} bytes does not fit in a commitlog segment (at most {max} bytes); send smaller batches or raise mappedFileSizeCommitLog",
                        body.len()
                    )));
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
                    None => WriteError::Unknown(e.to_string()),
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
    check_body(kind, &r.body, count).map_err(Status::invalid_argument)?;
    match local.propose(kind, r.body, count).await {
        Ok(results) => Ok(pb::ProposeResponse {
            stored: results
                .into_iter()
                .map(|p| pb::Stored {
                    index: p.index,
                    queue_offset: p.queue_offset.0,
                    pos: p.pos.0,
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
        Err(WriteError::Stopped) => Err(Status::unavailable("the member is stopping")),
        Err(WriteError::Refused(e)) => Err(Status::resource_exhausted(e)),
        Err(WriteError::Unknown(e)) => Err(Status::unknown(e)),
    }
}

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

/// Sends writes to the leader's Raft port.
#[derive(Clone, Debug)]
pub(crate) struct Forwarder {
    pub(crate) me: NodeId,
    pub(crate) raft: Raft<TypeConfig, StateMachine>,
    pub(crate) peers: BTreeMap<NodeId, String>,
    pub(crate) channels: Channels,
    pub(crate) partition: Partition,
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
        if self.partition.is_cut(self.me, leader) {
            return Err(unreachable());
        }
        let addr = self.peers.get(&leader).ok_or_else(unreachable)?;
        let mut client = self
            .channels
            .client_for(addr)
            .map_err(WriteError::Unknown)?;
        let request = pb::ProposeRequest {
            from: self.me,
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
                return Err(WriteError::Unknown(format!(
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
                    queue_offset: QueueOffset(s.queue_offset),
                    pos: LogPos(s.pos),
                })
                .collect()),
            Err(s) => Err(match s.code() {
                tonic::Code::ResourceExhausted => WriteError::Refused(s.message().to_owned()),
                tonic::Code::FailedPrecondition => WriteError::NotLeader {
                    leader: s
                        .metadata()
                        .get(LEADER_KEY)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok()),
                },
                // Not connected: the write never left this member.
                tonic::Code::Unavailable if is_connect_error(&s) => unreachable(),
                tonic::Code::Unavailable => WriteError::Unknown(format!(
                    "the leader n{leader} went away during the write: {}",
                    s.message()
                )),
                _ => WriteError::Unknown(format!("forwarded to n{leader}: {}", s.message())),
            }),
        }
    }
}

/// Whether `s` says the connection was never made (so nothing was sent).
fn is_connect_error(s: &Status) -> bool {
    let text = format!("{s:?}").to_ascii_lowercase();
    text.contains("connect") || text.contains("refused") || text.contains("partitioned")
}
