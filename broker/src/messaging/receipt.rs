//! Receipt handles: what a consumer sends back to ack a message or change
//! its visibility. Opaque to clients; here, hex of
//!
//! ```text
//!   version u8 = 1 | term u64 | queue u32 | offset u64 | nonce u32
//!   | topic str16 | group str16 | crc32 of everything before
//! ```
//!
//! The term is the issuing leader's: a handle of an earlier term names its
//! message by offset only (its nonce means nothing to the new leader). A
//! handle that does not decode, fails its CRC, or names another topic or
//! group is refused as invalid.

/// A decoded receipt handle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The Raft term of the leader that issued it.
    pub term: u64,
    /// Topic.
    pub topic: String,
    /// Consumer group.
    pub group: String,
    /// Queue.
    pub queue: u32,
    /// Queue offset of the message.
    pub offset: u64,
    /// The delivery it belongs to.
    pub nonce: u32,
}

const VERSION: u8 = 1;

impl Receipt {
    /// The handle's text.
    pub fn encode(&self) -> String {
        let mut b = Vec::with_capacity(32 + self.topic.len() + self.group.len());
        b.push(VERSION);
        b.extend_from_slice(&self.term.to_le_bytes());
        b.extend_from_slice(&self.queue.to_le_bytes());
        b.extend_from_slice(&self.offset.to_le_bytes());
        b.extend_from_slice(&self.nonce.to_le_bytes());
        for s in [&self.topic, &self.group] {
            let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
            b.extend_from_slice(&len.to_le_bytes());
            b.extend_from_slice(&s.as_bytes()[..usize::from(len)]);
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        to_hex(&b)
    }

    /// Decodes a handle; `None` if it is not one of ours.
    pub fn decode(text: &str) -> Option<Receipt> {
        if !text.len().is_multiple_of(2) || text.len() > 4096 {
            return None;
        }
        let bytes = from_hex(text)?;
        let (body, crc) = bytes.split_at(bytes.len().checked_sub(4)?);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        if r.take(1)?[0] != VERSION {
            return None;
        }
        let term = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let queue = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
        let offset = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let nonce = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
        let topic = r.str16()?;
        let group = r.str16()?;
        if !r.0.is_empty() {
            return None;
        }
        Some(Receipt {
            term,
            topic,
            group,
            queue,
            offset,
            nonce,
        })
    }
}

/// Lower-case hex, two digits a byte. One is made for every message
/// delivered, so no formatter: a `format!` per byte was a fifth of a
/// leader's CPU while draining a backlog.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The bytes of hex text (either case); `None` for an odd length or a
/// character that is not a hex digit.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }

    fn str16(&mut self) -> Option<String> {
        let len = u16::from_le_bytes(self.take(2)?.try_into().ok()?);
        String::from_utf8(self.take(usize::from(len))?.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Receipt {
        Receipt {
            term: 7,
            topic: "TopicTest".into(),
            group: "GroupA".into(),
            queue: 3,
            offset: 12345,
            nonce: 9,
        }
    }

    #[test]
    fn round_trips() {
        let r = sample();
        assert_eq!(Receipt::decode(&r.encode()), Some(r));
    }

    #[test]
    fn hex_is_what_the_formatter_writes_and_reads_back() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = to_hex(&bytes);
        let formatted: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(text, formatted);
        assert_eq!(from_hex(&text), Some(bytes.clone()));
        assert_eq!(from_hex(&text.to_uppercase()), Some(bytes));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("0g"), None);
        assert_eq!(from_hex("+f"), None);
        assert_eq!(from_hex(""), Some(Vec::new()));
    }

    #[test]
    fn forged_and_damaged_handles_are_refused() {
        let text = sample().encode();
        assert_eq!(Receipt::decode(""), None);
        assert_eq!(Receipt::decode("not a handle"), None);
        assert_eq!(Receipt::decode(&text[..text.len() - 2]), None);
        let mut flipped = text.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        assert_eq!(Receipt::decode(&String::from_utf8(flipped).unwrap()), None);
        assert_eq!(Receipt::decode(&format!("{text}00")), None);
    }
}
