//! `mqadmin getConsumerConfig -g GROUP`: a consumer group's configuration
//! on every broker group that has it, in upstream's `field = value` lines.

use raftmq_model::SubscriptionGroupConfig;
use raftmq_proto::subscription_group;

use crate::admin::{AdminError, BrokerClient, NamesrvClient};

/// The configuration one broker group holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// The cluster.
    pub cluster: String,
    /// The broker group.
    pub broker: String,
    /// The consumer group.
    pub group: String,
    /// Its configuration there.
    pub config: SubscriptionGroupConfig,
}

/// `group`'s configuration on each broker group that has it; none is an
/// error.
pub async fn get_consumer_config(
    namesrv: &NamesrvClient,
    brokers: &BrokerClient,
    group: &str,
) -> Result<Vec<ConsumerConfig>, AdminError> {
    let rows = namesrv.cluster_list().await?;
    let mut clusters: Vec<&str> = rows.value.iter().map(|r| r.cluster.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    let mut out = Vec::new();
    for cluster in clusters {
        for g in crate::admin::cluster_groups(&rows.value, cluster) {
            let mut last_error = None;
            let mut listed = None;
            for member in &g.members {
                match brokers.list_sub_groups(member, group).await {
                    Ok(l) => {
                        listed = Some(l);
                        break;
                    }
                    Err(e) => last_error = Some(e),
                }
            }
            let Some(listed) = listed else {
                if let Some(e) = last_error {
                    return Err(e);
                }
                continue;
            };
            for info in listed.groups {
                if let Some(c) = info.config.filter(|_| info.group == group) {
                    let (group, config) = subscription_group::from_wire(c);
                    out.push(ConsumerConfig {
                        cluster: cluster.to_owned(),
                        broker: g.group.clone(),
                        group,
                        config,
                    });
                }
            }
        }
    }
    if out.is_empty() {
        return Err(AdminError::SubGroupNotFound {
            group: group.to_owned(),
        });
    }
    Ok(out)
}

/// Upstream's layout: a `=====CLUSTER:BROKER=====` line, then one
/// `field = value` line per field raftmq keeps.
pub fn render_consumer_config(configs: &[ConsumerConfig]) -> String {
    let mut out = String::new();
    for c in configs {
        out.push_str(&format!(
            "============================={}:{}=============================\n",
            c.cluster, c.broker
        ));
        let fields = [
            ("groupName", c.group.clone()),
            ("consumeEnable", c.config.consume_enable.to_string()),
            (
                "consumeBroadcastEnable",
                c.config.consume_broadcast.to_string(),
            ),
            (
                "consumeMessageOrderly",
                c.config.consume_orderly.to_string(),
            ),
            ("retryMaxTimes", c.config.retry_max_times.to_string()),
            ("groupRetryPolicy", c.config.retry_policy.to_string()),
        ];
        for (name, value) in fields {
            out.push_str(&format!("{name:<40}=  {value}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_block_per_broker_group() {
        let c = ConsumerConfig {
            cluster: "C".into(),
            broker: "RaftNode00".into(),
            group: "g".into(),
            config: SubscriptionGroupConfig {
                retry_max_times: 2,
                ..Default::default()
            },
        };
        let text = render_consumer_config(&[c]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "=============================C:RaftNode00============================="
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["groupName", "=", "g"]
        );
        assert!(lines.contains(&format!("{:<40}=  2", "retryMaxTimes").as_str()));
        assert_eq!(lines.len(), 7);
    }
}
