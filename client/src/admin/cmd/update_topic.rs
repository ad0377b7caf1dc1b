//! `mqadmin updateTopic`: create or change a topic on one broker (`-b`) or
//! on every group of a cluster (`-c`), one member per group.

use crate::admin::{cluster_groups, AdminError, BrokerClient, NamesrvClient, TopicSpec};

/// What each group answered to `updateTopic`.
#[derive(Debug)]
pub struct UpdateOutcome {
    /// The topic as sent.
    pub spec: TopicSpec,
    /// The cluster, for `-c`; `None` for `-b`.
    pub cluster: Option<String>,
    /// Per group: the address that applied the topic, or why none did.
    pub groups: Vec<(String, Result<String, AdminError>)>,
}

/// Applies `spec` to the group of the broker at `addr` (`-b`); an `Err`
/// means it was not applied.
pub async fn update_topic_on_broker(
    brokers: &BrokerClient,
    spec: TopicSpec,
    addr: &str,
) -> Result<UpdateOutcome, AdminError> {
    let applied = brokers.update_topic(&[addr.to_owned()], &spec).await?;
    Ok(UpdateOutcome {
        spec,
        cluster: None,
        groups: vec![(addr.to_owned(), Ok(applied))],
    })
}

/// Applies `spec` to every group of `cluster` (`-c`), through one member of
/// each, leader first. Every group is tried even when one fails; an `Err`
/// means nothing was done (nameserver down, unknown cluster).
pub async fn update_topic_on_cluster(
    namesrv: &NamesrvClient,
    brokers: &BrokerClient,
    spec: TopicSpec,
    cluster: &str,
) -> Result<UpdateOutcome, AdminError> {
    let rows = namesrv.cluster_list().await?;
    let targets = cluster_groups(&rows.value, cluster);
    if targets.is_empty() {
        return Err(AdminError::ClusterNotFound {
            cluster: cluster.to_owned(),
            namesrv: rows.namesrv,
        });
    }
    let mut groups = Vec::with_capacity(targets.len());
    for target in targets {
        let applied = brokers.update_topic(&target.members, &spec).await;
        groups.push((target.group, applied));
    }
    Ok(UpdateOutcome {
        spec,
        cluster: Some(cluster.to_owned()),
        groups,
    })
}

impl UpdateOutcome {
    /// Upstream's lines: `create topic to ADDR success.` for each group
    /// done, then the `TopicConfig [...]` line when every group is.
    pub fn render(&self) -> String {
        super::render_applied("topic", &self.spec, &self.groups)
    }

    /// The groups that failed, as one error; `None` when all succeeded.
    pub fn into_error(self) -> Option<AdminError> {
        super::failed_groups("updateTopic", self.cluster, self.groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::RpcFailure;

    #[test]
    fn renders_each_group_then_the_config() {
        let outcome = UpdateOutcome {
            spec: TopicSpec::new("T", 8, 8, 6).unwrap(),
            cluster: Some("C".into()),
            groups: vec![
                ("a".into(), Ok("127.0.0.1:30911".into())),
                ("b".into(), Ok("127.0.0.1:31911".into())),
            ],
        };
        assert_eq!(
            outcome.render(),
            "create topic to 127.0.0.1:30911 success.\n\
             create topic to 127.0.0.1:31911 success.\n\
             TopicConfig [topicName=T, readQueueNums=8, writeQueueNums=8, perm=RW-]\n"
        );
        assert!(outcome.into_error().is_none());
    }

    #[test]
    fn a_failed_group_is_one_error_and_hides_no_other() {
        let down = AdminError::BrokerUnreachable {
            tried: vec!["x:1".into()],
            last: RpcFailure {
                code: tonic::Code::Unavailable,
                message: "refused".into(),
            },
        };
        let outcome = UpdateOutcome {
            spec: TopicSpec::new("T", 8, 8, 6).unwrap(),
            cluster: Some("C".into()),
            groups: vec![("a".into(), Ok("y:2".into())), ("b".into(), Err(down))],
        };
        assert_eq!(outcome.render(), "create topic to y:2 success.\n");
        let err = outcome.into_error().unwrap().to_string();
        assert!(
            err.starts_with("updateTopic failed on 1 of 2 broker groups of cluster 'C': [b] "),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }
}
