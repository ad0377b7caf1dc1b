//! The ceiling of the RocketMQ 5 gRPC protocol on this machine: a tonic
//! `MessagingService` that stores nothing and answers every SendMessage at once
//! (`grpc-server`, run as its own process), and a client that sends one
//! message per call as the official clients do (`grpc-ceiling`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use raftmq_proto::client_protocol::{client_id, ok, CLIENT_ID_HEADER};
use raftmq_proto::rocketmq::v2 as pb;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;
use raftmq_proto::rocketmq::v2::messaging_service_server::{
    MessagingService, MessagingServiceServer,
};
use serde_json::json;
use tokio_stream::Stream;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

use super::cpu::CpuMeter;
use super::driver::closed_loop;
use super::report::{Percentiles, Report};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A `MessagingService` that only answers SendMessage: OK, one entry per
/// message, nothing stored.
#[derive(Debug, Default)]
pub struct DoNothing {
    calls: AtomicU64,
}

// The trait's own return type: its Err (tonic::Status) is large.
#[allow(clippy::result_large_err)]
fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented(
        "peerbench grpc-server answers SendMessage only",
    ))
}

#[tonic::async_trait]
impl MessagingService for DoNothing {
    async fn query_route(
        &self,
        _: Request<pb::QueryRouteRequest>,
    ) -> Result<Response<pb::QueryRouteResponse>, Status> {
        unimplemented()
    }

    async fn heartbeat(
        &self,
        _: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        unimplemented()
    }

    async fn send_message(
        &self,
        request: Request<pb::SendMessageRequest>,
    ) -> Result<Response<pb::SendMessageResponse>, Status> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        // The same header check a broker makes.
        if let Err(status) = client_id(request.metadata()) {
            return Ok(Response::new(pb::SendMessageResponse {
                status: Some(status),
                entries: vec![],
            }));
        }
        let entries = request
            .into_inner()
            .messages
            .into_iter()
            .map(|m| pb::SendResultEntry {
                status: Some(ok()),
                message_id: m
                    .system_properties
                    .map(|p| p.message_id)
                    .unwrap_or_default(),
                ..Default::default()
            })
            .collect();
        Ok(Response::new(pb::SendMessageResponse {
            status: Some(ok()),
            entries,
        }))
    }

    async fn query_assignment(
        &self,
        _: Request<pb::QueryAssignmentRequest>,
    ) -> Result<Response<pb::QueryAssignmentResponse>, Status> {
        unimplemented()
    }

    type ReceiveMessageStream = BoxStream<pb::ReceiveMessageResponse>;

    async fn receive_message(
        &self,
        _: Request<pb::ReceiveMessageRequest>,
    ) -> Result<Response<Self::ReceiveMessageStream>, Status> {
        unimplemented()
    }

    async fn ack_message(
        &self,
        _: Request<pb::AckMessageRequest>,
    ) -> Result<Response<pb::AckMessageResponse>, Status> {
        unimplemented()
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        _: Request<pb::ForwardMessageToDeadLetterQueueRequest>,
    ) -> Result<Response<pb::ForwardMessageToDeadLetterQueueResponse>, Status> {
        unimplemented()
    }

    type PullMessageStream = BoxStream<pb::PullMessageResponse>;

    async fn pull_message(
        &self,
        _: Request<pb::PullMessageRequest>,
    ) -> Result<Response<Self::PullMessageStream>, Status> {
        unimplemented()
    }

    async fn update_offset(
        &self,
        _: Request<pb::UpdateOffsetRequest>,
    ) -> Result<Response<pb::UpdateOffsetResponse>, Status> {
        unimplemented()
    }

    async fn get_offset(
        &self,
        _: Request<pb::GetOffsetRequest>,
    ) -> Result<Response<pb::GetOffsetResponse>, Status> {
        unimplemented()
    }

    async fn query_offset(
        &self,
        _: Request<pb::QueryOffsetRequest>,
    ) -> Result<Response<pb::QueryOffsetResponse>, Status> {
        unimplemented()
    }

    async fn end_transaction(
        &self,
        _: Request<pb::EndTransactionRequest>,
    ) -> Result<Response<pb::EndTransactionResponse>, Status> {
        unimplemented()
    }

    type TelemetryStream = BoxStream<pb::TelemetryCommand>;

    async fn telemetry(
        &self,
        _: Request<tonic::Streaming<pb::TelemetryCommand>>,
    ) -> Result<Response<Self::TelemetryStream>, Status> {
        unimplemented()
    }

    async fn notify_client_termination(
        &self,
        _: Request<pb::NotifyClientTerminationRequest>,
    ) -> Result<Response<pb::NotifyClientTerminationResponse>, Status> {
        unimplemented()
    }

    async fn change_invisible_duration(
        &self,
        _: Request<pb::ChangeInvisibleDurationRequest>,
    ) -> Result<Response<pb::ChangeInvisibleDurationResponse>, Status> {
        unimplemented()
    }

    async fn recall_message(
        &self,
        _: Request<pb::RecallMessageRequest>,
    ) -> Result<Response<pb::RecallMessageResponse>, Status> {
        unimplemented()
    }

    async fn sync_lite_subscription(
        &self,
        _: Request<pb::SyncLiteSubscriptionRequest>,
    ) -> Result<Response<pb::SyncLiteSubscriptionResponse>, Status> {
        unimplemented()
    }
}

/// `peerbench grpc-server`: serves [`DoNothing`] on 127.0.0.1:`port` (0: any
/// free port) until SIGTERM or SIGINT. Prints `listening 127.0.0.1:PORT` on
/// stdout once it accepts connections.
pub async fn serve(port: u16) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{port}"))?;
    let addr = listener.local_addr()?;
    // tonic's tcp_nodelay applies only to listeners it binds itself: set it on
    // every accepted socket (see docs/benchmarks.md, "40 ms stalls").
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let incoming = tokio_stream::StreamExt::map(incoming, |conn| {
        conn.inspect(|s| {
            if let Err(e) = s.set_nodelay(true) {
                eprintln!("[grpc-server] TCP_NODELAY: {e}");
            }
        })
    });
    println!("listening {addr}");
    eprintln!(
        "[grpc-server] pid {} serving a do-nothing MessagingService on {addr}",
        std::process::id()
    );
    let service = std::sync::Arc::new(DoNothing::default());
    let shutdown = async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    eprintln!("[grpc-server] no SIGTERM handler: {e}");
                    return std::future::pending().await;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    Server::builder()
        .add_service(MessagingServiceServer::from_arc(service.clone()))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .context("serving")?;
    eprintln!(
        "[grpc-server] stopped after {} SendMessage calls",
        service.calls.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Options of `peerbench grpc-ceiling`.
#[derive(Debug, Clone)]
pub struct CeilingOptions {
    pub addr: SocketAddr,
    pub size: usize,
    pub messages: u64,
    pub inflight: usize,
    pub time_limit: Option<Duration>,
    /// HTTP/2 connections, calls spread round-robin (official clients: 1 per endpoint).
    pub connections: usize,
    pub warmup: u64,
    pub server_pids: Vec<u32>,
}

/// Everything one SendMessage call carries, built once; each call clones it
/// and sets the message id.
struct CallTemplate {
    body: Bytes,
    client_id: MetadataValue<tonic::metadata::Ascii>,
    born_host: String,
}

impl CallTemplate {
    fn request(&self, i: u64) -> Request<pb::SendMessageRequest> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let message = pb::Message {
            topic: Some(pb::Resource {
                resource_namespace: String::new(),
                name: "peerbench".to_owned(),
            }),
            user_properties: Default::default(),
            system_properties: Some(pb::SystemProperties {
                message_id: format!("01{:016X}{:08X}", std::process::id(), i),
                body_encoding: pb::Encoding::Identity.into(),
                message_type: pb::MessageType::Normal.into(),
                born_timestamp: Some(prost_types::Timestamp {
                    seconds: now.as_secs() as i64,
                    nanos: now.subsec_nanos() as i32,
                }),
                born_host: self.born_host.clone(),
                ..Default::default()
            }),
            body: self.body.clone(),
        };
        let mut request = Request::new(pb::SendMessageRequest {
            messages: vec![message],
        });
        let meta = request.metadata_mut();
        meta.insert(CLIENT_ID_HEADER, self.client_id.clone());
        meta.insert("x-mq-language", MetadataValue::from_static("RUST"));
        meta.insert("x-mq-protocol", MetadataValue::from_static("v2"));
        request.set_timeout(Duration::from_secs(3));
        request
    }
}

async fn send_one(
    mut client: MessagingServiceClient<Channel>,
    template: &CallTemplate,
    i: u64,
) -> Result<()> {
    let response = client.send_message(template.request(i)).await?.into_inner();
    let code = response.status.as_ref().map(|s| s.code);
    if code != Some(pb::Code::Ok as i32) {
        bail!("SendMessage answered {:?}", response.status);
    }
    if response.entries.len() != 1 {
        bail!(
            "SendMessage answered {} entries for 1 message",
            response.entries.len()
        );
    }
    Ok(())
}

/// `peerbench grpc-ceiling`: one message per SendMessage call, `inflight`
/// calls outstanding, against a `grpc-server`.
pub async fn ceiling(opts: &CeilingOptions) -> Result<Report> {
    let endpoint = Endpoint::from_shared(format!("http://{}", opts.addr))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    let mut clients = Vec::with_capacity(opts.connections.max(1));
    for _ in 0..opts.connections.max(1) {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {}", opts.addr))?;
        clients.push(MessagingServiceClient::new(channel));
    }
    let template = std::sync::Arc::new(CallTemplate {
        body: Bytes::from(vec![b'x'; opts.size]),
        client_id: MetadataValue::try_from(format!(
            "peerbench@{}#0#{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ))?,
        born_host: "127.0.0.1".to_owned(),
    });
    for i in 0..opts.warmup {
        send_one(clients[0].clone(), &template, i)
            .await
            .context("warm-up call")?;
    }

    let server_cpu = if opts.server_pids.is_empty() {
        None
    } else {
        Some(CpuMeter::start(&opts.server_pids)?)
    };
    let client_cpu = CpuMeter::start(&[std::process::id()])?;
    let offset = opts.warmup;
    let clients = std::sync::Arc::new(clients);
    let mut result = closed_loop(
        "grpc-ceiling",
        opts.messages,
        opts.inflight,
        opts.time_limit,
        move |i| {
            let client = clients[i as usize % clients.len()].clone();
            let template = template.clone();
            async move { send_one(client, &template, offset + i).await }
        },
    )
    .await;
    let server_cpu_s = server_cpu.map(|m| m.seconds()).transpose()?;
    let client_cpu_s = client_cpu.seconds()?;
    Ok(Report {
        bench: "grpc-ceiling",
        size: opts.size,
        inflight: opts.inflight,
        requested: opts.messages,
        acked: result.latencies_us.len() as u64,
        errors: result.errors,
        first_error: result.first_error.take(),
        elapsed: result.elapsed,
        latency: Percentiles::of(&mut result.latencies_us),
        server_cpu_s,
        client_cpu_s: Some(client_cpu_s),
        notes: vec![
            ("messages_per_call", json!(1)),
            ("connections", json!(opts.connections.max(1))),
        ],
    })
}
