//! A SQL92 filter expression from any text: compiled
//! (`raftmq_filter::SqlFilter::compile`) and, when it compiles, evaluated.
#![no_main]

#[allow(dead_code)]
#[path = "../../filter/tests/decode_checks/mod.rs"]
mod filter_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        filter_checks::sql(text);
    }
});
