//! Random register / heartbeat / expire / unregister sequences against an
//! oracle of who should still be registered, checking the invariants after
//! every step: at most one BID 0 per group, BIDs unique, rows sorted, BID 0
//! is `leader_of`, routes put the leader first, expiry drops exactly the
//! silent, refused registrations change nothing.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use crate::model::{BrokerName, ClusterName, MemberId, Millis, Role, Term};
use crate::registry::Registry;
use crate::test_support::{reg, registry, topics, EXPIRY_MS};

const GROUPS: [&str; 3] = ["RaftNode00", "RaftNode01", "RaftNode02"];

#[derive(Clone, Debug)]
enum Op {
    Register {
        group: usize,
        member: u64,
        role: Role,
        term: u64,
        advance: u64,
        late: u64,
    },
    WrongCluster {
        group: usize,
        member: u64,
    },
    Expire {
        advance: u64,
    },
    Unregister {
        group: usize,
        member: u64,
    },
    Wipe {
        group: usize,
        add: bool,
    },
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![
        Just(Role::Leader),
        Just(Role::Follower),
        Just(Role::Candidate)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, 0..4u64, role(), 0..6u64, 0..40_000u64, 0..3_000u64).prop_map(
            |(group, member, role, term, advance, late)| Op::Register {
                group, member, role, term, advance, late
            }
        ),
        1 => (0..3usize, 0..4u64).prop_map(|(group, member)| Op::WrongCluster { group, member }),
        2 => (0..150_000u64).prop_map(|advance| Op::Expire { advance }),
        1 => (0..3usize, 0..4u64).prop_map(|(group, member)| Op::Unregister { group, member }),
        1 => (0..3usize, any::<bool>()).prop_map(|(group, add)| Op::Wipe { group, add }),
    ]
}

/// Group 2 lives in its own cluster, so clusters interleave in the listing.
fn cluster_of(group: usize) -> ClusterName {
    ClusterName::from(if group == 2 {
        "OtherCluster"
    } else {
        "RaftCluster"
    })
}

fn check_invariants(r: &Registry) {
    let rows = r.cluster_list();
    let keys: Vec<_> = rows
        .iter()
        .map(|x| (x.cluster.clone(), x.group.clone(), x.bid))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "rows sorted, BIDs unique per group");
    let mut bid_zero: BTreeMap<BrokerName, usize> = BTreeMap::new();
    for row in rows.iter().filter(|x| x.bid.0 == 0) {
        *bid_zero.entry(row.group.clone()).or_default() += 1;
        let leader = r.leader_of(&row.group).map(|m| m.id);
        assert_eq!(leader, Some(row.member), "BID 0 is the leader");
        assert_eq!(row.role, Role::Leader);
    }
    assert!(
        bid_zero.values().all(|&n| n == 1),
        "two BID-0 rows in a group: {bid_zero:?}"
    );
    for (name, g) in r.groups() {
        assert!(g.members().next().is_some(), "empty group {name} kept");
        if let Some(l) = g.leader() {
            let best = g
                .members()
                .filter(|m| m.role == Role::Leader)
                .map(|m| m.term)
                .max();
            assert!(Some(l.term) <= best);
        } else {
            assert!(rows.iter().all(|x| &x.group != name || x.bid.0 != 0));
        }
    }
    for topic in r.topics() {
        for gr in r
            .topic_route(&topic)
            .expect("listed topic has a route")
            .groups
        {
            assert!(!gr.members.is_empty());
            if let Some(l) = gr.leader {
                assert_eq!(
                    (gr.members[0].id, gr.members[0].bid.0),
                    (l, 0),
                    "leader first"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_sequences_keep_the_invariants(ops in proptest::collection::vec(op(), 1..80)) {
        let mut r = registry();
        let mut now = 0u64;
        // Oracle: (group, member) -> latest heartbeat.
        let mut alive: BTreeMap<(usize, u64), u64> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Register { group, member, role, term, advance, late } => {
                    now += advance;
                    let at = now.saturating_sub(late);
                    let mut x = reg(GROUPS[group], member, role, term);
                    x.cluster = cluster_of(group);
                    x.topics = topics(&[("T", 8), (GROUPS[group], 1)]);
                    let out = r.register(Millis(at), x).expect("valid registration");
                    let last = alive.entry((group, member)).or_insert(at);
                    *last = (*last).max(at);
                    prop_assert_eq!(out.leader, r.leader_of(&GROUPS[group].into()).map(|m| m.id));
                    let m = r.group(&GROUPS[group].into()).and_then(|g| g.member(MemberId(member)));
                    prop_assert_eq!(m.map(|m| (m.role, m.term)), Some((role, Term(term))));
                }
                Op::WrongCluster { group, member } => {
                    let before = r.cluster_list();
                    let mut x = reg(GROUPS[group], member, Role::Leader, 99);
                    x.cluster = ClusterName::from("Elsewhere");
                    let known = r.group(&GROUPS[group].into()).is_some();
                    prop_assert_eq!(r.register(Millis(now), x).is_err(), known);
                    if known {
                        prop_assert_eq!(before, r.cluster_list());
                    } else {
                        r.unregister(&"Elsewhere".into(), &GROUPS[group].into(), MemberId(member))
                            .expect("just registered");
                    }
                }
                Op::Expire { advance } => {
                    now += advance;
                    let gone: BTreeSet<(usize, u64)> = r
                        .expire(Millis(now))
                        .iter()
                        .map(|x| (GROUPS.iter().position(|g| *g == x.group.as_str()).unwrap_or(9), x.member.id.0))
                        .collect();
                    let want: BTreeSet<(usize, u64)> = alive
                        .iter()
                        .filter(|(_, &last)| now - last > EXPIRY_MS)
                        .map(|(k, _)| *k)
                        .collect();
                    prop_assert_eq!(&gone, &want);
                    alive.retain(|k, _| !want.contains(k));
                }
                Op::Unregister { group, member } => {
                    let removed = r.unregister(&cluster_of(group), &GROUPS[group].into(), MemberId(member));
                    prop_assert_eq!(removed.is_some(), alive.remove(&(group, member)).is_some());
                }
                Op::Wipe { group, add } => {
                    let name = BrokerName::from(GROUPS[group]);
                    let was = r.group(&name).map(|g| g.write_wiped());
                    let n = if add { r.add_write_perm(&name) } else { r.wipe_write_perm(&name) };
                    prop_assert_eq!(n, usize::from(was == Some(add)));
                }
            }
            let registered: BTreeSet<(usize, u64)> = r
                .cluster_list()
                .iter()
                .map(|x| (GROUPS.iter().position(|g| *g == x.group.as_str()).unwrap_or(9), x.member.0))
                .collect();
            prop_assert_eq!(&registered, &alive.keys().copied().collect::<BTreeSet<_>>());
            check_invariants(&r);
        }
    }
}
