//! The frames of the two server-streaming reads, folded into a result with
//! no socket in sight.
//!
//! ```text
//! ReceiveMessage: status OK | message* | delivery_timestamp     (MESSAGE_NOT_FOUND: empty)
//! PullMessage:    status OK | message* | next_offset
//! ```

use raftmq_proto::rocketmq::v2;
use v2::pull_message_response::Content as PullContent;
use v2::receive_message_response::Content as ReceiveContent;

use super::error::{status_error, Subject};
use super::ClientError;

/// Whether a status means "nothing to deliver": an empty answer, not an
/// error.
fn is_empty_answer(status: &v2::Status) -> bool {
    status.code == v2::Code::MessageNotFound as i32
}

/// Folds ReceiveMessage frames.
#[derive(Debug, Default)]
pub(crate) struct ReceiveFold {
    pub messages: Vec<v2::Message>,
    pub delivery_timestamp: Option<prost_types::Timestamp>,
    empty: bool,
}

impl ReceiveFold {
    /// Takes one frame; a status other than OK or MESSAGE_NOT_FOUND is the
    /// error it means.
    pub fn push(
        &mut self,
        frame: v2::ReceiveMessageResponse,
        subject: Subject<'_>,
    ) -> Result<(), ClientError> {
        match frame.content {
            Some(ReceiveContent::Status(s)) if s.code == v2::Code::Ok as i32 => {}
            Some(ReceiveContent::Status(s)) if is_empty_answer(&s) => self.empty = true,
            Some(ReceiveContent::Status(s)) => {
                return Err(status_error("ReceiveMessage", &s, subject));
            }
            Some(ReceiveContent::Message(m)) => self.messages.push(m),
            Some(ReceiveContent::DeliveryTimestamp(t)) => self.delivery_timestamp = Some(t),
            None => {}
        }
        Ok(())
    }

    /// The messages delivered (none after MESSAGE_NOT_FOUND).
    pub fn finish(self) -> Vec<v2::Message> {
        if self.empty {
            Vec::new()
        } else {
            self.messages
        }
    }
}

/// The result of one PullMessage.
#[derive(Debug, Default)]
pub(crate) struct PullFold {
    pub messages: Vec<v2::Message>,
    pub next_offset: Option<i64>,
    /// An offset the server refused (out of range); `next_offset`, when
    /// given, says where to go on.
    pub bad_offset: bool,
}

impl PullFold {
    /// Takes one frame.
    pub fn push(
        &mut self,
        frame: v2::PullMessageResponse,
        subject: Subject<'_>,
    ) -> Result<(), ClientError> {
        match frame.content {
            Some(PullContent::Status(s)) if s.code == v2::Code::Ok as i32 => {}
            Some(PullContent::Status(s)) if is_empty_answer(&s) => {}
            Some(PullContent::Status(s)) if is_offset_code(s.code) => self.bad_offset = true,
            Some(PullContent::Status(s)) => {
                return Err(status_error("PullMessage", &s, subject));
            }
            Some(PullContent::Message(m)) => self.messages.push(m),
            Some(PullContent::NextOffset(o)) => self.next_offset = Some(o),
            None => {}
        }
        Ok(())
    }
}

/// ILLEGAL_OFFSET or OFFSET_NOT_FOUND: the position is outside the queue.
fn is_offset_code(code: i32) -> bool {
    code == v2::Code::IllegalOffset as i32 || code == v2::Code::OffsetNotFound as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: v2::Code) -> v2::Status {
        v2::Status {
            code: code as i32,
            message: "m".into(),
        }
    }

    fn msg(id: &str) -> v2::Message {
        v2::Message {
            system_properties: Some(v2::SystemProperties {
                message_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn recv(c: ReceiveContent) -> v2::ReceiveMessageResponse {
        v2::ReceiveMessageResponse { content: Some(c) }
    }

    fn pull(c: PullContent) -> v2::PullMessageResponse {
        v2::PullMessageResponse { content: Some(c) }
    }

    #[test]
    fn receive_takes_status_messages_and_delivery_time() {
        let mut f = ReceiveFold::default();
        let s = Subject::default();
        f.push(recv(ReceiveContent::Status(status(v2::Code::Ok))), s)
            .unwrap();
        f.push(recv(ReceiveContent::Message(msg("a"))), s).unwrap();
        f.push(recv(ReceiveContent::Message(msg("b"))), s).unwrap();
        f.push(
            recv(ReceiveContent::DeliveryTimestamp(prost_types::Timestamp {
                seconds: 5,
                nanos: 0,
            })),
            s,
        )
        .unwrap();
        assert_eq!(f.delivery_timestamp.as_ref().map(|t| t.seconds), Some(5));
        let ids: Vec<String> = f
            .finish()
            .into_iter()
            .map(|m| m.system_properties.unwrap().message_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn message_not_found_is_an_empty_receive() {
        let mut f = ReceiveFold::default();
        let s = Subject::default();
        f.push(
            recv(ReceiveContent::Status(status(v2::Code::MessageNotFound))),
            s,
        )
        .unwrap();
        f.push(
            recv(ReceiveContent::DeliveryTimestamp(
                prost_types::Timestamp::default(),
            )),
            s,
        )
        .unwrap();
        assert!(f.finish().is_empty());
    }

    #[test]
    fn other_statuses_are_errors_naming_the_subject() {
        let mut f = ReceiveFold::default();
        let s = Subject {
            topic: "T",
            group: "G",
            ..Subject::default()
        };
        let e = f
            .push(
                recv(ReceiveContent::Status(status(
                    v2::Code::ConsumerGroupNotFound,
                ))),
                s,
            )
            .unwrap_err();
        assert!(matches!(e, ClientError::ConsumerGroupNotFound { group } if group == "G"));
        let e = f
            .push(
                recv(ReceiveContent::Status(status(v2::Code::TopicNotFound))),
                s,
            )
            .unwrap_err();
        assert!(matches!(e, ClientError::TopicNotFound { .. }));
    }

    #[test]
    fn pull_takes_messages_and_the_next_offset() {
        let mut f = PullFold::default();
        let s = Subject::default();
        f.push(pull(PullContent::Status(status(v2::Code::Ok))), s)
            .unwrap();
        f.push(pull(PullContent::Message(msg("a"))), s).unwrap();
        f.push(pull(PullContent::NextOffset(8)), s).unwrap();
        assert_eq!(f.messages.len(), 1);
        assert_eq!(f.next_offset, Some(8));
        assert!(!f.bad_offset);

        let mut f = PullFold::default();
        f.push(
            pull(PullContent::Status(status(v2::Code::MessageNotFound))),
            s,
        )
        .unwrap();
        f.push(pull(PullContent::NextOffset(3)), s).unwrap();
        assert!(f.messages.is_empty());
        assert_eq!(f.next_offset, Some(3));

        let mut f = PullFold::default();
        f.push(
            pull(PullContent::Status(status(v2::Code::IllegalOffset))),
            s,
        )
        .unwrap();
        assert!(f.bad_offset);
        assert!(f
            .push(
                pull(PullContent::Status(status(v2::Code::InternalServerError))),
                s
            )
            .is_err());
    }
}
