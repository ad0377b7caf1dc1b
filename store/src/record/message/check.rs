//! The strict check of a proposed message batch, for the edges where new
//! data enters the log (a client's send, a Propose on the Raft port).
//!
//! Decoding for applying and reading stays lenient: a record an older
//! version wrote with a topic the rule now refuses must still be readable.

use raftmq_model::{NameError, TopicName};

use super::{iter_batch, MessageCodecError};

/// Why a proposed batch body is refused. Each variant names the record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// A record does not decode.
    #[error("message record {index} of the body: {source}")]
    Record {
        /// The record's position in the batch, from 0.
        index: usize,
        /// Why it does not decode.
        source: MessageCodecError,
    },
    /// The body holds another number of records than announced.
    #[error("the body holds {found} message records, not {expected}")]
    Count {
        /// How many records the body holds.
        found: usize,
        /// How many the proposer announced.
        expected: usize,
    },
    /// A record names a topic that breaks the topic rule.
    #[error("message record {index} of the body: {source}")]
    Topic {
        /// The record's position in the batch, from 0.
        index: usize,
        /// Which part of the rule the topic breaks.
        source: NameError,
    },
}

/// Checks a proposed batch body: every record decodes, there are exactly
/// `count` of them (at least one), and every record's topic is a legal
/// [`TopicName`]. Retry and dead-letter topics are legal here: the broker
/// writes to them itself.
pub fn check_batch(body: &[u8], count: usize) -> Result<(), BatchError> {
    let mut found = 0usize;
    for record in iter_batch(body) {
        let (_, view) = record.map_err(|source| BatchError::Record {
            index: found,
            source,
        })?;
        TopicName::new(view.topic()).map_err(|source| BatchError::Topic {
            index: found,
            source,
        })?;
        found += 1;
    }
    if found == 0 || found != count {
        return Err(BatchError::Count {
            found,
            expected: count,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{encode_batch, Message};
    use super::*;

    fn body(topics: &[&str]) -> Vec<u8> {
        let batch: Vec<Message> = topics
            .iter()
            // As stored: the check under test is what refuses the illegal ones.
            .map(|t| Message {
                message_id: "id".into(),
                ..Message::new(TopicName::from_stored((*t).to_owned()))
            })
            .collect();
        let mut out = Vec::new();
        encode_batch(&batch, &mut out).expect("encode");
        out
    }

    #[test]
    fn a_batch_of_legal_topics_passes() {
        assert_eq!(check_batch(&body(&["T", "%DLQ%g"]), 2), Ok(()));
    }

    #[test]
    fn an_illegal_topic_is_named_with_its_record() {
        match check_batch(&body(&["T", "a.b"]), 2) {
            Err(BatchError::Topic { index: 1, source }) => {
                assert!(source.to_string().contains("\"a.b\""), "{source}");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn counts_and_garbage_are_refused() {
        let b = body(&["T"]);
        assert_eq!(
            check_batch(&b, 2),
            Err(BatchError::Count {
                found: 1,
                expected: 2
            })
        );
        assert!(matches!(
            check_batch(&[], 0),
            Err(BatchError::Count { found: 0, .. })
        ));
        assert!(matches!(
            check_batch(&b[..b.len() - 1], 1),
            Err(BatchError::Record { index: 0, .. })
        ));
    }
}
