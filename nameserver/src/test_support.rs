//! Builders shared by the registry's tests.

use raftmq_model::TopicName;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{
    BrokerName, ClusterName, DataVersion, MemberId, Millis, Perm, Role, Term, TopicConfig,
};
use crate::registration::{BrokerStats, Registration};
use crate::registry::Registry;

/// The upstream expiry, 120 s.
pub(crate) const EXPIRY_MS: u64 = 120_000;

pub(crate) fn registry() -> Registry {
    Registry::new(Duration::from_millis(EXPIRY_MS))
}

pub(crate) fn g(name: &str) -> BrokerName {
    BrokerName::from(name)
}

pub(crate) fn c(name: &str) -> ClusterName {
    ClusterName::from(name)
}

pub(crate) fn t(ms: u64) -> Millis {
    Millis(ms)
}

/// Member `id` of `group` in `RaftCluster`, fast-try style addresses
/// (client 30911 + 10 * id, Raft 40911 + id), one topic `T` of 8 queues.
pub(crate) fn reg(group: &str, id: u64, role: Role, term: u64) -> Registration {
    Registration {
        cluster: c("RaftCluster"),
        group: g(group),
        member: MemberId(id),
        client_addr: format!("127.0.0.1:{}", 30911 + 10 * id),
        raft_addr: format!("127.0.0.1:{}", 40911 + id),
        role,
        term: Term(term),
        data_version: DataVersion(1),
        perm: Perm::READ_WRITE,
        topics: topics(&[("T", 8)]),
        stats: BrokerStats {
            version: "V5_3_0".into(),
            ..BrokerStats::default()
        },
        auto_create_queues: None,
        check_message_type: false,
    }
}

/// A topic table: each topic with `n` read and write queues, read+write.
pub(crate) fn topics(list: &[(&str, u32)]) -> BTreeMap<TopicName, TopicConfig> {
    list.iter()
        .map(|(name, n)| {
            let cfg = TopicConfig {
                read_queues: *n,
                write_queues: *n,
                perm: Perm::READ_WRITE,
                message_type: Default::default(),
            };
            (TopicName::new(*name).expect("a legal test topic"), cfg)
        })
        .collect()
}

/// A whole group `RaftNode00` with n0 leading term `term`, n1 and n2 following.
pub(crate) fn three_nodes(r: &mut Registry, now: Millis, term: u64) {
    for (id, role) in [(0, Role::Leader), (1, Role::Follower), (2, Role::Follower)] {
        r.register(now, reg("RaftNode00", id, role, term))
            .expect("valid registration");
    }
}
