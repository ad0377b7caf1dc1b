//! Who leads a group: role changes, competing claims, stale claims.

use crate::model::{MemberId, Role};
use crate::test_support::{g, reg, registry, t, three_nodes};

#[test]
fn role_change_flips_bid_zero_in_one_call() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    // n1 wins the election of term 2: BID 0 moves before n0 says anything.
    let out = r
        .register(t(5_000), reg("RaftNode00", 1, Role::Leader, 2))
        .expect("register");
    assert!(out.role_changed && out.leader_changed);
    assert_eq!(out.leader, Some(MemberId(1)));
    let group = r.group(&g("RaftNode00")).expect("group");
    assert_eq!(group.bid(MemberId(1)).0, 0);
    assert_eq!(
        group.bid(MemberId(0)).0,
        1,
        "the old leader shows its id + 1"
    );
    // The old leader stepping down changes no route.
    let out = r
        .register(t(6_000), reg("RaftNode00", 0, Role::Follower, 2))
        .expect("register");
    assert!(out.role_changed && !out.leader_changed);
}

#[test]
fn leader_stepping_down_leaves_no_leader() {
    let mut r = registry();
    three_nodes(&mut r, t(0), 1);
    let out = r
        .register(t(1), reg("RaftNode00", 0, Role::Candidate, 2))
        .expect("register");
    assert!(out.leader_changed);
    assert_eq!(out.leader, None);
    assert!(r.cluster_list().iter().all(|row| row.bid.0 != 0));
}

#[test]
fn higher_term_wins_between_two_leaders() {
    let mut r = registry();
    r.register(t(10), reg("RaftNode00", 0, Role::Leader, 3))
        .expect("register");
    r.register(t(5), reg("RaftNode00", 2, Role::Leader, 7))
        .expect("register");
    assert_eq!(
        r.leader_of(&g("RaftNode00")).map(|m| m.id),
        Some(MemberId(2))
    );
    // The lower term heartbeating again does not win it back.
    r.register(t(20), reg("RaftNode00", 0, Role::Leader, 3))
        .expect("register");
    assert_eq!(
        r.leader_of(&g("RaftNode00")).map(|m| m.id),
        Some(MemberId(2))
    );
}

#[test]
fn equal_terms_go_to_the_most_recent_heartbeat() {
    let mut r = registry();
    r.register(t(10), reg("RaftNode00", 0, Role::Leader, 4))
        .expect("register");
    r.register(t(20), reg("RaftNode00", 1, Role::Leader, 4))
        .expect("register");
    assert_eq!(
        r.leader_of(&g("RaftNode00")).map(|m| m.id),
        Some(MemberId(1))
    );
    r.register(t(30), reg("RaftNode00", 0, Role::Leader, 4))
        .expect("register");
    assert_eq!(
        r.leader_of(&g("RaftNode00")).map(|m| m.id),
        Some(MemberId(0))
    );
}

#[test]
fn claim_older_than_news_of_a_higher_term_is_stale() {
    let mut r = registry();
    r.register(t(10), reg("RaftNode00", 2, Role::Leader, 2))
        .expect("register");
    r.register(t(20), reg("RaftNode00", 0, Role::Leader, 3))
        .expect("register");
    // n0 steps down in term 4: n2's claim (term 2, heard before) must not win.
    let out = r
        .register(t(30), reg("RaftNode00", 0, Role::Follower, 4))
        .expect("register");
    assert_eq!(out.leader, None);
    // A claim heard after the higher term stands again (the reporter may be down).
    r.register(t(40), reg("RaftNode00", 2, Role::Leader, 2))
        .expect("register");
    assert_eq!(
        r.leader_of(&g("RaftNode00")).map(|m| m.id),
        Some(MemberId(2))
    );
}
