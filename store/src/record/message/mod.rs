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

mod batch;
mod check;
mod iter;
mod owned;
mod reader;
mod view;

pub use batch::{iter_batch, BatchIter};
pub use check::{check_batch, BatchError};
pub use iter::{Keys, Properties};
pub use owned::{encode_batch, Message};
pub use reader::peek_len;
pub use view::MessageView;

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

/// Flag bit: a timed message, held out of its queue until its
/// `delivery_timestamp` (ADR 0012). Set by the broker, never by a client.
pub const FLAG_TIMER: u32 = 1 << 1;

/// Flag bit: a transaction's half message, held out of its queue until the
/// transaction is committed (ADR 0012).
pub const FLAG_HALF: u32 = 1 << 2;

/// Flag bit: this record is the released copy of a held one (with
/// [`FLAG_TIMER`] or [`FLAG_HALF`] saying which kind); the held record's id
/// is in the [`RELEASES_PROPERTY`] property.
pub const FLAG_RELEASE: u32 = 1 << 3;

/// The flag bits that put a record under the held-message rules.
pub const FLAGS_HELD: u32 = FLAG_TIMER | FLAG_HALF | FLAG_RELEASE;

/// The system property a released copy names its held record in
/// (`<log index>.<slot>`). Never shown to clients.
pub const RELEASES_PROPERTY: &str = "__RAFTMQ_RELEASES";

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

#[cfg(test)]
mod tests;
