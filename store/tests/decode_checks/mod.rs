//! What the store's decoders promise whatever the bytes, as functions that
//! both `tests/decode_garbage.rs` (stable, in CI) and the cargo-fuzz targets
//! in `fuzz/` (`record_message`, `record_entry`) run: decoding returns `Ok`
//! or `Err` and never panics, and what decodes encodes back to the same
//! thing.

use bytes::Bytes;
use raftmq_model::TopicName;
use raftmq_store::meta_state::Command;
use raftmq_store::record::entry::{self, EntryKind, HEADER_LEN};
use raftmq_store::record::message::{
    encode_batch, iter_batch, peek_len, Message, MessageType, MessageView, FLAG_BODY_GZIP,
    MIN_RECORD_LEN,
};

/// One message record (and a batch body) from the start of `data`.
pub fn message_record(data: &[u8]) {
    match peek_len(data) {
        Ok(len) => assert!(len >= MIN_RECORD_LEN, "peek_len accepted {len}"),
        Err(_) => assert!(MessageView::decode(data).is_err()),
    }
    if let Ok(view) = MessageView::decode(data) {
        check_view(&view, data);
    }
    let mut last_end = 0usize;
    let mut count = 0usize;
    for item in iter_batch(data) {
        match item {
            Ok((at, view)) => {
                assert_eq!(at, last_end, "records are laid end to end");
                check_view(&view, &data[at..]);
                last_end = at + view.encoded_len();
                count += 1;
                assert!(
                    count <= data.len() / MIN_RECORD_LEN,
                    "more records than bytes allow"
                );
            }
            Err(_) => break,
        }
    }
}

/// A decoded view: inside its input, every accessor consistent, and its
/// owned copy encodes to exactly the bytes it was decoded from.
fn check_view(view: &MessageView<'_>, input: &[u8]) {
    let raw = view.as_bytes();
    assert!(raw.len() >= MIN_RECORD_LEN && raw.len() <= input.len());
    assert_eq!(raw, &input[..raw.len()]);
    assert_eq!(view.keys().count(), view.key_count());
    assert_eq!(view.properties().count(), view.property_count());
    assert!(view.body().len() <= raw.len());
    let owned = view.to_message();
    let mut again = Vec::new();
    owned
        .encode(&mut again)
        .expect("a decoded record encodes again");
    assert_eq!(again, raw, "decode then encode is not the identity");
    let back = MessageView::decode(&again).expect("an encoded record decodes");
    assert_eq!(back.to_message(), owned);
}

/// One commitlog entry from the start of `data` (its header, its CRC, and
/// the body its kind names), and an end-of-segment marker. The body is
/// decoded whether or not the CRC matches: a body can also arrive unchecked
/// (a forwarded write), so its decoder must survive anything too.
pub fn entry(data: &[u8]) {
    let _ = entry::is_eos(data, data.len() as u64);
    let Ok(header) = entry::decode_header(data, data.len() as u64) else {
        return;
    };
    let len = header.len as usize;
    assert!(
        len >= HEADER_LEN && len <= data.len(),
        "header length {len} let through"
    );
    let bytes = &data[..len];
    let body = &bytes[HEADER_LEN..];
    match header.kind {
        EntryKind::Messages => message_record(body),
        EntryKind::Command => command(body),
        EntryKind::Blank | EntryKind::Membership => {}
    }
    if entry::verify(&header, bytes).is_err() {
        return;
    }
    // The header re-encoded from the decoded fields describes the same entry.
    let mut h = [0u8; HEADER_LEN];
    entry::encode_header(&mut h, header.kind, header.index, header.term, body);
    let mut again = h.to_vec();
    again.extend_from_slice(body);
    let back = entry::decode_header(&again, again.len() as u64).expect("re-encoded header");
    assert_eq!(
        (back.kind, back.len, back.index, back.term),
        (header.kind, header.len, header.index, header.term)
    );
    entry::verify(&back, &again).expect("re-encoded CRC");
}

/// A control command body (topic or group change, offset commit, ...).
pub fn command(body: &[u8]) {
    if let Ok(cmd) = Command::decode(body) {
        let again = cmd.encode().expect("a decoded command encodes again");
        assert_eq!(Command::decode(&again), Ok(cmd));
    }
}

fn legal(name: &str) -> TopicName {
    name.parse().expect("legal topic")
}

/// Message records of every shape: bare, with every optional field, with
/// keys, properties and a body; each is one input.
pub fn valid_records() -> Vec<Vec<u8>> {
    let bare = Message {
        message_id: "id-0".into(),
        ..Message::new(legal("T"))
    };
    let full = Message {
        topic: legal("TopicTest"),
        queue_id: 3,
        tag: Some("TagA".into()),
        keys: vec!["k1".into(), "k2".into()],
        properties: vec![("a".into(), "1".into()), ("b".into(), "two".into())],
        body: Bytes::from_static(b"hello raftmq"),
        message_type: MessageType::Delay,
        flags: FLAG_BODY_GZIP,
        born_timestamp_ms: 1_700_000_000_000,
        store_timestamp_ms: 1_700_000_000_123,
        delivery_timestamp_ms: Some(1_700_000_060_000),
        born_host: "127.0.0.1:50000".into(),
        store_host: "127.0.0.1:30911".into(),
        message_id: "01HZX0000000000000000000".into(),
        message_group: Some("g".into()),
        trace_context: Some("00-trace".into()),
        reconsume_count: 2,
    };
    let fifo = Message {
        message_type: MessageType::Fifo,
        message_group: Some("customer-7".into()),
        body: Bytes::from(vec![0u8; 40]),
        message_id: "id-2".into(),
        ..Message::new(legal("Orders"))
    };
    let mut out = Vec::new();
    for m in [&bare, &full, &fifo] {
        let mut b = Vec::new();
        m.encode(&mut b).expect("encode a message");
        out.push(b);
    }
    let mut batch = Vec::new();
    encode_batch(&[bare, full, fifo], &mut batch).expect("encode a batch");
    out.push(batch);
    out
}

/// Commitlog entries of every kind, each with a body its kind reads.
pub fn valid_entries() -> Vec<Vec<u8>> {
    let records = valid_records();
    let command = Command::CommitOffsets {
        group: "GroupA".parse().expect("legal"),
        offsets: vec![("TopicTest".parse().expect("legal"), 0, 42)],
    }
    .encode()
    .expect("encode a command");
    let group = Command::UpsertGroup {
        group: "GroupA".parse().expect("legal"),
        config: raftmq_store::meta_state::SubscriptionGroupConfig {
            consume_orderly: true,
            retry_max_times: 2,
            ..Default::default()
        },
    }
    .encode()
    .expect("encode a group command");
    let bodies: [(EntryKind, &[u8]); 5] = [
        (EntryKind::Blank, &[]),
        (EntryKind::Membership, b"\x01\x00\x00\x00"),
        (EntryKind::Messages, &records[records.len() - 1]),
        (EntryKind::Command, &command),
        (EntryKind::Command, &group),
    ];
    bodies
        .iter()
        .enumerate()
        .map(|(i, (kind, body))| {
            let mut h = [0u8; HEADER_LEN];
            entry::encode_header(&mut h, *kind, i as u64 + 1, 1, body);
            let mut v = h.to_vec();
            v.extend_from_slice(body);
            v
        })
        .collect()
}
