//! Messages as consumers get them, and the queues they come from.

use std::collections::HashMap;
use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use raftmq_proto::rocketmq::v2;

use super::convert::from_timestamp;
use super::ClientError;

/// One queue of a topic: a broker group and a queue id within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageQueue {
    /// The topic.
    pub topic: String,
    /// The broker group (`brokerName`) serving the queue.
    pub broker: String,
    /// The queue id within the group.
    pub queue_id: i32,
}

impl fmt::Display for MessageQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}#{}", self.topic, self.broker, self.queue_id)
    }
}

/// A message delivered to a consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    topic: String,
    body: Bytes,
    tag: Option<String>,
    keys: Vec<String>,
    properties: HashMap<String, String>,
    message_id: String,
    message_group: Option<String>,
    broker: String,
    queue_id: i32,
    queue_offset: i64,
    delivery_attempt: i32,
    receipt_handle: String,
    born_timestamp: Option<SystemTime>,
    store_timestamp: Option<SystemTime>,
    delivery_timestamp: Option<SystemTime>,
}

impl ReceivedMessage {
    /// Reads a delivered message; `broker` is the group it came from.
    pub(crate) fn from_proto(m: v2::Message, broker: &str) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BadResponse {
            call: "ReceiveMessage",
            reason: reason.to_owned(),
        };
        let sp = m
            .system_properties
            .ok_or_else(|| bad("a message without system properties"))?;
        if sp.message_id.is_empty() {
            return Err(bad("a message without a message id"));
        }
        Ok(Self {
            topic: m.topic.map(|t| t.name).unwrap_or_default(),
            body: m.body,
            tag: sp.tag,
            keys: sp.keys,
            properties: m.user_properties,
            message_id: sp.message_id,
            message_group: sp.message_group,
            broker: broker.to_owned(),
            queue_id: sp.queue_id,
            queue_offset: sp.queue_offset.unwrap_or(-1),
            delivery_attempt: sp.delivery_attempt.unwrap_or(1),
            receipt_handle: sp.receipt_handle.unwrap_or_default(),
            born_timestamp: sp.born_timestamp.as_ref().map(from_timestamp),
            store_timestamp: sp.store_timestamp.as_ref().map(from_timestamp),
            delivery_timestamp: sp.delivery_timestamp.as_ref().map(from_timestamp),
        })
    }

    /// The same message with a new receipt handle.
    pub(crate) fn with_receipt_handle(mut self, handle: String) -> Self {
        self.receipt_handle = handle;
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The tag.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The keys.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The user properties.
    pub fn properties(&self) -> &HashMap<String, String> {
        &self.properties
    }

    /// The message id the producer chose.
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The FIFO message group.
    pub fn message_group(&self) -> Option<&str> {
        self.message_group.as_deref()
    }

    /// The broker group the message came from.
    pub fn broker(&self) -> &str {
        &self.broker
    }

    /// The queue id within the broker group.
    pub fn queue_id(&self) -> i32 {
        self.queue_id
    }

    /// The queue the message is stored in.
    pub fn queue(&self) -> MessageQueue {
        MessageQueue {
            topic: self.topic.clone(),
            broker: self.broker.clone(),
            queue_id: self.queue_id,
        }
    }

    /// The message's offset in its queue (-1 if the server did not say).
    pub fn queue_offset(&self) -> i64 {
        self.queue_offset
    }

    /// 1 on first delivery, one more on each redelivery.
    pub fn delivery_attempt(&self) -> i32 {
        self.delivery_attempt
    }

    /// The handle that acks this delivery (empty for pulled messages).
    pub fn receipt_handle(&self) -> &str {
        &self.receipt_handle
    }

    /// When the producer made the message.
    pub fn born_timestamp(&self) -> Option<SystemTime> {
        self.born_timestamp
    }

    /// When the broker stored the message.
    pub fn store_timestamp(&self) -> Option<SystemTime> {
        self.store_timestamp
    }

    /// When a delay message was due.
    pub fn delivery_timestamp(&self) -> Option<SystemTime> {
        self.delivery_timestamp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::convert::{resource, timestamp_ms};

    pub(crate) fn delivered(id: &str, offset: i64) -> v2::Message {
        v2::Message {
            topic: Some(resource("T")),
            user_properties: [("p".to_owned(), "v".to_owned())].into(),
            system_properties: Some(v2::SystemProperties {
                tag: Some("A".into()),
                keys: vec!["k".into()],
                message_id: id.into(),
                queue_id: 2,
                queue_offset: Some(offset),
                delivery_attempt: Some(3),
                receipt_handle: Some("rh".into()),
                born_timestamp: Some(timestamp_ms(1_000)),
                store_timestamp: Some(timestamp_ms(2_000)),
                ..Default::default()
            }),
            body: Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn delivered_messages_expose_what_consumers_need() {
        let m = ReceivedMessage::from_proto(delivered("M1", 7), "g0").unwrap();
        assert_eq!(m.topic(), "T");
        assert_eq!(&m.body()[..], b"x");
        assert_eq!(m.tag(), Some("A"));
        assert_eq!(m.keys(), ["k"]);
        assert_eq!(m.properties()["p"], "v");
        assert_eq!(m.message_id(), "M1");
        assert_eq!(
            m.queue(),
            MessageQueue {
                topic: "T".into(),
                broker: "g0".into(),
                queue_id: 2
            }
        );
        assert_eq!(m.queue_offset(), 7);
        assert_eq!(m.delivery_attempt(), 3);
        assert_eq!(m.receipt_handle(), "rh");
        let ms = |t: SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        assert_eq!(ms(m.born_timestamp().unwrap()), 1_000);
        assert_eq!(ms(m.store_timestamp().unwrap()), 2_000);
        let m = m.with_receipt_handle("rh2".into());
        assert_eq!(m.receipt_handle(), "rh2");
    }

    #[test]
    fn messages_without_ids_are_refused() {
        let mut w = delivered("", 1);
        assert!(ReceivedMessage::from_proto(w.clone(), "g").is_err());
        w.system_properties = None;
        assert!(ReceivedMessage::from_proto(w, "g").is_err());
    }
}
