//! Iterating over the records of a batch body: [`iter_batch`] and [`BatchIter`].

use std::fmt;
use std::iter::FusedIterator;

use super::{MessageCodecError, MessageView};

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
