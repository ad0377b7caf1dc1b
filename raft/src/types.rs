//! The openraft type configuration.

use std::fmt;

use bytes::Bytes;
use raftmq_store::message_store::PutResult;

/// A group member's id: the number in its `dLegerSelfId` (`n0` is 0).
pub type NodeId = u64;

/// What an application entry carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataKind {
    /// A batch of message records laid end to end.
    Messages,
    /// A control command for the state machine.
    Command,
}

/// The payload of a normal Raft entry: a body in the store's record format.
#[derive(Clone, Debug)]
pub struct LogData {
    /// What the body holds.
    pub kind: DataKind,
    /// The body bytes, shared, never re-encoded.
    pub body: Bytes,
    /// The whole commitlog record (header, then `body`), when the entry
    /// was read from a log or received from a peer with its CRC checked:
    /// it is sent and stored as it is, with no header or CRC computed
    /// again. `None` for an entry proposed here.
    pub record: Option<Bytes>,
}

impl LogData {
    /// Data proposed here: no record yet (its header needs the log id).
    pub fn new(kind: DataKind, body: Bytes) -> Self {
        Self {
            kind,
            body,
            record: None,
        }
    }
}

/// Equal when they hold the same data, record or not.
impl PartialEq for LogData {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.body == other.body
    }
}

impl Eq for LogData {}

impl fmt::Display for LogData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({} bytes)", self.kind, self.body.len())
    }
}

/// What applying an entry produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ApplyResult {
    /// A blank or membership entry.
    #[default]
    Nothing,
    /// Where each message of a batch went, in order.
    Stored(Vec<PutResult>),
    /// A command was applied.
    Applied,
}

openraft::declare_raft_types!(
    /// raftmq's Raft types: one leader per term (standard Raft), so a log id
    /// is (term, index), exactly what a commitlog entry header carries.
    pub TypeConfig:
        D = LogData,
        R = ApplyResult,
        NodeId = NodeId,
        Node = openraft::impls::BasicNode,
        Term = u64,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, NodeId>,
);

/// The committed leader id: the term alone.
pub type CommittedLeaderId =
    <openraft::impls::leader_id_std::LeaderId<u64, NodeId> as openraft::vote::RaftLeaderId>::Committed;
/// A log id of this configuration.
pub type LogId = openraft::LogId<CommittedLeaderId>;
/// A vote of this configuration.
pub type Vote = <TypeConfig as openraft::RaftTypeConfig>::Vote;
/// An entry of this configuration.
pub type Entry = <TypeConfig as openraft::RaftTypeConfig>::Entry;
/// A membership of this configuration.
pub type Membership = openraft::Membership<NodeId, openraft::impls::BasicNode>;
/// A stored membership of this configuration.
pub type StoredMembership =
    openraft::StoredMembership<CommittedLeaderId, NodeId, openraft::impls::BasicNode>;

/// Builds a log id.
pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new_term_index(term, index)
}
