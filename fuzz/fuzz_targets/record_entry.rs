//! A commitlog entry from any bytes: header, CRC, and the body its kind
//! names (message records, a control command) (store/src/record/entry.rs).
#![no_main]

#[allow(dead_code)]
#[path = "../../store/tests/decode_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::entry(data));
