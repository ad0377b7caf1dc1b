//! The owned [`Message`] and its encoder: [`Message::encode`],
//! [`Message::encoded_len`] and [`encode_batch`].

use bytes::Bytes;
use raftmq_model::TopicName;

use super::{
    MessageCodecError, MessageType, FIXED_LEN, FLAG_BODY_GZIP, PRESENT_DELIVERY_TIMESTAMP,
    PRESENT_MESSAGE_GROUP, PRESENT_TAG, PRESENT_TRACE_CONTEXT, U16_MAX, U32_MAX,
};

/// One message, owned: what a producer sends and what [`Message::encode`]
/// turns into a record.
///
/// There is no `Default`: a message always names a real [`TopicName`]. Use
/// [`Message::new`] for a message with every other field at its zero value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The topic: checked where the name entered the process, or taken as
    /// stored when the message was decoded from the log.
    pub topic: TopicName,
    /// The queue within the topic.
    pub queue_id: u32,
    /// The tag, if any (`Some("")` and `None` are distinct).
    pub tag: Option<String>,
    /// The message keys, in order.
    pub keys: Vec<String>,
    /// The user properties, in order (duplicates are kept as given).
    pub properties: Vec<(String, String)>,
    /// The body, possibly gzip-encoded (see [`FLAG_BODY_GZIP`]).
    pub body: Bytes,
    /// The message type.
    pub message_type: MessageType,
    /// Flag bits: bit0 is [`FLAG_BODY_GZIP`]; the others are opaque and preserved.
    pub flags: u32,
    /// When the producer created the message, in ms since the Unix epoch.
    pub born_timestamp_ms: i64,
    /// When the broker stored the message, in ms since the Unix epoch.
    pub store_timestamp_ms: i64,
    /// When a delayed message becomes deliverable, in ms since the Unix epoch.
    pub delivery_timestamp_ms: Option<i64>,
    /// The producer's address.
    pub born_host: String,
    /// The storing broker's address.
    pub store_host: String,
    /// The message id.
    pub message_id: String,
    /// The message group of a FIFO message, if any.
    pub message_group: Option<String>,
    /// The trace context, if any.
    pub trace_context: Option<String>,
    /// How many times delivery has been attempted before (delivery attempt - 1).
    pub reconsume_count: u32,
}

/// Checks that a string fits a u16 length prefix and returns its encoded size.
#[inline]
fn str16_len(field: &'static str, s: &str) -> Result<u64, MessageCodecError> {
    if s.len() > U16_MAX {
        return Err(MessageCodecError::TooLong {
            field,
            len: s.len(),
            max: U16_MAX,
        });
    }
    Ok(2 + s.len() as u64)
}

/// Checks that an optional string fits a u16 length prefix and returns its
/// encoded size (0 when absent).
#[inline]
fn opt_str16_len(field: &'static str, s: Option<&str>) -> Result<u64, MessageCodecError> {
    match s {
        Some(s) => str16_len(field, s),
        None => Ok(0),
    }
}

/// Checks that a count fits a u16.
#[inline]
fn check_count(field: &'static str, n: usize) -> Result<(), MessageCodecError> {
    if n > U16_MAX {
        return Err(MessageCodecError::TooLong {
            field,
            len: n,
            max: U16_MAX,
        });
    }
    Ok(())
}

#[inline]
fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[inline]
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes a string with a u16 length prefix; the length was checked before.
#[inline]
fn put_str16(out: &mut Vec<u8>, s: &str) {
    put_u16(out, s.len() as u16);
    out.extend_from_slice(s.as_bytes());
}

impl Message {
    /// A message to `topic` with every other field at its zero value: queue
    /// 0, no tag, keys or properties, an empty body, [`MessageType::Normal`],
    /// no flags, zero timestamps, empty hosts and id, no message group or
    /// trace context.
    pub fn new(topic: TopicName) -> Self {
        Message {
            topic,
            queue_id: 0,
            tag: None,
            keys: Vec::new(),
            properties: Vec::new(),
            body: Bytes::new(),
            message_type: MessageType::default(),
            flags: 0,
            born_timestamp_ms: 0,
            store_timestamp_ms: 0,
            delivery_timestamp_ms: None,
            born_host: String::new(),
            store_host: String::new(),
            message_id: String::new(),
            message_group: None,
            trace_context: None,
            reconsume_count: 0,
        }
    }

    /// Takes off what made this record held or a released copy (the held
    /// flags and the link to the held record): for a stored message written
    /// again as a new one (to a dead-letter topic), which must be an
    /// ordinary message there, not dropped as a stale release.
    pub fn clear_held_marks(&mut self) {
        self.flags &= !super::FLAGS_HELD;
        self.properties
            .retain(|(k, _)| k != super::RELEASES_PROPERTY);
    }

    /// Whether the body is gzip-encoded ([`FLAG_BODY_GZIP`] is set).
    #[inline]
    pub fn is_body_gzip(&self) -> bool {
        self.flags & FLAG_BODY_GZIP != 0
    }

    /// The presence bitmap for this message.
    #[inline]
    fn presence(&self) -> u8 {
        let mut p = 0;
        if self.tag.is_some() {
            p |= PRESENT_TAG;
        }
        if self.delivery_timestamp_ms.is_some() {
            p |= PRESENT_DELIVERY_TIMESTAMP;
        }
        if self.message_group.is_some() {
            p |= PRESENT_MESSAGE_GROUP;
        }
        if self.trace_context.is_some() {
            p |= PRESENT_TRACE_CONTEXT;
        }
        p
    }

    /// The size of this message's record in bytes.
    ///
    /// # Errors
    ///
    /// [`MessageCodecError::TooLong`] if a string is longer than
    /// `u16::MAX` bytes, there are more than `u16::MAX` keys or properties, a
    /// property value or the body is longer than `u32::MAX` bytes, or the
    /// whole record would be longer than `u32::MAX` bytes.
    pub fn encoded_len(&self) -> Result<usize, MessageCodecError> {
        let mut len = FIXED_LEN as u64;
        len += str16_len("topic", self.topic.as_str())?;
        len += opt_str16_len("tag", self.tag.as_deref())?;
        len += str16_len("message_id", &self.message_id)?;
        len += str16_len("born_host", &self.born_host)?;
        len += str16_len("store_host", &self.store_host)?;
        len += opt_str16_len("message_group", self.message_group.as_deref())?;
        len += opt_str16_len("trace_context", self.trace_context.as_deref())?;

        check_count("keys", self.keys.len())?;
        len += 2;
        for key in &self.keys {
            len += str16_len("key", key)?;
        }

        check_count("properties", self.properties.len())?;
        len += 2;
        for (key, value) in &self.properties {
            len += str16_len("property key", key)?;
            if value.len() > U32_MAX {
                return Err(MessageCodecError::TooLong {
                    field: "property value",
                    len: value.len(),
                    max: U32_MAX,
                });
            }
            len += 4 + value.len() as u64;
        }

        if self.body.len() > U32_MAX {
            return Err(MessageCodecError::TooLong {
                field: "body",
                len: self.body.len(),
                max: U32_MAX,
            });
        }
        len += 4 + self.body.len() as u64;

        if len > u32::MAX as u64 {
            return Err(MessageCodecError::TooLong {
                field: "record",
                len: usize::try_from(len).unwrap_or(usize::MAX),
                max: U32_MAX,
            });
        }
        // `len <= u32::MAX`, which fits a usize on every supported target.
        Ok(len as usize)
    }

    /// Appends this message's record to `out`: exactly
    /// [`encoded_len`](Self::encoded_len) bytes.
    ///
    /// # Errors
    ///
    /// As [`encoded_len`](Self::encoded_len); on error nothing is written.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), MessageCodecError> {
        let len = self.encoded_len()?;
        out.reserve(len);
        self.encode_checked(out, len);
        Ok(())
    }

    /// Encodes this message into a fresh buffer.
    ///
    /// # Errors
    ///
    /// As [`encoded_len`](Self::encoded_len).
    pub fn encode_to_bytes(&self) -> Result<Bytes, MessageCodecError> {
        let len = self.encoded_len()?;
        let mut out = Vec::with_capacity(len);
        self.encode_checked(&mut out, len);
        Ok(Bytes::from(out))
    }

    /// Writes the record; `len` is the already validated `encoded_len()`.
    fn encode_checked(&self, out: &mut Vec<u8>, len: usize) {
        let start = out.len();
        put_u32(out, len as u32);
        out.push(self.message_type.as_u8());
        out.push(self.presence());
        put_u16(out, 0);
        put_u32(out, self.flags);
        put_u32(out, self.queue_id);
        put_u32(out, self.reconsume_count);
        out.extend_from_slice(&self.born_timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.store_timestamp_ms.to_le_bytes());
        out.extend_from_slice(&self.delivery_timestamp_ms.unwrap_or(0).to_le_bytes());

        put_str16(out, self.topic.as_str());
        if let Some(tag) = &self.tag {
            put_str16(out, tag);
        }
        put_str16(out, &self.message_id);
        put_str16(out, &self.born_host);
        put_str16(out, &self.store_host);
        if let Some(group) = &self.message_group {
            put_str16(out, group);
        }
        if let Some(trace) = &self.trace_context {
            put_str16(out, trace);
        }

        put_u16(out, self.keys.len() as u16);
        for key in &self.keys {
            put_str16(out, key);
        }

        put_u16(out, self.properties.len() as u16);
        for (key, value) in &self.properties {
            put_str16(out, key);
            put_u32(out, value.len() as u32);
            out.extend_from_slice(value.as_bytes());
        }

        put_u32(out, self.body.len() as u32);
        out.extend_from_slice(&self.body);
        debug_assert_eq!(out.len() - start, len);
    }
}

/// Encodes `msgs` end to end onto `out`, forming a batch body.
///
/// Returns, for each message, the `(offset, len)` of its record relative to
/// where encoding started (`out.len()` on entry).
///
/// # Errors
///
/// As [`Message::encoded_len`] for any message, or
/// [`MessageCodecError::TooLong`] (field `batch`) if the appended region would
/// exceed `u32::MAX` bytes. Every message is validated before anything is
/// written, so on error `out` is left unchanged.
pub fn encode_batch(
    msgs: &[Message],
    out: &mut Vec<u8>,
) -> Result<Vec<(u32, u32)>, MessageCodecError> {
    let mut positions = Vec::with_capacity(msgs.len());
    let mut total: u64 = 0;
    for msg in msgs {
        let len = msg.encoded_len()?;
        // Both fit a u32: `len` by `encoded_len`, `total` by the check below.
        positions.push((total as u32, len as u32));
        total += len as u64;
        if total > u32::MAX as u64 {
            return Err(MessageCodecError::TooLong {
                field: "batch",
                len: usize::try_from(total).unwrap_or(usize::MAX),
                max: U32_MAX,
            });
        }
    }
    out.reserve(total as usize);
    for (msg, &(_, len)) in msgs.iter().zip(&positions) {
        msg.encode_checked(out, len as usize);
    }
    Ok(positions)
}
