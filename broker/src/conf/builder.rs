//! From the lines of a conf file to a [`BrokerConf`]: look each key up, keep
//! the last value of a repeated key (with a warning), type every value, then
//! fill in defaults and check the values against each other.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use raftmq_raft::peers::{node_id, parse_peers};
use raftmq_raft::{NodeId, ReplicationTransport};

use super::broker_conf::{BrokerConf, DLedgerConf};
use super::defaults as d;
use super::error::ConfError;
use super::keys::{lookup, Key, Lookup};
use super::values::{self as v, Reason};
use super::Env;
use raftmq_cli::properties::Entry;

/// The line that set a key.
#[derive(Clone, Debug)]
struct Setting {
    line: usize,
    name: String,
    value: String,
}

/// Values read so far; `None`: not in the file.
#[derive(Default)]
struct Partial {
    broker_cluster_name: Option<String>,
    broker_name: Option<String>,
    listen_port: Option<u16>,
    namesrv_addr: Option<Vec<String>>,
    store_path_root_dir: Option<PathBuf>,
    store_path_commit_log: Option<PathBuf>,
    dleger_group: Option<String>,
    dleger_peers: Option<BTreeMap<NodeId, String>>,
    dleger_self_id: Option<NodeId>,
    preferred_leader: Option<NodeId>,
    send_message_thread_pool_nums: Option<u32>,
    server_worker_threads: Option<u32>,
    server_idle_spin_micros: Option<u32>,
    flush_disk_type: Option<raftmq_store::FlushMode>,
    mapped_file_size_commit_log: Option<u64>,
    file_reserved_time_hours: Option<u32>,
    delete_when: Option<Vec<u8>>,
    disk_max_used_space_ratio: Option<u8>,
    disk_space_warning_level_ratio: Option<u8>,
    max_message_size: Option<u32>,
    auto_create_topic_enable: Option<bool>,
    auto_create_subscription_group: Option<bool>,
    enable_property_filter: Option<bool>,
    fault_injection_enable: Option<bool>,
    default_topic_queue_nums: Option<u32>,
    broker_permission: Option<u8>,
    broker_ip1: Option<String>,
    flush_interval_commit_log_ms: Option<u64>,
    register_name_server_period_ms: Option<u64>,
    flush_commit_log_least_pages: Option<u64>,
    flush_commit_log_thorough_interval_ms: Option<u64>,
    raft_heartbeat_interval_ms: Option<u64>,
    raft_election_timeout_min_ms: Option<u64>,
    raft_election_timeout_max_ms: Option<u64>,
    raft_replication_transport: Option<ReplicationTransport>,
    timer_wheel_enable: Option<bool>,
    timer_precision_ms: Option<u64>,
    timer_max_delay_sec: Option<u64>,
    message_delay_level: Option<Vec<Duration>>,
    transaction_timeout_ms: Option<u64>,
    transaction_check_interval_ms: Option<u64>,
    transaction_check_max: Option<u32>,
    enable_topic_message_type_check: Option<bool>,
}

/// Builds the conf of `path` from its entries.
pub(crate) fn build(
    path: &Path,
    entries: &[Entry<'_>],
    env: &Env,
) -> Result<(BrokerConf, Vec<String>), ConfError> {
    let mut b = Builder {
        path,
        settings: BTreeMap::new(),
        partial: Partial::default(),
        warnings: Vec::new(),
    };
    b.collect(entries)?;
    b.type_values()?;
    let conf = b.finish(env)?;
    Ok((conf, b.warnings))
}

struct Builder<'a> {
    path: &'a Path,
    settings: BTreeMap<Key, Setting>,
    partial: Partial,
    warnings: Vec<String>,
}

impl Builder<'_> {
    fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path.display())
    }

    /// Pass 1: every key known, the last value of each kept.
    fn collect(&mut self, entries: &[Entry<'_>]) -> Result<(), ConfError> {
        for e in entries {
            match lookup(e.key) {
                Lookup::Known(key) => {
                    let setting = Setting {
                        line: e.line,
                        name: e.key.to_owned(),
                        value: e.value.to_owned(),
                    };
                    if let Some(first) = self.settings.insert(key, setting) {
                        let again = if first.name == e.key {
                            String::new()
                        } else {
                            format!(" (as `{}`)", first.name)
                        };
                        self.warnings.push(format!(
                            "{}: `{}` is set again (first on line {}{again}); the value on line {} is used",
                            self.at(e.line),
                            e.key,
                            first.line,
                            e.line,
                        ));
                    }
                }
                Lookup::Ignored(why) => {
                    self.warnings
                        .push(format!("{}: ignoring `{}`: {why}", self.at(e.line), e.key))
                }
                Lookup::Unknown(suggestion) => {
                    return Err(ConfError::UnknownKey {
                        path: self.path.to_owned(),
                        line: e.line,
                        key: e.key.to_owned(),
                        suggestion,
                    })
                }
            }
        }
        Ok(())
    }

    /// Pass 2: every value typed, in file order so the first bad line is the
    /// one reported.
    fn type_values(&mut self) -> Result<(), ConfError> {
        let mut by_line: Vec<(Key, Setting)> =
            self.settings.iter().map(|(k, s)| (*k, s.clone())).collect();
        by_line.sort_by_key(|(_, s)| s.line);
        for (key, s) in by_line {
            self.apply(key, &s).map_err(|reason| self.bad(&s, reason))?;
        }
        Ok(())
    }

    fn bad(&self, s: &Setting, reason: Reason) -> ConfError {
        ConfError::BadValue {
            path: self.path.to_owned(),
            line: s.line,
            key: s.name.clone(),
            value: s.value.clone(),
            reason,
        }
    }

    fn apply(&mut self, key: Key, s: &Setting) -> Result<(), Reason> {
        let val = s.value.as_str();
        let p = &mut self.partial;
        match key {
            Key::BrokerClusterName => p.broker_cluster_name = Some(v::name(val)?),
            Key::BrokerName => p.broker_name = Some(v::name(val)?),
            Key::BrokerId => {
                v::int_in::<u64>(val, 0, u64::MAX, "a broker id (0 or more)")?;
                self.warnings.push(format!(
                    "{}: ignoring `{}`: in a DLedger group the leader is BID 0 and the \
                     followers' ids follow from dLegerSelfId",
                    self.at(s.line),
                    s.name
                ));
            }
            Key::ListenPort => p.listen_port = Some(v::port(val)?),
            Key::NamesrvAddr => p.namesrv_addr = Some(v::namesrv_list(val)?),
            Key::StorePathRootDir => p.store_path_root_dir = Some(v::path(val)?.into()),
            Key::StorePathCommitLog => p.store_path_commit_log = Some(v::path(val)?.into()),
            Key::EnableDLegerCommitLog => {
                if !v::boolean(val)? {
                    return Err(format!(
                        "`{val}`: raftmq has no master/slave mode; every broker is a member of a \
                         DLedger (Raft) group: set it to true, or remove the line"
                    ));
                }
            }
            Key::DLegerGroup => p.dleger_group = Some(v::name(val)?),
            Key::DLegerPeers => p.dleger_peers = Some(parse_peers(val)?),
            Key::DLegerSelfId => p.dleger_self_id = Some(node_id(val)?),
            Key::PreferredLeaderId => {
                if val.is_empty() {
                    p.preferred_leader = None;
                } else if val.contains([';', ',']) {
                    return Err(format!(
                        "`{val}`: raftmq takes one preferred leader, as in n1"
                    ));
                } else {
                    p.preferred_leader = Some(node_id(val)?);
                }
            }
            Key::SendMessageThreadPoolNums => {
                p.send_message_thread_pool_nums = Some(v::int_in(
                    val,
                    1,
                    u32::MAX,
                    "a number of threads (1 or more)",
                )?)
            }
            Key::ServerWorkerThreads => {
                p.server_worker_threads =
                    Some(v::int_in(val, 1, 1024, "a number of threads (1 to 1024)")?)
            }
            Key::ServerIdleSpinMicros => {
                p.server_idle_spin_micros = Some(v::int_in(
                    val,
                    0,
                    10_000,
                    "microseconds (0 to 10000; 0: no spinning)",
                )?)
            }
            Key::FlushDiskType => p.flush_disk_type = Some(val.parse()?),
            Key::MappedFileSizeCommitLog => {
                p.mapped_file_size_commit_log = Some(v::int_in(
                    val,
                    4096,
                    u64::MAX,
                    "a segment size in bytes (4096 or more, e.g. 1073741824)",
                )?)
            }
            Key::FileReservedTime => {
                p.file_reserved_time_hours = Some(v::int_in(
                    val,
                    1,
                    u32::MAX,
                    "a number of hours (1 or more)",
                )?)
            }
            Key::DeleteWhen => p.delete_when = Some(v::hours(val)?),
            Key::DiskMaxUsedSpaceRatio => p.disk_max_used_space_ratio = Some(v::ratio(val)?),
            Key::DiskSpaceWarningLevelRatio => {
                p.disk_space_warning_level_ratio = Some(v::ratio(val)?)
            }
            Key::MaxMessageSize => {
                p.max_message_size =
                    Some(v::int_in(val, 1, u32::MAX, "a size in bytes (1 or more)")?)
            }
            Key::AutoCreateTopicEnable => p.auto_create_topic_enable = Some(v::boolean(val)?),
            Key::AutoCreateSubscriptionGroup => {
                p.auto_create_subscription_group = Some(v::boolean(val)?)
            }
            Key::EnablePropertyFilter => p.enable_property_filter = Some(v::boolean(val)?),
            Key::FaultInjectionEnable => p.fault_injection_enable = Some(v::boolean(val)?),
            Key::DefaultTopicQueueNums => {
                p.default_topic_queue_nums = Some(v::int_in(
                    val,
                    1,
                    u32::MAX,
                    "a number of queues (1 or more)",
                )?)
            }
            Key::BrokerPermission => p.broker_permission = Some(v::permission(val)?),
            Key::BrokerIp1 => {
                p.broker_ip1 = if val.is_empty() {
                    None
                } else {
                    Some(v::ip_or_host(val)?)
                }
            }
            Key::FlushIntervalCommitLog => p.flush_interval_commit_log_ms = Some(v::millis(val)?),
            Key::RegisterNameServerPeriod => {
                p.register_name_server_period_ms = Some(v::int_in(
                    val,
                    50,
                    60_000,
                    "a number of milliseconds from 50 to 60000",
                )?)
            }
            Key::FlushCommitLogLeastPages => {
                p.flush_commit_log_least_pages = Some(v::int_in(
                    val,
                    0,
                    u64::MAX,
                    "a number of pages (0 or more)",
                )?)
            }
            Key::FlushCommitLogThoroughInterval => {
                p.flush_commit_log_thorough_interval_ms = Some(v::millis(val)?)
            }
            Key::AclEnable => {
                if v::boolean(val)? {
                    return Err(
                        "`true`: raftmq has no ACL, and will not start open when access control \
                         is asked for; remove the line or set it to false"
                            .into(),
                    );
                }
            }
            Key::RaftHeartbeatIntervalMs => p.raft_heartbeat_interval_ms = Some(v::millis(val)?),
            Key::RaftElectionTimeoutMinMs => p.raft_election_timeout_min_ms = Some(v::millis(val)?),
            Key::RaftElectionTimeoutMaxMs => p.raft_election_timeout_max_ms = Some(v::millis(val)?),
            Key::RaftReplicationTransport => {
                p.raft_replication_transport = Some(v::replication_transport(val)?)
            }
            Key::TimerWheelEnable => p.timer_wheel_enable = Some(v::boolean(val)?),
            Key::TimerPrecisionMs => {
                p.timer_precision_ms = Some(v::int_in(
                    val,
                    1,
                    60_000,
                    "a number of milliseconds from 1 to 60000",
                )?)
            }
            Key::TimerMaxDelaySec => {
                p.timer_max_delay_sec = Some(v::int_in(
                    val,
                    1,
                    10 * 365 * 86_400,
                    "a number of seconds (1 or more, at most ten years)",
                )?)
            }
            Key::MessageDelayLevel => p.message_delay_level = Some(v::delay_levels(val)?),
            Key::TransactionTimeOut => p.transaction_timeout_ms = Some(v::millis(val)?),
            Key::TransactionCheckInterval => {
                p.transaction_check_interval_ms = Some(v::millis(val)?)
            }
            Key::TransactionCheckMax => {
                p.transaction_check_max = Some(v::int_in(
                    val,
                    1,
                    u32::MAX,
                    "a number of checks (1 or more)",
                )?)
            }
            Key::EnableTopicMessageTypeCheck => {
                p.enable_topic_message_type_check = Some(v::boolean(val)?)
            }
        }
        Ok(())
    }

    /// The setting of the first of `keys` present in the file.
    fn culprit(&self, keys: &[Key]) -> Option<&Setting> {
        keys.iter().find_map(|k| self.settings.get(k))
    }

    /// Pass 3: required keys, defaults, and checks across keys.
    fn finish(&mut self, env: &Env) -> Result<BrokerConf, ConfError> {
        let p = std::mem::take(&mut self.partial);
        let root = p
            .store_path_root_dir
            .or_else(|| env.home.as_ref().map(|h| h.join(d::STORE_DIR_UNDER_HOME)));

        let mut missing = Vec::new();
        if p.broker_name.is_none() {
            missing.push(Key::BrokerName.name());
        }
        if root.is_none() {
            missing.push(Key::StorePathRootDir.name());
        }
        if p.dleger_group.is_none() {
            missing.push(Key::DLegerGroup.name());
        }
        if p.dleger_peers.is_none() {
            missing.push(Key::DLegerPeers.name());
        }
        if p.dleger_self_id.is_none() {
            missing.push(Key::DLegerSelfId.name());
        }
        let (Some(broker_name), Some(root), Some(group), Some(peers), Some(self_id)) = (
            p.broker_name,
            root,
            p.dleger_group,
            p.dleger_peers,
            p.dleger_self_id,
        ) else {
            return Err(ConfError::Missing {
                path: self.path.to_owned(),
                keys: missing,
            });
        };

        self.check_member(Key::DLegerSelfId, self_id, &peers)?;
        if let Some(preferred) = p.preferred_leader {
            self.check_member(Key::PreferredLeaderId, preferred, &peers)?;
        }
        let dledger = DLedgerConf {
            group,
            peers,
            self_id,
            preferred_leader: p.preferred_leader,
        };

        let namesrv_addr = match p.namesrv_addr {
            Some(list) => list,
            None => match env.namesrv_addr.as_deref() {
                Some(addrs) => v::namesrv_list(addrs).map_err(|reason| ConfError::Env {
                    var: "NAMESRV_ADDR",
                    value: addrs.to_owned(),
                    reason,
                })?,
                None => Vec::new(),
            },
        };

        let mut conf = BrokerConf::new(broker_name, dledger, root);
        let c = &mut conf;
        c.namesrv_addr = namesrv_addr;
        if let Some(x) = p.broker_cluster_name {
            c.broker_cluster_name = x;
        }
        if let Some(x) = p.listen_port {
            c.listen_port = x;
        }
        if let Some(x) = p.store_path_commit_log {
            c.store_path_commit_log = x;
        }
        c.send_message_thread_pool_nums = p.send_message_thread_pool_nums;
        c.server_worker_threads = p.server_worker_threads;
        if let Some(x) = p.server_idle_spin_micros {
            c.server_idle_spin_micros = x;
        }
        if let Some(x) = p.flush_disk_type {
            c.flush_disk_type = x;
        }
        if let Some(x) = p.mapped_file_size_commit_log {
            c.mapped_file_size_commit_log = x;
        }
        if let Some(x) = p.file_reserved_time_hours {
            c.file_reserved_time = Duration::from_secs(u64::from(x) * 3600);
        }
        if let Some(x) = p.delete_when {
            c.delete_when = x;
        }
        if let Some(x) = p.disk_max_used_space_ratio {
            c.disk_max_used_space_ratio = x;
        }
        if let Some(x) = p.disk_space_warning_level_ratio {
            c.disk_space_warning_level_ratio = x;
        }
        if let Some(x) = p.max_message_size {
            c.max_message_size = x;
        }
        if let Some(x) = p.auto_create_topic_enable {
            c.auto_create_topic_enable = x;
        }
        if let Some(x) = p.auto_create_subscription_group {
            c.auto_create_subscription_group = x;
        }
        if let Some(x) = p.enable_property_filter {
            c.enable_property_filter = x;
        }
        if let Some(x) = p.fault_injection_enable {
            c.fault_injection_enable = x;
        }
        if let Some(x) = p.default_topic_queue_nums {
            c.default_topic_queue_nums = x;
        }
        if let Some(x) = p.broker_permission {
            c.broker_permission = x;
        }
        c.broker_ip1 = p.broker_ip1;
        if let Some(x) = p.register_name_server_period_ms {
            c.register_name_server_period = Duration::from_millis(x);
        }
        if let Some(x) = p.flush_interval_commit_log_ms {
            c.flush_interval_commit_log = Duration::from_millis(x);
        }
        if let Some(x) = p.flush_commit_log_least_pages {
            c.flush_commit_log_least_pages = x;
        }
        if let Some(x) = p.flush_commit_log_thorough_interval_ms {
            c.flush_commit_log_thorough_interval = Duration::from_millis(x);
        }
        if let Some(x) = p.raft_heartbeat_interval_ms {
            c.raft_heartbeat_interval_ms = x;
        }
        if let Some(x) = p.raft_election_timeout_min_ms {
            c.raft_election_timeout_min_ms = x;
        }
        if let Some(x) = p.raft_election_timeout_max_ms {
            c.raft_election_timeout_max_ms = x;
        }
        if let Some(x) = p.raft_replication_transport {
            c.raft_replication_transport = x;
        }
        let h = &mut c.held;
        if let Some(x) = p.timer_wheel_enable {
            h.timer_wheel_enable = x;
        }
        if let Some(x) = p.timer_precision_ms {
            h.timer_precision = Duration::from_millis(x);
        }
        if let Some(x) = p.timer_max_delay_sec {
            h.timer_max_delay = Duration::from_secs(x);
        }
        if let Some(x) = p.message_delay_level {
            h.message_delay_level = x;
        }
        if let Some(x) = p.transaction_timeout_ms {
            h.transaction_timeout = Duration::from_millis(x);
        }
        if let Some(x) = p.transaction_check_interval_ms {
            h.transaction_check_interval = Duration::from_millis(x);
        }
        if let Some(x) = p.transaction_check_max {
            h.transaction_check_max = x;
        }
        if let Some(x) = p.enable_topic_message_type_check {
            h.enable_topic_message_type_check = x;
        }

        self.check_ports(&conf)?;
        self.check_timing(&conf)?;
        Ok(conf)
    }

    fn check_member(
        &self,
        key: Key,
        id: NodeId,
        peers: &BTreeMap<NodeId, String>,
    ) -> Result<(), ConfError> {
        match self.settings.get(&key) {
            Some(s) if !peers.contains_key(&id) => Err(ConfError::NotAPeer {
                path: self.path.to_owned(),
                line: s.line,
                key: s.name.clone(),
                value: s.value.clone(),
                peers: peers.keys().map(|id| format!("n{id}")).collect(),
            }),
            _ => Ok(()),
        }
    }

    /// The client port must not be this member's Raft port.
    fn check_ports(&self, conf: &BrokerConf) -> Result<(), ConfError> {
        let raft_port = conf
            .dledger
            .self_addr()
            .and_then(|a| a.rsplit_once(':'))
            .and_then(|(_, p)| p.parse::<u16>().ok());
        if raft_port != Some(conf.listen_port) {
            return Ok(());
        }
        let Some(s) = self.culprit(&[Key::ListenPort, Key::DLegerPeers]) else {
            return Ok(());
        };
        Err(self.bad(
            s,
            format!(
                "port {} is both listenPort and the Raft port of dLegerSelfId n{} in \
                 dLegerPeers; the client service and Raft need ports of their own",
                conf.listen_port, conf.dledger.self_id
            ),
        ))
    }

    /// openraft needs heartbeat < election min < election max.
    fn check_timing(&self, conf: &BrokerConf) -> Result<(), ConfError> {
        let (hb, min, max) = (
            conf.raft_heartbeat_interval_ms,
            conf.raft_election_timeout_min_ms,
            conf.raft_election_timeout_max_ms,
        );
        if min <= hb {
            if let Some(s) =
                self.culprit(&[Key::RaftElectionTimeoutMinMs, Key::RaftHeartbeatIntervalMs])
            {
                let reason = if s.name == Key::RaftElectionTimeoutMinMs.name() {
                    format!("`{min}` must be greater than raftHeartbeatIntervalMs ({hb})")
                } else {
                    format!("`{hb}` must be less than raftElectionTimeoutMinMs ({min})")
                };
                return Err(self.bad(s, reason));
            }
        }
        if max <= min {
            if let Some(s) =
                self.culprit(&[Key::RaftElectionTimeoutMaxMs, Key::RaftElectionTimeoutMinMs])
            {
                let reason = if s.name == Key::RaftElectionTimeoutMaxMs.name() {
                    format!("`{max}` must be greater than raftElectionTimeoutMinMs ({min})")
                } else {
                    format!("`{min}` must be less than raftElectionTimeoutMaxMs ({max})")
                };
                return Err(self.bad(s, reason));
            }
        }
        Ok(())
    }
}
