//! The embedded API: a nameserver and a broker group in one process, on free
//! loopback ports and in a temporary directory, for tests, benchmarks and
//! applications that want raftmq without launching processes. It sits above
//! both the `broker` and `nameserver` crates, which do not know each other.
//!
//! ```no_run
//! # async fn demo() -> Result<(), raftmq_broker::BrokerError> {
//! let d = raftmq_embedded::LocalDeployment::start(3).await?;
//! let namesrv = d.namesrv_addr(); // give this to clients and mqadmin
//! d.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::collections::BTreeMap;
use std::time::Duration;

use raftmq_nameserver::{NameServer, NamesrvConf};
use raftmq_store::FlushMode;
use raftmq_tasks::Tasks;
use tokio::net::TcpListener;

pub use raftmq_broker::conf::HeldConf;
use raftmq_broker::conf::{BrokerConf, DLedgerConf};
use raftmq_broker::{Broker, BrokerError, Listeners};

/// What to start.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Members of the group.
    pub members: usize,
    /// `flushDiskType`.
    pub flush: FlushMode,
    /// `brokerName` of the group.
    pub group: String,
    /// The nameserver's expiry of silent members.
    pub expiry: Duration,
    /// `faultInjectionEnable` on every member: needs raftmq-broker's
    /// `failpoints` feature (test builds), else the members refuse to start.
    pub fault_injection: bool,
    /// `autoCreateTopicEnable` on every member.
    pub auto_create_topics: bool,
    /// `autoCreateSubscriptionGroup` on every member.
    pub auto_create_groups: bool,
    /// `diskSpaceWarningLevelRatio` on every member: the used percent of
    /// the disk at which sends are refused. 100 by default (only a disk
    /// that is entirely full), not the shipped 90: the deployment lives in
    /// a temporary directory, often on a build machine's disk that is fuller
    /// than 90% and would refuse every send.
    pub disk_space_warning_level_ratio: u8,
    /// Timers, transactions and the topic type check on every member
    /// (`timerPrecisionMs`, `transactionTimeOut`, ...).
    pub held: HeldConf,
}

impl Default for LocalOptions {
    fn default() -> Self {
        Self {
            members: 3,
            flush: FlushMode::Async,
            group: "RaftNode00".into(),
            expiry: Duration::from_secs(10),
            fault_injection: false,
            auto_create_topics: true,
            auto_create_groups: true,
            disk_space_warning_level_ratio: 100,
            held: HeldConf::default(),
        }
    }
}

/// A running nameserver and group; stopped by [`LocalDeployment::shutdown`]
/// (or, less tidily, on drop).
pub struct LocalDeployment {
    /// The owner of the deployment's tasks: the nameserver's and the
    /// brokers'.
    tasks: Tasks,
    namesrv: NameServer,
    brokers: BTreeMap<u64, Broker>,
    confs: BTreeMap<u64, BrokerConf>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for LocalDeployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDeployment")
            .field("namesrv", &self.namesrv.addr())
            .field("members", &self.brokers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// How long [`LocalDeployment::shutdown`] waits for the deployment's tasks
/// left once its members and nameserver have stopped.
const STOP_WITHIN: Duration = Duration::from_secs(5);

fn io(what: &str, source: std::io::Error) -> BrokerError {
    BrokerError::Bind {
        addr: "127.0.0.1:0".into(),
        key: what.into(),
        source,
    }
}

impl LocalDeployment {
    /// A nameserver and a group of `members` with default options.
    pub async fn start(members: usize) -> Result<Self, BrokerError> {
        Self::start_with(LocalOptions {
            members,
            ..LocalOptions::default()
        })
        .await
    }

    /// A nameserver and a group as `opts` says.
    pub async fn start_with(opts: LocalOptions) -> Result<Self, BrokerError> {
        let dir = tempfile::tempdir().map_err(|e| io("a temporary directory", e))?;
        let ns_listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| io("the nameserver port", e))?;
        let tasks = Tasks::new("local");
        let namesrv = NameServer::start(
            &NamesrvConf {
                expiry: opts.expiry,
                scan_interval: opts.expiry / 10,
                ..NamesrvConf::default()
            },
            Some(ns_listener),
            &tasks,
        )
        .await
        .map_err(|e| BrokerError::Conf(e.to_string()))?;
        let mut raft_listeners = BTreeMap::new();
        let mut client_listeners = BTreeMap::new();
        for id in 0..opts.members as u64 {
            let r = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| io("a Raft port", e))?;
            let c = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| io("a client port", e))?;
            raft_listeners.insert(id, r);
            client_listeners.insert(id, c);
        }
        let mut peers = BTreeMap::new();
        for (id, l) in &raft_listeners {
            let addr = l.local_addr().map_err(|e| io("a Raft port", e))?;
            peers.insert(*id, addr.to_string());
        }
        let mut confs = BTreeMap::new();
        for id in peers.keys() {
            let mut conf = BrokerConf::new(
                opts.group.clone(),
                DLedgerConf {
                    group: opts.group.clone(),
                    peers: peers.clone(),
                    self_id: *id,
                    preferred_leader: None,
                },
                dir.path().join(format!("node{id:02}")),
            );
            conf.namesrv_addr = vec![namesrv.addr().to_string()];
            conf.flush_disk_type = opts.flush;
            conf.mapped_file_size_commit_log = 64 << 20;
            conf.fault_injection_enable = opts.fault_injection;
            conf.auto_create_topic_enable = opts.auto_create_topics;
            conf.auto_create_subscription_group = opts.auto_create_groups;
            conf.disk_space_warning_level_ratio = opts.disk_space_warning_level_ratio;
            conf.held = opts.held.clone();
            confs.insert(*id, conf);
        }
        let mut d = LocalDeployment {
            tasks,
            namesrv,
            brokers: BTreeMap::new(),
            confs,
            _dir: dir,
        };
        for (id, raft) in raft_listeners {
            let client = client_listeners.remove(&id);
            d.start_member(id, Some(raft), client).await?;
        }
        Ok(d)
    }

    async fn start_member(
        &mut self,
        id: u64,
        raft: Option<TcpListener>,
        client: Option<TcpListener>,
    ) -> Result<(), BrokerError> {
        let Some(conf) = self.confs.get(&id).cloned() else {
            return Err(BrokerError::Conf(format!("no member n{id}")));
        };
        let broker = Broker::start(conf, Listeners { client, raft }, &self.tasks).await?;
        // A restarted member comes back on the same client port.
        if let Some(c) = self.confs.get_mut(&id) {
            c.listen_port = broker.client_addr().port();
        }
        self.brokers.insert(id, broker);
        Ok(())
    }

    /// The nameserver's address (`host:port`).
    pub fn namesrv_addr(&self) -> String {
        self.namesrv.addr().to_string()
    }

    /// The nameserver.
    pub fn namesrv(&self) -> &NameServer {
        &self.namesrv
    }

    /// A running member.
    pub fn broker(&self, id: u64) -> Option<&Broker> {
        self.brokers.get(&id)
    }

    /// The running members.
    pub fn brokers(&self) -> impl Iterator<Item = (&u64, &Broker)> {
        self.brokers.iter()
    }

    /// Waits until one running member leads; returns its id.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<u64> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some((id, _)) = self.brokers.iter().find(|(_, b)| b.node().is_leader()) {
                return Some(*id);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops a member as a crash would: no unregistering, no flush.
    pub async fn kill(&mut self, id: u64) {
        if let Some(b) = self.brokers.remove(&id) {
            b.crash().await;
        }
    }

    /// Starts a stopped member again on its old ports and store.
    pub async fn restart(&mut self, id: u64) -> Result<(), BrokerError> {
        self.start_member(id, None, None).await
    }

    /// Stops everything cleanly; tasks that did not end in time are
    /// logged by name.
    pub async fn shutdown(mut self) {
        let brokers = std::mem::take(&mut self.brokers);
        for (_, b) in brokers {
            b.stop().await;
        }
        let _ = self.namesrv.stop().await;
        let _ = self.tasks.stop(STOP_WITHIN).await;
    }
}
