//! QueryRoute and QueryAssignment on a broker: the routes are the
//! nameservers' (asked in order, first answer wins). A topic no nameserver
//! knows gets this group alone, with `defaultTopicQueueNums` queues, when
//! this broker creates topics on first send.

use std::time::Duration;

use raftmq_model::{Perm, TopicMessageType};
use raftmq_proto::client_protocol as cp;
use raftmq_proto::message_type;
use raftmq_proto::namesrv::v1 as ns;
use raftmq_proto::namesrv::v1::name_server_client::NameServerClient;
use raftmq_proto::rocketmq::v2;
use tonic::transport::{Channel, Endpoint};
use tonic::Request;

use super::convert;
use super::Inner;

/// Clients of the nameservers, one lazy channel each.
pub(super) struct RouteClient(Vec<(String, NameServerClient<Channel>)>);

impl RouteClient {
    pub(super) fn new(addrs: &[String]) -> Self {
        Self(
            addrs
                .iter()
                .filter_map(|a| {
                    let e = Endpoint::from_shared(format!("http://{a}")).ok()?;
                    let e = e
                        .connect_timeout(Duration::from_secs(1))
                        .timeout(Duration::from_secs(3));
                    Some((a.clone(), NameServerClient::new(e.connect_lazy())))
                })
                .collect(),
        )
    }

    /// The topic's route: `Ok(None)` when a nameserver answered that no
    /// group serves it; `Err` when none answered.
    async fn route(&self, topic: &str) -> Result<Option<ns::TopicRouteResponse>, String> {
        let mut last = "no nameserver configured (namesrvAddr)".to_owned();
        for (addr, c) in &self.0 {
            let mut c = c.clone();
            match c
                .topic_route(ns::TopicRouteRequest {
                    topic: topic.to_owned(),
                })
                .await
            {
                Ok(r) => return Ok(Some(r.into_inner())),
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(None),
                Err(s) => last = format!("{addr}: {}", s.message()),
            }
        }
        Err(last)
    }
}

/// This group alone, as a route for a topic it would create.
async fn own_route(inner: &Inner, topic: &str, queues: u32) -> ns::TopicRouteResponse {
    let leader = inner.node.leader();
    let mut members: Vec<ns::RouteMember> = Vec::new();
    // From the group's address book; a member that cannot be asked now is
    // left out of this answer.
    for id in inner.node.members().into_keys() {
        if let Ok(addr) = inner.node.client_addr(id).await {
            members.push(ns::RouteMember {
                bid: if Some(id) == leader { 0 } else { id + 1 },
                member_id: id,
                client_addr: addr,
                ..Default::default()
            });
        }
    }
    members.sort_by_key(|m| m.bid);
    ns::TopicRouteResponse {
        topic: topic.to_owned(),
        groups: vec![ns::GroupRoute {
            group: inner.conf.group.clone(),
            read_queues: queues,
            write_queues: queues,
            perm: Perm::READ_WRITE.bits(),
            leader,
            members,
            // Created on first send: of no declared type.
            message_type: message_type::to_wire(TopicMessageType::Unspecified),
            check_message_type: inner.conf.held.enable_topic_message_type_check,
            ..Default::default()
        }],
    }
}

/// The route of the request's topic, or the status to answer.
async fn resolve<T>(
    inner: &Inner,
    request: &Request<T>,
    topic: Option<&v2::Resource>,
) -> Result<ns::TopicRouteResponse, v2::Status> {
    cp::client_id(request.metadata())?;
    let topic = convert::topic_name(topic).map_err(|(code, why)| cp::status(code, why))?;
    // A send would create a missing topic, unless its prefix is reserved.
    let creatable = topic.check_user_named().is_ok();
    let topic = topic.as_str();
    match inner.routes.route(topic).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => match inner.conf.auto_create_queues {
            Some(n) if creatable => Ok(own_route(inner, topic, n).await),
            _ => Err(cp::status(
                v2::Code::TopicNotFound,
                format!("topic {topic:?} does not exist: create it with mqadmin updateTopic"),
            )),
        },
        Err(e) => Err(cp::status(
            v2::Code::InternalServerError,
            format!("no nameserver answered for the route of {topic:?}: {e}"),
        )),
    }
}

pub(super) async fn query_route(
    inner: &Inner,
    request: Request<v2::QueryRouteRequest>,
) -> v2::QueryRouteResponse {
    let members = cp::Members::wanted(request.metadata());
    match resolve(inner, &request, request.get_ref().topic.as_ref()).await {
        Ok(route) => v2::QueryRouteResponse {
            status: Some(cp::ok()),
            message_queues: cp::message_queues(&route, members),
        },
        Err(status) => v2::QueryRouteResponse {
            status: Some(status),
            message_queues: Vec::new(),
        },
    }
}

pub(super) async fn query_assignment(
    inner: &Inner,
    request: Request<v2::QueryAssignmentRequest>,
) -> v2::QueryAssignmentResponse {
    let members = cp::Members::wanted(request.metadata());
    match resolve(inner, &request, request.get_ref().topic.as_ref()).await {
        Ok(route) => v2::QueryAssignmentResponse {
            status: Some(cp::ok()),
            assignments: cp::assignments(&route, members),
        },
        Err(status) => v2::QueryAssignmentResponse {
            status: Some(status),
            assignments: Vec::new(),
        },
    }
}
