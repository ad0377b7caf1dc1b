//! The simple consumer: the application asks for messages, processes them
//! and acks each one; a message not acked within its invisible duration
//! is delivered again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftmq_proto::rocketmq::v2;

use super::consume::{self, ReceiveSpec};
use super::convert::resource;
use super::core::ClientCore;
use super::{ClientConfig, ClientError, FilterExpression, ReceivedMessage};

/// Receives messages on demand for a consumer group.
///
/// ```no_run
/// # async fn demo() -> Result<(), raftmq_client::sdk::ClientError> {
/// use std::time::Duration;
/// use raftmq_client::sdk::{ClientConfig, FilterExpression, SimpleConsumer};
/// let consumer = SimpleConsumer::start(ClientConfig::new("127.0.0.1:9876")?, "GroupA").await?;
/// consumer.subscribe("TopicTest", FilterExpression::tag("TagA || TagB")?).await?;
/// for m in consumer.receive(32, Duration::from_secs(15)).await? {
///     // ... process m.body() ...
///     consumer.ack(&m).await?;
/// }
/// consumer.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SimpleConsumer {
    core: Arc<ClientCore>,
    subscriptions: Mutex<BTreeMap<String, FilterExpression>>,
    next: AtomicUsize,
}

/// The Telemetry settings of a consumer of `group` with `subs`.
pub(crate) fn subscription(
    group: &str,
    subs: &BTreeMap<String, FilterExpression>,
) -> v2::settings::PubSub {
    v2::settings::PubSub::Subscription(v2::Subscription {
        group: Some(resource(group)),
        subscriptions: subs
            .iter()
            .map(|(t, f)| v2::SubscriptionEntry {
                topic: Some(resource(t)),
                expression: Some(f.into()),
            })
            .collect(),
        ..Default::default()
    })
}

impl SimpleConsumer {
    /// Starts a consumer of `group` with no subscription yet.
    pub async fn start(config: ClientConfig, group: &str) -> Result<Self, ClientError> {
        let core = ClientCore::start(
            config,
            v2::ClientType::SimpleConsumer,
            Some(group),
            subscription(group, &BTreeMap::new()),
        )?;
        Ok(Self {
            core,
            subscriptions: Mutex::default(),
            next: AtomicUsize::new(0),
        })
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        self.core.group()
    }

    /// This client's id (the `x-mq-client-id` header it sends).
    pub fn client_id(&self) -> &str {
        &self.core.client_id
    }

    /// Subscribes to `topic` with `filter` (replacing an earlier filter);
    /// reads the topic's route, so a missing topic fails here.
    pub async fn subscribe(
        &self,
        topic: &str,
        filter: FilterExpression,
    ) -> Result<(), ClientError> {
        self.core.route(topic).await?;
        let subs = {
            let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
            subs.insert(topic.to_owned(), filter);
            subs.clone()
        };
        self.core.update_pub_sub(subscription(self.group(), &subs));
        Ok(())
    }

    /// Stops receiving from `topic`.
    pub fn unsubscribe(&self, topic: &str) {
        let subs = {
            let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
            subs.remove(topic);
            subs.clone()
        };
        self.core.update_pub_sub(subscription(self.group(), &subs));
    }

    /// Receives up to `max` messages, invisible to other consumers for
    /// `invisible`. Asks one (topic, broker group) per call, in turn, and
    /// waits up to the long-polling time when nothing is ready; an empty
    /// result is normal.
    pub async fn receive(
        &self,
        max: usize,
        invisible: Duration,
    ) -> Result<Vec<ReceivedMessage>, ClientError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        if invisible.is_zero() {
            return Err(ClientError::Invalid {
                what: "invisible duration",
                reason: "must be longer than zero (e.g. 15 s)".into(),
            });
        }
        let subs: Vec<(String, FilterExpression)> = {
            let subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
            subs.iter().map(|(t, f)| (t.clone(), f.clone())).collect()
        };
        if subs.is_empty() {
            return Err(ClientError::Invalid {
                what: "receive",
                reason: "no subscription: call subscribe(topic, filter) first".into(),
            });
        }
        let mut targets = Vec::new();
        for (topic, filter) in &subs {
            let route = self.core.route(topic).await?;
            for g in route.readable_groups() {
                targets.push((topic, filter, g.to_owned()));
            }
        }
        if targets.is_empty() {
            return Err(ClientError::NoQueue {
                topic: subs
                    .iter()
                    .map(|(t, _)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                what: "readable",
            });
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % targets.len();
        let (topic, filter, group) = &targets[i];
        let link = self.core.group_link(group)?;
        let spec = ReceiveSpec {
            topic,
            filter,
            batch_size: max,
            invisible: Some(invisible),
            auto_renew: false,
            long_polling: self.core.config.long_polling_timeout,
        };
        consume::receive(&self.core, &link, &spec).await
    }

    /// Acknowledges a message: it will not be delivered again.
    pub async fn ack(&self, message: &ReceivedMessage) -> Result<(), ClientError> {
        consume::ack(&self.core, message).await
    }

    /// Acknowledges many messages at once: one AckMessage call per broker
    /// group and topic rather than one per message.
    pub async fn ack_batch(&self, messages: &[ReceivedMessage]) -> Result<(), ClientError> {
        consume::ack_batch(&self.core, messages).await
    }

    /// Keeps a message invisible for `invisible` from now (or makes it
    /// visible sooner); returns it with the new receipt handle, which the
    /// ack must use.
    pub async fn change_invisible_duration(
        &self,
        message: &ReceivedMessage,
        invisible: Duration,
    ) -> Result<ReceivedMessage, ClientError> {
        consume::change_invisible(&self.core, message, invisible).await
    }

    /// Tells the servers this consumer is gone and closes its streams.
    pub async fn shutdown(self) {
        self.core.shutdown().await;
    }
}
