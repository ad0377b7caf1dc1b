//! `mqadmin deleteSubGroup`: delete a consumer group from one broker (`-b`)
//! or from every group of a cluster (`-c`). With `-c`, as upstream, the
//! group's `%RETRY%` and `%DLQ%` topics are deleted from the cluster too.

use raftmq_model::{GroupName, TopicName};

use super::update_sub_group::targets;
use crate::admin::{AdminError, BrokerClient, Deleted, NamesrvClient, SubGroupTarget};

/// What each broker group answered to `deleteSubGroup`.
#[derive(Debug)]
pub struct DeleteSubGroupOutcome {
    /// The consumer group.
    pub group: String,
    /// The cluster, for `-c`.
    pub cluster: Option<String>,
    /// Per broker group: its answer, or why no member answered.
    pub groups: Vec<(String, Result<Deleted, AdminError>)>,
    /// With `-c`: the group's topics that could not be deleted.
    pub topics_failed: Vec<(String, AdminError)>,
}

/// Deletes `group` on `target` (its offsets too with `remove_offset`).
/// Every broker group is asked even when one fails; an `Err` means nothing
/// was done.
pub async fn delete_sub_group(
    namesrv: Option<&NamesrvClient>,
    brokers: &BrokerClient,
    group: &str,
    remove_offset: bool,
    target: &SubGroupTarget,
) -> Result<DeleteSubGroupOutcome, AdminError> {
    let name = GroupName::new(group).map_err(|e| AdminError::InvalidOption {
        option: "-g",
        value: group.to_owned(),
        reason: e.to_string(),
    })?;
    let (targets, cluster) = targets(namesrv, target).await?;
    let mut groups = Vec::with_capacity(targets.len());
    let mut topics_failed = Vec::new();
    for (broker_group, members) in &targets {
        let deleted = brokers
            .delete_sub_group(members, group, remove_offset)
            .await;
        groups.push((broker_group.clone(), deleted));
    }
    if cluster.is_some() {
        let topics = [TopicName::retry(&name), TopicName::dead_letter(&name)];
        for topic in topics.into_iter().flatten() {
            for (broker_group, members) in &targets {
                if let Err(e) = brokers.delete_topic(members, &topic).await {
                    topics_failed.push((format!("{broker_group} {topic}"), e));
                }
            }
        }
    }
    Ok(DeleteSubGroupOutcome {
        group: group.to_owned(),
        cluster,
        groups,
        topics_failed,
    })
}

impl DeleteSubGroupOutcome {
    /// Upstream's line per broker group that deleted it; a line per broker
    /// group that has no such consumer group.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (broker_group, answer) in &self.groups {
            match (answer, &self.cluster) {
                (Ok(Deleted::Done(addr)), None) => out.push_str(&format!(
                    "delete subscription group [{}] from broker [{addr}] success.\n",
                    self.group
                )),
                (Ok(Deleted::Done(addr)), Some(cluster)) => out.push_str(&format!(
                    "delete subscription group [{}] from broker [{addr}] in cluster [{cluster}] success.\n",
                    self.group
                )),
                (Ok(Deleted::NotFound(addr)), _) => out.push_str(&format!(
                    "subscription group [{}] does not exist on broker group [{broker_group}] ({addr}), nothing to delete.\n",
                    self.group
                )),
                (Err(_), _) => {}
            }
        }
        out
    }

    /// The broker groups that failed, as one error; or, when none had the
    /// consumer group, [`AdminError::SubGroupNotInCluster`].
    pub fn into_error(self) -> Option<AdminError> {
        let total = self.groups.len();
        let first = self
            .groups
            .first()
            .map(|(g, _)| g.clone())
            .unwrap_or_default();
        let deleted_any = self
            .groups
            .iter()
            .any(|(_, r)| matches!(r, Ok(Deleted::Done(_))));
        let mut failures: Vec<(String, AdminError)> = self
            .groups
            .into_iter()
            .filter_map(|(group, r)| r.err().map(|e| (group, e)))
            .collect();
        failures.extend(self.topics_failed);
        if !failures.is_empty() {
            return Some(AdminError::Groups {
                call: "deleteSubGroup",
                cluster: self.cluster.unwrap_or_default(),
                groups: total,
                failures,
            });
        }
        if !deleted_any {
            let scope = match self.cluster {
                Some(c) => format!("on any broker group of cluster '{c}'"),
                None => format!("on broker {first}"),
            };
            return Some(AdminError::SubGroupNotInCluster {
                group: self.group,
                scope,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_per_broker_and_not_found_everywhere_is_an_error() {
        let o = DeleteSubGroupOutcome {
            group: "g".into(),
            cluster: Some("C".into()),
            groups: vec![
                ("a".into(), Ok(Deleted::Done("a:1".into()))),
                ("b".into(), Ok(Deleted::NotFound("b:1".into()))),
            ],
            topics_failed: Vec::new(),
        };
        assert_eq!(
            o.render(),
            "delete subscription group [g] from broker [a:1] in cluster [C] success.\n\
             subscription group [g] does not exist on broker group [b] (b:1), nothing to delete.\n"
        );
        assert!(o.into_error().is_none());
        let none = DeleteSubGroupOutcome {
            group: "g".into(),
            cluster: None,
            groups: vec![("a:1".into(), Ok(Deleted::NotFound("a:1".into())))],
            topics_failed: Vec::new(),
        };
        assert!(matches!(
            none.into_error(),
            Some(AdminError::SubGroupNotInCluster { .. })
        ));
    }
}
