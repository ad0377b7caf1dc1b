//! The message record codec.
//!
//! A *message record* is one message as stored in the commitlog, inside the
//! body of a message-batch entry (a batch body is message records laid end to
//! end). A record carries everything needed to answer RocketMQ 5's
//! `SystemProperties` (tag, keys, message id, body encoding, message type,
//! born/store/delivery timestamps, born/store hosts, queue id, message group,
//! trace context, reconsume count) plus the user properties and the body. The
//! queue offset is *not* stored: the consume queue assigns it.
//!
//! # Layout
//!
//! All integers are little-endian. A fixed part comes first so that a
//! dispatcher can read it cheaply, then the variable part:
//!
//! ```text
//! off  size field
//! 0    4    total_len u32          length of the whole record, this field included
//! 4    1    message_type u8        0 unspecified, 1 normal, 2 fifo, 3 delay,
//!                                  4 transaction, 5 lite, 6 priority
//! 5    1    presence u8            bit0 tag, bit1 delivery_timestamp,
//!                                  bit2 message_group, bit3 trace_context
//! 6    2    reserved u16           always 0
//! 8    4    flags u32              bit0 = body is gzip-encoded; others opaque
//! 12   4    queue_id u32
//! 16   4    reconsume_count u32
//! 20   8    born_timestamp_ms i64
//! 28   8    store_timestamp_ms i64
//! 36   8    delivery_timestamp_ms i64   (0 when absent)
//! 44        variable part:
//!   topic          u16 len + utf8
//!   tag            u16 len + utf8   (only if presence bit0)
//!   message_id     u16 len + utf8
//!   born_host      u16 len + utf8
//!   store_host     u16 len + utf8
//!   message_group  u16 len + utf8   (only if presence bit2)
//!   trace_context  u16 len + utf8   (only if presence bit3)
//!   keys           u16 count, then each u16 len + utf8
//!   properties     u16 count, then each u16 key len + utf8, u32 value len + utf8
//!   body           u32 len + bytes
//! ```
//!
//! `total_len` equals exactly the number of bytes the fields take.
//!
//! Encoding goes through the owned [`Message`]; decoding produces a
//! zero-copy [`MessageView`] that borrows the input and never panics,
//! whatever the bytes.

use std::fmt;
use std::iter::FusedIterator;

use bytes::Bytes;

/// Length of the fixed part of a record, which precedes the variable part.
pub const FIXED_LEN: usize = 44;

/// Smallest possible record: the fixed part plus the length prefixes of the
/// mandatory variable fields (topic, message id, born host, store host, key
/// count, property count: 2 bytes each; body length: 4 bytes), all empty.
pub const MIN_RECORD_LEN: usize = FIXED_LEN + 2 * 6 + 4;

/// Offset of `total_len` (u32) in a record.
pub const TOTAL_LEN_OFFSET: usize = 0;
/// Offset of `message_type` (u8) in a record.
pub const MESSAGE_TYPE_OFFSET: usize = 4;
/// Offset of the presence bitmap (u8) in a record.
pub const PRESENCE_OFFSET: usize = 5;
/// Offset of the reserved u16 (always 0) in a record.
pub const RESERVED_OFFSET: usize = 6;
/// Offset of `flags` (u32) in a record.
pub const FLAGS_OFFSET: usize = 8;
/// Offset of `queue_id` (u32) in a record.
pub const QUEUE_ID_OFFSET: usize = 12;
/// Offset of `reconsume_count` (u32) in a record.
pub const RECONSUME_COUNT_OFFSET: usize = 16;
/// Offset of `born_timestamp_ms` (i64) in a record.
pub const BORN_TIMESTAMP_OFFSET: usize = 20;
/// Offset of `store_timestamp_ms` (i64) in a record, so that a leader can
/// patch the store timestamp in place after encoding.
pub const STORE_TIMESTAMP_OFFSET: usize = 28;
/// Offset of `delivery_timestamp_ms` (i64, 0 when absent) in a record.
pub const DELIVERY_TIMESTAMP_OFFSET: usize = 36;

/// Flag bit: the body is gzip-encoded (RocketMQ `Encoding::GZIP`). All other
/// flag bits are opaque to the codec and preserved.
pub const FLAG_BODY_GZIP: u32 = 1;

/// Presence bit: the record has a tag.
const PRESENT_TAG: u8 = 1 << 0;
/// Presence bit: the record has a delivery timestamp.
const PRESENT_DELIVERY_TIMESTAMP: u8 = 1 << 1;
/// Presence bit: the record has a message group.
const PRESENT_MESSAGE_GROUP: u8 = 1 << 2;
/// Presence bit: the record has a trace context.
const PRESENT_TRACE_CONTEXT: u8 = 1 << 3;
/// Every presence bit this version knows.
const PRESENT_KNOWN: u8 =
    PRESENT_TAG | PRESENT_DELIVERY_TIMESTAMP | PRESENT_MESSAGE_GROUP | PRESENT_TRACE_CONTEXT;

const U16_MAX: usize = u16::MAX as usize;
const U32_MAX: usize = u32::MAX as usize;

/// The kind of a message, as in RocketMQ 5's `MessageType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// No type given (wire value 0).
    #[default]
    Unspecified,
    /// An ordinary message (1).
    Normal,
    /// A FIFO (ordered) message, delivered in order within its message group (2).
    Fifo,
    /// A delayed / scheduled message with a delivery timestamp (3).
    Delay,
    /// A transactional (half) message (4).
    Transaction,
    /// A lite-topic message (5).
    Lite,
    /// A priority message (6).
    Priority,
}

impl MessageType {
    /// The message type for a wire value, or `None` for an unknown value.
    #[inline]
    pub const fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0 => Self::Unspecified,
            1 => Self::Normal,
            2 => Self::Fifo,
            3 => Self::Delay,
            4 => Self::Transaction,
            5 => Self::Lite,
            6 => Self::Priority,
            _ => return None,
        })
    }

    /// The wire value of this message type.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::Normal => 1,
            Self::Fifo => 2,
            Self::Delay => 3,
            Self::Transaction => 4,
            Self::Lite => 5,
            Self::Priority => 6,
        }
    }
}

/// Why a message could not be encoded or a record could not be decoded.
///
/// Offsets are byte offsets from the start of the record.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum MessageCodecError {
    /// A field runs past the end of the record (or of the input buffer).
    #[error(
        "message record truncated in field `{field}` at byte {offset}: \
         needed {needed} bytes, {available} available"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// How many bytes the field needs from `offset`.
        needed: usize,
        /// How many bytes there are from `offset`.
        available: usize,
    },
    /// A length field holds an impossible value.
    #[error("message record has bad length {len} in field `{field}` at byte {offset}")]
    BadLength {
        /// The length field.
        field: &'static str,
        /// Where the length field starts.
        offset: usize,
        /// The length it holds.
        len: usize,
    },
    /// A string field is not valid UTF-8.
    #[error("message record field `{field}` is not valid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// The string field.
        field: &'static str,
        /// The first byte that is not part of valid UTF-8.
        offset: usize,
    },
    /// The message type byte is not one this version knows.
    #[error("message record has unknown message type {value} at byte 4")]
    UnknownMessageType {
        /// The message type byte.
        value: u8,
    },
    /// The presence bitmap has bits set that this version does not know.
    #[error("message record has unknown presence bits {bits:#04x} at byte 5")]
    UnknownPresenceBits {
        /// The unknown bits (known bits masked off).
        bits: u8,
    },
    /// A field that must be zero is not: the reserved u16, or the delivery
    /// timestamp when its presence bit is clear.
    #[error("message record field `{field}` at byte {offset} must be 0, found {value}")]
    MustBeZero {
        /// The field.
        field: &'static str,
        /// Where the field starts.
        offset: usize,
        /// The value found, as raw bits.
        value: u64,
    },
    /// A message field is too long (or too numerous) to be encoded.
    #[error("message field `{field}` is too long to encode: {len} exceeds the maximum of {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length in bytes (or its element count).
        len: usize,
        /// The largest encodable length (or count).
        max: usize,
    },
    /// The record's `total_len` differs from the bytes its fields take.
    #[error("message record declares total_len {declared} but its fields take {consumed} bytes")]
    LengthMismatch {
        /// The declared `total_len`.
        declared: usize,
        /// The bytes the fields actually take.
        consumed: usize,
    },
}

/// A stable 64-bit hash of a tag, used by consume queues to filter by tag.
///
/// This is FNV-1a 64 (offset basis `0xcbf29ce484222325`, prime
/// `0x100000001b3`) over the tag's UTF-8 bytes, and is therefore the same
/// across processes, platforms and versions. The one exception is the empty
/// tag, which hashes to 0; messages without a tag also use 0.
#[inline]
pub fn tag_hash(tag: &str) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    if tag.is_empty() {
        return 0;
    }
    let mut hash = OFFSET_BASIS;
    for &b in tag.as_bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// One message, owned: what a producer sends and what [`Message::encode`]
/// turns into a record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The topic.
    pub topic: String,
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
        len += str16_len("topic", &self.topic)?;
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

        put_str16(out, &self.topic);
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

/// Reads a record's `total_len` from the start of `buf`.
///
/// Does not check that `buf` holds the whole record.
///
/// # Errors
///
/// [`MessageCodecError::Truncated`] if `buf` is shorter than the 4-byte
/// length, [`MessageCodecError::BadLength`] if the length is below
/// [`MIN_RECORD_LEN`].
#[inline]
pub fn peek_len(buf: &[u8]) -> Result<usize, MessageCodecError> {
    let Some(raw) = buf.first_chunk::<4>() else {
        return Err(MessageCodecError::Truncated {
            field: "total_len",
            offset: TOTAL_LEN_OFFSET,
            needed: 4,
            available: buf.len(),
        });
    };
    let len = u32::from_le_bytes(*raw) as usize;
    if len < MIN_RECORD_LEN {
        return Err(MessageCodecError::BadLength {
            field: "total_len",
            offset: TOTAL_LEN_OFFSET,
            len,
        });
    }
    Ok(len)
}

/// A bounds-checked cursor over one record.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// The bytes from the cursor on.
    #[inline]
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// The error for a field starting at `start` that needs `n` more bytes
    /// from the cursor.
    #[cold]
    fn truncated(&self, field: &'static str, start: usize, n: usize) -> MessageCodecError {
        MessageCodecError::Truncated {
            field,
            offset: start,
            needed: (self.pos - start).saturating_add(n),
            available: self.buf.len().saturating_sub(start),
        }
    }

    /// Takes `n` bytes of the field that started at `start`.
    #[inline]
    fn take(
        &mut self,
        field: &'static str,
        start: usize,
        n: usize,
    ) -> Result<&'a [u8], MessageCodecError> {
        match self.rest().get(..n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.truncated(field, start, n)),
        }
    }

    /// Takes a fixed-size array of the field that started at `start`.
    #[inline]
    fn array<const N: usize>(
        &mut self,
        field: &'static str,
        start: usize,
    ) -> Result<[u8; N], MessageCodecError> {
        match self.rest().first_chunk::<N>() {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(self.truncated(field, start, N)),
        }
    }

    #[inline]
    fn u8(&mut self, field: &'static str) -> Result<u8, MessageCodecError> {
        let [b] = self.array::<1>(field, self.pos)?;
        Ok(b)
    }

    #[inline]
    fn u16(&mut self, field: &'static str) -> Result<u16, MessageCodecError> {
        self.array(field, self.pos).map(u16::from_le_bytes)
    }

    #[inline]
    fn u32(&mut self, field: &'static str) -> Result<u32, MessageCodecError> {
        self.array(field, self.pos).map(u32::from_le_bytes)
    }

    #[inline]
    fn i64(&mut self, field: &'static str) -> Result<i64, MessageCodecError> {
        self.array(field, self.pos).map(i64::from_le_bytes)
    }

    /// Reads a string with a u16 length prefix.
    #[inline]
    fn str16(&mut self, field: &'static str) -> Result<&'a str, MessageCodecError> {
        let start = self.pos;
        let len = self.u16(field)? as usize;
        self.utf8(field, start, len)
    }

    /// Reads a string with a u32 length prefix.
    #[inline]
    fn str32(&mut self, field: &'static str) -> Result<&'a str, MessageCodecError> {
        let start = self.pos;
        let len = self.u32(field)? as usize;
        self.utf8(field, start, len)
    }

    /// Reads `len` bytes of UTF-8 belonging to the field that started at `start`.
    #[inline]
    fn utf8(
        &mut self,
        field: &'static str,
        start: usize,
        len: usize,
    ) -> Result<&'a str, MessageCodecError> {
        let data_start = self.pos;
        let bytes = self.take(field, start, len)?;
        std::str::from_utf8(bytes).map_err(|e| MessageCodecError::InvalidUtf8 {
            field,
            offset: data_start + e.valid_up_to(),
        })
    }

    /// Reads an optional u16-prefixed string present when `present`.
    #[inline]
    fn opt_str16(
        &mut self,
        field: &'static str,
        present: bool,
    ) -> Result<Option<&'a str>, MessageCodecError> {
        if present {
            self.str16(field).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The bytes between `start` and the cursor.
    #[inline]
    fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or(&[])
    }
}

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

    /// Copies the view into an owned [`Message`].
    pub fn to_message(&self) -> Message {
        Message {
            topic: self.topic.to_owned(),
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

/// Splits a string of `len` bytes off the front of `rest`, an already
/// validated region, leaving the remainder in `buf`. Returns `None` only if
/// the region is malformed, which [`MessageView::decode`] rules out.
#[inline]
fn split_utf8<'a>(buf: &mut &'a [u8], rest: &'a [u8], len: usize) -> Option<&'a str> {
    let (bytes, tail) = rest.split_at_checked(len)?;
    *buf = tail;
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: these bytes belong to a region that `MessageView::decode`
    // walked with the same layout and checked to be UTF-8 with
    // `std::str::from_utf8`; the view's fields are private and only `decode`
    // builds a view, so the region is exactly what was validated.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// Splits a u16-length-prefixed string off the front of a validated region.
#[inline]
fn split_str16<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    let (len, rest) = buf.split_first_chunk::<2>()?;
    split_utf8(buf, rest, usize::from(u16::from_le_bytes(*len)))
}

/// Splits a u32-length-prefixed string off the front of a validated region.
#[inline]
fn split_str32<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    let (len, rest) = buf.split_first_chunk::<4>()?;
    split_utf8(buf, rest, u32::from_le_bytes(*len) as usize)
}

/// The keys of a [`MessageView`], in order.
#[derive(Clone, Debug)]
pub struct Keys<'a> {
    buf: &'a [u8],
    remaining: u16,
}

impl<'a> Iterator for Keys<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        split_str16(&mut self.buf)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.remaining);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Keys<'_> {}
impl FusedIterator for Keys<'_> {}

/// The user properties of a [`MessageView`] as `(key, value)`, in order.
#[derive(Clone, Debug)]
pub struct Properties<'a> {
    buf: &'a [u8],
    remaining: u16,
}

impl<'a> Iterator for Properties<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let key = split_str16(&mut self.buf)?;
        let value = split_str32(&mut self.buf)?;
        Some((key, value))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.remaining);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Properties<'_> {}
impl FusedIterator for Properties<'_> {}

/// An iterator over the records of a batch body, yielding each record's
/// offset in the body and its view. It stops after the first error.
#[derive(Clone)]
pub struct BatchIter<'a> {
    body: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> BatchIter<'a> {
    /// The offset in the body of the next record to decode; after an error,
    /// the offset of the record that failed.
    #[inline]
    pub fn offset(&self) -> usize {
        self.pos
    }
}

impl fmt::Debug for BatchIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchIter")
            .field("len", &self.body.len())
            .field("pos", &self.pos)
            .field("failed", &self.failed)
            .finish()
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<(usize, MessageView<'a>), MessageCodecError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.body.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        match MessageView::decode(rest) {
            Ok(view) => {
                let at = self.pos;
                self.pos += view.encoded_len();
                Some(Ok((at, view)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

impl FusedIterator for BatchIter<'_> {}

/// Iterates over the message records of a batch body (records end to end).
#[inline]
pub fn iter_batch(body: &[u8]) -> BatchIter<'_> {
    BatchIter {
        body,
        pos: 0,
        failed: false,
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
