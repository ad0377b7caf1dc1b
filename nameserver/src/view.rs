//! The read side of the registry: `clusterList` rows, topic routes, topic
//! and cluster listings. Every answer is sorted, so two nameservers holding
//! the same registrations answer byte for byte the same.

use std::collections::{BTreeMap, BTreeSet};

use crate::group::{Group, Member};
use crate::model::{
    BrokerId, BrokerName, ClusterName, DataVersion, MemberId, Millis, Perm, Role, Term,
    TopicMessageType,
};
use crate::registration::BrokerStats;
use crate::registry::Registry;

/// One row of `mqadmin clusterList`: one group member.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterRow {
    /// `#Cluster Name`.
    pub cluster: ClusterName,
    /// `#Broker Name`.
    pub group: BrokerName,
    /// `#BID`: 0 for the leader, member id + 1 otherwise.
    pub bid: BrokerId,
    /// The member id behind the BID.
    pub member: MemberId,
    /// `#Addr`: the client address.
    pub addr: String,
    /// The Raft address.
    pub raft_addr: String,
    /// The role the member reported.
    pub role: Role,
    /// The term the member reported.
    pub term: Term,
    /// Its permission, without write while `wipeWritePerm` is in force.
    pub perm: Perm,
    /// Its topic table version.
    pub data_version: DataVersion,
    /// When it last registered or heartbeated.
    pub last_heartbeat: Millis,
    /// `#Version`, `#InTPS`, `#OutTPS`, `#Timer`, `#PCWait`, `#Hour`,
    /// `#SPACE`, `#ACTIVATED` as the broker reported them.
    pub stats: BrokerStats,
}

/// Where a topic lives: every group that serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicRoute {
    /// The topic.
    pub topic: String,
    /// The groups that have it, by group name.
    pub groups: Vec<GroupRoute>,
}

/// A topic on one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRoute {
    /// The group's cluster.
    pub cluster: ClusterName,
    /// The group.
    pub group: BrokerName,
    /// Queues consumers read from.
    pub read_queues: u32,
    /// Queues producers write to.
    pub write_queues: u32,
    /// The topic's permission on the group, intersected with the group's.
    pub perm: Perm,
    /// The group's leader, if one stands.
    pub leader: Option<MemberId>,
    /// The members, leader first, then the others by member id.
    pub members: Vec<RouteMember>,
    /// The topic's `message.type` on the group.
    pub message_type: TopicMessageType,
    /// Whether the group checks message types: with `message_type`, what
    /// its queues accept ([`TopicMessageType::accepted`]).
    pub check_message_type: bool,
}

impl GroupRoute {
    /// The message types the group's queues of the topic accept.
    pub fn accepted(&self) -> &'static [TopicMessageType] {
        self.message_type.accepted(self.check_message_type)
    }
}

/// A group member in a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMember {
    /// Its BID (0 for the leader).
    pub bid: BrokerId,
    /// Its member id.
    pub id: MemberId,
    /// Where clients reach it.
    pub client_addr: String,
    /// Where its peers reach it for Raft.
    pub raft_addr: String,
    /// The role it reported.
    pub role: Role,
}

impl Registry {
    /// One group.
    pub fn group(&self, group: &BrokerName) -> Option<&Group> {
        self.groups.get(group)
    }

    /// Every group, by name.
    pub fn groups(&self) -> impl Iterator<Item = (&BrokerName, &Group)> {
        self.groups.iter()
    }

    /// The group's leader, if one stands (see [`Group::leader`]).
    pub fn leader_of(&self, group: &BrokerName) -> Option<&Member> {
        self.groups.get(group)?.leader()
    }

    /// Clusters and their groups.
    pub fn clusters(&self) -> BTreeMap<ClusterName, BTreeSet<BrokerName>> {
        let mut out: BTreeMap<ClusterName, BTreeSet<BrokerName>> = BTreeMap::new();
        for (name, g) in &self.groups {
            out.entry(g.cluster.clone())
                .or_default()
                .insert(name.clone());
        }
        out
    }

    /// `clusterList`: one row per member, sorted by cluster, group and BID.
    pub fn cluster_list(&self) -> Vec<ClusterRow> {
        let mut rows: Vec<ClusterRow> = self
            .groups
            .iter()
            .flat_map(|(name, g)| {
                g.members_by_bid()
                    .into_iter()
                    .map(move |(bid, m)| ClusterRow {
                        cluster: g.cluster.clone(),
                        group: name.clone(),
                        bid,
                        member: m.id,
                        addr: m.client_addr.clone(),
                        raft_addr: m.raft_addr.clone(),
                        role: m.role,
                        term: m.term,
                        perm: g.member_perm(m),
                        data_version: m.data_version,
                        last_heartbeat: m.last_heartbeat,
                        stats: m.stats.clone(),
                    })
            })
            .collect();
        // Groups are already in name order; clusters interleave.
        rows.sort_by(|a, b| (&a.cluster, &a.group, a.bid).cmp(&(&b.cluster, &b.group, b.bid)));
        rows
    }

    /// Where `topic` lives, or `None` if no group has it.
    pub fn topic_route(&self, topic: &str) -> Option<TopicRoute> {
        let groups: Vec<GroupRoute> = self
            .groups
            .iter()
            .filter_map(|(name, g)| {
                let t = g.topics().get(topic)?;
                Some(GroupRoute {
                    cluster: g.cluster.clone(),
                    group: name.clone(),
                    read_queues: t.read_queues,
                    write_queues: t.write_queues,
                    perm: t.perm.intersect(g.perm()),
                    leader: g.leader_id(),
                    members: route_members(g),
                    message_type: t.message_type,
                    check_message_type: g.checks_message_type(),
                })
            })
            .collect();
        if groups.is_empty() {
            return None;
        }
        Some(TopicRoute {
            topic: topic.to_owned(),
            groups,
        })
    }

    /// The route an unknown topic gets where brokers create topics on first
    /// send (`autoCreateTopicEnable`): every writable group whose leader (or,
    /// while none stands, whose first member) has it on, with its
    /// `defaultTopicQueueNums` queues. `None` if no group would create it.
    pub fn auto_create_route(&self, topic: &str) -> Option<TopicRoute> {
        let groups: Vec<GroupRoute> = self
            .groups
            .iter()
            .filter_map(|(name, g)| {
                let deciding = g.deciding_member()?;
                let queues = deciding.auto_create_queues?;
                let perm = Perm::READ_WRITE.intersect(g.perm());
                if !perm.writable() {
                    return None;
                }
                Some(GroupRoute {
                    cluster: g.cluster.clone(),
                    group: name.clone(),
                    read_queues: queues,
                    write_queues: queues,
                    perm,
                    leader: g.leader_id(),
                    members: route_members(g),
                    // Created on first send: of no declared type.
                    message_type: TopicMessageType::Unspecified,
                    check_message_type: deciding.check_message_type,
                })
            })
            .collect();
        (!groups.is_empty()).then(|| TopicRoute {
            topic: topic.to_owned(),
            groups,
        })
    }

    /// Every topic some group serves.
    pub fn topics(&self) -> BTreeSet<String> {
        self.groups
            .values()
            .flat_map(|g| g.topics().keys().map(|t| t.to_string()))
            .collect()
    }
}

/// A group's members for a route, leader first.
fn route_members(g: &Group) -> Vec<RouteMember> {
    g.members_by_bid()
        .into_iter()
        .map(|(bid, m)| RouteMember {
            bid,
            id: m.id,
            client_addr: m.client_addr.clone(),
            raft_addr: m.raft_addr.clone(),
            role: m.role,
        })
        .collect()
}
