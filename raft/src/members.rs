//! The group's address book: where each member's Raft port is (the log's
//! membership, set from `dLegerPeers` when the group formed) and where its
//! clients reach it (asked of the member itself over its Raft port). Every
//! forwarded call, a write over the Raft port or a client call to the
//! leader's client port, finds its target here, and nowhere else.

use std::collections::BTreeMap;
use std::time::Duration;

use openraft::type_config::async_runtime::WatchReceiver;
use openraft::Raft;
use parking_lot::Mutex;
use raftmq_proto::raft::v1 as pb;

use crate::channels::{never_sent, Channels};
use crate::partition::Partition;
use crate::state_machine::StateMachine;
use crate::types::{NodeId, TypeConfig};

/// How long asking a member for its client address may take.
const DESCRIBE_WAIT: Duration = Duration::from_secs(1);

/// Why a member's client address is not known.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    /// The member is not in the group's membership.
    #[error("n{0} is not a member of this group")]
    NotAMember(NodeId),
    /// The member could not be asked (down, cut off, or too slow).
    #[error("n{id} did not say where its clients reach it: {reason}")]
    Unreachable {
        /// The member.
        id: NodeId,
        /// What went wrong.
        reason: String,
    },
    /// The member serves no clients (a bare Raft member).
    #[error("n{0} serves no clients")]
    NoClientPort(NodeId),
}

/// One member's address book.
#[derive(Clone)]
pub(crate) struct Members {
    me: NodeId,
    my_client_addr: Option<String>,
    raft: Raft<TypeConfig, StateMachine>,
    channels: Channels,
    partition: Partition,
    /// Client addresses learnt, by member, with the Raft address they were
    /// learnt from (a member that moved is asked again).
    learnt: std::sync::Arc<Mutex<BTreeMap<NodeId, (String, String)>>>,
}

impl std::fmt::Debug for Members {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Members")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Members {
    pub(crate) fn new(
        me: NodeId,
        my_client_addr: Option<String>,
        raft: Raft<TypeConfig, StateMachine>,
        channels: Channels,
        partition: Partition,
    ) -> Self {
        Self {
            me,
            my_client_addr,
            raft,
            channels,
            partition,
            learnt: Default::default(),
        }
    }

    /// This member's id.
    pub(crate) fn me(&self) -> NodeId {
        self.me
    }

    /// The channels to the members' Raft ports.
    pub(crate) fn channels(&self) -> &Channels {
        &self.channels
    }

    /// The test partition in force.
    pub(crate) fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Every member and its Raft address, as the log's membership has them.
    pub(crate) fn raft_addrs(&self) -> BTreeMap<NodeId, String> {
        self.raft
            .server_metrics()
            .borrow_watched()
            .membership_config
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect()
    }

    /// The Raft address of `id`.
    pub(crate) fn raft_addr(&self, id: NodeId) -> Option<String> {
        self.raft
            .server_metrics()
            .borrow_watched()
            .membership_config
            .get_node(&id)
            .map(|n| n.addr.clone())
    }

    /// Where the clients of member `id` reach it: this member's own from its
    /// configuration; another's as that member told, asked once and kept
    /// while its Raft address stays the same.
    pub(crate) async fn client_addr(&self, id: NodeId) -> Result<String, AddressError> {
        if id == self.me {
            return self
                .my_client_addr
                .clone()
                .ok_or(AddressError::NoClientPort(id));
        }
        let raft_addr = self.raft_addr(id).ok_or(AddressError::NotAMember(id))?;
        if let Some((from, client)) = self.learnt.lock().get(&id) {
            if *from == raft_addr {
                return Ok(client.clone());
            }
        }
        let unreachable = |reason: String| AddressError::Unreachable { id, reason };
        if self.partition.is_cut(self.me, id) {
            return Err(unreachable("cut off by a test partition".into()));
        }
        let mut client = self
            .channels
            .client_for(&raft_addr)
            .map_err(|e| unreachable(e.to_string()))?;
        let mut request = tonic::Request::new(pb::DescribeRequest {});
        request.set_timeout(DESCRIBE_WAIT);
        let described = client.describe(request).await.map_err(|s| {
            let why = if never_sent(&s) {
                "not reachable"
            } else {
                "no answer"
            };
            unreachable(format!("{why} at {raft_addr}: {}", s.message()))
        })?;
        let described = described.into_inner();
        if described.id != id {
            return Err(unreachable(format!(
                "{raft_addr} answers as n{}, not n{id}: check dLegerPeers",
                described.id
            )));
        }
        if described.client_addr.is_empty() {
            return Err(AddressError::NoClientPort(id));
        }
        self.learnt
            .lock()
            .insert(id, (raft_addr, described.client_addr.clone()));
        Ok(described.client_addr)
    }

    /// Forgets what `id` said of its client address (a call to it failed to
    /// connect: it may have restarted elsewhere).
    pub(crate) fn forget_client_addr(&self, id: NodeId) {
        self.learnt.lock().remove(&id);
    }
}
