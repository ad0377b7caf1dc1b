//! `clusterList` rows, topic routes and listings.

use raftmq_model::TopicName;

use crate::model::{BrokerId, MemberId, Perm, Role};
use crate::test_support::{c, g, reg, registry, t, three_nodes, topics, EXPIRY_MS};

#[test]
fn cluster_list_is_sorted_with_leader_at_bid_zero() {
    let mut r = registry();
    r.register(t(0), reg("RaftNode01", 1, Role::Leader, 1))
        .expect("register");
    r.register(t(0), reg("RaftNode01", 0, Role::Follower, 1))
        .expect("register");
    three_nodes(&mut r, t(0), 1);
    let mut other = reg("Aaa", 0, Role::Leader, 1);
    other.cluster = c("ZCluster");
    r.register(t(0), other).expect("register");

    let rows: Vec<(String, String, u64, u64)> = r
        .cluster_list()
        .iter()
        .map(|row| {
            (
                row.cluster.0.clone(),
                row.group.0.clone(),
                row.bid.0,
                row.member.0,
            )
        })
        .collect();
    let want = [
        ("RaftCluster", "RaftNode00", 0, 0),
        ("RaftCluster", "RaftNode00", 2, 1),
        ("RaftCluster", "RaftNode00", 3, 2),
        ("RaftCluster", "RaftNode01", 0, 1),
        ("RaftCluster", "RaftNode01", 1, 0),
        ("ZCluster", "Aaa", 0, 0),
    ]
    .map(|(cl, gr, bid, id)| (cl.to_owned(), gr.to_owned(), bid, id));
    assert_eq!(rows, want);
    let first = &r.cluster_list()[0];
    assert_eq!(first.addr, "127.0.0.1:30911");
    assert_eq!(first.raft_addr, "127.0.0.1:40911");
    assert_eq!(first.stats.version, "V5_3_0");
    assert_eq!(first.role, Role::Leader);

    let clusters = r.clusters();
    assert_eq!(clusters.len(), 2);
    assert_eq!(clusters[&c("RaftCluster")].len(), 2);
}

#[test]
fn route_lists_leader_first() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    r.register(t(1), reg("RaftNode00", 2, Role::Leader, 2))
        .expect("register");
    let route = r.topic_route("T").expect("route");
    assert_eq!(route.topic, "T");
    assert_eq!(route.groups.len(), 1);
    let gr = &route.groups[0];
    assert_eq!(
        (gr.read_queues, gr.write_queues, gr.perm),
        (8, 8, Perm::READ_WRITE)
    );
    assert_eq!(gr.leader, Some(MemberId(2)));
    let addrs: Vec<(u64, &str)> = gr
        .members
        .iter()
        .map(|m| (m.bid.0, m.client_addr.as_str()))
        .collect();
    assert_eq!(
        addrs,
        [
            (0, "127.0.0.1:30931"),
            (1, "127.0.0.1:30911"),
            (2, "127.0.0.1:30921")
        ]
    );
    assert!(r.topic_route("Nope").is_none());
}

#[test]
fn route_spans_groups_and_carries_each_ones_queues() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    let mut other = reg("RaftNode01", 0, Role::Leader, 1);
    other.topics = topics(&[("T", 4), ("U", 2)]);
    r.register(t(0), other).expect("register");
    let route = r.topic_route("T").expect("route");
    let queues: Vec<(&str, u32)> = route
        .groups
        .iter()
        .map(|gr| (gr.group.as_str(), gr.write_queues))
        .collect();
    assert_eq!(queues, [("RaftNode00", 8), ("RaftNode01", 4)]);
    assert_eq!(r.topics().into_iter().collect::<Vec<_>>(), ["T", "U"]);
}

#[test]
fn removed_group_disappears_from_routes() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    r.register(t(EXPIRY_MS), reg("RaftNode01", 0, Role::Leader, 1))
        .expect("register");
    assert_eq!(r.topic_route("T").expect("route").groups.len(), 2);
    r.expire(t(EXPIRY_MS + 1));
    let route = r.topic_route("T").expect("route");
    assert_eq!(route.groups.len(), 1);
    assert_eq!(route.groups[0].group, g("RaftNode01"));
    r.unregister(&c("RaftCluster"), &g("RaftNode01"), MemberId(0))
        .expect("n0");
    assert!(r.topic_route("T").is_none());
    assert!(r.cluster_list().is_empty());
}

#[test]
fn route_perm_follows_wipe_and_topic_perm() {
    let mut r = registry();
    let mut leader = reg("RaftNode00", 0, Role::Leader, 1);
    leader.topics.insert(
        TopicName::new("R").expect("legal"),
        crate::TopicConfig {
            read_queues: 2,
            write_queues: 2,
            perm: Perm::READ,
            message_type: Default::default(),
        },
    );
    r.register(t(0), leader).expect("register");
    assert_eq!(
        r.topic_route("R").expect("route").groups[0].perm,
        Perm::READ
    );
    r.wipe_write_perm(&g("RaftNode00"));
    assert_eq!(
        r.topic_route("T").expect("route").groups[0].perm,
        Perm::READ
    );
    r.add_write_perm(&g("RaftNode00"));
    assert_eq!(
        r.topic_route("T").expect("route").groups[0].perm,
        Perm::READ_WRITE
    );
}

#[test]
fn group_without_leader_still_routes_to_its_members() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    r.register(t(1), reg("RaftNode00", 0, Role::Candidate, 2))
        .expect("register");
    let gr = r.topic_route("T").expect("route").groups.remove(0);
    assert_eq!(gr.leader, None);
    let bids: Vec<BrokerId> = gr.members.iter().map(|m| m.bid).collect();
    assert_eq!(bids, [BrokerId(1), BrokerId(2), BrokerId(3)]);
    assert!(
        gr.perm.writable(),
        "the last leader's permission holds through an election"
    );
}

#[test]
fn routes_carry_each_groups_type_and_type_check() {
    use crate::model::TopicMessageType::{self, Delay, Normal, Unspecified};
    let mut r = registry();
    let mut a = reg("RaftNode00", 0, Role::Leader, 1);
    a.topics.values_mut().for_each(|t| t.message_type = Delay);
    let mut b = reg("RaftNode01", 0, Role::Leader, 1);
    b.check_message_type = true;
    r.register(t(0), a).expect("register");
    r.register(t(0), b.clone()).expect("register");
    let route = r.topic_route("T").expect("route");
    let seen: Vec<(TopicMessageType, bool, &[TopicMessageType])> = route
        .groups
        .iter()
        .map(|g| (g.message_type, g.check_message_type, g.accepted()))
        .collect();
    assert_eq!(
        seen,
        [
            (Delay, false, &[Delay][..]),
            (Unspecified, true, &[Normal][..])
        ]
    );
    // A member that stops checking types changes the routes.
    b.check_message_type = false;
    let out = r.register(t(1), b).expect("register");
    assert!(out.type_check_changed && out.changed());
    let g1 = &r.topic_route("T").expect("route").groups[1];
    assert_eq!(g1.accepted(), &TopicMessageType::SENDABLE);
}

#[test]
fn auto_created_routes_are_of_no_declared_type() {
    let mut r = registry();
    let mut a = reg("RaftNode00", 0, Role::Leader, 1);
    a.auto_create_queues = Some(4);
    a.check_message_type = true;
    r.register(t(0), a).expect("register");
    let g0 = &r.auto_create_route("New").expect("route").groups[0];
    assert_eq!(g0.message_type, crate::model::TopicMessageType::Unspecified);
    assert!(g0.check_message_type);
}
