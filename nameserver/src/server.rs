//! The nameserver as a gRPC server: the [`Registry`] behind one lock, served
//! as `raftmq.namesrv.v1.NameServer`, with a task that drops silent members.
//!
//! ```text
//!   RegisterBroker / UnregisterBroker ─┐             ┌─ every scanNotActiveBrokerInterval:
//!   ClusterList / TopicList / Route ───┼─► Registry ◄┘  expire(now)
//!   WipeWritePerm / AddWritePerm ──────┘   (Mutex, never held across an await)
//! ```
//!
//! [`NameServer::start`] is the embedded API: tests and `LocalDeployment`
//! start one on a loopback listener; `mqnamesrv` is a thin binary around it.
//!
//! Its two tasks belong to a child of the owner it is given: the server,
//! which ends when the owner stops (new connections refused at once, open
//! ones given [`DRAIN`] to finish their calls), and the scan, dropped at
//! once. [`NameServer::stop`] stops that child only.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use raftmq_proto::namesrv::v1 as pb;
use raftmq_proto::namesrv::v1::name_server_server::{
    NameServer as NameServerRpc, NameServerServer,
};
use raftmq_tasks::{Tasks, Unfinished};
use tokio::net::TcpListener;
use tonic::{Request, Response, Status};

use crate::client_service::ClientService;
use crate::conf::NamesrvConf;
use crate::convert;
use crate::model::{BrokerName, ClusterName, MemberId, Millis};
use crate::registry::Registry;
use raftmq_proto::rocketmq::v2::messaging_service_server::MessagingServiceServer;

/// Milliseconds since the server started, from a monotonic clock.
#[derive(Clone, Copy, Debug)]
struct Clock(Instant);

impl Clock {
    fn now(self) -> Millis {
        Millis(u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}

/// The service: shared by every connection.
#[derive(Clone)]
pub struct NameServerService {
    registry: Arc<Mutex<Registry>>,
    clock: Clock,
}

impl NameServerService {
    /// A service over `registry`.
    pub fn new(registry: Arc<Mutex<Registry>>) -> Self {
        Self {
            registry,
            clock: Clock(Instant::now()),
        }
    }
}

#[tonic::async_trait]
impl NameServerRpc for NameServerService {
    async fn register_broker(
        &self,
        request: Request<pb::RegisterBrokerRequest>,
    ) -> Result<Response<pb::RegisterBrokerResponse>, Status> {
        let reg = convert::registration(request.into_inner())?;
        let group = reg.group.clone();
        let now = self.clock.now();
        let mut registry = self.registry.lock();
        let outcome = registry
            .register(now, reg)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let g = registry.group(&group);
        let write_wiped = g.is_some_and(|g| g.write_wiped());
        let member_client_addrs = g
            .map(|g| {
                g.members()
                    .map(|m| (m.id.0, m.client_addr.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Response::new(pb::RegisterBrokerResponse {
            changed: outcome.changed(),
            leader: outcome.leader.map(|m| m.0),
            write_wiped,
            member_client_addrs,
        }))
    }

    async fn unregister_broker(
        &self,
        request: Request<pb::UnregisterBrokerRequest>,
    ) -> Result<Response<pb::UnregisterBrokerResponse>, Status> {
        let r = request.into_inner();
        let removed = self.registry.lock().unregister(
            &ClusterName(r.cluster),
            &BrokerName(r.group),
            MemberId(r.member_id),
        );
        Ok(Response::new(pb::UnregisterBrokerResponse {
            removed: removed.is_some(),
        }))
    }

    async fn cluster_list(
        &self,
        _request: Request<pb::ClusterListRequest>,
    ) -> Result<Response<pb::ClusterListResponse>, Status> {
        let now = self.clock.now();
        let rows = self.registry.lock().cluster_list();
        Ok(Response::new(pb::ClusterListResponse {
            rows: rows
                .into_iter()
                .map(|r| convert::cluster_row(r, now))
                .collect(),
        }))
    }

    async fn topic_list(
        &self,
        request: Request<pb::TopicListRequest>,
    ) -> Result<Response<pb::TopicListResponse>, Status> {
        let cluster = request.into_inner().cluster;
        let registry = self.registry.lock();
        let topics = if cluster.is_empty() {
            registry.topics().into_iter().collect()
        } else {
            let cluster = ClusterName(cluster);
            let mut topics: Vec<String> = registry
                .groups()
                .filter(|(_, g)| *g.cluster() == cluster)
                .flat_map(|(_, g)| g.topics().keys().map(|t| t.to_string()))
                .collect();
            topics.sort();
            topics.dedup();
            topics
        };
        Ok(Response::new(pb::TopicListResponse { topics }))
    }

    async fn topic_route(
        &self,
        request: Request<pb::TopicRouteRequest>,
    ) -> Result<Response<pb::TopicRouteResponse>, Status> {
        let topic = request.into_inner().topic;
        let route = self.registry.lock().topic_route(&topic);
        match route {
            Some(route) => Ok(Response::new(convert::topic_route(route))),
            None => Err(Status::not_found(format!(
                "no broker group serves topic {topic:?}"
            ))),
        }
    }

    async fn wipe_write_perm(
        &self,
        request: Request<pb::WritePermRequest>,
    ) -> Result<Response<pb::WritePermResponse>, Status> {
        self.set_write_perm(request.into_inner().group, Registry::wipe_write_perm)
            .map(Response::new)
    }

    async fn add_write_perm(
        &self,
        request: Request<pb::WritePermRequest>,
    ) -> Result<Response<pb::WritePermResponse>, Status> {
        self.set_write_perm(request.into_inner().group, Registry::add_write_perm)
            .map(Response::new)
    }
}

impl NameServerService {
    /// `wipeWritePerm` / `addWritePerm`: how many topics changed permission.
    fn set_write_perm(
        &self,
        group: String,
        change: fn(&mut Registry, &BrokerName) -> usize,
    ) -> Result<pb::WritePermResponse, Status> {
        let group = BrokerName(group);
        let mut registry = self.registry.lock();
        let Some(g) = registry.group(&group) else {
            return Err(Status::not_found(format!("no broker group {group}")));
        };
        let topics = u32::try_from(g.topics().len()).unwrap_or(u32::MAX);
        let changed = change(&mut registry, &group);
        Ok(pb::WritePermResponse {
            topics: if changed > 0 { topics } else { 0 },
        })
    }
}

/// Why a nameserver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be opened.
    #[error("cannot listen on {addr} (listenPort): {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error (e.g. the port is in use).
        source: std::io::Error,
    },
}

/// How long open connections get, once a stop is asked for, to finish the
/// calls they carry. Calls here are short; what is left after it is a
/// stream that ends only when its client does (an SDK's Telemetry): the
/// server task stops waiting for it. (tonic runs each connection as a task
/// of its own, not ours: such a stream ends with its client or the
/// runtime.)
pub const DRAIN: Duration = Duration::from_secs(1);

/// How long [`NameServer::stop`] waits for its tasks: the drain and some.
pub const STOP_WITHIN: Duration = Duration::from_secs(5);

/// A running nameserver.
pub struct NameServer {
    addr: SocketAddr,
    registry: Arc<Mutex<Registry>>,
    tasks: Tasks,
}

impl std::fmt::Debug for NameServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameServer")
            .field("addr", &self.addr)
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}

impl NameServer {
    /// Starts serving on `listener`, or on `bindAddress:listenPort`, with
    /// its tasks under `owner` (they end when `owner` stops, or at
    /// [`NameServer::stop`]).
    pub async fn start(
        conf: &NamesrvConf,
        listener: Option<TcpListener>,
        owner: &Tasks,
    ) -> Result<NameServer, StartError> {
        let listener = match listener {
            Some(l) => l,
            None => {
                let addr = format!("{}:{}", conf.bind_address, conf.listen_port);
                TcpListener::bind(&addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?
            }
        };
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: "the given listener".into(),
            source,
        })?;
        let tasks = owner.child("namesrv");
        let registry = Arc::new(Mutex::new(Registry::new(conf.expiry)));
        let service = NameServerService::new(Arc::clone(&registry));
        let clients = MessagingServiceServer::new(ClientService::new(Arc::clone(&registry)));
        let clock = service.clock;
        let incoming = raftmq_proto::serve::incoming_nodelay(listener);
        let serve = tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(NameServerServer::new(service))
            .add_service(clients)
            .serve_with_incoming_shutdown(incoming, tasks.stopping());
        tasks.spawn_graceful("grpc server", drained(serve, tasks.stopping()));
        tasks.spawn(
            "silent member scan",
            scan_silent_members(Arc::clone(&registry), clock, conf.scan_interval),
        );
        tracing::info!(%addr, expiry_ms = conf.expiry.as_millis() as u64, "nameserver serving");
        Ok(NameServer {
            addr,
            registry,
            tasks,
        })
    }

    /// Where it serves.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The registry it serves (for tests and the embedded API).
    pub fn registry(&self) -> Arc<Mutex<Registry>> {
        Arc::clone(&self.registry)
    }

    /// Stops serving and waits, at most [`STOP_WITHIN`], for its tasks to
    /// end; names (and logs) those that did not.
    pub async fn stop(self) -> Result<(), Unfinished> {
        self.tasks.stop(STOP_WITHIN).await
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        self.tasks.cancel();
    }
}

/// Runs `serve` (a server that stops accepting once `stopping` resolves,
/// then waits for its connections) to its end, or until [`DRAIN`] after
/// `stopping`: the connections still open then are cut.
async fn drained<E: std::fmt::Display>(
    serve: impl Future<Output = Result<(), E>>,
    stopping: impl Future<Output = ()>,
) {
    let cut = async {
        stopping.await;
        tokio::time::sleep(DRAIN).await;
    };
    tokio::select! {
        served = serve => {
            if let Err(e) = served {
                tracing::error!(error = %e, "nameserver stopped serving");
            }
        }
        () = cut => tracing::info!(drain = ?DRAIN, "stopped waiting for connections still open after the drain"),
    }
}

async fn scan_silent_members(
    registry: Arc<Mutex<Registry>>,
    clock: Clock,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let removed = registry.lock().expire(clock.now());
        for r in removed {
            tracing::warn!(group = %r.group, member = %r.member.id, was_leader = r.was_leader,
                "dropped a silent broker member");
        }
    }
}
