//! Registration, heartbeats, expiry, topic tables and write
//! permission.

use crate::model::{DataVersion, MemberId, Perm, Role, Term};
use crate::registry::RegisterOutcome;
use crate::test_support::{c, g, reg, registry, t, three_nodes, topics, EXPIRY_MS};
use crate::{RegistryError, TopicSource};

#[test]
fn first_registration_creates_group_and_member() {
    let mut r = registry();
    let out = r
        .register(t(0), reg("RaftNode00", 0, Role::Leader, 1))
        .expect("register");
    assert!(out.new_member && out.leader_changed && out.topics_changed && out.changed());
    assert_eq!(out.leader, Some(MemberId(0)));
    let group = r.group(&g("RaftNode00")).expect("group");
    assert_eq!(group.cluster(), &c("RaftCluster"));
    assert_eq!(group.members().count(), 1);
    assert_eq!(
        r.leader_of(&g("RaftNode00")).map(|m| m.id),
        Some(MemberId(0))
    );
}

#[test]
fn heartbeat_with_same_data_changes_nothing_but_the_time() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    let mut hb = reg("RaftNode00", 1, Role::Follower, 1);
    hb.stats.in_tps = 1234.5;
    let out = r.register(t(30_000), hb).expect("heartbeat");
    assert_eq!(
        out,
        RegisterOutcome {
            leader: Some(MemberId(0)),
            ..RegisterOutcome::default()
        }
    );
    assert!(!out.changed(), "stats are not a route change");
    let m = r
        .group(&g("RaftNode00"))
        .and_then(|g| g.member(MemberId(1)))
        .expect("member");
    assert_eq!(m.last_heartbeat, t(30_000));
    assert_eq!(m.stats.in_tps, 1234.5);
}

#[test]
fn heartbeat_time_never_goes_backwards() {
    let mut r = registry();
    r.register(t(50_000), reg("RaftNode00", 0, Role::Leader, 1))
        .expect("register");
    r.register(t(10_000), reg("RaftNode00", 0, Role::Leader, 1))
        .expect("late delivery");
    let m = r.leader_of(&g("RaftNode00")).expect("leader");
    assert_eq!(m.last_heartbeat, t(50_000));
}

#[test]
fn changes_are_reported() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    let mut next = reg("RaftNode00", 0, Role::Leader, 1);
    next.data_version = DataVersion(2);
    next.topics = topics(&[("T", 8), ("U", 4)]);
    let out = r.register(t(1), next).expect("register");
    assert!(out.data_version_changed && out.topics_changed && !out.leader_changed);

    let mut moved = reg("RaftNode00", 2, Role::Follower, 1);
    moved.client_addr = "10.0.0.3:30931".into();
    moved.perm = Perm::READ;
    let out = r.register(t(2), moved).expect("register");
    assert!(out.address_changed && out.perm_changed && !out.topics_changed);
}

#[test]
fn expiry_drops_exactly_the_silent_members() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    r.register(t(1_000), reg("RaftNode00", 1, Role::Follower, 1))
        .expect("register");
    r.register(t(0), reg("RaftNode01", 0, Role::Leader, 1))
        .expect("register");
    // Exactly at the limit nothing goes: silent *longer* than the expiry.
    assert!(r.expire(t(EXPIRY_MS)).is_empty());
    let gone = r.expire(t(EXPIRY_MS + 1));
    let ids: Vec<(String, u64)> = gone
        .iter()
        .map(|x| (x.group.0.clone(), x.member.id.0))
        .collect();
    assert_eq!(
        ids,
        [
            ("RaftNode00".into(), 0),
            ("RaftNode00".into(), 2),
            ("RaftNode01".into(), 0)
        ]
    );
    assert!(gone[0].was_leader && !gone[0].group_removed);
    assert!(gone[2].was_leader && gone[2].group_removed);
    assert!(r.group(&g("RaftNode01")).is_none());
    let left: Vec<u64> = r.cluster_list().iter().map(|row| row.member.0).collect();
    assert_eq!(left, [1]);
    assert!(r.expire(t(EXPIRY_MS + 1_000)).is_empty());
}

#[test]
fn expiry_of_whole_group_removes_its_topics() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    assert!(r.topics().contains("T"));
    assert_eq!(r.expire(t(EXPIRY_MS + 1)).len(), 3);
    assert!(r.topics().is_empty());
    assert!(r.topic_route("T").is_none());
}

#[test]
fn unregister_removes_one_member_then_the_group() {
    let mut r = registry();
    r.register(t(0), reg("RaftNode00", 0, Role::Leader, 1))
        .expect("register");
    r.register(t(0), reg("RaftNode00", 1, Role::Follower, 1))
        .expect("register");
    assert!(r
        .unregister(&c("Other"), &g("RaftNode00"), MemberId(0))
        .is_none());
    assert!(r
        .unregister(&c("RaftCluster"), &g("RaftNode00"), MemberId(9))
        .is_none());
    let first = r
        .unregister(&c("RaftCluster"), &g("RaftNode00"), MemberId(0))
        .expect("n0");
    assert!(first.was_leader && !first.group_removed);
    assert!(r.leader_of(&g("RaftNode00")).is_none());
    let last = r
        .unregister(&c("RaftCluster"), &g("RaftNode00"), MemberId(1))
        .expect("n1");
    assert!(last.group_removed);
    assert!(r.groups().next().is_none());
}

#[test]
fn topics_from_the_leader_win() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    let mut lagging = reg("RaftNode00", 1, Role::Follower, 1);
    lagging.topics = topics(&[("Old", 2)]);
    let out = r.register(t(1), lagging).expect("register");
    assert!(!out.topics_changed);
    assert_eq!(r.topics().into_iter().collect::<Vec<_>>(), ["T"]);
    // The next leader's table replaces the old leader's.
    let mut new_leader = reg("RaftNode00", 2, Role::Leader, 2);
    new_leader.data_version = DataVersion(5);
    new_leader.topics = topics(&[("T", 8), ("New", 4)]);
    let out = r.register(t(2), new_leader).expect("register");
    assert!(out.topics_changed && out.leader_changed);
    let group = r.group(&g("RaftNode00")).expect("group");
    assert_eq!(
        group.topic_source(),
        Some(TopicSource::Leader(MemberId(2), DataVersion(5)))
    );
    assert_eq!(r.topics().into_iter().collect::<Vec<_>>(), ["New", "T"]);
}

#[test]
fn follower_table_stands_in_until_a_leader_registers() {
    let mut r = registry();
    r.register(t(0), reg("RaftNode00", 1, Role::Follower, 1))
        .expect("register");
    assert!(
        r.topic_route("T").is_some(),
        "routes do not wait for the leader"
    );
    let mut leader = reg("RaftNode00", 0, Role::Leader, 1);
    leader.topics = topics(&[("L", 8)]);
    r.register(t(1), leader).expect("register");
    assert_eq!(r.topics().into_iter().collect::<Vec<_>>(), ["L"]);
    // The leader's table survives the leader: followers never overwrite it.
    r.unregister(&c("RaftCluster"), &g("RaftNode00"), MemberId(0))
        .expect("n0");
    r.register(t(2), reg("RaftNode00", 1, Role::Follower, 1))
        .expect("register");
    assert_eq!(r.topics().into_iter().collect::<Vec<_>>(), ["L"]);
}

#[test]
fn wipe_and_add_write_perm() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    assert_eq!(r.wipe_write_perm(&g("Nope")), 0);
    assert_eq!(r.wipe_write_perm(&g("RaftNode00")), 1);
    assert_eq!(r.wipe_write_perm(&g("RaftNode00")), 0, "already wiped");
    let group = r.group(&g("RaftNode00")).expect("group");
    assert!(group.write_wiped() && !group.perm().writable() && group.perm().readable());
    // Heartbeats reporting perm 6 do not undo the wipe.
    r.register(t(1), reg("RaftNode00", 0, Role::Leader, 1))
        .expect("register");
    assert!(r.cluster_list().iter().all(|row| row.perm == Perm::READ));
    assert_eq!(r.add_write_perm(&g("RaftNode00")), 1);
    assert_eq!(r.add_write_perm(&g("RaftNode00")), 0);
    assert!(r
        .cluster_list()
        .iter()
        .all(|row| row.perm == Perm::READ_WRITE));
}

#[test]
fn bad_registrations_are_refused_and_change_nothing() {
    let mut r = registry();
    let mut bad = reg("RaftNode00", 0, Role::Leader, 1);
    bad.client_addr = "127.0.0.1".into();
    assert!(matches!(
        r.register(t(0), bad),
        Err(RegistryError::BadAddress { .. })
    ));
    let mut bad = reg("Raft Node", 0, Role::Leader, 1);
    bad.raft_addr = "127.0.0.1:40911".into();
    assert!(matches!(
        r.register(t(0), bad),
        Err(RegistryError::BadName { .. })
    ));
    let mut bad = reg("RaftNode00", 0, Role::Leader, 1);
    bad.member = MemberId(u64::MAX);
    assert!(matches!(
        r.register(t(0), bad),
        Err(RegistryError::MemberIdOutOfRange { .. })
    ));
    assert!(r.groups().next().is_none());

    r.register(t(0), reg("RaftNode00", 0, Role::Leader, 1))
        .expect("register");
    let mut elsewhere = reg("RaftNode00", 1, Role::Leader, 9);
    elsewhere.cluster = c("OtherCluster");
    let err = r
        .register(t(1), elsewhere)
        .expect_err("group in another cluster");
    assert!(
        err.to_string()
            .contains("registered in cluster RaftCluster"),
        "{err}"
    );
    assert_eq!(r.leader_of(&g("RaftNode00")).map(|m| m.term), Some(Term(1)));
    assert_eq!(r.cluster_list().len(), 1);
}

#[test]
fn self_ids_and_perms_parse() {
    assert_eq!("n0".parse::<MemberId>(), Ok(MemberId(0)));
    assert_eq!("n12".parse::<MemberId>(), Ok(MemberId(12)));
    assert_eq!("7".parse::<MemberId>(), Ok(MemberId(7)));
    for bad in ["", "n", "nn1", "n-1", "n1x", "n18446744073709551615"] {
        assert!(bad.parse::<MemberId>().is_err(), "{bad:?}");
    }
    assert_eq!(Perm::new(6), Ok(Perm::READ_WRITE));
    assert_eq!(Perm::new(8), Err(raftmq_model::PermError { bits: 8 }));
    assert_eq!(Perm::READ_WRITE.without_write(), Perm::READ);
}
