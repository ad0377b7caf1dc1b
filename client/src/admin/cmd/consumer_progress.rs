//! `mqadmin consumerProgress -g GROUP [-t TOPIC]`: per queue of every broker
//! group, the queue's offset, the group's committed offset and the lag, in
//! upstream's columns.

use raftmq_proto::admin::v1::QueueProgress;
use raftmq_proto::namesrv::v1::ClusterRow;

use crate::admin::{AdminError, BrokerClient, GroupMembers, NamesrvClient};

/// One broker group's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupProgress {
    /// The broker group.
    pub group: String,
    /// Its queues' progress, by topic and queue.
    pub queues: Vec<QueueProgress>,
}

/// Every group in the cluster list, each once, leader first.
fn all_groups(rows: &[ClusterRow]) -> Vec<GroupMembers> {
    let mut clusters: Vec<&str> = rows.iter().map(|r| r.cluster.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    clusters
        .into_iter()
        .flat_map(|c| crate::admin::cluster_groups(rows, c))
        .collect()
}

/// The consumer group's progress on every broker group that has any.
/// Broker groups where it committed nothing are left out; none at all is
/// an error.
pub async fn consumer_progress(
    namesrv: &NamesrvClient,
    brokers: &BrokerClient,
    consumer_group: &str,
    topic: Option<&str>,
) -> Result<Vec<GroupProgress>, AdminError> {
    let rows = namesrv.cluster_list().await?;
    let mut out = Vec::new();
    for g in all_groups(&rows.value) {
        match brokers
            .consumer_progress(&g.members, consumer_group, topic.unwrap_or(""))
            .await?
        {
            Some(mut queues) => {
                queues.sort_by(|a, b| (&a.topic, a.queue_id).cmp(&(&b.topic, b.queue_id)));
                out.push(GroupProgress {
                    group: g.group,
                    queues,
                });
            }
            None => continue,
        }
    }
    if out.is_empty() {
        return Err(AdminError::InvalidOption {
            option: "-g",
            value: consumer_group.to_owned(),
            reason: "this consumer group has committed no offset on any broker group".into(),
        });
    }
    Ok(out)
}

/// Upstream's table, then the totals.
pub fn render_consumer_progress(groups: &[GroupProgress]) -> String {
    let mut out = format!(
        "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  {:<20}  {}\n",
        "#Topic",
        "#Broker Name",
        "#QID",
        "#Broker Offset",
        "#Consumer Offset",
        "#Client IP",
        "#Diff",
        "#LastTime"
    );
    let mut total = 0u64;
    for g in groups {
        for q in &g.queues {
            total += q.lag;
            let last = if q.last_timestamp_ms > 0 {
                format_ms(q.last_timestamp_ms)
            } else {
                "N/A".to_owned()
            };
            out.push_str(&format!(
                "{:<64}  {:<32}  {:<4}  {:<20}  {:<20}  {:<20}  {:<20}  {}\n",
                q.topic,
                g.group,
                q.queue_id,
                q.broker_offset,
                q.consumer_offset,
                "N/A",
                q.lag,
                last
            ));
        }
    }
    out.push_str(&format!("\nDiff Total: {total}\n"));
    out
}

/// `yyyy-MM-dd HH:mm:ss` (UTC) of a time in ms since the epoch.
fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_totals() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00");
        assert_eq!(format_ms(1_700_000_000_000), "2023-11-14 22:13:20");
        let g = GroupProgress {
            group: "RaftNode00".into(),
            queues: vec![QueueProgress {
                topic: "T".into(),
                queue_id: 0,
                broker_offset: 10,
                consumer_offset: 7,
                lag: 3,
                last_timestamp_ms: 0,
            }],
        };
        let text = render_consumer_progress(&[g]);
        assert!(text.starts_with("#Topic"));
        let row: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row, ["T", "RaftNode00", "0", "10", "7", "N/A", "3", "N/A"]);
        assert!(text.ends_with("Diff Total: 3\n"));
    }
}
