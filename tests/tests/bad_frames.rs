//! Bad input over the network: a nameserver and a three-member group as real
//! processes, and at a broker's client port (gRPC, `MessagingService`), a
//! broker's Raft port (`RaftService`) and the nameserver's port, in turn:
//!
//! - raw TCP: random bytes; the HTTP/2 preface then random bytes; the
//!   preface, SETTINGS and a HEADERS frame whose HPACK block cannot decode;
//! - over a valid HTTP/2 connection (the `h2` crate), gRPC requests whose
//!   5-byte prefix claims 0xFFFFFFF0 bytes (ended, and cut off by closing the
//!   connection), claims 1000 bytes and brings 10, claims exactly the
//!   server's limit and brings 10, is larger than the server's limit for
//!   real (20 MiB at the nameserver, 65 MiB at the broker), sets the
//!   compressed flag without `grpc-encoding`, sets an unknown flag, claims
//!   gzip and brings garbage, has no message at all, or names no method;
//! - protobuf garbage in valid frames for SendMessage and AppendEntries, and
//!   AppendEntries requests that decode but lie (an `entry_count` of
//!   u32::MAX with no entries, garbage entries).
//!
//! Every call must end with the gRPC status the protocol prescribes (or the
//! connection must be closed) within a few seconds. Afterwards every port of
//! every process must still answer a well-formed call, every process must
//! still run, none may have logged a panic, and the group must still serve:
//! a message sent with the SDK is read back with a SimpleConsumer.

mod frames;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use frames::{call, grpc_frame, h2_frame, raw, Outcome, PREFACE};
use prost::Message as _;
use raftmq_client::sdk::{ClientConfig, FilterExpression, Message, Producer, SimpleConsumer};
use raftmq_proto::raft::v1 as raft_pb;
use raftmq_proto::rocketmq::v2;
use raftmq_tests::{bin, cluster_list, free_ports, mqadmin, wait_for, MemberConf, Proc};
use tonic::Code;

/// The broker's client port decode limit: max(2 x maxMessageSize, 64 MiB)
/// (broker/src/broker.rs), 64 MiB with the default maxMessageSize.
const BROKER_LIMIT: usize = 64 << 20;
/// The nameserver's: tonic's default.
const NAMESRV_LIMIT: usize = 4 << 20;
/// The Raft port's: `raftmq_raft::node::MAX_RPC_BYTES`.
const RAFT_LIMIT: usize = 256 << 20;
const SEND: &str = "/apache.rocketmq.v2.MessagingService/SendMessage";
const QUERY_ROUTE: &str = "/apache.rocketmq.v2.MessagingService/QueryRoute";
const APPEND: &str = "/raftmq.raft.v1.RaftService/AppendEntries";
const PROPOSE: &str = "/raftmq.raft.v1.RaftService/Propose";
/// The header the client protocol requires on every call.
const CLIENT_ID: &[(&str, &str)] = &[("x-mq-client-id", "bad-frames-test")];

/// xorshift64*: deterministic garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A nameserver and a three-member group, killed on drop.
struct Group {
    _dir: tempfile::TempDir,
    namesrv: String,
    client: Vec<SocketAddr>,
    raft: Vec<SocketAddr>,
    procs: Vec<Proc>,
}

impl Group {
    fn start() -> Group {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(7);
        let namesrv = format!("127.0.0.1:{}", ports[0]);
        let ns_conf = dir.path().join("namesrv.conf");
        std::fs::write(
            &ns_conf,
            format!("listenPort={}\nbindAddress=127.0.0.1\n", ports[0]),
        )
        .expect("write the nameserver conf");
        let mut cmd = Command::new(bin("mqnamesrv"));
        cmd.arg("-c").arg(&ns_conf);
        let mut procs = vec![Proc::spawn("namesrv", cmd, &dir.path().join("namesrv.log"))];
        let (client, raft) = (&ports[1..4], &ports[4..7]);
        for id in 0..3 {
            procs.push(start_broker(dir.path(), id, client, raft, &namesrv));
        }
        let addr = |p: &u16| SocketAddr::from(([127, 0, 0, 1], *p));
        let group = Group {
            namesrv,
            client: client.iter().map(addr).collect(),
            raft: raft.iter().map(addr).collect(),
            procs,
            _dir: dir,
        };
        wait_for(
            "three members and a leader",
            Duration::from_secs(30),
            || {
                let rows = cluster_list(&group.namesrv)?;
                (rows.len() == 3 && rows.iter().any(|r| r.bid == 0)).then_some(())
            },
        );
        group
    }

    /// Panics naming every process that exited or logged a panic.
    fn assert_all_healthy(&mut self, after: &str) {
        let mut bad = Vec::new();
        for (i, p) in self.procs.iter_mut().enumerate() {
            let name = if i == 0 {
                "namesrv".to_owned()
            } else {
                format!("broker n{}", i - 1)
            };
            let log = p.log();
            if let Some(status) = p.exited() {
                bad.push(format!(
                    "{name} exited ({status}) after {after}; log:\n{log}"
                ));
            } else if log.contains("panicked") {
                bad.push(format!("{name} panicked after {after}; log:\n{log}"));
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n\n"));
    }
}

fn start_broker(dir: &Path, id: usize, client: &[u16], raft: &[u16], namesrv: &str) -> Proc {
    let store = dir.join(format!("node0{id}"));
    let conf = dir.join(format!("broker-n{id}.conf"));
    let text = MemberConf {
        group: "RaftNode00",
        id,
        client_ports: client,
        raft_ports: raft,
        namesrv,
        store: &store,
    }
    .text();
    std::fs::write(&conf, text).expect("write a broker conf");
    let mut cmd = Command::new(bin("mqbroker"));
    cmd.arg("-c").arg(&conf);
    Proc::spawn(
        &format!("broker n{id}"),
        cmd,
        &dir.join(format!("broker-n{id}.log")),
    )
}

/// One port under attack.
struct Target {
    name: &'static str,
    addr: SocketAddr,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    limit: usize,
}

/// Logs an attack's outcome (shown when the test fails) and checks it;
/// returns a line for the failures.
fn judge(what: &str, t: &Target, got: &Outcome, ok: impl Fn(&Outcome) -> bool) -> Option<String> {
    eprintln!("{}: {what}: {got}", t.name);
    (!ok(got)).then(|| format!("{} ({}): {what}: got {got}", t.name, t.addr))
}

fn too_large(o: &Outcome) -> bool {
    matches!(o.code(), Some(Code::OutOfRange | Code::ResourceExhausted))
}

fn internal(o: &Outcome) -> bool {
    o.code() == Some(Code::Internal)
}

/// One gRPC attack: what it is, the method, the headers, the body, and
/// the outcome it must have.
type Case<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    Bytes,
    fn(&Outcome) -> bool,
);

/// The framing attacks every gRPC port gets.
async fn framing_attacks(t: &Target, rng: &mut Rng) -> Vec<String> {
    let mut failures = Vec::new();
    let huge = grpc_frame(0, 0xFFFF_FFF0, &rng.bytes(100));
    // Cut off: the connection closes right after the prefix.
    let got = frames::cut_off(t.addr, t.path, t.headers, &huge).await;
    if !got.closed {
        failures.push(format!(
            "{} ({}): a prefix claiming 0xFFFFFFF0 bytes, then a close: connection left open",
            t.name, t.addr
        ));
    }

    let mut gzip = t.headers.to_vec();
    gzip.push(("grpc-encoding", "gzip"));
    let mut two = BytesMut::new();
    two.put(grpc_frame(0, 0, &[]));
    two.put(grpc_frame(0, 0, &[]));
    let cases: Vec<Case<'_>> = vec![
        (
            "a prefix claiming 0xFFFFFFF0 bytes, then END_STREAM",
            t.path,
            t.headers,
            huge,
            too_large,
        ),
        (
            "a prefix claiming 1000 bytes with 10 sent, then END_STREAM",
            t.path,
            t.headers,
            grpc_frame(0, 1000, &rng.bytes(10)),
            internal,
        ),
        (
            "a prefix claiming exactly the limit with 10 sent, then END_STREAM",
            t.path,
            t.headers,
            grpc_frame(0, t.limit, &rng.bytes(10)),
            internal,
        ),
        (
            "the compressed flag without grpc-encoding",
            t.path,
            t.headers,
            grpc_frame(1, 16, &rng.bytes(16)),
            |o| matches!(o, Outcome::Status(Code::Internal, m) if m.contains("compressed-flag")),
        ),
        (
            "an unknown compressed flag (7)",
            t.path,
            t.headers,
            grpc_frame(7, 16, &rng.bytes(16)),
            internal,
        ),
        (
            "grpc-encoding gzip with a body that is not gzip",
            t.path,
            &gzip,
            grpc_frame(1, 64, &rng.bytes(64)),
            |o| matches!(o.code(), Some(Code::Unimplemented | Code::Internal)),
        ),
        (
            "no message at all",
            t.path,
            t.headers,
            Bytes::new(),
            internal,
        ),
        (
            // tonic decodes the first message and drains the rest: the call
            // completes with the handler's answer, whatever it is.
            "two empty messages in a unary call",
            t.path,
            t.headers,
            two.freeze(),
            |o| matches!(o, Outcome::Status(..)),
        ),
        (
            "a method that does not exist",
            "/no.Such/Method",
            t.headers,
            grpc_frame(0, 0, &[]),
            |o| o.code() == Some(Code::Unimplemented),
        ),
    ];
    for (what, path, headers, body, ok) in cases {
        let got = call(t.addr, path, headers, body).await;
        failures.extend(judge(what, t, &got, ok));
    }
    failures
}

/// A message over the limit, sent for real.
async fn oversized(t: &Target, size: usize) -> Option<String> {
    assert!(size > t.limit);
    let body = grpc_frame(0, size, &vec![0x5a; size]);
    let got = call(t.addr, t.path, t.headers, body).await;
    judge(&format!("a {size}-byte message"), t, &got, too_large)
}

/// Protobuf garbage in valid frames; `decodes` says whether prost takes it,
/// and `when_decoded` what the service answers then.
async fn protobuf_garbage(
    t: &Target,
    rng: &mut Rng,
    decodes: impl Fn(&[u8]) -> bool,
    when_decoded: impl Fn(&Outcome) -> bool,
) -> Vec<String> {
    let mut failures = Vec::new();
    for size in [1, 7, 64, 300, 4096, 70_000] {
        let payload = rng.bytes(size);
        let got = call(t.addr, t.path, t.headers, grpc_frame(0, size, &payload)).await;
        let decoded = decodes(&payload);
        eprintln!(
            "{}: {size} bytes of protobuf garbage (decodes: {decoded}): {got}",
            t.name
        );
        let ok = if decoded {
            when_decoded(&got)
        } else {
            // tonic: "failed to decode Protobuf message".
            got.code() == Some(Code::Internal)
        };
        if !ok {
            failures.push(format!(
                "{} ({}): {size} bytes of protobuf garbage: got {got}",
                t.name, t.addr
            ));
        }
    }
    failures
}

/// AppendEntries requests that decode but lie about their entries.
async fn lying_appends(t: &Target, rng: &mut Rng) -> Vec<String> {
    let vote = Some(raft_pb::Vote {
        leader_id: Some(raft_pb::LeaderId {
            term: 1,
            node_id: 0,
        }),
        committed: false,
    });
    let cases = [
        (
            "entry_count u32::MAX with no entries",
            Bytes::new(),
            u32::MAX,
        ),
        (
            "entry_count 0xFFFFFFF0 with 64 bytes of garbage entries",
            Bytes::from(rng.bytes(64)),
            0xFFFF_FFF0,
        ),
        ("one garbage entry", Bytes::from(rng.bytes(200)), 1),
    ];
    let mut failures = Vec::new();
    for (what, entries, entry_count) in cases {
        let request = raft_pb::AppendEntriesRequest {
            vote,
            prev_log_id: None,
            leader_commit: None,
            entries,
            entry_count,
        };
        let payload = request.encode_to_vec();
        let got = call(
            t.addr,
            t.path,
            t.headers,
            grpc_frame(0, payload.len(), &payload),
        )
        .await;
        failures.extend(judge(what, t, &got, |o| {
            o.code() == Some(Code::InvalidArgument)
        }));
    }
    failures
}

/// The raw TCP attacks every port gets.
async fn raw_attacks(name: &str, addr: SocketAddr, rng: &mut Rng) -> Vec<String> {
    let mut failures = Vec::new();
    for size in [1, 23, 4096, 256 << 10] {
        let got = raw(addr, &rng.bytes(size)).await;
        if !got.closed {
            failures.push(format!(
                "{name} ({addr}): {size} random bytes: connection left open"
            ));
        }
    }
    let mut preface = PREFACE.to_vec();
    preface.extend(rng.bytes(4096));
    let got = raw(addr, &preface).await;
    if !got.closed {
        failures.push(format!(
            "{name} ({addr}): the preface and 4096 random bytes: connection left open"
        ));
    }
    // An indexed header field whose index overflows the HPACK integer: a
    // connection error, PROTOCOL_ERROR (0x1) or COMPRESSION_ERROR (0x9).
    let mut hpack = PREFACE.to_vec();
    hpack.extend(h2_frame(0x4, 0, 0, &[]));
    hpack.extend(h2_frame(0x1, 0x4 | 0x1, 1, &[0xff; 12]));
    let got = raw(addr, &hpack).await;
    eprintln!("{name}: HEADERS with an undecodable HPACK block: {got:?}");
    if !got.closed || !matches!(got.goaway, Some(0x1 | 0x9)) {
        failures.push(format!(
            "{name} ({addr}): HEADERS with an HPACK block that cannot decode: {got:?}, \
             expected a GOAWAY with PROTOCOL_ERROR or COMPRESSION_ERROR and a close"
        ));
    }
    failures
}

/// After the attacks, every port still answers a well-formed call with an
/// empty message: the Raft ports refuse it (no vote), the client ports and
/// the nameserver answer it.
async fn every_port_answers(group: &Group) -> Vec<String> {
    let mut targets = Vec::new();
    for (i, addr) in group.raft.iter().enumerate() {
        targets.push((
            format!("n{i} Raft port"),
            *addr,
            APPEND,
            Some(Code::InvalidArgument),
        ));
    }
    for (i, addr) in group.client.iter().enumerate() {
        // SendMessage without messages: a business status in an OK call.
        targets.push((format!("n{i} client port"), *addr, SEND, Some(Code::Ok)));
    }
    let namesrv = group.namesrv.parse().expect("nameserver address");
    targets.push(("nameserver".to_owned(), namesrv, QUERY_ROUTE, None));
    let mut failures = Vec::new();
    for (name, addr, path, want) in targets {
        let got = call(addr, path, CLIENT_ID, grpc_frame(0, 0, &[])).await;
        let ok = match want {
            Some(code) => got.code() == Some(code),
            None => got.code().is_some(),
        };
        if !ok {
            failures.push(format!("{name} ({addr}) after the attacks: got {got}"));
        }
    }
    failures
}

#[test]
fn bad_frames_crash_and_wedge_no_process() {
    let started = Instant::now();
    let mut group = Group::start();
    let up = started.elapsed();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");

    let broker = Target {
        name: "broker n0 client port",
        addr: group.client[0],
        path: SEND,
        headers: CLIENT_ID,
        limit: BROKER_LIMIT,
    };
    let raft = Target {
        name: "broker n1 Raft port",
        addr: group.raft[1],
        path: APPEND,
        headers: &[],
        limit: RAFT_LIMIT,
    };
    let namesrv_addr: SocketAddr = group.namesrv.parse().expect("nameserver address");
    let namesrv = Target {
        name: "nameserver",
        addr: namesrv_addr,
        path: QUERY_ROUTE,
        headers: CLIENT_ID,
        limit: NAMESRV_LIMIT,
    };

    let mut failures = Vec::new();
    let mut rng = Rng(0x0bad_f4a3);
    rt.block_on(async {
        for t in [&broker, &raft, &namesrv] {
            failures.extend(raw_attacks(t.name, t.addr, &mut rng).await);
            failures.extend(framing_attacks(t, &mut rng).await);
        }
        failures.extend(oversized(&namesrv, 20 << 20).await);
        failures.extend(oversized(&broker, BROKER_LIMIT + (1 << 20)).await);
        failures.extend(
            protobuf_garbage(
                &broker,
                &mut rng,
                |b| v2::SendMessageRequest::decode(b).is_ok(),
                // Decoded garbage is a SendMessage that fails its checks: a
                // business status in an OK call.
                |o| o.code() == Some(Code::Ok),
            )
            .await,
        );
        failures.extend(
            protobuf_garbage(
                &raft,
                &mut rng,
                |b| raft_pb::AppendEntriesRequest::decode(b).is_ok(),
                // Decoded garbage lacks a vote or its entries are bad.
                |o| o.code() == Some(Code::InvalidArgument),
            )
            .await,
        );
        failures.extend(lying_appends(&raft, &mut rng).await);
        failures.extend(every_port_answers(&group).await);
    });
    let attacked = started.elapsed() - up;
    group.assert_all_healthy("the bad frames");
    assert!(
        failures.is_empty(),
        "unexpected answers:\n{}",
        failures.join("\n")
    );

    // The group still serves: the members still list, and a message sent
    // with the SDK reads back.
    assert_serves(&group, &rt, "AfterBadFrames");
    group.assert_all_healthy("the SDK round trip");
    eprintln!(
        "bad frames: group up in {up:?}, attacks {attacked:?}, all {:?}",
        started.elapsed()
    );
}

/// Waits for three members and a leader, creates `topic`, sends a message
/// with the SDK's Producer and reads it back with a SimpleConsumer.
fn assert_serves(group: &Group, rt: &tokio::runtime::Runtime, topic: &str) {
    wait_for(
        "three members and a leader again",
        Duration::from_secs(10),
        || {
            let rows = cluster_list(&group.namesrv)?;
            (rows.len() == 3 && rows.iter().any(|r| r.bid == 0)).then_some(())
        },
    );
    let out = mqadmin(&[
        "updateTopic",
        "-t",
        topic,
        "-c",
        "RaftCluster",
        "-n",
        &group.namesrv,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rt.block_on(async {
        let config = || {
            let mut c = ClientConfig::new(&group.namesrv).expect("nameserver address");
            c.long_polling_timeout = Duration::from_secs(1);
            c
        };
        let bounded = Duration::from_secs(15);
        let producer = tokio::time::timeout(bounded, Producer::start(config(), &[topic]))
            .await
            .expect("producer start in time")
            .expect("producer start");
        let sent = tokio::time::timeout(
            bounded,
            producer.send(Message::new(topic, "still serving").with_tag("TagA")),
        )
        .await
        .expect("send in time")
        .expect("send");
        let consumer = tokio::time::timeout(
            bounded,
            SimpleConsumer::start(config(), &format!("{topic}Group")),
        )
        .await
        .expect("consumer start in time")
        .expect("consumer start");
        tokio::time::timeout(bounded, consumer.subscribe(topic, FilterExpression::all()))
            .await
            .expect("subscribe in time")
            .expect("subscribe");
        let deadline = tokio::time::Instant::now() + bounded;
        let got = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the message did not come back"
            );
            let batch =
                tokio::time::timeout(bounded, consumer.receive(16, Duration::from_secs(30)))
                    .await
                    .expect("receive in time")
                    .expect("receive");
            if let Some(m) = batch
                .into_iter()
                .find(|m| m.message_id() == sent.message_id)
            {
                break m;
            }
        };
        assert_eq!(&got.body()[..], b"still serving");
        assert_eq!(got.tag(), Some("TagA"));
        consumer.ack(&got).await.expect("ack");
        consumer.shutdown().await;
        producer.shutdown().await;
    });
}

/// A forwarded write (`RaftService/Propose`, the Raft port) whose body is
/// not message records, or not a control command, sent to every member: the
/// leader must refuse it (INVALID_ARGUMENT), the others say they do not
/// lead, and the group must go on serving. (Before the leader checked
/// forwarded bodies, it proposed this one, every member then failed to
/// apply the entry and stopped its Raft core, restarts included.)
#[test]
fn a_forwarded_write_with_a_garbage_body_is_refused() {
    let mut group = Group::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    for kind in [raft_pb::EntryKind::Messages, raft_pb::EntryKind::Command] {
        let request = raft_pb::ProposeRequest {
            from: 0,
            kind: kind as i32,
            body: Bytes::from_static(b"this is not a message record at all"),
            count: 1,
        }
        .encode_to_vec();
        let outcomes: Vec<Outcome> = rt.block_on(async {
            let mut out = Vec::new();
            for addr in &group.raft {
                let body = grpc_frame(0, request.len(), &request);
                out.push(call(*addr, PROPOSE, &[], body).await);
            }
            out
        });
        for o in &outcomes {
            eprintln!("Propose {kind:?} with a garbage body: {o}");
        }
        assert!(
            outcomes.iter().all(|o| matches!(
                o.code(),
                Some(Code::InvalidArgument | Code::FailedPrecondition)
            )) && outcomes
                .iter()
                .any(|o| o.code() == Some(Code::InvalidArgument)),
            "{kind:?}: the leader must refuse the body, the others redirect: {outcomes:?}"
        );
    }
    group.assert_all_healthy("a garbage forwarded write");
    assert_serves(&group, &rt, "AfterGarbagePropose");
}
