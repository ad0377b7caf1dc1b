//! Reading a record's length ([`peek_len`]) and the bounds-checked cursor
//! that [`MessageView::decode`](super::MessageView::decode) reads with.

use super::{MessageCodecError, MIN_RECORD_LEN, TOTAL_LEN_OFFSET};

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
pub(super) struct Reader<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
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
    pub(super) fn take(
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
    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, MessageCodecError> {
        let [b] = self.array::<1>(field, self.pos)?;
        Ok(b)
    }

    #[inline]
    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, MessageCodecError> {
        self.array(field, self.pos).map(u16::from_le_bytes)
    }

    #[inline]
    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, MessageCodecError> {
        self.array(field, self.pos).map(u32::from_le_bytes)
    }

    #[inline]
    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64, MessageCodecError> {
        self.array(field, self.pos).map(i64::from_le_bytes)
    }

    /// Reads a string with a u16 length prefix.
    #[inline]
    pub(super) fn str16(&mut self, field: &'static str) -> Result<&'a str, MessageCodecError> {
        let start = self.pos;
        let len = self.u16(field)? as usize;
        self.utf8(field, start, len)
    }

    /// Reads a string with a u32 length prefix.
    #[inline]
    pub(super) fn str32(&mut self, field: &'static str) -> Result<&'a str, MessageCodecError> {
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
    pub(super) fn opt_str16(
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
    pub(super) fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or(&[])
    }
}
