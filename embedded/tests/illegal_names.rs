//! Topic and group names that break their rule, sent over the client
//! protocol to a nameserver and a three-member group in one process: each
//! refused message gets ILLEGAL_TOPIC with the rule stated, nothing is
//! proposed and no topic is created; an illegal group gets
//! ILLEGAL_CONSUMER_GROUP.

use std::time::Duration;

use bytes::Bytes;
use raftmq_embedded::LocalDeployment;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;
use tonic::transport::Channel;

const BOUND: Duration = Duration::from_secs(30);

async fn client(addr: &str) -> MessagingServiceClient<Channel> {
    MessagingServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

fn req<T>(body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut()
        .insert("x-mq-client-id", "names-client@1".parse().expect("ascii"));
    r
}

fn res(name: &str) -> Option<v2::Resource> {
    Some(v2::Resource {
        resource_namespace: String::new(),
        name: name.into(),
    })
}

fn message(topic: &str, id: &str) -> v2::Message {
    v2::Message {
        topic: res(topic),
        user_properties: Default::default(),
        system_properties: Some(v2::SystemProperties {
            message_id: id.into(),
            message_type: v2::MessageType::Normal.into(),
            ..Default::default()
        }),
        body: Bytes::from_static(b"x"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_illegal_or_reserved_topics_are_refused_and_nothing_is_proposed() {
    let d = LocalDeployment::start(3).await.expect("start");
    let leader = d.wait_for_leader(BOUND).await.expect("a leader");
    let broker = d.broker(leader).expect("the leader runs");
    let mut c = client(&broker.client_addr().to_string()).await;
    let store = broker.node().store();

    // The write path works: a legal topic is created and stored.
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![message("Legal", "L1")],
        }))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(r.entries[0].status.as_ref().map(|s| s.code), Some(20000));
    let end = || store.commitlog().bounds().next_index;
    let before = end();

    let bad = ["a.b", "%DLQ%x", "%RETRY%x", "rmq_sys_x", ""];
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: bad
                .iter()
                .enumerate()
                .map(|(i, t)| message(t, &format!("B{i}")))
                .collect(),
        }))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(r.entries.len(), bad.len());
    for (topic, e) in bad.iter().zip(&r.entries) {
        let status = e.status.as_ref().expect("a status per entry");
        assert_eq!(status.code, v2::Code::IllegalTopic as i32, "{topic}");
        assert_eq!(status.code, 40002);
        let names_it = if topic.is_empty() {
            status.message.contains("empty")
        } else {
            status.message.contains(&format!("{topic:?}"))
        };
        assert!(names_it, "{topic}: {}", status.message);
    }
    let dot = &r.entries[0].status.as_ref().expect("status").message;
    assert!(
        dot.contains("'.' at position 2") && dot.contains("A-Z, a-z, 0-9, %, |, _ and -"),
        "the rule is stated: {dot}"
    );
    assert!(r.entries[1]
        .status
        .as_ref()
        .expect("status")
        .message
        .contains("reserved"));
    assert_eq!(end(), before, "nothing was proposed");
    for topic in bad {
        assert!(store.topic(topic).is_none(), "{topic} was created");
    }

    // One bad entry does not spoil the others of its call.
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![message("Legal", "L2"), message("a.b", "B9")],
        }))
        .await
        .expect("send")
        .into_inner();
    let codes: Vec<i32> = r
        .entries
        .iter()
        .map(|e| e.status.as_ref().map_or(-1, |s| s.code))
        .collect();
    assert_eq!(codes, vec![20000, 40002]);
    assert!(store.topic("a.b").is_none());
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_illegal_consumer_group_is_refused_with_its_code() {
    let d = LocalDeployment::start(3).await.expect("start");
    let leader = d.wait_for_leader(BOUND).await.expect("a leader");
    let broker = d.broker(leader).expect("the leader runs");
    let mut c = client(&broker.client_addr().to_string()).await;
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![message("Legal", "L1")],
        }))
        .await
        .expect("send")
        .into_inner();
    assert_eq!(r.entries[0].status.as_ref().map(|s| s.code), Some(20000));
    for group in ["g.x", "%DLQ%g", ""] {
        let r = c
            .ack_message(req(v2::AckMessageRequest {
                group: res(group),
                topic: res("Legal"),
                entries: Vec::new(),
            }))
            .await
            .expect("ack")
            .into_inner();
        let status = r.status.expect("a status");
        assert_eq!(
            status.code,
            v2::Code::IllegalConsumerGroup as i32,
            "{group}"
        );
        assert_eq!(status.code, 40003);
        assert!(status.message.contains("group name"), "{}", status.message);
    }
    d.shutdown().await;
}
