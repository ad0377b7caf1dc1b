//! The enders of a transactional producer: one task per broker group that
//! gathers the ends of concurrent transactions into raftmq's
//! `EndTransactions` calls (`raftmq.client.v1.ClientExtensions`), as the
//! group sender gathers sends. A group that answers UNIMPLEMENTED (a server
//! without raftmq's additions) gets each end as its own v2 EndTransaction,
//! from then on.
//!
//! ```text
//! commit() / rollback() -> mpsc -> [ waiting ends ] -> EndTransactions x <= max_in_flight
//!   caller <- oneshot <- its own answer (one per end, in order)
//! ```
//!
//! Nothing waits for company: a lone end goes at once; ends made while
//! calls are in flight go together in the next. Retries are the caller's
//! (each attempt is queued again), so an end is retried the same way
//! whichever call carried it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::stream::{FuturesUnordered, StreamExt};
use raftmq_proto::client::v1 as ext;
use raftmq_proto::client::v1::client_extensions_client::ClientExtensionsClient;
use raftmq_proto::rocketmq::v2;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::core::ClientCore;
use super::end_transaction::{answer, end_once, Ending};
use super::link::GroupLink;
use super::ClientError;

/// Ends in one EndTransactions call at most (the broker takes 4096).
const MAX_ENDS: usize = 1024;

type Reply = oneshot::Sender<Result<(), ClientError>>;

/// The enders of one producer, by broker group; started on first use.
#[derive(Debug)]
pub(crate) struct Enders(Mutex<Option<HashMap<String, GroupEnder>>>);

impl Enders {
    pub fn new() -> Self {
        Self(Mutex::new(Some(HashMap::new())))
    }

    /// One attempt to end a transaction of `broker`'s group.
    pub async fn end(
        &self,
        core: &Arc<ClientCore>,
        broker: &str,
        ending: Ending,
    ) -> Result<(), ClientError> {
        let (reply, rx) = oneshot::channel();
        {
            let mut enders = self.0.lock().unwrap_or_else(|e| e.into_inner());
            let Some(enders) = enders.as_mut() else {
                return Err(ClientError::Shutdown);
            };
            let ender = match enders.get(broker) {
                Some(e) => e,
                None => {
                    let link = core.group_link(broker)?;
                    let e = GroupEnder::spawn(Arc::clone(core), link);
                    enders.entry(broker.to_owned()).or_insert(e)
                }
            };
            ender
                .tx
                .send((ending, reply))
                .map_err(|_| ClientError::Shutdown)?;
        }
        rx.await.unwrap_or(Err(ClientError::Shutdown))
    }

    /// Lets the ends queued finish, then stops the tasks; later ends fail
    /// with `Shutdown`.
    pub async fn close(&self) {
        let enders = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        for (_, e) in enders.into_iter().flatten() {
            drop(e.tx);
            let _ = e.task.await;
        }
    }
}

/// The handle of one group's ender task.
#[derive(Debug)]
pub(crate) struct GroupEnder {
    tx: mpsc::UnboundedSender<(Ending, Reply)>,
    task: JoinHandle<()>,
}

impl GroupEnder {
    fn spawn(core: Arc<ClientCore>, link: Arc<GroupLink>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = core
            .tasks
            .spawn("group ender", run(Arc::clone(&core), link, rx));
        Self { tx, task }
    }
}

async fn run(
    core: Arc<ClientCore>,
    link: Arc<GroupLink>,
    mut rx: mpsc::UnboundedReceiver<(Ending, Reply)>,
) {
    let max_in_flight = core.config.batch.max_in_flight.max(1);
    // Whether the group serves EndTransactions (until it says it does not).
    let extended = AtomicBool::new(true);
    let mut waiting: VecDeque<(Ending, Reply)> = VecDeque::new();
    let mut in_flight = FuturesUnordered::new();
    let mut ending = 0usize;
    let mut open = true;
    loop {
        while open {
            match rx.try_recv() {
                Ok(e) => waiting.push_back(e),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        while in_flight.len() < max_in_flight && !waiting.is_empty() {
            // Beside calls in flight, a call takes its share of all ends
            // outstanding, so calls stay about the same size (as sends do).
            let share = if ending == 0 {
                MAX_ENDS
            } else {
                (waiting.len() + ending)
                    .div_ceil(max_in_flight)
                    .clamp(1, MAX_ENDS)
            };
            let batch: Vec<_> = waiting.drain(..share.min(waiting.len())).collect();
            ending += batch.len();
            in_flight.push(end_batch(&core, &link, &extended, batch));
        }
        if !open && in_flight.is_empty() && waiting.is_empty() {
            return;
        }
        tokio::select! {
            e = rx.recv(), if open => match e {
                Some(e) => waiting.push_back(e),
                None => open = false,
            },
            Some(n) = in_flight.next(), if !in_flight.is_empty() => {
                ending -= n;
                // Let the callers just answered run first, so their next
                // ends go together.
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Ends a batch (one EndTransactions call, or v2 calls where the group
/// has no extensions) and answers each caller; returns the batch's size.
async fn end_batch(
    core: &ClientCore,
    link: &GroupLink,
    extended: &AtomicBool,
    batch: Vec<(Ending, Reply)>,
) -> usize {
    let n = batch.len();
    if extended.load(Ordering::Relaxed) {
        match end_together(core, link, &batch).await {
            Err(ClientError::Rpc {
                code: tonic::Code::Unimplemented,
                ..
            }) => extended.store(false, Ordering::Relaxed),
            Ok(answers) => {
                for ((_, reply), a) in batch.into_iter().zip(answers) {
                    let _ = reply.send(a);
                }
                return n;
            }
            Err(e) => {
                for (_, reply) in batch {
                    let _ = reply.send(Err(e.clone()));
                }
                return n;
            }
        }
    }
    let ends = batch.into_iter().map(|(ending, reply)| async move {
        let _ = reply.send(end_once(core, link, &ending).await);
    });
    futures_util::future::join_all(ends).await;
    n
}

/// One EndTransactions call for `batch`: each end's answer, in order.
async fn end_together(
    core: &ClientCore,
    link: &GroupLink,
    batch: &[(Ending, Reply)],
) -> Result<Vec<Result<(), ClientError>>, ClientError> {
    let request = ext::EndTransactionsRequest {
        ends: batch
            .iter()
            .map(|(e, _)| ext::TransactionEnd::from(e))
            .collect(),
    };
    let timeout = core.config.request_timeout;
    let resp = core
        .call_group(link, "EndTransactions", timeout, |channel| {
            let r = core.request(request.clone(), timeout);
            async move {
                ClientExtensionsClient::new(channel)
                    .end_transactions(r)
                    .await
                    .map(tonic::Response::into_inner)
            }
        })
        .await?;
    if resp.answers.len() != batch.len() {
        return Err(ClientError::BadResponse {
            call: "EndTransactions",
            reason: format!(
                "{} answers for {} transactions",
                resp.answers.len(),
                batch.len()
            ),
        });
    }
    Ok(batch
        .iter()
        .zip(resp.answers)
        .map(|((ending, _), a)| {
            let status = v2::EndTransactionResponse {
                status: Some(v2::Status {
                    code: a.code,
                    message: a.message,
                }),
            };
            answer(ending, &status)
        })
        .collect())
}

impl From<&Ending> for ext::TransactionEnd {
    fn from(e: &Ending) -> Self {
        // raftmq.client.v1's enums number as v2's do.
        Self {
            topic: e.topic.clone(),
            message_id: e.message_id.clone(),
            transaction_id: e.transaction_id.clone(),
            resolution: v2::TransactionResolution::from(e.decision) as i32,
            source: e.source as i32,
        }
    }
}
