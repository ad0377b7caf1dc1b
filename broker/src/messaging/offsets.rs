//! Consumption by offset, for the SDK's PullConsumer: PullMessage reads a
//! queue from an offset (long polling at its end); UpdateOffset commits a
//! group's offset through Raft at once; GetOffset reads it back;
//! QueryOffset finds the first, next, or first-at-a-time offset.

use std::time::{Duration, Instant};

use bytes::Bytes;
use raftmq_model::TopicName;
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_store::meta_state::Command;
use raftmq_store::QueueOffset;
use tonic::Request;

use super::convert::{self, Delivery};
use super::filter;
use super::receive::{check_group, check_topic, ResponseStream};
use super::Inner;

const MAX_BATCH: usize = 1024;
const DEADLINE_MARGIN: Duration = Duration::from_millis(300);

fn pull_status(s: v2::Status) -> ResponseStream<v2::PullMessageResponse> {
    Box::pin(tokio_stream::iter([Ok(v2::PullMessageResponse {
        content: Some(v2::pull_message_response::Content::Status(s)),
    })]))
}

/// The queue a request names: topic, its config, and a queue id in range.
fn queue(inner: &Inner, mq: Option<&v2::MessageQueue>) -> Result<(TopicName, u32), v2::Status> {
    let mq = mq.cloned().unwrap_or_default();
    let (topic, config) = check_topic(inner, mq.topic.as_ref())?;
    let n = config.read_queues.max(config.write_queues);
    match u32::try_from(mq.id) {
        Ok(q) if q < n => Ok((topic, q)),
        _ => Err(cp::status(
            v2::Code::BadRequest,
            format!(
                "queue {} does not exist: topic {:?} has queues 0 to {}",
                mq.id,
                topic.as_str(),
                n.saturating_sub(1)
            ),
        )),
    }
}

pub(super) async fn pull(
    inner: &Inner,
    request: Request<v2::PullMessageRequest>,
) -> ResponseStream<v2::PullMessageResponse> {
    if let Err(s) = cp::client_id(request.metadata()) {
        return pull_status(s);
    }
    let started = Instant::now();
    let call_deadline = super::receive::grpc_timeout(request.metadata());
    let r = request.into_inner();
    let group = match check_group(r.group.as_ref()) {
        Ok(g) => g,
        Err(s) => return pull_status(s),
    };
    let (topic, q) = match queue(inner, r.message_queue.as_ref()) {
        Ok(x) => x,
        Err(s) => return pull_status(s),
    };
    if let Err(s) = super::groups::receivable(inner, &group).await {
        return pull_status(s);
    }
    let enable_sql = inner.conf.enable_property_filter;
    let filter = match filter::from_request(r.filter_expression.as_ref(), enable_sql) {
        Ok(f) => f,
        Err(s) => return pull_status(s),
    };
    let store = inner.node.store();
    let (min, max) = store.queue_offsets(&topic, q);
    let Ok(from) = u64::try_from(r.offset) else {
        return pull_status(cp::status(v2::Code::IllegalOffset, "offset is negative"));
    };
    if from > max.0 {
        return pull_status(cp::status(
            v2::Code::IllegalOffset,
            format!(
                "offset {from} is past the end of queue {q} ({}); use QueryOffset END",
                max.0
            ),
        ));
    }
    let from = from.max(min.0);
    let batch_max = usize::try_from(r.batch_size)
        .unwrap_or(0)
        .clamp(1, MAX_BATCH);
    let long_poll = r
        .long_polling_timeout
        .as_ref()
        .and_then(|d| {
            Some(Duration::new(
                u64::try_from(d.seconds).ok()?,
                u32::try_from(d.nanos).ok()?,
            ))
        })
        .unwrap_or(Duration::ZERO);
    let mut deadline = started + long_poll;
    if let Some(d) = call_deadline {
        deadline = deadline.min(started + d.saturating_sub(DEADLINE_MARGIN));
    }
    let mut progress = inner.node.progress();
    let batch = loop {
        let batch = match store.read_messages(&topic, q, QueueOffset(from), batch_max, &filter) {
            Ok(b) => b,
            Err(e) => {
                return pull_status(cp::status(
                    v2::Code::InternalServerError,
                    format!("reading queue {q} of {topic:?}: {e}"),
                ))
            }
        };
        let more_to_scan = batch.next_offset.0 > from;
        if !batch.messages.is_empty() || more_to_scan || Instant::now() >= deadline {
            break batch;
        }
        tokio::select! {
            r = progress.changed() => if r.is_err() { break batch },
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    };
    let mut frames = Vec::with_capacity(batch.messages.len() + 2);
    let status = if batch.messages.is_empty() {
        cp::status(v2::Code::MessageNotFound, "no new message")
    } else {
        cp::ok()
    };
    frames.push(Ok(v2::PullMessageResponse {
        content: Some(v2::pull_message_response::Content::Status(status)),
    }));
    for m in &batch.messages {
        let Ok(view) = m.view() else { continue };
        let body: Bytes = m.record.slice_ref(view.body());
        let d = Delivery {
            queue_offset: m.queue_offset.map_or(0, |o| o.0),
            attempt: 1,
            ..Delivery::default()
        };
        frames.push(Ok(v2::PullMessageResponse {
            content: Some(v2::pull_message_response::Content::Message(
                convert::to_wire(&view, body, &d),
            )),
        }));
    }
    frames.push(Ok(v2::PullMessageResponse {
        content: Some(v2::pull_message_response::Content::NextOffset(
            i64::try_from(batch.next_offset.0).unwrap_or(i64::MAX),
        )),
    }));
    Box::pin(tokio_stream::iter(frames))
}

pub(super) async fn update(
    inner: &Inner,
    request: Request<v2::UpdateOffsetRequest>,
) -> v2::UpdateOffsetResponse {
    let answer = |s: v2::Status| v2::UpdateOffsetResponse { status: Some(s) };
    if let Err(s) = cp::client_id(request.metadata()) {
        return answer(s);
    }
    let r = request.into_inner();
    let group = match check_group(r.group.as_ref()) {
        Ok(g) => g,
        Err(s) => return answer(s),
    };
    let (topic, q) = match queue(inner, r.message_queue.as_ref()) {
        Ok(x) => x,
        Err(s) => return answer(s),
    };
    let (min, max) = inner.node.store().queue_offsets(&topic, q);
    let offset = match u64::try_from(r.offset) {
        Ok(o) if o >= min.0 && o <= max.0 => o,
        _ => {
            return answer(cp::status(
                v2::Code::IllegalOffset,
                format!(
                    "offset {} is outside queue {q} of {:?} ({} to {})",
                    r.offset,
                    topic.as_str(),
                    min.0,
                    max.0
                ),
            ))
        }
    };
    let cmd = Command::CommitOffsets {
        group,
        offsets: vec![(topic, q, offset)],
    };
    match inner.node.command(&cmd).await {
        Ok(()) => answer(cp::ok()),
        Err(e) => answer(cp::status(
            v2::Code::InternalServerError,
            format!("the offset was not committed ({e}); retry"),
        )),
    }
}

pub(super) async fn get(
    inner: &Inner,
    request: Request<v2::GetOffsetRequest>,
) -> v2::GetOffsetResponse {
    let answer = |s: v2::Status, offset: u64| v2::GetOffsetResponse {
        status: Some(s),
        offset: i64::try_from(offset).unwrap_or(i64::MAX),
    };
    if let Err(s) = cp::client_id(request.metadata()) {
        return answer(s, 0);
    }
    let r = request.into_inner();
    let group = match check_group(r.group.as_ref()) {
        Ok(g) => g,
        Err(s) => return answer(s, 0),
    };
    let (topic, q) = match queue(inner, r.message_queue.as_ref()) {
        Ok(x) => x,
        Err(s) => return answer(s, 0),
    };
    match inner.node.store().consumer_offset(&group, &topic, q) {
        Some(o) => answer(cp::ok(), o),
        None => answer(
            cp::status(
                v2::Code::NotFound,
                format!("group {group:?} has committed no offset for queue {q} of {topic:?}"),
            ),
            0,
        ),
    }
}

pub(super) async fn query(
    inner: &Inner,
    request: Request<v2::QueryOffsetRequest>,
) -> v2::QueryOffsetResponse {
    let answer = |s: v2::Status, offset: u64| v2::QueryOffsetResponse {
        status: Some(s),
        offset: i64::try_from(offset).unwrap_or(i64::MAX),
    };
    if let Err(s) = cp::client_id(request.metadata()) {
        return answer(s, 0);
    }
    let r = request.into_inner();
    let (topic, q) = match queue(inner, r.message_queue.as_ref()) {
        Ok(x) => x,
        Err(s) => return answer(s, 0),
    };
    let store = inner.node.store();
    let (min, max) = store.queue_offsets(&topic, q);
    match v2::QueryOffsetPolicy::try_from(r.query_offset_policy) {
        Ok(v2::QueryOffsetPolicy::Beginning) => answer(cp::ok(), min.0),
        Ok(v2::QueryOffsetPolicy::End) => answer(cp::ok(), max.0),
        Ok(v2::QueryOffsetPolicy::Timestamp) => {
            let Some(ts) = r.timestamp else {
                return answer(
                    cp::status(v2::Code::BadRequest, "TIMESTAMP needs a timestamp"),
                    0,
                );
            };
            let ms = ts.seconds.saturating_mul(1000) + i64::from(ts.nanos / 1_000_000);
            match store.offset_at_time(&topic, q, ms) {
                Ok(o) => answer(cp::ok(), o.0),
                Err(e) => answer(cp::status(v2::Code::InternalServerError, e.to_string()), 0),
            }
        }
        Err(_) => answer(
            cp::status(v2::Code::BadRequest, "unknown query offset policy"),
            0,
        ),
    }
}
