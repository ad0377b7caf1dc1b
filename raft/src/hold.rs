//! Knowing when openraft has let go of a member's store.
//!
//! openraft keeps the log store and the state machine in tasks of its own
//! (the state-machine worker outlives `Raft::shutdown` by a moment). Each
//! carries a [`StoreHold`]; the member's stop waits on [`Released`] until
//! every hold is dropped, so a restart never opens a store that a task of
//! the previous run may still write to.

use std::time::Duration;

use tokio::sync::mpsc;

/// A hold on a member's store. Cheap to clone; the store counts as released
/// once every clone is dropped.
#[derive(Clone, Debug)]
pub struct StoreHold(#[allow(dead_code)] mpsc::Sender<()>);

/// Resolves when every [`StoreHold`] is gone.
#[derive(Debug)]
pub struct Released(mpsc::Receiver<()>);

/// A new hold and the means to wait for its release.
pub fn hold() -> (StoreHold, Released) {
    let (tx, rx) = mpsc::channel(1);
    (StoreHold(tx), Released(rx))
}

impl Released {
    /// Waits until every hold is dropped, at most `within`; whether they
    /// were.
    pub async fn wait(mut self, within: Duration) -> bool {
        // Nothing is ever sent: `recv` answers `None` once all senders are gone.
        tokio::time::timeout(within, self.0.recv()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_clone_still_held_keeps_the_store() {
        let (a, released) = hold();
        let _b = a.clone();
        drop(a);
        assert!(!released.wait(Duration::from_millis(50)).await);
    }

    #[tokio::test]
    async fn released_once_every_clone_is_dropped() {
        let (a, released) = hold();
        let b = a.clone();
        drop(a);
        drop(b);
        assert!(released.wait(Duration::from_secs(1)).await);
    }
}
