//! The pull consumer: the application picks queues and positions, pulls by
//! offset and commits how far it got. Nothing is popped or acked; a
//! consumer that restarts resumes from the group's committed offsets.
//!
//! ```text
//! assign([q0, q1]) -> positions: q0 ?  q1 ?         (? = committed offset, else the start policy)
//! pull(32)         -> PullMessage(q0 @ 0) -> messages 0..31, next 32 -> q0 @ 32
//! commit()         -> UpdateOffset(q0, 32)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use raftmq_proto::rocketmq::v2;

use super::convert::{duration, resource, timestamp_ms};
use super::core::ClientCore;
use super::error::{check, Subject};
use super::frames::PullFold;
use super::link::{stub, GroupLink};
use super::{ClientConfig, ClientError, FilterExpression, MessageQueue, ReceivedMessage};

/// Where a queue without a committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartPosition {
    /// The queue's first message (default).
    #[default]
    Beginning,
    /// The queue's end: only messages stored from now on.
    End,
}

#[derive(Debug, Clone, Copy, Default)]
struct Position {
    /// The next offset to pull; `None` until resolved.
    next: Option<i64>,
    /// The offset last committed (or read from the group).
    committed: Option<i64>,
}

/// Reads queues by offset for a consumer group.
///
/// ```no_run
/// # async fn demo() -> Result<(), raftmq_client::sdk::ClientError> {
/// use raftmq_client::sdk::{ClientConfig, PullConsumer};
/// let mut consumer = PullConsumer::start(ClientConfig::new("127.0.0.1:9876")?, "GroupP").await?;
/// let queues = consumer.queues("TopicTest").await?;
/// consumer.assign(queues);
/// let batch = consumer.pull(32).await?;
/// // ... process ...
/// consumer.commit().await?;
/// consumer.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PullConsumer {
    core: Arc<ClientCore>,
    positions: BTreeMap<MessageQueue, Position>,
    filters: BTreeMap<String, FilterExpression>,
    start: StartPosition,
    long_polling: Duration,
    next: usize,
}

impl PullConsumer {
    /// Starts a pull consumer of `group` with no queue assigned.
    pub async fn start(config: ClientConfig, group: &str) -> Result<Self, ClientError> {
        let core = ClientCore::start(
            config,
            v2::ClientType::PullConsumer,
            Some(group),
            super::simple_consumer::subscription(group, &BTreeMap::new()),
        )?;
        Ok(Self {
            core,
            positions: BTreeMap::new(),
            filters: BTreeMap::new(),
            start: StartPosition::default(),
            long_polling: Duration::from_secs(1),
            next: 0,
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

    /// Where queues without a committed offset start.
    pub fn set_start_position(&mut self, start: StartPosition) {
        self.start = start;
    }

    /// How long a pull waits on one queue when every assigned queue was
    /// empty (default 1 s; zero never waits).
    pub fn set_long_polling(&mut self, wait: Duration) {
        self.long_polling = wait;
    }

    /// Pulls only messages of `topic` that pass `filter`.
    pub fn set_filter(&mut self, topic: &str, filter: FilterExpression) {
        self.filters.insert(topic.to_owned(), filter);
    }

    /// The readable queues of `topic`, from its route.
    pub async fn queues(&self, topic: &str) -> Result<Vec<MessageQueue>, ClientError> {
        let route = self.core.route(topic).await?;
        Ok(route.readable().map(|q| q.queue.clone()).collect())
    }

    /// Reads from exactly these queues from now on; queues kept keep their
    /// positions, new ones resume from the group's committed offset.
    pub fn assign(&mut self, queues: Vec<MessageQueue>) {
        let mut positions = BTreeMap::new();
        for q in queues {
            let p = self.positions.get(&q).copied().unwrap_or_default();
            positions.insert(q, p);
        }
        self.positions = positions;
    }

    /// The queues assigned.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        self.positions.keys().cloned().collect()
    }

    /// The next offset to pull from `queue`, once known.
    pub fn position(&self, queue: &MessageQueue) -> Option<i64> {
        self.positions.get(queue).and_then(|p| p.next)
    }

    fn position_mut(&mut self, queue: &MessageQueue) -> Result<&mut Position, ClientError> {
        self.positions
            .get_mut(queue)
            .ok_or_else(|| ClientError::Invalid {
                what: "queue",
                reason: format!("{queue} is not assigned: call assign first"),
            })
    }

    /// Pulls `queue` from `offset` next.
    pub fn seek(&mut self, queue: &MessageQueue, offset: i64) -> Result<(), ClientError> {
        if offset < 0 {
            return Err(ClientError::Invalid {
                what: "offset",
                reason: format!("{offset}: offsets start at 0"),
            });
        }
        self.position_mut(queue)?.next = Some(offset);
        Ok(())
    }

    /// Pulls `queue` from its first message stored at or after `ms`
    /// (milliseconds since the Unix epoch).
    pub async fn seek_to_timestamp(
        &mut self,
        queue: &MessageQueue,
        ms: i64,
    ) -> Result<(), ClientError> {
        self.position_mut(queue)?;
        let o = self
            .query_offset(queue, v2::QueryOffsetPolicy::Timestamp, Some(ms))
            .await?;
        self.seek(queue, o)
    }

    /// Pulls `queue` from its first message.
    pub async fn seek_to_begin(&mut self, queue: &MessageQueue) -> Result<(), ClientError> {
        self.position_mut(queue)?;
        let o = self
            .query_offset(queue, v2::QueryOffsetPolicy::Beginning, None)
            .await?;
        self.seek(queue, o)
    }

    /// Pulls `queue` from its end (only messages stored from now on).
    pub async fn seek_to_end(&mut self, queue: &MessageQueue) -> Result<(), ClientError> {
        self.position_mut(queue)?;
        let o = self
            .query_offset(queue, v2::QueryOffsetPolicy::End, None)
            .await?;
        self.seek(queue, o)
    }

    /// Pulls up to `max` messages from the assigned queues, one queue per
    /// call, taking them in turn and skipping empty ones; waits up to the
    /// long-polling time on one queue when all were empty.
    pub async fn pull(&mut self, max: usize) -> Result<Vec<ReceivedMessage>, ClientError> {
        let queues = self.assignment();
        if queues.is_empty() {
            return Err(ClientError::Invalid {
                what: "pull",
                reason: "no queue assigned: call assign(consumer.queues(topic).await?) first"
                    .into(),
            });
        }
        if max == 0 {
            return Ok(Vec::new());
        }
        let n = queues.len();
        let start = self.next % n;
        self.next = self.next.wrapping_add(1);
        for k in 0..n {
            let q = &queues[(start + k) % n];
            let last = k + 1 == n;
            let wait = if last {
                self.long_polling
            } else {
                Duration::ZERO
            };
            let got = self.pull_queue(q, max, wait).await?;
            if !got.is_empty() {
                self.next = (start + k + 1) % n;
                return Ok(got);
            }
        }
        Ok(Vec::new())
    }

    /// Commits the position of every assigned queue that moved.
    pub async fn commit(&mut self) -> Result<(), ClientError> {
        let moved: Vec<(MessageQueue, i64)> = self
            .positions
            .iter()
            .filter_map(|(q, p)| match p.next {
                Some(n) if p.committed != Some(n) => Some((q.clone(), n)),
                _ => None,
            })
            .collect();
        for (q, offset) in moved {
            self.update_offset(&q, offset).await?;
            if let Some(p) = self.positions.get_mut(&q) {
                p.committed = Some(offset);
            }
        }
        Ok(())
    }

    /// The group's committed offset in `queue`, if it has one.
    pub async fn committed(&self, queue: &MessageQueue) -> Result<Option<i64>, ClientError> {
        let link = self.link(queue).await?;
        let req = v2::GetOffsetRequest {
            group: Some(resource(self.group())),
            message_queue: Some(proto_queue(queue, &link)),
        };
        let core = &self.core;
        let timeout = core.config.request_timeout;
        let resp = core
            .call_group(&link, "GetOffset", timeout, |ch| {
                let r = core.request(req.clone(), timeout);
                async move {
                    stub(ch)
                        .get_offset(r)
                        .await
                        .map(tonic::Response::into_inner)
                }
            })
            .await?;
        let not_found = [
            v2::Code::NotFound,
            v2::Code::OffsetNotFound,
            v2::Code::MessageNotFound,
        ];
        match resp.status.as_ref() {
            Some(s) if not_found.iter().any(|c| *c as i32 == s.code) => return Ok(None),
            s => check("GetOffset", s, self.subject(queue))?,
        }
        Ok((resp.offset >= 0).then_some(resp.offset))
    }

    /// Tells the servers this consumer is gone (commit first to keep the
    /// positions).
    pub async fn shutdown(self) {
        self.core.shutdown().await;
    }

    fn subject<'a>(&'a self, queue: &'a MessageQueue) -> Subject<'a> {
        Subject {
            topic: &queue.topic,
            group: self.core.group(),
            ..Subject::default()
        }
    }

    /// The link of `queue`'s group, with the topic's route refreshed when
    /// stale (so a moved leader is found).
    async fn link(&self, queue: &MessageQueue) -> Result<Arc<GroupLink>, ClientError> {
        self.core.route(&queue.topic).await?;
        self.core.group_link(&queue.broker)
    }

    /// Where `queue` reads next: its position, else the committed offset,
    /// else the start policy.
    async fn resolve(&mut self, queue: &MessageQueue) -> Result<i64, ClientError> {
        if let Some(n) = self.position(queue) {
            return Ok(n);
        }
        let committed = self.committed(queue).await?;
        let next = match (committed, self.start) {
            (Some(o), _) => o,
            (None, StartPosition::Beginning) => {
                self.query_offset(queue, v2::QueryOffsetPolicy::Beginning, None)
                    .await?
            }
            (None, StartPosition::End) => {
                self.query_offset(queue, v2::QueryOffsetPolicy::End, None)
                    .await?
            }
        };
        let p = self.position_mut(queue)?;
        p.next = Some(next);
        p.committed = committed;
        Ok(next)
    }

    async fn pull_queue(
        &mut self,
        queue: &MessageQueue,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<ReceivedMessage>, ClientError> {
        let offset = self.resolve(queue).await?;
        let link = self.link(queue).await?;
        let filter = self.filters.get(&queue.topic).cloned().unwrap_or_default();
        let req = v2::PullMessageRequest {
            group: Some(resource(self.group())),
            message_queue: Some(proto_queue(queue, &link)),
            offset,
            batch_size: i32::try_from(max).unwrap_or(i32::MAX),
            filter_expression: Some((&filter).into()),
            long_polling_timeout: Some(duration(wait)),
        };
        let core = &self.core;
        let deadline = wait + core.config.request_timeout;
        let frames = core
            .call_group(&link, "PullMessage", deadline, |ch| {
                let r = core.request(req.clone(), deadline);
                async move {
                    let mut stream = stub(ch).pull_message(r).await?.into_inner();
                    let mut frames = Vec::new();
                    while let Some(f) = stream.message().await? {
                        frames.push(f);
                    }
                    Ok(frames)
                }
            })
            .await?;
        let mut fold = PullFold::default();
        for f in frames {
            fold.push(f, self.subject(queue))?;
        }
        let messages: Vec<ReceivedMessage> = fold
            .messages
            .into_iter()
            .map(|m| ReceivedMessage::from_proto(m, &queue.broker))
            .collect::<Result<_, _>>()?;
        let next = match fold.next_offset {
            Some(n) => n,
            None if fold.bad_offset => {
                return Err(ClientError::Broker {
                    call: "PullMessage",
                    code: v2::Code::IllegalOffset as i32,
                    message: format!("offset {offset} is outside {queue}; seek elsewhere"),
                })
            }
            // Without a next offset, go on after the last message.
            None => messages
                .iter()
                .map(ReceivedMessage::queue_offset)
                .max()
                .map_or(offset, |o| o + 1),
        };
        self.position_mut(queue)?.next = Some(next);
        Ok(messages)
    }

    async fn update_offset(&self, queue: &MessageQueue, offset: i64) -> Result<(), ClientError> {
        let link = self.link(queue).await?;
        let req = v2::UpdateOffsetRequest {
            group: Some(resource(self.group())),
            message_queue: Some(proto_queue(queue, &link)),
            offset,
        };
        let core = &self.core;
        let timeout = core.config.request_timeout;
        let resp = core
            .call_group(&link, "UpdateOffset", timeout, |ch| {
                let r = core.request(req.clone(), timeout);
                async move {
                    stub(ch)
                        .update_offset(r)
                        .await
                        .map(tonic::Response::into_inner)
                }
            })
            .await?;
        check("UpdateOffset", resp.status.as_ref(), self.subject(queue))
    }

    async fn query_offset(
        &self,
        queue: &MessageQueue,
        policy: v2::QueryOffsetPolicy,
        ms: Option<i64>,
    ) -> Result<i64, ClientError> {
        let link = self.link(queue).await?;
        let req = v2::QueryOffsetRequest {
            message_queue: Some(proto_queue(queue, &link)),
            query_offset_policy: policy.into(),
            timestamp: ms.map(timestamp_ms),
        };
        let core = &self.core;
        let timeout = core.config.request_timeout;
        let resp = core
            .call_group(&link, "QueryOffset", timeout, |ch| {
                let r = core.request(req.clone(), timeout);
                async move {
                    stub(ch)
                        .query_offset(r)
                        .await
                        .map(tonic::Response::into_inner)
                }
            })
            .await?;
        check("QueryOffset", resp.status.as_ref(), self.subject(queue))?;
        Ok(resp.offset.max(0))
    }
}

/// `queue` as the protocol names it.
fn proto_queue(queue: &MessageQueue, link: &GroupLink) -> v2::MessageQueue {
    v2::MessageQueue {
        topic: Some(resource(&queue.topic)),
        id: queue.queue_id,
        permission: v2::Permission::ReadWrite.into(),
        broker: Some(v2::Broker {
            name: queue.broker.clone(),
            id: 0,
            endpoints: Some(raftmq_proto::client_protocol::endpoints(
                link.addrs().iter().map(String::as_str),
            )),
        }),
        accept_message_types: Vec::new(),
    }
}
