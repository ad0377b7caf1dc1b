//! The [`Keys`] and [`Properties`] iterators of a
//! [`MessageView`](super::MessageView), over regions it has validated.

use std::iter::FusedIterator;

/// Splits a string of `len` bytes off the front of `rest`, an already
/// validated region, leaving the remainder in `buf`. Returns `None` only if
/// the region is malformed, which
/// [`MessageView::decode`](super::MessageView::decode) rules out.
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

/// The keys of a [`MessageView`](super::MessageView), in order.
#[derive(Clone, Debug)]
pub struct Keys<'a> {
    // `pub(super)` only so that `MessageView::keys` (view.rs) can build it
    // from a region `MessageView::decode` validated.
    pub(super) buf: &'a [u8],
    pub(super) remaining: u16,
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

/// The user properties of a [`MessageView`](super::MessageView) as
/// `(key, value)`, in order.
#[derive(Clone, Debug)]
pub struct Properties<'a> {
    // `pub(super)` only so that `MessageView::properties` (view.rs) can build
    // it from a region `MessageView::decode` validated.
    pub(super) buf: &'a [u8],
    pub(super) remaining: u16,
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
