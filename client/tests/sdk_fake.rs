//! A fake in-process `MessagingService` for the SDK tests: one server
//! plays nameserver and broker group `g0`, records what it gets, and can
//! be told to fail, delay or deliver. Included by the `sdk_*` tests; as a
//! test target of its own it has no tests.

#![allow(dead_code)]
// The fake server runs on tasks of the test's runtime, ended with it.
#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftmq_proto::client_protocol::{self, Members};
use raftmq_proto::namesrv::v1 as ns;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_server::{
    MessagingService, MessagingServiceServer,
};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Every wait in these tests is bounded by this.
pub const BOUND: Duration = Duration::from_secs(20);

/// What the fake has seen and what it will do.
#[derive(Debug, Default)]
pub struct State {
    /// Topics that exist (others answer TOPIC_NOT_FOUND).
    pub topics: HashSet<String>,
    /// Queues per topic in group g0.
    pub queues: u32,
    /// Addresses the route lists for g0, leader first.
    pub members: Vec<String>,
    /// Messages per SendMessage request, in arrival order.
    pub send_sizes: Vec<usize>,
    /// The queues each SendMessage request named, in order of arrival.
    pub send_queues: Vec<std::collections::BTreeSet<i32>>,
    /// Every message id sent, retries included.
    pub sent_ids: Vec<String>,
    /// SendMessage requests still to refuse with INTERNAL_SERVER_ERROR.
    pub fail_sends: usize,
    /// Stored messages per (topic, queue id).
    pub log: HashMap<(String, i32), Vec<v2::Message>>,
    /// The headers of every call (name -> value, x-mq-* and x-raftmq-*).
    pub headers: Vec<HashMap<String, String>>,
    /// Settings received on Telemetry streams.
    pub settings: Vec<v2::Settings>,
    /// Messages ReceiveMessage hands out, in order.
    pub to_deliver: VecDeque<v2::Message>,
    /// Every ReceiveMessage request.
    pub receives: Vec<v2::ReceiveMessageRequest>,
    /// Acked receipt handles.
    pub acks: Vec<String>,
    /// ChangeInvisibleDuration calls: (receipt handle, duration ms).
    pub changes: Vec<(String, u128)>,
    /// Receipt handles replaced by ChangeInvisibleDuration.
    pub retired: HashSet<String>,
    /// Message ids forwarded to the dead-letter queue.
    pub dlq: Vec<String>,
    /// Committed offsets per (group, topic, queue id).
    pub committed: HashMap<(String, String, i32), i64>,
    /// QueryRoute calls.
    pub route_queries: usize,
    /// NotifyClientTermination calls.
    pub terminations: usize,
    /// Every EndTransaction request, in order of arrival.
    pub ends: Vec<v2::EndTransactionRequest>,
    /// EndTransaction requests still to refuse with HA_NOT_AVAILABLE.
    pub fail_ends: usize,
    /// Transactions by id: `None` while open, else how they ended.
    pub transactions: HashMap<String, Option<v2::TransactionResolution>>,
    /// The server's side of every Telemetry stream, to send commands
    /// (weak: a stream ends when its client closes it).
    pub streams: Vec<tokio::sync::mpsc::WeakSender<Result<v2::TelemetryCommand, Status>>>,
}

/// The fake service; cheap to clone.
#[derive(Clone, Default)]
pub struct Fake {
    pub state: Arc<Mutex<State>>,
    pub changed: Arc<Notify>,
    /// Time each SendMessage takes (a broker's commit latency).
    pub send_delay: Duration,
    /// Never answer Telemetry settings (as a server that hangs would).
    pub silent_telemetry: bool,
    /// The consumer group's configuration the settings replies carry
    /// (upstream's defaults when None).
    pub group_config: Option<raftmq_model::SubscriptionGroupConfig>,
}

pub struct Served {
    pub addr: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Served {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(BOUND, self.task).await;
    }
}

/// An address nothing listens on.
pub async fn dead_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr").to_string()
}

pub fn delivered(id: &str, tag: &str, attempt: i32) -> v2::Message {
    v2::Message {
        topic: Some(v2::Resource {
            resource_namespace: String::new(),
            name: "T".into(),
        }),
        user_properties: HashMap::new(),
        system_properties: Some(v2::SystemProperties {
            tag: Some(tag.into()),
            message_id: id.into(),
            body_encoding: v2::Encoding::Identity.into(),
            receipt_handle: Some(format!("rh-{id}")),
            delivery_attempt: Some(attempt),
            queue_id: 1,
            queue_offset: Some(0),
            ..Default::default()
        }),
        body: bytes::Bytes::from(format!("body-{id}")),
    }
}

fn ok() -> v2::Status {
    client_protocol::ok()
}

fn status(code: v2::Code) -> v2::Status {
    client_protocol::status(code, code.as_str_name())
}

impl Fake {
    /// A fake knowing topic `T` with `queues` queues.
    pub fn new(queues: u32) -> Self {
        let f = Fake::default();
        {
            let mut s = f.lock();
            s.topics.insert("T".into());
            s.queues = queues;
        }
        f
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves on 127.0.0.1:0; the route lists `before` (e.g. dead
    /// addresses) and then this server.
    pub async fn serve(&self, before: &[String]) -> Served {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        {
            let mut s = self.lock();
            s.members = before.to_vec();
            s.members.push(addr.clone());
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let svc = MessagingServiceServer::new(self.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await;
        });
        Served { addr, stop, task }
    }

    /// Sends `command` on every open Telemetry stream; returns how many
    /// took it.
    pub async fn tell(&self, command: v2::telemetry_command::Command) -> usize {
        let streams = self.lock().streams.clone();
        let mut told = 0;
        for tx in streams.iter().filter_map(|w| w.upgrade()) {
            let cmd = v2::TelemetryCommand {
                status: Some(ok()),
                command: Some(command.clone()),
            };
            if tx.send(Ok(cmd)).await.is_ok() {
                told += 1;
            }
        }
        told
    }

    /// Waits until `cond` holds on the state, or panics after BOUND.
    pub async fn wait_until(&self, what: &str, cond: impl Fn(&State) -> bool) {
        let deadline = tokio::time::Instant::now() + BOUND;
        loop {
            let notified = self.changed.notified();
            if cond(&self.lock()) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {what}: {:?}", self.lock());
            }
        }
    }

    fn record<T>(&self, r: &Request<T>) {
        let h = r
            .metadata()
            .iter()
            .filter_map(|kv| match kv {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                    Some((k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                }
                _ => None,
            })
            .filter(|(k, _)| k.starts_with("x-mq-") || k.starts_with("x-raftmq-"))
            .collect();
        self.lock().headers.push(h);
    }

    fn touch(&self) {
        self.changed.notify_waiters();
    }

    fn route(&self, topic: &str) -> Option<Vec<v2::MessageQueue>> {
        let s = self.lock();
        if !s.topics.contains(topic) {
            return None;
        }
        let route = ns::TopicRouteResponse {
            topic: topic.into(),
            groups: vec![ns::GroupRoute {
                cluster: "C".into(),
                group: "g0".into(),
                read_queues: s.queues,
                write_queues: s.queues,
                perm: 6,
                leader: Some(0),
                members: s
                    .members
                    .iter()
                    .enumerate()
                    .map(|(i, a)| ns::RouteMember {
                        bid: i as u64,
                        member_id: i as u64,
                        client_addr: a.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
        };
        Some(client_protocol::message_queues(&route, Members::All))
    }
}

type Frames<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn frames<T: Send + 'static>(v: Vec<T>) -> Frames<T> {
    Box::pin(tokio_stream::iter(v.into_iter().map(Ok)))
}

fn name(r: &Option<v2::Resource>) -> String {
    r.as_ref().map(|r| r.name.clone()).unwrap_or_default()
}

#[tonic::async_trait]
impl MessagingService for Fake {
    async fn query_route(
        &self,
        r: Request<v2::QueryRouteRequest>,
    ) -> Result<Response<v2::QueryRouteResponse>, Status> {
        self.record(&r);
        self.lock().route_queries += 1;
        let topic = name(&r.get_ref().topic);
        let resp = match self.route(&topic) {
            Some(qs) => v2::QueryRouteResponse {
                status: Some(ok()),
                message_queues: qs,
            },
            None => v2::QueryRouteResponse {
                status: Some(status(v2::Code::TopicNotFound)),
                message_queues: vec![],
            },
        };
        Ok(Response::new(resp))
    }

    async fn heartbeat(
        &self,
        r: Request<v2::HeartbeatRequest>,
    ) -> Result<Response<v2::HeartbeatResponse>, Status> {
        self.record(&r);
        Ok(Response::new(v2::HeartbeatResponse { status: Some(ok()) }))
    }

    async fn send_message(
        &self,
        r: Request<v2::SendMessageRequest>,
    ) -> Result<Response<v2::SendMessageResponse>, Status> {
        self.record(&r);
        if !self.send_delay.is_zero() {
            tokio::time::sleep(self.send_delay).await;
        }
        let req = r.into_inner();
        let mut s = self.lock();
        s.send_sizes.push(req.messages.len());
        let queues = req
            .messages
            .iter()
            .filter_map(|m| m.system_properties.as_ref().map(|p| p.queue_id))
            .collect();
        s.send_queues.push(queues);
        for m in &req.messages {
            let id = m.system_properties.as_ref().map(|p| p.message_id.clone());
            s.sent_ids.push(id.unwrap_or_default());
        }
        if s.fail_sends > 0 {
            s.fail_sends -= 1;
            drop(s);
            self.touch();
            return Ok(Response::new(v2::SendMessageResponse {
                status: Some(status(v2::Code::InternalServerError)),
                entries: vec![],
            }));
        }
        let mut entries = Vec::new();
        for mut m in req.messages {
            let topic = name(&m.topic);
            let Some(sp) = m.system_properties.as_mut() else {
                return Err(Status::invalid_argument("no system properties"));
            };
            let key = (topic, sp.queue_id);
            let log = s.log.entry(key).or_default();
            let offset = log.len() as i64;
            sp.queue_offset = Some(offset);
            sp.store_timestamp = sp.born_timestamp;
            let id = sp.message_id.clone();
            let transactional = sp.message_type == v2::MessageType::Transaction as i32;
            log.push(m);
            let transaction_id = if transactional {
                let tx = format!("tx-{id}");
                s.transactions.insert(tx.clone(), None);
                tx
            } else {
                String::new()
            };
            entries.push(v2::SendResultEntry {
                status: Some(ok()),
                message_id: id,
                transaction_id,
                offset,
                ..Default::default()
            });
        }
        drop(s);
        self.touch();
        Ok(Response::new(v2::SendMessageResponse {
            status: Some(ok()),
            entries,
        }))
    }

    async fn query_assignment(
        &self,
        r: Request<v2::QueryAssignmentRequest>,
    ) -> Result<Response<v2::QueryAssignmentResponse>, Status> {
        self.record(&r);
        let topic = name(&r.get_ref().topic);
        let assignments = self
            .route(&topic)
            .unwrap_or_default()
            .into_iter()
            .take(1)
            .map(|mut q| {
                q.id = -1;
                v2::Assignment {
                    message_queue: Some(q),
                }
            })
            .collect();
        Ok(Response::new(v2::QueryAssignmentResponse {
            status: Some(ok()),
            assignments,
        }))
    }

    type ReceiveMessageStream = Frames<v2::ReceiveMessageResponse>;

    async fn receive_message(
        &self,
        r: Request<v2::ReceiveMessageRequest>,
    ) -> Result<Response<Self::ReceiveMessageStream>, Status> {
        use v2::receive_message_response::Content;
        self.record(&r);
        let req = r.into_inner();
        let wait = req
            .long_polling_timeout
            .map(|d| Duration::from_millis(d.seconds as u64 * 1000 + d.nanos as u64 / 1_000_000))
            .unwrap_or_default()
            .min(Duration::from_secs(2));
        let batch = req.batch_size.max(1) as usize;
        self.lock().receives.push(req);
        self.touch();
        let deadline = tokio::time::Instant::now() + wait;
        let got: Vec<v2::Message> = loop {
            let notified = self.changed.notified();
            {
                let mut s = self.lock();
                if !s.to_deliver.is_empty() {
                    let n = batch.min(s.to_deliver.len());
                    break s.to_deliver.drain(..n).collect();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break Vec::new();
            }
        };
        let mut out = Vec::new();
        if got.is_empty() {
            out.push(Content::Status(status(v2::Code::MessageNotFound)));
        } else {
            out.push(Content::Status(ok()));
            out.extend(got.into_iter().map(Content::Message));
        }
        out.push(Content::DeliveryTimestamp(prost_types::Timestamp::default()));
        Ok(Response::new(frames(
            out.into_iter()
                .map(|c| v2::ReceiveMessageResponse { content: Some(c) })
                .collect(),
        )))
    }

    async fn ack_message(
        &self,
        r: Request<v2::AckMessageRequest>,
    ) -> Result<Response<v2::AckMessageResponse>, Status> {
        self.record(&r);
        let req = r.into_inner();
        let mut entries = Vec::new();
        {
            let mut s = self.lock();
            for e in req.entries {
                let st = if e.receipt_handle.starts_with("rh-")
                    && !s.retired.contains(&e.receipt_handle)
                {
                    s.acks.push(e.receipt_handle.clone());
                    ok()
                } else {
                    status(v2::Code::InvalidReceiptHandle)
                };
                entries.push(v2::AckMessageResultEntry {
                    message_id: e.message_id,
                    receipt_handle: e.receipt_handle,
                    status: Some(st),
                });
            }
        }
        self.touch();
        Ok(Response::new(v2::AckMessageResponse {
            status: Some(ok()),
            entries,
        }))
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        r: Request<v2::ForwardMessageToDeadLetterQueueRequest>,
    ) -> Result<Response<v2::ForwardMessageToDeadLetterQueueResponse>, Status> {
        self.record(&r);
        self.lock().dlq.push(r.into_inner().message_id);
        self.touch();
        Ok(Response::new(v2::ForwardMessageToDeadLetterQueueResponse {
            status: Some(ok()),
        }))
    }

    type PullMessageStream = Frames<v2::PullMessageResponse>;

    async fn pull_message(
        &self,
        r: Request<v2::PullMessageRequest>,
    ) -> Result<Response<Self::PullMessageStream>, Status> {
        use v2::pull_message_response::Content;
        self.record(&r);
        let req = r.into_inner();
        let q = req.message_queue.unwrap_or_default();
        let key = (name(&q.topic), q.id);
        let s = self.lock();
        let log = s.log.get(&key).cloned().unwrap_or_default();
        let from = req.offset.max(0) as usize;
        let got: Vec<v2::Message> = log
            .iter()
            .skip(from)
            .take(req.batch_size.max(1) as usize)
            .cloned()
            .collect();
        let next = (from + got.len()) as i64;
        let mut out = vec![Content::Status(if got.is_empty() {
            status(v2::Code::MessageNotFound)
        } else {
            ok()
        })];
        out.extend(got.into_iter().map(Content::Message));
        out.push(Content::NextOffset(next));
        Ok(Response::new(frames(
            out.into_iter()
                .map(|c| v2::PullMessageResponse { content: Some(c) })
                .collect(),
        )))
    }

    async fn update_offset(
        &self,
        r: Request<v2::UpdateOffsetRequest>,
    ) -> Result<Response<v2::UpdateOffsetResponse>, Status> {
        self.record(&r);
        let req = r.into_inner();
        let q = req.message_queue.unwrap_or_default();
        self.lock()
            .committed
            .insert((name(&req.group), name(&q.topic), q.id), req.offset);
        self.touch();
        Ok(Response::new(v2::UpdateOffsetResponse {
            status: Some(ok()),
        }))
    }

    async fn get_offset(
        &self,
        r: Request<v2::GetOffsetRequest>,
    ) -> Result<Response<v2::GetOffsetResponse>, Status> {
        self.record(&r);
        let req = r.into_inner();
        let q = req.message_queue.unwrap_or_default();
        let key = (name(&req.group), name(&q.topic), q.id);
        let resp = match self.lock().committed.get(&key) {
            Some(o) => v2::GetOffsetResponse {
                status: Some(ok()),
                offset: *o,
            },
            None => v2::GetOffsetResponse {
                status: Some(status(v2::Code::OffsetNotFound)),
                offset: -1,
            },
        };
        Ok(Response::new(resp))
    }

    async fn query_offset(
        &self,
        r: Request<v2::QueryOffsetRequest>,
    ) -> Result<Response<v2::QueryOffsetResponse>, Status> {
        self.record(&r);
        let req = r.into_inner();
        let q = req.message_queue.clone().unwrap_or_default();
        let s = self.lock();
        let log = s
            .log
            .get(&(name(&q.topic), q.id))
            .cloned()
            .unwrap_or_default();
        let offset = match req.query_offset_policy() {
            v2::QueryOffsetPolicy::Beginning => 0,
            v2::QueryOffsetPolicy::End => log.len() as i64,
            v2::QueryOffsetPolicy::Timestamp => {
                let at = req.timestamp.unwrap_or_default();
                let at = (at.seconds, at.nanos);
                log.iter()
                    .position(|m| {
                        let t = m
                            .system_properties
                            .as_ref()
                            .and_then(|p| p.store_timestamp)
                            .unwrap_or_default();
                        (t.seconds, t.nanos) >= at
                    })
                    .unwrap_or(log.len()) as i64
            }
        };
        Ok(Response::new(v2::QueryOffsetResponse {
            status: Some(ok()),
            offset,
        }))
    }

    /// Ends a transaction the fake's SendMessage opened: a repeat of the
    /// same answer is OK, the other answer or an unknown id is
    /// INVALID_TRANSACTION_ID.
    async fn end_transaction(
        &self,
        r: Request<v2::EndTransactionRequest>,
    ) -> Result<Response<v2::EndTransactionResponse>, Status> {
        self.record(&r);
        let req = r.into_inner();
        let answer = req.resolution();
        let st = {
            let mut s = self.lock();
            s.ends.push(req.clone());
            if s.fail_ends > 0 {
                s.fail_ends -= 1;
                status(v2::Code::HaNotAvailable)
            } else {
                match s.transactions.get_mut(&req.transaction_id) {
                    Some(ended @ None) => {
                        *ended = Some(answer);
                        ok()
                    }
                    Some(Some(first)) if *first == answer => ok(),
                    _ => status(v2::Code::InvalidTransactionId),
                }
            }
        };
        self.touch();
        Ok(Response::new(v2::EndTransactionResponse {
            status: Some(st),
        }))
    }

    type TelemetryStream = client_protocol::TelemetryStream;

    async fn telemetry(
        &self,
        r: Request<tonic::Streaming<v2::TelemetryCommand>>,
    ) -> Result<Response<Self::TelemetryStream>, Status> {
        self.record(&r);
        let mut incoming = r.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        self.lock().streams.push(tx.downgrade());
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok(Some(cmd)) = incoming.message().await {
                if me.silent_telemetry {
                    continue;
                }
                if let Some(v2::telemetry_command::Command::Settings(s)) = cmd.command {
                    me.lock().settings.push(s.clone());
                    me.touch();
                    let reply = client_protocol::settings_reply_for_group(
                        s,
                        client_protocol::DEFAULT_MAX_BODY,
                        me.group_config.as_ref(),
                    );
                    if tx.send(Ok(reply)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn notify_client_termination(
        &self,
        r: Request<v2::NotifyClientTerminationRequest>,
    ) -> Result<Response<v2::NotifyClientTerminationResponse>, Status> {
        self.record(&r);
        self.lock().terminations += 1;
        self.touch();
        Ok(Response::new(v2::NotifyClientTerminationResponse {
            status: Some(ok()),
        }))
    }

    async fn change_invisible_duration(
        &self,
        r: Request<v2::ChangeInvisibleDurationRequest>,
    ) -> Result<Response<v2::ChangeInvisibleDurationResponse>, Status> {
        self.record(&r);
        let req = r.into_inner();
        let ms = req
            .invisible_duration
            .map(|d| d.seconds as u128 * 1000 + d.nanos as u128 / 1_000_000)
            .unwrap_or_default();
        {
            let mut s = self.lock();
            s.changes.push((req.receipt_handle.clone(), ms));
            s.retired.insert(req.receipt_handle.clone());
        }
        self.touch();
        Ok(Response::new(v2::ChangeInvisibleDurationResponse {
            status: Some(ok()),
            receipt_handle: format!("{}-next", req.receipt_handle),
        }))
    }

    async fn recall_message(
        &self,
        _r: Request<v2::RecallMessageRequest>,
    ) -> Result<Response<v2::RecallMessageResponse>, Status> {
        Err(Status::unimplemented("no recall"))
    }

    async fn sync_lite_subscription(
        &self,
        _r: Request<v2::SyncLiteSubscriptionRequest>,
    ) -> Result<Response<v2::SyncLiteSubscriptionResponse>, Status> {
        Err(Status::unimplemented("no lite topics"))
    }
}
