//! Two nameservers and a three-member group, as processes: each nameserver
//! answers on its own; with one killed, brokers and mqadmin go on with the
//! other, and a leader change still shows on it. On the way, a topic's
//! message type goes from `updateTopic -a` to topicRoute and the routes.

use std::process::Command;
use std::time::{Duration, Instant};

use raftmq_proto::client_protocol::CLIENT_ID_HEADER;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;
use raftmq_tests::{bin, cluster_list, free_ports, mqadmin, wait_for, MemberConf, Proc, Row};

fn start_namesrv(dir: &std::path::Path, name: &str, port: u16) -> Proc {
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(&conf, format!("listenPort={port}\nbindAddress=127.0.0.1\n")).unwrap();
    let mut cmd = Command::new(bin("mqnamesrv"));
    cmd.args(["-c", conf.to_str().unwrap()]);
    Proc::spawn(name, cmd, &dir.join(format!("{name}.log")))
}

fn leader(rows: &[Row]) -> Option<String> {
    let leaders: Vec<&Row> = rows.iter().filter(|r| r.bid == 0).collect();
    assert!(leaders.len() <= 1, "two BID 0 rows: {rows:?}");
    leaders.first().map(|r| r.addr.clone())
}

/// The message types each queue of `topic` accepts, as `addr` (a
/// nameserver or a broker) answers QueryRoute in the client protocol.
fn accepted_types(addr: &str, topic: &str) -> Vec<Vec<v2::MessageType>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = MessagingServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let mut req = tonic::Request::new(v2::QueryRouteRequest {
            topic: Some(v2::Resource {
                name: topic.into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        req.metadata_mut()
            .insert(CLIENT_ID_HEADER, "message-type-test".parse().unwrap());
        let r = c.query_route(req).await.expect("QueryRoute").into_inner();
        assert_eq!(r.status.unwrap().code, v2::Code::Ok as i32);
        r.message_queues
            .iter()
            .map(|q| {
                q.accept_message_types
                    .iter()
                    .map(|t| v2::MessageType::try_from(*t).unwrap())
                    .collect()
            })
            .collect()
    })
}

/// `updateTopic -a +message.type=DELAY` reaches topicRoute and the routes'
/// accept types; an update without `-a` keeps the type; bad attributes
/// are refused before anything is sent.
fn message_type_round_trip(both: &str, namesrv: &str, broker: &str) {
    let out = mqadmin(&[
        "updateTopic",
        "-t",
        "Typed",
        "-c",
        "RaftCluster",
        "-n",
        both,
        "-a",
        "+message.type=DELAY",
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("perm=RW-, attributes={+message.type=DELAY}]"),
        "{text}"
    );
    let route = |want_queues: u32| {
        let out = mqadmin(&["topicRoute", "-t", "Typed", "-n", namesrv]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.success() && text.contains(&format!("\"readQueueNums\": {want_queues},")))
            .then_some(text)
    };
    let text = wait_for("the typed topic's route", Duration::from_secs(5), || {
        route(8)
    });
    assert!(
        text.contains("\"attributes\": {\n        \"message.type\": \"DELAY\"\n      }"),
        "{text}"
    );
    for addr in [namesrv, broker] {
        let queues = accepted_types(addr, "Typed");
        assert_eq!(queues.len(), 8, "{addr}");
        assert!(
            queues.iter().all(|q| *q == [v2::MessageType::Delay]),
            "{addr}: {queues:?}"
        );
    }
    // An undeclared topic takes every type (the check is off by default).
    let untyped = accepted_types(namesrv, "Before");
    assert_eq!(untyped[0].len(), 4, "{untyped:?}");

    // New queue counts, no -a: the type stays.
    let out = mqadmin(&[
        "updateTopic",
        "-t",
        "Typed",
        "-c",
        "RaftCluster",
        "-n",
        both,
        "-r",
        "4",
        "-w",
        "4",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = wait_for("4 queues", Duration::from_secs(5), || route(4));
    assert!(text.contains("\"message.type\": \"DELAY\""), "{text}");

    for (bad, named) in [
        ("+message.type=delay", "\"delay\" is not one of"),
        ("+queue.type=SimpleCQ", "unknown attribute \"queue.type\""),
    ] {
        let out = mqadmin(&[
            "updateTopic",
            "-t",
            "Typed",
            "-c",
            "RaftCluster",
            "-n",
            both,
            "-a",
            bad,
        ]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(named), "{err}");
    }
    let text = route(4).expect("unchanged route");
    assert!(text.contains("\"message.type\": \"DELAY\""), "{text}");
}

fn route_has(namesrv: &str, topic: &str) -> bool {
    mqadmin(&["topicRoute", "-t", topic, "-n", namesrv])
        .status
        .success()
}

#[test]
fn either_nameserver_answers_and_one_is_enough() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(8);
    let (ns_a, ns_b) = (
        format!("127.0.0.1:{}", ports[0]),
        format!("127.0.0.1:{}", ports[1]),
    );
    let both = format!("{ns_a};{ns_b}");
    let mut a = start_namesrv(dir.path(), "namesrv-a", ports[0]);
    let _b = start_namesrv(dir.path(), "namesrv-b", ports[1]);
    let (client, raft) = (&ports[2..5], &ports[5..8]);
    let mut brokers: Vec<Proc> = (0..3)
        .map(|id| {
            let store = dir.path().join(format!("node0{id}"));
            let conf = dir.path().join(format!("broker-n{id}.conf"));
            let text = MemberConf {
                group: "RaftNode00",
                id,
                client_ports: client,
                raft_ports: raft,
                namesrv: &both,
                store: &store,
            }
            .text();
            std::fs::write(&conf, text).unwrap();
            let mut cmd = Command::new(bin("mqbroker"));
            cmd.args(["-c", conf.to_str().unwrap()]);
            Proc::spawn(
                &format!("broker n{id}"),
                cmd,
                &dir.path().join(format!("broker-n{id}.log")),
            )
        })
        .collect();

    // Each nameserver alone knows all three members and one leader.
    for ns in [&ns_a, &ns_b] {
        wait_for(
            "three members and a leader",
            Duration::from_secs(30),
            || {
                let rows = cluster_list(ns)?;
                (rows.len() == 3 && leader(&rows).is_some()).then_some(())
            },
        );
    }
    let out = mqadmin(&[
        "updateTopic",
        "-t",
        "Before",
        "-c",
        "RaftCluster",
        "-n",
        &both,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for ns in [&ns_a, &ns_b] {
        wait_for("the topic's route", Duration::from_secs(5), || {
            route_has(ns, "Before").then_some(())
        });
    }

    message_type_round_trip(&both, &ns_a, &format!("127.0.0.1:{}", client[0]));

    // sendMessage and consumeMessage, through the SDK.
    let out = mqadmin(&[
        "sendMessage",
        "-t",
        "Before",
        "-p",
        "hello raftmq",
        "-c",
        "TagA",
        "-k",
        "k1",
        "-n",
        &both,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.starts_with("#Broker Name") && text.contains("SEND_OK"),
        "{text}"
    );
    let out = mqadmin(&["consumeMessage", "-t", "Before", "-n", &both]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("BODY: hello raftmq")
            && text.contains("tag: TagA")
            && text.ends_with("1 message(s)\n"),
        "{text}"
    );

    // One nameserver dies: mqadmin and the brokers go on with the other.
    a.kill();
    let out = mqadmin(&[
        "updateTopic",
        "-t",
        "After",
        "-c",
        "RaftCluster",
        "-n",
        &both,
    ]);
    assert!(
        out.status.success(),
        "mqadmin did not fall back to the live nameserver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        "the new topic on the live nameserver",
        Duration::from_secs(5),
        || route_has(&ns_b, "After").then_some(()),
    );
    // The SDK, given both addresses, goes on with the live one too.
    let out = mqadmin(&[
        "sendMessage",
        "-t",
        "After",
        "-p",
        "after the kill",
        "-n",
        &both,
    ]);
    assert!(
        out.status.success(),
        "the SDK did not fall back to the live nameserver: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = mqadmin(&["topicRoute", "-t", "After", "-n", &ns_a]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a dead nameserver must fail the call"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1,
        "one line of error"
    );

    // A leader change still reaches the live nameserver at once.
    let rows = cluster_list(&ns_b).expect("cluster list");
    let old = leader(&rows).expect("a leader");
    let port: u16 = old.rsplit_once(':').unwrap().1.parse().unwrap();
    let idx = client
        .iter()
        .position(|p| *p == port)
        .expect("leader's port");
    let killed = Instant::now();
    brokers[idx].kill();
    let new = wait_for(
        "a new leader on the live nameserver",
        Duration::from_secs(5),
        || leader(&cluster_list(&ns_b)?).filter(|l| *l != old),
    );
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "the new leader {new} showed after {:?}",
        killed.elapsed()
    );
    for b in &mut brokers {
        if b.exited().is_none() && b.pid() != 0 {
            assert!(b.terminate(Duration::from_secs(15)).success());
        }
    }
}
