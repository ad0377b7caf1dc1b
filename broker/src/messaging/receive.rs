//! Pop consumption on the leader: ReceiveMessage hands out messages with an
//! invisible duration and a receipt handle; AckMessage finishes them;
//! ChangeInvisibleDuration postpones them; a message not acknowledged in
//! time comes back with the next delivery attempt, and after the last one
//! goes to the group's dead-letter topic `%DLQ%group`.
//!
//! The bookkeeping is [`PopQueue`] (pure); this file reads messages, waits
//! for new ones (long polling, clamped below the caller's deadline), writes
//! dead letters and commits progress through Raft. The pop state belongs to
//! one leadership (one term): a new leader starts from the committed
//! offsets.
//!
//! A FIFO consumer group (`consumeOrderly`) pops in [`PopQueue::fifo`]
//! mode: each message group in order, one message of a group out at a
//! time; an ack that lets the next one of a group go wakes the receives
//! waiting for messages (ADR 0013).

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use raftmq_model::{GroupName, Perm, TopicName};
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_store::message_store::StoredMessage;
use raftmq_store::meta_state::{Command, TopicConfig};
use raftmq_store::QueueOffset;
use tokio_stream::Stream;
use tonic::{Request, Status};

use super::convert::{
    self, Delivery, PROPERTY_DLQ_ORIGIN_MESSAGE_ID, PROPERTY_DLQ_ORIGIN_TOPIC,
    PROPERTY_ORIGIN_MESSAGE_ID, PROPERTY_RECONSUME_TIME, PROPERTY_RETRY_TOPIC,
};
use super::filter::{self as consume_filter, ConsumeFilter};
use super::pop::{HandleError, Offer, OrderKey, PopQueue, FIFO_LOOK_AHEAD};
use super::receipt::Receipt;
use super::Inner;

/// A server-streaming answer.
pub type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Invisible duration when the request gives none (upstream's 60 s).
const DEFAULT_INVISIBLE: Duration = Duration::from_secs(60);
/// Longest invisible duration accepted (upstream: 12 h).
const MAX_INVISIBLE: Duration = Duration::from_secs(12 * 3600);
/// Long polling when the request gives none.
const DEFAULT_LONG_POLL: Duration = Duration::from_secs(20);
/// Time kept back from the caller's deadline to answer in.
const DEADLINE_MARGIN: Duration = Duration::from_millis(300);
/// Most messages one receive returns.
const MAX_BATCH: usize = 1024;
/// Reads of new messages one FIFO queue makes in one pop, at most (each
/// holds back what belongs to busy message groups).
const MAX_FIFO_READS: usize = 16;

type QueueKey = (GroupName, TopicName, u32);

/// The pop state of this member while it leads, per (group, topic, queue).
#[derive(Default)]
pub struct PopState(Mutex<Pops>, tokio::sync::Notify);

impl PopState {
    /// Wakes the receives waiting for messages: something held back may
    /// go out now (an ack, a dead letter in a FIFO queue).
    fn wake(&self) {
        self.1.notify_waiters();
    }
}

#[derive(Default)]
struct Pops {
    term: u64,
    queues: HashMap<QueueKey, PopQueue>,
}

fn term(inner: &Inner) -> u64 {
    inner.node.term()
}

impl Pops {
    /// Forgets a previous leadership's state.
    fn for_term(&mut self, term: u64) -> &mut Self {
        if self.term != term {
            self.queues.clear();
            self.term = term;
        }
        self
    }

    /// The state of a queue, in the mode asked for (`Some(look_ahead)`:
    /// FIFO); a queue whose group changed mode starts again from its base.
    fn queue(&mut self, inner: &Inner, key: &QueueKey, fifo: Option<usize>) -> &mut PopQueue {
        let pq = self.queues.entry(key.clone()).or_insert_with(|| {
            let store = inner.node.store();
            // A group new to this queue starts at its minimum: what a
            // fresh subscriber of a recent topic expects to see.
            let start = store
                .consumer_offset(&key.0, &key.1, key.2)
                .unwrap_or_else(|| store.queue_offsets(&key.1, key.2).0 .0);
            match fifo {
                Some(n) => PopQueue::fifo(start, n),
                None => PopQueue::new(start),
            }
        });
        if pq.is_fifo() != fifo.is_some() {
            pq.restart(fifo);
        }
        pq
    }
}

/// How a consumer group pops: `Some(look-ahead)` when it consumes
/// orderly (FIFO), `None` otherwise.
fn fifo_mode(inner: &Inner, group: &GroupName) -> Option<usize> {
    orderly(inner, group).then_some(FIFO_LOOK_AHEAD)
}

/// Whether the group is configured to consume orderly.
fn orderly(inner: &Inner, group: &GroupName) -> bool {
    inner.node.store().group_consumes_orderly(group.as_str())
}

/// `grpc-timeout` (e.g. `20S`, `2999m`) as a duration.
pub(super) fn grpc_timeout(meta: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let v = meta.get("grpc-timeout")?.to_str().ok()?;
    let (n, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn duration(d: Option<&prost_types::Duration>) -> Option<Duration> {
    let d = d?;
    let secs = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok()?;
    Some(Duration::new(secs, nanos))
}

fn one_frame<T: Send + 'static>(item: T) -> ResponseStream<T> {
    Box::pin(tokio_stream::iter([Ok(item)]))
}

fn status_frame(
    code: v2::Code,
    message: impl Into<String>,
) -> ResponseStream<v2::ReceiveMessageResponse> {
    one_frame(v2::ReceiveMessageResponse {
        content: Some(v2::receive_message_response::Content::Status(cp::status(
            code, message,
        ))),
    })
}

/// Checks a consumer group's name.
pub(super) fn check_group(group: Option<&v2::Resource>) -> Result<GroupName, v2::Status> {
    convert::group_name(group).map_err(|(code, why)| cp::status(code, why))
}

/// Checks a topic's name and that it exists.
pub(super) fn check_topic(
    inner: &Inner,
    topic: Option<&v2::Resource>,
) -> Result<(TopicName, TopicConfig), v2::Status> {
    let t = convert::topic_name(topic).map_err(|(code, why)| cp::status(code, why))?;
    match inner.node.store().topic(&t) {
        Some(c) => Ok((t, c)),
        None => Err(cp::status(
            v2::Code::TopicNotFound,
            format!(
                "topic {:?} does not exist on broker group {}",
                t.as_str(),
                inner.conf.group
            ),
        )),
    }
}

/// A message handed out by one pop.
struct Out {
    queue: u32,
    offset: u64,
    attempt: u32,
    nonce: u32,
    message: StoredMessage,
}

/// Pops up to `max` messages: expired ones first (those that had their
/// `max_attempts` deliveries set aside as dead letters), then (FIFO, when
/// `fifo` gives a look-ahead) held ones whose turn came, then new ones,
/// queue by queue from `first`.
#[allow(clippy::too_many_arguments)]
fn pop_some(
    inner: &Inner,
    group: &GroupName,
    topic: &TopicName,
    queues: &[u32],
    filter: &ConsumeFilter,
    max: usize,
    invisible: Duration,
    max_attempts: u32,
    fifo: Option<usize>,
    dead: &mut Vec<(u32, u64, u32)>,
) -> Vec<Out> {
    let store = inner.node.store();
    let now = Instant::now();
    let mut out = Vec::new();
    let mut pops = inner.pops.0.lock();
    let pops = pops.for_term(term(inner));
    for &q in queues {
        if out.len() >= max {
            break;
        }
        let key = (group.clone(), topic.clone(), q);
        let pq = pops.queue(inner, &key, fifo);
        for (offset, f) in pq.expired(now, max - out.len()) {
            if f.attempt >= max_attempts {
                dead.push((q, offset, f.attempt));
                continue;
            }
            let Ok(message) = store.read_message(topic, q, QueueOffset(offset)) else {
                // Gone by retention: nothing to deliver.
                let _ = pq.ack(offset, None);
                continue;
            };
            let Some(f) = pq.deliver(offset, now, invisible) else {
                continue;
            };
            out.push(Out {
                queue: q,
                offset,
                attempt: f.attempt,
                nonce: f.nonce,
                message,
            });
        }
        for offset in pq.ready(max - out.len()) {
            let Ok(message) = store.read_message(topic, q, QueueOffset(offset)) else {
                // Gone by retention: the next of its group follows.
                let _ = pq.ack(offset, None);
                continue;
            };
            let Some(f) = pq.deliver(offset, now, invisible) else {
                continue;
            };
            out.push(Out {
                queue: q,
                offset,
                attempt: f.attempt,
                nonce: f.nonce,
                message,
            });
        }
        if out.len() >= max {
            break;
        }
        let (min, _) = store.queue_offsets(topic, q);
        pq.skip_to(min.0);
        // A FIFO queue reads past busy message groups, as far as its
        // look-ahead lets it hold messages back: in chunks of about twice
        // what is still wanted, so it reads little more than it hands out.
        let rounds = if fifo.is_some() { MAX_FIFO_READS } else { 1 };
        for _ in 0..rounds {
            let want = max - out.len();
            let read = match fifo {
                Some(n) => (2 * want).min(want + n.saturating_sub(pq.waiting())),
                None => want,
            };
            let Ok(batch) = store.read_messages(
                topic,
                q,
                QueueOffset(pq.next()),
                read.min(MAX_BATCH),
                filter,
            ) else {
                break;
            };
            let found = batch.messages.len();
            let mut stopped = false;
            for m in batch.messages {
                if out.len() >= max {
                    stopped = true;
                    break;
                }
                let Some(offset) = m.queue_offset.map(|o| o.0) else {
                    continue;
                };
                if pq.is_done(offset) {
                    continue;
                }
                let order = match fifo {
                    Some(_) => OrderKey::of(m.view().ok().and_then(|v| v.message_group())),
                    None => OrderKey::Queue,
                };
                match pq.offer(offset, order, now, invisible) {
                    Offer::Deliver(f) => out.push(Out {
                        queue: q,
                        offset,
                        attempt: f.attempt,
                        nonce: f.nonce,
                        message: m,
                    }),
                    Offer::Held | Offer::Skip => {}
                    Offer::Full => {
                        stopped = true;
                        break;
                    }
                }
            }
            if stopped {
                break;
            }
            pq.skip_to(batch.next_offset.0);
            if found == 0 || out.len() >= max {
                break;
            }
        }
    }
    out
}

/// When the soonest in-flight message of these queues comes back.
fn next_deadline(
    inner: &Inner,
    group: &GroupName,
    topic: &TopicName,
    queues: &[u32],
) -> Option<Instant> {
    let pops = inner.pops.0.lock();
    queues
        .iter()
        .filter_map(|q| {
            pops.queues
                .get(&(group.clone(), topic.clone(), *q))?
                .next_deadline()
        })
        .min()
}

/// How many entries of these queues this group has not looked at yet.
fn unread(inner: &Inner, group: &GroupName, topic: &TopicName, queues: &[u32]) -> u64 {
    let store = inner.node.store();
    let pops = inner.pops.0.lock();
    queues
        .iter()
        .filter_map(|q| {
            let next = pops.queues.get(&(group.clone(), topic.clone(), *q))?.next();
            Some(store.queue_offsets(topic, *q).1 .0.saturating_sub(next))
        })
        .sum()
}

pub(super) async fn receive(
    inner: &Inner,
    request: Request<v2::ReceiveMessageRequest>,
) -> ResponseStream<v2::ReceiveMessageResponse> {
    if let Err(s) = cp::client_id(request.metadata()) {
        return status_frame(v2::Code::ClientIdRequired, s.message);
    }
    let started = Instant::now();
    let call_deadline = grpc_timeout(request.metadata());
    let r = request.into_inner();
    let group = match check_group(r.group.as_ref()) {
        Ok(g) => g,
        Err(s) => return one_frame(frame_status(s)),
    };
    let mq = r.message_queue.unwrap_or_default();
    let (topic, config) = match check_topic(inner, mq.topic.as_ref()) {
        Ok(t) => t,
        Err(s) => return one_frame(frame_status(s)),
    };
    let group_config = match super::groups::receivable(inner, &group).await {
        Ok(c) => c,
        Err(s) => return one_frame(frame_status(s)),
    };
    let enable_sql = inner.conf.enable_property_filter;
    let filter = match consume_filter::from_request(r.filter_expression.as_ref(), enable_sql) {
        Ok(f) => f,
        Err(s) => return one_frame(frame_status(s)),
    };
    let invisible = match duration(r.invisible_duration.as_ref()) {
        None => DEFAULT_INVISIBLE,
        Some(d) if d.is_zero() || d > MAX_INVISIBLE => {
            return status_frame(
                v2::Code::IllegalInvisibleTime,
                format!("invisible duration {d:?} out of range: use 1 ms to 12 h"),
            )
        }
        Some(d) => d,
    };
    let max = usize::try_from(r.batch_size)
        .unwrap_or(0)
        .clamp(1, MAX_BATCH);
    let long_poll = duration(r.long_polling_timeout.as_ref()).unwrap_or(DEFAULT_LONG_POLL);
    let mut deadline = started + long_poll;
    if let Some(d) = call_deadline {
        deadline = deadline.min(started + d.saturating_sub(DEADLINE_MARGIN));
    }
    // Every queue of the topic, starting with the one asked for.
    let n = config.read_queues.max(1);
    let first = u32::try_from(mq.id).map_or(0, |id| id % n);
    let queues: Vec<u32> = (0..n).map(|i| (first + i) % n).collect();
    let mut progress = inner.node.progress();
    let mut unread_before = u64::MAX;
    let out = loop {
        // Registered before looking, so an ack in between is not missed.
        let freed = inner.pops.1.notified();
        tokio::pin!(freed);
        freed.as_mut().enable();
        let mut dead = Vec::new();
        let out = pop_some(
            inner,
            &group,
            &topic,
            &queues,
            &filter,
            max,
            invisible,
            group_config.max_attempts(),
            group_config.consume_orderly.then_some(FIFO_LOOK_AHEAD),
            &mut dead,
        );
        for (q, offset, attempt) in dead {
            dead_letter(inner, &group, &topic, q, offset, attempt).await;
        }
        let now = Instant::now();
        if !out.is_empty() || now >= deadline {
            break out;
        }
        // A filter passed over messages without finding one and stopped at
        // its scan bound: read on at once while that makes progress.
        let left = unread(inner, &group, &topic, &queues);
        if left > 0 && left < unread_before {
            unread_before = left;
            tokio::task::yield_now().await;
            continue;
        }
        let wake =
            next_deadline(inner, &group, &topic, &queues).map_or(deadline, |d| d.min(deadline));
        tokio::select! {
            r = progress.changed() => if r.is_err() { break out },
            _ = tokio::time::sleep_until(wake.into()) => {}
            () = &mut freed => {}
        }
    };
    if out.is_empty() {
        return status_frame(v2::Code::MessageNotFound, "no new message");
    }
    let term = term(inner);
    let mut frames = Vec::with_capacity(out.len() + 2);
    frames.push(Ok(v2::ReceiveMessageResponse {
        content: Some(v2::receive_message_response::Content::Status(cp::ok())),
    }));
    for o in out {
        let Ok(view) = o.message.view() else {
            continue;
        };
        let body: Bytes = o.message.record.slice_ref(view.body());
        let handle = Receipt {
            term,
            topic: topic.to_string(),
            group: group.to_string(),
            queue: o.queue,
            offset: o.offset,
            nonce: o.nonce,
        }
        .encode();
        let msg = convert::to_wire(
            &view,
            body,
            &Delivery {
                queue_offset: o.offset,
                receipt_handle: Some(handle),
                attempt: o.attempt,
                invisible: Some(invisible),
            },
        );
        frames.push(Ok(v2::ReceiveMessageResponse {
            content: Some(v2::receive_message_response::Content::Message(msg)),
        }));
    }
    let now = prost_types::Timestamp::from(std::time::SystemTime::now());
    frames.push(Ok(v2::ReceiveMessageResponse {
        content: Some(v2::receive_message_response::Content::DeliveryTimestamp(
            now,
        )),
    }));
    Box::pin(tokio_stream::iter(frames))
}

fn frame_status(s: v2::Status) -> v2::ReceiveMessageResponse {
    v2::ReceiveMessageResponse {
        content: Some(v2::receive_message_response::Content::Status(s)),
    }
}

/// Decodes a handle for `group` and `topic`, with the nonce that counts in
/// this term.
fn handle(
    text: &str,
    group: &str,
    topic: &str,
    term: u64,
) -> Result<(Receipt, Option<u32>), v2::Status> {
    let invalid = || {
        cp::status(
            v2::Code::InvalidReceiptHandle,
            "the receipt handle is not one this group issued for this topic",
        )
    };
    let r = Receipt::decode(text).ok_or_else(invalid)?;
    if r.group != group || r.topic != topic {
        return Err(invalid());
    }
    let nonce = (r.term == term).then_some(r.nonce);
    Ok((r, nonce))
}

fn handle_error(e: HandleError) -> v2::Status {
    match e {
        HandleError::Stale => cp::status(
            v2::Code::InvalidReceiptHandle,
            "the receipt handle is stale: the message was delivered again since",
        ),
        HandleError::NotInFlight => cp::status(
            v2::Code::InvalidReceiptHandle,
            "the message is not out with a consumer (already acknowledged?)",
        ),
    }
}

/// The checks every call on a (group, topic) makes first: the client id,
/// the group's name, the topic's existence. Returns the group and topic.
fn check_call(
    inner: &Inner,
    meta: &tonic::metadata::MetadataMap,
    group: Option<&v2::Resource>,
    topic: Option<&v2::Resource>,
) -> Result<(GroupName, TopicName), v2::Status> {
    cp::client_id(meta)?;
    let group = check_group(group)?;
    let (topic, _) = check_topic(inner, topic)?;
    Ok((group, topic))
}

pub(super) async fn ack(
    inner: &Inner,
    request: Request<v2::AckMessageRequest>,
) -> v2::AckMessageResponse {
    let bad = |s: v2::Status| v2::AckMessageResponse {
        status: Some(s),
        entries: Vec::new(),
    };
    let (group, topic) = match check_call(
        inner,
        request.metadata(),
        request.get_ref().group.as_ref(),
        request.get_ref().topic.as_ref(),
    ) {
        Ok(x) => x,
        Err(s) => return bad(s),
    };
    let r = request.into_inner();
    let term = term(inner);
    let fifo = fifo_mode(inner, &group);
    let mut entries = Vec::with_capacity(r.entries.len());
    let mut freed = false;
    {
        let mut pops = inner.pops.0.lock();
        let pops = pops.for_term(term);
        for e in r.entries {
            let status = match handle(&e.receipt_handle, &group, &topic, term) {
                Ok((h, nonce)) => {
                    let pq = pops.queue(inner, &(group.clone(), topic.clone(), h.queue), fifo);
                    match pq.ack(h.offset, nonce) {
                        Ok(()) => {
                            freed |= pq.has_ready();
                            cp::ok()
                        }
                        Err(e) => handle_error(e),
                    }
                }
                Err(s) => s,
            };
            entries.push(v2::AckMessageResultEntry {
                message_id: e.message_id,
                receipt_handle: e.receipt_handle,
                status: Some(status),
            });
        }
    }
    if freed {
        inner.pops.wake();
    }
    let status = cp::overall(entries.iter().map(|e| e.status.as_ref()));
    v2::AckMessageResponse {
        status: Some(status),
        entries,
    }
}

pub(super) async fn change_invisible(
    inner: &Inner,
    request: Request<v2::ChangeInvisibleDurationRequest>,
) -> v2::ChangeInvisibleDurationResponse {
    let bad = |s: v2::Status| v2::ChangeInvisibleDurationResponse {
        status: Some(s),
        receipt_handle: String::new(),
    };
    let (group, topic) = match check_call(
        inner,
        request.metadata(),
        request.get_ref().group.as_ref(),
        request.get_ref().topic.as_ref(),
    ) {
        Ok(x) => x,
        Err(s) => return bad(s),
    };
    let r = request.into_inner();
    let invisible = match duration(r.invisible_duration.as_ref()) {
        Some(d) if d <= MAX_INVISIBLE => d,
        _ => {
            return bad(cp::status(
                v2::Code::IllegalInvisibleTime,
                "invisible duration out of range: use 0 to 12 h",
            ))
        }
    };
    let term = term(inner);
    let (h, nonce) = match handle(&r.receipt_handle, &group, &topic, term) {
        Ok(x) => x,
        Err(s) => return bad(s),
    };
    let fifo = fifo_mode(inner, &group);
    let mut pops = inner.pops.0.lock();
    let pops = pops.for_term(term);
    let pq = pops.queue(inner, &(group.clone(), topic.clone(), h.queue), fifo);
    match pq.change_invisible(h.offset, nonce, Instant::now(), invisible) {
        Ok(f) => v2::ChangeInvisibleDurationResponse {
            status: Some(cp::ok()),
            receipt_handle: Receipt {
                term,
                nonce: f.nonce,
                ..h
            }
            .encode(),
        },
        Err(e) => bad(handle_error(e)),
    }
}

/// Copies a message to the group's dead-letter topic, then counts it done.
/// A group too long to name a dead-letter topic for keeps the message.
/// The copy keeps the message's id, body and properties and records where
/// it came from as upstream does (see [`dead_letter_marks`]).
async fn dead_letter(
    inner: &Inner,
    group: &GroupName,
    topic: &TopicName,
    queue: u32,
    offset: u64,
    attempt: u32,
) {
    let dlq = match TopicName::dead_letter(group) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(%group, %topic, queue, offset, error = %e, "message kept: the group has no dead-letter topic");
            return;
        }
    };
    let store = inner.node.store();
    let moved = match store.read_message(topic, queue, QueueOffset(offset)) {
        Ok(m) => match m.to_message() {
            Ok(mut msg) => {
                msg.clear_held_marks();
                dead_letter_marks(&mut msg.properties, topic, &msg.message_id, attempt);
                msg.topic = dlq.clone();
                msg.queue_id = 0;
                msg.reconsume_count = attempt;
                ensure_dlq(inner, &dlq).await && inner.node.write(&[msg]).await.is_ok()
            }
            Err(_) => true, // undecodable: nothing to move
        },
        Err(_) => true, // gone by retention
    };
    if moved {
        let freed = {
            let mut pops = inner.pops.0.lock();
            pops.queues
                .get_mut(&(group.clone(), topic.clone(), queue))
                .is_some_and(|pq| pq.ack(offset, None).is_ok() && pq.has_ready())
        };
        if freed {
            inner.pops.wake();
        }
        tracing::info!(%group, %topic, queue, offset, attempt, "message moved to the dead-letter topic");
    }
}

/// Upstream's property names on a dead letter: `RETRY_TOPIC` and
/// `ORIGIN_MESSAGE_ID` (kept when a copy already has them, as upstream's
/// send-back does), `DLQ_ORIGIN_TOPIC` and `DLQ_ORIGIN_MESSAGE_ID` (which
/// the clients see as `dead_letter_queue`), and `RECONSUME_TIME`, the
/// deliveries it had (also the record's reconsume count).
pub(super) fn dead_letter_marks(
    properties: &mut Vec<(String, String)>,
    topic: &TopicName,
    message_id: &str,
    attempts: u32,
) {
    let mut set = |key: &str, value: String, keep: bool| match properties
        .iter_mut()
        .find(|(k, _)| k == key)
    {
        Some(_) if keep => {}
        Some((_, v)) => *v = value,
        None => properties.push((key.to_owned(), value)),
    };
    set(PROPERTY_RETRY_TOPIC, topic.to_string(), true);
    set(PROPERTY_ORIGIN_MESSAGE_ID, message_id.to_owned(), true);
    set(PROPERTY_DLQ_ORIGIN_TOPIC, topic.to_string(), false);
    set(PROPERTY_DLQ_ORIGIN_MESSAGE_ID, message_id.to_owned(), false);
    set(PROPERTY_RECONSUME_TIME, attempts.to_string(), false);
}

async fn ensure_dlq(inner: &Inner, dlq: &TopicName) -> bool {
    if inner.node.store().topic(dlq).is_some() {
        return true;
    }
    inner
        .node
        .command(&Command::UpsertTopic {
            topic: dlq.clone(),
            config: TopicConfig {
                read_queues: 1,
                write_queues: 1,
                perm: Perm::READ_WRITE,
                message_type: Default::default(),
            },
        })
        .await
        .is_ok()
}

pub(super) async fn to_dead_letters(
    inner: &Inner,
    request: Request<v2::ForwardMessageToDeadLetterQueueRequest>,
) -> v2::ForwardMessageToDeadLetterQueueResponse {
    let answer = |s: v2::Status| v2::ForwardMessageToDeadLetterQueueResponse { status: Some(s) };
    let (group, topic) = match check_call(
        inner,
        request.metadata(),
        request.get_ref().group.as_ref(),
        request.get_ref().topic.as_ref(),
    ) {
        Ok(x) => x,
        Err(s) => return answer(s),
    };
    let r = request.into_inner();
    let term = term(inner);
    let (h, nonce) = match handle(&r.receipt_handle, &group, &topic, term) {
        Ok(x) => x,
        Err(s) => return answer(s),
    };
    {
        let fifo = fifo_mode(inner, &group);
        let mut pops = inner.pops.0.lock();
        let pq = pops
            .for_term(term)
            .queue(inner, &(group.clone(), topic.clone(), h.queue), fifo);
        if pq.is_done(h.offset) {
            return answer(handle_error(HandleError::NotInFlight));
        }
        // A handle of this term must be the current one; hold the message
        // back while it moves.
        if let Err(e) = pq.change_invisible(h.offset, nonce, Instant::now(), MAX_INVISIBLE) {
            if nonce.is_some() {
                return answer(handle_error(e));
            }
        }
    }
    let attempt = u32::try_from(r.delivery_attempt).unwrap_or(0);
    dead_letter(inner, &group, &topic, h.queue, h.offset, attempt).await;
    answer(cp::ok())
}

/// Commits, per group, the offsets below which every message of a queue
/// is done, when they moved; only while this member leads.
pub(super) async fn commit_progress(inner: &Inner) {
    if !inner.node.is_leader() {
        return;
    }
    let term = term(inner);
    let mut due: BTreeMap<GroupName, Vec<(TopicName, u32, u64)>> = BTreeMap::new();
    {
        let mut pops = inner.pops.0.lock();
        for ((group, topic, q), pq) in &pops.for_term(term).queues {
            if let Some(o) = pq.commit_due() {
                due.entry(group.clone())
                    .or_default()
                    .push((topic.clone(), *q, o));
            }
        }
    }
    for (group, offsets) in due {
        let cmd = Command::CommitOffsets {
            group: group.clone(),
            offsets: offsets.clone(),
        };
        match inner.node.command(&cmd).await {
            Ok(()) => {
                let mut pops = inner.pops.0.lock();
                let pops = pops.for_term(term);
                for (topic, q, o) in offsets {
                    if let Some(pq) = pops.queues.get_mut(&(group.clone(), topic, q)) {
                        pq.committed(o);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(%group, error = %e, "consumer progress not committed; retrying")
            }
        }
    }
}
