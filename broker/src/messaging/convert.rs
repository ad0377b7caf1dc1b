//! Messages between the client protocol (`apache.rocketmq.v2.Message`) and
//! the store's record, with the checks a send must pass.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use raftmq_model::{GroupName, TopicName};
use raftmq_proto::rocketmq::v2;
use raftmq_store::record::message::{
    Message, MessageType, MessageView, FLAG_BODY_GZIP, RELEASES_PROPERTY,
};

/// A refusal of one message: the code and what to do.
pub type Refusal = (v2::Code, String);

fn resource_name(r: Option<&v2::Resource>) -> String {
    r.map(|r| r.name.clone()).unwrap_or_default()
}

/// The topic a call names, for reading: any legal [`TopicName`], retry and
/// dead-letter topics included. ILLEGAL_TOPIC states the rule.
pub fn topic_name(r: Option<&v2::Resource>) -> Result<TopicName, Refusal> {
    TopicName::new(resource_name(r)).map_err(|e| (v2::Code::IllegalTopic, e.to_string()))
}

/// The topic a send names: a legal [`TopicName`] without a reserved prefix
/// (`%RETRY%`, `%DLQ%`, `rmq_sys_`), since a send may create the topic.
pub fn topic_to_send(r: Option<&v2::Resource>) -> Result<TopicName, Refusal> {
    TopicName::user_named(resource_name(r)).map_err(|e| (v2::Code::IllegalTopic, e.to_string()))
}

/// The consumer group a call names. ILLEGAL_CONSUMER_GROUP states the rule.
pub fn group_name(r: Option<&v2::Resource>) -> Result<GroupName, Refusal> {
    GroupName::new(resource_name(r)).map_err(|e| (v2::Code::IllegalConsumerGroup, e.to_string()))
}

fn ms(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanos / 1_000_000))
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// A sent message as the store keeps it, or why it is refused. `queue_id`
/// is left as sent; the caller maps it onto the topic's write queues.
pub fn to_store(m: v2::Message, max_body: usize, store_host: &str) -> Result<Message, Refusal> {
    let topic = topic_to_send(m.topic.as_ref())?;
    if m.body.len() > max_body {
        return Err((
            v2::Code::MessageBodyTooLarge,
            format!(
                "the body is {} bytes, over maxMessageSize {max_body}: send less, or raise maxMessageSize",
                m.body.len()
            ),
        ));
    }
    let sp = m.system_properties.unwrap_or_default();
    if sp.message_id.is_empty() || sp.message_id.len() > 128 {
        return Err((
            v2::Code::IllegalMessageId,
            "every message needs a message id of 1 to 128 characters".into(),
        ));
    }
    if let Some(tag) = &sp.tag {
        if tag.is_empty() || tag.contains("||") || tag.chars().any(char::is_control) {
            return Err((
                v2::Code::IllegalMessageTag,
                format!("tag {tag:?} is illegal: not empty, no `||`, no control characters"),
            ));
        }
    }
    if m.user_properties.contains_key(RELEASES_PROPERTY) {
        return Err((
            v2::Code::IllegalMessagePropertyKey,
            format!("the property key {RELEASES_PROPERTY} is raftmq's own: use another name"),
        ));
    }
    let mut properties: Vec<(String, String)> = m.user_properties.into_iter().collect();
    properties.sort();
    let message_type = MessageType::from_u8(u8::try_from(sp.message_type).unwrap_or(0))
        .unwrap_or(MessageType::Unspecified);
    let gzip = sp.body_encoding == v2::Encoding::Gzip as i32;
    Ok(Message {
        topic,
        queue_id: u32::try_from(sp.queue_id).unwrap_or(0),
        tag: sp.tag,
        keys: sp.keys,
        properties,
        body: m.body,
        message_type,
        flags: if gzip { FLAG_BODY_GZIP } else { 0 },
        born_timestamp_ms: sp.born_timestamp.as_ref().map_or_else(now_ms, ms),
        store_timestamp_ms: 0,
        delivery_timestamp_ms: sp.delivery_timestamp.as_ref().map(ms),
        born_host: sp.born_host,
        store_host: store_host.to_owned(),
        message_id: sp.message_id,
        message_group: sp.message_group,
        trace_context: sp.trace_context,
        reconsume_count: 0,
    })
}

/// What a delivery adds to a stored message.
#[derive(Clone, Debug, Default)]
pub struct Delivery {
    /// Its queue offset.
    pub queue_offset: u64,
    /// The receipt handle (pop), if any.
    pub receipt_handle: Option<String>,
    /// Delivery attempt, from 1.
    pub attempt: u32,
    /// How long it stays invisible (pop).
    pub invisible: Option<std::time::Duration>,
}

/// Upstream `MessageConst.PROPERTY_RETRY_TOPIC`: the topic a message was
/// first sent to.
pub const PROPERTY_RETRY_TOPIC: &str = "RETRY_TOPIC";
/// Upstream `MessageConst.PROPERTY_ORIGIN_MESSAGE_ID`.
pub const PROPERTY_ORIGIN_MESSAGE_ID: &str = "ORIGIN_MESSAGE_ID";
/// Upstream `MessageConst.PROPERTY_DLQ_ORIGIN_TOPIC`.
pub const PROPERTY_DLQ_ORIGIN_TOPIC: &str = "DLQ_ORIGIN_TOPIC";
/// Upstream `MessageConst.PROPERTY_DLQ_ORIGIN_MESSAGE_ID`.
pub const PROPERTY_DLQ_ORIGIN_MESSAGE_ID: &str = "DLQ_ORIGIN_MESSAGE_ID";
/// Upstream `MessageConst.PROPERTY_RECONSUME_TIME`.
pub const PROPERTY_RECONSUME_TIME: &str = "RECONSUME_TIME";

fn dead_letter_origin(view: &MessageView<'_>) -> Option<v2::DeadLetterQueue> {
    let (mut topic, mut message_id) = (None, None);
    for (k, v) in view.properties() {
        match k {
            PROPERTY_DLQ_ORIGIN_TOPIC => topic = Some(v),
            PROPERTY_DLQ_ORIGIN_MESSAGE_ID => message_id = Some(v),
            _ => {}
        }
    }
    Some(v2::DeadLetterQueue {
        topic: topic?.to_owned(),
        message_id: message_id?.to_owned(),
    })
}

/// A stored message as the clients receive it; a dead letter's origin
/// (`DLQ_ORIGIN_TOPIC` and `DLQ_ORIGIN_MESSAGE_ID`) as `dead_letter_queue`.
pub fn to_wire(view: &MessageView<'_>, body: Bytes, d: &Delivery) -> v2::Message {
    let digest = format!("{:08X}", crc32fast::hash(view.body()));
    let sp = v2::SystemProperties {
        tag: view.tag().map(str::to_owned),
        keys: view.keys().map(str::to_owned).collect(),
        message_id: view.message_id().to_owned(),
        body_digest: Some(v2::Digest {
            r#type: v2::DigestType::Crc32.into(),
            checksum: digest,
        }),
        body_encoding: if view.is_body_gzip() {
            v2::Encoding::Gzip.into()
        } else {
            v2::Encoding::Identity.into()
        },
        message_type: match view.message_type() {
            MessageType::Unspecified => v2::MessageType::Normal.into(),
            t => i32::from(t.as_u8()),
        },
        born_timestamp: Some(timestamp(view.born_timestamp_ms())),
        born_host: view.born_host().to_owned(),
        store_timestamp: Some(timestamp(view.store_timestamp_ms())),
        store_host: view.store_host().to_owned(),
        delivery_timestamp: view.delivery_timestamp_ms().map(timestamp),
        receipt_handle: d.receipt_handle.clone(),
        queue_id: i32::try_from(view.queue_id()).unwrap_or(i32::MAX),
        queue_offset: Some(i64::try_from(d.queue_offset).unwrap_or(i64::MAX)),
        invisible_duration: d.invisible.map(|i| prost_types::Duration {
            seconds: i64::try_from(i.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(i.subsec_nanos()).unwrap_or(0),
        }),
        delivery_attempt: Some(i32::try_from(d.attempt.max(1)).unwrap_or(i32::MAX)),
        message_group: view.message_group().map(str::to_owned),
        trace_context: view.trace_context().map(str::to_owned),
        dead_letter_queue: dead_letter_origin(view),
        ..Default::default()
    };
    v2::Message {
        topic: Some(v2::Resource {
            resource_namespace: String::new(),
            name: view.topic().to_owned(),
        }),
        // A released copy's link to its held record is raftmq's own.
        user_properties: view
            .properties()
            .filter(|(k, _)| *k != RELEASES_PROPERTY)
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        system_properties: Some(sp),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmq_store::record::message::encode_batch;

    fn wire(topic: &str, body: &[u8]) -> v2::Message {
        v2::Message {
            topic: Some(v2::Resource {
                resource_namespace: String::new(),
                name: topic.into(),
            }),
            user_properties: [("a".to_owned(), "1".to_owned())].into_iter().collect(),
            system_properties: Some(v2::SystemProperties {
                tag: Some("TagA".into()),
                keys: vec!["k1".into()],
                message_id: "01ABC".into(),
                queue_id: 2,
                born_timestamp: Some(timestamp(1_700_000_000_123)),
                ..Default::default()
            }),
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn a_message_survives_the_store_and_back() {
        let m = to_store(wire("T", b"hello"), 1024, "127.0.0.1:30911").unwrap();
        assert_eq!(m.queue_id, 2);
        assert_eq!(m.born_timestamp_ms, 1_700_000_000_123);
        let mut buf = Vec::new();
        encode_batch(std::slice::from_ref(&m), &mut buf).unwrap();
        let view = MessageView::decode(&buf).unwrap();
        let d = Delivery {
            queue_offset: 7,
            receipt_handle: Some("h".into()),
            attempt: 2,
            invisible: None,
        };
        let back = to_wire(&view, Bytes::from_static(b"hello"), &d);
        let sp = back.system_properties.unwrap();
        assert_eq!(sp.tag.as_deref(), Some("TagA"));
        assert_eq!(sp.keys, vec!["k1".to_owned()]);
        assert_eq!(sp.message_id, "01ABC");
        assert_eq!(sp.body_encoding, v2::Encoding::Identity as i32);
        assert_eq!(sp.delivery_attempt, Some(2));
        assert_eq!(sp.queue_offset, Some(7));
        assert_eq!(
            sp.body_digest.unwrap().checksum,
            format!("{:08X}", crc32fast::hash(b"hello"))
        );
        assert_eq!(back.user_properties.get("a").map(String::as_str), Some("1"));
    }

    #[test]
    fn bad_messages_are_refused_with_their_code() {
        let e = to_store(wire("bad topic", b"x"), 1024, "h:1").unwrap_err();
        assert_eq!(e.0, v2::Code::IllegalTopic);
        for topic in ["a.b", "%DLQ%g", "%RETRY%g", "rmq_sys_x"] {
            let e = to_store(wire(topic, b"x"), 1024, "h:1").unwrap_err();
            assert_eq!(e.0, v2::Code::IllegalTopic, "{topic}");
            assert!(e.1.contains(&format!("{topic:?}")), "{}", e.1);
        }
        let e = to_store(wire("", b"x"), 1024, "h:1").unwrap_err();
        assert_eq!(e.0, v2::Code::IllegalTopic);
        assert!(e.1.contains("empty"), "{}", e.1);
        let e = to_store(wire("T", &[0; 2000]), 1024, "h:1").unwrap_err();
        assert_eq!(e.0, v2::Code::MessageBodyTooLarge);
        let mut m = wire("T", b"x");
        m.system_properties.as_mut().unwrap().message_id.clear();
        assert_eq!(
            to_store(m, 1024, "h:1").unwrap_err().0,
            v2::Code::IllegalMessageId
        );
    }
}
