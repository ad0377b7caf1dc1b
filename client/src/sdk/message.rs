//! The message a producer sends, and the receipt it gets back.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use raftmq_proto::rocketmq::v2;

use super::convert::{resource, timestamp};
use super::ClientError;

/// A message to send: a topic, a body and optional routing and lookup data.
///
/// ```
/// use raftmq_client::sdk::Message;
/// let m = Message::new("TopicTest", "hello")
///     .with_tag("TagA")
///     .with_keys(["order-1"])
///     .with_property("region", "eu");
/// assert_eq!(m.tag(), Some("TagA"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    topic: String,
    body: Bytes,
    tag: Option<String>,
    keys: Vec<String>,
    properties: HashMap<String, String>,
    message_group: Option<String>,
    delivery_time: Option<SystemTime>,
}

impl Message {
    /// A message for `topic` with `body`.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            body: body.into(),
            tag: None,
            keys: Vec::new(),
            properties: HashMap::new(),
            message_group: None,
            delivery_time: None,
        }
    }

    /// Sets the tag consumers filter on.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Sets the keys the broker indexes (for lookups by key).
    pub fn with_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a user property.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Makes this a FIFO message: messages of one group go to one queue, in
    /// the order sent.
    pub fn with_message_group(mut self, group: impl Into<String>) -> Self {
        self.message_group = Some(group.into());
        self
    }

    /// Makes this a delay message, delivered no earlier than `at`.
    pub fn with_delivery_time(mut self, at: SystemTime) -> Self {
        self.delivery_time = Some(at);
        self
    }

    /// Makes this a delay message, delivered `delay` from now.
    pub fn with_delivery_delay(self, delay: Duration) -> Self {
        self.with_delivery_time(SystemTime::now() + delay)
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The topic, taken out of the message.
    pub(crate) fn into_topic(self) -> String {
        self.topic
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

    /// The FIFO message group.
    pub fn message_group(&self) -> Option<&str> {
        self.message_group.as_deref()
    }

    /// When a delay message is to be delivered.
    pub fn delivery_time(&self) -> Option<SystemTime> {
        self.delivery_time
    }

    /// The protocol's message type for this message.
    pub fn message_type(&self) -> v2::MessageType {
        if self.message_group.is_some() {
            v2::MessageType::Fifo
        } else if self.delivery_time.is_some() {
            v2::MessageType::Delay
        } else {
            v2::MessageType::Normal
        }
    }

    /// Checks what the broker would refuse, before anything is sent.
    pub fn validate(&self) -> Result<(), ClientError> {
        let invalid = |what, reason: String| Err(ClientError::Invalid { what, reason });
        if !valid_name(&self.topic) {
            return invalid(
                "topic",
                format!(
                    "'{}': use 1 to 127 letters, digits, '%', '-' or '_'",
                    self.topic
                ),
            );
        }
        if let Some(tag) = &self.tag {
            if tag.trim().is_empty() || tag.contains("||") {
                return invalid("tag", format!("'{tag}': not empty, without '||'"));
            }
        }
        if self.keys.iter().any(|k| k.trim().is_empty()) {
            return invalid("keys", "a key cannot be blank".into());
        }
        if let Some(g) = &self.message_group {
            if g.trim().is_empty() {
                return invalid("message group", "cannot be blank".into());
            }
            if self.delivery_time.is_some() {
                return invalid(
                    "message",
                    "a message is either FIFO (message group) or delay (delivery time), not both"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The message as sent: `message_id` is kept across retries; `queue_id`
    /// is the queue the producer chose.
    pub(crate) fn to_proto(&self, message_id: &str, queue_id: i32, born_host: &str) -> v2::Message {
        v2::Message {
            topic: Some(resource(&self.topic)),
            user_properties: self.properties.clone(),
            system_properties: Some(v2::SystemProperties {
                tag: self.tag.clone(),
                keys: self.keys.clone(),
                message_id: message_id.to_owned(),
                body_encoding: v2::Encoding::Identity.into(),
                message_type: self.message_type().into(),
                born_timestamp: Some(timestamp(SystemTime::now())),
                born_host: born_host.to_owned(),
                delivery_timestamp: self.delivery_time.map(timestamp),
                queue_id,
                message_group: self.message_group.clone(),
                ..Default::default()
            }),
            body: self.body.clone(),
        }
    }
}

/// Whether `name` is a valid topic or group name (RocketMQ's rule).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '%' | '-' | '_'))
}

/// Where a sent message was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReceipt {
    /// The message id (the same on every attempt).
    pub message_id: String,
    /// The topic.
    pub topic: String,
    /// The broker group that stored it.
    pub broker: String,
    /// The queue within the broker group.
    pub queue_id: i32,
    /// The message's offset in that queue.
    pub offset: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_follow_group_and_delay() {
        let m = Message::new("T", "b");
        assert_eq!(m.message_type(), v2::MessageType::Normal);
        assert_eq!(
            m.clone().with_message_group("g").message_type(),
            v2::MessageType::Fifo
        );
        assert_eq!(
            m.with_delivery_delay(Duration::from_secs(1)).message_type(),
            v2::MessageType::Delay
        );
    }

    #[test]
    fn invalid_messages_are_refused_before_sending() {
        assert!(Message::new("T", "b").validate().is_ok());
        for m in [
            Message::new("", "b"),
            Message::new("a topic", "b"),
            Message::new("T", "b").with_tag("A || B"),
            Message::new("T", "b").with_tag(" "),
            Message::new("T", "b").with_keys([""]),
            Message::new("T", "b")
                .with_message_group("g")
                .with_delivery_delay(Duration::from_secs(1)),
        ] {
            assert!(
                matches!(m.validate(), Err(ClientError::Invalid { .. })),
                "{m:?}"
            );
        }
    }

    #[test]
    fn the_wire_message_carries_everything() {
        let m = Message::new("T", "body")
            .with_tag("A")
            .with_keys(["k1", "k2"])
            .with_property("p", "v")
            .with_message_group("g");
        let w = m.to_proto("ID", 3, "host");
        let sp = w.system_properties.unwrap();
        assert_eq!(w.topic.unwrap().name, "T");
        assert_eq!(&w.body[..], b"body");
        assert_eq!(w.user_properties["p"], "v");
        assert_eq!(sp.message_id, "ID");
        assert_eq!(sp.tag.as_deref(), Some("A"));
        assert_eq!(sp.keys, ["k1", "k2"]);
        assert_eq!(sp.queue_id, 3);
        assert_eq!(sp.message_group.as_deref(), Some("g"));
        assert_eq!(sp.message_type, v2::MessageType::Fifo as i32);
        assert_eq!(sp.body_encoding, v2::Encoding::Identity as i32);
        assert!(sp.born_timestamp.is_some());
    }
}
