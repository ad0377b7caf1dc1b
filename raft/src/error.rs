//! The raft crate's errors: why a write failed, and why a member would not
//! start. Callers match on the cause; nothing here is decided from text.

use std::sync::Arc;

use crate::types::NodeId;

/// Why a write failed. Says whether the write may have been stored, so the
/// caller knows whether a retry can store it twice.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WriteError {
    /// This member does not lead; send to `leader` (when known). Nothing
    /// was stored.
    #[error("not the leader; the leader is {}", leader.map_or("not known".into(), |l| format!("n{l}")))]
    NotLeader {
        /// The leader, if this member knows it.
        leader: Option<NodeId>,
    },
    /// Refused before it was proposed: nothing stored, and the same write
    /// fails the same way until the cause is fixed.
    #[error("refused, nothing stored: {0}")]
    Refused(#[from] Refusal),
    /// The write may or may not have been stored (the leader changed while
    /// it had it, or a store error); a retry may store it twice.
    #[error("write outcome unknown: {reason}")]
    Unknown {
        /// What happened.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
    /// The member is stopping; nothing was stored.
    #[error("the member is stopping")]
    Stopped,
    /// This member's Raft stopped by itself (a storage error): it serves no
    /// write until restarted. Nothing was stored.
    #[error("this member's Raft stopped ({why}); restart the broker")]
    Failed {
        /// Why it stopped.
        why: String,
    },
}

impl WriteError {
    /// An unknown outcome with a cause.
    pub fn unknown(
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Unknown {
            reason: reason.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// An unknown outcome described in words only.
    pub fn unknown_because(reason: impl Into<String>) -> Self {
        Self::Unknown {
            reason: reason.into(),
            source: None,
        }
    }

    /// Whether the write certainly was not stored, so that sending it again
    /// (here or to another member) cannot duplicate it.
    pub fn nothing_stored(&self) -> bool {
        !matches!(self, Self::Unknown { .. })
    }
}

/// Why a write was refused before it was proposed.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// The disk under the commitlog is too full (`diskSpaceWarningLevelRatio`)
    /// or could not give the blocks a write needs. `detail` names the disk.
    #[error("{detail}")]
    DiskFull {
        /// The store's account: "disk full: ", the disk's path and figures,
        /// and what to do.
        detail: String,
    },
    /// The write is larger than one log entry can be.
    #[error("a batch of {size} bytes does not fit in a commitlog segment (at most {max} bytes); send smaller batches or raise mappedFileSizeCommitLog")]
    TooLarge {
        /// The write's size.
        size: usize,
        /// The most an entry may hold.
        max: u64,
    },
    /// The write is malformed: it would fail to apply on every member.
    #[error("malformed write: {what}")]
    Malformed {
        /// What is wrong with it.
        what: String,
    },
}

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// This member is not among the group's peers.
    #[error("self id n{id} is not one of the peers {}", peers.iter().map(|p| format!("n{p}")).collect::<Vec<_>>().join(", "))]
    NotAPeer {
        /// `dLegerSelfId`.
        id: NodeId,
        /// The members of `dLegerPeers`.
        peers: Vec<NodeId>,
    },
    /// openraft found the configuration invalid (timing, say).
    #[error("invalid Raft configuration: {source}")]
    Config {
        /// openraft's account of what is wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store would not open.
    #[error(transparent)]
    Store(#[from] raftmq_store::StoreError),
    /// An I/O error (Raft files, the listening socket).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// openraft stopped while starting: it could not write its first
    /// entries (a full or failing disk).
    #[error("raft stopped while {while_doing}: {reason}")]
    Raft {
        /// What the member was doing.
        while_doing: &'static str,
        /// openraft's account of it.
        reason: String,
    },
}
