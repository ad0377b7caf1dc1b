//! One broker group as the registry sees it: its members, which of them
//! leads, its topic table and its permission.
//!
//! The leader is computed from what the members last reported, never stored,
//! so it cannot disagree with them: the member that claims leadership in the
//! highest term, where a claim counts until another member reports a higher
//! term *after* it (Raft makes a leader step down when it sees a higher term,
//! so such a claim is stale). Equal terms go to the most recent heartbeat,
//! then to the lower member id, so the answer never depends on map order.

use raftmq_model::TopicName;
use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::model::{
    BrokerId, ClusterName, DataVersion, MemberId, Millis, Perm, Role, Term, TopicConfig,
};
use crate::registration::BrokerStats;

/// One member of a group, as it last registered.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its id (`dLegerSelfId` number).
    pub id: MemberId,
    /// Where clients reach it.
    pub client_addr: String,
    /// Where its peers reach it for Raft.
    pub raft_addr: String,
    /// The role it reported.
    pub role: Role,
    /// The term it reported.
    pub term: Term,
    /// The latest time it registered or heartbeated.
    pub last_heartbeat: Millis,
    /// Its topic table version.
    pub data_version: DataVersion,
    /// The `brokerPermission` it reported (before any `wipeWritePerm`).
    pub perm: Perm,
    /// Its figures for `clusterList`.
    pub stats: BrokerStats,
    /// `Some(defaultTopicQueueNums)` when it creates topics on first send.
    pub auto_create_queues: Option<u32>,
    /// Whether it checks message types (`enableTopicMessageTypeCheck`).
    pub check_message_type: bool,
}

/// Whose topic table a group's routes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicSource {
    /// The table came from the member that led the group when it registered.
    Leader(MemberId, DataVersion),
    /// No leader has registered yet: a follower's table stands in until one
    /// does. Topic tables are Raft state, so a follower's is at worst behind.
    Follower(MemberId, DataVersion),
}

/// A broker group (`brokerName`) and what the registry knows about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub(crate) cluster: ClusterName,
    pub(crate) members: BTreeMap<MemberId, Member>,
    pub(crate) topics: BTreeMap<TopicName, TopicConfig>,
    pub(crate) topic_source: Option<TopicSource>,
    pub(crate) perm: Perm,
    pub(crate) write_wiped: bool,
}

impl Group {
    pub(crate) fn new(cluster: ClusterName, perm: Perm) -> Group {
        Group {
            cluster,
            members: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_source: None,
            perm,
            write_wiped: false,
        }
    }

    /// The cluster the group belongs to.
    pub fn cluster(&self) -> &ClusterName {
        &self.cluster
    }

    /// Its members, by member id.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// One member.
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// The topic table its routes use (see [`TopicSource`]).
    pub fn topics(&self) -> &BTreeMap<TopicName, TopicConfig> {
        &self.topics
    }

    /// Where the topic table came from; `None` until a member registered.
    pub fn topic_source(&self) -> Option<TopicSource> {
        self.topic_source
    }

    /// Whether `wipeWritePerm` is in force for the group.
    pub fn write_wiped(&self) -> bool {
        self.write_wiped
    }

    /// The group's permission: what its leader last reported (kept through
    /// elections), without write while `wipeWritePerm` is in force.
    pub fn perm(&self) -> Perm {
        self.effective(self.perm)
    }

    /// A member's permission as shown: what it reported, without write while
    /// `wipeWritePerm` is in force.
    pub fn member_perm(&self, member: &Member) -> Perm {
        self.effective(member.perm)
    }

    fn effective(&self, perm: Perm) -> Perm {
        if self.write_wiped {
            perm.without_write()
        } else {
            perm
        }
    }

    /// The member whose settings stand for the group's: its leader, or
    /// while none stands its first member.
    pub fn deciding_member(&self) -> Option<&Member> {
        self.leader().or_else(|| self.members.values().next())
    }

    /// Whether the group checks message types, as its deciding member
    /// reported (members of one group share their conf).
    pub fn checks_message_type(&self) -> bool {
        self.deciding_member().is_some_and(|m| m.check_message_type)
    }

    /// The member that leads the group, if any claim stands (see the module
    /// docs for the rule).
    pub fn leader(&self) -> Option<&Member> {
        self.members
            .values()
            .filter(|c| c.role == Role::Leader && !self.superseded(c))
            .max_by_key(|c| (c.term, c.last_heartbeat, Reverse(c.id)))
    }

    /// The leader's id.
    pub fn leader_id(&self) -> Option<MemberId> {
        self.leader().map(|m| m.id)
    }

    /// A claim is stale once another member reported a higher term later.
    fn superseded(&self, claim: &Member) -> bool {
        self.members
            .values()
            .any(|m| m.term > claim.term && m.last_heartbeat > claim.last_heartbeat)
    }

    /// The BID of a member: 0 for the leader, member id + 1 otherwise.
    pub fn bid(&self, id: MemberId) -> BrokerId {
        if self.leader_id() == Some(id) {
            BrokerId::LEADER
        } else {
            // Registration refuses u64::MAX, so this never saturates.
            BrokerId(id.0.saturating_add(1))
        }
    }

    /// Members with their BIDs, sorted by BID: the leader (if any) first,
    /// then the others by member id.
    pub fn members_by_bid(&self) -> Vec<(BrokerId, &Member)> {
        let leader = self.leader_id();
        let mut out: Vec<(BrokerId, &Member)> = self
            .members
            .values()
            .map(|m| {
                let bid = if Some(m.id) == leader {
                    BrokerId::LEADER
                } else {
                    BrokerId(m.id.0.saturating_add(1))
                };
                (bid, m)
            })
            .collect();
        out.sort_by_key(|(bid, _)| *bid);
        out
    }
}
