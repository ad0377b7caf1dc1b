//! The push consumer: the SDK receives and calls the application's
//! listener on `concurrency` workers; success acks, failure makes the
//! message visible again after a growing delay, and past the group's max
//! attempts sends it to the dead-letter queue.
//!
//! For a FIFO group (the server's Settings say `fifo`), the messages of one
//! message group go through the listener one at a time, in order
//! (`lanes.rs`); the broker sends the next of a group only after the ack,
//! and a failed one comes back before anything after it.
//!
//! ```text
//! supervisor: QueryAssignment every 5 s -> one receive loop per (topic, broker group)
//! receive loop --(bounded channel)--> N workers: listener(m) -> Ack | ChangeInvisibleDuration | DLQ
//! ```
//!
//! Every task is owned, by a child of the client's tasks: `shutdown` drops
//! the supervisor and the receive loops at once, lets each worker finish
//! the message it holds (for at most the invisible duration: past it the
//! message is delivered again anyway), and waits for them all.
//! Dropping the consumer stops them without waiting.

use std::collections::{BTreeMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use raftmq_proto::client_protocol;
use raftmq_proto::rocketmq::v2;
use raftmq_tasks::Tasks;
use tokio::sync::{mpsc, Mutex as AsyncMutex};

use super::consume::{self, ReceiveSpec};
use super::convert::resource;
use super::core::ClientCore;
use super::error::{check, Subject};
use super::lanes::{LaneKey, Lanes};
use super::link::{stub, GroupLink};
use super::route::broker_group;
use super::simple_consumer::subscription;
use super::{ClientConfig, ClientError, FilterExpression, ReceivedMessage, Retry};

/// What the listener says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    /// Processed: ack it.
    Success,
    /// Not processed: deliver it again later.
    Failure,
}

type Listener = dyn Fn(&ReceivedMessage) -> ConsumeResult + Send + Sync;

/// The back-off until a broker states the group's: 1 s doubling up to 10
/// min.
const UNSTATED_BACKOFF: Retry = Retry {
    max_attempts: 1,
    initial: Duration::from_secs(1),
    multiplier: 2.0,
    max: Duration::from_secs(600),
};

/// How a [`PushConsumer`] is set up; from [`PushConsumer::builder`].
#[derive(Debug, Clone)]
pub struct PushConsumerBuilder {
    config: ClientConfig,
    group: String,
    subscriptions: BTreeMap<String, FilterExpression>,
    opts: Options,
}

#[derive(Debug, Clone)]
struct Options {
    concurrency: usize,
    batch_size: usize,
    invisible: Duration,
    /// The application's back-off; the group's (from the server) if None.
    retry: Option<Retry>,
    max_attempts: Option<i32>,
    assignment_refresh: Duration,
}

impl PushConsumerBuilder {
    /// Adds (or replaces) the subscription to `topic`.
    pub fn subscribe(mut self, topic: &str, filter: FilterExpression) -> Self {
        self.subscriptions.insert(topic.to_owned(), filter);
        self
    }

    /// How many messages the listener handles at once (default 8).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.opts.concurrency = n;
        self
    }

    /// Most messages per receive (default 32).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.opts.batch_size = n;
        self
    }

    /// How long a received message stays invisible while the listener
    /// works on it (default 60 s).
    pub fn invisible_duration(mut self, d: Duration) -> Self {
        self.opts.invisible = d;
        self
    }

    /// The delay before a failed message comes back, by attempt, instead of
    /// the consumer group's retry policy (default: the group's, as the
    /// broker's settings say, e.g. upstream's 1 s, 5 s, 10 s, ... levels;
    /// 1 s doubling up to 10 min until a broker said; `max_attempts` is not
    /// used here).
    pub fn retry_backoff(mut self, r: Retry) -> Self {
        self.opts.retry = Some(r);
        self
    }

    /// Deliveries before the dead-letter queue (default: the group's, as
    /// the broker's settings say: `retryMaxTimes + 1`, 17 unless
    /// configured).
    pub fn max_delivery_attempts(mut self, n: i32) -> Self {
        self.opts.max_attempts = Some(n);
        self
    }

    /// How often the assignment is asked for again (default 5 s).
    pub fn assignment_refresh(mut self, d: Duration) -> Self {
        self.opts.assignment_refresh = d;
        self
    }

    /// Starts consuming, calling `listener` for every message.
    pub async fn start<F>(self, listener: F) -> Result<PushConsumer, ClientError>
    where
        F: Fn(&ReceivedMessage) -> ConsumeResult + Send + Sync + 'static,
    {
        let o = &self.opts;
        if o.concurrency == 0 || o.batch_size == 0 {
            return Err(ClientError::BadConfig {
                field: "push consumer",
                reason: "concurrency and batch size must be at least 1".into(),
            });
        }
        if o.invisible.is_zero() || o.assignment_refresh.is_zero() {
            return Err(ClientError::BadConfig {
                field: "push consumer",
                reason: "invisible duration and assignment refresh must be longer than zero".into(),
            });
        }
        if self.subscriptions.is_empty() {
            return Err(ClientError::BadConfig {
                field: "subscriptions",
                reason: "subscribe to at least one topic".into(),
            });
        }
        let core = ClientCore::start(
            self.config,
            v2::ClientType::PushConsumer,
            Some(&self.group),
            subscription(&self.group, &self.subscriptions),
        )?;
        for topic in self.subscriptions.keys() {
            if let Err(e) = core.route(topic).await {
                core.shutdown().await;
                return Err(e);
            }
        }
        let shared = Arc::new(Shared {
            core: core.clone(),
            listener: Arc::new(listener),
            opts: self.opts,
            lanes: std::sync::Mutex::default(),
        });
        let tasks = core.tasks.child("push consumer");
        let (tx, rx) = mpsc::channel(shared.opts.concurrency);
        let rx = Arc::new(AsyncMutex::new(rx));
        for _ in 0..shared.opts.concurrency {
            tasks.spawn_graceful(
                "listener worker",
                worker(shared.clone(), rx.clone(), tasks.clone()),
            );
        }
        tasks.spawn(
            "assignment supervisor",
            supervise(shared.clone(), self.subscriptions, tx, tasks.clone()),
        );
        Ok(PushConsumer {
            core,
            drain: shared.opts.invisible,
            tasks,
        })
    }
}

struct Shared {
    core: Arc<ClientCore>,
    listener: Arc<Listener>,
    opts: Options,
    /// FIFO groups: the message groups in the listener, and what waits.
    lanes: std::sync::Mutex<Lanes>,
}

impl Shared {
    fn lanes(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Consumes in the background until [`PushConsumer::shutdown`].
///
/// ```no_run
/// # async fn demo() -> Result<(), raftmq_client::sdk::ClientError> {
/// use raftmq_client::sdk::{ClientConfig, ConsumeResult, FilterExpression, PushConsumer};
/// let consumer = PushConsumer::builder(ClientConfig::new("127.0.0.1:9876")?, "GroupA")
///     .subscribe("TopicTest", FilterExpression::all())
///     .concurrency(4)
///     .start(|m| {
///         println!("{}", String::from_utf8_lossy(m.body()));
///         ConsumeResult::Success
///     })
///     .await?;
/// // ...
/// consumer.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PushConsumer {
    core: Arc<ClientCore>,
    /// The supervisor, receive loops and workers.
    tasks: Tasks,
    /// How long `shutdown` lets the workers finish their messages.
    drain: Duration,
}

impl PushConsumer {
    /// A builder for a push consumer of `group`.
    pub fn builder(config: ClientConfig, group: &str) -> PushConsumerBuilder {
        PushConsumerBuilder {
            config,
            group: group.to_owned(),
            subscriptions: BTreeMap::new(),
            opts: Options {
                concurrency: 8,
                batch_size: 32,
                invisible: Duration::from_secs(60),
                retry: None,
                max_attempts: None,
                assignment_refresh: Duration::from_secs(5),
            },
        }
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        self.core.group()
    }

    /// This client's id (the `x-mq-client-id` header it sends).
    pub fn client_id(&self) -> &str {
        &self.core.client_id
    }

    /// Stops receiving, lets each worker finish its message (for at most
    /// the invisible duration; a listener still busy then is named in the
    /// log), waits for every task and tells the servers this consumer is
    /// gone. Messages received but not yet handled are delivered again
    /// after their invisible time.
    pub async fn shutdown(self) {
        let _ = self.tasks.stop(self.drain).await;
        self.core.shutdown().await;
    }
}

impl Drop for PushConsumer {
    /// Stops every task of the client without waiting (the workers hold
    /// the core, so its own `Drop` would not come first).
    fn drop(&mut self) {
        self.core.tasks.cancel();
    }
}

/// The broker groups assigned to this consumer for `topic`; the topic's
/// readable groups if the nameserver cannot say.
async fn assignment(core: &ClientCore, topic: &str) -> Result<Vec<Arc<GroupLink>>, ClientError> {
    let req = v2::QueryAssignmentRequest {
        topic: Some(resource(topic)),
        group: Some(resource(core.group())),
        endpoints: Some(client_protocol::endpoints(
            core.config.namesrv.iter().map(String::as_str),
        )),
    };
    let timeout = core.config.request_timeout;
    let asked = core
        .call_namesrv("QueryAssignment", |ch| {
            let r = core.request(req.clone(), timeout);
            async move {
                stub(ch)
                    .query_assignment(r)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })
        .await;
    let subject = Subject {
        topic,
        group: core.group(),
        ..Subject::default()
    };
    let resp = match asked {
        Ok(r) => r,
        Err(ClientError::Rpc {
            code: tonic::Code::Unimplemented,
            ..
        }) => {
            let route = core.route(topic).await?;
            return route
                .readable_groups()
                .into_iter()
                .map(|g| core.group_link(g))
                .collect();
        }
        Err(e) => return Err(e),
    };
    check("QueryAssignment", resp.status.as_ref(), subject)?;
    let mut seen = HashSet::new();
    Ok(resp
        .assignments
        .iter()
        .filter_map(|a| a.message_queue.as_ref().and_then(broker_group))
        .filter(|g| seen.insert(g.name.clone()))
        .map(|g| core.register_group(&g))
        .collect())
}

/// Keeps one receive loop per assigned (topic, broker group).
async fn supervise(
    shared: Arc<Shared>,
    subscriptions: BTreeMap<String, FilterExpression>,
    tx: mpsc::Sender<ReceivedMessage>,
    tasks: Tasks,
) {
    let mut running: HashSet<(String, String)> = HashSet::new();
    loop {
        for (topic, filter) in &subscriptions {
            let Ok(groups) = assignment(&shared.core, topic).await else {
                continue;
            };
            for link in groups {
                if running.insert((topic.clone(), link.name().to_owned())) {
                    tasks.spawn(
                        "receive loop",
                        receive_loop(
                            shared.clone(),
                            topic.clone(),
                            filter.clone(),
                            link,
                            tx.clone(),
                        ),
                    );
                }
            }
        }
        tokio::time::sleep(shared.opts.assignment_refresh).await;
    }
}

/// Receives from one group into the workers' channel until dropped (at
/// the stop of its owner) or the workers are gone.
async fn receive_loop(
    shared: Arc<Shared>,
    topic: String,
    filter: FilterExpression,
    link: Arc<GroupLink>,
    tx: mpsc::Sender<ReceivedMessage>,
) {
    let spec = ReceiveSpec {
        topic: &topic,
        filter: &filter,
        batch_size: shared.opts.batch_size,
        invisible: Some(shared.opts.invisible),
        auto_renew: false,
        long_polling: shared.core.config.long_polling_timeout,
    };
    let mut failures: u32 = 0;
    loop {
        match consume::receive(&shared.core, &link, &spec).await {
            Ok(messages) => {
                failures = 0;
                for m in messages {
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
            }
            Err(_) => {
                failures = failures.saturating_add(1);
                let pause = Duration::from_millis(100)
                    .saturating_mul(2u32.saturating_pow(failures.min(6)))
                    .min(Duration::from_secs(5));
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Runs the listener on messages from the channel until its owner stops;
/// the message in hand is finished first (listener, then ack or retry).
/// In a FIFO group a message whose lane is busy waits in it, and the worker
/// that finishes a lane's message takes the next one waiting there.
async fn worker(
    shared: Arc<Shared>,
    rx: Arc<AsyncMutex<mpsc::Receiver<ReceivedMessage>>>,
    owner: Tasks,
) {
    loop {
        let next = {
            let mut rx = rx.lock().await;
            tokio::select! {
                biased;
                () = owner.stopping() => None,
                m = rx.recv() => m,
            }
        };
        let Some(m) = next else {
            return;
        };
        let mut current = if shared.core.telemetry.fifo() {
            shared.lanes().enter(m).map(|m| (Some(LaneKey::of(&m)), m))
        } else {
            Some((None, m))
        };
        while let Some((lane, m)) = current.take() {
            consume_one(&shared, m).await;
            let Some(lane) = lane else {
                break;
            };
            let next = shared.lanes().done(&lane);
            // Stopping: what waits in the lane comes again after its
            // invisible time.
            if owner.is_stopping() {
                break;
            }
            current = next.map(|m| (Some(lane), m));
        }
    }
}

/// Runs the listener on `m`, then acks, postpones or dead-letters it.
async fn consume_one(shared: &Shared, m: ReceivedMessage) {
    let listener = shared.listener.clone();
    let ran = tokio::task::spawn_blocking(move || {
        let r = catch_unwind(AssertUnwindSafe(|| listener(&m)));
        (m, r.unwrap_or(ConsumeResult::Failure))
    })
    .await;
    if let Ok((m, result)) = ran {
        settle(shared, &m, result).await;
    }
}

/// Acks, postpones, or dead-letters one message; errors leave it to be
/// delivered again after its invisible time.
async fn settle(shared: &Shared, m: &ReceivedMessage, result: ConsumeResult) {
    let core = &shared.core;
    match result {
        ConsumeResult::Success => {
            for attempt in 1..=3u32 {
                match consume::ack(core, m).await {
                    Err(e) if e.is_retryable() && attempt < 3 => {
                        tokio::time::sleep(Duration::from_millis(100) * attempt).await;
                    }
                    _ => break,
                }
            }
        }
        ConsumeResult::Failure => {
            let max = shared
                .opts
                .max_attempts
                .unwrap_or_else(|| core.max_delivery_attempts());
            if m.delivery_attempt() >= max {
                let _ = consume::forward_to_dlq(core, m, max).await;
            } else {
                let attempt = u32::try_from(m.delivery_attempt()).unwrap_or(1);
                let delay = match &shared.opts.retry {
                    Some(r) => r.delay(attempt),
                    None => core
                        .consume_backoff(attempt)
                        .unwrap_or_else(|| UNSTATED_BACKOFF.delay(attempt)),
                };
                let _ = consume::change_invisible(core, m, delay).await;
            }
        }
    }
}
