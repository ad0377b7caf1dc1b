//! The `mqadmin` binary against fake in-process nameservers and brokers.

mod fake;

use std::collections::HashMap;
use std::sync::Arc;

use fake::{dead_addr, row, FakeBroker, FakeNamesrv, BOUND};
use raftmq_proto::admin::v1::ConsumerClient;
use raftmq_proto::namesrv::v1::{GroupRoute, RouteMember, TopicRouteResponse};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The single stderr line of a failed run.
    fn error_line(&self) -> &str {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "one stderr line expected: {:?}",
            self.stderr
        );
        lines[0]
    }
}

async fn mqadmin(args: &[&str]) -> Run {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .env("RUST_BACKTRACE", "1")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(BOUND, child)
        .await
        .expect("mqadmin ends in time")
        .expect("mqadmin runs");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8"),
        stderr: String::from_utf8(out.stderr).expect("utf-8"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_list_prints_leaders_first() {
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![
            row("C", "broker-b", 0, "127.0.0.1:31911"),
            row("C", "broker-a", 3, "127.0.0.1:30931"),
            row("C", "broker-a", 0, "127.0.0.1:30911"),
            row("D", "broker-x", 0, "127.0.0.1:32911"),
        ],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let all = mqadmin(&["clusterList", "-n", &ns.addr]).await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert!(lines[0].starts_with("#Cluster Name           #Broker Name"));
    let firsts: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().take(5).collect())
        .collect();
    assert_eq!(
        firsts,
        [
            ["C", "broker-a", "0", "127.0.0.1:30911", "V5_3_1"],
            ["C", "broker-a", "3", "127.0.0.1:30931", "V5_3_1"],
            ["C", "broker-b", "0", "127.0.0.1:31911", "V5_3_1"],
            ["D", "broker-x", "0", "127.0.0.1:32911", "V5_3_1"],
        ]
    );

    let only_d = mqadmin(&["clusterList", "-n", &ns.addr, "-c", "D"]).await;
    assert_eq!(only_d.code, 0, "{}", only_d.stderr);
    assert_eq!(only_d.stdout.lines().count(), 2);

    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_list_of_an_empty_nameserver_is_the_header() {
    let namesrv = Arc::new(FakeNamesrv::default());
    let ns = namesrv.serve().await;

    let run = mqadmin(&["clusterList", "-n", &ns.addr]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stdout.starts_with("#Cluster Name"));

    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_list_is_sorted() {
    let namesrv = Arc::new(FakeNamesrv {
        topics: vec!["b".into(), "TopicTest".into(), "a".into()],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let run = mqadmin(&["topicList", "-n", &ns.addr, "-c", "C"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "TopicTest\na\nb\n");
    assert_eq!(namesrv.calls(), ["TopicList C"]);

    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_route_found_and_not_found() {
    let route = TopicRouteResponse {
        topic: "T".into(),
        groups: vec![GroupRoute {
            cluster: "C".into(),
            group: "broker-a".into(),
            read_queues: 8,
            write_queues: 8,
            perm: 6,
            leader: Some(1),
            members: vec![RouteMember {
                bid: 0,
                member_id: 1,
                client_addr: "127.0.0.1:30911".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let namesrv = Arc::new(FakeNamesrv {
        routes: HashMap::from([("T".to_owned(), route)]),
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let found = mqadmin(&["topicRoute", "-t", "T", "-n", &ns.addr]).await;
    assert_eq!(found.code, 0, "{}", found.stderr);
    let json: serde_json::Value = serde_json::from_str(&found.stdout).expect("json");
    assert_eq!(
        json["brokerDatas"][0]["brokerAddrs"]["0"],
        "127.0.0.1:30911"
    );
    assert_eq!(json["brokerDatas"][0]["cluster"], "C");
    assert_eq!(json["queueDatas"][0]["writeQueueNums"], 8);
    assert_eq!(json["queueDatas"][0]["topicSysFlag"], 0);

    let missing = mqadmin(&["topicRoute", "-t", "X", "-n", &ns.addr]).await;
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stdout, "");
    assert_eq!(
        missing.error_line(),
        format!(
            "topic 'X' has no route on nameserver {}: no broker group serves it",
            ns.addr
        )
    );

    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_topic_on_a_cluster_reaches_each_leader() {
    let (a0, a2, b0) = (
        FakeBroker::new("broker-a", &[]),
        FakeBroker::new("broker-a", &[]),
        FakeBroker::new("broker-b", &[]),
    );
    let (sa0, sa2, sb0) = (a0.serve().await, a2.serve().await, b0.serve().await);
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![
            row("C", "broker-a", 2, &sa2.addr),
            row("C", "broker-a", 0, &sa0.addr),
            row("C", "broker-b", 0, &sb0.addr),
            row("D", "broker-x", 0, &dead_addr()),
        ],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let run = mqadmin(&[
        "updateTopic",
        "-t",
        "T",
        "-c",
        "C",
        "-r",
        "4",
        "-n",
        &ns.addr,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "create topic to {} success.\ncreate topic to {} success.\n\
             TopicConfig [topicName=T, readQueueNums=4, writeQueueNums=8, perm=RW-]\n",
            sa0.addr, sb0.addr
        )
    );
    assert_eq!(a0.calls(), ["UpdateTopic T r=4 w=8 p=6"]);
    assert_eq!(b0.calls(), ["UpdateTopic T r=4 w=8 p=6"]);
    assert!(a2.calls().is_empty());

    for s in [ns, sa0, sa2, sb0] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_topic_falls_back_when_the_leader_refuses_connections() {
    let follower = FakeBroker::new("broker-a", &[]);
    let served = follower.serve().await;
    let dead = dead_addr();
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![
            row("C", "broker-a", 0, &dead),
            row("C", "broker-a", 2, &served.addr),
        ],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let run = mqadmin(&[
        "updateTopic",
        "-t",
        "T",
        "-c",
        "C",
        "-p",
        "4",
        "-n",
        &ns.addr,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with(&format!("create topic to {} success.\n", served.addr)),
        "{}",
        run.stdout
    );
    assert!(run.stdout.ends_with("perm=R--]\n"), "{}", run.stdout);
    assert_eq!(follower.calls(), ["UpdateTopic T r=8 w=8 p=4"]);

    ns.stop().await;
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_topic_on_one_broker_and_on_a_broker_that_is_down() {
    let broker = FakeBroker::new("broker-a", &[]);
    let served = broker.serve().await;

    let run = mqadmin(&["updateTopic", "-t", "T", "-b", &served.addr]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run
        .stdout
        .starts_with(&format!("create topic to {} success.\n", served.addr)));
    assert_eq!(broker.calls(), ["UpdateTopic T r=8 w=8 p=6"]);

    let dead = dead_addr();
    let down = mqadmin(&["updateTopic", "-t", "T", "-b", &dead]).await;
    assert_eq!(down.code, 1);
    let line = down.error_line();
    assert!(
        line.starts_with(&format!("no broker answered (tried {dead})")),
        "{line}"
    );
    assert!(!down.stderr.contains("panicked"));

    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_topic_on_an_unknown_cluster_fails() {
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![row("C", "broker-a", 0, "127.0.0.1:30911")],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let run = mqadmin(&["updateTopic", "-t", "T", "-c", "Nope", "-n", &ns.addr]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.error_line().starts_with(&format!(
            "cluster 'Nope' has no broker on nameserver {}",
            ns.addr
        )),
        "{}",
        run.stderr
    );

    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_topic_reports_a_group_without_it_and_deletes_the_others() {
    let (a0, b0) = (
        FakeBroker::new("broker-a", &["T"]),
        FakeBroker::new("broker-b", &[]),
    );
    let (sa0, sb0) = (a0.serve().await, b0.serve().await);
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![
            row("C", "broker-a", 0, &sa0.addr),
            row("C", "broker-b", 0, &sb0.addr),
        ],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let run = mqadmin(&["deleteTopic", "-t", "T", "-c", "C", "-n", &ns.addr]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "topic [T] does not exist on broker group [broker-b] ({}), nothing to delete.\n\
             delete topic [T] from cluster [C] success.\n",
            sb0.addr
        )
    );
    assert_eq!(a0.calls(), ["DeleteTopic T"]);
    assert_eq!(b0.calls(), ["DeleteTopic T"]);

    let again = mqadmin(&["deleteTopic", "-t", "T", "-c", "C", "-n", &ns.addr]).await;
    assert_eq!(again.code, 1);
    assert_eq!(
        again.error_line(),
        "topic 'T' exists on no broker group of cluster 'C': nothing deleted"
    );

    for s in [ns, sa0, sb0] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_option_values_exit_2_and_send_nothing() {
    let broker = FakeBroker::new("broker-a", &[]);
    let served = broker.serve().await;
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![row("C", "broker-a", 0, &served.addr)],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let long_name = "x".repeat(128);
    let cases: [(&[&str], &str); 10] = [
        (&["-t", "T", "-r", "0"], "invalid -r '0'"),
        (&["-t", "T", "-w", "1025"], "invalid -w '1025'"),
        (&["-t", "T", "-p", "8"], "invalid -p '8'"),
        (&["-t", "bad topic"], "invalid -t 'bad topic'"),
        (&["-t", "a.b"], "invalid -t 'a.b'"),
        (&["-t", "%RETRY%g"], "reserved"),
        (&["-t", &long_name], "invalid -t"),
        (&["-t", ""], "invalid -t ''"),
        (&["-t", "T", "-r", "many"], "invalid value 'many'"),
        (
            &["-t", "T", "-c", "C", "-b", &served.addr],
            "cannot be used with",
        ),
    ];
    for (extra, expected) in cases {
        let mut args = vec!["updateTopic", "-n", &ns.addr];
        if !extra.contains(&"-b") {
            args.extend(["-c", "C"]);
        }
        args.extend(extra);
        let run = mqadmin(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    let bad_broker = mqadmin(&["updateTopic", "-t", "T", "-b", "nohost"]).await;
    assert_eq!(bad_broker.code, 2);
    assert!(bad_broker.error_line().starts_with("invalid -b 'nohost'"));
    let bad_delete = mqadmin(&["deleteTopic", "-t", "a b", "-c", "C", "-n", &ns.addr]).await;
    assert_eq!(bad_delete.code, 2);
    assert!(bad_delete.error_line().starts_with("invalid -t 'a b'"));

    assert!(namesrv.calls().is_empty(), "{:?}", namesrv.calls());
    assert!(broker.calls().is_empty(), "{:?}", broker.calls());

    ns.stop().await;
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_first_nameserver_does_not_fail_the_command() {
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![row("C", "broker-a", 0, "127.0.0.1:30911")],
        ..Default::default()
    });
    let ns = namesrv.serve().await;
    let dead = dead_addr();

    let list = format!("{dead};{}", ns.addr);
    let run = mqadmin(&["clusterList", "-n", &list]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2);
    assert_eq!(namesrv.calls(), ["ClusterList"]);

    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_nameserver_answering_is_one_line_naming_them() {
    let (first, second) = (dead_addr(), dead_addr());
    let run = mqadmin(&["topicList", "-n", &format!("{first};{second}")]).await;
    assert_eq!(run.code, 1);
    let line = run.error_line();
    assert!(
        line.starts_with(&format!(
            "no nameserver answered (tried {first}, {second}): "
        )),
        "{line}"
    );
    assert!(line.contains("NAMESRV_ADDR"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameservers_come_from_the_environment_or_the_error_says_how() {
    let namesrv = Arc::new(FakeNamesrv {
        topics: vec!["T".into()],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let from_env = tokio::process::Command::new(env!("CARGO_BIN_EXE_mqadmin"))
        .arg("topicList")
        .env("NAMESRV_ADDR", &ns.addr)
        .output();
    let from_env = tokio::time::timeout(BOUND, from_env)
        .await
        .expect("in time")
        .expect("runs");
    assert!(from_env.status.success());
    assert_eq!(from_env.stdout, b"T\n");

    let neither = mqadmin(&["topicList"]).await;
    assert_eq!(neither.code, 2);
    assert_eq!(
        neither.error_line(),
        "no nameserver address: pass -n host:port[;host:port] or set NAMESRV_ADDR"
    );

    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_and_help_come_from_clap() {
    let missing = mqadmin(&["topicRoute", "-n", "127.0.0.1:9876"]).await;
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("--topic"), "{}", missing.stderr);

    let help = mqadmin(&["--help"]).await;
    assert_eq!(help.code, 0);
    for command in [
        "clusterList",
        "topicList",
        "topicRoute",
        "updateTopic",
        "deleteTopic",
    ] {
        assert!(help.stdout.contains(command), "{}", help.stdout);
    }
    assert!(help.stdout.contains("NAMESRV_ADDR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_groups_are_updated_listed_shown_and_deleted_across_a_cluster() {
    let (a0, a1, b0) = (
        FakeBroker::new("broker-a", &["%DLQ%g"]),
        FakeBroker::new("broker-a", &[]),
        FakeBroker::new("broker-b", &[]),
    );
    let (sa0, sa1, sb0) = (a0.serve().await, a1.serve().await, b0.serve().await);
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![
            row("C", "broker-a", 0, &sa0.addr),
            row("C", "broker-a", 1, &sa1.addr),
            row("C", "broker-b", 0, &sb0.addr),
        ],
        ..Default::default()
    });
    let ns = namesrv.serve().await;

    let run = mqadmin(&[
        "updateSubGroup",
        "-n",
        &ns.addr,
        "-c",
        "C",
        "-g",
        "g",
        "-r",
        "2",
        "-o",
        "true",
        "-p",
        r#"{"type":"EXPONENTIAL","exponentialRetryPolicy":{"initial":1000,"max":60000,"multiplier":3}}"#,
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "create subscription group to {} success.\ncreate subscription group to {} success.\n\
             SubscriptionGroupConfig{{groupName=g, consumeEnable=true, consumeBroadcastEnable=false, \
             consumeMessageOrderly=true, retryMaxTimes=2, groupRetryPolicy=GroupRetryPolicy{{type=EXPONENTIAL, \
             initial=1000, max=60000, multiplier=3}}}}\n",
            sa0.addr, sb0.addr
        )
    );
    assert_eq!(a0.calls(), ["UpdateSubGroup g s=true d=false o=true r=2"]);
    assert_eq!(b0.calls(), a0.calls());
    assert!(a1.calls().is_empty(), "the leader applies it");

    // The one configuration, per broker group.
    let shown = mqadmin(&["getConsumerConfig", "-n", &ns.addr, "-g", "g"]).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown
        .stdout
        .starts_with("=============================C:broker-a============================="));
    assert!(shown
        .stdout
        .contains(&format!("{:<40}=  true\n", "consumeMessageOrderly")));
    assert_eq!(shown.stdout.matches("retryMaxTimes").count(), 2);

    // consumerProgress without -g lists it: a consumer on a follower of
    // broker-a counts once though both members list it.
    let push = ConsumerClient {
        client_id: "c1".into(),
        client_type: "PUSH_CONSUMER".into(),
        version: "5.1.2".into(),
    };
    for b in [&a0, &a1] {
        b.clients.lock().unwrap().push(("g".into(), push.clone()));
    }
    a1.sub_groups
        .lock()
        .unwrap()
        .extend(a0.sub_groups.lock().unwrap().clone());
    let listed = mqadmin(&["consumerProgress", "-n", &ns.addr]).await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let rows: Vec<Vec<&str>> = listed
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0][0], "#Group");
    assert_eq!(
        rows[1],
        ["g", "1", "5.1.2", "PUSH", "CLUSTERING", "N/A", "10"],
        "diff 5 from each broker group"
    );

    // Deleting from the cluster takes the group's dead-letter topic too.
    let deleted = mqadmin(&[
        "deleteSubGroup",
        "-n",
        &ns.addr,
        "-c",
        "C",
        "-g",
        "g",
        "-r",
        "true",
    ])
    .await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(
        deleted.stdout,
        format!(
            "delete subscription group [g] from broker [{}] in cluster [C] success.\n\
             delete subscription group [g] from broker [{}] in cluster [C] success.\n",
            sa0.addr, sb0.addr
        )
    );
    assert!(a0.calls().contains(&"DeleteSubGroup g r=true".to_owned()));
    assert!(a0.topics.lock().unwrap().is_empty(), "%DLQ%g deleted");
    let again = mqadmin(&["deleteSubGroup", "-b", &sb0.addr, "-g", "g"]).await;
    assert_eq!(again.code, 1);
    assert_eq!(
        again.error_line(),
        format!(
            "subscription group 'g' does not exist on broker {}: nothing deleted",
            sb0.addr
        )
    );
    let none = mqadmin(&["getConsumerConfig", "-n", &ns.addr, "-g", "g"]).await;
    assert_eq!(none.code, 1);
    assert!(none
        .error_line()
        .starts_with("subscription group 'g' exists on no broker group"));

    for s in [ns, sa0, sa1, sb0] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sub_group_options_exit_2_and_send_nothing() {
    let broker = FakeBroker::new("broker-a", &[]);
    let served = broker.serve().await;
    for (args, says) in [
        (
            vec!["-g", "g", "-s", "yes"],
            "invalid -s 'yes': use true or false",
        ),
        (vec!["-g", "g", "-r", "many"], "invalid -r 'many'"),
        (vec!["-g", "%DLQ%g"], "invalid -g '%DLQ%g'"),
        (vec!["-g", "g", "-p", r#"{"type":"LINEAR"}"#], "invalid -p"),
        (
            vec!["-g", "g", "-p", r#"{"customizedRetryPolicy":{"next":[]}}"#],
            "at least one wait",
        ),
    ] {
        let mut all = vec!["updateSubGroup", "-b", &served.addr];
        all.extend(args);
        let run = mqadmin(&all).await;
        assert_eq!(run.code, 2, "{all:?}: {}", run.stderr);
        assert!(run.error_line().contains(says), "{all:?}: {}", run.stderr);
    }
    // Neither -b nor -c: clap's usage error.
    let run = mqadmin(&["updateSubGroup", "-g", "g"]).await;
    assert_eq!(run.code, 2);
    assert!(broker.calls().is_empty(), "{:?}", broker.calls());
    served.stop().await;
}
