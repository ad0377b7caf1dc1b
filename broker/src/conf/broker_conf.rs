//! The typed result of a conf file, and its mapping onto the store and Raft
//! settings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use raftmq_raft::{NodeId, ReplicationTransport, Timing};
use raftmq_store::config::{FlushPacing, RetentionConfig};
use raftmq_store::{FlushMode, StoreConfig};

use super::defaults as d;
use super::error::ConfError;
use super::values;

/// The broker's settings, one field per conf key (RocketMQ's name in each
/// field's doc). Build one with [`super::parse`] / [`super::load`] from a
/// conf file, or with [`BrokerConf::new`] in code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerConf {
    /// `brokerClusterName` (`DefaultCluster`).
    pub broker_cluster_name: String,
    /// `brokerName`: the group's name in routes and `clusterList`. Required.
    pub broker_name: String,
    /// `listenPort` (10911): the client service.
    pub listen_port: u16,
    /// `namesrvAddr`, `;`-separated `host:port`s; may be empty. See
    /// [`super`] for its precedence with `NAMESRV_ADDR` and `-n`.
    pub namesrv_addr: Vec<String>,
    /// `storePathRootDir` (`$HOME/store`).
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog` (`<storePathRootDir>/commitlog`). Unlike
    /// upstream's DLedger mode, raftmq honours it: the Raft log lives here.
    pub store_path_commit_log: PathBuf,
    /// `enableDLegerCommitLog`, `dLegerGroup`, `dLegerPeers`, `dLegerSelfId`,
    /// `preferredLeaderId`: the Raft group this broker is a member of.
    pub dledger: DLedgerConf,
    /// `sendMessageThreadPoolNums`: accepted for compatibility, positive;
    /// informational only (raftmq runs on an async runtime).
    pub send_message_thread_pool_nums: Option<u32>,
    /// `serverWorkerThreads`: the worker threads of the broker's async
    /// runtime, which serves clients and the Raft group alike (1 to 1024;
    /// unset: one per core). Members that share a machine do better with
    /// its cores divided between them (`fast-try.sh` does so).
    pub server_worker_threads: Option<u32>,
    /// `serverIdleSpinMicros` (raftmq; 50): after each wake-up, how long
    /// a worker thread keeps polling for I/O once idle before it sleeps
    /// (0 to 10000 microseconds; 0: sleeps at once). Spares the next
    /// message the wake-up of a sleeping thread, 15-25 us a hand-off on a
    /// virtual machine, for a little CPU while work comes and goes.
    pub server_idle_spin_micros: u32,
    /// `flushDiskType` (`ASYNC_FLUSH`).
    pub flush_disk_type: FlushMode,
    /// `mappedFileSizeCommitLog`, bytes per commitlog segment (1 GiB).
    pub mapped_file_size_commit_log: u64,
    /// `fileReservedTime`, written in hours (72).
    pub file_reserved_time: Duration,
    /// `deleteWhen`, hours of the day 0-23 (`04`; several as `04;16`).
    pub delete_when: Vec<u8>,
    /// `diskMaxUsedSpaceRatio`, percent (75): above it expired segments are
    /// deleted at any hour.
    pub disk_max_used_space_ratio: u8,
    /// `diskSpaceWarningLevelRatio`, percent (90): above it writes are
    /// refused.
    pub disk_space_warning_level_ratio: u8,
    /// `maxMessageSize`, bytes (4 MiB).
    pub max_message_size: u32,
    /// `autoCreateTopicEnable` (true).
    pub auto_create_topic_enable: bool,
    /// `autoCreateSubscriptionGroup` (true): a consumer group is created
    /// with upstream's defaults on its first use.
    pub auto_create_subscription_group: bool,
    /// `enablePropertyFilter` (true; upstream's default is false): accept
    /// SQL92 subscriptions, evaluated on the broker.
    pub enable_property_filter: bool,
    /// `defaultTopicQueueNums` (8).
    pub default_topic_queue_nums: u32,
    /// `brokerPermission` (6 = read 4 + write 2).
    pub broker_permission: u8,
    /// `brokerIP1`: the address advertised to the nameservers; `None`: the
    /// broker picks one.
    pub broker_ip1: Option<String>,
    /// `faultInjectionEnable` (raftmq; false): accept `BrokerAdmin.InjectFault`
    /// (cut this member off from its peers, pretend the disk is full), for
    /// fault tests on real processes. Never on in production.
    pub fault_injection_enable: bool,
    /// `registerNameServerPeriod`, written in ms (raftmq: 1000; upstream
    /// 30000): how often the member heartbeats to every nameserver. It also
    /// registers at once when its role, term or topics change.
    pub register_name_server_period: Duration,
    /// `flushIntervalCommitLog`, written in ms (500).
    pub flush_interval_commit_log: Duration,
    /// `flushCommitLogLeastPages` (4).
    pub flush_commit_log_least_pages: u64,
    /// `flushCommitLogThoroughInterval`, written in ms (10000).
    pub flush_commit_log_thorough_interval: Duration,
    /// `raftHeartbeatIntervalMs` (raftmq; 50).
    pub raft_heartbeat_interval_ms: u64,
    /// `raftElectionTimeoutMinMs` (raftmq; 150).
    pub raft_election_timeout_min_ms: u64,
    /// `raftElectionTimeoutMaxMs` (raftmq; 300).
    pub raft_election_timeout_max_ms: u64,
    /// `raftReplicationTransport` (raftmq; `framed`): how this member,
    /// leading, replicates: `framed` (raftmq's own framing, ADR 0009) or
    /// `grpc` (a gRPC call per session, which members of every build
    /// answer: for a rolling upgrade from a build before ADR 0009).
    pub raft_replication_transport: ReplicationTransport,
    /// Timers and transactions (ADR 0012).
    pub held: HeldConf,
}

/// Delay messages and transactions: upstream's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldConf {
    /// `timerWheelEnable` (true): false refuses delay messages.
    pub timer_wheel_enable: bool,
    /// `timerPrecisionMs` (raftmq: 10; upstream 1000): the longest the
    /// timer task sleeps before it looks for a newly arrived timer due
    /// sooner; timers already known fire at their due time.
    pub timer_precision: Duration,
    /// `timerMaxDelaySec` (3 days): a delivery time further ahead is
    /// refused.
    pub timer_max_delay: Duration,
    /// `messageDelayLevel`: the delays of the `DELAY` property's levels,
    /// level 1 first.
    pub message_delay_level: Vec<Duration>,
    /// `transactionTimeOut`, written in ms (6000): a half message this old
    /// is checked back with a producer of its topic.
    pub transaction_timeout: Duration,
    /// `transactionCheckInterval`, written in ms (30000): between checks of
    /// one half message.
    pub transaction_check_interval: Duration,
    /// `transactionCheckMax` (15): unanswered checks before a half message
    /// is discarded.
    pub transaction_check_max: u32,
    /// `enableTopicMessageTypeCheck` (false): refuse a message whose type
    /// is not its topic's `message.type` (an undeclared topic counts as
    /// NORMAL).
    pub enable_topic_message_type_check: bool,
}

impl Default for HeldConf {
    fn default() -> Self {
        Self {
            timer_wheel_enable: d::TIMER_WHEEL_ENABLE,
            timer_precision: Duration::from_millis(d::TIMER_PRECISION_MS),
            timer_max_delay: Duration::from_secs(d::TIMER_MAX_DELAY_SEC),
            message_delay_level: values::delay_levels(d::MESSAGE_DELAY_LEVEL).unwrap_or_default(),
            transaction_timeout: Duration::from_millis(d::TRANSACTION_TIMEOUT_MS),
            transaction_check_interval: Duration::from_millis(d::TRANSACTION_CHECK_INTERVAL_MS),
            transaction_check_max: d::TRANSACTION_CHECK_MAX,
            enable_topic_message_type_check: false,
        }
    }
}

/// The DLedger (Raft) group of a broker. Every raftmq broker is a member of
/// one; a single node is a group of one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DLedgerConf {
    /// `dLegerGroup`.
    pub group: String,
    /// `dLegerPeers`: member id -> Raft address (`n0-127.0.0.1:40911;...`).
    pub peers: BTreeMap<NodeId, String>,
    /// `dLegerSelfId` (`n0` is 0); one of `peers`.
    pub self_id: NodeId,
    /// `preferredLeaderId` (DLedger's `preferredLeaderIds`): the member that
    /// should lead when it is up and caught up; one of `peers`.
    pub preferred_leader: Option<NodeId>,
}

impl DLedgerConf {
    /// This member's Raft address, from `peers`.
    pub fn self_addr(&self) -> Option<&str> {
        self.peers.get(&self.self_id).map(String::as_str)
    }
}

impl BrokerConf {
    /// RocketMQ's defaults for a broker named `broker_name`, a member of
    /// `dledger`, storing under `store_root`; no nameserver.
    pub fn new(broker_name: impl Into<String>, dledger: DLedgerConf, store_root: PathBuf) -> Self {
        Self {
            broker_cluster_name: d::BROKER_CLUSTER_NAME.to_owned(),
            broker_name: broker_name.into(),
            listen_port: d::LISTEN_PORT,
            namesrv_addr: Vec::new(),
            store_path_commit_log: store_root.join("commitlog"),
            store_path_root_dir: store_root,
            dledger,
            send_message_thread_pool_nums: None,
            server_worker_threads: None,
            server_idle_spin_micros: d::SERVER_IDLE_SPIN_MICROS,
            flush_disk_type: FlushMode::Async,
            mapped_file_size_commit_log: d::MAPPED_FILE_SIZE_COMMIT_LOG,
            file_reserved_time: Duration::from_secs(u64::from(d::FILE_RESERVED_TIME_HOURS) * 3600),
            delete_when: d::DELETE_WHEN.to_vec(),
            disk_max_used_space_ratio: d::DISK_MAX_USED_SPACE_RATIO,
            disk_space_warning_level_ratio: d::DISK_SPACE_WARNING_LEVEL_RATIO,
            max_message_size: d::MAX_MESSAGE_SIZE,
            auto_create_topic_enable: d::AUTO_CREATE_TOPIC_ENABLE,
            auto_create_subscription_group: d::AUTO_CREATE_SUBSCRIPTION_GROUP,
            enable_property_filter: d::ENABLE_PROPERTY_FILTER,
            default_topic_queue_nums: d::DEFAULT_TOPIC_QUEUE_NUMS,
            broker_permission: d::BROKER_PERMISSION,
            broker_ip1: None,
            fault_injection_enable: false,
            register_name_server_period: Duration::from_millis(d::REGISTER_NAME_SERVER_PERIOD_MS),
            flush_interval_commit_log: Duration::from_millis(d::FLUSH_INTERVAL_COMMIT_LOG_MS),
            flush_commit_log_least_pages: d::FLUSH_COMMIT_LOG_LEAST_PAGES,
            flush_commit_log_thorough_interval: Duration::from_millis(
                d::FLUSH_COMMIT_LOG_THOROUGH_INTERVAL_MS,
            ),
            raft_heartbeat_interval_ms: d::RAFT_HEARTBEAT_INTERVAL_MS,
            raft_election_timeout_min_ms: d::RAFT_ELECTION_TIMEOUT_MIN_MS,
            raft_election_timeout_max_ms: d::RAFT_ELECTION_TIMEOUT_MAX_MS,
            raft_replication_transport: ReplicationTransport::default(),
            held: HeldConf::default(),
        }
    }

    /// The store's settings: RocketMQ's store defaults with this conf's
    /// paths, segment size, flush mode and pacing, and retention.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            commitlog_dir: Some(self.store_path_commit_log.clone()),
            segment_size: self.mapped_file_size_commit_log,
            flush_mode: self.flush_disk_type,
            flush_pacing: FlushPacing {
                interval: self.flush_interval_commit_log,
                min_dirty_pages: self.flush_commit_log_least_pages,
                full_interval: self.flush_commit_log_thorough_interval,
            },
            retention: RetentionConfig {
                file_reserved_time: self.file_reserved_time,
                delete_hours: self.delete_when.clone(),
                disk_max_used_ratio: self.disk_max_used_space_ratio,
                disk_refuse_ratio: self.disk_space_warning_level_ratio,
            },
            ..StoreConfig::new(self.store_path_root_dir.clone())
        }
    }

    /// The Raft election timing (`raftHeartbeatIntervalMs`,
    /// `raftElectionTimeoutMinMs`, `raftElectionTimeoutMaxMs`).
    pub fn raft_timing(&self) -> Timing {
        Timing {
            heartbeat_ms: self.raft_heartbeat_interval_ms,
            election_min_ms: self.raft_election_timeout_min_ms,
            election_max_ms: self.raft_election_timeout_max_ms,
        }
    }

    /// Applies `mqbroker -n`: `Some(list)` replaces `namesrvAddr` (whatever
    /// the conf file or `NAMESRV_ADDR` gave), `None` keeps it. The list is
    /// `;`-separated `host:port`s and must name at least one.
    pub fn with_namesrv_override(mut self, addrs: Option<&str>) -> Result<Self, ConfError> {
        let Some(addrs) = addrs else {
            return Ok(self);
        };
        let list = values::namesrv_list(addrs).map_err(|reason| ConfError::NamesrvOverride {
            value: addrs.to_owned(),
            reason,
        })?;
        if list.is_empty() {
            return Err(ConfError::NamesrvOverride {
                value: addrs.to_owned(),
                reason: "no nameserver address given (expected host:port;host:port...)".into(),
            });
        }
        self.namesrv_addr = list;
        Ok(self)
    }
}
