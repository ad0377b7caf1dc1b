//! The nameserver over gRPC on a loopback port: registration, the cluster
//! list, routes, refusals and expiry of silent members.

use std::time::Duration;

use raftmq_nameserver::{NameServer, NamesrvConf};
use raftmq_proto::namesrv::v1 as pb;
use raftmq_proto::namesrv::v1::name_server_client::NameServerClient;
use raftmq_tasks::Tasks;
use tokio::net::TcpListener;
use tonic::transport::Channel;

async fn start(conf: NamesrvConf) -> (NameServer, NameServerClient<Channel>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = NameServer::start(&conf, Some(listener), &Tasks::new("test"))
        .await
        .unwrap();
    let client = NameServerClient::connect(format!("http://{}", server.addr()))
        .await
        .unwrap();
    (server, client)
}

fn registration(member: u64, role: pb::Role, term: u64) -> pb::RegisterBrokerRequest {
    pb::RegisterBrokerRequest {
        cluster: "RaftCluster".into(),
        group: "RaftNode00".into(),
        member_id: member,
        client_addr: format!("127.0.0.1:{}", 30911 + 10 * member),
        raft_addr: format!("127.0.0.1:{}", 40911 + member),
        role: role.into(),
        term,
        data_version: 1,
        perm: 6,
        topics: vec![pb::TopicConfig {
            name: "TopicTest".into(),
            read_queues: 8,
            write_queues: 8,
            perm: 6,
            ..Default::default()
        }],
        stats: Some(pb::BrokerStats {
            version: "raftmq-0.1.0".into(),
            in_tps: 12.5,
            ..Default::default()
        }),
        auto_create_queues: None,
        check_message_type: false,
    }
}

#[tokio::test]
async fn registrations_make_the_cluster_list_and_routes() {
    let (server, mut client) = start(NamesrvConf::default()).await;
    for (m, role) in [
        (0, pb::Role::Follower),
        (1, pb::Role::Leader),
        (2, pb::Role::Follower),
    ] {
        let r = client
            .register_broker(registration(m, role, 3))
            .await
            .unwrap()
            .into_inner();
        assert!(r.changed);
    }
    // A plain heartbeat changes nothing.
    let again = client
        .register_broker(registration(1, pb::Role::Leader, 3))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.changed);
    assert_eq!(again.leader, Some(1));

    let rows = client
        .cluster_list(pb::ClusterListRequest {})
        .await
        .unwrap()
        .into_inner()
        .rows;
    let bids: Vec<(u64, u64)> = rows.iter().map(|r| (r.bid, r.member_id)).collect();
    assert_eq!(bids, vec![(0, 1), (1, 0), (3, 2)]);
    assert_eq!(rows[0].addr, "127.0.0.1:30921");
    assert_eq!(rows[0].stats.as_ref().unwrap().in_tps, 12.5);

    let route = client
        .topic_route(pb::TopicRouteRequest {
            topic: "TopicTest".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(route.groups.len(), 1);
    let g = &route.groups[0];
    assert_eq!((g.read_queues, g.write_queues, g.perm), (8, 8, 6));
    assert_eq!(g.leader, Some(1));
    let members: Vec<&str> = g.members.iter().map(|m| m.client_addr.as_str()).collect();
    assert_eq!(
        members,
        vec!["127.0.0.1:30921", "127.0.0.1:30911", "127.0.0.1:30931"]
    );

    let missing = client
        .topic_route(pb::TopicRouteRequest {
            topic: "Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let topics = client
        .topic_list(pb::TopicListRequest {
            cluster: "OtherCluster".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .topics;
    assert!(topics.is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn bad_registrations_are_refused_and_change_nothing() {
    let (server, mut client) = start(NamesrvConf::default()).await;
    let mut bad = registration(0, pb::Role::Leader, 1);
    bad.perm = 9;
    let e = client.register_broker(bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("perm"), "{}", e.message());

    let mut bad = registration(0, pb::Role::Leader, 1);
    bad.client_addr = "nowhere".into();
    let e = client.register_broker(bad).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("client address"), "{}", e.message());

    let rows = client
        .cluster_list(pb::ClusterListRequest {})
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert!(rows.is_empty());
    server.stop().await.unwrap();
}

#[tokio::test]
async fn silent_members_expire_and_unregistered_ones_leave_at_once() {
    let conf = NamesrvConf {
        scan_interval: Duration::from_millis(20),
        expiry: Duration::from_millis(200),
        ..NamesrvConf::default()
    };
    let (server, mut client) = start(conf).await;
    client
        .register_broker(registration(0, pb::Role::Leader, 1))
        .await
        .unwrap();
    client
        .register_broker(registration(1, pb::Role::Follower, 1))
        .await
        .unwrap();
    let removed = client
        .unregister_broker(pb::UnregisterBrokerRequest {
            cluster: "RaftCluster".into(),
            group: "RaftNode00".into(),
            member_id: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(removed.removed);
    let rows = client
        .cluster_list(pb::ClusterListRequest {})
        .await
        .unwrap()
        .into_inner()
        .rows;
    assert_eq!(rows.len(), 1);

    // Member 0 falls silent: it is gone after the expiry, within a bound.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rows = client
            .cluster_list(pb::ClusterListRequest {})
            .await
            .unwrap()
            .into_inner()
            .rows;
        if rows.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a silent member was not dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_port_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let conf = NamesrvConf {
        listen_port: taken.local_addr().unwrap().port(),
        bind_address: "127.0.0.1".into(),
        ..NamesrvConf::default()
    };
    let e = NameServer::start(&conf, None, &Tasks::new("test"))
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("listenPort"), "{msg}");
    assert!(msg.contains(&conf.listen_port.to_string()), "{msg}");
}

#[tokio::test]
async fn write_permission_is_wiped_and_added_back() {
    let (server, mut client) = start(NamesrvConf::default()).await;
    client
        .register_broker(registration(0, pb::Role::Leader, 1))
        .await
        .unwrap();
    let route_perm = |c: &mut NameServerClient<Channel>| {
        let mut c = c.clone();
        async move {
            c.topic_route(pb::TopicRouteRequest {
                topic: "TopicTest".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .groups[0]
                .perm
        }
    };
    let wiped = client
        .wipe_write_perm(pb::WritePermRequest {
            group: "RaftNode00".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(wiped.topics, 1);
    assert_eq!(route_perm(&mut client).await, 4, "read only while wiped");
    // Heartbeats do not undo it.
    client
        .register_broker(registration(0, pb::Role::Leader, 1))
        .await
        .unwrap();
    assert_eq!(route_perm(&mut client).await, 4);
    client
        .add_write_perm(pb::WritePermRequest {
            group: "RaftNode00".into(),
        })
        .await
        .unwrap();
    assert_eq!(route_perm(&mut client).await, 6);
    let e = client
        .wipe_write_perm(pb::WritePermRequest {
            group: "Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn stop_ends_every_task_even_with_a_stream_left_open() {
    use raftmq_proto::rocketmq::v2;
    use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;

    let owner = Tasks::new("test");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = NameServer::start(&NamesrvConf::default(), Some(listener), &owner)
        .await
        .unwrap();
    // A Telemetry stream, as every SDK client opens: it ends only when the
    // client ends it, and this one never does.
    let mut client = MessagingServiceClient::connect(format!("http://{}", server.addr()))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(v2::TelemetryCommand {
        status: None,
        command: Some(v2::telemetry_command::Command::Settings(
            v2::Settings::default(),
        )),
    })
    .await
    .unwrap();
    let mut answers = client
        .telemetry(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    assert!(
        answers.message().await.unwrap().is_some(),
        "settings answered"
    );

    let server_addr = server.addr();
    let started = std::time::Instant::now();
    server.stop().await.expect("every task ends");
    assert!(
        started.elapsed() < raftmq_nameserver::server::STOP_WITHIN,
        "the open stream held the stop past the drain: {:?}",
        started.elapsed()
    );
    // Nothing listens any more.
    let refused = tokio::net::TcpStream::connect(server_addr).await;
    assert!(refused.is_err(), "still accepting after stop");
    drop((tx, answers));
    // The owner is left running; the server was its child.
    assert!(!owner.is_stopping());
    owner.stop(Duration::from_secs(1)).await.unwrap();
}
