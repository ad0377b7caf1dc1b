//! The route registry: registrations, heartbeats, expiry and permissions.
//!
//! Pure state: no sockets, no clocks, no tasks. The caller passes the time in
//! and decides what to do with the outcome (log it, bump a route version,
//! schedule the next [`Registry::expire`] scan). The read side (cluster list,
//! topic routes) is in [`crate::view`].
//!
//! Topic tables: the group's leader wins. A registration from the member that
//! leads the group (after that registration is applied) replaces the group's
//! table; followers' tables are ignored, except that while no leader's table
//! has been seen and no leader stands, the latest follower's table stands in
//! (topic tables are Raft state, so it is at worst behind), so that routes do
//! not vanish while this nameserver has not yet heard from the leader.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::RegistryError;
use crate::group::{Group, Member, TopicSource};
use crate::model::{BrokerName, ClusterName, MemberId, Millis};
use crate::registration::Registration;

/// Every broker group this nameserver knows, keyed by group name.
#[derive(Clone, Debug)]
pub struct Registry {
    expiry: Duration,
    pub(crate) groups: BTreeMap<BrokerName, Group>,
}

/// What a [`Registry::register`] call changed. A plain heartbeat changes
/// nothing; stats (TPS, disk ratio...) never count as a change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// The member was not registered before (the group may be new too).
    pub new_member: bool,
    /// The member reported a different role or term.
    pub role_changed: bool,
    /// The group's leader is another member (or none) than before the call.
    pub leader_changed: bool,
    /// The member reported a different data version.
    pub data_version_changed: bool,
    /// The group's topic table changed.
    pub topics_changed: bool,
    /// The member's client or Raft address changed.
    pub address_changed: bool,
    /// The member reported a different `brokerPermission`.
    pub perm_changed: bool,
    /// The member reported a different `enableTopicMessageTypeCheck`.
    pub type_check_changed: bool,
    /// The group's leader after the call.
    pub leader: Option<MemberId>,
}

impl RegisterOutcome {
    /// Whether routes or the cluster list may read differently now.
    pub fn changed(&self) -> bool {
        self.new_member
            || self.role_changed
            || self.leader_changed
            || self.data_version_changed
            || self.topics_changed
            || self.address_changed
            || self.perm_changed
            || self.type_check_changed
    }
}

/// A member taken out by [`Registry::unregister`] or [`Registry::expire`].
#[derive(Clone, Debug, PartialEq)]
pub struct RemovedMember {
    /// Its cluster.
    pub cluster: ClusterName,
    /// Its group.
    pub group: BrokerName,
    /// The member as it last registered.
    pub member: Member,
    /// It led the group until it was removed.
    pub was_leader: bool,
    /// It was the group's last member, so the group and its topics are gone.
    pub group_removed: bool,
}

impl Registry {
    /// An empty registry that drops members silent for longer than `expiry`
    /// (upstream: 120 s).
    pub fn new(expiry: Duration) -> Registry {
        Registry {
            expiry,
            groups: BTreeMap::new(),
        }
    }

    /// The expiry it was made with.
    pub fn expiry(&self) -> Duration {
        self.expiry
    }

    fn expiry_ms(&self) -> u64 {
        u64::try_from(self.expiry.as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a member, or records its heartbeat: the stored record becomes
    /// `reg`, and its last heartbeat `now` (never earlier than before). A bad
    /// registration is refused and changes nothing.
    pub fn register(
        &mut self,
        now: Millis,
        reg: Registration,
    ) -> Result<RegisterOutcome, RegistryError> {
        reg.validate()?;
        if let Some(g) = self.groups.get(&reg.group) {
            if g.cluster != reg.cluster {
                return Err(RegistryError::GroupInOtherCluster {
                    group: reg.group,
                    registered: g.cluster.clone(),
                    requested: reg.cluster,
                });
            }
        }
        let group = self
            .groups
            .entry(reg.group.clone())
            .or_insert_with(|| Group::new(reg.cluster.clone(), reg.perm));
        let leader_before = group.leader_id();
        let mut out = RegisterOutcome::default();
        let id = reg.member;
        match group.members.get_mut(&id) {
            Some(m) => {
                out.role_changed = m.role != reg.role || m.term != reg.term;
                out.data_version_changed = m.data_version != reg.data_version;
                out.address_changed =
                    m.client_addr != reg.client_addr || m.raft_addr != reg.raft_addr;
                out.perm_changed = m.perm != reg.perm;
                out.type_check_changed = m.check_message_type != reg.check_message_type;
                m.client_addr = reg.client_addr;
                m.raft_addr = reg.raft_addr;
                m.role = reg.role;
                m.term = reg.term;
                m.last_heartbeat = m.last_heartbeat.max(now);
                m.data_version = reg.data_version;
                m.perm = reg.perm;
                m.stats = reg.stats;
                m.auto_create_queues = reg.auto_create_queues;
                m.check_message_type = reg.check_message_type;
            }
            None => {
                out.new_member = true;
                tracing::info!(
                    cluster = %reg.cluster, group = %reg.group, member = %id,
                    addr = %reg.client_addr, role = %reg.role, term = %reg.term,
                    "broker member registered"
                );
                let member = Member {
                    id,
                    client_addr: reg.client_addr,
                    raft_addr: reg.raft_addr,
                    role: reg.role,
                    term: reg.term,
                    last_heartbeat: now,
                    data_version: reg.data_version,
                    perm: reg.perm,
                    stats: reg.stats,
                    auto_create_queues: reg.auto_create_queues,
                    check_message_type: reg.check_message_type,
                };
                group.members.insert(id, member);
            }
        }
        let leader_after = group.leader_id();
        out.leader = leader_after;
        out.leader_changed = leader_before != leader_after;
        if out.leader_changed {
            tracing::info!(
                group = %reg.group, from = ?leader_before.map(|m| m.0),
                to = ?leader_after.map(|m| m.0), "broker group leader changed"
            );
        }
        let is_leader = leader_after == Some(id);
        if is_leader {
            group.perm = reg.perm;
        }
        let leader_table = matches!(group.topic_source, Some(TopicSource::Leader(..)));
        if is_leader || (!leader_table && leader_after.is_none()) {
            out.topics_changed = group.topics != reg.topics;
            group.topics = reg.topics;
            group.topic_source = Some(if is_leader {
                TopicSource::Leader(id, reg.data_version)
            } else {
                TopicSource::Follower(id, reg.data_version)
            });
            if out.topics_changed {
                tracing::info!(group = %reg.group, member = %id, topics = group.topics.len(),
                    "broker group topic table changed");
            }
        }
        Ok(out)
    }

    /// Removes one member (a broker shutting down). Removing the last member
    /// removes the group and its topics. Unknown members (or a group in
    /// another cluster) are left alone: `None`.
    pub fn unregister(
        &mut self,
        cluster: &ClusterName,
        group: &BrokerName,
        member: MemberId,
    ) -> Option<RemovedMember> {
        let g = self.groups.get(group)?;
        if &g.cluster != cluster || g.member(member).is_none() {
            return None;
        }
        let removed = self.remove(group, member);
        if let Some(r) = &removed {
            tracing::info!(cluster = %r.cluster, group = %r.group, member = %member,
                group_removed = r.group_removed, "broker member unregistered");
        }
        removed
    }

    /// Drops every member whose last heartbeat is more than the expiry before
    /// `now`, and the groups left without members. Returns them in group and
    /// member order.
    pub fn expire(&mut self, now: Millis) -> Vec<RemovedMember> {
        let limit = self.expiry_ms();
        let silent: Vec<(BrokerName, MemberId)> = self
            .groups
            .iter()
            .flat_map(|(name, g)| {
                g.members()
                    .filter(|m| now.since(m.last_heartbeat) > limit)
                    .map(|m| (name.clone(), m.id))
            })
            .collect();
        let mut out = Vec::with_capacity(silent.len());
        for (group, member) in silent {
            if let Some(r) = self.remove(&group, member) {
                tracing::warn!(cluster = %r.cluster, group = %r.group, member = %member,
                    last_heartbeat = r.member.last_heartbeat.0, now = now.0,
                    "broker member expired: no heartbeat within the expiry");
                out.push(r);
            }
        }
        out
    }

    fn remove(&mut self, group: &BrokerName, member: MemberId) -> Option<RemovedMember> {
        let g = self.groups.get_mut(group)?;
        let was_leader = g.leader_id() == Some(member);
        let m = g.members.remove(&member)?;
        let cluster = g.cluster.clone();
        let group_removed = g.members.is_empty();
        if group_removed {
            self.groups.remove(group);
        }
        Some(RemovedMember {
            cluster,
            group: group.clone(),
            member: m,
            was_leader,
            group_removed,
        })
    }

    /// `wipeWritePerm`: producers stop writing to the group (a drain before
    /// taking it offline). Sticky: the members' heartbeats do not undo it,
    /// only [`Registry::add_write_perm`] does, or the group expiring. Returns
    /// how many groups changed (0 if unknown or already wiped).
    pub fn wipe_write_perm(&mut self, group: &BrokerName) -> usize {
        self.set_wiped(group, true)
    }

    /// `addWritePerm`: undoes [`Registry::wipe_write_perm`]. The group gets
    /// back the write permission its leader reports (a broker configured
    /// read-only stays read-only). Returns how many groups changed.
    pub fn add_write_perm(&mut self, group: &BrokerName) -> usize {
        self.set_wiped(group, false)
    }

    fn set_wiped(&mut self, group: &BrokerName, wiped: bool) -> usize {
        match self.groups.get_mut(group) {
            Some(g) if g.write_wiped != wiped => {
                g.write_wiped = wiped;
                tracing::info!(group = %group, wiped, "broker group write permission changed");
                1
            }
            _ => 0,
        }
    }
}
