//! Calls that need the leader, made on a member that does not lead: sent on
//! to the leader's client port as they came (headers included), once. The
//! leader's client address comes from the group's own address book
//! ([`RaftNode::client_addr`]: asked of the leader over its Raft port), never
//! from a nameserver.
//!
//! A forwarded call carries `x-raftmq-forwarded`; a member that receives one
//! and does not lead either answers UNAVAILABLE instead of forwarding again,
//! and the client retries (its route lists every member, leader first).

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use raftmq_proto::client::v1 as ext;
use raftmq_proto::client::v1::client_extensions_client::ClientExtensionsClient;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::receive::ResponseStream;
use super::Inner;

const FORWARDED: &str = "x-raftmq-forwarded";

/// One long-lived connection per leader address.
#[derive(Default)]
pub(super) struct LeaderClients(Mutex<HashMap<String, Channel>>);

impl LeaderClients {
    fn channel(&self, addr: &str) -> Result<Channel, Status> {
        let mut map = self.0.lock();
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| Status::internal(format!("bad leader address {addr}: {e}")))?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true);
        let c = endpoint.connect_lazy();
        map.insert(addr.to_owned(), c.clone());
        Ok(c)
    }
}

/// The leader a call goes on to: its id, and its client address or why
/// that is not known.
pub(super) struct Leader {
    id: u64,
    addr: Result<String, Status>,
}

/// Where this member sends calls that need the leader: `None` when it
/// leads (handle here), else the leader.
pub(super) async fn leader_addr(inner: &Inner) -> Option<Result<Leader, Status>> {
    if inner.node.is_leader() {
        return None;
    }
    let Some(id) = inner.node.leader() else {
        return Some(Err(Status::unavailable(
            "the group is electing a leader; retry in a moment",
        )));
    };
    let addr = inner
        .node
        .client_addr(id)
        .await
        .map_err(|e| Status::unavailable(format!("cannot forward to the leader: {e}; retry")));
    Some(Ok(Leader { id, addr }))
}

impl Leader {
    /// The connection to the leader's client port.
    fn channel(&self, inner: &Inner) -> Result<Channel, Status> {
        let addr = self.addr.as_ref().map_err(Clone::clone)?;
        inner.leaders.channel(addr)
    }

    /// A client on the leader's client port.
    fn client(&self, inner: &Inner) -> Result<MessagingServiceClient<Channel>, Status> {
        Ok(MessagingServiceClient::new(self.channel(inner)?)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX))
    }

    /// Passes a failed call's status on; one that never reached the leader
    /// makes this member ask the leader for its address again next time (it
    /// may have restarted elsewhere).
    fn failed(&self, inner: &Inner, status: Status) -> Status {
        if raftmq_raft::channels::never_sent(&status) {
            inner.node.forget_client_addr(self.id);
        }
        status
    }
}

/// The request as it goes on: same body and headers, marked forwarded.
fn onward<T>(request: Request<T>) -> Result<Request<T>, Status> {
    if request.metadata().contains_key(FORWARDED) {
        return Err(Status::unavailable(
            "forwarded to a member that no longer leads; retry",
        ));
    }
    let (mut meta, ext, body) = request.into_parts();
    meta.insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    // The caller's deadline header goes on too (tonic keeps it in metadata).
    Ok(Request::from_parts(meta, ext, body))
}

macro_rules! unary {
    ($name:ident, $req:ty, $resp:ty) => {
        pub(super) async fn $name(
            inner: &Inner,
            to: &Result<Leader, Status>,
            request: Request<$req>,
        ) -> Result<Response<$resp>, Status> {
            let to = to.as_ref().map_err(Clone::clone)?;
            let mut c = to.client(inner)?;
            c.$name(onward(request)?)
                .await
                .map_err(|s| to.failed(inner, s))
        }
    };
}

unary!(
    send_message,
    v2::SendMessageRequest,
    v2::SendMessageResponse
);
unary!(ack_message, v2::AckMessageRequest, v2::AckMessageResponse);
unary!(
    forward_message_to_dead_letter_queue,
    v2::ForwardMessageToDeadLetterQueueRequest,
    v2::ForwardMessageToDeadLetterQueueResponse
);
unary!(
    update_offset,
    v2::UpdateOffsetRequest,
    v2::UpdateOffsetResponse
);
unary!(get_offset, v2::GetOffsetRequest, v2::GetOffsetResponse);
unary!(
    query_offset,
    v2::QueryOffsetRequest,
    v2::QueryOffsetResponse
);
unary!(
    end_transaction,
    v2::EndTransactionRequest,
    v2::EndTransactionResponse
);
unary!(
    change_invisible_duration,
    v2::ChangeInvisibleDurationRequest,
    v2::ChangeInvisibleDurationResponse
);

/// raftmq's EndTransactions, sent on to the leader.
pub(super) async fn end_transactions(
    inner: &Inner,
    to: &Result<Leader, Status>,
    request: Request<ext::EndTransactionsRequest>,
) -> Result<Response<ext::EndTransactionsResponse>, Status> {
    let to = to.as_ref().map_err(Clone::clone)?;
    let mut c = ClientExtensionsClient::new(to.channel(inner)?)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    c.end_transactions(onward(request)?)
        .await
        .map_err(|s| to.failed(inner, s))
}

macro_rules! streaming {
    ($name:ident, $req:ty, $item:ty) => {
        pub(super) async fn $name(
            inner: &Inner,
            to: &Result<Leader, Status>,
            request: Request<$req>,
        ) -> Result<Response<ResponseStream<$item>>, Status> {
            let to = to.as_ref().map_err(Clone::clone)?;
            let mut c = to.client(inner)?;
            let stream = c
                .$name(onward(request)?)
                .await
                .map_err(|s| to.failed(inner, s))?
                .into_inner();
            let boxed: ResponseStream<$item> = Box::pin(stream.map(|r| r));
            Ok(Response::new(boxed))
        }
    };
}

streaming!(
    receive_message,
    v2::ReceiveMessageRequest,
    v2::ReceiveMessageResponse
);
streaming!(
    pull_message,
    v2::PullMessageRequest,
    v2::PullMessageResponse
);
