//! An AppendEntries request as the Raft port receives it: protobuf bytes
//! decoded by prost, then `convert::from_append_request` (raft/src/convert.rs,
//! raft/src/codec.rs).
#![no_main]

use prost::Message;
use raftmq_proto::raft::v1 as pb;

#[allow(dead_code)]
#[path = "../../raft/tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(request) = pb::AppendEntriesRequest::decode(data) {
        checks::append_request(request);
    }
});
