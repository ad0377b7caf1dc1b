//! The nameserver side of `mqadmin`: asks the nameservers of the list in
//! order and takes the first answer, so one nameserver down fails nothing.

use std::sync::atomic::{AtomicUsize, Ordering};

use raftmq_proto::namesrv::v1::name_server_client::NameServerClient;
use raftmq_proto::namesrv::v1::{
    ClusterListRequest, ClusterRow, TopicListRequest, TopicRouteRequest, TopicRouteResponse,
};
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use super::rpc::{Channels, Timeouts};
use super::{AdminError, NamesrvAddrs};

/// A value with the nameserver that gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered<T> {
    /// The nameserver that answered.
    pub namesrv: String,
    /// Its answer.
    pub value: T,
}

/// A client of a list of nameservers. Connects lazily; after a nameserver
/// answers, later calls start with it.
#[derive(Debug)]
pub struct NamesrvClient {
    addrs: NamesrvAddrs,
    channels: Channels,
    first: AtomicUsize,
}

impl NamesrvClient {
    /// A client of `addrs` with the default timeouts (1 s to connect, 3 s a call).
    pub fn new(addrs: NamesrvAddrs) -> Self {
        Self::with_timeouts(addrs, Timeouts::default())
    }

    /// A client of `addrs` with the given timeouts.
    pub fn with_timeouts(addrs: NamesrvAddrs, timeouts: Timeouts) -> Self {
        Self {
            addrs,
            channels: Channels::new(timeouts),
            first: AtomicUsize::new(0),
        }
    }

    /// Every member of every group, as the nameserver lists them.
    pub async fn cluster_list(&self) -> Result<Answered<Vec<ClusterRow>>, AdminError> {
        let answer = self
            .ask("ClusterList", |mut c| async move {
                c.cluster_list(ClusterListRequest {}).await
            })
            .await?;
        answer.map(|r| r.rows)
    }

    /// The topics of `cluster`, or of every cluster when `None`.
    pub async fn topic_list(
        &self,
        cluster: Option<&str>,
    ) -> Result<Answered<Vec<String>>, AdminError> {
        let request = TopicListRequest {
            cluster: cluster.unwrap_or_default().to_owned(),
        };
        let answer = self
            .ask("TopicList", |mut c| {
                let request = request.clone();
                async move { c.topic_list(request).await }
            })
            .await?;
        answer.map(|r| r.topics)
    }

    /// The groups that serve `topic`; [`AdminError::TopicNotFound`] when none does.
    pub async fn topic_route(
        &self,
        topic: &str,
    ) -> Result<Answered<TopicRouteResponse>, AdminError> {
        let request = TopicRouteRequest {
            topic: topic.to_owned(),
        };
        let answer = self
            .ask("TopicRoute", |mut c| {
                let request = request.clone();
                async move { c.topic_route(request).await }
            })
            .await?;
        match answer {
            Reply {
                namesrv,
                result: Err(failure),
                ..
            } if failure.code == Code::NotFound => Err(AdminError::TopicNotFound {
                topic: topic.to_owned(),
                namesrv,
            }),
            other => other.map(std::convert::identity),
        }
    }

    /// Asks the nameservers in turn, starting with the last one that answered.
    async fn ask<T, F, Fut>(&self, call: &'static str, mut rpc: F) -> Result<Reply<T>, AdminError>
    where
        F: FnMut(NameServerClient<Channel>) -> Fut,
        Fut: std::future::Future<Output = Result<Response<T>, Status>>,
    {
        let all = self.addrs.as_slice();
        let start = self.first.load(Ordering::Relaxed) % all.len();
        let order: Vec<String> = all[start..].iter().chain(&all[..start]).cloned().collect();
        match self
            .channels
            .first_answer(&order, |channel| rpc(NameServerClient::new(channel)))
            .await
        {
            Ok((i, result)) => {
                self.first.store((start + i) % all.len(), Ordering::Relaxed);
                Ok(Reply {
                    namesrv: order[i].clone(),
                    call,
                    result,
                })
            }
            Err(last) => Err(AdminError::NamesrvUnreachable { tried: order, last }),
        }
    }
}

/// One nameserver's answer, success or error.
struct Reply<T> {
    namesrv: String,
    call: &'static str,
    result: Result<T, super::RpcFailure>,
}

impl<T> Reply<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Result<Answered<U>, AdminError> {
        match self.result {
            Ok(value) => Ok(Answered {
                namesrv: self.namesrv,
                value: f(value),
            }),
            Err(failure) => Err(AdminError::NamesrvRefused {
                addr: self.namesrv,
                call: self.call,
                failure,
            }),
        }
    }
}
