//! Wire messages of `raftmq.namesrv.v1` to and from the registry's types.
//! A registration that does not fit the model is refused with
//! `INVALID_ARGUMENT` naming the field; the registry itself checks the rest.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use raftmq_model::TopicName;
use raftmq_proto::message_type;
use raftmq_proto::namesrv::v1 as pb;
use tonic::Status;

use crate::model::{
    BrokerName, ClusterName, DataVersion, MemberId, Millis, Perm, Role, Term, TopicConfig,
};
use crate::registration::{BrokerStats, Registration};
use crate::view::{ClusterRow, TopicRoute};

fn perm(field: &str, bits: u32) -> Result<Perm, Status> {
    Perm::new(bits).map_err(|e| Status::invalid_argument(format!("{field}: {e}")))
}

/// The role on the wire.
pub fn role_to_wire(role: Role) -> pb::Role {
    match role {
        Role::Leader => pb::Role::Leader,
        Role::Follower => pb::Role::Follower,
        Role::Candidate => pb::Role::Candidate,
    }
}

fn role_from_wire(v: i32) -> Role {
    match pb::Role::try_from(v) {
        Ok(pb::Role::Leader) => Role::Leader,
        Ok(pb::Role::Follower) => Role::Follower,
        _ => Role::Candidate,
    }
}

fn stats_from_wire(s: pb::BrokerStats) -> BrokerStats {
    BrokerStats {
        version: s.version,
        in_tps: s.in_tps,
        out_tps: s.out_tps,
        timer_progress: s.timer_progress,
        page_cache_wait_ms: s.page_cache_wait_ms,
        hours: s.hours,
        disk_used_ratio: s.disk_used_ratio,
        activated: s.activated,
        write_queue_len: s.write_queue_len,
        write_queue_wait_ms: s.write_queue_wait_ms,
    }
}

fn stats_to_wire(s: BrokerStats) -> pb::BrokerStats {
    pb::BrokerStats {
        version: s.version,
        in_tps: s.in_tps,
        out_tps: s.out_tps,
        timer_progress: s.timer_progress,
        page_cache_wait_ms: s.page_cache_wait_ms,
        hours: s.hours,
        disk_used_ratio: s.disk_used_ratio,
        activated: s.activated,
        write_queue_len: s.write_queue_len,
        write_queue_wait_ms: s.write_queue_wait_ms,
    }
}

/// A registration from the wire.
pub fn registration(r: pb::RegisterBrokerRequest) -> Result<Registration, Status> {
    let mut topics = std::collections::BTreeMap::new();
    for t in r.topics {
        let name =
            TopicName::new(t.name).map_err(|e| Status::invalid_argument(format!("topics: {e}")))?;
        let cfg = TopicConfig {
            read_queues: t.read_queues,
            write_queues: t.write_queues,
            perm: perm(&format!("topic {name:?}"), t.perm)?,
            message_type: message_type::from_wire(t.message_type),
        };
        topics.insert(name, cfg);
    }
    Ok(Registration {
        cluster: ClusterName(r.cluster),
        group: BrokerName(r.group),
        member: MemberId(r.member_id),
        client_addr: r.client_addr,
        raft_addr: r.raft_addr,
        role: role_from_wire(r.role),
        term: Term(r.term),
        data_version: DataVersion(r.data_version),
        perm: perm("perm", r.perm)?,
        topics,
        stats: stats_from_wire(r.stats.unwrap_or_default()),
        auto_create_queues: r.auto_create_queues,
        check_message_type: r.check_message_type,
    })
}

/// A `clusterList` row for the wire; `now` turns the last heartbeat into an age.
pub fn cluster_row(r: ClusterRow, now: Millis) -> pb::ClusterRow {
    pb::ClusterRow {
        cluster: r.cluster.0,
        group: r.group.0,
        bid: r.bid.0,
        member_id: r.member.0,
        addr: r.addr,
        raft_addr: r.raft_addr,
        role: role_to_wire(r.role).into(),
        term: r.term.0,
        perm: r.perm.bits(),
        data_version: r.data_version.0,
        heartbeat_age_ms: now.since(r.last_heartbeat),
        stats: Some(stats_to_wire(r.stats)),
    }
}

/// A topic route for the wire.
pub fn topic_route(route: TopicRoute) -> pb::TopicRouteResponse {
    pb::TopicRouteResponse {
        topic: route.topic,
        groups: route
            .groups
            .into_iter()
            .map(|g| pb::GroupRoute {
                cluster: g.cluster.0,
                group: g.group.0,
                read_queues: g.read_queues,
                write_queues: g.write_queues,
                perm: g.perm.bits(),
                leader: g.leader.map(|m| m.0),
                message_type: message_type::to_wire(g.message_type),
                check_message_type: g.check_message_type,
                members: g
                    .members
                    .into_iter()
                    .map(|m| pb::RouteMember {
                        bid: m.bid.0,
                        member_id: m.id.0,
                        client_addr: m.client_addr,
                        raft_addr: m.raft_addr,
                        role: role_to_wire(m.role).into(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TopicMessageType;

    fn wire(topic: &str) -> pb::RegisterBrokerRequest {
        pb::RegisterBrokerRequest {
            cluster: "RaftCluster".into(),
            group: "RaftNode00".into(),
            client_addr: "127.0.0.1:30911".into(),
            raft_addr: "127.0.0.1:40911".into(),
            perm: 6,
            topics: vec![pb::TopicConfig {
                name: topic.into(),
                read_queues: 1,
                write_queues: 1,
                perm: 6,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_topic_table_is_read_with_the_topic_rule() {
        let r = registration(wire("T")).expect("legal");
        assert!(r.topics.contains_key("T"));
        for bad in ["a.b", ""] {
            let e = registration(wire(bad)).expect_err("illegal topic");
            assert_eq!(e.code(), tonic::Code::InvalidArgument);
            assert!(e.message().starts_with("topics: "), "{}", e.message());
            assert!(e.message().contains("A-Z, a-z, 0-9"), "{}", e.message());
        }
        let mut w = wire("T");
        w.perm = 8;
        let e = registration(w).expect_err("bad perm");
        assert!(
            e.message().contains("perm: bad permission 8"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn a_topics_type_and_the_type_check_go_from_registration_to_route() {
        let mut w = wire("T");
        w.topics[0].message_type = pb::TopicMessageType::Delay.into();
        w.check_message_type = true;
        let r = registration(w).expect("legal");
        assert_eq!(r.topics["T"].message_type, TopicMessageType::Delay);
        assert!(r.check_message_type);
        // A number this build does not know reads as undeclared.
        let mut w = wire("T");
        w.topics[0].message_type = 42;
        let r = registration(w).expect("legal");
        assert_eq!(r.topics["T"].message_type, TopicMessageType::Unspecified);

        let route = TopicRoute {
            topic: "T".into(),
            groups: vec![crate::view::GroupRoute {
                cluster: ClusterName::from("C"),
                group: BrokerName::from("G"),
                read_queues: 1,
                write_queues: 1,
                perm: Perm::READ_WRITE,
                leader: None,
                members: Vec::new(),
                message_type: TopicMessageType::Fifo,
                check_message_type: true,
            }],
        };
        let g = &topic_route(route).groups[0];
        assert_eq!(g.message_type, pb::TopicMessageType::Fifo as i32);
        assert!(g.check_message_type);
    }
}
