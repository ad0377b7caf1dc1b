//! A commitlog message record, and a batch body of them, from any bytes:
//! `MessageView::decode` and `iter_batch` (store/src/record/message).
#![no_main]

#[allow(dead_code)]
#[path = "../../store/tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::message_record(data));
