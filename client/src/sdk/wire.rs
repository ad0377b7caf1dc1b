//! SendMessage with messages encoded once: each message is encoded by the
//! caller that sends it, and the coalesced request is the concatenation of
//! those encodings, shared through an `Arc`, so trying it on another member
//! (failover) costs a reference count, not a copy of every message.

use std::sync::Arc;

use bytes::{BufMut, Bytes};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use raftmq_proto::rocketmq::v2;
use tonic::codec::{BufferSettings, Codec, EncodeBuf, Encoder, ProstCodec};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::lookahead::LookaheadBodies;

const SEND_MESSAGE: &str = "/apache.rocketmq.v2.MessagingService/SendMessage";

/// `SendMessageRequest.messages`: field 1, length-delimited.
const MESSAGES_FIELD: u32 = 1;

/// A SendMessageRequest made of messages each encoded on its own
/// (`Message::encode`).
#[derive(Debug, Default)]
pub(crate) struct EncodedSend {
    pub messages: Vec<Bytes>,
}

impl EncodedSend {
    /// The request's size on the wire.
    pub fn encoded_len(&self) -> usize {
        self.messages
            .iter()
            .map(|m| 1 + encoded_len_varint(m.len() as u64) + m.len())
            .sum()
    }

    fn encode(&self, buf: &mut impl BufMut) {
        for m in &self.messages {
            encode_key(MESSAGES_FIELD, WireType::LengthDelimited, buf);
            encode_varint(m.len() as u64, buf);
            buf.put_slice(m);
        }
    }
}

/// Calls SendMessage on `channel` with a shared request.
pub(crate) async fn send_message(
    channel: Channel,
    request: Request<Arc<EncodedSend>>,
) -> Result<Response<v2::SendMessageResponse>, Status> {
    let mut grpc = tonic::client::Grpc::new(LookaheadBodies(channel));
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(format!("connection not ready: {e}")))?;
    grpc.unary(request, PathAndQuery::from_static(SEND_MESSAGE), SendCodec)
        .await
}

/// Encodes an [`EncodedSend`], decodes the answer as tonic's prost codec does.
struct SendCodec;

impl Codec for SendCodec {
    type Encode = Arc<EncodedSend>;
    type Decode = v2::SendMessageResponse;
    type Encoder = SendEncoder;
    type Decoder = <ProstCodec<v2::SendMessageRequest, v2::SendMessageResponse> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        SendEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<v2::SendMessageRequest, v2::SendMessageResponse>::raw_decoder(
            BufferSettings::default(),
        )
    }
}

struct SendEncoder;

impl Encoder for SendEncoder {
    type Item = Arc<EncodedSend>;
    type Error = Status;

    fn encode(&mut self, item: Arc<EncodedSend>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.reserve(item.encoded_len());
        item.encode(buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn message(id: &str, body: &'static [u8]) -> v2::Message {
        v2::Message {
            topic: Some(v2::Resource {
                name: "T".into(),
                ..Default::default()
            }),
            system_properties: Some(v2::SystemProperties {
                message_id: id.into(),
                tag: Some("TagA".into()),
                keys: vec!["k1".into(), "k2".into()],
                queue_id: 3,
                ..Default::default()
            }),
            user_properties: [("a".to_owned(), "b".to_owned())].into(),
            body: Bytes::from_static(body),
        }
    }

    #[test]
    fn the_concatenation_is_the_request_prost_would_encode() {
        // One message with a body long enough for a two-byte length prefix.
        let messages = vec![message("M0", b"x"), message("M1", &[7u8; 300])];
        let sent = EncodedSend {
            messages: messages
                .iter()
                .map(|m| Bytes::from(m.encode_to_vec()))
                .collect(),
        };
        let mut ours = Vec::new();
        sent.encode(&mut ours);
        let theirs = v2::SendMessageRequest { messages }.encode_to_vec();
        assert_eq!(ours, theirs);
        assert_eq!(sent.encoded_len(), theirs.len());
        assert_eq!(EncodedSend::default().encoded_len(), 0);
    }
}
