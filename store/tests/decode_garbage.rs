//! The store's decoders (message records, batch bodies, commitlog entries,
//! control commands) over deterministic garbage: pseudo-random bytes and
//! mutations of valid encodings (bit flips, truncations, lengths set to
//! extremes, spliced ranges). Every input must decode to `Ok` or `Err`
//! without panicking, and what decodes must encode back to the same bytes.
//! The checks are the bodies of the cargo-fuzz targets `record_message` and
//! `record_entry` (`fuzz/`), so CI runs them on stable Rust.

mod decode_checks;
mod garbage;
use garbage::{mutate, Rng};

use raftmq_store::record::entry;
use raftmq_store::record::message::MessageView;

/// Inputs per decoder: enough to reach every error path, fast in debug builds.
const INPUTS: usize = 20_000;

/// Every prefix of every valid input, then random bytes (one in four) and
/// mutations of the valid inputs, `INPUTS` in all.
fn garbage(seed: u64, valid: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    let mut out: Vec<Vec<u8>> = valid
        .iter()
        .flat_map(|v| (0..v.len()).map(|n| v[..n].to_vec()))
        .collect();
    while out.len() < INPUTS {
        if rng.below(4) == 0 {
            let n = rng.below(256);
            out.push(rng.bytes(n));
        } else {
            let base = &valid[rng.below(valid.len())];
            out.push(mutate(&mut rng, base));
        }
    }
    out.truncate(INPUTS);
    out
}

#[test]
fn valid_records_decode_and_round_trip() {
    for v in decode_checks::valid_records() {
        let view = MessageView::decode(&v).expect("a valid record decodes");
        let mut again = Vec::new();
        view.to_message().encode(&mut again).expect("encode");
        assert!(v.starts_with(&again), "round trip changed the record");
        decode_checks::message_record(&v);
    }
}

#[test]
fn garbage_message_records_never_panic() {
    let valid = decode_checks::valid_records();
    let (mut ok, mut err) = (0, 0);
    for input in garbage(0x5eed_0001, &valid) {
        decode_checks::message_record(&input);
        match MessageView::decode(&input) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    // Both paths ran: the mutations keep some records whole and break most.
    assert!(ok > 0 && err > ok, "{ok} decoded, {err} refused");
}

#[test]
fn valid_entries_decode_and_verify() {
    for v in decode_checks::valid_entries() {
        let h = entry::decode_header(&v, v.len() as u64).expect("a valid header");
        entry::verify(&h, &v).expect("a valid CRC");
        decode_checks::entry(&v);
    }
}

#[test]
fn garbage_entries_never_panic() {
    let valid = decode_checks::valid_entries();
    let (mut ok, mut err) = (0, 0);
    for input in garbage(0x5eed_0002, &valid) {
        decode_checks::entry(&input);
        let whole = entry::decode_header(&input, input.len() as u64)
            .ok()
            .filter(|h| entry::verify(h, &input[..h.len as usize]).is_ok());
        match whole {
            Some(_) => ok += 1,
            None => err += 1,
        }
    }
    assert!(ok > 0 && err > ok, "{ok} verified, {err} refused");
}
