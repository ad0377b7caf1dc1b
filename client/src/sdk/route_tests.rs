use std::collections::{HashMap, HashSet};

use raftmq_proto::client_protocol;
use raftmq_proto::namesrv::v1 as ns;

use super::*;

fn group(name: &str, read: u32, write: u32, perm: u32, ports: &[u16]) -> ns::GroupRoute {
    ns::GroupRoute {
        cluster: "C".into(),
        group: name.into(),
        read_queues: read,
        write_queues: write,
        perm,
        leader: Some(0),
        members: ports
            .iter()
            .enumerate()
            .map(|(i, p)| ns::RouteMember {
                bid: i as u64,
                member_id: i as u64,
                client_addr: format!("127.0.0.1:{p}"),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A route as the nameserver answers it, built by the same helper.
fn answer(groups: Vec<ns::GroupRoute>) -> Vec<v2::MessageQueue> {
    client_protocol::message_queues(
        &ns::TopicRouteResponse {
            topic: "T".into(),
            groups,
        },
        client_protocol::Members::All,
    )
}

#[test]
fn routes_are_read_per_group_with_members_leader_first() {
    let qs = answer(vec![
        group("g1", 4, 4, 6, &[2, 1, 3]),
        group("g0", 2, 3, 6, &[9]),
    ]);
    let r = TopicRoute::from_proto("T", &qs).unwrap();
    assert_eq!(r.queues.len(), 7);
    assert_eq!(r.writable().count(), 7);
    assert_eq!(r.readable().count(), 6);
    let g1 = r.groups.iter().find(|g| g.name == "g1").unwrap();
    assert_eq!(g1.addrs, ["127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:3"]);
    assert_eq!(r.readable_groups(), ["g0", "g1"]);
    let q = &r.queues[0].queue;
    assert_eq!((q.broker.as_str(), q.queue_id), ("g0", 0));
}

#[test]
fn read_only_groups_take_no_sends() {
    let qs = answer(vec![group("ro", 4, 4, 4, &[1]), group("rw", 2, 2, 6, &[2])]);
    let r = TopicRoute::from_proto("T", &qs).unwrap();
    let sel = QueueSelector::default();
    for _ in 0..10 {
        assert_eq!(sel.select(&r, None).unwrap().broker, "rw");
    }
    let qs = answer(vec![group("ro", 4, 4, 4, &[1])]);
    let r = TopicRoute::from_proto("T", &qs).unwrap();
    assert!(matches!(
        sel.select(&r, None),
        Err(ClientError::NoQueue {
            what: "writable",
            ..
        })
    ));
}

#[test]
fn non_zero_broker_ids_and_addressless_queues_are_skipped() {
    let mut qs = answer(vec![group("g", 2, 2, 6, &[1])]);
    if let Some(b) = qs[0].broker.as_mut() {
        b.id = 1;
    }
    if let Some(b) = qs[1].broker.as_mut() {
        b.endpoints = None;
    }
    assert!(matches!(
        TopicRoute::from_proto("T", &qs),
        Err(ClientError::TopicNotFound { .. })
    ));
}

#[test]
fn round_robin_spreads_evenly_over_writable_queues() {
    let qs = answer(vec![group("a", 4, 4, 6, &[1]), group("b", 4, 4, 6, &[2])]);
    let r = TopicRoute::from_proto("T", &qs).unwrap();
    let sel = QueueSelector::default();
    let mut counts: HashMap<MessageQueue, usize> = HashMap::new();
    for _ in 0..800 {
        *counts
            .entry(sel.select(&r, None).unwrap().clone())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 8);
    assert!(counts.values().all(|c| *c == 100), "{counts:?}");
}

#[test]
fn a_message_group_always_lands_on_one_queue() {
    let qs = answer(vec![group("a", 8, 8, 6, &[1])]);
    let r = TopicRoute::from_proto("T", &qs).unwrap();
    let sel = QueueSelector::default();
    let mut used = HashSet::new();
    for g in 0..64 {
        let name = format!("order-{g}");
        let first = sel.select(&r, Some(&name)).unwrap().clone();
        for _ in 0..5 {
            // Round-robin sends in between do not move a group.
            sel.select(&r, None).unwrap();
            assert_eq!(sel.select(&r, Some(&name)).unwrap(), &first);
        }
        used.insert(first.queue_id);
    }
    assert!(used.len() >= 6, "groups spread over queues: {used:?}");
}

#[test]
fn ipv6_addresses_get_brackets() {
    let a = v2::Address {
        host: "::1".into(),
        port: 8081,
    };
    assert_eq!(address(&a), "[::1]:8081");
}
