//! A receipt handle from any text: `Receipt::decode`
//! (broker/src/messaging/receipt.rs), as Ack and ChangeInvisibleDuration
//! run it on what a client sends.
#![no_main]

#[allow(dead_code)]
#[path = "../../broker/tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        checks::receipt(text);
    }
});
