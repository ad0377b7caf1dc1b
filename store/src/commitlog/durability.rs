//! Group commit: many appenders wait for durability, one of them fsyncs for
//! all (leader/follower, no extra thread), and everyone whose bytes that fsync
//! covered returns. An fsync failure poisons the log for good: the pages may
//! be lost while the kernel reports them clean, so nothing can be promised
//! after it.

use parking_lot::{Condvar, Mutex};

use crate::error::{Result, StoreError};

#[derive(Debug)]
struct State {
    durable_pos: u64,
    durable_next_index: u64,
    flushing: bool,
    poisoned: Option<String>,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Durability {
    state: Mutex<State>,
    done: Condvar,
}

impl Durability {
    pub(super) fn new(durable_pos: u64, durable_next_index: u64) -> Self {
        Self {
            state: Mutex::new(State {
                durable_pos,
                durable_next_index,
                flushing: false,
                poisoned: None,
            }),
            done: Condvar::new(),
        }
    }

    pub(super) fn durable(&self) -> (u64, u64) {
        let s = self.state.lock();
        (s.durable_pos, s.durable_next_index)
    }

    pub(super) fn check_poisoned(&self) -> Result<()> {
        match &self.state.lock().poisoned {
            Some(why) => Err(StoreError::Poisoned(why.clone())),
            None => Ok(()),
        }
    }

    pub(super) fn poison(&self, why: String) {
        let mut s = self.state.lock();
        s.poisoned.get_or_insert(why);
        self.done.notify_all();
    }

    /// Lowers the durable point after a truncation.
    pub(super) fn lower_to(&self, pos: u64, next_index: u64) {
        let mut s = self.state.lock();
        if s.durable_pos > pos {
            s.durable_pos = pos;
            s.durable_next_index = next_index;
        }
    }

    /// Waits until `pos` is durable; `flush` syncs everything written and
    /// returns the new durable point.
    pub(super) fn sync_to(&self, pos: u64, flush: impl Fn() -> Result<(u64, u64)>) -> Result<()> {
        let mut s = self.state.lock();
        loop {
            if let Some(why) = &s.poisoned {
                return Err(StoreError::Poisoned(why.clone()));
            }
            if s.durable_pos >= pos {
                return Ok(());
            }
            if s.flushing {
                self.done.wait(&mut s);
                continue;
            }
            s.flushing = true;
            let outcome = parking_lot::MutexGuard::unlocked(&mut s, &flush);
            s.flushing = false;
            match outcome {
                Ok((p, i)) => {
                    if p > s.durable_pos {
                        s.durable_pos = p;
                        s.durable_next_index = i;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "fsync failed; the store stops accepting writes");
                    s.poisoned.get_or_insert(e.to_string());
                    self.done.notify_all();
                    return Err(e);
                }
            }
            self.done.notify_all();
            if s.durable_pos < pos {
                // Our own flush covered everything written: `pos` is past it.
                return Err(StoreError::SyncPastEnd {
                    pos,
                    end: s.durable_pos,
                });
            }
        }
    }
}

impl Durability {
    /// Sets the durable point after the log was emptied and restarted.
    pub(super) fn reset(&self, pos: u64, next_index: u64) {
        let mut s = self.state.lock();
        s.durable_pos = pos;
        s.durable_next_index = next_index;
    }
}
