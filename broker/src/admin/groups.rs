//! The consumer group calls of `BrokerAdmin`: `updateSubGroup` and
//! `deleteSubGroup` through Raft, and the list behind `consumerProgress`
//! without `-g`.

use raftmq_model::GroupName;
use raftmq_proto::admin::v1 as pb;
use raftmq_proto::subscription_group;
use raftmq_store::meta_state::Command;
use tonic::Status;

use super::{write_status, AdminService};

impl AdminService {
    pub(super) async fn update_group(
        &self,
        r: pb::UpdateSubGroupRequest,
    ) -> Result<pb::UpdateSubGroupResponse, Status> {
        let Some(wire) = r.config else {
            return Err(Status::invalid_argument(
                "config: the consumer group's configuration is required",
            ));
        };
        let (name, config) = subscription_group::from_wire(wire);
        let group = GroupName::new(name).map_err(|e| Status::invalid_argument(e.to_string()))?;
        config
            .check()
            .map_err(|e| Status::invalid_argument(format!("group {group:?}: {e}")))?;
        self.node
            .command(&Command::UpsertGroup {
                group: group.clone(),
                config: config.clone(),
            })
            .await
            .map_err(write_status)?;
        tracing::info!(%group, %config, "subscription group updated");
        Ok(pb::UpdateSubGroupResponse {
            group: self.group.clone(),
        })
    }

    pub(super) async fn delete_group(
        &self,
        r: pb::DeleteSubGroupRequest,
    ) -> Result<pb::DeleteSubGroupResponse, Status> {
        let group = GroupName::new(r.group).map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Judged on this member's applied state, as deleteTopic is.
        if self.node.store().group(&group).is_none() {
            return Err(Status::not_found(format!(
                "subscription group {:?} does not exist on broker group {}",
                group.as_str(),
                self.group
            )));
        }
        self.node
            .command(&Command::DeleteGroup {
                group: group.clone(),
                remove_offsets: r.remove_offset,
            })
            .await
            .map_err(write_status)?;
        tracing::info!(%group, remove_offset = r.remove_offset, "subscription group deleted");
        Ok(pb::DeleteSubGroupResponse {
            group: self.group.clone(),
        })
    }

    pub(super) fn list_groups(&self, r: pb::ListSubGroupsRequest) -> pb::ListSubGroupsResponse {
        let store = self.node.store();
        let state = store.meta_state();
        let wanted = |g: &str| r.group.is_empty() || r.group == g;
        let mut infos: std::collections::BTreeMap<&str, pb::SubGroupInfo> = state
            .groups
            .iter()
            .filter(|(g, _)| wanted(g))
            .map(|(g, c)| {
                let info = pb::SubGroupInfo {
                    group: g.clone(),
                    config: Some(subscription_group::to_wire(g, c)),
                    ..Default::default()
                };
                (g.as_str(), info)
            })
            .collect();
        for ((g, topic, queue), offset) in &state.offsets {
            if !wanted(g) {
                continue;
            }
            let (_, max) = store.queue_offsets(topic, *queue);
            let info = infos.entry(g).or_insert_with(|| pb::SubGroupInfo {
                group: g.clone(),
                ..Default::default()
            });
            info.diff_total += max.0.saturating_sub(*offset);
        }
        let groups = infos
            .into_values()
            .map(|mut info| {
                info.clients = self
                    .sessions
                    .consumers_of(&info.group)
                    .into_iter()
                    .map(|c| pb::ConsumerClient {
                        client_id: c.client_id,
                        client_type: c.client_type.as_str_name().to_owned(),
                        version: c.version,
                    })
                    .collect();
                info
            })
            .collect();
        pb::ListSubGroupsResponse {
            broker_group: self.group.clone(),
            groups,
        }
    }
}
