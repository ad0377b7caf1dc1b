//! The key names: those raftmq reads, RocketMQ's own spelling kept, and the
//! RocketMQ keys raftmq knowingly ignores (each with the reason given in the
//! warning). Anything else is an unknown key, reported with the nearest name.

/// A key raftmq reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Key {
    BrokerClusterName,
    BrokerName,
    BrokerId,
    ListenPort,
    NamesrvAddr,
    StorePathRootDir,
    StorePathCommitLog,
    EnableDLegerCommitLog,
    DLegerGroup,
    DLegerPeers,
    DLegerSelfId,
    PreferredLeaderId,
    SendMessageThreadPoolNums,
    ServerWorkerThreads,
    ServerIdleSpinMicros,
    FlushDiskType,
    MappedFileSizeCommitLog,
    FileReservedTime,
    DeleteWhen,
    DiskMaxUsedSpaceRatio,
    DiskSpaceWarningLevelRatio,
    MaxMessageSize,
    AutoCreateTopicEnable,
    AutoCreateSubscriptionGroup,
    DefaultTopicQueueNums,
    BrokerPermission,
    BrokerIp1,
    FlushIntervalCommitLog,
    RegisterNameServerPeriod,
    FlushCommitLogLeastPages,
    FlushCommitLogThoroughInterval,
    AclEnable,
    EnablePropertyFilter,
    FaultInjectionEnable,
    RaftHeartbeatIntervalMs,
    RaftElectionTimeoutMinMs,
    RaftElectionTimeoutMaxMs,
    RaftReplicationTransport,
    TimerWheelEnable,
    TimerPrecisionMs,
    TimerMaxDelaySec,
    MessageDelayLevel,
    TransactionTimeOut,
    TransactionCheckInterval,
    TransactionCheckMax,
    EnableTopicMessageTypeCheck,
}

/// Every spelling raftmq reads, and the key it sets. The first name of a key
/// is its canonical one.
pub(crate) const KNOWN: &[(&str, Key)] = &[
    ("brokerClusterName", Key::BrokerClusterName),
    ("brokerName", Key::BrokerName),
    ("brokerId", Key::BrokerId),
    ("listenPort", Key::ListenPort),
    ("namesrvAddr", Key::NamesrvAddr),
    ("storePathRootDir", Key::StorePathRootDir),
    ("storePathCommitLog", Key::StorePathCommitLog),
    ("enableDLegerCommitLog", Key::EnableDLegerCommitLog),
    ("dLegerGroup", Key::DLegerGroup),
    ("dLegerPeers", Key::DLegerPeers),
    ("dLegerSelfId", Key::DLegerSelfId),
    // The broker's key upstream (MessageStoreConfig); DLedger's own conf
    // spells it `preferredLeaderIds`, which is accepted as well.
    ("preferredLeaderId", Key::PreferredLeaderId),
    ("preferredLeaderIds", Key::PreferredLeaderId),
    ("sendMessageThreadPoolNums", Key::SendMessageThreadPoolNums),
    // Upstream's remoting server (NettyServerConfig) key.
    ("serverWorkerThreads", Key::ServerWorkerThreads),
    ("flushDiskType", Key::FlushDiskType),
    ("mappedFileSizeCommitLog", Key::MappedFileSizeCommitLog),
    ("fileReservedTime", Key::FileReservedTime),
    ("deleteWhen", Key::DeleteWhen),
    ("diskMaxUsedSpaceRatio", Key::DiskMaxUsedSpaceRatio),
    (
        "diskSpaceWarningLevelRatio",
        Key::DiskSpaceWarningLevelRatio,
    ),
    ("maxMessageSize", Key::MaxMessageSize),
    ("autoCreateTopicEnable", Key::AutoCreateTopicEnable),
    (
        "autoCreateSubscriptionGroup",
        Key::AutoCreateSubscriptionGroup,
    ),
    ("defaultTopicQueueNums", Key::DefaultTopicQueueNums),
    ("brokerPermission", Key::BrokerPermission),
    ("brokerIP1", Key::BrokerIp1),
    ("flushIntervalCommitLog", Key::FlushIntervalCommitLog),
    ("registerNameServerPeriod", Key::RegisterNameServerPeriod),
    ("flushCommitLogLeastPages", Key::FlushCommitLogLeastPages),
    (
        "flushCommitLogThoroughInterval",
        Key::FlushCommitLogThoroughInterval,
    ),
    ("aclEnable", Key::AclEnable),
    ("enablePropertyFilter", Key::EnablePropertyFilter),
    ("faultInjectionEnable", Key::FaultInjectionEnable),
    ("raftHeartbeatIntervalMs", Key::RaftHeartbeatIntervalMs),
    ("raftElectionTimeoutMinMs", Key::RaftElectionTimeoutMinMs),
    ("raftElectionTimeoutMaxMs", Key::RaftElectionTimeoutMaxMs),
    ("raftReplicationTransport", Key::RaftReplicationTransport),
    ("serverIdleSpinMicros", Key::ServerIdleSpinMicros),
    ("timerWheelEnable", Key::TimerWheelEnable),
    ("timerPrecisionMs", Key::TimerPrecisionMs),
    ("timerMaxDelaySec", Key::TimerMaxDelaySec),
    ("messageDelayLevel", Key::MessageDelayLevel),
    ("transactionTimeOut", Key::TransactionTimeOut),
    ("transactionCheckInterval", Key::TransactionCheckInterval),
    ("transactionCheckMax", Key::TransactionCheckMax),
    (
        "enableTopicMessageTypeCheck",
        Key::EnableTopicMessageTypeCheck,
    ),
];

impl Key {
    /// The canonical name, as in the docs.
    pub(crate) fn name(self) -> &'static str {
        KNOWN
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(name, _)| name)
    }
}

const REPLICATION: &str =
    "raftmq replicates by Raft (DLedger style); master/slave settings do not apply";
const CONTROLLER: &str = "raftmq has no controller mode: the Raft group elects its leader";
const STORE: &str = "raftmq's store sizes and paces this itself";
const THREADS: &str = "raftmq runs on an async runtime; this thread pool setting does not apply";
const REMOTING: &str = "raftmq speaks gRPC; RocketMQ's remoting (Netty) settings do not apply";
const NAMESRV: &str = "raftmq registers with the nameservers on its own schedule";
const OFFSETS: &str =
    "consumer offsets are Raft entries in raftmq, replicated and saved with the log";
const UNSUPPORTED: &str = "not supported by raftmq";

/// RocketMQ keys raftmq reads and deliberately ignores, with the reason named
/// in the warning.
pub(crate) const IGNORED: &[(&str, &str)] = &[
    // master/slave and HA
    ("brokerRole", REPLICATION),
    ("brokerIP2", REPLICATION),
    ("haListenPort", REPLICATION),
    ("haMasterAddress", REPLICATION),
    ("haSendHeartbeatInterval", REPLICATION),
    ("haHousekeepingInterval", REPLICATION),
    ("haTransferBatchSize", REPLICATION),
    ("haMaxGapNotInSync", REPLICATION),
    ("slaveReadEnable", REPLICATION),
    ("offsetCheckInSlave", REPLICATION),
    ("totalReplicas", REPLICATION),
    ("inSyncReplicas", REPLICATION),
    ("minInSyncReplicas", REPLICATION),
    ("allAckInSyncStateSet", REPLICATION),
    ("enableAutoInSyncReplicas", REPLICATION),
    ("enableSlaveActingMaster", REPLICATION),
    ("enableBatchPush", REPLICATION),
    ("isEnableBatchPush", REPLICATION),
    (
        "storePathDLedgerCommitLog",
        "raftmq keeps the Raft log in storePathCommitLog",
    ),
    // controller mode
    ("enableControllerMode", CONTROLLER),
    ("controllerAddr", CONTROLLER),
    ("fetchControllerAddrByDnsLookup", CONTROLLER),
    ("brokerElectionPriority", CONTROLLER),
    // store tuning
    ("transientStorePoolEnable", STORE),
    ("transientStorePoolSize", STORE),
    ("fastFailIfNoBufferInStorePool", STORE),
    ("warmMapedFileEnable", STORE),
    ("useReentrantLockWhenPutMessage", STORE),
    ("flushCommitLogTimed", STORE),
    ("commitIntervalCommitLog", STORE),
    ("commitCommitLogLeastPages", STORE),
    ("commitCommitLogThoroughInterval", STORE),
    ("flushIntervalConsumeQueue", STORE),
    ("flushConsumeQueueLeastPages", STORE),
    ("flushConsumeQueueThoroughInterval", STORE),
    ("mappedFileSizeConsumeQueue", STORE),
    ("cleanResourceInterval", STORE),
    ("deleteCommitLogFilesInterval", STORE),
    ("deleteConsumeQueueFilesInterval", STORE),
    ("destroyMapedFileIntervalForcibly", STORE),
    ("redeleteHangedFileInterval", STORE),
    ("cleanFileForciblyEnable", STORE),
    ("diskSpaceCleanForciblyRatio", STORE),
    ("deleteFileBatchMax", STORE),
    ("maxHashSlotNum", STORE),
    ("maxIndexNum", STORE),
    ("messageIndexEnable", STORE),
    ("messageIndexSafe", STORE),
    ("checkCRCOnRecover", "raftmq always checks record CRCs"),
    ("syncFlushTimeout", STORE),
    ("osPageCacheBusyTimeOutMills", STORE),
    ("maxTransferBytesOnMessageInMemory", STORE),
    ("maxTransferCountOnMessageInMemory", STORE),
    ("maxTransferBytesOnMessageInDisk", STORE),
    ("maxTransferCountOnMessageInDisk", STORE),
    ("accessMessageInMemoryMaxRatio", STORE),
    ("putMsgIndexHightWater", STORE),
    ("maxRecoveryCommitlogFiles", STORE),
    ("duplicationEnable", STORE),
    ("diskFallRecorded", STORE),
    ("enableConsumeQueueExt", STORE),
    ("storeType", STORE),
    // threads
    ("pullMessageThreadPoolNums", THREADS),
    ("litePullMessageThreadPoolNums", THREADS),
    ("ackMessageThreadPoolNums", THREADS),
    ("processReplyMessageThreadPoolNums", THREADS),
    ("queryMessageThreadPoolNums", THREADS),
    ("adminBrokerThreadPoolNums", THREADS),
    ("clientManageThreadPoolNums", THREADS),
    ("consumerManageThreadPoolNums", THREADS),
    ("heartbeatThreadPoolNums", THREADS),
    ("endTransactionThreadPoolNums", THREADS),
    ("putMessageFutureThreadPoolNums", THREADS),
    ("sendThreadPoolQueueCapacity", THREADS),
    ("pullThreadPoolQueueCapacity", THREADS),
    ("queryThreadPoolQueueCapacity", THREADS),
    ("useEpollNativeSelector", REMOTING),
    ("serverSelectorThreads", REMOTING),
    ("serverCallbackExecutorThreads", REMOTING),
    ("serverChannelMaxIdleTimeSeconds", REMOTING),
    ("serverSocketSndBufSize", REMOTING),
    ("serverSocketRcvBufSize", REMOTING),
    ("serverPooledByteBufAllocatorEnable", REMOTING),
    ("waitTimeMillsInSendQueue", REMOTING),
    ("brokerFastFailureEnable", REMOTING),
    // nameserver registration
    ("registerBrokerTimeoutMills", NAMESRV),
    ("compressedRegister", NAMESRV),
    ("forceRegister", NAMESRV),
    ("fetchNamesrvAddrByAddressServer", NAMESRV),
    ("fetchNameSrvAddrByDnsLookup", NAMESRV),
    // offsets
    ("flushConsumerOffsetInterval", OFFSETS),
    ("flushConsumerOffsetHistoryInterval", OFFSETS),
    // features
    ("rocketmqHome", "raftmq does not use ROCKETMQ_HOME"),
    ("traceTopicEnable", UNSUPPORTED),
    ("msgTraceTopicName", UNSUPPORTED),
    ("traceOn", UNSUPPORTED),
    (
        "filterSupportRetry",
        "raftmq redelivers a message only if it matched the consumer's filter",
    ),
    (
        "enableCalcFilterBitMap",
        "raftmq evaluates SQL92 filters on each message, without a bloom filter bitmap",
    ),
    ("rejectTransactionMessage", UNSUPPORTED),
    ("enableLmq", UNSUPPORTED),
    ("enableMultiDispatch", UNSUPPORTED),
    ("enableScheduleMessageStats", UNSUPPORTED),
    ("enableScheduleAsyncDeliver", UNSUPPORTED),
    ("storeReplyMessageEnable", UNSUPPORTED),
    ("enableDetailStat", UNSUPPORTED),
    ("autoDeleteUnusedStats", UNSUPPORTED),
    ("isolateLogEnable", UNSUPPORTED),
    ("clusterTopicEnable", UNSUPPORTED),
    ("brokerTopicEnable", UNSUPPORTED),
    ("longPollingEnable", UNSUPPORTED),
    ("shortPollingTimeMills", UNSUPPORTED),
    ("notifyConsumerIdsChangedEnable", UNSUPPORTED),
    ("highSpeedMode", UNSUPPORTED),
    ("transferMsgByHeap", UNSUPPORTED),
    ("skipPreOnline", UNSUPPORTED),
    ("asyncSendEnable", UNSUPPORTED),
    ("metricsExporterType", UNSUPPORTED),
];

/// What a key as written in a conf file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// A key raftmq reads.
    Known(Key),
    /// A RocketMQ key raftmq ignores, and why.
    Ignored(&'static str),
    /// Neither; the nearest name, if one is close.
    Unknown(Option<&'static str>),
}

/// Looks `name` up, exactly as written (RocketMQ's keys are case-sensitive).
pub(crate) fn lookup(name: &str) -> Lookup {
    if let Some((_, key)) = KNOWN.iter().find(|(n, _)| *n == name) {
        return Lookup::Known(*key);
    }
    if let Some((_, why)) = IGNORED.iter().find(|(n, _)| *n == name) {
        return Lookup::Ignored(why);
    }
    Lookup::Unknown(nearest(name))
}

/// The known or ignored name closest to `name`, if it is close enough to be
/// a likely typo.
pub(crate) fn nearest(name: &str) -> Option<&'static str> {
    raftmq_cli::properties::nearest(
        name,
        KNOWN
            .iter()
            .map(|(n, _)| *n)
            .chain(IGNORED.iter().map(|(n, _)| *n)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_case_slips_only() {
        assert_eq!(nearest("listenPrt"), Some("listenPort"));
        assert_eq!(nearest("dLedgerPeers"), Some("dLegerPeers"));
        assert_eq!(nearest("BrokerName"), Some("brokerName"));
        assert_eq!(nearest("brokerRol"), Some("brokerRole"));
        assert_eq!(nearest("completelyUnrelated"), None);
    }

    #[test]
    fn tables_hold_no_name_twice_and_no_key_is_both() {
        let mut names: Vec<&str> = KNOWN
            .iter()
            .map(|(n, _)| *n)
            .chain(IGNORED.iter().map(|(n, _)| *n))
            .collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total);
        assert_eq!(Key::PreferredLeaderId.name(), "preferredLeaderId");
        assert_eq!(
            lookup("preferredLeaderIds"),
            Lookup::Known(Key::PreferredLeaderId)
        );
        assert!(matches!(lookup("brokerRole"), Lookup::Ignored(_)));
    }
}
