//! Transaction check-back: when a transactional message stays unanswered
//! (the producer crashed between send and commit, or its answer was lost),
//! the broker asks the producers of its topic over their Telemetry streams
//! what became of it. The application's [`TransactionChecker`] says; the
//! producer then sends that answer with `SOURCE_SERVER_CHECK`.
//!
//! ```text
//! telemetry reader --RecoverOrphanedTransactionCommand--> channel (bounded)
//!   checks task: one owned task per check, at most MAX_CHECKS at once
//!     checker.check(message) -> Commit | Rollback  -> EndTransaction
//!                            -> Unknown            -> nothing (asked again)
//! ```
//!
//! Checks may come twice (from several members, or again after a lost
//! answer): each is answered; the broker takes a repeat of the same answer
//! as OK.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use raftmq_proto::rocketmq::v2;
use raftmq_tasks::Tasks;
use tokio::sync::mpsc;

use super::convert::from_timestamp;
use super::end_transaction::{Decision, EndTransactions, Ending};
use super::ClientError;

/// Checks answered at once; more wait in the channel.
pub(crate) const MAX_CHECKS: usize = 16;

/// Checks waiting to be answered; past this the reader drops them (the
/// broker asks again).
pub(crate) const CHECKS_WAITING: usize = 1024;

/// What became of a transaction, as the application knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransactionResolution {
    /// It succeeded: deliver the message.
    Commit,
    /// It failed: drop the message.
    Rollback,
    /// Not known yet: the broker asks again later (and gives the message
    /// up after `transactionCheckMax` checks).
    Unknown,
}

impl TransactionResolution {
    /// The EndTransaction to send, if any.
    pub(crate) fn decision(self) -> Option<Decision> {
        match self {
            Self::Commit => Some(Decision::Commit),
            Self::Rollback => Some(Decision::Rollback),
            Self::Unknown => None,
        }
    }
}

/// The future a [`TransactionChecker`] returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = TransactionResolution> + Send + 'a>>;

/// Answers the broker's questions about transactions left open: looks up
/// the outcome of the local work the message stands for (by its keys,
/// properties or transaction id) and says whether to commit it.
///
/// Each check runs on a task of its own, never on the Telemetry reader; a
/// check that panics answers nothing (the broker asks again). A closure
/// `Fn(TransactionalMessage) -> impl Future<Output = TransactionResolution>`
/// is a checker:
///
/// ```
/// use std::sync::Arc;
/// use raftmq_client::sdk::{TransactionChecker, TransactionResolution, TransactionalMessage};
/// let checker: Arc<dyn TransactionChecker> = Arc::new(|m: TransactionalMessage| async move {
///     match m.properties().get("order") {
///         Some(_) => TransactionResolution::Commit,
///         None => TransactionResolution::Rollback,
///     }
/// });
/// # let _ = checker;
/// ```
pub trait TransactionChecker: Send + Sync {
    /// What became of the transaction `message` was sent in.
    fn check(&self, message: TransactionalMessage) -> CheckFuture<'_>;
}

impl<F, Fut> TransactionChecker for F
where
    F: Fn(TransactionalMessage) -> Fut + Send + Sync,
    Fut: Future<Output = TransactionResolution> + Send + 'static,
{
    fn check(&self, message: TransactionalMessage) -> CheckFuture<'_> {
        Box::pin(self(message))
    }
}

/// A message sent in a transaction that has not ended, as the broker shows
/// it when it asks about it.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionalMessage {
    topic: String,
    message_id: String,
    transaction_id: String,
    tag: Option<String>,
    keys: Vec<String>,
    properties: HashMap<String, String>,
    body: Bytes,
    born_timestamp: Option<SystemTime>,
}

impl TransactionalMessage {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The message id (as the send's receipt gave it).
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The transaction id (as [`super::Transaction::transaction_id`] gave it).
    pub fn transaction_id(&self) -> &str {
        &self.transaction_id
    }

    /// The tag.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The keys.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The user properties.
    pub fn properties(&self) -> &HashMap<String, String> {
        &self.properties
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// When it was sent.
    pub fn born_timestamp(&self) -> Option<SystemTime> {
        self.born_timestamp
    }
}

impl TryFrom<v2::RecoverOrphanedTransactionCommand> for TransactionalMessage {
    type Error = ClientError;

    fn try_from(c: v2::RecoverOrphanedTransactionCommand) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::BadResponse {
            call: "Telemetry",
            reason: format!("a transaction check {reason}"),
        };
        let m = c.message.ok_or_else(|| bad("without a message"))?;
        let sp = m
            .system_properties
            .ok_or_else(|| bad("whose message has no system properties"))?;
        let topic = m.topic.map(|t| t.name).unwrap_or_default();
        if topic.is_empty() || sp.message_id.is_empty() || c.transaction_id.is_empty() {
            return Err(bad("without a topic, message id or transaction id"));
        }
        Ok(Self {
            topic,
            message_id: sp.message_id,
            transaction_id: c.transaction_id,
            tag: sp.tag,
            keys: sp.keys,
            properties: m.user_properties,
            body: m.body,
            born_timestamp: sp.born_timestamp.as_ref().map(from_timestamp),
        })
    }
}

/// A check a server sent, and the endpoint it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Orphan {
    pub endpoint: String,
    pub command: v2::RecoverOrphanedTransactionCommand,
}

/// Answers the checks `orphans` brings until it closes: each on a task of
/// `tasks`, at most [`MAX_CHECKS`] at once, its answer sent through `ends`.
pub(crate) async fn answer_checks(
    mut orphans: mpsc::Receiver<Orphan>,
    checker: Arc<dyn TransactionChecker>,
    ends: Arc<dyn EndTransactions>,
    tasks: Tasks,
) {
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            orphan = orphans.recv(), if running.len() < MAX_CHECKS => match orphan {
                Some(o) => running.push(tasks.spawn(
                    "transaction check",
                    answer_one(o, Arc::clone(&checker), Arc::clone(&ends)),
                )),
                None => break,
            },
            Some(_) = running.next(), if !running.is_empty() => {}
        }
    }
    while running.next().await.is_some() {}
}

/// Asks the checker about one transaction and sends its answer; a
/// malformed check, an `Unknown` or a failed EndTransaction leave the
/// broker to ask again.
async fn answer_one(
    orphan: Orphan,
    checker: Arc<dyn TransactionChecker>,
    ends: Arc<dyn EndTransactions>,
) {
    let Ok(message) = TransactionalMessage::try_from(orphan.command) else {
        return;
    };
    let ending = |decision| Ending {
        topic: message.topic.clone(),
        message_id: message.message_id.clone(),
        transaction_id: message.transaction_id.clone(),
        decision,
        source: v2::TransactionSource::SourceServerCheck,
    };
    let resolution = checker.check(message.clone()).await;
    if let Some(decision) = resolution.decision() {
        let _ = ends.end(orphan.endpoint, ending(decision)).await;
    }
}

#[cfg(test)]
#[path = "checker_tests.rs"]
mod tests;
