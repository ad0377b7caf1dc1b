//! The producer: picks a queue per message, hands it to its broker group's
//! sender task (which coalesces), and retries with the same message id.
//!
//! A retry marks the routes stale and waits (100 ms, then 300 ms by
//! default); the next attempt reads the route again, so a new leader is
//! found without restarting the producer. Within one attempt a group's
//! members are tried in order, leader first.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use raftmq_proto::rocketmq::v2;
use tokio::sync::oneshot;

use super::coalesce::{QueueKey, ANY_QUEUE};
use super::convert::resource;
use super::core::ClientCore;
use super::route::{QueueSelector, TopicRoute};
use super::sender::{GroupSender, Outgoing, Stored};
use super::{ids, ClientConfig, ClientError, Message, MessageQueue, SendReceipt};

/// The future [`Producer::send_async`] returns; it owns what it needs, so
/// it can be spawned or kept while the producer is used for more sends.
pub type SendFuture = Pin<Box<dyn Future<Output = Result<SendReceipt, ClientError>> + Send>>;

/// Sends messages to topics.
///
/// ```no_run
/// # async fn demo() -> Result<(), raftmq_client::sdk::ClientError> {
/// use raftmq_client::sdk::{ClientConfig, Message, Producer};
/// let producer = Producer::start(ClientConfig::new("127.0.0.1:9876")?, &["TopicTest"]).await?;
/// let receipt = producer.send(Message::new("TopicTest", "hello").with_tag("TagA")).await?;
/// println!("stored at {}#{} offset {}", receipt.broker, receipt.queue_id, receipt.offset);
/// producer.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Producer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    core: Arc<ClientCore>,
    selector: QueueSelector,
    senders: Mutex<Option<HashMap<String, GroupSender>>>,
}

/// One attempt handed to a sender.
struct Attempt {
    queue: MessageQueue,
    rx: oneshot::Receiver<Result<Stored, ClientError>>,
}

impl Producer {
    /// Starts a producer for `topics` (more may be sent to later): reads
    /// their routes, so a missing topic fails here.
    pub async fn start(config: ClientConfig, topics: &[&str]) -> Result<Self, ClientError> {
        let core = Self::start_core(config, topics)?;
        Self::with_core(core, topics).await
    }

    /// The client under a producer of `topics`: a PRODUCER whose Telemetry
    /// settings publish them (a transactional producer is one too).
    pub(crate) fn start_core(
        config: ClientConfig,
        topics: &[&str],
    ) -> Result<Arc<ClientCore>, ClientError> {
        let publishing = v2::Publishing {
            topics: topics.iter().map(|t| resource(t)).collect(),
            ..Default::default()
        };
        ClientCore::start(
            config,
            v2::ClientType::Producer,
            None,
            v2::settings::PubSub::Publishing(publishing),
        )
    }

    /// A producer on `core`, once the routes of `topics` are read; shuts
    /// `core` down if one cannot be.
    pub(crate) async fn with_core(
        core: Arc<ClientCore>,
        topics: &[&str],
    ) -> Result<Self, ClientError> {
        let producer = Self {
            inner: Arc::new(Inner {
                core,
                selector: QueueSelector::default(),
                senders: Mutex::new(Some(HashMap::new())),
            }),
        };
        for t in topics {
            if let Err(e) = producer.inner.core.route(t).await {
                producer.inner.core.shutdown().await;
                return Err(e);
            }
        }
        Ok(producer)
    }

    /// This client's id (the `x-mq-client-id` header it sends).
    pub fn client_id(&self) -> &str {
        &self.inner.core.client_id
    }

    /// Sends one message and waits until it is stored.
    pub async fn send(&self, message: Message) -> Result<SendReceipt, ClientError> {
        self.send_async(message).await
    }

    /// Sends one message; the message is queued at once when the topic's
    /// route is known, and the future gives its receipt. Sends in flight
    /// together are coalesced into fewer requests.
    pub fn send_async(&self, message: Message) -> SendFuture {
        if let Err(e) = message.validate() {
            return Box::pin(std::future::ready(Err(e)));
        }
        let id = ids::message_id();
        let inner = self.inner.clone();
        let first = inner
            .core
            .routes
            .fresh(message.topic())
            .map(|route| inner.enqueue(&message, &id, &route, None));
        match first {
            Some(first) => Box::pin(inner.finish(message, id, first)),
            None => Box::pin(async move { inner.send_with_retries(message, id, 1, None).await }),
        }
    }

    /// Sends messages together: those of the first message's topic without
    /// a message group go to one queue, in order, in as few requests as the
    /// batch limits allow. Fails with the first error; the other messages
    /// may have been stored (a retry keeps each message's id).
    pub async fn send_batch(
        &self,
        messages: Vec<Message>,
    ) -> Result<Vec<SendReceipt>, ClientError> {
        let Some(topic) = messages.first().map(|m| m.topic().to_owned()) else {
            return Ok(Vec::new());
        };
        let inner = &self.inner;
        let route = inner.core.route(&topic).await?;
        let queue = inner.selector.select(&route, None)?.clone();
        let count = messages.len();
        let mut together = Vec::with_capacity(count);
        let mut attempts = Vec::with_capacity(count);
        let mut others: Vec<(usize, SendFuture)> = Vec::new();
        for (i, m) in messages.into_iter().enumerate() {
            if m.topic() != topic || m.message_group().is_some() {
                others.push((i, self.send_async(m)));
                continue;
            }
            m.validate()?;
            let id = ids::message_id();
            let (out, attempt) = inner.prepare(&m, &id, &route, queue.clone(), true, None)?;
            together.push(out);
            attempts.push((i, m, id, attempt));
        }
        if !together.is_empty() {
            inner.submit(&queue.broker, together)?;
        }
        // The batch's answers come in together: awaited in order, with no
        // future boxed and polled per message. Those that failed are retried
        // all at once (each as `finish` would), beside the messages that
        // went apart.
        let mut receipts: Vec<Option<SendReceipt>> = vec![None; count];
        for (i, m, id, Attempt { queue, rx }) in attempts {
            let failed = match rx.await {
                Ok(Ok(stored)) => {
                    receipts[i] = Some(receipt(m, id, queue, stored.offset));
                    continue;
                }
                Ok(Err(e)) => e,
                Err(_) => ClientError::Shutdown,
            };
            let inner = inner.clone();
            others.push((
                i,
                Box::pin(async move { inner.send_with_retries(m, id, 1, Some(failed)).await }),
            ));
        }
        let mut rest = futures_util::future::join_all(
            others
                .into_iter()
                .map(|(i, send)| async move { (i, send.await) }),
        )
        .await;
        // Fails with the first error in the order given.
        rest.sort_by_key(|(i, _)| *i);
        for (i, r) in rest {
            receipts[i] = Some(r?);
        }
        Ok(receipts.into_iter().flatten().collect())
    }

    /// Lets the sends in flight finish, then stops the sender tasks and
    /// tells the servers this producer is gone.
    pub async fn shutdown(self) {
        let senders = self
            .inner
            .senders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        for (_, s) in senders.into_iter().flatten() {
            s.close().await;
        }
        self.inner.core.shutdown().await;
    }
}

impl Inner {
    /// Picks the queue (unless given), encodes and queues one attempt.
    fn enqueue(
        &self,
        message: &Message,
        id: &str,
        route: &TopicRoute,
        fixed: Option<&MessageQueue>,
    ) -> Result<Attempt, ClientError> {
        let queue = match fixed {
            Some(q) => q.clone(),
            None => self
                .selector
                .select(route, message.message_group())?
                .clone(),
        };
        let ordered = message.message_group().is_some();
        let (out, attempt) = self.prepare(message, id, route, queue, ordered, None)?;
        self.submit(&attempt.queue.broker, vec![out])?;
        Ok(attempt)
    }

    /// Encodes one attempt for `queue`; `ordered` sends of a queue go one
    /// request at a time; `as_type` overrides the type the message's fields
    /// imply (TRANSACTION for a transaction's message).
    fn prepare(
        &self,
        message: &Message,
        id: &str,
        route: &TopicRoute,
        queue: MessageQueue,
        ordered: bool,
        as_type: Option<v2::MessageType>,
    ) -> Result<(Outgoing, Attempt), ClientError> {
        if let Some(limit) = self.core.telemetry.max_body_size() {
            if message.body().len() > limit {
                return Err(ClientError::MessageTooLarge {
                    size: message.body().len(),
                    limit: Some(limit),
                });
            }
        }
        let (reply, rx) = oneshot::channel();
        let out = Outgoing {
            key: QueueKey {
                topic: route.topic_key.clone(),
                // Each message names its queue, so messages for different
                // queues of a topic share a request; FIFO ones keep their
                // queue's own line, one request at a time.
                queue_id: if ordered { queue.queue_id } else { ANY_QUEUE },
            },
            id: id.to_owned(),
            encoded: match as_type {
                Some(t) => message.encode_as(
                    t,
                    id,
                    queue.queue_id,
                    &self.core.born_host,
                    SystemTime::now(),
                ),
                None => message.encode(id, queue.queue_id, &self.core.born_host, SystemTime::now()),
            },
            ordered,
            reply,
        };
        Ok((out, Attempt { queue, rx }))
    }

    /// Hands sends to `broker`'s sender task, all at once (they are seen
    /// together, so they coalesce and keep their order).
    fn submit(&self, broker: &str, outs: Vec<Outgoing>) -> Result<(), ClientError> {
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        let Some(senders) = senders.as_mut() else {
            return Err(ClientError::Shutdown);
        };
        let sender = match senders.get(broker) {
            Some(s) => s,
            None => {
                let link = self.core.group_link(broker)?;
                let s = GroupSender::spawn(self.core.clone(), link);
                senders.entry(broker.to_owned()).or_insert(s)
            }
        };
        sender.send(outs)
    }

    /// Waits for the outcome of a first attempt already queued; only a
    /// failure takes the retry path, which is boxed: this future is made
    /// for every message, so it stays small.
    ///
    /// There is no timer per message: the sender answers every send it
    /// takes (or drops it at shutdown), and each request it makes is
    /// bounded by `request_timeout` per member tried.
    async fn finish(
        self: Arc<Self>,
        message: Message,
        id: String,
        first: Result<Attempt, ClientError>,
    ) -> Result<SendReceipt, ClientError> {
        let failed = match first {
            Ok(Attempt { queue, rx }) => match rx.await {
                Ok(Ok(stored)) => return Ok(receipt(message, id, queue, stored.offset)),
                Ok(Err(e)) => e,
                Err(_) => ClientError::Shutdown,
            },
            Err(e) => e,
        };
        let retries: SendFuture =
            Box::pin(async move { self.send_with_retries(message, id, 1, Some(failed)).await });
        retries.await
    }

    /// Sends with a fresh route each attempt, from attempt number `attempt`
    /// on; `failed` is how the attempt before it ended, if it did.
    async fn send_with_retries(
        &self,
        message: Message,
        id: String,
        mut attempt: u32,
        mut failed: Option<ClientError>,
    ) -> Result<SendReceipt, ClientError> {
        let retry = self.core.config.send_retry;
        loop {
            if let Some(e) = failed.take() {
                if !e.is_retryable() || attempt >= retry.max_attempts {
                    return Err(e);
                }
                self.core.routes.mark_stale();
                tokio::time::sleep(retry.delay(attempt)).await;
                attempt += 1;
            }
            match self.attempt(&message, &id).await {
                Ok((queue, offset)) => return Ok(receipt(message, id, queue, offset)),
                Err(e) => failed = Some(e),
            }
        }
    }

    /// One attempt: the route, a queue, and the outcome.
    async fn attempt(
        &self,
        message: &Message,
        id: &str,
    ) -> Result<(MessageQueue, i64), ClientError> {
        self.core.check_open()?;
        let route = self.core.route(message.topic()).await?;
        let Attempt { queue, rx } = self.enqueue(message, id, &route, None)?;
        match rx.await {
            Ok(r) => r.map(|stored| (queue, stored.offset)),
            Err(_) => Err(ClientError::Shutdown),
        }
    }
}

impl Producer {
    /// Another handle of this producer (same senders, same client), for a
    /// transaction's send.
    pub(crate) fn handle(&self) -> Producer {
        Producer {
            inner: Arc::clone(&self.inner),
        }
    }

    /// One attempt to send a transaction's message: queued to its group's
    /// sender like any send, so concurrent transactions' messages share
    /// requests; the queue, the offset and the transaction id.
    pub(crate) async fn send_half(
        &self,
        message: &Message,
        id: &str,
    ) -> Result<(MessageQueue, Stored), ClientError> {
        let inner = &self.inner;
        inner.core.check_open()?;
        let route = inner.core.route(message.topic()).await?;
        let queue = inner.selector.select(&route, None)?.clone();
        let (out, Attempt { queue, rx }) = inner.prepare(
            message,
            id,
            &route,
            queue,
            false,
            Some(v2::MessageType::Transaction),
        )?;
        inner.submit(&queue.broker, vec![out])?;
        match rx.await {
            Ok(r) => r.map(|stored| (queue, stored)),
            Err(_) => Err(ClientError::Shutdown),
        }
    }
}

fn receipt(message: Message, id: String, queue: MessageQueue, offset: i64) -> SendReceipt {
    SendReceipt {
        message_id: id,
        topic: message.into_topic(),
        broker: queue.broker,
        queue_id: queue.queue_id,
        offset,
    }
}

impl Drop for Inner {
    /// The last handle is gone: every task of the client stops (the group
    /// senders hold the core, so its own `Drop` would not come first).
    fn drop(&mut self) {
        self.core.tasks.cancel();
    }
}
