//! The RocketMQ 5 client protocol on a member's client port:
//! `apache.rocketmq.v2.MessagingService`, as the official clients and the
//! raftmq SDK speak it, and raftmq's additions beside it
//! (`raftmq.client.v1.ClientExtensions`: EndTransactions, many ends in one
//! call, which the SDK uses and falls back from).
//!
//! ```text
//!   call ─► this member leads? ──no──► forward.rs: the same call to the leader's client port
//!                │yes
//!                ├─ send.rs      SendMessage: checks, dedup by message id, one Raft write per call
//!                ├─ receive.rs   ReceiveMessage / Ack / ChangeInvisibleDuration / dead letters (pop.rs)
//!                ├─ offsets.rs   PullMessage / UpdateOffset / GetOffset / QueryOffset
//!                │               (both read through filter.rs: tags, SQL92)
//!                ├─ transactions.rs EndTransaction(s); check-backs (sessions.rs: Telemetry)
//!  timers.rs: the leader releases due timers; held.rs: what a sent type asks
//!                └─ routes       QueryRoute / QueryAssignment via the nameservers; Telemetry, Heartbeat here
//! ```
//!
//! Business errors travel in the response's `Status` (the gRPC call
//! succeeds), as the official clients expect.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

pub mod convert;
pub mod filter;
mod forward;
mod groups;
pub mod held;
mod offsets;
pub mod pop;
pub mod receipt;
mod receive;
mod routes;
mod send;
pub mod sessions;
mod timers;
mod transactions;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use raftmq_proto::client::v1 as ext;
use raftmq_proto::client::v1::client_extensions_server::ClientExtensions;
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_server::MessagingService;
use raftmq_raft::RaftNode;
use tonic::{Request, Response, Status, Streaming};

pub use receive::PopState;

/// What the service needs to know of its broker.
#[derive(Clone, Debug)]
pub struct MessagingConf {
    /// `brokerName`.
    pub group: String,
    /// This member's advertised client address.
    pub store_host: String,
    /// `maxMessageSize`.
    pub max_message_size: usize,
    /// `defaultTopicQueueNums` when `autoCreateTopicEnable` is on.
    pub auto_create_queues: Option<u32>,
    /// The nameservers, for routes.
    pub namesrvs: Vec<String>,
    /// Timers, transactions and `enableTopicMessageTypeCheck`.
    pub held: crate::conf::HeldConf,
    /// `autoCreateSubscriptionGroup`: create a consumer group on first use.
    pub auto_create_groups: bool,
    /// `enablePropertyFilter`: SQL92 subscriptions accepted.
    pub enable_property_filter: bool,
}

/// The service of one member.
#[derive(Clone)]
pub struct Messaging {
    inner: Arc<Inner>,
}

struct Inner {
    node: Arc<RaftNode>,
    conf: MessagingConf,
    pops: PopState,
    leaders: forward::LeaderClients,
    routes: routes::RouteClient,
    sessions: Arc<sessions::Sessions>,
    /// Half messages discarded after `transactionCheckMax` unanswered
    /// checks while this member led, since it started.
    discarded: Arc<AtomicU64>,
    groups: groups::Creating,
}

impl Messaging {
    /// The service of `node`.
    pub fn new(node: Arc<RaftNode>, conf: MessagingConf) -> Self {
        let routes = routes::RouteClient::new(&conf.namesrvs);
        Self {
            inner: Arc::new(Inner {
                node,
                conf,
                pops: PopState::default(),
                leaders: forward::LeaderClients::default(),
                routes,
                sessions: Arc::default(),
                discarded: Arc::default(),
                groups: groups::Creating::default(),
            }),
        }
    }

    /// The Telemetry sessions open on this member (the admin service lists
    /// each group's consumers from them).
    pub fn sessions(&self) -> Arc<sessions::Sessions> {
        Arc::clone(&self.inner.sessions)
    }

    /// Commits the consumer progress not committed yet (a clean stop).
    pub async fn commit_now(&self) {
        receive::commit_progress(&self.inner).await;
    }

    /// Releases due timers while this member leads, until it stops.
    pub async fn run_timers(self) {
        timers::run(&self.inner).await;
    }

    /// Decides transaction check-back rounds while this member leads, and
    /// sends every round to the producers connected here, until the member
    /// stops.
    pub async fn run_transaction_checks(self) {
        tokio::join!(
            transactions::run_checks(&self.inner),
            transactions::run_check_sender(&self.inner)
        );
    }

    /// The count of half messages discarded after `transactionCheckMax`
    /// unanswered checks while this member led, since it started (what
    /// `brokerStatus` shows as `transactionsDiscardedSinceStart`).
    pub fn transactions_discarded(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.inner.discarded)
    }

    /// Commits consumer progress through Raft until the member stops:
    /// every 200 ms, the offsets below which every message of a queue was
    /// acknowledged.
    pub async fn run_committer(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            receive::commit_progress(&self.inner).await;
        }
    }
}

/// A refusal in the response's status.
fn refused(code: v2::Code, message: impl Into<String>) -> v2::Status {
    cp::status(code, message)
}

/// The calls forwarded to the leader when this member does not lead.
macro_rules! lead_or_forward {
    ($self:ident, $request:ident, $method:ident) => {
        if let Some(to) = forward::leader_addr(&$self.inner).await {
            return forward::$method(&$self.inner, &to, $request).await;
        }
    };
}

type ReceiveStream = receive::ResponseStream<v2::ReceiveMessageResponse>;
type PullStream = receive::ResponseStream<v2::PullMessageResponse>;

#[tonic::async_trait]
impl ClientExtensions for Messaging {
    async fn end_transactions(
        &self,
        request: Request<ext::EndTransactionsRequest>,
    ) -> Result<Response<ext::EndTransactionsResponse>, Status> {
        let n = request.get_ref().ends.len();
        if n > transactions::MAX_ENDS {
            return Err(Status::invalid_argument(format!(
                "{n} ends in one EndTransactions; at most {}",
                transactions::MAX_ENDS
            )));
        }
        if let Some(to) = forward::leader_addr(&self.inner).await {
            return forward::end_transactions(&self.inner, &to, request).await;
        }
        let answers = match cp::client_id(request.metadata()) {
            Err(status) => vec![status; n],
            Ok(_) => {
                let asked: Vec<transactions::EndAsked> = request
                    .into_inner()
                    .ends
                    .into_iter()
                    .map(transactions::EndAsked::from)
                    .collect();
                transactions::end_many(&self.inner, &asked).await
            }
        };
        Ok(Response::new(ext::EndTransactionsResponse {
            answers: answers
                .into_iter()
                .map(|s| ext::EndAnswer {
                    code: s.code,
                    message: s.message,
                })
                .collect(),
        }))
    }
}

#[tonic::async_trait]
impl MessagingService for Messaging {
    async fn query_route(
        &self,
        request: Request<v2::QueryRouteRequest>,
    ) -> Result<Response<v2::QueryRouteResponse>, Status> {
        Ok(Response::new(
            routes::query_route(&self.inner, request).await,
        ))
    }

    async fn heartbeat(
        &self,
        request: Request<v2::HeartbeatRequest>,
    ) -> Result<Response<v2::HeartbeatResponse>, Status> {
        let status = match cp::client_id(request.metadata()) {
            Ok(_) => cp::ok(),
            Err(s) => s,
        };
        // A consumer's heartbeat creates its group, as upstream's does
        // (the answer does not depend on it).
        let r = request.get_ref();
        let consumer = r.client_type != v2::ClientType::Producer as i32
            && r.client_type != v2::ClientType::Unspecified as i32;
        if let (true, Some(group)) = (consumer, r.group.as_ref()) {
            if let Ok(group) = convert::group_name(Some(group)) {
                let _ = groups::config_or_create(&self.inner, &group).await;
            }
        }
        Ok(Response::new(v2::HeartbeatResponse {
            status: Some(status),
        }))
    }

    async fn send_message(
        &self,
        request: Request<v2::SendMessageRequest>,
    ) -> Result<Response<v2::SendMessageResponse>, Status> {
        lead_or_forward!(self, request, send_message);
        Ok(Response::new(send::send(&self.inner, request).await))
    }

    async fn query_assignment(
        &self,
        request: Request<v2::QueryAssignmentRequest>,
    ) -> Result<Response<v2::QueryAssignmentResponse>, Status> {
        Ok(Response::new(
            routes::query_assignment(&self.inner, request).await,
        ))
    }

    type ReceiveMessageStream = ReceiveStream;

    async fn receive_message(
        &self,
        request: Request<v2::ReceiveMessageRequest>,
    ) -> Result<Response<Self::ReceiveMessageStream>, Status> {
        lead_or_forward!(self, request, receive_message);
        Ok(Response::new(receive::receive(&self.inner, request).await))
    }

    async fn ack_message(
        &self,
        request: Request<v2::AckMessageRequest>,
    ) -> Result<Response<v2::AckMessageResponse>, Status> {
        lead_or_forward!(self, request, ack_message);
        Ok(Response::new(receive::ack(&self.inner, request).await))
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        request: Request<v2::ForwardMessageToDeadLetterQueueRequest>,
    ) -> Result<Response<v2::ForwardMessageToDeadLetterQueueResponse>, Status> {
        lead_or_forward!(self, request, forward_message_to_dead_letter_queue);
        Ok(Response::new(
            receive::to_dead_letters(&self.inner, request).await,
        ))
    }

    type PullMessageStream = PullStream;

    async fn pull_message(
        &self,
        request: Request<v2::PullMessageRequest>,
    ) -> Result<Response<Self::PullMessageStream>, Status> {
        lead_or_forward!(self, request, pull_message);
        Ok(Response::new(offsets::pull(&self.inner, request).await))
    }

    async fn update_offset(
        &self,
        request: Request<v2::UpdateOffsetRequest>,
    ) -> Result<Response<v2::UpdateOffsetResponse>, Status> {
        lead_or_forward!(self, request, update_offset);
        Ok(Response::new(offsets::update(&self.inner, request).await))
    }

    async fn get_offset(
        &self,
        request: Request<v2::GetOffsetRequest>,
    ) -> Result<Response<v2::GetOffsetResponse>, Status> {
        lead_or_forward!(self, request, get_offset);
        Ok(Response::new(offsets::get(&self.inner, request).await))
    }

    async fn query_offset(
        &self,
        request: Request<v2::QueryOffsetRequest>,
    ) -> Result<Response<v2::QueryOffsetResponse>, Status> {
        lead_or_forward!(self, request, query_offset);
        Ok(Response::new(offsets::query(&self.inner, request).await))
    }

    async fn end_transaction(
        &self,
        request: Request<v2::EndTransactionRequest>,
    ) -> Result<Response<v2::EndTransactionResponse>, Status> {
        lead_or_forward!(self, request, end_transaction);
        Ok(Response::new(transactions::end(&self.inner, request).await))
    }

    type TelemetryStream = cp::TelemetryStream;

    async fn telemetry(
        &self,
        request: Request<Streaming<v2::TelemetryCommand>>,
    ) -> Result<Response<Self::TelemetryStream>, Status> {
        let max = i32::try_from(self.inner.conf.max_message_size).unwrap_or(i32::MAX);
        let client_id = cp::client_id(request.metadata()).unwrap_or_default();
        let inner = Arc::clone(&self.inner);
        Ok(Response::new(self.inner.sessions.serve(
            client_id,
            request.into_inner(),
            max,
            move |group| groups::config(&inner, group),
        )))
    }

    async fn notify_client_termination(
        &self,
        _request: Request<v2::NotifyClientTerminationRequest>,
    ) -> Result<Response<v2::NotifyClientTerminationResponse>, Status> {
        Ok(Response::new(v2::NotifyClientTerminationResponse {
            status: Some(cp::ok()),
        }))
    }

    async fn change_invisible_duration(
        &self,
        request: Request<v2::ChangeInvisibleDurationRequest>,
    ) -> Result<Response<v2::ChangeInvisibleDurationResponse>, Status> {
        lead_or_forward!(self, request, change_invisible_duration);
        Ok(Response::new(
            receive::change_invisible(&self.inner, request).await,
        ))
    }

    async fn recall_message(
        &self,
        _request: Request<v2::RecallMessageRequest>,
    ) -> Result<Response<v2::RecallMessageResponse>, Status> {
        Ok(Response::new(v2::RecallMessageResponse {
            status: Some(refused(
                v2::Code::Unsupported,
                "recalling messages is not supported by raftmq yet",
            )),
            message_id: String::new(),
        }))
    }

    async fn sync_lite_subscription(
        &self,
        _request: Request<v2::SyncLiteSubscriptionRequest>,
    ) -> Result<Response<v2::SyncLiteSubscriptionResponse>, Status> {
        Ok(Response::new(v2::SyncLiteSubscriptionResponse {
            status: Some(refused(
                v2::Code::Unsupported,
                "lite topics are not supported by raftmq yet",
            )),
        }))
    }
}
