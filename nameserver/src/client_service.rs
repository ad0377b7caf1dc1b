//! The routing calls of the RocketMQ 5 client protocol on the nameserver's
//! port, so an official client configured with the nameserver address
//! works: QueryRoute, QueryAssignment, Heartbeat, Telemetry,
//! NotifyClientTermination. The other calls belong to the brokers the
//! routes name, and are answered `UNSUPPORTED` with a message saying so.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use raftmq_model::TopicName;
use std::pin::Pin;
use std::sync::Arc;

use parking_lot::Mutex;
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_server::MessagingService;
use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

use crate::convert;
use crate::registry::Registry;

/// The client protocol's routing calls over the registry.
#[derive(Clone)]
pub struct ClientService {
    registry: Arc<Mutex<Registry>>,
}

impl ClientService {
    /// A service over `registry`.
    pub fn new(registry: Arc<Mutex<Registry>>) -> Self {
        Self { registry }
    }

    /// The route of `topic` (created-on-send routes for unknown topics where
    /// brokers allow it), or the status to answer.
    fn route<T>(
        &self,
        request: &Request<T>,
        topic: Option<&v2::Resource>,
    ) -> Result<raftmq_proto::namesrv::v1::TopicRouteResponse, v2::Status> {
        cp::client_id(request.metadata())?;
        let topic = TopicName::new(topic.map(|t| t.name.clone()).unwrap_or_default())
            .map_err(|e| cp::status(v2::Code::IllegalTopic, e.to_string()))?;
        // A send creates a missing topic, unless its prefix is reserved.
        let creatable = topic.check_user_named().is_ok();
        let registry = self.registry.lock();
        let route = registry.topic_route(&topic).or_else(|| {
            creatable
                .then(|| registry.auto_create_route(&topic))
                .flatten()
        });
        match route {
            Some(r) => Ok(convert::topic_route(r)),
            None => Err(cp::status(
                v2::Code::TopicNotFound,
                format!(
                    "topic {topic:?} does not exist and no broker creates topics on first send: \
                     create it with mqadmin updateTopic"
                ),
            )),
        }
    }
}

const BROKER_CALL: &str =
    "the nameserver answers routing calls only: send this call to a broker of the topic's route";

type Frames<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl MessagingService for ClientService {
    async fn query_route(
        &self,
        request: Request<v2::QueryRouteRequest>,
    ) -> Result<Response<v2::QueryRouteResponse>, Status> {
        let members = cp::Members::wanted(request.metadata());
        let answer = match self.route(&request, request.get_ref().topic.as_ref()) {
            Ok(route) => v2::QueryRouteResponse {
                status: Some(cp::ok()),
                message_queues: cp::message_queues(&route, members),
            },
            Err(status) => v2::QueryRouteResponse {
                status: Some(status),
                message_queues: Vec::new(),
            },
        };
        Ok(Response::new(answer))
    }

    async fn heartbeat(
        &self,
        request: Request<v2::HeartbeatRequest>,
    ) -> Result<Response<v2::HeartbeatResponse>, Status> {
        let status = cp::client_id(request.metadata()).map_or_else(|s| s, |_| cp::ok());
        Ok(Response::new(v2::HeartbeatResponse {
            status: Some(status),
        }))
    }

    async fn send_message(
        &self,
        _request: Request<v2::SendMessageRequest>,
    ) -> Result<Response<v2::SendMessageResponse>, Status> {
        Ok(Response::new(v2::SendMessageResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
            entries: Vec::new(),
        }))
    }

    async fn query_assignment(
        &self,
        request: Request<v2::QueryAssignmentRequest>,
    ) -> Result<Response<v2::QueryAssignmentResponse>, Status> {
        let members = cp::Members::wanted(request.metadata());
        let answer = match self.route(&request, request.get_ref().topic.as_ref()) {
            Ok(route) => v2::QueryAssignmentResponse {
                status: Some(cp::ok()),
                assignments: cp::assignments(&route, members),
            },
            Err(status) => v2::QueryAssignmentResponse {
                status: Some(status),
                assignments: Vec::new(),
            },
        };
        Ok(Response::new(answer))
    }

    type ReceiveMessageStream = Frames<v2::ReceiveMessageResponse>;

    async fn receive_message(
        &self,
        _request: Request<v2::ReceiveMessageRequest>,
    ) -> Result<Response<Self::ReceiveMessageStream>, Status> {
        let frame = v2::ReceiveMessageResponse {
            content: Some(v2::receive_message_response::Content::Status(cp::status(
                v2::Code::Unsupported,
                BROKER_CALL,
            ))),
        };
        Ok(Response::new(Box::pin(tokio_stream::iter([Ok(frame)]))))
    }

    async fn ack_message(
        &self,
        _request: Request<v2::AckMessageRequest>,
    ) -> Result<Response<v2::AckMessageResponse>, Status> {
        Ok(Response::new(v2::AckMessageResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
            entries: Vec::new(),
        }))
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        _request: Request<v2::ForwardMessageToDeadLetterQueueRequest>,
    ) -> Result<Response<v2::ForwardMessageToDeadLetterQueueResponse>, Status> {
        Ok(Response::new(v2::ForwardMessageToDeadLetterQueueResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
        }))
    }

    type PullMessageStream = Frames<v2::PullMessageResponse>;

    async fn pull_message(
        &self,
        _request: Request<v2::PullMessageRequest>,
    ) -> Result<Response<Self::PullMessageStream>, Status> {
        let frame = v2::PullMessageResponse {
            content: Some(v2::pull_message_response::Content::Status(cp::status(
                v2::Code::Unsupported,
                BROKER_CALL,
            ))),
        };
        Ok(Response::new(Box::pin(tokio_stream::iter([Ok(frame)]))))
    }

    async fn update_offset(
        &self,
        _request: Request<v2::UpdateOffsetRequest>,
    ) -> Result<Response<v2::UpdateOffsetResponse>, Status> {
        Ok(Response::new(v2::UpdateOffsetResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
        }))
    }

    async fn get_offset(
        &self,
        _request: Request<v2::GetOffsetRequest>,
    ) -> Result<Response<v2::GetOffsetResponse>, Status> {
        Ok(Response::new(v2::GetOffsetResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
            offset: 0,
        }))
    }

    async fn query_offset(
        &self,
        _request: Request<v2::QueryOffsetRequest>,
    ) -> Result<Response<v2::QueryOffsetResponse>, Status> {
        Ok(Response::new(v2::QueryOffsetResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
            offset: 0,
        }))
    }

    async fn end_transaction(
        &self,
        _request: Request<v2::EndTransactionRequest>,
    ) -> Result<Response<v2::EndTransactionResponse>, Status> {
        Ok(Response::new(v2::EndTransactionResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
        }))
    }

    type TelemetryStream = cp::TelemetryStream;

    async fn telemetry(
        &self,
        request: Request<Streaming<v2::TelemetryCommand>>,
    ) -> Result<Response<Self::TelemetryStream>, Status> {
        Ok(Response::new(cp::telemetry(
            request.into_inner(),
            cp::DEFAULT_MAX_BODY,
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
        _request: Request<v2::ChangeInvisibleDurationRequest>,
    ) -> Result<Response<v2::ChangeInvisibleDurationResponse>, Status> {
        Ok(Response::new(v2::ChangeInvisibleDurationResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
            receipt_handle: String::new(),
        }))
    }

    async fn recall_message(
        &self,
        _request: Request<v2::RecallMessageRequest>,
    ) -> Result<Response<v2::RecallMessageResponse>, Status> {
        Ok(Response::new(v2::RecallMessageResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
            message_id: String::new(),
        }))
    }

    async fn sync_lite_subscription(
        &self,
        _request: Request<v2::SyncLiteSubscriptionRequest>,
    ) -> Result<Response<v2::SyncLiteSubscriptionResponse>, Status> {
        Ok(Response::new(v2::SyncLiteSubscriptionResponse {
            status: Some(cp::status(v2::Code::Unsupported, BROKER_CALL)),
        }))
    }
}
