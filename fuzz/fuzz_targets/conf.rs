//! A conf file from any text: the `key=value` syntax
//! (`raftmq_cli::properties::entries`, cli/src/properties.rs) and a broker
//! conf built from it (`raftmq_broker::conf::parse_with_env`).
#![no_main]

#[allow(dead_code)]
#[path = "../../cli/tests/decode_checks/mod.rs"]
mod cli_checks;

#[allow(dead_code)]
#[path = "../../broker/tests/decode_checks/mod.rs"]
mod broker_checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        cli_checks::properties(text);
        broker_checks::broker_conf(text);
    }
});
