//! Who owns a background task, and how it ends.
//!
//! ```text
//!   process Tasks ──child──► node Tasks ──child──► session Tasks
//!        │ stop(): cancel the token, then wait (bounded) for every task
//!        ▼         of this owner and of its children; name what is left
//! ```
//!
//! Every task in raftmq's libraries is spawned through a [`Tasks`]: it has a
//! name, it ends when its owner stops (aborted, so dropped at its next
//! await, by [`Tasks::spawn`]; or told through [`Tasks::stopping`] when it
//! must finish by itself, [`Tasks::spawn_graceful`]), and the owner's [`Tasks::stop`]
//! returns once all of them ended or its deadline passed, logging the names
//! of those still running. `tokio::spawn` is refused by clippy in library
//! code (`clippy.toml` at the workspace root).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

/// The owner of a set of tasks: a cancellation token they all watch and a
/// tracker that [`Tasks::stop`] waits on. Cheap to clone; clones are the
/// same owner.
#[derive(Clone)]
pub struct Tasks(Arc<Owner>);

struct Owner {
    name: String,
    token: CancellationToken,
    tracker: TaskTracker,
    /// The tasks still running, by spawn number: their names for the stop
    /// report, and how to abort those that end by abort.
    running: Mutex<BTreeMap<u64, Entry>>,
    next: AtomicU64,
    /// Owners made by [`Tasks::child`], stopped and waited for with this one.
    children: Mutex<Vec<Tasks>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("name", &self.0.name)
            .field("running", &self.0.running.lock().len())
            .field("stopping", &self.0.token.is_cancelled())
            .finish()
    }
}

/// The tasks a bounded [`Tasks::stop`] left running when its deadline
/// passed, each named `owner/task`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished(pub Vec<String>);

impl std::fmt::Display for Unfinished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tasks still running: {}", self.0.join(", "))
    }
}

impl std::error::Error for Unfinished {}

struct Entry {
    name: &'static str,
    abort: Option<AbortHandle>,
}

/// Removes a task from its owner's `running` list however it ends
/// (completion, cancellation, panic).
struct Running {
    owner: Arc<Owner>,
    id: u64,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.owner.running.lock().remove(&self.id);
    }
}

impl Tasks {
    /// A new top-level owner (a process, or a test), named for the logs.
    pub fn new(name: impl Into<String>) -> Self {
        Self::with_token(name.into(), CancellationToken::new())
    }

    fn with_token(name: String, token: CancellationToken) -> Self {
        Self(Arc::new(Owner {
            name,
            token,
            tracker: TaskTracker::new(),
            running: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            children: Mutex::new(Vec::new()),
        }))
    }

    /// An owner under this one: it stops when this one stops (and this
    /// one's [`Tasks::stop`] waits for its tasks too), and it can be
    /// stopped alone first. Children already stopped are forgotten here.
    pub fn child(&self, name: &str) -> Self {
        let child = Self::with_token(
            format!("{}/{name}", self.0.name),
            self.0.token.child_token(),
        );
        let mut children = self.0.children.lock();
        children.retain(|c| !c.0.token.is_cancelled() || !c.0.tracker.is_empty());
        children.push(child.clone());
        child
    }

    /// This owner's name.
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether a stop was asked for (of this owner or of one above it).
    pub fn is_stopping(&self) -> bool {
        self.0.token.is_cancelled()
    }

    /// Resolves once a stop is asked for; for tasks that finish by
    /// themselves ([`Tasks::spawn_graceful`]) and for servers that take a
    /// shutdown future.
    pub fn stopping(&self) -> WaitForCancellationFutureOwned {
        self.0.token.clone().cancelled_owned()
    }

    /// Spawns `fut` as task `name`: it is aborted (dropped at its next
    /// await) once this owner stops; its handle then answers a cancelled
    /// `JoinError`. Costs nothing per poll: the task is not wrapped.
    pub fn spawn<F>(&self, name: &'static str, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (id, handle) = self.spawn_tracked(name, fut);
        if let Some(entry) = self.0.running.lock().get_mut(&id) {
            entry.abort = Some(handle.abort_handle());
        }
        // A stop that ran its abort pass before the entry had its handle.
        if self.is_stopping() {
            handle.abort();
        }
        handle
    }

    /// Spawns `fut` as task `name` and lets it run to its end: it must watch
    /// [`Tasks::stopping`] and finish soon after, or [`Tasks::stop`] reports
    /// it as unfinished.
    pub fn spawn_graceful<F>(&self, name: &'static str, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_tracked(name, fut).1
    }

    fn spawn_tracked<F>(&self, name: &'static str, fut: F) -> (u64, JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed);
        self.0
            .running
            .lock()
            .insert(id, Entry { name, abort: None });
        let running = Running {
            owner: Arc::clone(&self.0),
            id,
        };
        let handle = self.0.tracker.spawn(async move {
            let _running = running;
            fut.await
        });
        (id, handle)
    }

    /// Aborts the tasks of this owner and its children that end by abort.
    fn abort_all(&self) {
        for entry in self.0.running.lock().values() {
            if let Some(abort) = &entry.abort {
                abort.abort();
            }
        }
        let children: Vec<Tasks> = self.0.children.lock().clone();
        for child in &children {
            child.abort_all();
        }
    }

    /// Asks every task of this owner and of its children to stop, without
    /// waiting for them: for `Drop`, where nothing can be awaited.
    /// [`Tasks::stop`] asks the same, then waits.
    pub fn cancel(&self) {
        self.0.token.cancel();
        self.abort_all();
    }

    /// Asks every task of this owner and of its children to stop, then waits
    /// up to `within` for all of them to end. Tasks spawned after the call
    /// are dropped at their first await. On time-out, logs and returns the
    /// names of those still running. Calling it again waits again.
    pub async fn stop(&self, within: Duration) -> Result<(), Unfinished> {
        self.cancel();
        let deadline = tokio::time::Instant::now() + within;
        if tokio::time::timeout_at(deadline, self.wait()).await.is_ok() {
            return Ok(());
        }
        let mut left = Vec::new();
        self.collect_running(&mut left);
        let left = Unfinished(left);
        tracing::warn!(owner = %self.0.name, within = ?within, "stop: {left}");
        Err(left)
    }

    /// Waits until this owner's and its children's tasks have all ended.
    fn wait(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // Tasks cannot be spawned into a closed tracker's count without
            // ending it again; `close` only lets `wait` resolve at zero.
            self.0.tracker.close();
            self.0.tracker.wait().await;
            let children: Vec<Tasks> = self.0.children.lock().clone();
            for child in &children {
                child.wait().await;
            }
        })
    }

    fn collect_running(&self, into: &mut Vec<String>) {
        into.extend(
            self.0
                .running
                .lock()
                .values()
                .map(|task| format!("{}/{}", self.0.name, task.name)),
        );
        for child in self.0.children.lock().iter() {
            child.collect_running(into);
        }
    }

    /// How many tasks of this owner (not its children) are running.
    pub fn running(&self) -> usize {
        self.0.running.lock().len()
    }
}

#[cfg(test)]
mod tests;
