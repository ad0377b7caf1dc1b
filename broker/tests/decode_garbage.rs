//! What a client can hand the broker, over deterministic garbage: the
//! messages of SendMessage calls (random and mutated fields: illegal and
//! edge-length topics, ids and tags, huge keys, extreme timestamps, unknown
//! enum values), receipt handles (mutated text, and mutated bytes with a
//! fixed-up CRC), and conf files (mutated stock files, random lines). Every
//! input must be accepted or refused without a panic, and what is accepted
//! must come back unchanged. The checks are the bodies of the cargo-fuzz
//! targets `send_request`, `receipt` and `conf` (`fuzz/`), so CI runs them
//! on stable.

mod decode_checks;
#[path = "../../store/tests/garbage/mod.rs"]
mod garbage;
use garbage::Rng;

use std::collections::HashMap;

use bytes::Bytes;
use raftmq_broker::messaging::convert;
use raftmq_broker::messaging::receipt::Receipt;
use raftmq_proto::rocketmq::v2;

/// Inputs per check: enough to reach every refusal, fast in debug builds.
const INPUTS: usize = 20_000;

impl Rng {
    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }

    /// A string of `n` characters from a mix of name characters, separators,
    /// control characters and multi-byte ones.
    fn text(&mut self, n: usize) -> String {
        const CHARS: &[char] = &[
            'a',
            'Z',
            '0',
            '9',
            '%',
            '|',
            '_',
            '-',
            '.',
            ' ',
            '#',
            '=',
            ':',
            '\\',
            '\n',
            '\r',
            '\t',
            '\0',
            '\u{7f}',
            'é',
            '\u{feff}',
            '\u{10ffff}',
            '/',
            '+',
        ];
        (0..n).map(|_| *self.pick(CHARS)).collect()
    }

    /// A string whose length sits near the limits the broker checks.
    fn edgy_text(&mut self) -> String {
        let n = match self.below(6) {
            0 => 0,
            1 => *self.pick(&[127, 128, 129]),
            2 => 1 + self.below(8),
            _ => self.below(40),
        };
        if self.below(3) == 0 {
            "a".repeat(n)
        } else {
            self.text(n)
        }
    }

    fn timestamp(&mut self) -> Option<prost_types::Timestamp> {
        if self.below(3) == 0 {
            return None;
        }
        let (s, n) = (self.next() as i64, self.next() as i32);
        Some(prost_types::Timestamp {
            seconds: *self.pick(&[0, -1, i64::MIN, i64::MAX, 1_700_000_000, s]),
            nanos: *self.pick(&[0, -1, i32::MIN, i32::MAX, 999_999_999, n]),
        })
    }
}

/// One message with fields drawn to break the broker's checks.
fn garbage_message(rng: &mut Rng, valid: &[v2::Message]) -> v2::Message {
    let mut m = rng.pick(valid).clone();
    let sp = m.system_properties.get_or_insert_with(Default::default);
    for _ in 0..1 + rng.below(4) {
        match rng.below(14) {
            0 => m.topic = None,
            1 => {
                m.topic = Some(v2::Resource {
                    resource_namespace: rng.edgy_text(),
                    name: rng.edgy_text(),
                })
            }
            2 => sp.message_id = rng.edgy_text(),
            3 => sp.tag = (rng.below(4) != 0).then(|| rng.edgy_text()),
            4 => sp.keys = (0..rng.below(4)).map(|_| rng.edgy_text()).collect(),
            // A key past the record format's u16 length: refused at encode.
            5 if rng.below(8) == 0 => sp.keys = vec!["k".repeat(70_000)],
            6 => {
                m.user_properties = (0..rng.below(4))
                    .map(|_| (rng.edgy_text(), rng.edgy_text()))
                    .collect::<HashMap<_, _>>()
            }
            7 => sp.message_type = *rng.pick(&[-1, 0, 1, 2, 3, 4, 5, 6, 7, 255, 256, i32::MAX]),
            8 => sp.body_encoding = *rng.pick(&[-1, 0, 1, 2, 3, i32::MIN]),
            9 => sp.born_timestamp = rng.timestamp(),
            10 => sp.delivery_timestamp = rng.timestamp(),
            11 => sp.queue_id = *rng.pick(&[-1, 0, 1, 7, i32::MIN, i32::MAX]),
            12 => {
                // Bodies at the size limit are slow to copy in debug builds: rare.
                let n = if rng.below(16) == 0 {
                    *rng.pick(&[decode_checks::MAX_BODY, decode_checks::MAX_BODY + 1])
                } else {
                    *rng.pick(&[0, 1, 100, 4096])
                };
                m.body = Bytes::from(vec![0x5a; n]);
            }
            _ => {
                sp.message_group = (rng.below(2) == 0).then(|| rng.edgy_text());
                sp.trace_context = (rng.below(2) == 0).then(|| rng.edgy_text());
                sp.born_host = rng.edgy_text();
            }
        }
    }
    if rng.below(8) == 0 {
        m.system_properties = None;
    }
    m
}

#[test]
fn valid_messages_are_stored_and_come_back() {
    let valid = decode_checks::valid_messages();
    for m in &valid {
        assert!(
            convert::to_store(
                m.clone(),
                decode_checks::MAX_BODY,
                decode_checks::STORE_HOST
            )
            .is_ok(),
            "{m:?} refused"
        );
    }
    decode_checks::send_messages(valid);
}

#[test]
fn garbage_messages_are_refused_or_stored_whole() {
    let mut rng = Rng(0x5eed_0201);
    let valid = decode_checks::valid_messages();
    let (mut accepted, mut refused) = (0, 0);
    // A call carries several messages; bodies of MAX_BODY bytes are rare.
    for _ in 0..INPUTS / 4 {
        let call: Vec<v2::Message> = (0..4).map(|_| garbage_message(&mut rng, &valid)).collect();
        for m in &call {
            match convert::to_store(
                m.clone(),
                decode_checks::MAX_BODY,
                decode_checks::STORE_HOST,
            ) {
                Ok(_) => accepted += 1,
                Err(_) => refused += 1,
            }
        }
        decode_checks::send_messages(call);
    }
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn garbage_receipt_handles_are_refused() {
    let mut rng = Rng(0x5eed_0202);
    let valid = decode_checks::valid_receipts();
    for text in &valid {
        assert!(Receipt::decode(text).is_some(), "{text} refused");
        decode_checks::receipt(text);
    }
    let mut decoded = 0;
    for _ in 0..INPUTS {
        let base = rng.pick(&valid).clone();
        let text = match rng.below(4) {
            0 => {
                let n = rng.below(80);
                rng.text(n)
            }
            1 => {
                // Text-level damage: swap, drop or add characters.
                let mut chars: Vec<char> = base.chars().collect();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(chars.len());
                    let c = *rng.pick(&['0', 'f', 'F', 'g', '+', '-', ' ', 'é']);
                    match rng.below(3) {
                        0 if !chars.is_empty() => chars[at] = c,
                        1 => chars.truncate(at),
                        _ => chars.insert(at.min(chars.len()), c),
                    }
                }
                chars.into_iter().collect()
            }
            _ => {
                // Byte-level damage under a valid CRC: reaches the field reader.
                let mut bytes: Vec<u8> = (0..base.len() / 2)
                    .map(|i| u8::from_str_radix(&base[2 * i..2 * i + 2], 16).unwrap_or(0))
                    .collect();
                bytes.truncate(bytes.len().saturating_sub(4));
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(bytes.len());
                    match rng.below(3) {
                        0 if !bytes.is_empty() => bytes[at] = rng.next() as u8,
                        1 => bytes.truncate(at),
                        _ => bytes.insert(at.min(bytes.len()), rng.next() as u8),
                    }
                }
                let crc = crc32fast::hash(&bytes);
                bytes.extend_from_slice(&crc.to_le_bytes());
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
        };
        decode_checks::receipt(&text);
        decoded += usize::from(Receipt::decode(&text).is_some());
    }
    assert!(
        decoded < INPUTS / 2,
        "{decoded} of {INPUTS} damaged handles decoded"
    );
}

#[test]
fn garbage_conf_files_are_refused_naming_the_file() {
    let mut rng = Rng(0x5eed_0203);
    let valid = decode_checks::valid_confs();
    for text in &valid {
        decode_checks::broker_conf(text);
    }
    const KEYS: &[&str] = &[
        "listenPort",
        "brokerName",
        "dLegerPeers",
        "dLegerSelfId",
        "namesrvAddr",
        "maxMessageSize",
        "flushDiskType",
        "storePathRootDir",
    ];
    const VALUES: &[&str] = &[
        "",
        "0",
        "-1",
        "99999999999999999999",
        "n0-127.0.0.1:40911;n1-127.0.0.1:40912",
        "n0-;n1-:;;",
        "n0-127.0.0.1:",
        "n9",
        "ASYNC_FLUSH",
        "127.0.0.1:9876;",
        "/tmp/x",
    ];
    // Conf files are small; fewer inputs keep this quick in debug builds.
    for _ in 0..INPUTS / 4 {
        let mut lines: Vec<String> = rng.pick(&valid).lines().map(str::to_owned).collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(lines.len());
            let line = match rng.below(3) {
                0 => format!("{}={}", rng.pick(KEYS), rng.pick(VALUES)),
                1 => {
                    let n = rng.below(30);
                    rng.text(n)
                }
                _ => format!("{}{}", rng.pick(KEYS), rng.text(3)),
            };
            if rng.below(2) == 0 && at < lines.len() {
                lines[at] = line;
            } else {
                lines.insert(at.min(lines.len()), line);
            }
        }
        decode_checks::broker_conf(&lines.join("\n"));
    }
}
