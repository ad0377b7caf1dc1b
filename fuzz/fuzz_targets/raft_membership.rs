//! A membership body or a snapshot plan from any bytes:
//! `codec::decode_membership` and `codec::decode_plan` (raft/src/codec.rs).
//! The first byte picks the decoder (even: membership, odd: plan).
#![no_main]

#[allow(dead_code)]
#[path = "../../raft/tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        checks::membership(rest);
    } else {
        checks::plan(rest);
    }
});
