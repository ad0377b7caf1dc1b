//! SendMessage with a shared request: the coalesced request is encoded
//! from an `Arc`, so trying it on another member (failover) costs a
//! reference count, not a copy of every message.

use std::marker::PhantomData;
use std::sync::Arc;

use raftmq_proto::rocketmq::v2;
use tonic::codec::{BufferSettings, Codec, EncodeBuf, Encoder, ProstCodec};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

const SEND_MESSAGE: &str = "/apache.rocketmq.v2.MessagingService/SendMessage";

/// Calls SendMessage on `channel` with a shared request.
pub(crate) async fn send_message(
    channel: Channel,
    request: Request<Arc<v2::SendMessageRequest>>,
) -> Result<Response<v2::SendMessageResponse>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("connection not ready: {e}")))?;
    grpc.unary(
        request,
        PathAndQuery::from_static(SEND_MESSAGE),
        SharedCodec::<v2::SendMessageRequest, v2::SendMessageResponse>::default(),
    )
    .await
}

/// Encodes `Arc<T>` with prost, decodes `U` as tonic's prost codec does.
struct SharedCodec<T, U>(PhantomData<fn() -> (T, U)>);

impl<T, U> Default for SharedCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for SharedCodec<T, U>
where
    T: prost::Message + Send + Sync + 'static,
    U: prost::Message + Default + Send + Sync + 'static,
{
    type Encode = Arc<T>;
    type Decode = U;
    type Encoder = SharedEncoder<T>;
    type Decoder = <ProstCodec<T, U> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        SharedEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::default())
    }
}

struct SharedEncoder<T>(PhantomData<fn() -> T>);

impl<T: prost::Message> Encoder for SharedEncoder<T> {
    type Item = Arc<T>;
    type Error = Status;

    fn encode(&mut self, item: Arc<T>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|e| Status::internal(format!("encoding SendMessage: {e}")))
    }
}
