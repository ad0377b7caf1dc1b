//! The zero-copy [`MessageView`] and its decoder, [`MessageView::decode`].

use bytes::Bytes;
use raftmq_model::TopicName;

use super::reader::{peek_len, Reader};
use super::{
    tag_hash, Keys, Message, MessageCodecError, MessageType, Properties, DELIVERY_TIMESTAMP_OFFSET,
    FLAG_BODY_GZIP, PRESENT_DELIVERY_TIMESTAMP, PRESENT_KNOWN, PRESENT_MESSAGE_GROUP, PRESENT_TAG,
    PRESENT_TRACE_CONTEXT, RESERVED_OFFSET,
};

/// A zero-copy view of one decoded record, borrowing the input buffer.
///
/// Everything is validated by [`MessageView::decode`], so the accessors and
/// iterators cannot fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageView<'a> {
    raw: &'a [u8],
    message_type: MessageType,
    flags: u32,
    queue_id: u32,
    reconsume_count: u32,
    born_timestamp_ms: i64,
    store_timestamp_ms: i64,
    delivery_timestamp_ms: Option<i64>,
    topic: &'a str,
    tag: Option<&'a str>,
    message_id: &'a str,
    born_host: &'a str,
    store_host: &'a str,
    message_group: Option<&'a str>,
    trace_context: Option<&'a str>,
    key_count: u16,
    keys: &'a [u8],
    property_count: u16,
    properties: &'a [u8],
    body: &'a [u8],
}

impl<'a> MessageView<'a> {
    /// Decodes one record from the start of `buf`.
    ///
    /// `buf` may extend past the record; only `total_len` bytes are read.
    /// Every length, the UTF-8 of every string, the message type, the
    /// presence bits and the reserved field are checked, and the fields must
    /// take exactly `total_len` bytes. Never panics.
    ///
    /// # Errors
    ///
    /// Any [`MessageCodecError`] other than `TooLong`, naming the field and
    /// the byte offset (from the start of the record) at fault.
    pub fn decode(buf: &'a [u8]) -> Result<Self, MessageCodecError> {
        let total = peek_len(buf)?;
        let Some(raw) = buf.get(..total) else {
            return Err(MessageCodecError::Truncated {
                field: "record",
                offset: 0,
                needed: total,
                available: buf.len(),
            });
        };
        let mut r = Reader { buf: raw, pos: 0 };

        r.u32("total_len")?;
        let type_byte = r.u8("message_type")?;
        let message_type = MessageType::from_u8(type_byte)
            .ok_or(MessageCodecError::UnknownMessageType { value: type_byte })?;
        let presence = r.u8("presence")?;
        if presence & !PRESENT_KNOWN != 0 {
            return Err(MessageCodecError::UnknownPresenceBits {
                bits: presence & !PRESENT_KNOWN,
            });
        }
        let reserved = r.u16("reserved")?;
        if reserved != 0 {
            return Err(MessageCodecError::MustBeZero {
                field: "reserved",
                offset: RESERVED_OFFSET,
                value: u64::from(reserved),
            });
        }
        let flags = r.u32("flags")?;
        let queue_id = r.u32("queue_id")?;
        let reconsume_count = r.u32("reconsume_count")?;
        let born_timestamp_ms = r.i64("born_timestamp_ms")?;
        let store_timestamp_ms = r.i64("store_timestamp_ms")?;
        let delivery_raw = r.i64("delivery_timestamp_ms")?;
        let delivery_timestamp_ms = if presence & PRESENT_DELIVERY_TIMESTAMP != 0 {
            Some(delivery_raw)
        } else if delivery_raw != 0 {
            return Err(MessageCodecError::MustBeZero {
                field: "delivery_timestamp_ms",
                offset: DELIVERY_TIMESTAMP_OFFSET,
                value: delivery_raw as u64,
            });
        } else {
            None
        };

        let topic = r.str16("topic")?;
        let tag = r.opt_str16("tag", presence & PRESENT_TAG != 0)?;
        let message_id = r.str16("message_id")?;
        let born_host = r.str16("born_host")?;
        let store_host = r.str16("store_host")?;
        let message_group = r.opt_str16("message_group", presence & PRESENT_MESSAGE_GROUP != 0)?;
        let trace_context = r.opt_str16("trace_context", presence & PRESENT_TRACE_CONTEXT != 0)?;

        let key_count = r.u16("keys")?;
        let keys_start = r.pos;
        for _ in 0..key_count {
            r.str16("key")?;
        }
        let keys = r.since(keys_start);

        let property_count = r.u16("properties")?;
        let properties_start = r.pos;
        for _ in 0..property_count {
            r.str16("property key")?;
            r.str32("property value")?;
        }
        let properties = r.since(properties_start);

        let body_start = r.pos;
        let body_len = r.u32("body")? as usize;
        let body = r.take("body", body_start, body_len)?;

        if r.pos != total {
            return Err(MessageCodecError::LengthMismatch {
                declared: total,
                consumed: r.pos,
            });
        }

        Ok(Self {
            raw,
            message_type,
            flags,
            queue_id,
            reconsume_count,
            born_timestamp_ms,
            store_timestamp_ms,
            delivery_timestamp_ms,
            topic,
            tag,
            message_id,
            born_host,
            store_host,
            message_group,
            trace_context,
            key_count,
            keys,
            property_count,
            properties,
            body,
        })
    }

    /// The record's raw bytes (`total_len` of them).
    #[inline]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The record's size in bytes (its `total_len`).
    #[inline]
    pub fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    /// The topic.
    #[inline]
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// The queue within the topic.
    #[inline]
    pub fn queue_id(&self) -> u32 {
        self.queue_id
    }

    /// The tag, if any.
    #[inline]
    pub fn tag(&self) -> Option<&'a str> {
        self.tag
    }

    /// [`tag_hash`] of the tag (0 when there is none).
    #[inline]
    pub fn tag_hash(&self) -> u64 {
        self.tag.map_or(0, tag_hash)
    }

    /// The number of keys.
    #[inline]
    pub fn key_count(&self) -> usize {
        usize::from(self.key_count)
    }

    /// The message keys, in order.
    #[inline]
    pub fn keys(&self) -> Keys<'a> {
        Keys {
            buf: self.keys,
            remaining: self.key_count,
        }
    }

    /// The number of user properties.
    #[inline]
    pub fn property_count(&self) -> usize {
        usize::from(self.property_count)
    }

    /// The user properties as `(key, value)`, in order.
    #[inline]
    pub fn properties(&self) -> Properties<'a> {
        Properties {
            buf: self.properties,
            remaining: self.property_count,
        }
    }

    /// The value of the first user property named `key`, if any.
    pub fn property(&self, key: &str) -> Option<&'a str> {
        self.properties().find(|&(k, _)| k == key).map(|(_, v)| v)
    }

    /// The body.
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The message type.
    #[inline]
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// The flag bits (bit0 is [`FLAG_BODY_GZIP`]).
    #[inline]
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Whether the body is gzip-encoded ([`FLAG_BODY_GZIP`] is set).
    #[inline]
    pub fn is_body_gzip(&self) -> bool {
        self.flags & FLAG_BODY_GZIP != 0
    }

    /// When the producer created the message, in ms since the Unix epoch.
    #[inline]
    pub fn born_timestamp_ms(&self) -> i64 {
        self.born_timestamp_ms
    }

    /// When the broker stored the message, in ms since the Unix epoch.
    #[inline]
    pub fn store_timestamp_ms(&self) -> i64 {
        self.store_timestamp_ms
    }

    /// When a delayed message becomes deliverable, in ms since the Unix epoch.
    #[inline]
    pub fn delivery_timestamp_ms(&self) -> Option<i64> {
        self.delivery_timestamp_ms
    }

    /// The producer's address.
    #[inline]
    pub fn born_host(&self) -> &'a str {
        self.born_host
    }

    /// The storing broker's address.
    #[inline]
    pub fn store_host(&self) -> &'a str {
        self.store_host
    }

    /// The message id.
    #[inline]
    pub fn message_id(&self) -> &'a str {
        self.message_id
    }

    /// The message group, if any.
    #[inline]
    pub fn message_group(&self) -> Option<&'a str> {
        self.message_group
    }

    /// The trace context, if any.
    #[inline]
    pub fn trace_context(&self) -> Option<&'a str> {
        self.trace_context
    }

    /// How many times delivery has been attempted before.
    #[inline]
    pub fn reconsume_count(&self) -> u32 {
        self.reconsume_count
    }

    /// Copies the view into an owned [`Message`]. The topic is taken as
    /// stored ([`TopicName::from_stored`]): a record an older version wrote
    /// may name a topic today's rule refuses, and it must still read back.
    pub fn to_message(&self) -> Message {
        Message {
            topic: TopicName::from_stored(self.topic.to_owned()),
            queue_id: self.queue_id,
            tag: self.tag.map(str::to_owned),
            keys: self.keys().map(str::to_owned).collect(),
            properties: self
                .properties()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            body: Bytes::copy_from_slice(self.body),
            message_type: self.message_type,
            flags: self.flags,
            born_timestamp_ms: self.born_timestamp_ms,
            store_timestamp_ms: self.store_timestamp_ms,
            delivery_timestamp_ms: self.delivery_timestamp_ms,
            born_host: self.born_host.to_owned(),
            store_host: self.store_host.to_owned(),
            message_id: self.message_id.to_owned(),
            message_group: self.message_group.map(str::to_owned),
            trace_context: self.trace_context.map(str::to_owned),
            reconsume_count: self.reconsume_count,
        }
    }
}
