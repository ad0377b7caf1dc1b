//! What the broker's handling of client input promises whatever a client
//! sends, as functions that both `tests/decode_garbage.rs` (stable, in CI)
//! and the cargo-fuzz targets in `fuzz/` (`send_request`, `receipt`,
//! `conf`) run: the messages of a SendMessage call turned into store
//! records, receipt handles, and conf files. Each returns `Ok` or `Err`
//! without panicking, what it accepts passes its documented checks, and
//! what converts or decodes comes back unchanged.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use raftmq_broker::conf::{self, Env};
use raftmq_broker::messaging::convert::{self, Delivery};
use raftmq_broker::messaging::receipt::Receipt;
use raftmq_proto::rocketmq::v2;
use raftmq_store::record::message::{encode_batch, MessageCodecError, MessageView};

/// The body limit the checks apply (`maxMessageSize`'s default).
pub const MAX_BODY: usize = 4 << 20;
/// The store host the checks stamp on records.
pub const STORE_HOST: &str = "127.0.0.1:30911";

/// The messages of one SendMessage call, each as `send` converts it for the
/// store: refused with a code, or encoded as a record that decodes and goes
/// back to the client as it came.
pub fn send_messages(messages: Vec<v2::Message>) {
    for m in messages {
        let original = m.clone();
        let Ok(stored) = convert::to_store(m, MAX_BODY, STORE_HOST) else {
            continue;
        };
        assert!(
            raftmq_model::TopicName::user_named(stored.topic.as_str()).is_ok(),
            "{:?}",
            stored.topic
        );
        assert!(stored.body.len() <= MAX_BODY);
        assert!(!stored.message_id.is_empty() && stored.message_id.len() <= 128);
        if let Some(tag) = &stored.tag {
            assert!(!tag.is_empty() && !tag.contains("||"), "{tag:?}");
        }
        let mut record = Vec::new();
        match encode_batch(std::slice::from_ref(&stored), &mut record) {
            Ok(_) => {}
            // A field over the record format's limits: the write is refused.
            Err(MessageCodecError::TooLong { .. }) => continue,
            Err(e) => panic!("encoding an accepted message failed: {e}"),
        }
        let view = MessageView::decode(&record).expect("an encoded record decodes");
        assert_eq!(view.to_message(), stored);
        let wire = convert::to_wire(
            &view,
            Bytes::copy_from_slice(view.body()),
            &Delivery::default(),
        );
        assert_eq!(wire.topic.map(|t| t.name), Some(stored.topic.to_string()));
        assert_eq!(wire.body, original.body);
        assert_eq!(wire.user_properties, original.user_properties);
        let sp = wire.system_properties.unwrap_or_default();
        let sent = original.system_properties.unwrap_or_default();
        assert_eq!(sp.message_id, sent.message_id);
        assert_eq!(sp.tag, sent.tag);
        assert_eq!(sp.keys, sent.keys);
        assert_eq!(sp.message_group, sent.message_group);
        assert_eq!(sp.trace_context, sent.trace_context);
    }
}

/// A receipt handle as ack and ChangeInvisibleDuration decode it.
pub fn receipt(text: &str) {
    if let Some(r) = Receipt::decode(text) {
        assert!(r.topic.len() <= usize::from(u16::MAX));
        assert_eq!(Receipt::decode(&r.encode()), Some(r));
    }
}

/// A broker conf file as `mqbroker -c` reads it: every refusal and every
/// warning names the file.
pub fn broker_conf(text: &str) {
    let path = Path::new("fuzz/broker.conf");
    match conf::parse_with_env(path, text, &Env::default()) {
        Ok((_, warnings)) => {
            for w in warnings {
                assert!(w.contains("fuzz/broker.conf"), "{w}");
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz/broker.conf"), "{e}"),
    }
}

/// Messages as the SDK sends them: plain, tagged with keys and properties,
/// FIFO, delayed, gzip.
pub fn valid_messages() -> Vec<v2::Message> {
    let message = |topic: &str, id: &str, body: &'static [u8]| v2::Message {
        topic: Some(v2::Resource {
            resource_namespace: String::new(),
            name: topic.into(),
        }),
        user_properties: HashMap::new(),
        system_properties: Some(v2::SystemProperties {
            message_id: id.into(),
            born_host: "127.0.0.1:50000".into(),
            born_timestamp: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 123_000_000,
            }),
            ..Default::default()
        }),
        body: Bytes::from_static(body),
    };
    let plain = message("TopicTest", "01HZX00000000000000000001", b"hello");
    let mut tagged = message("TopicTest", "01HZX00000000000000000002", b"tagged");
    tagged.user_properties = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
    if let Some(sp) = tagged.system_properties.as_mut() {
        sp.tag = Some("TagA".into());
        sp.keys = vec!["k1".into(), "k2".into()];
        sp.queue_id = 3;
    }
    let mut fifo = message("Orders", "01HZX00000000000000000003", b"fifo");
    if let Some(sp) = fifo.system_properties.as_mut() {
        sp.message_type = v2::MessageType::Fifo as i32;
        sp.message_group = Some("customer-7".into());
    }
    let mut delayed = message("Delayed", "01HZX00000000000000000004", b"later");
    if let Some(sp) = delayed.system_properties.as_mut() {
        sp.message_type = v2::MessageType::Delay as i32;
        sp.delivery_timestamp = Some(prost_types::Timestamp {
            seconds: 1_700_000_060,
            nanos: 0,
        });
        sp.body_encoding = v2::Encoding::Gzip as i32;
        sp.trace_context = Some("00-trace".into());
    }
    vec![plain, tagged, fifo, delayed]
}

/// Receipt handles as a leader issues them.
pub fn valid_receipts() -> Vec<String> {
    [("TopicTest", "GroupA", 0, 0), ("Orders", "g", 7, 12_345)]
        .into_iter()
        .map(|(topic, group, queue, offset)| {
            Receipt {
                term: 3,
                topic: topic.into(),
                group: group.into(),
                queue,
                offset,
                nonce: 9,
            }
            .encode()
        })
        .collect()
}

/// The stock conf files of `conf/dledger`.
pub fn valid_confs() -> Vec<&'static str> {
    vec![
        include_str!("../../../conf/dledger/broker-n0.conf"),
        include_str!("../../../conf/dledger/broker-n1.conf"),
    ]
}
