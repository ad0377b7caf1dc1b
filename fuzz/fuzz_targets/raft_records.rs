//! The records of an AppendEntries from any bytes, with any announced
//! count: `codec::decode_records` (raft/src/codec.rs). The first four bytes
//! are the count (the wire's `entry_count`, little-endian), the rest the
//! records.
#![no_main]

#[allow(dead_code)]
#[path = "../../raft/tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((count, records)) = data.split_first_chunk::<4>() else {
        return;
    };
    checks::records(records, u32::from_le_bytes(*count));
});
