//! RocketMQ's defaults (BrokerConfig, MessageStoreConfig), and raftmq's for
//! the keys it adds.

/// `brokerClusterName`.
pub const BROKER_CLUSTER_NAME: &str = "DefaultCluster";
/// `listenPort`.
pub const LISTEN_PORT: u16 = 10911;
/// `storePathRootDir`, under `$HOME`.
pub const STORE_DIR_UNDER_HOME: &str = "store";
/// `mappedFileSizeCommitLog`: 1 GiB.
pub const MAPPED_FILE_SIZE_COMMIT_LOG: u64 = 1 << 30;
/// `fileReservedTime`, hours.
pub const FILE_RESERVED_TIME_HOURS: u32 = 72;
/// `deleteWhen`: 04:00.
pub const DELETE_WHEN: &[u8] = &[4];
/// `diskMaxUsedSpaceRatio`, percent.
pub const DISK_MAX_USED_SPACE_RATIO: u8 = 75;
/// `diskSpaceWarningLevelRatio`, percent.
pub const DISK_SPACE_WARNING_LEVEL_RATIO: u8 = 90;
/// `maxMessageSize`: 4 MiB.
pub const MAX_MESSAGE_SIZE: u32 = 4 << 20;
/// raftmq's: microseconds a worker polls for I/O once idle after a wake-up
/// (docs/benchmarks.md, ADR 0010: 50 took p50 at one message in flight from
/// about 200 to about 145 us, with msg/s and CPU at 256 in flight level).
pub const SERVER_IDLE_SPIN_MICROS: u32 = 50;
/// `autoCreateTopicEnable`.
pub const AUTO_CREATE_TOPIC_ENABLE: bool = true;
/// `autoCreateSubscriptionGroup`, upstream's default.
pub const AUTO_CREATE_SUBSCRIPTION_GROUP: bool = true;
/// `enablePropertyFilter`: raftmq's default is on (upstream's is off), as
/// SQL92 filters cost only the consumers that use them.
pub const ENABLE_PROPERTY_FILTER: bool = true;
/// `defaultTopicQueueNums`.
pub const DEFAULT_TOPIC_QUEUE_NUMS: u32 = 8;
/// `brokerPermission`: read 4 + write 2.
pub const BROKER_PERMISSION: u8 = 6;
/// `registerNameServerPeriod`, ms: upstream registers every 30 s; raftmq
/// heartbeats every second so that the nameservers drop a dead member
/// within their expiry (10 s) and show fresh figures.
pub const REGISTER_NAME_SERVER_PERIOD_MS: u64 = 1000;
/// `flushIntervalCommitLog`, ms.
pub const FLUSH_INTERVAL_COMMIT_LOG_MS: u64 = 500;
/// `flushCommitLogLeastPages`.
pub const FLUSH_COMMIT_LOG_LEAST_PAGES: u64 = 4;
/// `flushCommitLogThoroughInterval`, ms.
pub const FLUSH_COMMIT_LOG_THOROUGH_INTERVAL_MS: u64 = 10_000;
/// `raftHeartbeatIntervalMs` (raftmq).
pub const RAFT_HEARTBEAT_INTERVAL_MS: u64 = 50;
/// `raftElectionTimeoutMinMs` (raftmq).
pub const RAFT_ELECTION_TIMEOUT_MIN_MS: u64 = 150;
/// `raftElectionTimeoutMaxMs` (raftmq).
pub const RAFT_ELECTION_TIMEOUT_MAX_MS: u64 = 300;

/// `timerWheelEnable`.
pub const TIMER_WHEEL_ENABLE: bool = true;
/// `timerPrecisionMs`, raftmq's (upstream 1000, its wheel's slot width):
/// the longest the timer task sleeps before it looks for a timer due
/// sooner than the one it waits for (ADR 0012).
pub const TIMER_PRECISION_MS: u64 = 10;
/// `timerMaxDelaySec`: 3 days.
pub const TIMER_MAX_DELAY_SEC: u64 = 3 * 24 * 3600;
/// `messageDelayLevel`: the delays of the 4.x `DELAY` property's levels
/// 1 to 18.
pub const MESSAGE_DELAY_LEVEL: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";
/// `transactionTimeOut`, ms: a half message this old is checked back.
pub const TRANSACTION_TIMEOUT_MS: u64 = 6_000;
/// `transactionCheckInterval`, ms (5.x).
pub const TRANSACTION_CHECK_INTERVAL_MS: u64 = 30_000;
/// `transactionCheckMax`.
pub const TRANSACTION_CHECK_MAX: u32 = 15;
