//! What can go wrong in an SDK call, each variant saying what to do about
//! it, and the mapping from the protocol's `Status` codes.

use std::time::Duration;

use raftmq_proto::rocketmq::v2;

/// A failed SDK call.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// A configuration value is missing or out of range; nothing was sent.
    #[error("bad client configuration {field}: {reason}")]
    BadConfig {
        /// The field (or variable) at fault.
        field: &'static str,
        /// What a valid value looks like.
        reason: String,
    },

    /// The topic does not exist on any broker the nameserver knows.
    #[error(
        "topic {topic} does not exist: create it with `mqadmin updateTopic -t {topic} -c CLUSTER`, \
         or enable autoCreateTopicEnable on the brokers"
    )]
    TopicNotFound {
        /// The topic asked for.
        topic: String,
    },

    /// The consumer group is unknown to the broker.
    #[error(
        "consumer group {group} does not exist: create it (mqadmin updateSubGroup -g {group}) \
         or enable autoCreateSubscriptionGroup on the brokers"
    )]
    ConsumerGroupNotFound {
        /// The group.
        group: String,
    },

    /// The route of a topic has no queue allowing what was asked.
    #[error(
        "topic {topic} has no {what} queue: check its permissions with \
         `mqadmin topicRoute -t {topic}` and that its brokers are registered"
    )]
    NoQueue {
        /// The topic.
        topic: String,
        /// `writable` or `readable`.
        what: &'static str,
    },

    /// No address answered: every one refused the connection or was down.
    #[error(
        "{call}: no endpoint answered (tried {}): {last}; check that the nameserver and \
         brokers run there and that NAMESRV_ADDR is right",
        tried.join(", ")
    )]
    Unavailable {
        /// The call.
        call: &'static str,
        /// Every address tried, in order.
        tried: Vec<String>,
        /// Why the last one did not answer.
        last: String,
    },

    /// A call got no answer in time.
    #[error(
        "{call} timed out after {after:?}: the server is slow or unreachable; retry, \
         or raise ClientConfig::request_timeout"
    )]
    Timeout {
        /// The call.
        call: &'static str,
        /// The bound that ran out.
        after: Duration,
    },

    /// The server answered with a business error.
    #[error("{call} refused by the server: {} ({code}): {message}", code_name(*code))]
    Broker {
        /// The call.
        call: &'static str,
        /// The `apache.rocketmq.v2.Code` value.
        code: i32,
        /// The server's explanation.
        message: String,
    },

    /// The message body is larger than the broker accepts.
    #[error(
        "message body of {size} bytes is larger than the broker's limit{}: split it, \
         or raise maxMessageSize on the brokers",
        limit.map(|l| format!(" of {l} bytes")).unwrap_or_default()
    )]
    MessageTooLarge {
        /// The body's size.
        size: usize,
        /// The broker's limit, when known.
        limit: Option<usize>,
    },

    /// A message or argument is malformed; nothing was sent.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What is invalid (`topic`, `tag`, `message group`, ...).
        what: &'static str,
        /// Why, and what a valid value looks like.
        reason: String,
    },

    /// The receipt handle no longer works.
    #[error(
        "the receipt handle of message {message_id} is no longer valid: the message was acked, \
         its invisible time ran out, or a newer handle replaced it; receive it again"
    )]
    InvalidReceiptHandle {
        /// The message.
        message_id: String,
    },

    /// The broker does not know the transaction, or it has already ended
    /// with the other answer (INVALID_TRANSACTION_ID, 40008); the first
    /// answer stands.
    #[error(
        "transaction {transaction_id} (message {message_id}) cannot end that way: the broker \
         does not know it, or it already ended with the other answer (a check-back may have \
         answered, or it was given up after too many checks): {message}"
    )]
    InvalidTransaction {
        /// The transaction id the send returned.
        transaction_id: String,
        /// The message sent in it.
        message_id: String,
        /// The server's explanation.
        message: String,
    },

    /// A call failed at the gRPC level for another reason than an
    /// unreachable server.
    #[error("{call} failed: {code:?}: {message}")]
    Rpc {
        /// The call.
        call: &'static str,
        /// The gRPC code.
        code: tonic::Code,
        /// The gRPC message.
        message: String,
    },

    /// The server's answer broke the protocol (missing status, wrong count
    /// of entries...).
    #[error("unexpected answer to {call}: {reason}; the server may run another version")]
    BadResponse {
        /// The call.
        call: &'static str,
        /// What was wrong.
        reason: String,
    },

    /// The client was shut down.
    #[error("the client is shut down; start a new one")]
    Shutdown,
}

fn code_name(code: i32) -> &'static str {
    v2::Code::try_from(code)
        .map(|c| c.as_str_name())
        .unwrap_or("UNKNOWN_CODE")
}

impl ClientError {
    /// Whether trying again (after a route refresh and a pause) can help.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Timeout { .. } => true,
            Self::Rpc { code, .. } => matches!(
                code,
                tonic::Code::Unavailable
                    | tonic::Code::Unknown
                    | tonic::Code::Cancelled
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Aborted
                    | tonic::Code::Internal
            ),
            Self::Broker { code, .. } => {
                let c = v2::Code::try_from(*code).ok();
                (*code >= 50000
                    && !matches!(
                        c,
                        Some(
                            v2::Code::NotImplemented
                                | v2::Code::Unsupported
                                | v2::Code::VersionUnsupported
                        )
                    ))
                    || matches!(c, Some(v2::Code::RequestTimeout))
            }
            _ => false,
        }
    }

    /// The protocol code of a business error.
    pub fn code(&self) -> Option<v2::Code> {
        match self {
            Self::Broker { code, .. } => v2::Code::try_from(*code).ok(),
            Self::TopicNotFound { .. } => Some(v2::Code::TopicNotFound),
            Self::ConsumerGroupNotFound { .. } => Some(v2::Code::ConsumerGroupNotFound),
            Self::InvalidReceiptHandle { .. } => Some(v2::Code::InvalidReceiptHandle),
            Self::InvalidTransaction { .. } => Some(v2::Code::InvalidTransactionId),
            _ => None,
        }
    }
}

/// What a call was about, to name it in errors.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Subject<'a> {
    pub topic: &'a str,
    pub group: &'a str,
    pub message_id: &'a str,
}

/// Maps a response's status to `Ok(())` or the error it means.
pub(crate) fn check(
    call: &'static str,
    status: Option<&v2::Status>,
    subject: Subject<'_>,
) -> Result<(), ClientError> {
    let Some(status) = status else {
        return Err(ClientError::BadResponse {
            call,
            reason: "no status".into(),
        });
    };
    if status.code == v2::Code::Ok as i32 {
        return Ok(());
    }
    Err(status_error(call, status, subject))
}

/// The error a non-OK status means.
pub(crate) fn status_error(
    call: &'static str,
    status: &v2::Status,
    subject: Subject<'_>,
) -> ClientError {
    match v2::Code::try_from(status.code) {
        Ok(v2::Code::TopicNotFound) if !subject.topic.is_empty() => ClientError::TopicNotFound {
            topic: subject.topic.to_owned(),
        },
        Ok(v2::Code::ConsumerGroupNotFound) if !subject.group.is_empty() => {
            ClientError::ConsumerGroupNotFound {
                group: subject.group.to_owned(),
            }
        }
        Ok(v2::Code::InvalidReceiptHandle) => ClientError::InvalidReceiptHandle {
            message_id: subject.message_id.to_owned(),
        },
        Ok(v2::Code::Unspecified) => ClientError::BadResponse {
            call,
            reason: format!("status without a code: {}", status.message),
        },
        _ => ClientError::Broker {
            call,
            code: status.code,
            message: status.message.clone(),
        },
    }
}

/// The error a failed gRPC call means.
pub(crate) fn rpc_error(call: &'static str, status: &tonic::Status) -> ClientError {
    ClientError::Rpc {
        call,
        code: status.code(),
        message: status.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(code: v2::Code) -> v2::Status {
        v2::Status {
            code: code as i32,
            message: "m".into(),
        }
    }

    #[test]
    fn ok_passes_and_a_missing_status_is_an_error() {
        check("X", Some(&st(v2::Code::Ok)), Subject::default()).unwrap();
        assert!(matches!(
            check("X", None, Subject::default()),
            Err(ClientError::BadResponse { .. })
        ));
        assert!(matches!(
            check("X", Some(&st(v2::Code::Unspecified)), Subject::default()),
            Err(ClientError::BadResponse { .. })
        ));
    }

    #[test]
    fn codes_map_to_errors_that_say_what_to_do() {
        let s = Subject {
            topic: "T",
            group: "G",
            message_id: "M",
        };
        let e = status_error("SendMessage", &st(v2::Code::TopicNotFound), s);
        assert!(matches!(&e, ClientError::TopicNotFound { topic } if topic == "T"));
        assert!(e.to_string().contains("mqadmin updateTopic -t T"));
        assert!(!e.is_retryable());
        let e = status_error("Receive", &st(v2::Code::ConsumerGroupNotFound), s);
        assert!(matches!(e, ClientError::ConsumerGroupNotFound { .. }));
        let e = status_error("Ack", &st(v2::Code::InvalidReceiptHandle), s);
        assert!(matches!(e, ClientError::InvalidReceiptHandle { .. }));
        let e = status_error("SendMessage", &st(v2::Code::InternalServerError), s);
        assert!(e.is_retryable());
        assert!(
            e.to_string().contains("INTERNAL_SERVER_ERROR (50001)"),
            "{e}"
        );
        let e = status_error("SendMessage", &st(v2::Code::Unsupported), s);
        assert!(!e.is_retryable());
        let e = status_error("SendMessage", &st(v2::Code::TooManyRequests), s);
        assert!(!e.is_retryable());
        let e = status_error(
            "SendMessage",
            &v2::Status {
                code: 12345,
                message: String::new(),
            },
            s,
        );
        assert!(e.to_string().contains("UNKNOWN_CODE"), "{e}");
    }

    #[test]
    fn unreachable_servers_are_worth_retrying() {
        let e = rpc_error("QueryRoute", &tonic::Status::unavailable("refused"));
        assert!(e.is_retryable());
        let e = rpc_error("QueryRoute", &tonic::Status::invalid_argument("bad"));
        assert!(!e.is_retryable());
    }
}
