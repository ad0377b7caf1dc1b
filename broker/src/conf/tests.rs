//! Conf files as operators write them: the stock upstream DLedger files, the
//! usual slips, and the precedence of the nameserver address.

use std::path::{Path, PathBuf};
use std::time::Duration;

use raftmq_store::FlushMode;

use super::*;

/// The stock upstream `conf/dledger/broker-n0.conf`, license header included.
const STOCK_N0: &str = "\
# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.  See the NOTICE file distributed with
# this work for additional information regarding copyright ownership.
# The ASF licenses this file to You under the Apache License, Version 2.0
# (the \"License\"); you may not use this file except in compliance with
# the License.  You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
#  Unless required by applicable law or agreed to in writing, software
#  distributed under the License is distributed on an \"AS IS\" BASIS,
#  WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
#  See the License for the specific language governing permissions and
#  limitations under the License.

brokerClusterName = RaftCluster
brokerName=RaftNode00
listenPort=30911
namesrvAddr=127.0.0.1:9876
storePathRootDir=/tmp/rmqstore/node00
storePathCommitLog=/tmp/rmqstore/node00/commitlog
enableDLegerCommitLog=true
dLegerGroup=RaftNode00
dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913
## must be unique
dLegerSelfId=n0
sendMessageThreadPoolNums=16
";

/// A minimal valid DLedger conf; tests append the line under test.
const BASE: &str = "\
brokerName=RaftNode00
dLegerGroup=RaftNode00
dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913
dLegerSelfId=n0
";

const N0: &str = "conf/dledger/broker-n0.conf";

fn env() -> Env {
    Env {
        home: Some(PathBuf::from("/home/mq")),
        namesrv_addr: None,
    }
}

fn ok(text: &str) -> (BrokerConf, Vec<String>) {
    match parse_with_env(Path::new(N0), text, &env()) {
        Ok(out) => out,
        Err(e) => panic!("conf refused: {e}"),
    }
}

fn err(text: &str) -> ConfError {
    match parse_with_env(Path::new(N0), text, &env()) {
        Ok((conf, _)) => panic!("conf accepted: {conf:?}"),
        Err(e) => e,
    }
}

/// BASE with `extra` lines after it (BASE is 4 lines: `extra` starts on 5).
fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

#[test]
fn stock_upstream_broker_n0_conf_parses_without_warnings() {
    let (c, warnings) = ok(STOCK_N0);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.broker_cluster_name, "RaftCluster");
    assert_eq!(c.broker_name, "RaftNode00");
    assert_eq!(c.listen_port, 30911);
    assert_eq!(c.namesrv_addr, vec!["127.0.0.1:9876"]);
    assert_eq!(c.store_path_root_dir, PathBuf::from("/tmp/rmqstore/node00"));
    assert_eq!(
        c.store_path_commit_log,
        PathBuf::from("/tmp/rmqstore/node00/commitlog")
    );
    assert_eq!(c.dledger.group, "RaftNode00");
    assert_eq!(c.dledger.self_id, 0);
    assert_eq!(c.dledger.self_addr(), Some("127.0.0.1:40911"));
    assert_eq!(c.dledger.peers.len(), 3);
    assert_eq!(c.dledger.peers[&2], "127.0.0.1:40913");
    assert_eq!(c.dledger.preferred_leader, None);
    assert_eq!(c.send_message_thread_pool_nums, Some(16));
    assert_eq!(c.server_worker_threads, None);
    // Everything else keeps RocketMQ's defaults.
    assert_eq!(c.flush_disk_type, FlushMode::Async);
    assert_eq!(c.mapped_file_size_commit_log, 1 << 30);
    assert_eq!(c.file_reserved_time, Duration::from_secs(72 * 3600));
    assert_eq!(c.delete_when, vec![4]);
    assert_eq!(c.disk_max_used_space_ratio, 75);
    assert_eq!(c.disk_space_warning_level_ratio, 90);
    assert_eq!(c.max_message_size, 4 << 20);
    assert!(c.auto_create_topic_enable);
    assert!(c.auto_create_subscription_group);
    assert_eq!(c.default_topic_queue_nums, 8);
    assert_eq!(c.broker_permission, 6);
    assert_eq!(c.broker_ip1, None);
    assert_eq!(c.flush_interval_commit_log, Duration::from_millis(500));
    assert_eq!(c.flush_commit_log_least_pages, 4);
    assert_eq!(
        c.flush_commit_log_thorough_interval,
        Duration::from_secs(10)
    );
}

#[test]
fn stock_n1_and_n2_parse_too() {
    for (n, port) in [(1u64, 30921u16), (2, 30931)] {
        let text = STOCK_N0
            .replace("node00", &format!("node0{n}"))
            .replace("listenPort=30911", &format!("listenPort={port}"))
            .replace("dLegerSelfId=n0", &format!("dLegerSelfId=n{n}"));
        let (c, warnings) = ok(&text);
        assert!(warnings.is_empty());
        assert_eq!((c.dledger.self_id, c.listen_port), (n, port));
    }
}

#[test]
fn maps_onto_store_config_and_raft_timing() {
    let (c, _) = ok(&with(
        "storePathRootDir=/data/rmq\nstorePathCommitLog=/fast/commitlog\n\
         flushDiskType=SYNC_FLUSH\nmappedFileSizeCommitLog=65536\nfileReservedTime=48\n\
         deleteWhen=04;16\ndiskMaxUsedSpaceRatio=80\ndiskSpaceWarningLevelRatio=95\n\
         flushIntervalCommitLog=200\nflushCommitLogLeastPages=0\nflushCommitLogThoroughInterval=5000\n\
         raftHeartbeatIntervalMs=100\nraftElectionTimeoutMinMs=400\nraftElectionTimeoutMaxMs=800\n",
    ));
    let s = c.store_config();
    assert_eq!(s.root, PathBuf::from("/data/rmq"));
    assert_eq!(s.commitlog_dir(), PathBuf::from("/fast/commitlog"));
    assert_eq!(s.segment_size, 65536);
    assert_eq!(s.flush_mode, FlushMode::Sync);
    assert_eq!(s.flush_pacing.interval, Duration::from_millis(200));
    assert_eq!(s.flush_pacing.min_dirty_pages, 0);
    assert_eq!(s.flush_pacing.full_interval, Duration::from_secs(5));
    assert_eq!(
        s.retention.file_reserved_time,
        Duration::from_secs(48 * 3600)
    );
    assert_eq!(s.retention.delete_hours, vec![4, 16]);
    assert_eq!(s.retention.disk_max_used_ratio, 80);
    assert_eq!(s.retention.disk_refuse_ratio, 95);
    assert_eq!(s.queue_entries_per_file, 300_000);
    assert!(s.validate().is_ok());
    let t = c.raft_timing();
    assert_eq!(
        (t.heartbeat_ms, t.election_min_ms, t.election_max_ms),
        (100, 400, 800)
    );

    let (d, _) = ok(BASE);
    let t = d.raft_timing();
    assert_eq!(
        (t.heartbeat_ms, t.election_min_ms, t.election_max_ms),
        (50, 150, 300)
    );
    assert!(d.store_config().validate().is_ok());
}

#[test]
fn defaults_store_under_home_and_commitlog_under_root() {
    let (c, _) = ok(BASE);
    assert_eq!(c.store_path_root_dir, PathBuf::from("/home/mq/store"));
    assert_eq!(
        c.store_path_commit_log,
        PathBuf::from("/home/mq/store/commitlog")
    );
    assert_eq!(c.broker_cluster_name, "DefaultCluster");
    assert_eq!(c.listen_port, 10911);
    assert!(c.namesrv_addr.is_empty());

    let (c, _) = ok(&with("storePathRootDir=/x\n"));
    assert_eq!(c.store_path_commit_log, PathBuf::from("/x/commitlog"));

    let no_home = Env::default();
    let e = parse_with_env(Path::new(N0), BASE, &no_home).unwrap_err();
    assert!(matches!(&e, ConfError::Missing { keys, .. } if keys == &["storePathRootDir"]));
    assert!(e.to_string().contains("$HOME"), "{e}");
}

#[test]
fn value_then_comment_on_the_same_line() {
    let (c, warnings) = ok(&with(
        "listenPort=30911 # client port\nnamesrvAddr = 127.0.0.1:9876;127.0.0.1:9877   # two\n\
         brokerClusterName=A#B\n",
    ));
    assert!(warnings.is_empty());
    assert_eq!(c.listen_port, 30911);
    assert_eq!(c.namesrv_addr, vec!["127.0.0.1:9876", "127.0.0.1:9877"]);
    assert_eq!(c.broker_cluster_name, "A#B");
}

#[test]
fn colon_separator_and_bang_comments() {
    let (c, _) = ok(&with("! a bang comment\nlistenPort: 30921\n"));
    assert_eq!(c.listen_port, 30921);
}

#[test]
fn unknown_key_names_file_line_key_and_nearest_key() {
    let text = "brokerClusterName=RaftCluster\nbrokerName=RaftNode00\n\n# c\n\n\nlistenPrt=30911\n";
    let e = err(text);
    assert_eq!(
        e.to_string(),
        "conf/dledger/broker-n0.conf:7: unknown key `listenPrt`; did you mean `listenPort`?"
    );
    assert!(matches!(
        e,
        ConfError::UnknownKey {
            line: 7,
            suggestion: Some("listenPort"),
            ..
        }
    ));

    let e = err(&with("dLedgerSelfId=n0\n"));
    assert!(
        e.to_string().ends_with("did you mean `dLegerSelfId`?"),
        "{e}"
    );

    let e = err(&with("somethingElseEntirely=1\n"));
    assert_eq!(
        e.to_string(),
        "conf/dledger/broker-n0.conf:5: unknown key `somethingElseEntirely`"
    );
}

#[test]
fn server_worker_threads_sets_the_runtime_size() {
    let (c, warnings) = ok(&with("serverWorkerThreads=3\n"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.server_worker_threads, Some(3));
}

#[test]
fn server_idle_spin_micros_defaults_to_50_and_zero_turns_it_off() {
    let (c, _) = ok(&with(""));
    assert_eq!(c.server_idle_spin_micros, 50);
    let (c, warnings) = ok(&with("serverIdleSpinMicros=0\n"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(c.server_idle_spin_micros, 0);
    let (c, _) = ok(&with("serverIdleSpinMicros=200\n"));
    assert_eq!(c.server_idle_spin_micros, 200);
}

#[test]
fn bad_numbers() {
    let e = err("brokerName=a\nbrokerClusterName=b\nlistenPort=abc\n");
    assert_eq!(
        e.to_string(),
        "conf/dledger/broker-n0.conf:3: listenPort: `abc` is not a port number (1-65535)"
    );
    assert!(matches!(&e, ConfError::BadValue { line: 3, key, value, .. }
        if key == "listenPort" && value == "abc"));

    for line in [
        "listenPort=70000",
        "defaultTopicQueueNums=0",
        "maxMessageSize=-1",
        "mappedFileSizeCommitLog=1024",
        "fileReservedTime=3d",
        "diskMaxUsedSpaceRatio=101",
        "diskSpaceWarningLevelRatio=0",
        "brokerPermission=5",
        "sendMessageThreadPoolNums=0",
        "serverWorkerThreads=0",
        "serverWorkerThreads=1025",
        "serverIdleSpinMicros=10001",
        "serverIdleSpinMicros=-1",
        "flushIntervalCommitLog=0",
        "brokerId=x",
    ] {
        let e = err(&with(&format!("{line}\n")));
        let key = line.split('=').next().unwrap_or_default();
        assert!(
            e.to_string().starts_with(&format!("{N0}:5: {key}: ")),
            "{line}: {e}"
        );
    }
}

#[test]
fn bad_bools_and_enums() {
    let e = err(&with("autoCreateTopicEnable=yes\n"));
    assert_eq!(
        e.to_string(),
        "conf/dledger/broker-n0.conf:5: autoCreateTopicEnable: `yes` is not true or false"
    );
    let (c, _) = ok(&with("autoCreateTopicEnable=FALSE\n"));
    assert!(!c.auto_create_topic_enable);
    let (c, _) = ok(&with("autoCreateSubscriptionGroup=false\n"));
    assert!(!c.auto_create_subscription_group);
    let e = err(&with("autoCreateSubscriptionGroup=1\n"));
    assert!(
        e.to_string()
            .ends_with("autoCreateSubscriptionGroup: `1` is not true or false"),
        "{e}"
    );

    let e = err(&with("flushDiskType=SYNC\n"));
    assert!(
        e.to_string()
            .contains("`SYNC` is not ASYNC_FLUSH or SYNC_FLUSH"),
        "{e}"
    );
}

#[test]
fn missing_self_id() {
    let e = err("brokerName=RaftNode00\ndLegerGroup=RaftNode00\ndLegerPeers=n0-127.0.0.1:40911\n");
    assert!(matches!(&e, ConfError::Missing { keys, .. } if keys == &["dLegerSelfId"]));
    assert!(
        e.to_string()
            .starts_with("conf/dledger/broker-n0.conf: missing dLegerSelfId ("),
        "{e}"
    );
}

#[test]
fn self_id_not_among_the_peers() {
    let text = BASE.replace("dLegerSelfId=n0", "dLegerSelfId=n5");
    let e = err(&text);
    assert_eq!(
        e.to_string(),
        "conf/dledger/broker-n0.conf:4: dLegerSelfId `n5` is not one of the peers n0, n1, n2"
    );
    let e = err(&BASE.replace("dLegerSelfId=n0", "dLegerSelfId=node0"));
    assert!(
        e.to_string()
            .contains(":4: dLegerSelfId: member name `node0`"),
        "{e}"
    );
}

#[test]
fn bad_peers() {
    for (peers, says) in [
        ("n0-127.0.0.1", "host:port"),
        ("n0:127.0.0.1:40911", "must look like n0-127.0.0.1:40911"),
        ("x0-127.0.0.1:40911", "`x0`"),
        ("n0-a:1;n0-b:2", "twice"),
        ("", "no member"),
    ] {
        let text = BASE.replace(
            "n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913",
            peers,
        );
        let e = err(&text);
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("{N0}:3: dLegerPeers: ")), "{msg}");
        assert!(msg.contains(says), "{peers}: {msg}");
    }
}

#[test]
fn ignored_keys_warn_with_file_line_and_key() {
    let (c, warnings) = ok(&with(
        "brokerRole=ASYNC_MASTER\ntransientStorePoolEnable=true\nbrokerId=0\nlistenPort=30911\n",
    ));
    assert_eq!(c.listen_port, 30911);
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].starts_with(
            "conf/dledger/broker-n0.conf:5: ignoring `brokerRole`: raftmq replicates by Raft"
        ),
        "{}",
        warnings[0]
    );
    assert!(warnings[1].starts_with(&format!("{N0}:6: ignoring `transientStorePoolEnable`: ")));
    assert!(warnings[2].starts_with(&format!("{N0}:7: ignoring `brokerId`: ")));
    assert!(IGNORED_KEYS
        .iter()
        .any(|(k, _)| *k == "enableControllerMode"));
}

#[test]
fn property_filters_are_on_unless_turned_off() {
    let (c, warnings) = ok(&with(""));
    assert!(c.enable_property_filter && warnings.is_empty());
    let (c, warnings) = ok(&with("enablePropertyFilter=false\n"));
    assert!(
        !c.enable_property_filter && warnings.is_empty(),
        "{warnings:?}"
    );
    let e = err(&with("enablePropertyFilter=maybe\n"));
    assert!(
        e.to_string().contains("enablePropertyFilter: `maybe`"),
        "{e}"
    );
}

#[test]
fn delete_when_takes_several_hours() {
    let (c, _) = ok(&with("deleteWhen=04;16\n"));
    assert_eq!(c.delete_when, vec![4, 16]);
    let (c, _) = ok(&with("deleteWhen = 00 ; 23\n"));
    assert_eq!(c.delete_when, vec![0, 23]);
    let e = err(&with("deleteWhen=04;24\n"));
    assert_eq!(
        e.to_string(),
        "conf/dledger/broker-n0.conf:5: deleteWhen: `24` in `04;24` is not an hour of the day (0-23; several as 04;16)"
    );
}

#[test]
fn empty_file_names_every_required_key() {
    let e = err("");
    assert!(matches!(&e, ConfError::Missing { keys, .. }
        if keys == &["brokerName", "dLegerGroup", "dLegerPeers", "dLegerSelfId"]));
    let msg = e.to_string();
    assert!(
        msg.starts_with(
            "conf/dledger/broker-n0.conf: missing brokerName, dLegerGroup, dLegerPeers, dLegerSelfId"
        ),
        "{msg}"
    );
    assert!(msg.contains("DLedger group"), "{msg}");
    // Comments only is as empty.
    assert!(matches!(
        err("# nothing\n\n! here\n"),
        ConfError::Missing { .. }
    ));
}

#[test]
fn master_slave_conf_is_refused_clearly() {
    let e = err(&with("enableDLegerCommitLog=false\n"));
    assert!(
        e.to_string().contains("raftmq has no master/slave mode"),
        "{e}"
    );
    // Upstream's plain conf/broker.conf has no DLedger keys at all.
    let e = err(
        "brokerClusterName = DefaultCluster\nbrokerName = broker-a\nbrokerId = 0\n\
                 deleteWhen = 04\nfileReservedTime = 48\nbrokerRole = ASYNC_MASTER\n\
                 flushDiskType = ASYNC_FLUSH\n",
    );
    assert!(matches!(&e, ConfError::Missing { keys, .. }
        if keys == &["dLegerGroup", "dLegerPeers", "dLegerSelfId"]));
}

#[test]
fn acl_requested_is_refused() {
    let e = err(&with("aclEnable=true\n"));
    assert!(
        e.to_string().starts_with(&format!("{N0}:5: aclEnable: ")),
        "{e}"
    );
    let (_, warnings) = ok(&with("aclEnable=false\n"));
    assert!(warnings.is_empty());
}

#[test]
fn repeated_key_later_wins_with_a_warning() {
    let (c, warnings) = ok(&with("listenPort=30911\nlistenPort=30921\n"));
    assert_eq!(c.listen_port, 30921);
    assert_eq!(
        warnings,
        vec![format!(
            "{N0}:6: `listenPort` is set again (first on line 5); the value on line 6 is used"
        )]
    );
    // An alias counts as the same key.
    let (c, warnings) = ok(&with("preferredLeaderId=n1\npreferredLeaderIds=n2\n"));
    assert_eq!(c.dledger.preferred_leader, Some(2));
    assert!(warnings[0].contains("(first on line 5 (as `preferredLeaderId`))"));
}

#[test]
fn preferred_leader_must_be_one_peer() {
    let (c, _) = ok(&with("preferredLeaderId=n1\n"));
    assert_eq!(c.dledger.preferred_leader, Some(1));
    let e = err(&with("preferredLeaderIds=n7\n"));
    assert_eq!(
        e.to_string(),
        format!("{N0}:5: preferredLeaderIds `n7` is not one of the peers n0, n1, n2")
    );
    assert!(err(&with("preferredLeaderId=n1;n2\n"))
        .to_string()
        .contains("one preferred leader"));
}

#[test]
fn syntax_errors_name_the_line() {
    let e = err(&with("listenPort 30911\n"));
    assert_eq!(
        e.to_string(),
        format!("{N0}:5: expected `key=value`, found `listenPort 30911`")
    );
    let e = err(&with("namesrvAddr=127.0.0.1:9876;\\\n  127.0.0.1:9877\n"));
    assert!(matches!(
        e,
        ConfError::Syntax {
            line: 5,
            problem: SyntaxProblem::Continuation,
            ..
        }
    ));
}

#[test]
fn namesrv_precedence_env_then_conf_then_flag() {
    let env = Env {
        home: Some("/h".into()),
        namesrv_addr: Some("10.0.0.1:9876".into()),
    };
    let path = Path::new(N0);
    // NAMESRV_ADDR when the conf has no namesrvAddr.
    let (c, _) = parse_with_env(path, BASE, &env).unwrap();
    assert_eq!(c.namesrv_addr, vec!["10.0.0.1:9876"]);
    // The conf beats NAMESRV_ADDR.
    let (c, _) = parse_with_env(path, &with("namesrvAddr=127.0.0.1:9876\n"), &env).unwrap();
    assert_eq!(c.namesrv_addr, vec!["127.0.0.1:9876"]);
    // -n beats both; no -n keeps what was there.
    let c = c.with_namesrv_override(None).unwrap();
    assert_eq!(c.namesrv_addr, vec!["127.0.0.1:9876"]);
    let c = c.with_namesrv_override(Some("a:1;b:2")).unwrap();
    assert_eq!(c.namesrv_addr, vec!["a:1", "b:2"]);
    let e = c.clone().with_namesrv_override(Some("nope")).unwrap_err();
    assert_eq!(e.to_string(), "-n: `nope` is not host:port (port 1-65535)");
    assert!(c.with_namesrv_override(Some(" ; ")).is_err());
    // A bad NAMESRV_ADDR is named as such, and only matters when used.
    let bad = Env {
        namesrv_addr: Some("x".into()),
        ..env
    };
    let e = parse_with_env(path, BASE, &bad).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("environment variable NAMESRV_ADDR: "),
        "{e}"
    );
    assert!(parse_with_env(path, &with("namesrvAddr=127.0.0.1:9876\n"), &bad).is_ok());
}

#[test]
fn the_replication_transport_is_framed_unless_told_grpc() {
    use raftmq_raft::ReplicationTransport;
    let (c, _) = ok(&with(""));
    assert_eq!(c.raft_replication_transport, ReplicationTransport::Framed);
    let (c, _) = ok(&with("raftReplicationTransport=gRPC\n"));
    assert_eq!(c.raft_replication_transport, ReplicationTransport::Grpc);
    let (c, _) = ok(&with("raftReplicationTransport=framed\n"));
    assert_eq!(c.raft_replication_transport, ReplicationTransport::Framed);
    let e = err(&with("raftReplicationTransport=tcp\n"));
    assert!(
        e.to_string().starts_with(&format!(
            "{N0}:5: raftReplicationTransport: `tcp` is not framed"
        )),
        "{e}"
    );
}

#[test]
fn raft_timing_must_be_ordered() {
    let e = err(&with("raftElectionTimeoutMinMs=40\n"));
    assert_eq!(
        e.to_string(),
        format!("{N0}:5: raftElectionTimeoutMinMs: `40` must be greater than raftHeartbeatIntervalMs (50)")
    );
    let e = err(&with("raftHeartbeatIntervalMs=200\n"));
    assert!(e.to_string().starts_with(&format!(
        "{N0}:5: raftHeartbeatIntervalMs: `200` must be less"
    )));
    let e = err(&with("raftElectionTimeoutMinMs=300\n"));
    assert!(
        e.to_string()
            .contains("`300` must be less than raftElectionTimeoutMaxMs (300)"),
        "{e}"
    );
    let e = err(&with("raftElectionTimeoutMaxMs=100\n"));
    assert!(e
        .to_string()
        .starts_with(&format!("{N0}:5: raftElectionTimeoutMaxMs: ")));
}

#[test]
fn client_port_must_differ_from_raft_port() {
    let e = err(&with("listenPort=40911\n"));
    assert!(
        e.to_string()
            .starts_with(&format!("{N0}:5: listenPort: port 40911 is both")),
        "{e}"
    );
    // Another member's Raft port is fine (another process).
    assert!(parse_with_env(Path::new(N0), &with("listenPort=40912\n"), &env()).is_ok());
}

#[test]
fn broker_ip1_and_names() {
    let (c, _) = ok(&with("brokerIP1=192.168.0.7\n"));
    assert_eq!(c.broker_ip1.as_deref(), Some("192.168.0.7"));
    let e = err(&with("brokerIP1=192.168.0.7:1\n"));
    assert!(
        e.to_string()
            .contains("brokerIP1: `192.168.0.7:1` is not an IP address"),
        "{e}"
    );
    let e = err("brokerName=\n");
    assert_eq!(
        e.to_string(),
        format!("{N0}:1: brokerName: the value is empty")
    );
}

#[test]
fn load_reads_the_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker-n0.conf");
    std::fs::write(&path, STOCK_N0).unwrap();
    let (c, warnings) = load_with_env(&path, &env()).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(c.broker_name, "RaftNode00");

    std::fs::write(&path, "brokerName=a\nlistenPrt=1\n").unwrap();
    let e = load_with_env(&path, &env()).unwrap_err();
    assert!(e
        .to_string()
        .starts_with(&format!("{}:2: unknown key", path.display())));

    let missing = dir.path().join("nope.conf");
    let e = load(&missing).unwrap_err();
    assert!(matches!(e, ConfError::Read { .. }));
    assert!(e
        .to_string()
        .starts_with(&format!("{}: cannot read", missing.display())));

    std::fs::write(&path, b"brokerName=\xff\n").unwrap();
    assert!(matches!(
        load_with_env(&path, &env()),
        Err(ConfError::NotUtf8 { .. })
    ));
}

#[test]
fn timer_and_transaction_keys_take_upstream_names_and_defaults() {
    let (c, warnings) = ok(&with(""));
    assert!(warnings.is_empty(), "{warnings:?}");
    let h = &c.held;
    assert!(h.timer_wheel_enable && !h.enable_topic_message_type_check);
    assert_eq!(h.timer_max_delay, Duration::from_secs(3 * 86_400));
    assert_eq!(h.message_delay_level.len(), 18);
    assert_eq!(h.message_delay_level[0], Duration::from_secs(1));
    assert_eq!(h.message_delay_level[17], Duration::from_secs(7200));
    assert_eq!(h.transaction_timeout, Duration::from_secs(6));
    assert_eq!(h.transaction_check_interval, Duration::from_secs(30));
    assert_eq!(h.transaction_check_max, 15);

    let (c, warnings) = ok(&with(
        "timerWheelEnable=false\ntimerPrecisionMs=100\ntimerMaxDelaySec=60\n\
         messageDelayLevel=1s 2m 3h 1d\ntransactionTimeOut=1000\n\
         transactionCheckInterval=500\ntransactionCheckMax=3\n\
         enableTopicMessageTypeCheck=true\n",
    ));
    assert!(warnings.is_empty(), "{warnings:?}");
    let h = &c.held;
    assert!(!h.timer_wheel_enable && h.enable_topic_message_type_check);
    assert_eq!(h.timer_precision, Duration::from_millis(100));
    assert_eq!(h.timer_max_delay, Duration::from_secs(60));
    assert_eq!(
        h.message_delay_level,
        [1, 120, 10_800, 86_400].map(Duration::from_secs).to_vec()
    );
    assert_eq!(
        (
            h.transaction_timeout,
            h.transaction_check_interval,
            h.transaction_check_max
        ),
        (Duration::from_millis(1000), Duration::from_millis(500), 3)
    );

    for (line, says) in [
        ("messageDelayLevel=1s 5x", "level 2 `5x`"),
        ("messageDelayLevel=", "no delay level"),
        ("timerPrecisionMs=0", "from 1 to 60000"),
        ("transactionCheckMax=0", "1 or more"),
        ("enableTopicMessageTypeCheck=yes", "not true or false"),
    ] {
        let e = err(&with(&format!("{line}\n")));
        let key = line.split('=').next().unwrap_or_default();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("{N0}:5: {key}: ")),
            "{line}: {text}"
        );
        assert!(text.contains(says), "{line}: {text}");
    }
}
