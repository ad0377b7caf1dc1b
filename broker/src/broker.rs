//! One broker process: a member of a Raft group, its client port, and its
//! registration with the nameservers, started from a [`BrokerConf`].
//!
//! ```text
//!   BrokerConf ─► bind listenPort ─► bind Raft port ─► RaftNode (store + Raft)
//!                       │                                   │
//!                       └─ client server: Messaging, Admin ◄┤
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
use raftmq_raft::{NodeConfig, RaftNode, StartError as RaftStartError};
use raftmq_tasks::Tasks;
use tokio::net::TcpListener;

use crate::admin::AdminService;
use crate::conf::BrokerConf;
use crate::messaging::{Messaging, MessagingConf};
use crate::registrar::{self, Identity};
use raftmq_proto::client::v1::client_extensions_server::ClientExtensionsServer;
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

/// A running broker. Its tasks have three owners, stopped in this order:
/// the registrar, the consumer-progress committer, the client port; then
/// the member (which owns its own).
pub struct Broker {
    node: Arc<RaftNode>,
    client_addr: SocketAddr,
    advertised: String,
    identity: Identity,
    namesrvs: Vec<String>,
    /// This broker's owner (a child of the one it was started under); the
    /// three below and the Raft member's are its children.
    tasks: Tasks,
    registrar: Tasks,
    committer: Tasks,
    client_port: Tasks,
    /// The client port's server: it drains calls on a clean stop and is
    /// dropped on a crash.
    server: tokio::task::JoinHandle<()>,
    /// Dropped before the member stops: it holds the member too.
    progress: Option<Messaging>,
}

/// How long each part of a stop may take before it is named in the log.
const STOP_WAIT: Duration = Duration::from_secs(3);

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
    ///
    /// Its tasks belong to a child of `owner` (the process's, say), so that
    /// stopping the owner stops them too.
    pub async fn start(
        conf: BrokerConf,
        listeners: Listeners,
        owner: &Tasks,
    ) -> Result<Broker, BrokerError> {
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

        if conf.fault_injection_enable {
            if !crate::fault_injection::AVAILABLE {
                return Err(BrokerError::Conf(format!(
                    "faultInjectionEnable=true: {}",
                    crate::fault_injection::NOT_BUILT
                )));
            }
            tracing::warn!(
                "faultInjectionEnable=true: this broker accepts injected faults (tests only)"
            );
        }
        let tasks = owner.child(&format!("broker n{}", d.self_id));
        let node = Arc::new(
            RaftNode::start_owned(
                NodeConfig {
                    id: d.self_id,
                    peers: d.peers.clone(),
                    store: conf.store_config(),
                    timing: conf.raft_timing(),
                    batching: Default::default(),
                    preferred_leader: d.preferred_leader,
                    replication: conf.raft_replication_transport,
                    client_addr: Some(advertised.clone()),
                },
                Some(raft),
                Some(&tasks),
            )
            .await?,
        );

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
                held: conf.held.clone(),
                auto_create_groups: conf.auto_create_subscription_group,
                enable_property_filter: conf.enable_property_filter,
            },
        );
        let committer = tasks.child("committer");
        committer.spawn("committer", messaging.clone().run_committer());
        committer.spawn("timers", messaging.clone().run_timers());
        committer.spawn(
            "transaction-checks",
            messaging.clone().run_transaction_checks(),
        );
        let progress = messaging.clone();
        let admin = BrokerAdminServer::new(
            AdminService::new(
                Arc::clone(&node),
                conf.broker_name.clone(),
                conf.fault_injection_enable,
            )
            .with_transactions_discarded(messaging.transactions_discarded())
            .with_sessions(messaging.sessions()),
        );
        // Room for a batch of maxMessageSize messages, plus framing.
        let max_request = usize::try_from(conf.max_message_size)
            .unwrap_or(usize::MAX)
            .saturating_mul(2)
            .max(64 << 20);
        let extensions = ClientExtensionsServer::new(messaging.clone())
            .max_decoding_message_size(max_request)
            .max_encoding_message_size(usize::MAX);
        let messaging = MessagingServiceServer::new(messaging)
            .max_decoding_message_size(max_request)
            .max_encoding_message_size(usize::MAX);
        let incoming = raftmq_proto::serve::incoming_nodelay(client);
        let client_port = tasks.child("client-port");
        let stopping = client_port.stopping();
        let server = client_port.spawn_graceful("client-server", async move {
            let served = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .max_frame_size(Some(raftmq_proto::serve::MAX_FRAME_SIZE))
                .add_service(messaging)
                .add_service(extensions)
                .add_service(admin)
                .serve_with_incoming_shutdown(incoming, stopping)
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
            check_message_type: conf.held.enable_topic_message_type_check,
        };
        let registrar = tasks.child("registrar");
        registrar.spawn(
            "registrar",
            registrar::run(
                identity.clone(),
                Arc::clone(&node),
                conf.namesrv_addr.clone(),
                conf.register_name_server_period,
            ),
        );
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
            identity,
            namesrvs: conf.namesrv_addr.clone(),
            tasks,
            registrar,
            committer,
            client_port,
            server,
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

    /// Stops cleanly: commits consumer progress, unregisters from the
    /// nameservers, closes the client port, then stops the member with its
    /// store flushed.
    pub async fn stop(self) {
        if let Some(p) = &self.progress {
            let _ = tokio::time::timeout(Duration::from_secs(2), p.commit_now()).await;
        }
        let _ = self.registrar.stop(STOP_WAIT).await;
        registrar::unregister(&self.identity, &self.namesrvs).await;
        self.teardown(true).await;
    }

    /// Stops as a crash of the process would: no unregistering, no flush
    /// (tests; the files stay for a restart).
    pub async fn crash(self) {
        let _ = self.registrar.stop(STOP_WAIT).await;
        self.teardown(false).await;
    }

    async fn teardown(mut self, flush: bool) {
        let _ = self.committer.stop(STOP_WAIT).await;
        self.progress = None;
        // A clean stop lets calls under way finish (bounded); a crash
        // drops them.
        if !flush {
            self.server.abort();
        }
        let _ = self.client_port.stop(STOP_WAIT).await;
        // Connections still open may hold the member for a moment; it stops
        // all the same (what they call afterwards fails).
        match Arc::try_unwrap(self.node) {
            Ok(n) => n.stop(flush).await,
            Err(shared) => shared.shutdown(flush).await,
        }
        let _ = self.tasks.stop(STOP_WAIT).await;
    }
}
