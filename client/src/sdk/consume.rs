//! The calls consumers share: receive (long polling), ack, change the
//! invisible duration, forward to the dead-letter queue.

use std::time::Duration;

use raftmq_proto::rocketmq::v2;

use super::convert::{duration, resource};
use super::core::ClientCore;
use super::error::{check, Subject};
use super::frames::ReceiveFold;
use super::link::{stub, GroupLink};
use super::{ids, ClientError, FilterExpression, ReceivedMessage};

/// What one ReceiveMessage asks for.
#[derive(Debug, Clone)]
pub(crate) struct ReceiveSpec<'a> {
    pub topic: &'a str,
    pub filter: &'a FilterExpression,
    pub batch_size: usize,
    /// `None`: the server chooses (push consumers with auto renew).
    pub invisible: Option<Duration>,
    pub auto_renew: bool,
    pub long_polling: Duration,
}

/// The queue of a receive: any queue of the topic in `link`'s group.
fn any_queue(topic: &str, link: &GroupLink) -> v2::MessageQueue {
    v2::MessageQueue {
        topic: Some(resource(topic)),
        id: -1,
        permission: v2::Permission::ReadWrite.into(),
        broker: Some(v2::Broker {
            name: link.name().to_owned(),
            id: 0,
            endpoints: Some(raftmq_proto::client_protocol::endpoints(
                link.addrs().iter().map(String::as_str),
            )),
        }),
        accept_message_types: Vec::new(),
    }
}

/// Pops up to `batch_size` messages of `spec.topic` from `link`'s group,
/// waiting up to the long-polling time when none is ready.
pub(crate) async fn receive(
    core: &ClientCore,
    link: &GroupLink,
    spec: &ReceiveSpec<'_>,
) -> Result<Vec<ReceivedMessage>, ClientError> {
    let req = v2::ReceiveMessageRequest {
        group: Some(resource(core.group())),
        message_queue: Some(any_queue(spec.topic, link)),
        filter_expression: Some(spec.filter.into()),
        batch_size: i32::try_from(spec.batch_size.max(1)).unwrap_or(i32::MAX),
        invisible_duration: spec.invisible.map(duration),
        auto_renew: spec.auto_renew,
        long_polling_timeout: Some(duration(spec.long_polling)),
        attempt_id: Some(ids::message_id()),
    };
    // A bit above the long poll, so the server's empty answer arrives
    // before the deadline.
    let deadline = spec.long_polling + core.config.request_timeout;
    let frames = core
        .call_group(link, "ReceiveMessage", deadline, |ch| {
            let r = core.request(req.clone(), deadline);
            async move {
                let mut stream = stub(ch).receive_message(r).await?.into_inner();
                let mut frames = Vec::new();
                while let Some(f) = stream.message().await? {
                    frames.push(f);
                }
                Ok(frames)
            }
        })
        .await?;
    let subject = Subject {
        topic: spec.topic,
        group: core.group(),
        ..Subject::default()
    };
    let mut fold = ReceiveFold::default();
    for f in frames {
        fold.push(f, subject)?;
    }
    fold.finish()
        .into_iter()
        .map(|m| ReceivedMessage::from_proto(m, link.name()))
        .collect()
}

fn subject<'a>(core: &'a ClientCore, m: &'a ReceivedMessage) -> Subject<'a> {
    Subject {
        topic: m.topic(),
        group: core.group(),
        message_id: m.message_id(),
    }
}

/// Acknowledges one delivery.
pub(crate) async fn ack(core: &ClientCore, m: &ReceivedMessage) -> Result<(), ClientError> {
    ack_batch(core, std::slice::from_ref(m)).await
}

/// Acknowledges many messages with one AckMessage per (broker group,
/// topic); the first refusal is returned after every group was asked.
pub(crate) async fn ack_batch(
    core: &ClientCore,
    ms: &[ReceivedMessage],
) -> Result<(), ClientError> {
    let mut by_target: Vec<((&str, &str), Vec<&ReceivedMessage>)> = Vec::new();
    for m in ms {
        let key = (m.broker(), m.topic());
        match by_target.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(m),
            None => by_target.push((key, vec![m])),
        }
    }
    let mut first_error = None;
    for ((broker, topic), group) in by_target {
        let link = core.group_link(broker)?;
        let req = v2::AckMessageRequest {
            group: Some(resource(core.group())),
            topic: Some(resource(topic)),
            entries: group
                .iter()
                .map(|m| v2::AckMessageEntry {
                    message_id: m.message_id().to_owned(),
                    receipt_handle: m.receipt_handle().to_owned(),
                    lite_topic: None,
                })
                .collect(),
        };
        let timeout = core.config.request_timeout;
        let resp = core
            .call_group(&link, "AckMessage", timeout, |ch| {
                let r = core.request(req.clone(), timeout);
                async move {
                    stub(ch)
                        .ack_message(r)
                        .await
                        .map(tonic::Response::into_inner)
                }
            })
            .await;
        let outcome = resp.and_then(|resp| {
            let refused = resp.entries.iter().zip(&group).find(|(e, _)| {
                e.status
                    .as_ref()
                    .is_some_and(|s| s.code != v2::Code::Ok as i32)
            });
            match refused {
                Some((e, m)) => check("AckMessage", e.status.as_ref(), subject(core, m)),
                None => check("AckMessage", resp.status.as_ref(), subject(core, group[0])),
            }
        });
        if let Err(e) = outcome {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Makes a delivery invisible for `invisible` from now; returns the
/// message with its new receipt handle.
pub(crate) async fn change_invisible(
    core: &ClientCore,
    m: &ReceivedMessage,
    invisible: Duration,
) -> Result<ReceivedMessage, ClientError> {
    let link = core.group_link(m.broker())?;
    let req = v2::ChangeInvisibleDurationRequest {
        group: Some(resource(core.group())),
        topic: Some(resource(m.topic())),
        receipt_handle: m.receipt_handle().to_owned(),
        invisible_duration: Some(duration(invisible)),
        message_id: m.message_id().to_owned(),
        lite_topic: None,
        suspend: None,
    };
    let timeout = core.config.request_timeout;
    let resp = core
        .call_group(&link, "ChangeInvisibleDuration", timeout, |ch| {
            let r = core.request(req.clone(), timeout);
            async move {
                stub(ch)
                    .change_invisible_duration(r)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })
        .await?;
    check(
        "ChangeInvisibleDuration",
        resp.status.as_ref(),
        subject(core, m),
    )?;
    if resp.receipt_handle.is_empty() {
        return Err(ClientError::BadResponse {
            call: "ChangeInvisibleDuration",
            reason: "no new receipt handle".into(),
        });
    }
    Ok(m.clone().with_receipt_handle(resp.receipt_handle))
}

/// Moves a delivery the consumer gave up on to the group's dead-letter
/// queue (`%DLQ%group`).
pub(crate) async fn forward_to_dlq(
    core: &ClientCore,
    m: &ReceivedMessage,
    max_attempts: i32,
) -> Result<(), ClientError> {
    let link = core.group_link(m.broker())?;
    let req = v2::ForwardMessageToDeadLetterQueueRequest {
        group: Some(resource(core.group())),
        topic: Some(resource(m.topic())),
        receipt_handle: m.receipt_handle().to_owned(),
        message_id: m.message_id().to_owned(),
        delivery_attempt: m.delivery_attempt(),
        max_delivery_attempts: max_attempts,
        lite_topic: None,
    };
    let timeout = core.config.request_timeout;
    let resp = core
        .call_group(&link, "ForwardMessageToDeadLetterQueue", timeout, |ch| {
            let r = core.request(req.clone(), timeout);
            async move {
                stub(ch)
                    .forward_message_to_dead_letter_queue(r)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })
        .await?;
    check(
        "ForwardMessageToDeadLetterQueue",
        resp.status.as_ref(),
        subject(core, m),
    )
}
