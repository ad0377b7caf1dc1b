//! `mqadmin clusterList`: every member of every group, in the columns and
//! printf layout of RocketMQ 5's `ClusterListSubCommand`.

use raftmq_proto::namesrv::v1::ClusterRow;

use crate::admin::{AdminError, NamesrvClient};

/// The header's columns, as upstream names them.
pub const CLUSTER_LIST_COLUMNS: [&str; 12] = [
    "#Cluster Name",
    "#Broker Name",
    "#BID",
    "#Addr",
    "#Version",
    "#InTPS(LOAD)",
    "#OutTPS(LOAD)",
    "#Timer(Progress)",
    "#PCWait(ms)",
    "#Hour",
    "#SPACE",
    "#ACTIVATED",
];

/// The members the nameserver lists, only those of `cluster` if given.
/// [`AdminError::ClusterNotFound`] when a cluster is given and has no member.
pub async fn cluster_list(
    namesrv: &NamesrvClient,
    cluster: Option<&str>,
) -> Result<Vec<ClusterRow>, AdminError> {
    let answer = namesrv.cluster_list().await?;
    let Some(cluster) = cluster else {
        return Ok(answer.value);
    };
    let rows: Vec<ClusterRow> = answer
        .value
        .into_iter()
        .filter(|r| r.cluster == cluster)
        .collect();
    if rows.is_empty() {
        return Err(AdminError::ClusterNotFound {
            cluster: cluster.to_owned(),
            namesrv: answer.namesrv,
        });
    }
    Ok(rows)
}

/// The header and one line per row, sorted by cluster, broker name and BID.
pub fn render_cluster_list(rows: &[ClusterRow]) -> String {
    let h = CLUSTER_LIST_COLUMNS;
    // Upstream: "%-22s  %-22s  %-4s  %-22s %-16s  %16s  %30s  %-22s  %-11s  %-12s  %-8s  %-10s%n"
    let mut out = format!(
        "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:<11}  {:<12}  {:<8}  {:<10}\n",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11]
    );
    let mut sorted: Vec<&ClusterRow> = rows.iter().collect();
    sorted.sort_by(|a, b| (&a.cluster, &a.group, a.bid).cmp(&(&b.cluster, &b.group, b.bid)));
    for row in sorted {
        out.push_str(&render_row(row));
    }
    out
}

// Upstream: "%-22s  %-22s  %-4s  %-22s %-16s  %16s  %30s  %-22s  %11s  %-12s  %-8s  %10s%n"
fn render_row(row: &ClusterRow) -> String {
    let stats = row.stats.clone().unwrap_or_default();
    let in_tps = format!(
        "{:9.2}({},{}ms)",
        stats.in_tps, stats.write_queue_len, stats.write_queue_wait_ms
    );
    let out_tps = format!("{:9.2}(0,0ms)", stats.out_tps);
    format!(
        "{:<22}  {:<22}  {:<4}  {:<22} {:<16}  {:>16}  {:>30}  {:<22}  {:>11}  {:<12}  {:<8}  {:>10}\n",
        token(&row.cluster),
        token(&row.group),
        row.bid,
        token(&row.addr),
        token(&stats.version),
        in_tps,
        out_tps,
        token(&stats.timer_progress),
        stats.page_cache_wait_ms,
        format!("{:.2}", stats.hours),
        format!("{:.4}", stats.disk_used_ratio),
        stats.activated,
    )
}

/// A value as one whitespace-free token, `-` when empty, so that rows split
/// on whitespace into their columns.
fn token(value: &str) -> String {
    if value.trim().is_empty() {
        return "-".to_owned();
    }
    value
        .trim()
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect()
}

#[cfg(test)]
#[path = "cluster_list_tests.rs"]
mod tests;
