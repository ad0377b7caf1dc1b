//! A SendMessage request as a broker's client port receives it: protobuf
//! bytes decoded by prost, then each message through
//! `messaging::convert::to_store`, the record codec and back through
//! `to_wire` (broker/src/messaging/convert.rs, send.rs).
#![no_main]

use prost::Message;
use raftmq_proto::rocketmq::v2;

#[allow(dead_code)]
#[path = "../../broker/tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(request) = v2::SendMessageRequest::decode(data) {
        checks::send_messages(request.messages);
    }
});
