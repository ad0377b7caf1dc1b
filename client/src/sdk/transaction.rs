//! Transactional messages: a message stored but held from consumers until
//! the producer commits it (delivered) or rolls it back (dropped), with a
//! [`TransactionChecker`] to answer the broker when the producer did
//! neither.
//!
//! ```text
//! begin() -> Transaction
//!   send(m)    SendMessage{message_type: TRANSACTION} -> message id, transaction id
//!   ...local work (a database commit)...
//!   commit()   EndTransaction{COMMIT, SOURCE_CLIENT}    -> consumers see m
//!   rollback() EndTransaction{ROLLBACK, SOURCE_CLIENT}  -> m is dropped
//! neither (crash, lost answer): the broker asks over Telemetry, the checker
//!   answers, EndTransaction{.., SOURCE_SERVER_CHECK}
//! ```
//!
//! One message per transaction, as the official v5 clients allow. The send
//! goes through the producer's group sender, so the messages of concurrent
//! transactions share requests (the broker answers each with its own
//! transaction id), and is retried with the same message id, as ordinary
//! sends are; the broker finds a retried half message by its id. The end
//! goes through the group's ender ([`super::ender`]): concurrent
//! transactions' ends share raftmq's EndTransactions calls (v2
//! EndTransaction, one each, where a server lacks it).

use std::sync::Arc;

use raftmq_proto::rocketmq::v2;
use tokio::sync::mpsc;

use super::checker::{answer_checks, TransactionChecker, CHECKS_WAITING};
use super::core::ClientCore;
use super::end_transaction::{with_retries, Decision, EndTransactions, Ending, ThroughCore};
use super::ender::Enders;
use super::{ids, ClientConfig, ClientError, Message, MessageQueue, Producer, SendReceipt};

/// A producer of transactional messages, which also answers the broker's
/// checks of transactions left open.
///
/// ```no_run
/// # async fn demo() -> Result<(), raftmq_client::sdk::ClientError> {
/// use std::sync::Arc;
/// use raftmq_client::sdk::{
///     ClientConfig, Message, TransactionProducer, TransactionResolution, TransactionalMessage,
/// };
/// // Asked about a transaction left open: look the order up.
/// let checker = Arc::new(|m: TransactionalMessage| async move {
///     let _order = m.keys().first().cloned();
///     TransactionResolution::Commit
/// });
/// let config = ClientConfig::new("127.0.0.1:9876")?;
/// let producer = TransactionProducer::start(config, &["Orders"], checker).await?;
/// let mut transaction = producer.begin();
/// let receipt = transaction
///     .send(Message::new("Orders", "order 42 paid").with_keys(["42"]))
///     .await?;
/// // ... the local work the message stands for, then:
/// transaction.commit().await?;
/// println!("message {} delivered", receipt.message_id);
/// producer.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TransactionProducer {
    producer: Producer,
    core: Arc<ClientCore>,
    enders: Arc<Enders>,
}

impl TransactionProducer {
    /// Starts a producer for `topics` whose open transactions `checker`
    /// answers for: reads the topics' routes, so a missing topic fails
    /// here. It declares itself a PRODUCER publishing `topics`, as the
    /// official clients do; the broker asks the producers of a topic about
    /// its open transactions.
    pub async fn start(
        config: ClientConfig,
        topics: &[&str],
        checker: Arc<dyn TransactionChecker>,
    ) -> Result<Self, ClientError> {
        let core = Producer::start_core(config, topics)?;
        let (tx, rx) = mpsc::channel(CHECKS_WAITING);
        // No stream is open yet: every check of every stream comes here.
        if core.telemetry.hand_orphans_to(tx).is_err() {
            core.shutdown().await;
            return Err(ClientError::BadConfig {
                field: "transaction checker",
                reason: "this client already has one".into(),
            });
        }
        let ends: Arc<dyn EndTransactions> = Arc::new(ThroughCore(Arc::clone(&core)));
        let checks = core.tasks.child("transaction checks");
        core.tasks.spawn(
            "transaction checks",
            answer_checks(rx, checker, ends, checks),
        );
        let producer = Producer::with_core(Arc::clone(&core), topics).await?;
        Ok(Self {
            producer,
            core,
            enders: Arc::new(Enders::new()),
        })
    }

    /// Begins a transaction, for one message.
    pub fn begin(&self) -> Transaction {
        Transaction {
            core: Arc::clone(&self.core),
            producer: self.producer.handle(),
            enders: Arc::clone(&self.enders),
            sent: None,
        }
    }

    /// The same client as an ordinary producer, for messages sent outside
    /// transactions.
    pub fn producer(&self) -> &Producer {
        &self.producer
    }

    /// This client's id (the `x-mq-client-id` header it sends).
    pub fn client_id(&self) -> &str {
        self.producer.client_id()
    }

    /// Stops answering checks, lets ordinary sends in flight finish, and
    /// tells the servers this producer is gone. Transactions not ended are
    /// then checked with the other producers of their topics.
    pub async fn shutdown(self) {
        self.enders.close().await;
        self.producer.shutdown().await;
    }
}

/// One transaction: [`Transaction::send`] its message, do the work it
/// stands for, then [`Transaction::commit`] or [`Transaction::rollback`].
///
/// Dropped after a send without either, the message stays held until the
/// broker's check asks the [`TransactionChecker`] (of this or another
/// producer of the topic).
#[derive(Debug)]
pub struct Transaction {
    core: Arc<ClientCore>,
    producer: Producer,
    enders: Arc<Enders>,
    sent: Option<Sent>,
}

/// What the send of a transaction returned.
#[derive(Debug, Clone)]
struct Sent {
    topic: String,
    message_id: String,
    transaction_id: String,
    broker: String,
}

impl Transaction {
    /// Sends the transaction's message, held from consumers until the
    /// transaction ends. Refused (nothing sent) when the transaction
    /// already carries a message, or when `message` has a message group or
    /// a delivery time.
    pub async fn send(&mut self, message: Message) -> Result<SendReceipt, ClientError> {
        if let Some(sent) = &self.sent {
            return Err(ClientError::Invalid {
                what: "transaction",
                reason: format!(
                    "it already carries message {}: one message per transaction; begin \
                     another for the next",
                    sent.message_id
                ),
            });
        }
        message.validate_transactional()?;
        let id = ids::message_id();
        let retry = self.core.config.send_retry;
        let mut attempt = 1;
        let (queue, offset, transaction_id) = loop {
            match self.attempt(&message, &id).await {
                Ok(stored) => break stored,
                Err(e) if e.is_retryable() && attempt < retry.max_attempts => {
                    self.core.routes.mark_stale();
                    tokio::time::sleep(retry.delay(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        self.sent = Some(Sent {
            topic: message.topic().to_owned(),
            message_id: id.clone(),
            transaction_id,
            broker: queue.broker.clone(),
        });
        Ok(SendReceipt {
            message_id: id,
            topic: message.into_topic(),
            broker: queue.broker,
            queue_id: queue.queue_id,
            offset,
        })
    }

    /// One attempt, queued to the group's sender as any send (concurrent
    /// transactions' messages share requests; each gets its own result):
    /// the queue, the offset and the transaction id.
    async fn attempt(
        &self,
        message: &Message,
        id: &str,
    ) -> Result<(MessageQueue, i64, String), ClientError> {
        let (queue, stored) = self.producer.send_half(message, id).await?;
        if stored.transaction_id.is_empty() {
            return Err(ClientError::BadResponse {
                call: "SendMessage",
                reason: format!(
                    "transactional message {id} was stored without a transaction id: the \
                     broker does not support transactions"
                ),
            });
        }
        Ok((queue, stored.offset, stored.transaction_id))
    }

    /// The transaction id the broker gave the send, once sent.
    pub fn transaction_id(&self) -> Option<&str> {
        self.sent.as_ref().map(|s| s.transaction_id.as_str())
    }

    /// The id of the message sent, once sent.
    pub fn message_id(&self) -> Option<&str> {
        self.sent.as_ref().map(|s| s.message_id.as_str())
    }

    /// Commits: the message is delivered. A failure time may cure
    /// (HA_NOT_AVAILABLE, INTERNAL_SERVER_ERROR, no answer) is retried a
    /// bounded number of times (`ClientConfig::send_retry`); if it still
    /// fails, the broker's check asks the checker later.
    /// [`ClientError::InvalidTransaction`]: the broker does not know the
    /// transaction, or it ended the other way (a check answered first).
    pub async fn commit(self) -> Result<(), ClientError> {
        self.end(Decision::Commit).await
    }

    /// Rolls back: the message is dropped, never delivered. Retried and
    /// failing as [`Transaction::commit`].
    pub async fn rollback(self) -> Result<(), ClientError> {
        self.end(Decision::Rollback).await
    }

    async fn end(self, decision: Decision) -> Result<(), ClientError> {
        let Some(sent) = self.sent else {
            return Err(ClientError::Invalid {
                what: "transaction",
                reason: "nothing was sent in it: send its message before ending it".into(),
            });
        };
        self.core.check_open()?;
        let ending = Ending {
            topic: sent.topic,
            message_id: sent.message_id,
            transaction_id: sent.transaction_id,
            decision,
            source: v2::TransactionSource::SourceClient,
        };
        // Through the group's ender: concurrent transactions' ends share
        // calls.
        with_retries(&self.core, || {
            self.enders.end(&self.core, &sent.broker, ending.clone())
        })
        .await
    }
}
