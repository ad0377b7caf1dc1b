//! `mqadmin deleteTopic`: delete a topic from every group of a cluster, one
//! member per group.

use crate::admin::{cluster_groups, AdminError, BrokerClient, Deleted, NamesrvClient};

/// What each group answered to `deleteTopic`.
#[derive(Debug)]
pub struct DeleteOutcome {
    /// The topic.
    pub topic: String,
    /// The cluster.
    pub cluster: String,
    /// Per group: its answer, or why no member answered.
    pub groups: Vec<(String, Result<Deleted, AdminError>)>,
}

/// Deletes `topic` from every group of `cluster`. Every group is asked even
/// when one fails; an `Err` means nothing was done (nameserver down,
/// unknown cluster).
pub async fn delete_topic(
    namesrv: &NamesrvClient,
    brokers: &BrokerClient,
    topic: &str,
    cluster: &str,
) -> Result<DeleteOutcome, AdminError> {
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
        let deleted = brokers.delete_topic(&target.members, topic).await;
        groups.push((target.group, deleted));
    }
    Ok(DeleteOutcome {
        topic: topic.to_owned(),
        cluster: cluster.to_owned(),
        groups,
    })
}

impl DeleteOutcome {
    /// A line per group without the topic, then upstream's
    /// `delete topic [T] from cluster [C] success.` when every group
    /// answered and at least one deleted it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (group, answer) in &self.groups {
            if let Ok(Deleted::NotFound(addr)) = answer {
                out.push_str(&format!(
                    "topic [{}] does not exist on broker group [{group}] ({addr}), nothing to delete.\n",
                    self.topic
                ));
            }
        }
        if self.groups.iter().all(|(_, r)| r.is_ok()) && self.deleted_any() {
            out.push_str(&format!(
                "delete topic [{}] from cluster [{}] success.\n",
                self.topic, self.cluster
            ));
        }
        out
    }

    /// The groups that failed as one error; or, when every group answered
    /// that it has no such topic, [`AdminError::TopicNotInCluster`].
    pub fn into_error(self) -> Option<AdminError> {
        let total = self.groups.len();
        let deleted_any = self.deleted_any();
        let failures: Vec<(String, AdminError)> = self
            .groups
            .into_iter()
            .filter_map(|(group, r)| r.err().map(|e| (group, e)))
            .collect();
        if !failures.is_empty() {
            return Some(AdminError::Groups {
                call: "deleteTopic",
                cluster: self.cluster,
                groups: total,
                failures,
            });
        }
        if !deleted_any {
            return Some(AdminError::TopicNotInCluster {
                topic: self.topic,
                cluster: self.cluster,
            });
        }
        None
    }

    fn deleted_any(&self) -> bool {
        self.groups
            .iter()
            .any(|(_, r)| matches!(r, Ok(Deleted::Done(_))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(groups: Vec<(String, Result<Deleted, AdminError>)>) -> DeleteOutcome {
        DeleteOutcome {
            topic: "T".into(),
            cluster: "C".into(),
            groups,
        }
    }

    #[test]
    fn not_found_is_reported_beside_the_success() {
        let o = outcome(vec![
            ("a".into(), Ok(Deleted::Done("a:1".into()))),
            ("b".into(), Ok(Deleted::NotFound("b:1".into()))),
        ]);
        assert_eq!(
            o.render(),
            "topic [T] does not exist on broker group [b] (b:1), nothing to delete.\n\
             delete topic [T] from cluster [C] success.\n"
        );
        assert!(o.into_error().is_none());
    }

    #[test]
    fn not_found_everywhere_is_an_error() {
        let o = outcome(vec![("a".into(), Ok(Deleted::NotFound("a:1".into())))]);
        let err = o.into_error().unwrap();
        assert!(matches!(err, AdminError::TopicNotInCluster { .. }), "{err}");
    }
}
