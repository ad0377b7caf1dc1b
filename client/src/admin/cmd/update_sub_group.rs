//! `mqadmin updateSubGroup`: create a consumer group or replace its
//! configuration on one broker (`-b`) or on every group of a cluster
//! (`-c`), one member per group.

use crate::admin::{cluster_groups, AdminError, BrokerClient, GroupSpec, NamesrvClient};

/// Where `updateSubGroup` and `deleteSubGroup` act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubGroupTarget {
    /// `-b`: the group of the broker at this address.
    Broker(String),
    /// `-c`: every group of this cluster.
    Cluster(String),
}

/// What each broker group answered to `updateSubGroup`.
#[derive(Debug)]
pub struct SubGroupOutcome {
    /// The consumer group as sent.
    pub spec: GroupSpec,
    /// Per broker group: the address that applied it, or why none did.
    pub groups: Vec<(String, Result<String, AdminError>)>,
    cluster: Option<String>,
}

/// Applies `spec` on `target`. With `-c`, every broker group is tried even
/// when one fails; an `Err` means nothing was done (nameserver down,
/// unknown cluster, or the one broker refused).
pub async fn update_sub_group(
    namesrv: Option<&NamesrvClient>,
    brokers: &BrokerClient,
    spec: GroupSpec,
    target: &SubGroupTarget,
) -> Result<SubGroupOutcome, AdminError> {
    let (targets, cluster) = targets(namesrv, target).await?;
    let mut groups = Vec::with_capacity(targets.len());
    for (group, members) in targets {
        let applied = brokers.update_sub_group(&members, &spec).await;
        if cluster.is_none() {
            // -b: the one broker's refusal is the command's.
            let addr = applied?;
            groups.push((group, Ok(addr)));
            continue;
        }
        groups.push((group, applied));
    }
    Ok(SubGroupOutcome {
        spec,
        groups,
        cluster,
    })
}

/// The broker groups to call, each with its members leader first, and the
/// cluster for `-c`.
pub(crate) async fn targets(
    namesrv: Option<&NamesrvClient>,
    target: &SubGroupTarget,
) -> Result<(Vec<(String, Vec<String>)>, Option<String>), AdminError> {
    match target {
        SubGroupTarget::Broker(addr) => Ok((vec![(addr.clone(), vec![addr.clone()])], None)),
        SubGroupTarget::Cluster(cluster) => {
            let Some(namesrv) = namesrv else {
                return Err(AdminError::NoNamesrv);
            };
            let rows = namesrv.cluster_list().await?;
            let groups = cluster_groups(&rows.value, cluster);
            if groups.is_empty() {
                return Err(AdminError::ClusterNotFound {
                    cluster: cluster.clone(),
                    namesrv: rows.namesrv,
                });
            }
            Ok((
                groups.into_iter().map(|g| (g.group, g.members)).collect(),
                Some(cluster.clone()),
            ))
        }
    }
}

impl SubGroupOutcome {
    /// Upstream's lines: `create subscription group to ADDR success.` for
    /// each broker group done, then the configuration when every one is.
    pub fn render(&self) -> String {
        super::render_applied("subscription group", &self.spec, &self.groups)
    }

    /// The broker groups that failed, as one error; `None` when all
    /// succeeded.
    pub fn into_error(self) -> Option<AdminError> {
        super::failed_groups("updateSubGroup", self.cluster, self.groups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{GroupOptions, RpcFailure};

    fn spec() -> GroupSpec {
        GroupSpec::new(&GroupOptions {
            group: "g",
            retry_max_times: Some("2"),
            retry_policy: Some(r#"{"type":"EXPONENTIAL"}"#),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn renders_each_broker_then_the_config() {
        let o = SubGroupOutcome {
            spec: spec(),
            groups: vec![
                ("a".into(), Ok("127.0.0.1:30911".into())),
                ("b".into(), Ok("127.0.0.1:31911".into())),
            ],
            cluster: Some("C".into()),
        };
        assert_eq!(
            o.render(),
            "create subscription group to 127.0.0.1:30911 success.\n\
             create subscription group to 127.0.0.1:31911 success.\n\
             SubscriptionGroupConfig{groupName=g, consumeEnable=true, consumeBroadcastEnable=false, \
             consumeMessageOrderly=false, retryMaxTimes=2, groupRetryPolicy=GroupRetryPolicy{type=EXPONENTIAL, \
             initial=5000, max=7200000, multiplier=2}}\n"
        );
        assert!(o.into_error().is_none());
    }

    #[test]
    fn a_failed_broker_group_is_named() {
        let down = AdminError::BrokerUnreachable {
            tried: vec!["x:1".into()],
            last: RpcFailure {
                code: tonic::Code::Unavailable,
                message: "refused".into(),
            },
        };
        let o = SubGroupOutcome {
            spec: spec(),
            groups: vec![("a".into(), Ok("y:2".into())), ("b".into(), Err(down))],
            cluster: Some("C".into()),
        };
        assert_eq!(o.render(), "create subscription group to y:2 success.\n");
        let e = o.into_error().unwrap().to_string();
        assert!(
            e.starts_with("updateSubGroup failed on 1 of 2 broker groups of cluster 'C': [b] "),
            "{e}"
        );
    }
}
