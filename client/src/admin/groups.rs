//! Which members to call for a cluster-wide change: every group of the
//! cluster, each with its members in the order to try them (leader first).

use std::collections::BTreeMap;

use raftmq_proto::namesrv::v1::ClusterRow;

/// One broker group and the client addresses of its members, BID 0 (the
/// leader) first, then by BID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembers {
    /// The group's name (`brokerName`).
    pub group: String,
    /// Its members' client addresses, in the order to try them.
    pub members: Vec<String>,
}

/// The groups of `cluster` in `rows`, by name; empty when the cluster has
/// no registered member.
pub fn cluster_groups(rows: &[ClusterRow], cluster: &str) -> Vec<GroupMembers> {
    let mut groups: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.cluster == cluster) {
        groups
            .entry(&row.group)
            .or_default()
            .push((row.bid, &row.addr));
    }
    groups
        .into_iter()
        .map(|(group, mut members)| {
            members.sort();
            GroupMembers {
                group: group.to_owned(),
                members: members.into_iter().map(|(_, a)| a.to_owned()).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cluster: &str, group: &str, bid: u64, addr: &str) -> ClusterRow {
        ClusterRow {
            cluster: cluster.into(),
            group: group.into(),
            bid,
            addr: addr.into(),
            ..Default::default()
        }
    }

    #[test]
    fn groups_of_the_cluster_only_leader_first() {
        let rows = [
            row("C", "b", 3, "b3"),
            row("C", "b", 0, "b0"),
            row("D", "x", 0, "x0"),
            row("C", "a", 2, "a2"),
            row("C", "b", 2, "b2"),
        ];
        let groups = cluster_groups(&rows, "C");
        assert_eq!(
            groups,
            [
                GroupMembers {
                    group: "a".into(),
                    members: vec!["a2".into()]
                },
                GroupMembers {
                    group: "b".into(),
                    members: vec!["b0".into(), "b2".into(), "b3".into()]
                },
            ]
        );
        assert!(cluster_groups(&rows, "E").is_empty());
    }
}
