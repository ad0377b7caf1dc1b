//! Faults injected into members through `BrokerAdmin.InjectFault`, the hook
//! the fault suite uses on real processes: a leader cut off from its peers
//! loses the group to the others and follows once healed; a full disk
//! refuses sends with a clear status and takes them again once space is
//! back, with no restart.

use std::time::{Duration, Instant};

use bytes::Bytes;
use raftmq_embedded::{LocalDeployment, LocalOptions};
use raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient;
use raftmq_proto::admin::v1::InjectFaultRequest;
use raftmq_proto::rocketmq::v2;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;

fn send_request(id: &str) -> tonic::Request<v2::SendMessageRequest> {
    let mut r = tonic::Request::new(v2::SendMessageRequest {
        messages: vec![v2::Message {
            topic: Some(v2::Resource {
                resource_namespace: String::new(),
                name: "Faults".into(),
            }),
            user_properties: Default::default(),
            system_properties: Some(v2::SystemProperties {
                message_id: id.into(),
                ..Default::default()
            }),
            body: Bytes::from_static(b"x"),
        }],
    });
    r.metadata_mut()
        .insert("x-mq-client-id", "faults@1".parse().unwrap());
    r
}

/// Sends until the group answers (a leader change in flight answers
/// UNAVAILABLE, which clients retry); returns the answer's status.
async fn send(
    c: &mut MessagingServiceClient<tonic::transport::Channel>,
    id: &str,
) -> (v2::Status, Vec<v2::SendResultEntry>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match c.send_message(send_request(id)).await {
            Ok(r) => {
                let r = r.into_inner();
                if let Some(status) = r.status {
                    return (status, r.entries);
                }
            }
            Err(e) => assert!(
                Instant::now() < deadline && e.code() == tonic::Code::Unavailable,
                "send {id}: {e}"
            ),
        }
        assert!(Instant::now() < deadline, "send {id}: no answer");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolation_and_a_full_disk_are_injected_and_undone() {
    let d = LocalDeployment::start_with(LocalOptions {
        fault_injection: true,
        ..LocalOptions::default()
    })
    .await
    .expect("start");
    let leader = d
        .wait_for_leader(Duration::from_secs(5))
        .await
        .expect("leader");
    let addr = |id: u64| format!("http://{}", d.broker(id).unwrap().client_addr());
    let mut admin = BrokerAdminClient::connect(addr(leader)).await.unwrap();

    // Cut the leader off: the other two elect one of them.
    admin
        .inject_fault(InjectFaultRequest {
            isolate: Some(true),
            disk_used_percent: None,
            allocation_fails: None,
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let new_leader = loop {
        let others: Vec<u64> = (0..3)
            .filter(|id| *id != leader && d.broker(*id).unwrap().node().is_leader())
            .collect();
        if let Some(l) = others.first() {
            break *l;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader while the old one is cut off"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    admin
        .inject_fault(InjectFaultRequest {
            isolate: Some(false),
            disk_used_percent: None,
            allocation_fails: None,
        })
        .await
        .unwrap();
    // Healed, the group settles on one leader (the old one may have stood
    // for election while cut off, so it is not necessarily `new_leader`).
    let _ = new_leader;
    let deadline = Instant::now() + Duration::from_secs(5);
    let settled = loop {
        let leaders: Vec<u64> = (0..3)
            .filter(|id| d.broker(*id).unwrap().node().is_leader())
            .collect();
        if leaders.len() == 1 && d.broker(leaders[0]).unwrap().node().leader() == Some(leaders[0]) {
            break leaders[0];
        }
        assert!(Instant::now() < deadline, "no single leader after healing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };

    // A full disk on every member: sends refused with a clear status,
    // then taken again once space is back, with no restart.
    let mut c = MessagingServiceClient::connect(addr(settled))
        .await
        .unwrap();
    let (status, _) = send(&mut c, "M1").await;
    assert_eq!(status.code, v2::Code::Ok as i32, "{status:?}");
    let set_disk = |percent: i32| {
        let addrs: Vec<String> = (0..3).map(addr).collect();
        async move {
            for a in addrs {
                BrokerAdminClient::connect(a)
                    .await
                    .unwrap()
                    .inject_fault(InjectFaultRequest {
                        isolate: None,
                        disk_used_percent: Some(percent),
                        allocation_fails: None,
                    })
                    .await
                    .unwrap();
            }
        }
    };
    // The deployment refuses at 100% (`LocalOptions`).
    set_disk(100).await;
    let (status, entries) = send(&mut c, "M2").await;
    // A refusal the clients do not retry (a 4xxxx code, not an internal
    // error), naming the disk and what to do.
    let refused = entries[0].status.clone().expect("an entry status");
    assert_eq!(
        refused.code,
        v2::Code::PreconditionFailed as i32,
        "{refused:?}"
    );
    assert_eq!(status.code, refused.code, "{status:?}");
    for part in ["disk full", "% used", "diskSpaceWarningLevelRatio"] {
        assert!(refused.message.contains(part), "{}", refused.message);
    }
    set_disk(-1).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, entries) = send(&mut c, "M2").await;
        if status.code == v2::Code::Ok as i32 {
            assert_eq!(entries[0].offset, 1, "the refused send stored nothing");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sends did not resume: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.shutdown().await;
}
