//! Consumer groups (subscription groups) on a three-member group in one
//! process: configured through any member and replicated, created on first
//! use, their retry limit enforced with upstream's dead-letter marks, a
//! disabled group refused, and their policy and order told to clients in
//! the Telemetry settings.

use std::time::Duration;

use bytes::Bytes;
use raftmq_embedded::{LocalDeployment, LocalOptions};
use raftmq_proto::admin::v1 as pb;
use raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;
use raftmq_store::meta_state::SubscriptionGroupConfig;
use tonic::transport::Channel;

/// Every wait here is bounded by this.
const BOUND: Duration = Duration::from_secs(20);

async fn client(addr: &str) -> MessagingServiceClient<Channel> {
    MessagingServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

async fn admin(addr: &str) -> BrokerAdminClient<Channel> {
    BrokerAdminClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

fn req<T>(body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut()
        .insert("x-mq-client-id", "groups-test@1".parse().expect("ascii"));
    r
}

fn res(name: &str) -> Option<v2::Resource> {
    Some(v2::Resource {
        resource_namespace: String::new(),
        name: name.into(),
    })
}

fn ms(ms: u64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: i64::try_from(ms / 1000).expect("small"),
        nanos: i32::try_from(ms % 1000 * 1_000_000).expect("small"),
    })
}

fn group(name: &str, enable: bool, orderly: bool, retries: u32) -> pb::SubscriptionGroup {
    pb::SubscriptionGroup {
        group: name.into(),
        consume_enable: enable,
        consume_broadcast_enable: false,
        consume_message_orderly: orderly,
        retry_max_times: retries,
        retry_policy: None,
    }
}

async fn update_group(addr: &str, g: pb::SubscriptionGroup) {
    admin(addr)
        .await
        .update_sub_group(pb::UpdateSubGroupRequest { config: Some(g) })
        .await
        .expect("updateSubGroup");
}

/// A follower's and the leader's ids.
async fn roles(d: &LocalDeployment) -> (u64, u64) {
    let leader = d.wait_for_leader(BOUND).await.expect("a leader");
    let follower = d
        .brokers()
        .map(|(id, _)| *id)
        .find(|id| *id != leader)
        .expect("a follower");
    (leader, follower)
}

fn addr(d: &LocalDeployment, id: u64) -> String {
    d.broker(id).expect("running").client_addr().to_string()
}

/// Waits until every running member's store says `ok` of the group.
async fn on_every_member(
    d: &LocalDeployment,
    name: &str,
    ok: impl Fn(Option<SubscriptionGroupConfig>) -> bool,
) {
    let deadline = tokio::time::Instant::now() + BOUND;
    loop {
        if d.brokers().all(|(_, b)| ok(b.node().store().group(name))) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group {name} not as expected on every member"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn send(c: &mut MessagingServiceClient<Channel>, topic: &str, id: &str, body: &str) {
    let sent = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![v2::Message {
                topic: res(topic),
                user_properties: [("order".to_owned(), "42".to_owned())]
                    .into_iter()
                    .collect(),
                system_properties: Some(v2::SystemProperties {
                    tag: Some("TagA".into()),
                    message_id: id.into(),
                    message_type: v2::MessageType::Normal.into(),
                    ..Default::default()
                }),
                body: Bytes::from(body.to_owned()),
            }],
        }))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(sent.status.expect("status").code, v2::Code::Ok as i32);
}

/// One ReceiveMessage: its status code and messages.
async fn receive(
    c: &mut MessagingServiceClient<Channel>,
    group: &str,
    topic: &str,
    invisible_ms: u64,
) -> (i32, Vec<v2::Message>) {
    let mut stream = c
        .receive_message(req(v2::ReceiveMessageRequest {
            group: res(group),
            message_queue: Some(v2::MessageQueue {
                topic: res(topic),
                ..Default::default()
            }),
            batch_size: 8,
            invisible_duration: ms(invisible_ms),
            long_polling_timeout: ms(300),
            ..Default::default()
        }))
        .await
        .expect("receive")
        .into_inner();
    let mut status = -1;
    let mut out = Vec::new();
    while let Some(frame) = stream.message().await.expect("frame") {
        match frame.content {
            Some(v2::receive_message_response::Content::Status(s)) => status = s.code,
            Some(v2::receive_message_response::Content::Message(m)) => out.push(m),
            _ => {}
        }
    }
    (status, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_two_retries_dead_letters_on_the_third_delivery_keeping_the_message() {
    let d = LocalDeployment::start(3).await.expect("start");
    let (leader, follower) = roles(&d).await;
    // Through a follower: forwarded to the leader, applied on every member.
    update_group(&addr(&d, follower), group("Retry2", true, false, 2)).await;
    on_every_member(&d, "Retry2", |g| g.is_some_and(|g| g.retry_max_times == 2)).await;

    let mut c = client(&addr(&d, leader)).await;
    send(&mut c, "Orders", "M1", "never acked").await;
    let mut attempts = Vec::new();
    let deadline = tokio::time::Instant::now() + BOUND;
    let dlq_len = |d: &LocalDeployment| {
        d.broker(leader)
            .expect("leader")
            .node()
            .store()
            .queue_offsets("%DLQ%Retry2", 0)
            .1
             .0
    };
    while dlq_len(&d) == 0 {
        let (_, got) = receive(&mut c, "Retry2", "Orders", 50).await;
        for m in got {
            let sp = m.system_properties.expect("system properties");
            assert_eq!(sp.message_id, "M1");
            attempts.push(sp.delivery_attempt.expect("attempt"));
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not dead-lettered; attempts so far {attempts:?}"
        );
    }
    assert_eq!(attempts, [1, 2, 3], "retryMaxTimes 2: three deliveries");
    let (status, none) = receive(&mut c, "Retry2", "Orders", 50).await;
    assert_eq!((status, none.len()), (v2::Code::MessageNotFound as i32, 0));

    // The dead letter is a readable topic: same id, body and properties,
    // with upstream's marks of where it came from.
    let (status, dead) = receive(&mut c, "DlqReader", "%DLQ%Retry2", 30_000).await;
    assert_eq!(status, v2::Code::Ok as i32);
    assert_eq!(dead.len(), 1);
    let m = &dead[0];
    let sp = m.system_properties.as_ref().expect("system properties");
    assert_eq!(sp.message_id, "M1");
    assert_eq!(m.body, Bytes::from_static(b"never acked"));
    let prop = |k: &str| m.user_properties.get(k).map(String::as_str);
    assert_eq!(prop("order"), Some("42"));
    assert_eq!(prop("RETRY_TOPIC"), Some("Orders"));
    assert_eq!(prop("ORIGIN_MESSAGE_ID"), Some("M1"));
    assert_eq!(prop("RECONSUME_TIME"), Some("3"));
    assert_eq!(
        sp.dead_letter_queue,
        Some(v2::DeadLetterQueue {
            topic: "Orders".into(),
            message_id: "M1".into()
        })
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_group_is_refused_and_an_unknown_one_created_on_first_use() {
    let d = LocalDeployment::start(3).await.expect("start");
    let (leader, follower) = roles(&d).await;
    let mut c = client(&addr(&d, leader)).await;
    send(&mut c, "Orders", "M1", "b").await;

    update_group(&addr(&d, leader), group("Off", false, false, 16)).await;
    on_every_member(&d, "Off", |g| g.is_some_and(|g| !g.consume_enable)).await;
    // Through a follower too (forwarded): the same refusal.
    let mut f = client(&addr(&d, follower)).await;
    for c in [&mut c, &mut f] {
        let (status, got) = receive(c, "Off", "Orders", 1_000).await;
        assert_eq!(status, v2::Code::Forbidden as i32);
        assert!(got.is_empty());
    }
    let mut pull = c
        .pull_message(req(v2::PullMessageRequest {
            group: res("Off"),
            message_queue: Some(v2::MessageQueue {
                topic: res("Orders"),
                id: 0,
                ..Default::default()
            }),
            offset: 0,
            batch_size: 1,
            long_polling_timeout: ms(100),
            ..Default::default()
        }))
        .await
        .expect("pull")
        .into_inner();
    let first = pull.message().await.expect("frame").expect("a frame");
    match first.content {
        Some(v2::pull_message_response::Content::Status(s)) => {
            assert_eq!(s.code, v2::Code::Forbidden as i32, "{}", s.message);
            assert!(s.message.contains("consumeEnable"), "{}", s.message);
        }
        other => panic!("{other:?}"),
    }

    // Enabled again: it receives.
    update_group(&addr(&d, follower), group("Off", true, false, 16)).await;
    on_every_member(&d, "Off", |g| g.is_some_and(|g| g.consume_enable)).await;
    let (status, got) = receive(&mut c, "Off", "Orders", 1_000).await;
    assert_eq!((status, got.len()), (v2::Code::Ok as i32, 1));

    // A group nobody created: created on its first receive, with the
    // defaults, on every member.
    assert!(d
        .broker(leader)
        .expect("leader")
        .node()
        .store()
        .group("Fresh")
        .is_none());
    let (status, got) = receive(&mut c, "Fresh", "Orders", 1_000).await;
    assert_eq!((status, got.len()), (v2::Code::Ok as i32, 1));
    on_every_member(&d, "Fresh", |g| g == Some(Default::default())).await;
    // And on a consumer's heartbeat, through a follower.
    let hb = f
        .heartbeat(req(v2::HeartbeatRequest {
            group: res("Beating"),
            client_type: v2::ClientType::SimpleConsumer.into(),
        }))
        .await
        .expect("heartbeat")
        .into_inner();
    assert_eq!(hb.status.expect("status").code, v2::Code::Ok as i32);
    on_every_member(&d, "Beating", |g| g.is_some()).await;
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_create_an_unknown_group_is_not_found() {
    let d = LocalDeployment::start_with(LocalOptions {
        auto_create_groups: false,
        ..LocalOptions::default()
    })
    .await
    .expect("start");
    let (leader, _) = roles(&d).await;
    let mut c = client(&addr(&d, leader)).await;
    send(&mut c, "Orders", "M1", "b").await;
    let (status, _) = receive(&mut c, "Nobody", "Orders", 1_000).await;
    assert_eq!(status, v2::Code::ConsumerGroupNotFound as i32);
    let hb = c
        .heartbeat(req(v2::HeartbeatRequest {
            group: res("Nobody"),
            client_type: v2::ClientType::PushConsumer.into(),
        }))
        .await
        .expect("heartbeat")
        .into_inner();
    assert_eq!(hb.status.expect("status").code, v2::Code::Ok as i32);
    assert!(d
        .brokers()
        .all(|(_, b)| b.node().store().group("Nobody").is_none()));
    // Created by an operator, it receives.
    update_group(&addr(&d, leader), group("Nobody", true, false, 16)).await;
    on_every_member(&d, "Nobody", |g| g.is_some()).await;
    let (status, got) = receive(&mut c, "Nobody", "Orders", 1_000).await;
    assert_eq!((status, got.len()), (v2::Code::Ok as i32, 1));
    d.shutdown().await;
}

/// Both halves of an open Telemetry stream: dropped, the stream ends.
type OpenStream = (
    tokio::sync::mpsc::Sender<v2::TelemetryCommand>,
    tonic::Streaming<v2::TelemetryCommand>,
);

/// Opens a Telemetry stream on `addr` with a consumer's settings for
/// `group`; returns the reply and the stream, still open.
async fn settings_of(addr: &str, group: &str) -> (v2::Settings, OpenStream) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(v2::TelemetryCommand {
        status: None,
        command: Some(v2::telemetry_command::Command::Settings(v2::Settings {
            client_type: Some(v2::ClientType::PushConsumer.into()),
            pub_sub: Some(v2::settings::PubSub::Subscription(v2::Subscription {
                group: res(group),
                ..Default::default()
            })),
            user_agent: Some(v2::Ua {
                version: "5.1.2".into(),
                ..Default::default()
            }),
            ..Default::default()
        })),
    })
    .await
    .expect("queued");
    let mut replies = client(addr)
        .await
        .telemetry(req(tokio_stream::wrappers::ReceiverStream::new(rx)))
        .await
        .expect("telemetry")
        .into_inner();
    let reply = tokio::time::timeout(BOUND, replies.message())
        .await
        .expect("in time")
        .expect("a reply")
        .expect("not ended");
    match reply.command {
        Some(v2::telemetry_command::Command::Settings(s)) => (s, (tx, replies)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_tell_a_consumer_its_groups_retry_policy_and_order() {
    let d = LocalDeployment::start(3).await.expect("start");
    let (leader, follower) = roles(&d).await;
    update_group(&addr(&d, leader), group("Fifo", true, true, 2)).await;
    on_every_member(&d, "Fifo", |g| g.is_some()).await;

    // A follower answers from the replicated configuration.
    let (s, _open) = settings_of(&addr(&d, follower), "Fifo").await;
    let Some(v2::settings::PubSub::Subscription(sub)) = &s.pub_sub else {
        panic!("{s:?}")
    };
    assert_eq!(sub.fifo, Some(true));
    let policy = s.backoff_policy.clone().expect("backoff policy");
    assert_eq!(policy.max_attempts, 3);
    assert_eq!(
        policy.strategy,
        Some(v2::retry_policy::Strategy::CustomizedBackoff(
            v2::CustomizedBackoff {
                next: vec![ms(3_000).expect("d")]
            }
        ))
    );
    // A group not configured: upstream's defaults.
    let (s, _other) = settings_of(&addr(&d, follower), "Plain").await;
    let policy = s.backoff_policy.expect("backoff policy");
    assert_eq!(policy.max_attempts, 17);

    // The member lists the consumer connected to it.
    let listed = admin(&addr(&d, follower))
        .await
        .list_sub_groups(pb::ListSubGroupsRequest {
            group: "Fifo".into(),
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.groups.len(), 1);
    let info = &listed.groups[0];
    assert!(info
        .config
        .as_ref()
        .is_some_and(|c| c.consume_message_orderly));
    assert_eq!(
        info.clients,
        [pb::ConsumerClient {
            client_id: "groups-test@1".into(),
            client_type: "PUSH_CONSUMER".into(),
            version: "5.1.2".into(),
        }]
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_survives_the_loss_of_its_leader_and_can_be_deleted() {
    let mut d = LocalDeployment::start(3).await.expect("start");
    let (leader, _) = roles(&d).await;
    update_group(&addr(&d, leader), group("Kept", true, true, 5)).await;
    on_every_member(&d, "Kept", |g| g.is_some()).await;
    d.kill(leader).await;
    let new_leader = d.wait_for_leader(BOUND).await.expect("a new leader");
    assert_ne!(new_leader, leader);
    let kept = d
        .broker(new_leader)
        .expect("running")
        .node()
        .store()
        .group("Kept")
        .expect("the group");
    assert!(kept.consume_orderly && kept.retry_max_times == 5);

    let mut a = admin(&addr(&d, new_leader)).await;
    a.delete_sub_group(pb::DeleteSubGroupRequest {
        group: "Kept".into(),
        remove_offset: true,
    })
    .await
    .expect("deleted");
    on_every_member(&d, "Kept", |g| g.is_none()).await;
    let again = a
        .delete_sub_group(pb::DeleteSubGroupRequest {
            group: "Kept".into(),
            remove_offset: false,
        })
        .await
        .expect_err("gone");
    assert_eq!(again.code(), tonic::Code::NotFound);
    let bad = a
        .update_sub_group(pb::UpdateSubGroupRequest {
            config: Some(pb::SubscriptionGroup {
                retry_policy: Some(pb::GroupRetryPolicy {
                    policy: Some(pb::group_retry_policy::Policy::Exponential(
                        pb::ExponentialRetryPolicy {
                            initial_ms: 10,
                            max_ms: 5,
                            multiplier: 2,
                        },
                    )),
                }),
                ..group("Bad", true, false, 1)
            }),
        })
        .await
        .expect_err("max below initial");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("EXPONENTIAL"), "{}", bad.message());
    assert!(d
        .brokers()
        .all(|(_, b)| b.node().store().group("Bad").is_none()));
    d.shutdown().await;
}
