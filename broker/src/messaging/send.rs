//! SendMessage on the leader: every message checked on its own (one result
//! each), the good ones stored with one Raft write for the whole call.
//!
//! Retried sends reuse their message id: a message whose id is already
//! stored in the same topic is answered with its stored offset instead of
//! being stored twice. The check reads the store's message-id index, so it
//! holds across failovers, not just within one leader's memory.

use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_raft::WriteError;
use raftmq_store::message_store::StoredMessage;
use raftmq_store::meta_state::{Command, HeldId, TopicConfig, TopicName};
use raftmq_store::record::message::{Message, FLAG_HALF, FLAG_RELEASE, FLAG_TIMER};
use tonic::Request;

use super::convert::{self, Refusal};
use super::{held, Inner};

/// Where a sent message is: its queue offset (0 while held), and for a
/// transactional one, its transaction id.
struct Sent {
    offset: u64,
    transaction_id: Option<HeldId>,
}

fn entry(message_id: String, r: Result<Sent, Refusal>) -> v2::SendResultEntry {
    match r {
        Ok(sent) => v2::SendResultEntry {
            status: Some(cp::ok()),
            message_id,
            offset: i64::try_from(sent.offset).unwrap_or(i64::MAX),
            transaction_id: sent
                .transaction_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            ..Default::default()
        },
        Err((code, message)) => v2::SendResultEntry {
            status: Some(cp::status(code, message)),
            message_id,
            ..Default::default()
        },
    }
}

/// The topic's configuration, creating it when this broker creates topics
/// on first send.
pub(super) async fn topic_or_create(inner: &Inner, topic: &str) -> Result<TopicConfig, Refusal> {
    if let Some(t) = inner.node.store().topic(topic) {
        return Ok(t);
    }
    let Some(n) = inner.conf.auto_create_queues else {
        return Err((
            v2::Code::TopicNotFound,
            format!("topic {topic:?} does not exist: create it with mqadmin updateTopic (autoCreateTopicEnable is off)"),
        ));
    };
    // Creating a topic is new data entering the log: the user's rule.
    let name = TopicName::user_named(topic).map_err(|e| (v2::Code::IllegalTopic, e.to_string()))?;
    let config = TopicConfig::new(n);
    inner
        .node
        .command(&Command::UpsertTopic {
            topic: name,
            config: config.clone(),
        })
        .await
        .map_err(|e| {
            let (code, why) = write_refusal(&e);
            (code, format!("creating topic {topic:?} failed: {why}"))
        })?;
    tracing::info!(%topic, queues = n, "topic created on first send");
    Ok(config)
}

/// For each message, where a message already stored under its id and
/// topic is: its queue offset, or its held record (a timed message, or a
/// transaction's half message, whose id is answered again).
fn already_stored(inner: &Inner, batch: &[Message]) -> Vec<Option<Sent>> {
    let store = inner.node.store();
    let ids: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
    let found = store.query_by_ids(&ids);
    let sent = |m: &Message, found: Result<Option<_>, _>| {
        let found: StoredMessage = found.ok()??;
        let view = found.view().ok()?;
        if view.topic() != m.topic.as_str() {
            return None;
        }
        // A held record (a timer, a half message) is in no queue: its
        // queue offset comes when it is released; a half message's
        // transaction id is answered again.
        let flags = view.flags();
        if flags & FLAG_RELEASE == 0 && flags & (FLAG_TIMER | FLAG_HALF) != 0 {
            let transaction_id = if flags & FLAG_HALF != 0 {
                Some(store.held_id_at(found.pos).ok().flatten()?)
            } else {
                None
            };
            return Some(Sent {
                offset: 0,
                transaction_id,
            });
        }
        let q = store.queues().get(&m.topic, view.queue_id())?;
        q.offset_at_pos(found.pos.0).ok().map(|o| Sent {
            offset: o.0,
            transaction_id: None,
        })
    };
    batch.iter().zip(found).map(|(m, f)| sent(m, f)).collect()
}

pub(super) async fn send(
    inner: &Inner,
    request: Request<v2::SendMessageRequest>,
) -> v2::SendMessageResponse {
    if let Err(status) = cp::client_id(request.metadata()) {
        return v2::SendMessageResponse {
            status: Some(status),
            entries: Vec::new(),
        };
    }
    let messages = request.into_inner().messages;
    if messages.is_empty() {
        return v2::SendMessageResponse {
            status: Some(cp::status(v2::Code::BadRequest, "no message to send")),
            entries: Vec::new(),
        };
    }
    // Dedup below reads what this member has applied: a new leader waits
    // until that includes all its predecessors committed.
    if !inner.node.wait_applied_as_leader().await {
        return v2::SendMessageResponse {
            status: Some(cp::status(
                v2::Code::HaNotAvailable,
                "leadership is changing; retry with the same message ids",
            )),
            entries: Vec::new(),
        };
    }
    let mut results: Vec<Option<v2::SendResultEntry>> = vec![None; messages.len()];
    let mut batch: Vec<Message> = Vec::with_capacity(messages.len());
    let mut slots: Vec<usize> = Vec::with_capacity(messages.len());
    let mut topics: Vec<(TopicName, TopicConfig)> = Vec::new();
    for (i, m) in messages.into_iter().enumerate() {
        let id = m
            .system_properties
            .as_ref()
            .map(|s| s.message_id.clone())
            .unwrap_or_default();
        let prepared = convert::to_store(m, inner.conf.max_message_size, &inner.conf.store_host)
            .and_then(|mut m| {
                let sent_as = held::prepare(&mut m, &inner.conf.held, convert::now_ms())?;
                Ok((m, sent_as))
            });
        let (mut m, sent_as) = match prepared {
            Ok(m) => m,
            Err(refusal) => {
                results[i] = Some(entry(id, Err(refusal)));
                continue;
            }
        };
        // One lookup per topic per call: a call's messages mostly share one.
        let known = topics
            .iter()
            .find(|(t, _)| *t == m.topic)
            .map(|(_, c)| c.clone());
        let topic = match known {
            Some(t) => t,
            None => match topic_or_create(inner, &m.topic).await {
                Ok(t) => {
                    topics.push((m.topic.clone(), t.clone()));
                    t
                }
                Err(refusal) => {
                    results[i] = Some(entry(id, Err(refusal)));
                    continue;
                }
            },
        };
        if !topic.perm.writable() || topic.write_queues == 0 {
            results[i] = Some(entry(
                id,
                Err((
                    v2::Code::Forbidden,
                    format!("topic {:?} is not writable on this group", m.topic),
                )),
            ));
            continue;
        }
        if inner.conf.held.enable_topic_message_type_check {
            if let Err(refusal) = held::check_topic_type(&m.topic, topic.message_type, sent_as) {
                results[i] = Some(entry(id, Err(refusal)));
                continue;
            }
        }
        m.queue_id %= topic.write_queues;
        batch.push(m);
        slots.push(i);
    }
    // A retried send finds its message stored: answer with that offset.
    let earlier = already_stored(inner, &batch);
    if earlier.iter().any(Option::is_some) {
        let mut fresh = Vec::with_capacity(batch.len());
        let mut fresh_slots = Vec::with_capacity(batch.len());
        for ((m, slot), sent) in batch.into_iter().zip(slots).zip(earlier) {
            match sent {
                Some(sent) => results[slot] = Some(entry(m.message_id, Ok(sent))),
                None => {
                    fresh.push(m);
                    fresh_slots.push(slot);
                }
            }
        }
        (batch, slots) = (fresh, fresh_slots);
    }
    if !batch.is_empty() {
        // This member led when the call began (the call was forwarded
        // otherwise): it writes here only. Had leadership moved since, the
        // client retries with the same ids and the new leader's dedup
        // answers any that were stored.
        match inner.node.write_here(&batch).await {
            Ok(stored) => {
                for ((slot, m), r) in slots.iter().zip(batch).zip(stored) {
                    let sent = Sent {
                        offset: r.queue_offset.0,
                        transaction_id: (m.flags & FLAG_HALF != 0).then_some(HeldId {
                            index: r.index,
                            slot: r.slot,
                        }),
                    };
                    results[*slot] = Some(entry(m.message_id, Ok(sent)));
                }
            }
            Err(e) => {
                let refusal = write_refusal(&e);
                for (slot, m) in slots.iter().zip(batch) {
                    results[*slot] = Some(entry(m.message_id, Err(refusal.clone())));
                }
            }
        }
    }
    let entries: Vec<v2::SendResultEntry> = results.into_iter().flatten().collect();
    let status = cp::overall(entries.iter().map(|e| e.status.as_ref()));
    v2::SendMessageResponse {
        status: Some(status),
        entries,
    }
}

/// What a send's entries say when the write failed: a refusal (nothing
/// stored, the same send fails the same way) with a code the clients do not
/// retry; a lost leadership or an unknown outcome with one they retry, with
/// the same message ids so dedup answers what was stored.
pub(super) fn write_refusal(e: &WriteError) -> Refusal {
    let code = match e {
        WriteError::Refused(raftmq_raft::Refusal::DiskFull { .. }) => v2::Code::PreconditionFailed,
        WriteError::Refused(raftmq_raft::Refusal::TooLarge { .. }) => v2::Code::PayloadTooLarge,
        WriteError::Refused(raftmq_raft::Refusal::Malformed { .. }) => v2::Code::BadRequest,
        WriteError::NotLeader { .. } | WriteError::Stopped | WriteError::Failed { .. } => {
            v2::Code::HaNotAvailable
        }
        WriteError::Unknown { .. } => v2::Code::InternalServerError,
    };
    let message = match e {
        WriteError::Refused(_) => e.to_string(),
        WriteError::NotLeader { .. } => {
            "leadership moved during the send; nothing stored: retry with the same message ids"
                .to_owned()
        }
        e => format!("the write was not confirmed ({e}); retry with the same message id"),
    };
    (code, message)
}
