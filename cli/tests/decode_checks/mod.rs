//! What the conf file syntax promises whatever the text, as a function that
//! both `tests/decode_garbage.rs` (stable, in CI) and the cargo-fuzz target
//! `conf` in `fuzz/` run: `entries` returns the `key=value` lines or the
//! first bad line's number, never panics, and what it returns reads back
//! the same when written out again.

use raftmq_cli::properties::{entries, nearest};

/// Keys a typo is matched against.
const KEYS: &[&str] = &["listenPort", "brokerName", "dLegerPeers", "namesrvAddr"];

/// The entries of a conf file, and the typo suggestion for each key.
pub fn properties(text: &str) {
    let lines = text.lines().count();
    match entries(text) {
        Ok(found) => {
            let mut last = 0;
            for e in &found {
                assert!(
                    e.line > last && e.line <= lines,
                    "line {} of {lines}",
                    e.line
                );
                last = e.line;
                assert!(!e.key.is_empty() && e.key.trim() == e.key, "{:?}", e.key);
                assert!(!e.key.contains(['=', ':']), "{:?}", e.key);
                assert_eq!(e.value.trim(), e.value);
                if let Some(n) = nearest(e.key, KEYS.iter().copied()) {
                    assert!(KEYS.contains(&n));
                }
            }
            // Written out again (after a blank first line, so that no
            // byte-order mark is taken for one), the same pairs come back.
            let again: String = found
                .iter()
                .map(|e| format!("\n{}={}", e.key, e.value))
                .collect();
            let back = entries(&again).expect("written-out entries parse");
            let pairs = |v: &[raftmq_cli::properties::Entry<'_>]| {
                v.iter()
                    .map(|e| (e.key.to_owned(), e.value.to_owned()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(pairs(&back), pairs(&found));
        }
        Err((line, _)) => assert!(line >= 1 && line <= lines, "line {line} of {lines}"),
    }
}

/// Conf texts that parse: the stock nameserver file and a broker file with
/// every syntax the parser takes (comments, `:`, spaces, CRLF, a BOM).
pub fn valid_texts() -> Vec<&'static str> {
    vec![
        include_str!("../../../conf/namesrv.conf"),
        include_str!("../../../conf/dledger/broker-n2.conf"),
        "\u{feff}# c\r\n\r\nbrokerName = RaftNode00 # note\r\nlistenPort:30911\n! bang\nnamesrvAddr=a#b\n",
    ]
}
