//! One broker process: a member of a Raft group, its client port, and its
//! registration with the nameservers, started from a [`BrokerConf`].
//!
//! ```text
//!   BrokerConf ─► bind listenPort ─► bind Raft port ─► RaftNode (store + openraft)
//!                       │                                   │
//!                       └─ client server: BrokerAdmin ◄─────┤
//!                                                           └─► registrar ─► every nameserver
//! ```
//!
//! Both ports are bound before anything else starts, so a port in use
//! fails the start at once with the key to change, and nothing is left
//! half-started.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use raftmq_proto::admin::v1::broker_admin_server::BrokerAdminServer;
use raftmq_raft::node::StartError as RaftStartError;
use raftmq_raft::{NodeConfig, RaftNode};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::admin::{AdminService, FaultSwitches};
use crate::conf::BrokerConf;
use crate::messaging::{Messaging, MessagingConf};
use crate::registrar::{self, Identity, MemberAddrs};
use raftmq_proto::rocketmq::v2::messaging_service_server::MessagingServiceServer;

/// Why a broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A port could not be opened.
    #[error("cannot listen on {addr} ({key}): {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The conf key that sets it.
        key: String,
        /// The I/O error (e.g. the port is in use).
        source: std::io::Error,
    },
    /// The conf is inconsistent in a way only the start reveals.
    #[error("{0}")]
    Conf(String),
    /// The Raft member could not start (store recovery, Raft state).
    #[error("{0}")]
    Raft(#[from] RaftStartError),
}

/// Listeners the caller opened already (tests: port 0); `None` binds the
/// conf's ports.
#[derive(Debug, Default)]
pub struct Listeners {
    /// For `listenPort`.
    pub client: Option<TcpListener>,
    /// For this member's `dLegerPeers` entry.
    pub raft: Option<TcpListener>,
}

/// A running broker.
pub struct Broker {
    node: Arc<RaftNode>,
    client_addr: SocketAddr,
    advertised: String,
    stop_server: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    stop_registrar: watch::Sender<bool>,
    registrar: JoinHandle<()>,
    committer: JoinHandle<()>,
    /// Dropped before the member stops: it holds the member too.
    progress: Option<Messaging>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("client_addr", &self.client_addr)
            .field("node", &self.node.id())
            .finish_non_exhaustive()
    }
}

/// The host of `host:port`.
fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

async fn bind(addr: &str, key: &str) -> Result<TcpListener, BrokerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| BrokerError::Bind {
            addr: addr.to_owned(),
            key: key.to_owned(),
            source,
        })
}

impl Broker {
    /// Starts the member described by `conf`.
    ///
    /// The client port is opened on `brokerIP1`'s interfaces (all of them)
    /// when it is set and advertised as `brokerIP1:listenPort`; otherwise it
    /// is opened and advertised on the host of this member's own
    /// `dLegerPeers` entry, which its peers already reach it by.
    pub async fn start(conf: BrokerConf, listeners: Listeners) -> Result<Broker, BrokerError> {
        let d = &conf.dledger;
        let raft_addr = d
            .self_addr()
            .ok_or_else(|| {
                BrokerError::Conf(format!(
                    "dLegerSelfId n{} is not one of dLegerPeers",
                    d.self_id
                ))
            })?
            .to_owned();
        let (bind_host, advertised_host) = match &conf.broker_ip1 {
            Some(ip) => ("0.0.0.0".to_owned(), ip.clone()),
            None => (
                host_of(&raft_addr).to_owned(),
                host_of(&raft_addr).to_owned(),
            ),
        };
        let client = match listeners.client {
            Some(l) => l,
            None => {
                bind(
                    &format!("{bind_host}:{}", conf.listen_port),
                    &format!("listenPort={}", conf.listen_port),
                )
                .await?
            }
        };
        let raft = match listeners.raft {
            Some(l) => l,
            None => {
                bind(
                    &raft_addr,
                    &format!(
                        "the Raft port of dLegerSelfId n{} in dLegerPeers",
                        d.self_id
                    ),
                )
                .await?
            }
        };
        let client_addr = client.local_addr().map_err(|source| BrokerError::Bind {
            addr: "the client listener".into(),
            key: "listenPort".into(),
            source,
        })?;
        let advertised = format!("{advertised_host}:{}", client_addr.port());

        let partition = raftmq_raft::network::Partition::default();
        let store_faults = raftmq_store::fault::Faults::default();
        let fault_switches = conf.fault_injection_enable.then(|| FaultSwitches {
            me: d.self_id,
            members: d.peers.keys().copied().collect(),
            partition: partition.clone(),
            store: store_faults.clone(),
        });
        if fault_switches.is_some() {
            tracing::warn!(
                "faultInjectionEnable=true: this broker accepts injected faults (tests only)"
            );
        }
        let node = Arc::new(
            RaftNode::start(
                NodeConfig {
                    id: d.self_id,
                    peers: d.peers.clone(),
                    store: conf.store_config(),
                    timing: conf.raft_timing(),
                    batching: Default::default(),
                    partition,
                    faults: store_faults,
                    preferred_leader: d.preferred_leader,
                    replication: conf.raft_replication_transport,
                },
                Some(raft),
            )
            .await?,
        );

        let member_addrs = MemberAddrs::default();
        member_addrs.write().insert(d.self_id, advertised.clone());
        let messaging = Messaging::new(
            Arc::clone(&node),
            MessagingConf {
                group: conf.broker_name.clone(),
                store_host: advertised.clone(),
                max_message_size: usize::try_from(conf.max_message_size).unwrap_or(usize::MAX),
                auto_create_queues: conf
                    .auto_create_topic_enable
                    .then_some(conf.default_topic_queue_nums),
                namesrvs: conf.namesrv_addr.clone(),
            },
            Arc::clone(&member_addrs),
        );
        let committer = tokio::spawn(messaging.clone().run_committer());
        let progress = messaging.clone();
        let (stop_server, stopped) = oneshot::channel::<()>();
        let admin = BrokerAdminServer::new(AdminService::new(
            Arc::clone(&node),
            conf.broker_name.clone(),
            fault_switches,
        ));
        // Room for a batch of maxMessageSize messages, plus framing.
        let max_request = usize::try_from(conf.max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
            .max(64 << 20);
        let messaging = MessagingServiceServer::new(messaging)
            .max_decoding_message_size(max_request)
            .max_encoding_message_size(usize::MAX);
        let incoming = raftmq_proto::serve::incoming_nodelay(client);
        let server = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .max_frame_size(Some(raftmq_proto::serve::MAX_FRAME_SIZE))
                .add_service(messaging)
                .add_service(admin)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "client server stopped");
            }
        });

        let identity = Identity {
            cluster: conf.broker_cluster_name.clone(),
            group: conf.broker_name.clone(),
            member_id: d.self_id,
            client_addr: advertised.clone(),
            raft_addr,
            perm: u32::from(conf.broker_permission),
            auto_create_queues: conf
                .auto_create_topic_enable
                .then_some(conf.default_topic_queue_nums),
        };
        let (stop_registrar, stop_rx) = watch::channel(false);
        let registrar = tokio::spawn(registrar::run(
            identity,
            Arc::clone(&node),
            conf.namesrv_addr.clone(),
            conf.register_name_server_period,
            Arc::clone(&member_addrs),
            stop_rx,
        ));
        tracing::info!(
            group = %conf.broker_name,
            member = %format!("n{}", d.self_id),
            client = %advertised,
            "broker started"
        );
        Ok(Broker {
            node,
            client_addr,
            advertised,
            stop_server: Some(stop_server),
            server,
            stop_registrar,
            registrar,
            committer,
            progress: Some(progress),
        })
    }

    /// Where the client port listens.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The client address the nameservers are told.
    pub fn advertised_addr(&self) -> &str {
        &self.advertised
    }

    /// The Raft member.
    pub fn node(&self) -> &RaftNode {
        &self.node
    }

    /// Stops cleanly: unregisters from the nameservers, closes the client
    /// port, then stops the member with its store flushed.
    pub async fn stop(mut self) {
        if let Some(p) = &self.progress {
            let _ = tokio::time::timeout(Duration::from_secs(2), p.commit_now()).await;
        }
        let _ = self.stop_registrar.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.registrar).await;
        self.teardown(true).await;
    }

    /// Stops as a crash of the process would: no unregistering, no flush
    /// (tests; the files stay for a restart).
    pub async fn crash(self) {
        self.teardown(false).await;
    }

    async fn teardown(mut self, flush: bool) {
        self.registrar.abort();
        self.committer.abort();
        let _ = (&mut self.committer).await;
        self.progress = None;
        if let Some(s) = self.stop_server.take() {
            let _ = s.send(());
        }
        if !flush
            || tokio::time::timeout(Duration::from_secs(2), &mut self.server)
                .await
                .is_err()
        {
            self.server.abort();
            let _ = (&mut self.server).await;
        }
        // Connections still open may hold the member for a moment; it stops
        // all the same (what they call afterwards fails).
        match Arc::try_unwrap(self.node) {
            Ok(n) => n.stop(flush).await,
            Err(shared) => shared.shutdown(flush).await,
        }
    }
}
