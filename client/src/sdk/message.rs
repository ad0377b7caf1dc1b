//! The message a producer sends, and the receipt it gets back.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{self as pb, WireType};
use raftmq_model::{NameError, TopicName};
use raftmq_proto::rocketmq::v2;

use super::convert::timestamp;
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

    /// Makes this a delay (scheduled) message, delivered no earlier than
    /// `at`.
    ///
    /// It is sent as `message_type = DELAY` with `delivery_timestamp = at`,
    /// each message with its own time even when several sends share one
    /// SendMessage request. The broker stores it at once (the send returns
    /// when a majority of the group has it) and holds it out of its queue
    /// until `at`; it is released within tens of milliseconds of that time,
    /// and consumers then see it with its original message id. A time
    /// already past is delivered at once.
    ///
    /// The broker refuses a time more than `timerMaxDelaySec` ahead (3 days
    /// by default) with ILLEGAL_DELIVERY_TIME (40012): the send fails with
    /// [`ClientError::Broker`] of that code and nothing is stored. A delay
    /// message cannot have a message group, nor be sent in a transaction.
    pub fn with_delivery_time(mut self, at: SystemTime) -> Self {
        self.delivery_time = Some(at);
        self
    }

    /// Makes this a delay message, delivered `delay` from now: as
    /// [`Message::with_delivery_time`] with `now + delay`, the time fixed
    /// here (a retry does not push it back).
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
        // A producer names the topic it sends to (and may create): no
        // reserved prefix either.
        TopicName::user_named(self.topic.as_str()).map_err(|e| invalid_name("topic", e))?;
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

    /// Checks a message to be sent in a transaction: as
    /// [`Message::validate`], and neither FIFO nor delayed (the broker holds
    /// a transactional message until its transaction ends, nothing else).
    pub(crate) fn validate_transactional(&self) -> Result<(), ClientError> {
        self.validate()?;
        let refuse = |what: &str| {
            Err(ClientError::Invalid {
                what: "transactional message",
                reason: format!(
                    "it has {what}: a message sent in a transaction cannot also be FIFO or \
                     delayed; send it without, or with a plain Producer"
                ),
            })
        };
        if self.message_group.is_some() {
            return refuse("a message group");
        }
        if self.delivery_time.is_some() {
            return refuse("a delivery time");
        }
        Ok(())
    }

    /// The message as sent, encoded as `apache.rocketmq.v2.Message`:
    /// `message_id` is kept across retries; `queue_id` is the queue the
    /// producer chose; `born` is when the send was made.
    ///
    /// Written straight from this message, with no intermediate protobuf
    /// struct (whose strings and property map would each be copied once more
    /// per send); the bytes are those prost writes for [`Self::to_proto`].
    pub(crate) fn encode(
        &self,
        message_id: &str,
        queue_id: i32,
        born_host: &str,
        born: SystemTime,
    ) -> Bytes {
        self.encode_as(self.message_type(), message_id, queue_id, born_host, born)
    }

    /// As [`Self::encode`], with `message_type` in place of the one the
    /// message's fields imply (TRANSACTION for a send in a transaction).
    pub(crate) fn encode_as(
        &self,
        message_type: v2::MessageType,
        message_id: &str,
        queue_id: i32,
        born_host: &str,
        born: SystemTime,
    ) -> Bytes {
        let born = timestamp(born);
        let delivery = self.delivery_time.map(timestamp);
        let system = SystemFields {
            message: self,
            message_type: message_type as i32,
            message_id,
            queue_id,
            born_host,
            born: &born,
            delivery: delivery.as_ref(),
        };
        let system_len = system.encoded_len();
        let topic_len = nonempty_str_len(2, &self.topic);
        let properties_len = pb::hash_map::encoded_len(
            pb::string::encoded_len,
            pb::string::encoded_len,
            2,
            &self.properties,
        );
        let body_len = if self.body.is_empty() {
            0
        } else {
            pb::key_len(4) + delimited_len(self.body.len())
        };
        let len = pb::key_len(1)
            + delimited_len(topic_len)
            + properties_len
            + pb::key_len(3)
            + delimited_len(system_len)
            + body_len;
        let mut buf = BytesMut::with_capacity(len);
        // Message.topic: Resource { name = 2 } (the namespace is empty).
        pb::encode_key(1, WireType::LengthDelimited, &mut buf);
        pb::encode_varint(topic_len as u64, &mut buf);
        if !self.topic.is_empty() {
            put_str(2, &self.topic, &mut buf);
        }
        pb::hash_map::encode(
            pb::string::encode,
            pb::string::encoded_len,
            pb::string::encode,
            pb::string::encoded_len,
            2,
            &self.properties,
            &mut buf,
        );
        pb::encode_key(3, WireType::LengthDelimited, &mut buf);
        pb::encode_varint(system_len as u64, &mut buf);
        system.encode(&mut buf);
        if !self.body.is_empty() {
            pb::encode_key(4, WireType::LengthDelimited, &mut buf);
            pb::encode_varint(self.body.len() as u64, &mut buf);
            buf.put_slice(&self.body);
        }
        debug_assert_eq!(buf.len(), len);
        buf.freeze()
    }

    /// The message as sent, as a protobuf struct: what [`Self::encode`]
    /// writes.
    #[cfg(test)]
    pub(crate) fn to_proto(
        &self,
        message_id: &str,
        queue_id: i32,
        born_host: &str,
        born: SystemTime,
    ) -> v2::Message {
        self.to_proto_as(self.message_type(), message_id, queue_id, born_host, born)
    }

    /// What [`Self::encode_as`] writes, as a protobuf struct.
    #[cfg(test)]
    pub(crate) fn to_proto_as(
        &self,
        message_type: v2::MessageType,
        message_id: &str,
        queue_id: i32,
        born_host: &str,
        born: SystemTime,
    ) -> v2::Message {
        v2::Message {
            topic: Some(super::convert::resource(&self.topic)),
            user_properties: self.properties.clone(),
            system_properties: Some(v2::SystemProperties {
                tag: self.tag.clone(),
                keys: self.keys.clone(),
                message_id: message_id.to_owned(),
                body_encoding: v2::Encoding::Identity.into(),
                message_type: message_type.into(),
                born_timestamp: Some(timestamp(born)),
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

/// The `SystemProperties` a send sets, in field order, each skipped where
/// proto3 (and prost) skip a default value.
struct SystemFields<'a> {
    message: &'a Message,
    message_type: i32,
    message_id: &'a str,
    queue_id: i32,
    born_host: &'a str,
    born: &'a prost_types::Timestamp,
    delivery: Option<&'a prost_types::Timestamp>,
}

impl SystemFields<'_> {
    const ENCODING: i32 = v2::Encoding::Identity as i32;

    fn encoded_len(&self) -> usize {
        let m = self.message;
        let opt_str = |tag, s: &Option<String>| s.as_ref().map_or(0, |s| str_len(tag, s));
        opt_str(1, &m.tag)
            + m.keys.iter().map(|k| str_len(2, k)).sum::<usize>()
            + nonempty_str_len(3, self.message_id)
            + pb::int32::encoded_len(5, &Self::ENCODING)
            + nonzero_int32_len(6, self.message_type)
            + pb::message::encoded_len(7, self.born)
            + nonempty_str_len(8, self.born_host)
            + self.delivery.map_or(0, |d| pb::message::encoded_len(11, d))
            + nonzero_int32_len(13, self.queue_id)
            + opt_str(17, &m.message_group)
    }

    fn encode(&self, buf: &mut BytesMut) {
        let m = self.message;
        if let Some(tag) = &m.tag {
            put_str(1, tag, buf);
        }
        for k in &m.keys {
            put_str(2, k, buf);
        }
        if !self.message_id.is_empty() {
            put_str(3, self.message_id, buf);
        }
        pb::int32::encode(5, &Self::ENCODING, buf);
        if self.message_type != 0 {
            pb::int32::encode(6, &self.message_type, buf);
        }
        pb::message::encode(7, self.born, buf);
        if !self.born_host.is_empty() {
            put_str(8, self.born_host, buf);
        }
        if let Some(d) = self.delivery {
            pb::message::encode(11, d, buf);
        }
        if self.queue_id != 0 {
            pb::int32::encode(13, &self.queue_id, buf);
        }
        if let Some(g) = &m.message_group {
            put_str(17, g, buf);
        }
    }
}

/// A length-delimited field's length and payload, without its key.
fn delimited_len(len: usize) -> usize {
    pb::encoded_len_varint(len as u64) + len
}

fn str_len(tag: u32, s: &str) -> usize {
    pb::key_len(tag) + delimited_len(s.len())
}

fn nonempty_str_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        str_len(tag, s)
    }
}

fn nonzero_int32_len(tag: u32, v: i32) -> usize {
    if v == 0 {
        0
    } else {
        pb::int32::encoded_len(tag, &v)
    }
}

fn put_str(tag: u32, s: &str, buf: &mut BytesMut) {
    pb::encode_key(tag, WireType::LengthDelimited, buf);
    pb::encode_varint(s.len() as u64, buf);
    buf.put_slice(s.as_bytes());
}

/// A topic or group name that breaks its rule, as the SDK reports it.
pub(crate) fn invalid_name(what: &'static str, e: NameError) -> ClientError {
    ClientError::Invalid {
        what,
        reason: e.to_string(),
    }
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
    use prost::Message as _;
    use std::time::UNIX_EPOCH;

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
        assert!(Message::new("a|b%c", "b").validate().is_ok());
        let e = Message::new("a.b", "b").validate().expect_err("a dot");
        assert!(e.to_string().contains("'.' at position 2"), "{e}");
        for m in [
            Message::new("", "b"),
            Message::new("a topic", "b"),
            Message::new("a.b", "b"),
            Message::new("%DLQ%g", "b"),
            Message::new("rmq_sys_x", "b"),
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
        let w = v2::Message::decode(m.encode("ID", 3, "host", SystemTime::now())).unwrap();
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

    #[test]
    fn the_hand_encoding_is_the_bytes_prost_writes() {
        let born = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        let long = "k".repeat(200);
        let cases = [
            // Every default: empty body, no properties, queue 0, empty host.
            (Message::new("T", ""), "ID", 0, ""),
            // Refused before sending, but encoded as prost would all the same.
            (Message::new("", "x"), "", 0, "h"),
            (
                Message::new("TopicTest", vec![7u8; 1024])
                    .with_tag("TagA")
                    .with_keys(["k1", long.as_str()])
                    .with_property("a", "1")
                    .with_property("", "empty key")
                    .with_property("empty value", ""),
                "0A1B2C3D",
                5,
                "10.0.0.1",
            ),
            (
                Message::new("T", "fifo")
                    .with_message_group("g")
                    .with_tag(""),
                "ID2",
                -1,
                "h",
            ),
            (
                Message::new("T", "delay").with_delivery_time(at(1_800_000_000)),
                "ID3",
                i32::MAX,
                "h",
            ),
            // A message over 16 KiB: three-byte length prefixes.
            (Message::new("T", vec![1u8; 20_000]), "ID4", 1, "h"),
        ];
        for (m, id, queue, host) in cases {
            let ours = m.encode(id, queue, host, born);
            let prost = m.to_proto(id, queue, host, born).encode_to_vec();
            assert_eq!(&ours[..], &prost[..], "{m:?}");
        }
    }

    #[test]
    fn a_delay_message_is_sent_as_delay_with_its_own_time() {
        let at = UNIX_EPOCH + Duration::new(1_900_000_000, 250_000_000);
        let m = Message::new("T", "later").with_delivery_time(at);
        assert_eq!(m.delivery_time(), Some(at));
        let w = v2::Message::decode(m.encode("ID", 0, "h", SystemTime::now())).unwrap();
        let sp = w.system_properties.unwrap();
        assert_eq!(sp.message_type, v2::MessageType::Delay as i32);
        let ts = sp.delivery_timestamp.expect("a delivery timestamp");
        assert_eq!((ts.seconds, ts.nanos), (1_900_000_000, 250_000_000));
        assert_eq!(sp.message_group, None);

        // A delay fixes its time when set, not when (re)sent.
        let before = SystemTime::now();
        let m = Message::new("T", "x").with_delivery_delay(Duration::from_secs(60));
        let due = m.delivery_time().expect("due");
        assert!(due >= before + Duration::from_secs(60));
        assert!(due <= SystemTime::now() + Duration::from_secs(60));
    }

    #[test]
    fn a_transactional_send_is_typed_transaction_without_group_or_time() {
        let born = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let m = Message::new("T", "half")
            .with_tag("A")
            .with_keys(["order-7"])
            .with_property("p", "v");
        m.validate_transactional()
            .expect("a plain message may go in a transaction");
        let bytes = m.encode_as(v2::MessageType::Transaction, "ID", 2, "h", born);
        let prost = m
            .to_proto_as(v2::MessageType::Transaction, "ID", 2, "h", born)
            .encode_to_vec();
        assert_eq!(&bytes[..], &prost[..]);
        let sp = v2::Message::decode(bytes)
            .unwrap()
            .system_properties
            .unwrap();
        assert_eq!(sp.message_type, v2::MessageType::Transaction as i32);
        assert_eq!(sp.delivery_timestamp, None);
        assert_eq!(sp.message_group, None);
        assert_eq!(sp.message_id, "ID");
        assert_eq!(sp.keys, ["order-7"]);
    }

    #[test]
    fn fifo_or_delay_messages_are_refused_in_a_transaction() {
        for (m, what) in [
            (
                Message::new("T", "b").with_message_group("g"),
                "message group",
            ),
            (
                Message::new("T", "b").with_delivery_delay(Duration::from_secs(5)),
                "delivery time",
            ),
        ] {
            match m.validate_transactional() {
                Err(ClientError::Invalid { what: w, reason }) => {
                    assert_eq!(w, "transactional message");
                    assert!(reason.contains(what), "{reason}");
                }
                other => panic!("{m:?}: {other:?}"),
            }
        }
        // The ordinary checks come first.
        assert!(matches!(
            Message::new("a b", "x").validate_transactional(),
            Err(ClientError::Invalid { what: "topic", .. })
        ));
    }
}
