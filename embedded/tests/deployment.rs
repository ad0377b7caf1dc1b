//! A nameserver and a three-member group in one process
//! ([`LocalDeployment`]): registration, BID 0 on the leader, topic admin
//! through any member, refusals that change nothing, failover and rejoin
//! as seen from the nameserver.

use std::time::{Duration, Instant};

use raftmq_embedded::LocalDeployment;
use raftmq_proto::admin::v1 as admin;
use raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient;
use raftmq_proto::namesrv::v1 as ns;
use raftmq_proto::namesrv::v1::name_server_client::NameServerClient;
use raftmq_store::record::message::Message;
use tonic::transport::Channel;

async fn namesrv(d: &LocalDeployment) -> NameServerClient<Channel> {
    NameServerClient::connect(format!("http://{}", d.namesrv_addr()))
        .await
        .expect("connect to the nameserver")
}

async fn admin_of(d: &LocalDeployment, id: u64) -> BrokerAdminClient<Channel> {
    let addr = d.broker(id).expect("member").client_addr();
    BrokerAdminClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the broker")
}

async fn rows(c: &mut NameServerClient<Channel>) -> Vec<ns::ClusterRow> {
    c.cluster_list(ns::ClusterListRequest {})
        .await
        .expect("cluster list")
        .into_inner()
        .rows
}

/// Polls the cluster list until `check` passes or `timeout` ends.
async fn wait_rows(
    c: &mut NameServerClient<Channel>,
    what: &str,
    timeout: Duration,
    check: impl Fn(&[ns::ClusterRow]) -> bool,
) -> Vec<ns::ClusterRow> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = rows(c).await;
        if check(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {r:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn leader_addr(rows: &[ns::ClusterRow]) -> Option<&str> {
    let leaders: Vec<_> = rows.iter().filter(|r| r.bid == 0).collect();
    assert!(leaders.len() <= 1, "two BID 0 rows");
    leaders.first().map(|r| r.addr.as_str())
}

async fn route(c: &mut NameServerClient<Channel>, topic: &str) -> Option<ns::TopicRouteResponse> {
    match c
        .topic_route(ns::TopicRouteRequest {
            topic: topic.into(),
        })
        .await
    {
        Ok(r) => Some(r.into_inner()),
        Err(s) if s.code() == tonic::Code::NotFound => None,
        Err(s) => panic!("topic route failed: {s}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_registers_is_administered_through_any_member_and_fails_over() {
    let mut d = LocalDeployment::start(3).await.expect("start");
    let mut c = namesrv(&d).await;
    let first = wait_rows(
        &mut c,
        "three members and a leader",
        Duration::from_secs(10),
        |r| r.len() == 3 && leader_addr(r).is_some(),
    )
    .await;
    let leader_id = d
        .wait_for_leader(Duration::from_secs(5))
        .await
        .expect("a leader");
    let leader_client = d.broker(leader_id).unwrap().advertised_addr().to_owned();
    assert_eq!(leader_addr(&first), Some(leader_client.as_str()));
    for r in &first {
        let s = r.stats.as_ref().expect("stats");
        assert!(s.version.starts_with("raftmq-"));
        assert!(s.activated);
        assert!(
            (0.0..=1.0).contains(&s.disk_used_ratio),
            "{}",
            s.disk_used_ratio
        );
    }

    // A follower takes the topic change and forwards it to the leader.
    let follower = (0..3).find(|id| *id != leader_id).unwrap();
    let mut a = admin_of(&d, follower).await;
    a.update_topic(admin::UpdateTopicRequest {
        topic: "TopicTest".into(),
        read_queues: 4,
        write_queues: 4,
        perm: 6,
        ..Default::default()
    })
    .await
    .expect("update through a follower");
    let deadline = Instant::now() + Duration::from_secs(5);
    let r = loop {
        if let Some(r) = route(&mut c, "TopicTest").await {
            break r;
        }
        assert!(Instant::now() < deadline, "the route did not appear");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(r.groups.len(), 1);
    assert_eq!((r.groups[0].read_queues, r.groups[0].write_queues), (4, 4));
    assert_eq!(
        r.groups[0].members[0].client_addr, leader_client,
        "leader first"
    );

    // A type set through a follower reaches the route; a later update that
    // names no type keeps it.
    for (queues, message_type) in [(2, Some(ns::TopicMessageType::Delay)), (4, None)] {
        a.update_topic(admin::UpdateTopicRequest {
            topic: "TopicTest".into(),
            read_queues: queues,
            write_queues: queues,
            perm: 6,
            message_type: message_type.map(Into::into),
        })
        .await
        .expect("update the type through a follower");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let g = route(&mut c, "TopicTest")
                .await
                .map(|r| r.groups[0].clone());
            if g.as_ref().is_some_and(|g| g.read_queues == queues) {
                let g = g.unwrap();
                assert_eq!(g.message_type, ns::TopicMessageType::Delay as i32, "{g:?}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{queues} queues did not show: {g:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let e = a
        .update_topic(admin::UpdateTopicRequest {
            topic: "TopicTest".into(),
            read_queues: 4,
            write_queues: 4,
            perm: 6,
            message_type: Some(42),
        })
        .await
        .expect_err("an unknown type");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
    assert!(e.message().starts_with("message_type: "), "{e}");

    // Refusals change nothing.
    for (topic, queues, perm) in [("bad topic", 4, 6), ("Ok", 0, 6), ("Ok", 4, 9)] {
        let e = a
            .update_topic(admin::UpdateTopicRequest {
                topic: topic.into(),
                read_queues: queues,
                write_queues: queues,
                perm,
                ..Default::default()
            })
            .await
            .expect_err("refused");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
    }
    let e = a
        .delete_topic(admin::DeleteTopicRequest {
            topic: "Missing".into(),
        })
        .await
        .expect_err("no such topic");
    assert_eq!(e.code(), tonic::Code::NotFound);
    let topics = c
        .topic_list(ns::TopicListRequest::default())
        .await
        .unwrap()
        .into_inner()
        .topics;
    assert_eq!(topics, vec!["TopicTest".to_owned()]);

    // Writes show as InTPS on the next beats.
    let msgs: Vec<Message> = (0..50)
        .map(|i| Message {
            queue_id: i % 4,
            body: bytes::Bytes::from_static(b"hello"),
            ..Message::new("TopicTest".parse().expect("legal topic"))
        })
        .collect();
    d.broker(follower)
        .unwrap()
        .node()
        .write(&msgs)
        .await
        .expect("write");
    wait_rows(&mut c, "InTPS above 0", Duration::from_secs(5), |r| {
        r.iter()
            .any(|row| row.stats.as_ref().is_some_and(|s| s.in_tps > 0.0))
    })
    .await;

    // Kill the leader: a new BID 0 within 2 s; the old member rejoins.
    let killed = Instant::now();
    d.kill(leader_id).await;
    let after = wait_rows(&mut c, "a new leader", Duration::from_secs(5), |r| {
        leader_addr(r).is_some_and(|l| l != leader_client)
    })
    .await;
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "new BID 0 after {:?}",
        killed.elapsed()
    );
    assert_eq!(after.iter().filter(|r| r.bid == 0).count(), 1);
    d.restart(leader_id).await.expect("restart");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = rows(&mut c).await;
        let back = r
            .iter()
            .find(|row| row.addr == leader_client)
            .is_some_and(|row| row.bid != 0 && row.role == ns::Role::Follower as i32);
        if back && leader_addr(&r).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old leader did not rejoin: {r:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Delete through the new leader; the route goes away.
    let new_leader = d.wait_for_leader(Duration::from_secs(5)).await.unwrap();
    let mut a = admin_of(&d, new_leader).await;
    a.delete_topic(admin::DeleteTopicRequest {
        topic: "TopicTest".into(),
    })
    .await
    .expect("delete");
    let deadline = Instant::now() + Duration::from_secs(5);
    while route(&mut c, "TopicTest").await.is_some() {
        assert!(Instant::now() < deadline, "the route stayed after delete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.shutdown().await;
}
