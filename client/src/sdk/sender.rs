//! The sender task of one broker group: it takes every send queued at the
//! moment it can send, coalesces them per queue into SendMessage requests
//! (see [`super::coalesce`]), keeps up to `max_in_flight` requests going,
//! and hands each message's result back to its caller.
//!
//! ```text
//! send() -> mpsc -> [ batcher: any [..] fifo-q1 [..] ] -> SendMessage x <= 3 in flight
//!   caller <- oneshot <- one SendResultEntry per message
//! ```
//!
//! Nothing waits for company: a lone send finds a free slot and goes at
//! once; sends made while requests are in flight go together in the next.
//!
//! The task lives as long as the producer and belongs to the client's
//! tasks: nothing is spawned per send or per request.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use raftmq_proto::rocketmq::v2;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::coalesce::{Batch, Batcher, Pending, QueueKey};
use super::core::ClientCore;
use super::error::{check, Subject};
use super::link::GroupLink;
use super::wire;
use super::ClientError;

/// Where a sent message was stored: its offset, and for a transactional
/// one, the transaction id the broker gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub offset: i64,
    pub transaction_id: String,
}

/// One message handed to the sender, and where its result goes.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub key: QueueKey,
    /// The message id, to match the result entry.
    pub id: String,
    /// The message as encoded on the wire (`Message::encode`).
    pub encoded: Bytes,
    pub ordered: bool,
    pub reply: oneshot::Sender<Result<Stored, ClientError>>,
}

impl Pending for Outgoing {
    fn key(&self) -> &QueueKey {
        &self.key
    }
    fn size(&self) -> usize {
        self.encoded.len()
    }
    fn ordered(&self) -> bool {
        self.ordered
    }
}

/// The handle of one group's sender task.
#[derive(Debug)]
pub(crate) struct GroupSender {
    tx: mpsc::UnboundedSender<Vec<Outgoing>>,
    task: JoinHandle<()>,
}

impl GroupSender {
    /// Starts the sender of `link`'s group, a task of the client's; it
    /// ends when closed or when the client's tasks stop (sends in flight
    /// then fail with `Shutdown`).
    pub fn spawn(core: Arc<ClientCore>, link: Arc<GroupLink>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = core
            .tasks
            .spawn("group sender", run(Arc::clone(&core), link, rx));
        Self { tx, task }
    }

    /// Queues sends, seen together by the task; fails if it has ended.
    pub fn send(&self, outs: Vec<Outgoing>) -> Result<(), ClientError> {
        self.tx.send(outs).map_err(|_| ClientError::Shutdown)
    }

    /// Lets the queued sends finish, then ends the task.
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

async fn run(
    core: Arc<ClientCore>,
    link: Arc<GroupLink>,
    mut rx: mpsc::UnboundedReceiver<Vec<Outgoing>>,
) {
    let limits = core.config.batch;
    let mut batcher: Batcher<Outgoing> = Batcher::new(limits);
    let mut in_flight = FuturesUnordered::new();
    // Sends in the requests in flight.
    let mut sending = 0usize;
    let mut open = true;
    loop {
        while open {
            match rx.try_recv() {
                Ok(outs) => outs.into_iter().for_each(|o| batcher.push(o)),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        while in_flight.len() < limits.max_in_flight {
            // Beside requests in flight, a request takes at most its share
            // of all sends outstanding, so the requests stay about the same
            // size: answered together, a request's callers send again
            // together, and a lopsided pair (255 and 1) would stay so.
            let share = if sending == 0 {
                usize::MAX
            } else {
                (batcher.len() + sending).div_ceil(limits.max_in_flight)
            };
            let Some(batch) = batcher.next_batch_of(share) else {
                break;
            };
            sending += batch.items.len();
            in_flight.push(send_batch(&core, &link, batch));
        }
        if !open && in_flight.is_empty() && batcher.is_empty() {
            return;
        }
        tokio::select! {
            outs = rx.recv(), if open => match outs {
                Some(outs) => outs.into_iter().for_each(|o| batcher.push(o)),
                None => open = false,
            },
            Some((busy, sent)) = in_flight.next(), if !in_flight.is_empty() => {
                batcher.done(&busy);
                sending -= sent;
                // The answer woke its callers; let them run first, so the
                // sends they make next go in the next request together
                // instead of the first of them alone.
                tokio::task::yield_now().await;
            }
            else => {
                for o in batcher.drain() {
                    let _ = o.reply.send(Err(ClientError::Shutdown));
                }
                return;
            }
        }
    }
}

/// Sends one batch and answers its callers; returns the batch's busy
/// (FIFO) keys and how many sends it carried.
async fn send_batch(
    core: &ClientCore,
    link: &GroupLink,
    batch: Batch<Outgoing>,
) -> (Vec<QueueKey>, usize) {
    let topic = Arc::clone(batch.topic());
    let Batch { items, busy, .. } = batch;
    let sent = items.len();
    let mut replies = Vec::with_capacity(items.len());
    let mut messages = Vec::with_capacity(items.len());
    let mut ids = Vec::with_capacity(items.len());
    for o in items {
        replies.push(o.reply);
        messages.push(o.encoded);
        ids.push(o.id);
    }
    let request = Arc::new(wire::EncodedSend { messages });
    let timeout = core.config.request_timeout;
    let response = core
        .call_group(link, "SendMessage", timeout, |channel| {
            let r = core.request(request.clone(), timeout);
            async move {
                wire::send_message(channel, r)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })
        .await;
    let stored = results_with(&topic, &ids, response, |e| Stored {
        offset: e.offset,
        transaction_id: e.transaction_id.clone(),
    });
    for (reply, result) in replies.into_iter().zip(stored) {
        let _ = reply.send(result);
    }
    (busy, sent)
}

/// One result per sent message (by id, else by position), from the answer
/// to a SendMessage of messages `ids`: the offset each was stored at.
#[cfg(test)]
pub(crate) fn results(
    topic: &str,
    ids: &[String],
    response: Result<v2::SendMessageResponse, ClientError>,
) -> Vec<Result<i64, ClientError>> {
    results_with(topic, ids, response, |e| e.offset)
}

/// As [`results`], taking `pick` of each message's OK result entry.
pub(crate) fn results_with<T>(
    topic: &str,
    ids: &[String],
    response: Result<v2::SendMessageResponse, ClientError>,
    pick: impl Fn(&v2::SendResultEntry) -> T,
) -> Vec<Result<T, ClientError>> {
    let all = |e: ClientError| ids.iter().map(|_| Err(e.clone())).collect();
    let resp = match response {
        Ok(r) => r,
        Err(e) => return all(e),
    };
    fn subject<'a>(topic: &'a str, id: &'a str) -> Subject<'a> {
        Subject {
            topic,
            message_id: id,
            ..Subject::default()
        }
    }
    if resp.entries.len() != ids.len() {
        let e = match check("SendMessage", resp.status.as_ref(), subject(topic, "")) {
            Err(e) => e,
            Ok(()) => ClientError::BadResponse {
                call: "SendMessage",
                reason: format!(
                    "{} result entries for {} messages",
                    resp.entries.len(),
                    ids.len()
                ),
            },
        };
        return all(e);
    }
    let in_order = resp
        .entries
        .iter()
        .zip(ids)
        .all(|(e, id)| &e.message_id == id);
    let by_id: HashMap<&str, &v2::SendResultEntry> = if in_order {
        HashMap::new()
    } else {
        resp.entries
            .iter()
            .map(|e| (e.message_id.as_str(), e))
            .collect()
    };
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            let entry = if in_order {
                resp.entries.get(i)
            } else {
                by_id.get(id.as_str()).copied().or(resp.entries.get(i))
            };
            let Some(entry) = entry else {
                return Err(ClientError::BadResponse {
                    call: "SendMessage",
                    reason: format!("no result for message {id}"),
                });
            };
            // An entry without status takes the response's.
            let status = entry.status.as_ref().or(resp.status.as_ref());
            check("SendMessage", status, subject(topic, id)).map(|()| pick(entry))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Option<v2::Status> {
        Some(v2::Status {
            code: v2::Code::Ok as i32,
            message: String::new(),
        })
    }

    fn entry(id: &str, offset: i64, status: Option<v2::Status>) -> v2::SendResultEntry {
        v2::SendResultEntry {
            status,
            message_id: id.into(),
            offset,
            ..Default::default()
        }
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("M{i}")).collect()
    }

    #[test]
    fn each_message_gets_its_entry() {
        let resp = v2::SendMessageResponse {
            status: ok(),
            entries: vec![entry("M0", 10, ok()), entry("M1", 11, ok())],
        };
        let r = results("T", &ids(2), Ok(resp));
        assert_eq!(
            r.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [10, 11]
        );
    }

    #[test]
    fn entries_out_of_order_are_matched_by_id() {
        let resp = v2::SendMessageResponse {
            status: ok(),
            entries: vec![entry("M1", 11, ok()), entry("M0", 10, ok())],
        };
        let r = results("T", &ids(2), Ok(resp));
        assert_eq!(
            r.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            [10, 11]
        );
    }

    #[test]
    fn one_failed_entry_fails_only_its_message() {
        let bad = Some(v2::Status {
            code: v2::Code::MessageBodyTooLarge as i32,
            message: "too big".into(),
        });
        let resp = v2::SendMessageResponse {
            status: Some(v2::Status {
                code: v2::Code::MultipleResults as i32,
                message: String::new(),
            }),
            entries: vec![entry("M0", 10, ok()), entry("M1", 0, bad)],
        };
        let r = results("T", &ids(2), Ok(resp));
        assert_eq!(r[0].as_ref().unwrap(), &10);
        assert!(matches!(
            &r[1],
            Err(ClientError::Broker { code: 41301, .. })
        ));
    }

    #[test]
    fn a_refused_request_fails_every_message() {
        let resp = v2::SendMessageResponse {
            status: Some(v2::Status {
                code: v2::Code::TopicNotFound as i32,
                message: "no".into(),
            }),
            entries: vec![],
        };
        let r = results("T", &ids(3), Ok(resp));
        assert_eq!(r.len(), 3);
        assert!(r
            .iter()
            .all(|x| matches!(x, Err(ClientError::TopicNotFound { topic }) if topic == "T")));
    }

    #[test]
    fn a_wrong_count_of_entries_is_a_bad_response() {
        let resp = v2::SendMessageResponse {
            status: ok(),
            entries: vec![entry("M0", 1, ok())],
        };
        let r = results("T", &ids(2), Ok(resp));
        assert!(r
            .iter()
            .all(|x| matches!(x, Err(ClientError::BadResponse { .. }))));
        let r = results("T", &ids(2), Err(ClientError::Shutdown));
        assert!(r.iter().all(|x| matches!(x, Err(ClientError::Shutdown))));
    }
}
