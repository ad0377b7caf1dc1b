//! The Telemetry stream: opened once to each endpoint the client uses, it
//! carries the client's `Settings` first and brings back the server's
//! choices (retry policy, max body size, long polling). The first answer is
//! awaited for a bounded time only; a server that never answers costs that
//! bound once per endpoint, not a hang. The readers are tasks of the
//! client's `telemetry` owner.
//!
//! A server may also ask over the stream: a transaction check
//! (`RecoverOrphanedTransactionCommand`) is handed, with the endpoint it
//! came from, to the channel a transactional producer gave
//! ([`Telemetry::hand_orphans_to`]); the reader never waits for it to be
//! answered.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use raftmq_proto::rocketmq::v2;
use raftmq_tasks::Tasks;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use super::checker::Orphan;
use super::link::Links;

/// One open stream: the sender half of its requests and the task reading
/// its answers.
#[derive(Debug)]
struct Session {
    id: u64,
    tx: Option<mpsc::Sender<v2::TelemetryCommand>>,
    /// The reader, awaited by `close` (it is owned by `Telemetry::tasks`).
    task: Option<JoinHandle<()>>,
}

type Sessions = Arc<Mutex<HashMap<String, Session>>>;

/// The Telemetry streams of one client.
#[derive(Debug)]
pub(crate) struct Telemetry {
    settings: Mutex<v2::Settings>,
    sessions: Sessions,
    server: Arc<Mutex<Option<v2::Settings>>>,
    timeout: Duration,
    next_id: AtomicU64,
    /// Where transaction checks go; unset for clients that send none.
    orphans: Arc<OnceLock<mpsc::Sender<Orphan>>>,
    /// The owner of the readers.
    tasks: Tasks,
}

impl Telemetry {
    /// Streams that will carry `settings`, their readers owned by `tasks`.
    pub fn new(settings: v2::Settings, timeout: Duration, tasks: Tasks) -> Self {
        Self {
            tasks,
            settings: Mutex::new(settings),
            sessions: Sessions::default(),
            server: Arc::default(),
            timeout,
            next_id: AtomicU64::new(0),
            orphans: Arc::default(),
        }
    }

    /// Hands the transaction checks servers send, on every stream, to
    /// `tx`. A check that finds `tx` full is dropped: the broker asks again
    /// later. Set once, before the first stream opens; a second call is
    /// refused.
    pub fn hand_orphans_to(&self, tx: mpsc::Sender<Orphan>) -> Result<(), mpsc::Sender<Orphan>> {
        self.orphans.set(tx)
    }

    fn command(&self) -> v2::TelemetryCommand {
        let s = self
            .settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        v2::TelemetryCommand {
            status: None,
            command: Some(v2::telemetry_command::Command::Settings(s)),
        }
    }

    /// The last settings a server answered with.
    pub fn server_settings(&self) -> Option<v2::Settings> {
        self.server
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The largest message body the servers accept, once one has said.
    /// Read on every send: looks, and clones nothing.
    pub fn max_body_size(&self) -> Option<usize> {
        let server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        match server.as_ref()?.pub_sub.as_ref()? {
            v2::settings::PubSub::Publishing(p) if p.max_body_size > 0 => {
                usize::try_from(p.max_body_size).ok()
            }
            _ => None,
        }
    }

    /// Whether a server said this consumer's group is FIFO
    /// (`Subscription.fifo`): its message groups are consumed in order.
    pub fn fifo(&self) -> bool {
        let server = self.server.lock().unwrap_or_else(|e| e.into_inner());
        matches!(
            server.as_ref().and_then(|s| s.pub_sub.as_ref()),
            Some(v2::settings::PubSub::Subscription(sub)) if sub.fifo == Some(true)
        )
    }

    /// The endpoints with a stream.
    pub fn endpoints(&self) -> Vec<String> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        sessions.keys().cloned().collect()
    }

    /// Opens the stream to `addr` unless one is open (or opening), sends
    /// the settings, and waits for the first answer for a bounded time. A
    /// stream that ends (the server went away) is forgotten, so the next
    /// call to that address opens a new one.
    pub async fn ensure(&self, links: &Links, addr: &str) {
        let (tx, rx) = mpsc::channel(8);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if sessions.contains_key(addr) {
                return;
            }
            if tx.try_send(self.command()).is_err() {
                return;
            }
            sessions.insert(
                addr.to_owned(),
                Session {
                    id,
                    tx: Some(tx),
                    task: None,
                },
            );
        }
        let Ok(mut stub) = links.stub(addr) else {
            forget(&self.sessions, addr, id);
            return;
        };
        let request = links.open_request(ReceiverStream::new(rx));
        let (first_tx, first_rx) = oneshot::channel();
        let server = self.server.clone();
        let sessions = self.sessions.clone();
        let orphans = self.orphans.clone();
        let key = addr.to_owned();
        let task = self.tasks.spawn("telemetry reader", async move {
            use v2::telemetry_command::Command;
            let mut first = Some(first_tx);
            if let Ok(response) = stub.telemetry(request).await {
                let mut answers = response.into_inner();
                while let Ok(Some(cmd)) = answers.message().await {
                    match cmd.command {
                        Some(Command::Settings(s)) => {
                            *server.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
                            if let Some(f) = first.take() {
                                let _ = f.send(());
                            }
                        }
                        Some(Command::RecoverOrphanedTransactionCommand(command)) => {
                            if let Some(tx) = orphans.get() {
                                // Full or closed: the broker asks again.
                                let _ = tx.try_send(Orphan {
                                    endpoint: key.clone(),
                                    command,
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            forget(&sessions, &key, id);
        });
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            // Otherwise the reader has already ended: it forgets its
            // session as its last step.
            if let Some(s) = sessions.get_mut(addr).filter(|s| s.id == id) {
                s.task = Some(task);
            }
        }
        let _ = tokio::time::timeout(self.timeout, first_rx).await;
    }

    /// Replaces the settings' pub/sub part and sends them on every open
    /// stream.
    pub fn update_pub_sub(&self, pub_sub: v2::settings::PubSub) {
        self.settings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pub_sub = Some(pub_sub);
        let cmd = self.command();
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        for s in sessions.values() {
            if let Some(tx) = &s.tx {
                let _ = tx.try_send(cmd.clone());
            }
        }
    }

    /// Ends every stream (our side first), waits, bounded, for the readers
    /// to finish, then stops those left.
    pub async fn close(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions
                .values_mut()
                .filter_map(|s| {
                    s.tx = None;
                    s.task.take()
                })
                .collect()
        };
        let ended = futures_util::future::join_all(tasks);
        let _ = tokio::time::timeout(self.timeout, ended).await;
        let _ = self.tasks.stop(self.timeout).await;
    }
}

/// Removes the session of `addr` if it is still session `id`.
fn forget(sessions: &Sessions, addr: &str, id: u64) {
    let mut sessions = sessions.lock().unwrap_or_else(|e| e.into_inner());
    if sessions.get(addr).is_some_and(|s| s.id == id) {
        sessions.remove(addr);
    }
}
