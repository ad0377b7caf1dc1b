//! `mqadmin consumerProgress` without `-g`: every consumer group of every
//! broker group, with its consumers and lag, in upstream's columns.
//!
//! Each member of a broker group is asked (a consumer is connected to one
//! member or several); the configuration and lag come from the first that
//! answers, the consumers from all, each client once.

use std::collections::BTreeMap;

use raftmq_proto::admin::v1::ConsumerClient;
use raftmq_proto::namesrv::v1::ClusterRow;

use crate::admin::{AdminError, BrokerClient, GroupMembers, NamesrvClient};

/// One consumer group over the whole cluster list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupRow {
    /// The consumer group.
    pub group: String,
    /// Its consumers connected to any member, each client once.
    pub clients: Vec<ConsumerClient>,
    /// Messages not yet consumed, over every broker group.
    pub diff_total: u64,
}

fn all_groups(rows: &[ClusterRow]) -> Vec<GroupMembers> {
    let mut clusters: Vec<&str> = rows.iter().map(|r| r.cluster.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    clusters
        .into_iter()
        .flat_map(|c| crate::admin::cluster_groups(rows, c))
        .collect()
}

/// Every consumer group known to any broker group. A broker group none of
/// whose members answers is an error.
pub async fn group_list(
    namesrv: &NamesrvClient,
    brokers: &BrokerClient,
) -> Result<Vec<GroupRow>, AdminError> {
    let rows = namesrv.cluster_list().await?;
    let mut out: BTreeMap<String, GroupRow> = BTreeMap::new();
    for g in all_groups(&rows.value) {
        let mut answered = false;
        let mut last_error = None;
        for member in &g.members {
            let listed = match brokers.list_sub_groups(member, "").await {
                Ok(l) => l,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            let first = !answered;
            answered = true;
            for info in listed.groups {
                let row = out.entry(info.group.clone()).or_insert_with(|| GroupRow {
                    group: info.group.clone(),
                    ..Default::default()
                });
                if first {
                    row.diff_total += info.diff_total;
                }
                for c in info.clients {
                    if !row.clients.iter().any(|k| k.client_id == c.client_id) {
                        row.clients.push(c);
                    }
                }
            }
        }
        if let (false, Some(e)) = (answered, last_error) {
            return Err(e);
        }
    }
    Ok(out.into_values().collect())
}

/// The lowest version among the clients, comparing numbers part by part.
fn lowest_version(clients: &[ConsumerClient]) -> String {
    let key = |v: &str| -> Vec<u64> {
        v.split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty())
            .map(|p| p.parse().unwrap_or(u64::MAX))
            .collect()
    };
    clients
        .iter()
        .map(|c| c.version.as_str())
        .min_by_key(|v| key(v))
        .filter(|v| !v.is_empty())
        .unwrap_or("N/A")
        .to_owned()
}

/// Upstream's table: `#Group #Count #Version #Type #Model #TPS #Diff Total`.
/// A group with no consumer connected reads `OFFLINE`; raftmq measures no
/// consume TPS and prints `N/A` for it.
pub fn render_group_list(rows: &[GroupRow]) -> String {
    let mut out = format!(
        "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}\n",
        "#Group", "#Count", "#Version", "#Type", "#Model", "#TPS", "#Diff Total"
    );
    for r in rows {
        let count = r.clients.len();
        let (version, kind, model) = if count == 0 {
            ("OFFLINE".to_owned(), "", "")
        } else if r.clients.iter().any(|c| c.client_type == "PUSH_CONSUMER") {
            (lowest_version(&r.clients), "PUSH", "CLUSTERING")
        } else {
            (lowest_version(&r.clients), "PULL", "")
        };
        out.push_str(&format!(
            "{:<64}  {:<6}  {:<24} {:<5}  {:<14}  {:<7}  {}\n",
            r.group, count, version, kind, model, "N/A", r.diff_total
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, kind: &str, version: &str) -> ConsumerClient {
        ConsumerClient {
            client_id: id.into(),
            client_type: kind.into(),
            version: version.into(),
        }
    }

    #[test]
    fn offline_and_online_groups() {
        let rows = [
            GroupRow {
                group: "idle".into(),
                clients: vec![],
                diff_total: 4,
            },
            GroupRow {
                group: "busy".into(),
                clients: vec![
                    client("a", "SIMPLE_CONSUMER", "5.10.0"),
                    client("b", "PUSH_CONSUMER", "5.9.1"),
                ],
                diff_total: 0,
            },
        ];
        let text = render_group_list(&rows);
        let lines: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(lines[0][0], "#Group");
        assert_eq!(lines[1], ["idle", "0", "OFFLINE", "N/A", "4"]);
        assert_eq!(
            lines[2],
            ["busy", "2", "5.9.1", "PUSH", "CLUSTERING", "N/A", "0"]
        );
    }
}
