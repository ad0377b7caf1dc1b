//! The RocketMQ 5 client protocol against a nameserver and a three-member
//! group in one process, spoken with the raw generated client: routes from
//! the nameserver, sends through any member, pop receive with tag filters,
//! acks, redelivery, offsets, and bad input answered with the right code.

use std::time::Duration;

use bytes::Bytes;
use raftmq_embedded::LocalDeployment;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;
use tonic::transport::Channel;

async fn client(addr: &str) -> MessagingServiceClient<Channel> {
    MessagingServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

fn req<T>(body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut()
        .insert("x-mq-client-id", "test-client@1".parse().unwrap());
    r
}

fn res(name: &str) -> Option<v2::Resource> {
    Some(v2::Resource {
        resource_namespace: String::new(),
        name: name.into(),
    })
}

fn message(topic: &str, id: &str, tag: &str, queue: i32, body: &str) -> v2::Message {
    v2::Message {
        topic: res(topic),
        user_properties: [("order".to_owned(), id.to_owned())].into_iter().collect(),
        system_properties: Some(v2::SystemProperties {
            tag: Some(tag.into()),
            keys: vec![format!("key-{id}")],
            message_id: id.into(),
            queue_id: queue,
            message_type: v2::MessageType::Normal.into(),
            ..Default::default()
        }),
        body: Bytes::from(body.to_owned()),
    }
}

fn code(s: &Option<v2::Status>) -> i32 {
    s.as_ref().map_or(-1, |s| s.code)
}

async fn receive(
    c: &mut MessagingServiceClient<Channel>,
    topic: &str,
    tag: &str,
    invisible: Duration,
) -> (i32, Vec<v2::Message>) {
    let mut stream = c
        .receive_message(req(v2::ReceiveMessageRequest {
            group: res("GroupA"),
            message_queue: Some(v2::MessageQueue {
                topic: res(topic),
                id: 0,
                ..Default::default()
            }),
            filter_expression: Some(v2::FilterExpression {
                r#type: v2::FilterType::Tag.into(),
                expression: tag.into(),
            }),
            batch_size: 32,
            invisible_duration: Some(prost_types::Duration {
                seconds: i64::try_from(invisible.as_secs()).unwrap(),
                nanos: i32::try_from(invisible.subsec_nanos()).unwrap(),
            }),
            auto_renew: false,
            long_polling_timeout: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            attempt_id: None,
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

async fn ack(
    c: &mut MessagingServiceClient<Channel>,
    topic: &str,
    msgs: &[v2::Message],
) -> Vec<i32> {
    let entries = msgs
        .iter()
        .map(|m| {
            let sp = m.system_properties.as_ref().unwrap();
            v2::AckMessageEntry {
                message_id: sp.message_id.clone(),
                receipt_handle: sp.receipt_handle.clone().unwrap(),
                lite_topic: None,
            }
        })
        .collect();
    let r = c
        .ack_message(req(v2::AckMessageRequest {
            group: res("GroupA"),
            topic: res(topic),
            entries,
        }))
        .await
        .expect("ack")
        .into_inner();
    r.entries.iter().map(|e| code(&e.status)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_receive_filter_ack_redeliver_and_refuse_bad_input() {
    let d = LocalDeployment::start(3).await.expect("start");
    let leader = d
        .wait_for_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let mut ns = client(&d.namesrv_addr()).await;

    // A topic nobody created: routed for creation on first send.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let route = loop {
        let mut all = req(v2::QueryRouteRequest {
            topic: res("Orders"),
            endpoints: None,
        });
        all.metadata_mut()
            .insert("x-raftmq-all-members", "1".parse().unwrap());
        let r = ns.query_route(all).await.unwrap().into_inner();
        let members = r
            .message_queues
            .first()
            .and_then(|q| q.broker.as_ref())
            .and_then(|b| b.endpoints.as_ref())
            .map_or(0, |e| e.addresses.len());
        if code(&r.status) == v2::Code::Ok as i32 && members == 3 {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no route: {:?}",
            r.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(route.message_queues.len(), 8);
    let broker = route.message_queues[0].broker.clone().unwrap();
    assert_eq!(broker.id, 0);
    assert_eq!(broker.endpoints.unwrap().addresses.len(), 3);

    // Send through a follower: forwarded to the leader.
    let f_addr = d.broker(follower).unwrap().client_addr().to_string();
    let mut f = client(&f_addr).await;
    let msgs: Vec<v2::Message> = (0..10)
        .map(|i| {
            let tag = if i % 2 == 0 { "TagA" } else { "TagB" };
            message("Orders", &format!("ID{i:04}"), tag, 0, &format!("body-{i}"))
        })
        .collect();
    let sent = f
        .send_message(req(v2::SendMessageRequest {
            messages: msgs.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&sent.status), v2::Code::Ok as i32, "{:?}", sent.status);
    assert_eq!(sent.entries.len(), 10);
    let offsets: Vec<i64> = sent.entries.iter().map(|e| e.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<i64>>());

    // A retried send (same ids) is answered, not stored twice.
    let again = f
        .send_message(req(v2::SendMessageRequest {
            messages: msgs[..2].to_vec(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.entries.iter().map(|e| e.offset).collect::<Vec<_>>(),
        vec![0, 1]
    );

    // TagA: exactly the even ones, with their properties.
    let (status, got) = receive(&mut f, "Orders", "TagA", Duration::from_secs(30)).await;
    assert_eq!(status, v2::Code::Ok as i32);
    let ids: Vec<String> = got
        .iter()
        .map(|m| m.system_properties.as_ref().unwrap().message_id.clone())
        .collect();
    assert_eq!(ids, ["ID0000", "ID0002", "ID0004", "ID0006", "ID0008"]);
    let first = &got[0];
    let sp = first.system_properties.as_ref().unwrap();
    assert_eq!(sp.tag.as_deref(), Some("TagA"));
    assert_eq!(sp.keys, vec!["key-ID0000".to_owned()]);
    assert_eq!(sp.delivery_attempt, Some(1));
    assert_eq!(sp.body_encoding, v2::Encoding::Identity as i32);
    assert_eq!(
        first.user_properties.get("order").map(String::as_str),
        Some("ID0000")
    );
    assert_eq!(first.body, Bytes::from_static(b"body-0"));

    // Ack four; the fifth comes back after its invisible time, attempt 2.
    assert_eq!(ack(&mut f, "Orders", &got[..4]).await, vec![20000; 4]);
    let (status, none) = receive(&mut f, "Orders", "TagA", Duration::from_secs(30)).await;
    assert_eq!((status, none.len()), (v2::Code::MessageNotFound as i32, 0));
    // Re-receive with a short invisible time: ack nothing, wait for it back.
    let stale = got[4].clone();
    let (_, more) = receive(&mut f, "Orders", "TagA", Duration::from_secs(30)).await;
    assert!(more.is_empty());
    let mut c = client(&d.broker(leader).unwrap().client_addr().to_string()).await;
    let cid = c
        .change_invisible_duration(req(v2::ChangeInvisibleDurationRequest {
            group: res("GroupA"),
            topic: res("Orders"),
            receipt_handle: stale
                .system_properties
                .as_ref()
                .unwrap()
                .receipt_handle
                .clone()
                .unwrap(),
            invisible_duration: Some(prost_types::Duration {
                seconds: 0,
                nanos: 200_000_000,
            }),
            message_id: "ID0008".into(),
            lite_topic: None,
            suspend: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&cid.status), v2::Code::Ok as i32, "{:?}", cid.status);
    let (status, back) = receive(&mut c, "Orders", "TagA", Duration::from_secs(30)).await;
    assert_eq!(status, v2::Code::Ok as i32);
    assert_eq!(back.len(), 1);
    let sp = back[0].system_properties.as_ref().unwrap();
    assert_eq!(sp.message_id, "ID0008");
    assert_eq!(sp.delivery_attempt, Some(2));
    // The first handle is stale now; the new one acks.
    assert_eq!(
        ack(&mut c, "Orders", std::slice::from_ref(&stale)).await,
        vec![v2::Code::InvalidReceiptHandle as i32]
    );
    assert_eq!(ack(&mut c, "Orders", &back).await, vec![20000]);

    // Bad input: the right code, nothing stored.
    let forged = v2::AckMessageRequest {
        group: res("GroupA"),
        topic: res("Orders"),
        entries: vec![v2::AckMessageEntry {
            message_id: "x".into(),
            receipt_handle: "00ff".into(),
            lite_topic: None,
        }],
    };
    let r = c.ack_message(req(forged)).await.unwrap().into_inner();
    assert_eq!(
        code(&r.entries[0].status),
        v2::Code::InvalidReceiptHandle as i32
    );
    let big = message("Orders", "BIG", "TagA", 0, &"x".repeat(5 << 20));
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![big],
        }))
        .await;
    // Over the request size the server takes, or refused by size: either
    // way, not stored.
    if let Ok(r) = r {
        assert_eq!(
            code(&r.into_inner().status),
            v2::Code::MessageBodyTooLarge as i32
        );
    }
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![message("bad topic", "B1", "TagA", 0, "x")],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&r.status), v2::Code::IllegalTopic as i32);
    let mut no_id = tonic::Request::new(v2::SendMessageRequest {
        messages: vec![message("Orders", "N1", "TagA", 0, "x")],
    });
    no_id.metadata_mut().remove("x-mq-client-id");
    let r = c.send_message(no_id).await.unwrap().into_inner();
    assert_eq!(code(&r.status), v2::Code::ClientIdRequired as i32);
    let (status, _) = {
        let mut bad_group = c.clone();
        let mut s = bad_group
            .receive_message(req(v2::ReceiveMessageRequest {
                group: res("bad group"),
                message_queue: Some(v2::MessageQueue {
                    topic: res("Orders"),
                    ..Default::default()
                }),
                batch_size: 1,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        let mut status = -1;
        while let Some(f) = s.message().await.unwrap() {
            if let Some(v2::receive_message_response::Content::Status(st)) = f.content {
                status = st.code;
            }
        }
        (status, ())
    };
    assert_eq!(status, v2::Code::IllegalConsumerGroup as i32);
    let q0 = d
        .broker(leader)
        .unwrap()
        .node()
        .store()
        .queue_offsets("Orders", 0);
    assert_eq!(q0.1 .0, 10, "refused sends stored nothing");

    // Offsets: END, and a committed group offset read back.
    let end = c
        .query_offset(req(v2::QueryOffsetRequest {
            message_queue: Some(v2::MessageQueue {
                topic: res("Orders"),
                id: 0,
                ..Default::default()
            }),
            query_offset_policy: v2::QueryOffsetPolicy::End.into(),
            timestamp: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(end.offset, 10);
    let bad = c
        .update_offset(req(v2::UpdateOffsetRequest {
            group: res("Pullers"),
            message_queue: Some(v2::MessageQueue {
                topic: res("Orders"),
                id: 0,
                ..Default::default()
            }),
            offset: 11,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&bad.status), v2::Code::IllegalOffset as i32);

    // The group's progress, committed through Raft in the background: every
    // TagA message acked and every TagB one filtered out, so no lag.
    let mut admin = raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient::connect(
        format!("http://{}", d.broker(follower).unwrap().client_addr()),
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let p = admin
            .consumer_progress(raftmq_proto::admin::v1::ConsumerProgressRequest {
                group: "GroupA".into(),
                topic: "Orders".into(),
            })
            .await;
        if let Ok(p) = p {
            let q0 = p.into_inner().queues.into_iter().find(|q| q.queue_id == 0);
            if q0.as_ref().is_some_and(|q| q.consumer_offset == 10) {
                let q0 = q0.unwrap();
                assert_eq!((q0.broker_offset, q0.lag), (10, 0));
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "progress not committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    d.shutdown().await;
}

/// Raw bytes as a gRPC message, to send what no client would.
#[derive(Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;
struct RawDecoder;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_request_bodies_are_refused_and_change_nothing() {
    let d = LocalDeployment::start(3).await.expect("start");
    let leader = d
        .wait_for_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let addr = format!("http://{}", d.broker(leader).unwrap().client_addr());
    let channel = tonic::transport::Endpoint::from_shared(addr)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    let garbage: Vec<Vec<u8>> = vec![
        vec![0xff; 64],
        vec![0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
        b"\x0a\x05short".to_vec(),
    ];
    for body in garbage {
        grpc.ready().await.unwrap();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(
            "/apache.rocketmq.v2.MessagingService/SendMessage",
        );
        let r: Result<tonic::Response<Vec<u8>>, tonic::Status> =
            grpc.unary(req(body), path, RawCodec).await;
        let e = r.expect_err("garbage must be refused");
        assert!(
            matches!(
                e.code(),
                tonic::Code::Internal | tonic::Code::InvalidArgument
            ),
            "{e}"
        );
    }
    // The member still serves, and nothing was stored.
    let mut c = client(&d.broker(leader).unwrap().client_addr().to_string()).await;
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![message("AfterGarbage", "G1", "TagA", 0, "ok")],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&r.status), v2::Code::Ok as i32);
    assert_eq!(r.entries[0].offset, 0);
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_never_acked_goes_to_the_dead_letter_topic_after_its_last_attempt() {
    let d = LocalDeployment::start(3).await.expect("start");
    let leader = d
        .wait_for_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let mut c = client(&d.broker(leader).unwrap().client_addr().to_string()).await;
    let sent = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![
                message("Doomed", "D1", "TagA", 0, "never acked"),
                message("Doomed", "D2", "TagA", 0, "sent to the DLQ by the client"),
            ],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&sent.status), v2::Code::Ok as i32);

    // D2: the client gives up on it at once.
    let (_, first) = receive(&mut c, "Doomed", "*", Duration::from_millis(50)).await;
    let d2 = first
        .iter()
        .find(|m| m.system_properties.as_ref().unwrap().message_id == "D2")
        .expect("D2 delivered")
        .clone();
    let fwd = c
        .forward_message_to_dead_letter_queue(req(v2::ForwardMessageToDeadLetterQueueRequest {
            group: res("GroupA"),
            topic: res("Doomed"),
            receipt_handle: d2
                .system_properties
                .as_ref()
                .unwrap()
                .receipt_handle
                .clone()
                .unwrap(),
            message_id: "D2".into(),
            delivery_attempt: 1,
            max_delivery_attempts: 17,
            lite_topic: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&fwd.status), v2::Code::Ok as i32, "{:?}", fwd.status);

    // D1: delivered again and again with a short invisible time, never
    // acked; after the 17th attempt it is in %DLQ%GroupA, not redelivered.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last_attempt = 1;
    loop {
        let (_, got) = receive(&mut c, "Doomed", "*", Duration::from_millis(50)).await;
        if let Some(m) = got
            .iter()
            .find(|m| m.system_properties.as_ref().unwrap().message_id == "D1")
        {
            last_attempt = m
                .system_properties
                .as_ref()
                .unwrap()
                .delivery_attempt
                .unwrap();
        }
        let in_dlq = d
            .broker(leader)
            .unwrap()
            .node()
            .store()
            .queue_offsets("%DLQ%GroupA", 0)
            .1
             .0;
        if in_dlq == 2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not dead-lettered; last attempt {last_attempt}, {in_dlq} in the DLQ"
        );
    }
    assert_eq!(last_attempt, 17, "the last delivery was attempt 17");
    let (status, none) = receive(&mut c, "Doomed", "*", Duration::from_secs(30)).await;
    assert_eq!((status, none.len()), (v2::Code::MessageNotFound as i32, 0));
    // The dead letters can be read from their topic, with the original body.
    let mut dlq = c.clone();
    let mut s = dlq
        .receive_message(req(v2::ReceiveMessageRequest {
            group: res("DlqReader"),
            message_queue: Some(v2::MessageQueue {
                topic: res("%DLQ%GroupA"),
                ..Default::default()
            }),
            batch_size: 10,
            long_polling_timeout: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut bodies = Vec::new();
    while let Some(f) = s.message().await.unwrap() {
        if let Some(v2::receive_message_response::Content::Message(m)) = f.content {
            bodies.push(m.body);
        }
    }
    bodies.sort();
    assert_eq!(
        bodies,
        vec![
            Bytes::from_static(b"never acked"),
            Bytes::from_static(b"sent to the DLQ by the client")
        ]
    );
    d.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_create_an_unknown_topic_is_not_found_and_not_created() {
    let d = LocalDeployment::start_with(raftmq_embedded::LocalOptions {
        auto_create_topics: false,
        ..raftmq_embedded::LocalOptions::default()
    })
    .await
    .expect("start");
    let leader = d
        .wait_for_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let mut ns = client(&d.namesrv_addr()).await;
    let mut c = client(&d.broker(leader).unwrap().client_addr().to_string()).await;
    // Once the members registered (so the nameserver knows auto-create is off).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while d.namesrv().registry().lock().cluster_list().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "no registration");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = ns
        .query_route(req(v2::QueryRouteRequest {
            topic: res("Unknown"),
            endpoints: None,
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&r.status), v2::Code::TopicNotFound as i32);
    let r = c
        .send_message(req(v2::SendMessageRequest {
            messages: vec![message("Unknown", "U1", "TagA", 0, "x")],
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(code(&r.status), v2::Code::TopicNotFound as i32);
    assert!(d
        .broker(leader)
        .unwrap()
        .node()
        .store()
        .topic("Unknown")
        .is_none());
    d.shutdown().await;
}

/// EndTransaction through `c` for `id` of message `message_id`.
async fn end(
    c: &mut MessagingServiceClient<Channel>,
    message_id: &str,
    id: &str,
    resolution: v2::TransactionResolution,
) -> (i32, String) {
    let r = c
        .end_transaction(req(v2::EndTransactionRequest {
            topic: res("Txns"),
            message_id: message_id.into(),
            transaction_id: id.into(),
            resolution: resolution.into(),
            source: v2::TransactionSource::SourceClient.into(),
            ..Default::default()
        }))
        .await
        .expect("end transaction")
        .into_inner();
    let s = r.status.unwrap_or_default();
    (s.code, s.message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_messages_retried_and_ended_every_way_on_the_raw_protocol() {
    use v2::TransactionResolution::{Commit, Rollback, Unspecified};

    let d = LocalDeployment::start(3).await.expect("start");
    let leader = d
        .wait_for_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let follower = (0..3).find(|i| *i != leader).unwrap();
    let f_addr = d.broker(follower).unwrap().client_addr().to_string();
    let mut f = client(&f_addr).await;
    let half = |id: &str| {
        let mut m = message("Txns", id, "TagA", 0, id);
        if let Some(sp) = m.system_properties.as_mut() {
            sp.message_type = v2::MessageType::Transaction.into();
        }
        m
    };
    let sender = f.clone();
    let send = |msgs: Vec<v2::Message>| {
        let mut f = sender.clone();
        async move {
            f.send_message(req(v2::SendMessageRequest { messages: msgs }))
                .await
                .expect("send")
                .into_inner()
        }
    };
    // A normal message first, so the queue exists and has an entry after
    // which a half message's position would sort.
    let normal = send(vec![message("Txns", "N0", "TagA", 0, "normal")]).await;
    assert_eq!(
        code(&normal.status),
        v2::Code::Ok as i32,
        "{:?}",
        normal.status
    );
    let first = send(vec![half("H1"), half("H2"), half("H3")]).await;
    assert_eq!(
        code(&first.status),
        v2::Code::Ok as i32,
        "{:?}",
        first.status
    );
    let ids: Vec<String> = first
        .entries
        .iter()
        .map(|e| e.transaction_id.clone())
        .collect();
    assert!(ids.iter().all(|t| !t.is_empty()), "{ids:?}");

    // Retried (same message ids): the same transaction ids, nothing stored
    // twice.
    let again = send(vec![half("H1"), half("H2")]).await;
    let again_ids: Vec<String> = again
        .entries
        .iter()
        .map(|e| e.transaction_id.clone())
        .collect();
    assert_eq!(again_ids, ids[..2].to_vec());

    let invalid = v2::Code::InvalidTransactionId as i32;
    let ok = v2::Code::Ok as i32;
    // Bad input changes nothing.
    assert_eq!(end(&mut f, "H1", "garbage", Commit).await.0, invalid);
    assert_eq!(end(&mut f, "H1", "999999.0", Commit).await.0, invalid);
    let (c, why) = end(&mut f, "H2", &ids[0], Commit).await;
    assert_eq!(c, invalid, "another message's transaction: {why}");
    assert_eq!(
        end(&mut f, "H1", &ids[0], Unspecified).await.0,
        v2::Code::BadRequest as i32
    );
    // Ends through a follower (forwarded), each once; a repeat of the
    // answer is OK, another answer is refused and the first stands.
    assert_eq!(end(&mut f, "H1", &ids[0], Commit).await.0, ok);
    assert_eq!(end(&mut f, "H1", &ids[0], Commit).await.0, ok);
    let (c, why) = end(&mut f, "H1", &ids[0], Rollback).await;
    assert_eq!(c, invalid);
    assert!(why.contains("committed already"), "{why}");
    assert_eq!(end(&mut f, "H2", &ids[1], Rollback).await.0, ok);
    let (c, why) = end(&mut f, "H2", &ids[1], Commit).await;
    assert_eq!(c, invalid);
    assert!(why.contains("rolled back already"), "{why}");
    // A half message with a delivery time or a message group is refused.
    for (what, m) in [
        ("delivery time", {
            let mut m = half("H9");
            m.system_properties.as_mut().unwrap().delivery_timestamp =
                Some(prost_types::Timestamp {
                    seconds: 4_000_000_000,
                    nanos: 0,
                });
            m
        }),
        ("message group", {
            let mut m = half("H9");
            m.system_properties.as_mut().unwrap().message_group = Some("g".into());
            m
        }),
    ] {
        let r = send(vec![m]).await;
        assert_eq!(
            code(&r.entries[0].status),
            v2::Code::MessagePropertyConflictWithType as i32,
            "{what}: {:?}",
            r.entries[0].status
        );
    }

    // Only the normal message and the committed one reach the queue.
    let (_, got) = receive(&mut f, "Txns", "*", Duration::from_secs(30)).await;
    let mut got: Vec<String> = got
        .iter()
        .map(|m| m.system_properties.as_ref().unwrap().message_id.clone())
        .collect();
    got.sort();
    assert_eq!(got, vec!["H1".to_owned(), "N0".to_owned()]);
    d.shutdown().await;
}
