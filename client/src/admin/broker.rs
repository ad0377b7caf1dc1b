//! The broker side of `mqadmin`: `BrokerAdmin` calls on one member of a
//! group, falling back to the group's other members when one does not answer.
//! Any member accepts every call (followers forward to the leader).

use raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient;
use raftmq_proto::admin::v1::{
    BrokerStatusRequest, ConsumerProgressRequest, DeleteSubGroupRequest, DeleteTopicRequest,
    ListSubGroupsRequest, ListSubGroupsResponse, QueueProgress, StatusEntry, UpdateSubGroupRequest,
    UpdateTopicRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use super::rpc::{Channels, Timeouts};
use super::{AdminError, GroupSpec, MessageTypeChange, RpcFailure, TopicSpec};
use raftmq_model::TopicMessageType;
use raftmq_proto::message_type;

/// What a group answered to `DeleteTopic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// The member at this address deleted the topic.
    Done(String),
    /// The member at this address answered that the group has no such topic.
    NotFound(String),
}

/// A client of broker members, one reused channel per address.
#[derive(Debug, Default)]
pub struct BrokerClient {
    channels: Channels,
}

impl BrokerClient {
    /// A client with the default timeouts (1 s to connect, 3 s a call).
    pub fn new() -> Self {
        Self::with_timeouts(Timeouts::default())
    }

    /// A client with the given timeouts.
    pub fn with_timeouts(timeouts: Timeouts) -> Self {
        Self {
            channels: Channels::new(timeouts),
        }
    }

    /// Creates or changes the topic through the first of `members` that
    /// answers; returns that member's address.
    pub async fn update_topic(
        &self,
        members: &[String],
        spec: &TopicSpec,
    ) -> Result<String, AdminError> {
        let request = UpdateTopicRequest {
            topic: spec.name().to_owned(),
            read_queues: spec.read_queues(),
            write_queues: spec.write_queues(),
            perm: spec.perm().bits(),
            message_type: spec.attributes().message_type().map(|change| {
                message_type::to_wire(match change {
                    MessageTypeChange::Set(t) => t,
                    MessageTypeChange::Remove => TopicMessageType::Unspecified,
                })
            }),
        };
        let (addr, answer) = self
            .first_answer(members, |mut c| {
                let request = request.clone();
                async move { c.update_topic(request).await }
            })
            .await?;
        match answer {
            Ok(_) => Ok(addr),
            Err(failure) => Err(refused(addr, "UpdateTopic", failure)),
        }
    }

    /// Deletes the topic through the first of `members` that answers.
    pub async fn delete_topic(
        &self,
        members: &[String],
        topic: &str,
    ) -> Result<Deleted, AdminError> {
        let request = DeleteTopicRequest {
            topic: topic.to_owned(),
        };
        let (addr, answer) = self
            .first_answer(members, |mut c| {
                let request = request.clone();
                async move { c.delete_topic(request).await }
            })
            .await?;
        match answer {
            Ok(_) => Ok(Deleted::Done(addr)),
            Err(failure) if failure.code == Code::NotFound => Ok(Deleted::NotFound(addr)),
            Err(failure) => Err(refused(addr, "DeleteTopic", failure)),
        }
    }

    /// Creates or replaces a consumer group through the first of `members`
    /// that answers; returns that member's address.
    pub async fn update_sub_group(
        &self,
        members: &[String],
        spec: &GroupSpec,
    ) -> Result<String, AdminError> {
        let request = UpdateSubGroupRequest {
            config: Some(raftmq_proto::subscription_group::to_wire(
                spec.name(),
                spec.config(),
            )),
        };
        let (addr, answer) = self
            .first_answer(members, |mut c| {
                let request = request.clone();
                async move { c.update_sub_group(request).await }
            })
            .await?;
        match answer {
            Ok(_) => Ok(addr),
            Err(failure) => Err(refused(addr, "UpdateSubGroup", failure)),
        }
    }

    /// Deletes a consumer group through the first of `members` that answers.
    pub async fn delete_sub_group(
        &self,
        members: &[String],
        group: &str,
        remove_offset: bool,
    ) -> Result<Deleted, AdminError> {
        let request = DeleteSubGroupRequest {
            group: group.to_owned(),
            remove_offset,
        };
        let (addr, answer) = self
            .first_answer(members, |mut c| {
                let request = request.clone();
                async move { c.delete_sub_group(request).await }
            })
            .await?;
        match answer {
            Ok(_) => Ok(Deleted::Done(addr)),
            Err(failure) if failure.code == Code::NotFound => Ok(Deleted::NotFound(addr)),
            Err(failure) => Err(refused(addr, "DeleteSubGroup", failure)),
        }
    }

    /// The consumer groups of the broker group, as the member at `addr`
    /// sees them (`group` alone when not empty).
    pub async fn list_sub_groups(
        &self,
        addr: &str,
        group: &str,
    ) -> Result<ListSubGroupsResponse, AdminError> {
        let members = [addr.to_owned()];
        let request = ListSubGroupsRequest {
            group: group.to_owned(),
        };
        let (addr, answer) = self
            .first_answer(&members, |mut c| {
                let request = request.clone();
                async move { c.list_sub_groups(request).await }
            })
            .await?;
        match answer {
            Ok(r) => Ok(r),
            Err(failure) => Err(refused(addr, "ListSubGroups", failure)),
        }
    }

    /// The status of the member at `addr` (that member's own view).
    pub async fn broker_status(&self, addr: &str) -> Result<Vec<StatusEntry>, AdminError> {
        let members = [addr.to_owned()];
        let (addr, answer) = self
            .first_answer(&members, |mut c| async move {
                c.broker_status(BrokerStatusRequest {}).await
            })
            .await?;
        match answer {
            Ok(r) => Ok(r.entries),
            Err(failure) => Err(refused(addr, "BrokerStatus", failure)),
        }
    }

    /// A consumer group's progress on the group of `members`; `None` when
    /// it committed nothing there.
    pub async fn consumer_progress(
        &self,
        members: &[String],
        group: &str,
        topic: &str,
    ) -> Result<Option<Vec<QueueProgress>>, AdminError> {
        let request = ConsumerProgressRequest {
            group: group.to_owned(),
            topic: topic.to_owned(),
        };
        let (addr, answer) = self
            .first_answer(members, |mut c| {
                let request = request.clone();
                async move { c.consumer_progress(request).await }
            })
            .await?;
        match answer {
            Ok(r) => Ok(Some(r.queues)),
            Err(failure) if failure.code == Code::NotFound => Ok(None),
            Err(failure) => Err(refused(addr, "ConsumerProgress", failure)),
        }
    }

    async fn first_answer<T, F, Fut>(
        &self,
        members: &[String],
        mut rpc: F,
    ) -> Result<(String, Result<T, RpcFailure>), AdminError>
    where
        F: FnMut(BrokerAdminClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<Response<T>, Status>>,
    {
        match self
            .channels
            .first_answer(members, |channel| rpc(BrokerAdminClient::new(channel)))
            .await
        {
            Ok((i, answer)) => Ok((members[i].clone(), answer)),
            Err(last) => Err(AdminError::BrokerUnreachable {
                tried: members.to_vec(),
                last,
            }),
        }
    }
}

fn refused(addr: String, call: &'static str, failure: RpcFailure) -> AdminError {
    AdminError::BrokerRefused {
        addr,
        call,
        failure,
    }
}
