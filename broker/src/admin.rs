//! `raftmq.admin.v1.BrokerAdmin` on the member's client port: topic and
//! consumer group changes go through Raft (forwarded to the leader when this
//! member follows), so any member accepts them and they survive failover.
//! The consumer group calls are in `admin/groups.rs`.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

mod groups;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use raftmq_model::{Perm, TopicMessageType, TopicName};
use raftmq_proto::admin::v1 as pb;
use raftmq_proto::admin::v1::broker_admin_server::BrokerAdmin;
use raftmq_proto::namesrv::v1 as ns;
use raftmq_raft::{RaftNode, WriteError};
use raftmq_store::meta_state::{Command, TopicConfig};
use tonic::{Request, Response, Status};

/// Most queues a topic may have per group.
pub const MAX_QUEUES: u32 = 1024;

/// The admin service of one member.
#[derive(Clone)]
pub struct AdminService {
    node: Arc<RaftNode>,
    group: String,
    /// `faultInjectionEnable` (honoured by `failpoints` builds only).
    fault_injection: bool,
    /// Half messages discarded unanswered (the messaging service counts).
    discarded: Arc<AtomicU64>,
    /// The member's Telemetry sessions: the consumers of each group.
    sessions: Arc<crate::messaging::sessions::Sessions>,
}

impl AdminService {
    /// The service of `node`, a member of `group`; `fault_injection` with
    /// `faultInjectionEnable` (a broker built without the `failpoints`
    /// feature refuses to start with it).
    pub fn new(node: Arc<RaftNode>, group: String, fault_injection: bool) -> Self {
        Self {
            node,
            group,
            fault_injection,
            discarded: Arc::default(),
            sessions: Arc::default(),
        }
    }

    /// Shows `discarded` (the messaging service's count of half messages
    /// discarded unanswered) in `brokerStatus`.
    pub fn with_transactions_discarded(mut self, discarded: Arc<AtomicU64>) -> Self {
        self.discarded = discarded;
        self
    }

    /// The service, listing the consumers connected through `sessions`
    /// (the member's messaging service's).
    pub fn with_sessions(mut self, sessions: Arc<crate::messaging::sessions::Sessions>) -> Self {
        self.sessions = sessions;
        self
    }
}

fn write_status(e: WriteError) -> Status {
    match e {
        WriteError::NotLeader { .. } => {
            Status::unavailable("the group has no leader now (an election is under way); retry")
        }
        WriteError::Stopped => Status::unavailable("this member is stopping; retry on another"),
        e @ WriteError::Failed { .. } => {
            Status::unavailable(format!("{e}; retry on another member"))
        }
        WriteError::Refused(e) => {
            Status::resource_exhausted(format!("refused, nothing changed: {e}"))
        }
        e @ WriteError::Unknown { .. } => Status::unknown(format!(
            "the change may or may not have been applied: {e}; check with topicRoute"
        )),
    }
}

#[tonic::async_trait]
impl BrokerAdmin for AdminService {
    async fn update_topic(
        &self,
        request: Request<pb::UpdateTopicRequest>,
    ) -> Result<Response<pb::UpdateTopicResponse>, Status> {
        let r = request.into_inner();
        // A user names the topic: the topic rule, and no reserved prefix.
        let topic = TopicName::user_named(r.topic.as_str())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        for (what, n) in [
            ("read queues", r.read_queues),
            ("write queues", r.write_queues),
        ] {
            if !(1..=MAX_QUEUES).contains(&n) {
                return Err(Status::invalid_argument(format!(
                    "{what} {n} out of range: use 1 to {MAX_QUEUES}"
                )));
            }
        }
        let perm = Perm::new(r.perm).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let message_type = match r.message_type {
            Some(v) => TopicMessageType::from(ns::TopicMessageType::try_from(v).map_err(|_| {
                Status::invalid_argument(format!(
                    "message_type: unknown value {v}; use NORMAL, FIFO, DELAY, TRANSACTION or MIXED"
                ))
            })?),
            // Not given: an update of queues or permission keeps the
            // topic's type. Read on this member's applied state (mqadmin
            // calls the leader first); a new topic is of no declared type.
            None => self
                .node
                .store()
                .topic(&topic)
                .map(|t| t.message_type)
                .unwrap_or_default(),
        };
        let cmd = Command::UpsertTopic {
            topic,
            config: TopicConfig {
                read_queues: r.read_queues,
                write_queues: r.write_queues,
                perm,
                message_type,
            },
        };
        self.node.command(&cmd).await.map_err(write_status)?;
        tracing::info!(topic = %r.topic, read = r.read_queues, write = r.write_queues, perm = r.perm,
            message_type = %message_type, "topic updated");
        Ok(Response::new(pb::UpdateTopicResponse {
            group: self.group.clone(),
        }))
    }

    async fn delete_topic(
        &self,
        request: Request<pb::DeleteTopicRequest>,
    ) -> Result<Response<pb::DeleteTopicResponse>, Status> {
        let topic = TopicName::new(request.into_inner().topic)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Judged on this member's applied state: a follower may lag the
        // leader by the last moments (mqadmin calls the leader first).
        if self.node.store().topic(&topic).is_none() {
            return Err(Status::not_found(format!(
                "topic {:?} does not exist on broker group {}",
                topic.as_str(),
                self.group
            )));
        }
        self.node
            .command(&Command::DeleteTopic {
                topic: topic.clone(),
            })
            .await
            .map_err(write_status)?;
        tracing::info!(%topic, "topic deleted");
        Ok(Response::new(pb::DeleteTopicResponse {
            group: self.group.clone(),
        }))
    }

    async fn transfer_leader(
        &self,
        request: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderResponse>, Status> {
        let to = request.into_inner().member_id;
        if !self.node.is_leader() {
            return Err(Status::failed_precondition(format!(
                "this member does not lead; the leader is {}: call it",
                self.node
                    .leader()
                    .map_or("unknown".to_owned(), |l| format!("n{l}"))
            )));
        }
        self.node
            .transfer_leader(to)
            .await
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(pb::TransferLeaderResponse {}))
    }

    async fn broker_status(
        &self,
        _request: Request<pb::BrokerStatusRequest>,
    ) -> Result<Response<pb::BrokerStatusResponse>, Status> {
        let m = self.node.status();
        let store = self.node.store();
        let bounds = store.commitlog().bounds();
        let disk = store.commitlog().disk();
        let entry = |name: &str, value: String| pb::StatusEntry {
            name: name.into(),
            value,
        };
        let entries = vec![
            entry("brokerName", self.group.clone()),
            entry("memberId", format!("n{}", self.node.id())),
            entry("role", format!("{:?}", m.leadership.role)),
            entry("term", m.leadership.term.to_string()),
            entry(
                "leader",
                m.leadership
                    .leader
                    .map_or("none".into(), |l| format!("n{l}")),
            ),
            entry("logStartIndex", bounds.start_index.to_string()),
            entry("logNextIndex", bounds.next_index.to_string()),
            entry(
                "appliedIndex",
                m.applied_index.map_or("none".into(), |l| l.to_string()),
            ),
            entry("commitLogMaxOffset", bounds.end_pos.to_string()),
            // As upstream prints it: the used fraction of the commitlog's
            // disk; sends are refused from diskSpaceWarningLevelRatio on.
            entry(
                "commitLogDiskRatio",
                disk.used_percent().map_or_else(
                    |e| format!("unknown ({e})"),
                    |p| format!("{:.4}", p / 100.0),
                ),
            ),
            entry(
                "diskSpaceWarningLevelRatio",
                disk.refuse_percent().to_string(),
            ),
            entry("topics", store.topics().1.len().to_string()),
            entry(
                "messagesStoredSinceStart",
                store.messages_stored().to_string(),
            ),
            entry("timerPending", store.timer_progress(0).pending.to_string()),
            entry("halfMessagesOpen", store.held().halves.len().to_string()),
            entry(
                "transactionsDiscardedSinceStart",
                self.discarded.load(Ordering::Relaxed).to_string(),
            ),
            entry("version", crate::stats::VERSION.into()),
        ];
        Ok(Response::new(pb::BrokerStatusResponse { entries }))
    }

    async fn consumer_progress(
        &self,
        request: Request<pb::ConsumerProgressRequest>,
    ) -> Result<Response<pb::ConsumerProgressResponse>, Status> {
        let r = request.into_inner();
        let store = self.node.store();
        let state = store.meta_state();
        let mut queues = Vec::new();
        for ((group, topic, queue_id), offset) in &state.offsets {
            if *group != r.group || (!r.topic.is_empty() && *topic != r.topic) {
                continue;
            }
            let (_, max) = store.queue_offsets(topic, *queue_id);
            let last_timestamp_ms = offset
                .checked_sub(1)
                .and_then(|o| {
                    store
                        .read_message(topic, *queue_id, raftmq_store::QueueOffset(o))
                        .ok()
                })
                .and_then(|m| m.view().ok().map(|v| v.store_timestamp_ms()))
                .unwrap_or(0);
            queues.push(pb::QueueProgress {
                topic: topic.clone(),
                queue_id: *queue_id,
                broker_offset: max.0,
                consumer_offset: *offset,
                lag: max.0.saturating_sub(*offset),
                last_timestamp_ms,
            });
        }
        if queues.is_empty() {
            return Err(Status::not_found(format!(
                "consumer group {:?} has committed no offset on broker group {}",
                r.group, self.group
            )));
        }
        Ok(Response::new(pb::ConsumerProgressResponse {
            group: r.group,
            queues,
        }))
    }

    async fn inject_fault(
        &self,
        request: Request<pb::InjectFaultRequest>,
    ) -> Result<Response<pb::InjectFaultResponse>, Status> {
        if !self.fault_injection {
            return Err(Status::failed_precondition(
                "fault injection is off: start the broker with faultInjectionEnable=true (tests only)",
            ));
        }
        crate::fault_injection::inject(&self.node, request.into_inner())?;
        Ok(Response::new(pb::InjectFaultResponse {}))
    }

    async fn update_sub_group(
        &self,
        request: Request<pb::UpdateSubGroupRequest>,
    ) -> Result<Response<pb::UpdateSubGroupResponse>, Status> {
        self.update_group(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn delete_sub_group(
        &self,
        request: Request<pb::DeleteSubGroupRequest>,
    ) -> Result<Response<pb::DeleteSubGroupResponse>, Status> {
        self.delete_group(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_sub_groups(
        &self,
        request: Request<pb::ListSubGroupsRequest>,
    ) -> Result<Response<pb::ListSubGroupsResponse>, Status> {
        Ok(Response::new(self.list_groups(request.into_inner())))
    }
}
