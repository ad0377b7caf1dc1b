//! `NamesrvClient` and `BrokerClient` move on from peers that never answer.

// The fake nameservers run on tasks of the test's runtime, ended with it.
#![allow(clippy::disallowed_methods)]

mod fake;

use std::sync::Arc;
use std::time::Duration;

use fake::{dead_addr, row, FakeBroker, FakeNamesrv, BOUND};
use raftmq_client::admin::{
    self, AdminError, BrokerClient, NamesrvAddrs, NamesrvClient, Timeouts, TopicSpec,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const SHORT: Timeouts = Timeouts {
    connect: Duration::from_millis(300),
    request: Duration::from_millis(500),
};

/// A peer that accepts connections and never answers; the sockets it holds
/// close when it stops.
async fn silent_peer() -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => held.push(socket),
                    Err(_) => break,
                },
            }
        }
    });
    (addr, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nameserver_is_skipped_after_the_timeout() {
    let (silent, stop, task) = silent_peer().await;
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![row("C", "broker-a", 0, "127.0.0.1:30911")],
        ..Default::default()
    });
    let ns = namesrv.serve().await;
    let addrs = NamesrvAddrs::parse("-n", &format!("{silent};{}", ns.addr)).expect("addrs");
    let client = NamesrvClient::with_timeouts(addrs, SHORT);

    let rows = tokio::time::timeout(BOUND, admin::cluster_list(&client, None))
        .await
        .expect("in time")
        .expect("the second nameserver answers");
    assert_eq!(rows.len(), 1);
    // The next call starts with the nameserver that answered.
    let again = tokio::time::timeout(SHORT.request, client.cluster_list())
        .await
        .expect("no wait on the silent one")
        .expect("answers");
    assert_eq!(again.namesrv, ns.addr);

    let _ = stop.send(());
    task.await.expect("silent peer ends");
    ns.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_leader_falls_back_to_a_follower() {
    let (silent, stop, task) = silent_peer().await;
    let follower = FakeBroker::new("broker-a", &["T"]);
    let served = follower.serve().await;
    let brokers = BrokerClient::with_timeouts(SHORT);
    let spec = TopicSpec::new("T", 8, 8, 6).expect("valid");

    let applied = tokio::time::timeout(
        BOUND,
        brokers.update_topic(&[silent.clone(), served.addr.clone()], &spec),
    )
    .await
    .expect("in time")
    .expect("the follower answers");
    assert_eq!(applied, served.addr);
    assert_eq!(follower.calls(), ["UpdateTopic T r=8 w=8 p=6"]);

    let _ = stop.send(());
    task.await.expect("silent peer ends");
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_any_member_up_does_not_hide_the_others() {
    let up = FakeBroker::new("broker-b", &[]);
    let served = up.serve().await;
    let namesrv = Arc::new(FakeNamesrv {
        rows: vec![
            row("C", "broker-a", 0, &dead_addr()),
            row("C", "broker-a", 2, &dead_addr()),
            row("C", "broker-b", 0, &served.addr),
        ],
        ..Default::default()
    });
    let ns = namesrv.serve().await;
    let client = NamesrvClient::new(NamesrvAddrs::parse("-n", &ns.addr).expect("addrs"));
    let spec = TopicSpec::new("T", 8, 8, 6).expect("valid");

    let outcome = tokio::time::timeout(
        BOUND,
        admin::update_topic_on_cluster(&client, &BrokerClient::new(), spec, "C"),
    )
    .await
    .expect("in time")
    .expect("the nameserver answers");
    assert_eq!(
        outcome.render(),
        format!("create topic to {} success.\n", served.addr)
    );
    assert_eq!(up.calls(), ["UpdateTopic T r=8 w=8 p=6"]);
    let err = outcome.into_error().expect("broker-a failed");
    assert!(matches!(err, AdminError::Groups { ref failures, .. } if failures.len() == 1));
    let line = err.to_string();
    assert!(
        line.starts_with("updateTopic failed on 1 of 2 broker groups of cluster 'C': [broker-a] no broker answered"),
        "{line}"
    );

    ns.stop().await;
    served.stop().await;
}
