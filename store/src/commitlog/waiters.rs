//! Durability notifications for SYNC_FLUSH: appenders register "tell me
//! when position P is on disk" and go on (an async task awaits, a thread
//! blocks); one flusher thread takes every request queued, syncs once to the
//! furthest, and answers them all. The fsync is shared by everyone who asked
//! while the previous one ran, which is group commit without a leader
//! election among the appenders and without waking threads that have
//! nothing to do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::CommitLog;
use crate::error::StoreError;

/// Called once with the outcome: Ok when the position is durable.
pub type DurableCallback = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

pub(super) struct Waiters {
    queue: Mutex<Queue>,
    ready: Condvar,
}

struct Queue {
    waiting: Vec<(u64, DurableCallback)>,
    /// No flusher serves the queue any more: callers sync themselves.
    unserved: bool,
}

impl Default for Waiters {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                // Until a flusher starts, callers sync themselves.
                unserved: true,
            }),
            ready: Condvar::new(),
        }
    }
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiters")
            .field("queued", &self.queue.lock().waiting.len())
            .finish()
    }
}

impl CommitLog {
    /// Calls `done` once every byte before `pos` is durable (SYNC_FLUSH), or
    /// with the error that made that impossible. Needs a thread running
    /// [`CommitLog::serve_durable_waiters`].
    pub fn when_durable(&self, pos: u64, done: DurableCallback) {
        if self.durable().0 >= pos {
            done(Ok(()));
            return;
        }
        let mut q = self.waiters.queue.lock();
        if q.unserved {
            drop(q);
            done(self.sync_to(pos));
            return;
        }
        q.waiting.push((pos, done));
        drop(q);
        self.waiters.ready.notify_one();
    }

    /// The flusher loop: serves durability requests until `stop` is set, then
    /// serves what is left and returns.
    pub fn serve_durable_waiters(&self, stop: &AtomicBool) {
        loop {
            let batch = {
                let mut q = self.waiters.queue.lock();
                q.unserved = false;
                while q.waiting.is_empty() && !stop.load(Ordering::Acquire) {
                    self.waiters
                        .ready
                        .wait_for(&mut q, Duration::from_millis(100));
                }
                if q.waiting.is_empty() {
                    q.unserved = true;
                    return;
                }
                std::mem::take(&mut q.waiting)
            };
            let target = batch.iter().map(|(p, _)| *p).max().unwrap_or(0);
            let outcome = self.sync_to(target).map_err(|e| e.to_string());
            for (_, done) in batch {
                done(outcome.clone().map_err(StoreError::Poisoned));
            }
        }
    }

    /// Wakes the flusher loop so it notices `stop`.
    pub fn wake_durable_waiters(&self) {
        self.waiters.ready.notify_all();
    }
}
