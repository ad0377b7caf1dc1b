//! EndTransaction: the answer that makes a transactional message visible
//! (COMMIT) or drops it (ROLLBACK), sent by the producer after `commit` or
//! `rollback` (`SOURCE_CLIENT`) or after a check-back
//! (`SOURCE_SERVER_CHECK`).
//!
//! ```text
//! EndTransaction{topic, message_id, transaction_id, COMMIT, SOURCE_CLIENT}
//!   -> any member of the group that stored the send (followers forward)
//!   <- OK | INVALID_TRANSACTION_ID (unknown, or ended the other way)
//!   HA_NOT_AVAILABLE, INTERNAL_SERVER_ERROR, no answer: again, bounded;
//!   the broker answers a repeat of the same answer OK
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use raftmq_proto::rocketmq::v2;

use super::convert::resource;
use super::core::ClientCore;
use super::error::{check, Subject};
use super::link::{stub, GroupLink};
use super::ClientError;

/// The two answers that end a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Commit,
    Rollback,
}

impl From<Decision> for v2::TransactionResolution {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Commit => Self::Commit,
            Decision::Rollback => Self::Rollback,
        }
    }
}

/// One transaction's end, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    pub topic: String,
    pub message_id: String,
    pub transaction_id: String,
    pub decision: Decision,
    pub source: v2::TransactionSource,
}

impl From<&Ending> for v2::EndTransactionRequest {
    fn from(e: &Ending) -> Self {
        Self {
            topic: Some(resource(&e.topic)),
            message_id: e.message_id.clone(),
            transaction_id: e.transaction_id.clone(),
            resolution: v2::TransactionResolution::from(e.decision).into(),
            source: e.source.into(),
            trace_context: String::new(),
        }
    }
}

/// What the broker's answer means: OK, or the error naming the
/// transaction.
pub(crate) fn answer(
    ending: &Ending,
    resp: &v2::EndTransactionResponse,
) -> Result<(), ClientError> {
    let subject = Subject {
        topic: &ending.topic,
        message_id: &ending.message_id,
        ..Subject::default()
    };
    check("EndTransaction", resp.status.as_ref(), subject).map_err(|e| match e {
        ClientError::Broker { code, message, .. }
            if code == v2::Code::InvalidTransactionId as i32 =>
        {
            ClientError::InvalidTransaction {
                transaction_id: ending.transaction_id.clone(),
                message_id: ending.message_id.clone(),
                message,
            }
        }
        e => e,
    })
}

/// Sends `ending` to `link`'s group (leader first, then the others), again
/// after a failure time may cure (HA_NOT_AVAILABLE, INTERNAL_SERVER_ERROR,
/// no answer), up to `send_retry.max_attempts` attempts in all.
pub(crate) async fn end_transaction(
    core: &ClientCore,
    link: &GroupLink,
    ending: &Ending,
) -> Result<(), ClientError> {
    with_retries(core, || end_once(core, link, ending)).await
}

/// Makes `attempt` again after a failure time may cure, up to
/// `send_retry.max_attempts` attempts in all, pausing between them.
pub(crate) async fn with_retries<F, Fut>(
    core: &ClientCore,
    mut attempt: F,
) -> Result<(), ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    let retry = core.config.send_retry;
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e) if e.is_retryable() && n < retry.max_attempts => {
                tokio::time::sleep(retry.delay(n)).await;
                n += 1;
            }
            done => return done,
        }
    }
}

/// One EndTransaction call for `ending` to `link`'s group.
pub(crate) async fn end_once(
    core: &ClientCore,
    link: &GroupLink,
    ending: &Ending,
) -> Result<(), ClientError> {
    let timeout = core.config.request_timeout;
    let request = v2::EndTransactionRequest::from(ending);
    core.call_group(link, "EndTransaction", timeout, |channel| {
        let r = core.request(request.clone(), timeout);
        async move {
            stub(channel)
                .end_transaction(r)
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await
    .and_then(|resp| answer(ending, &resp))
}

/// The future of one EndTransaction.
pub(crate) type Ended = Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send>>;

/// Where the answers to check-backs go: the broker, or a test's record.
pub(crate) trait EndTransactions: Send + Sync + 'static {
    /// Ends a transaction a check from `endpoint` asked about.
    fn end(&self, endpoint: String, ending: Ending) -> Ended;
}

/// Answers check-backs through a client's connections: to the group the
/// asking member belongs to (any member will do), else to that member
/// alone.
#[derive(Debug)]
pub(crate) struct ThroughCore(pub Arc<ClientCore>);

impl EndTransactions for ThroughCore {
    fn end(&self, endpoint: String, ending: Ending) -> Ended {
        let core = Arc::clone(&self.0);
        Box::pin(async move {
            let link = core
                .routes
                .group_of(&endpoint)
                .unwrap_or_else(|| Arc::new(GroupLink::new(&endpoint, vec![endpoint.clone()])));
            end_transaction(&core, &link, &ending).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use std::time::Duration;

    fn ending(decision: Decision, source: v2::TransactionSource) -> Ending {
        Ending {
            topic: "T".into(),
            message_id: "M1".into(),
            transaction_id: "tx-7".into(),
            decision,
            source,
        }
    }

    fn status(code: v2::Code) -> v2::EndTransactionResponse {
        v2::EndTransactionResponse {
            status: Some(v2::Status {
                code: code as i32,
                message: code.as_str_name().into(),
            }),
        }
    }

    #[test]
    fn the_request_names_the_transaction_its_answer_and_who_answers() {
        let r = v2::EndTransactionRequest::from(&ending(
            Decision::Commit,
            v2::TransactionSource::SourceClient,
        ));
        let r = v2::EndTransactionRequest::decode(&r.encode_to_vec()[..]).unwrap();
        assert_eq!(r.topic.as_ref().map(|t| t.name.as_str()), Some("T"));
        assert_eq!(r.message_id, "M1");
        assert_eq!(r.transaction_id, "tx-7");
        assert_eq!(r.resolution(), v2::TransactionResolution::Commit);
        assert_eq!(r.source(), v2::TransactionSource::SourceClient);

        let r = v2::EndTransactionRequest::from(&ending(
            Decision::Rollback,
            v2::TransactionSource::SourceServerCheck,
        ));
        assert_eq!(r.resolution(), v2::TransactionResolution::Rollback);
        assert_eq!(r.source(), v2::TransactionSource::SourceServerCheck);
    }

    #[test]
    fn ok_ends_it_and_an_unknown_transaction_is_named() {
        let e = ending(Decision::Commit, v2::TransactionSource::SourceClient);
        answer(&e, &status(v2::Code::Ok)).expect("OK");
        let err = answer(&e, &status(v2::Code::InvalidTransactionId)).expect_err("40008");
        assert!(
            matches!(&err, ClientError::InvalidTransaction { transaction_id, message_id, .. }
                if transaction_id == "tx-7" && message_id == "M1"),
            "{err:?}"
        );
        assert_eq!(err.code(), Some(v2::Code::InvalidTransactionId));
        assert!(!err.is_retryable(), "the first answer stands");
        assert!(err.to_string().contains("tx-7"), "{err}");
        let missing = answer(&e, &v2::EndTransactionResponse { status: None });
        assert!(matches!(missing, Err(ClientError::BadResponse { .. })));
    }

    #[test]
    fn only_failures_time_may_cure_are_tried_again() {
        let e = ending(Decision::Rollback, v2::TransactionSource::SourceClient);
        for code in [v2::Code::HaNotAvailable, v2::Code::InternalServerError] {
            let err = answer(&e, &status(code)).expect_err("refused");
            assert!(err.is_retryable(), "{code:?}");
        }
        let timeout = ClientError::Timeout {
            call: "EndTransaction",
            after: Duration::from_secs(3),
        };
        assert!(timeout.is_retryable());
        for code in [v2::Code::BadRequest, v2::Code::TopicNotFound] {
            let err = answer(&e, &status(code)).expect_err("refused");
            assert!(!err.is_retryable(), "{code:?}");
        }
    }
}
