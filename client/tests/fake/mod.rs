//! Fake in-process nameserver and broker-admin servers for the `mqadmin`
//! tests: each binds 127.0.0.1:0, records the calls it gets, and stops when
//! told.

#![allow(dead_code)]
// The fake servers run on tasks of the test's runtime, ended with it.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use raftmq_proto::admin::v1::broker_admin_server::{BrokerAdmin, BrokerAdminServer};
use raftmq_proto::admin::v1::{
    BrokerStatusRequest, BrokerStatusResponse, ConsumerClient, DeleteSubGroupRequest,
    DeleteSubGroupResponse, DeleteTopicRequest, DeleteTopicResponse, ListSubGroupsRequest,
    ListSubGroupsResponse, SubGroupInfo, SubscriptionGroup, TransferLeaderRequest,
    TransferLeaderResponse, UpdateSubGroupRequest, UpdateSubGroupResponse, UpdateTopicRequest,
    UpdateTopicResponse,
};
use raftmq_proto::namesrv::v1::name_server_server::{NameServer, NameServerServer};
use raftmq_proto::namesrv::v1::{
    BrokerStats, ClusterListRequest, ClusterListResponse, ClusterRow, RegisterBrokerRequest,
    RegisterBrokerResponse, TopicListRequest, TopicListResponse, TopicRouteRequest,
    TopicRouteResponse, UnregisterBrokerRequest, UnregisterBrokerResponse, WritePermRequest,
    WritePermResponse,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::{Request, Response, Status};

/// Every wait in these tests is bounded by this.
pub const BOUND: Duration = Duration::from_secs(20);

/// A server running on a task of the test's runtime.
pub struct Served {
    pub addr: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Served {
    /// Stops the server and waits for it to end.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(BOUND, self.task)
            .await
            .expect("server stops in time")
            .expect("server task ends cleanly");
    }
}

async fn serve(routes: Routes) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stopped.await;
                },
            )
            .await
            .expect("fake server runs");
    });
    Served { addr, stop, task }
}

/// An address where nothing listens: bound once, then closed.
pub fn dead_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").to_string()
}

/// A nameserver answering from fixed tables.
#[derive(Default)]
pub struct FakeNamesrv {
    pub rows: Vec<ClusterRow>,
    pub topics: Vec<String>,
    pub routes: HashMap<String, TopicRouteResponse>,
    pub calls: Mutex<Vec<String>>,
}

impl FakeNamesrv {
    pub async fn serve(self: &Arc<Self>) -> Served {
        serve(Routes::new(NameServerServer::new(NamesrvService(
            Arc::clone(self),
        ))))
        .await
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().expect("lock").push(call);
    }
}

struct NamesrvService(Arc<FakeNamesrv>);

#[tonic::async_trait]
impl NameServer for NamesrvService {
    async fn register_broker(
        &self,
        _: Request<RegisterBrokerRequest>,
    ) -> Result<Response<RegisterBrokerResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn unregister_broker(
        &self,
        _: Request<UnregisterBrokerRequest>,
    ) -> Result<Response<UnregisterBrokerResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn cluster_list(
        &self,
        _: Request<ClusterListRequest>,
    ) -> Result<Response<ClusterListResponse>, Status> {
        self.0.record("ClusterList".into());
        Ok(Response::new(ClusterListResponse {
            rows: self.0.rows.clone(),
        }))
    }

    async fn topic_list(
        &self,
        request: Request<TopicListRequest>,
    ) -> Result<Response<TopicListResponse>, Status> {
        let cluster = request.into_inner().cluster;
        self.0.record(format!("TopicList {cluster}"));
        Ok(Response::new(TopicListResponse {
            topics: self.0.topics.clone(),
        }))
    }

    async fn topic_route(
        &self,
        request: Request<TopicRouteRequest>,
    ) -> Result<Response<TopicRouteResponse>, Status> {
        let topic = request.into_inner().topic;
        self.0.record(format!("TopicRoute {topic}"));
        match self.0.routes.get(&topic) {
            Some(route) => Ok(Response::new(route.clone())),
            None => Err(Status::not_found(format!("no route for {topic}"))),
        }
    }

    async fn wipe_write_perm(
        &self,
        _: Request<WritePermRequest>,
    ) -> Result<Response<WritePermResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn add_write_perm(
        &self,
        _: Request<WritePermRequest>,
    ) -> Result<Response<WritePermResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

/// A broker member: records calls; has the topics in `topics` and the
/// consumer groups in `sub_groups`, with `clients` connected.
pub struct FakeBroker {
    pub group: String,
    pub topics: Mutex<BTreeSet<String>>,
    pub calls: Mutex<Vec<String>>,
    pub sub_groups: Mutex<BTreeMap<String, SubscriptionGroup>>,
    pub clients: Mutex<Vec<(String, ConsumerClient)>>,
}

impl FakeBroker {
    pub fn new(group: &str, topics: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            group: group.to_owned(),
            topics: Mutex::new(topics.iter().map(|t| t.to_string()).collect()),
            calls: Mutex::default(),
            sub_groups: Mutex::default(),
            clients: Mutex::default(),
        })
    }

    pub async fn serve(self: &Arc<Self>) -> Served {
        serve(Routes::new(BrokerAdminServer::new(BrokerService(
            Arc::clone(self),
        ))))
        .await
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }
}

struct BrokerService(Arc<FakeBroker>);

#[tonic::async_trait]
impl BrokerAdmin for BrokerService {
    async fn update_topic(
        &self,
        request: Request<UpdateTopicRequest>,
    ) -> Result<Response<UpdateTopicResponse>, Status> {
        let r = request.into_inner();
        self.0.calls.lock().expect("lock").push(format!(
            "UpdateTopic {} r={} w={} p={}",
            r.topic, r.read_queues, r.write_queues, r.perm
        ));
        self.0.topics.lock().expect("lock").insert(r.topic);
        Ok(Response::new(UpdateTopicResponse {
            group: self.0.group.clone(),
        }))
    }

    async fn delete_topic(
        &self,
        request: Request<DeleteTopicRequest>,
    ) -> Result<Response<DeleteTopicResponse>, Status> {
        let topic = request.into_inner().topic;
        self.0
            .calls
            .lock()
            .expect("lock")
            .push(format!("DeleteTopic {topic}"));
        if !self.0.topics.lock().expect("lock").remove(&topic) {
            return Err(Status::not_found(format!("no topic {topic}")));
        }
        Ok(Response::new(DeleteTopicResponse {
            group: self.0.group.clone(),
        }))
    }

    async fn transfer_leader(
        &self,
        _: Request<TransferLeaderRequest>,
    ) -> Result<Response<TransferLeaderResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn broker_status(
        &self,
        _: Request<BrokerStatusRequest>,
    ) -> Result<Response<BrokerStatusResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn consumer_progress(
        &self,
        _: Request<raftmq_proto::admin::v1::ConsumerProgressRequest>,
    ) -> Result<Response<raftmq_proto::admin::v1::ConsumerProgressResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn inject_fault(
        &self,
        _: Request<raftmq_proto::admin::v1::InjectFaultRequest>,
    ) -> Result<Response<raftmq_proto::admin::v1::InjectFaultResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn update_sub_group(
        &self,
        request: Request<UpdateSubGroupRequest>,
    ) -> Result<Response<UpdateSubGroupResponse>, Status> {
        let c = request.into_inner().config.unwrap_or_default();
        self.0.calls.lock().expect("lock").push(format!(
            "UpdateSubGroup {} s={} d={} o={} r={}",
            c.group,
            c.consume_enable,
            c.consume_broadcast_enable,
            c.consume_message_orderly,
            c.retry_max_times
        ));
        self.0
            .sub_groups
            .lock()
            .expect("lock")
            .insert(c.group.clone(), c);
        Ok(Response::new(UpdateSubGroupResponse {
            group: self.0.group.clone(),
        }))
    }

    async fn delete_sub_group(
        &self,
        request: Request<DeleteSubGroupRequest>,
    ) -> Result<Response<DeleteSubGroupResponse>, Status> {
        let r = request.into_inner();
        self.0
            .calls
            .lock()
            .expect("lock")
            .push(format!("DeleteSubGroup {} r={}", r.group, r.remove_offset));
        if self
            .0
            .sub_groups
            .lock()
            .expect("lock")
            .remove(&r.group)
            .is_none()
        {
            return Err(Status::not_found(format!("no group {}", r.group)));
        }
        Ok(Response::new(DeleteSubGroupResponse {
            group: self.0.group.clone(),
        }))
    }

    async fn list_sub_groups(
        &self,
        request: Request<ListSubGroupsRequest>,
    ) -> Result<Response<ListSubGroupsResponse>, Status> {
        let wanted = request.into_inner().group;
        let clients = self.0.clients.lock().expect("lock").clone();
        let groups = self
            .0
            .sub_groups
            .lock()
            .expect("lock")
            .values()
            .filter(|g| wanted.is_empty() || g.group == wanted)
            .map(|g| SubGroupInfo {
                group: g.group.clone(),
                config: Some(g.clone()),
                diff_total: 5,
                clients: clients
                    .iter()
                    .filter(|(of, _)| *of == g.group)
                    .map(|(_, c)| c.clone())
                    .collect(),
            })
            .collect();
        Ok(Response::new(ListSubGroupsResponse {
            broker_group: self.0.group.clone(),
            groups,
        }))
    }
}

/// A `clusterList` row of cluster `cluster`.
pub fn row(cluster: &str, group: &str, bid: u64, addr: &str) -> ClusterRow {
    ClusterRow {
        cluster: cluster.into(),
        group: group.into(),
        bid,
        member_id: if bid == 0 { 1 } else { bid - 1 },
        addr: addr.into(),
        stats: Some(BrokerStats {
            version: "V5_3_1".into(),
            in_tps: 1.0,
            activated: bid == 0,
            ..Default::default()
        }),
        ..Default::default()
    }
}
