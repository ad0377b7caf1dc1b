//! Checks the shape of our `apache.rocketmq.v2` protos, the contract the official
//! RocketMQ 5 clients depend on.
//!
//! The full comparison against the official Python client's compiled descriptors
//! is done outside CI: set `RAFTMQ_ROCKETMQ_V2_FDS=<path>` and this test writes
//! the `FileDescriptorSet` it compiled there, for a script to diff field by
//! field. The assertions below pin the facts that matter most, without Python.

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FileDescriptorSet, MethodDescriptorProto,
    ServiceDescriptorProto,
};
use raftmq_proto::rocketmq::v2 as pb;

const PACKAGE_DIR: &str = "apache/rocketmq/v2";
const FILES: [&str; 3] = ["definition.proto", "service.proto", "admin.proto"];

fn compile() -> FileDescriptorSet {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
    let files = FILES.map(|f| format!("{PACKAGE_DIR}/{f}"));
    protox::compile(&files, [root]).expect("apache.rocketmq.v2 protos compile")
}

fn ours(fds: &FileDescriptorSet) -> impl Iterator<Item = &prost_types::FileDescriptorProto> {
    fds.file
        .iter()
        .filter(|f| f.package() == "apache.rocketmq.v2")
}

fn message<'a>(fds: &'a FileDescriptorSet, name: &str) -> &'a DescriptorProto {
    ours(fds)
        .flat_map(|f| &f.message_type)
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("message {name} is missing"))
}

fn top_enum<'a>(fds: &'a FileDescriptorSet, name: &str) -> &'a EnumDescriptorProto {
    ours(fds)
        .flat_map(|f| &f.enum_type)
        .find(|e| e.name() == name)
        .unwrap_or_else(|| panic!("enum {name} is missing"))
}

fn service<'a>(fds: &'a FileDescriptorSet, name: &str) -> &'a ServiceDescriptorProto {
    ours(fds)
        .flat_map(|f| &f.service)
        .find(|s| s.name() == name)
        .unwrap_or_else(|| panic!("service {name} is missing"))
}

fn method<'a>(svc: &'a ServiceDescriptorProto, name: &str) -> &'a MethodDescriptorProto {
    svc.method
        .iter()
        .find(|m| m.name() == name)
        .unwrap_or_else(|| panic!("method {name} is missing"))
}

#[test]
fn descriptors_hold_the_key_facts() {
    let fds = compile();

    if let Some(path) = std::env::var_os("RAFTMQ_ROCKETMQ_V2_FDS") {
        std::fs::write(&path, fds.encode_to_vec()).expect("descriptor set written");
    }

    // SendMessageRequest.messages = 1, repeated Message.
    let send = message(&fds, "SendMessageRequest");
    let messages = &send.field[0];
    assert_eq!(
        (
            messages.name(),
            messages.number(),
            messages.label(),
            messages.r#type()
        ),
        ("messages", 1, Label::Repeated, Type::Message)
    );
    assert_eq!(messages.type_name(), ".apache.rocketmq.v2.Message");

    // A proto3 `optional` field: clients can tell "unset" from zero.
    let props = message(&fds, "SystemProperties");
    let receipt = props
        .field
        .iter()
        .find(|f| f.name() == "receipt_handle")
        .expect("receipt_handle");
    assert_eq!(receipt.number(), 12);
    assert!(receipt.proto3_optional());

    // The TelemetryCommand `command` oneof holds fields 2..=9.
    let telemetry = message(&fds, "TelemetryCommand");
    let command = telemetry
        .oneof_decl
        .iter()
        .position(|o| o.name() == "command")
        .expect("command oneof");
    let in_command: Vec<i32> = telemetry
        .field
        .iter()
        .filter(|f| f.oneof_index == Some(command as i32) && !f.proto3_optional())
        .map(|f| f.number())
        .collect();
    assert_eq!(in_command, (2..=9).collect::<Vec<_>>());

    let code = top_enum(&fds, "Code");
    let ok = code.value.iter().find(|v| v.name() == "OK").expect("OK");
    assert_eq!(ok.number(), 20000);

    let messaging = service(&fds, "MessagingService");
    assert_eq!(messaging.method.len(), 17);
    let receive = method(messaging, "ReceiveMessage");
    assert!(!receive.client_streaming() && receive.server_streaming());
    let pull = method(messaging, "PullMessage");
    assert!(!pull.client_streaming() && pull.server_streaming());
    let telemetry_rpc = method(messaging, "Telemetry");
    assert!(telemetry_rpc.client_streaming() && telemetry_rpc.server_streaming());
    let send_rpc = method(messaging, "SendMessage");
    assert!(!send_rpc.client_streaming() && !send_rpc.server_streaming());

    let admin = service(&fds, "Admin");
    assert_eq!(
        method(admin, "ChangeLogLevel").input_type(),
        ".apache.rocketmq.v2.ChangeLogLevelRequest"
    );
}

#[test]
fn generated_code_matches_the_wire_numbers() {
    assert_eq!(pb::Code::Ok as i32, 20000);
    assert_eq!(pb::Code::MessageNotFound as i32, 40401);
    assert_eq!(pb::Code::InternalServerError as i32, 50001);
    assert_eq!(pb::AddressScheme::IPv4 as i32, 1);
    assert_eq!(pb::Permission::ReadWrite as i32, 4);
    assert_eq!(pb::Encoding::Identity as i32, 1);
    assert_eq!(
        pb::offset_option::Policy::Max as i32,
        2,
        "nested enums keep their numbers"
    );
}

/// Bytes produced by the official Python client's own generated classes
/// (rocketmq-python-client 5.1.2): a telemetry settings frame and a delivered
/// message. Decoding them proves our field numbers and types line up.
mod fixtures {
    /// `TelemetryCommand{settings{client_type: SIMPLE_CONSUMER, access_point{IPv4,
    /// 127.0.0.1:8081}, request_timeout 3s, subscription{group "GroupA",
    /// subscriptions[{topic "TopicTest", TAG "TagA"}], long_polling_timeout 20s},
    /// user_agent{PYTHON, "5.1.2", "linux", "h"}}}`.
    pub const TELEMETRY_SETTINGS: &str = include_str!("fixtures/telemetry_settings.hex");
    /// `ReceiveMessageResponse{message{topic "TopicTest", user_properties{"k": "v"},
    /// system_properties{tag "TagA", keys ["k1"], message_id "ID1", body_digest{CRC32,
    /// "0D4A1185"}, body_encoding IDENTITY, message_type NORMAL, born_timestamp
    /// 1700000000s, born_host "h", receipt_handle "rh", queue_id 3, queue_offset 42,
    /// delivery_attempt 1}, body "hello"}}`.
    pub const RECEIVED_MESSAGE: &str = include_str!("fixtures/received_message.hex");
}

fn unhex(text: &str) -> Vec<u8> {
    let text = text.trim();
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn decodes_a_telemetry_settings_frame_from_the_official_client() {
    let cmd = pb::TelemetryCommand::decode(unhex(fixtures::TELEMETRY_SETTINGS).as_slice())
        .expect("decodes");
    let Some(pb::telemetry_command::Command::Settings(settings)) = cmd.command else {
        panic!("expected settings, got {:?}", cmd.command);
    };
    assert_eq!(
        settings.client_type,
        Some(pb::ClientType::SimpleConsumer as i32)
    );
    let access = settings.access_point.expect("access point");
    assert_eq!(access.scheme, pb::AddressScheme::IPv4 as i32);
    assert_eq!(access.addresses[0].host, "127.0.0.1");
    assert_eq!(access.addresses[0].port, 8081);
    assert_eq!(settings.request_timeout.map(|d| d.seconds), Some(3));
    let Some(pb::settings::PubSub::Subscription(sub)) = settings.pub_sub else {
        panic!("expected a subscription");
    };
    assert_eq!(sub.group.map(|g| g.name).as_deref(), Some("GroupA"));
    let entry = &sub.subscriptions[0];
    assert_eq!(
        entry.topic.as_ref().map(|t| t.name.as_str()),
        Some("TopicTest")
    );
    let filter = entry.expression.as_ref().expect("filter");
    assert_eq!(filter.r#type, pb::FilterType::Tag as i32);
    assert_eq!(filter.expression, "TagA");
    assert_eq!(sub.long_polling_timeout.map(|d| d.seconds), Some(20));
    assert_eq!(sub.fifo, None, "unset optional stays unset");
    let ua = settings.user_agent.expect("user agent");
    assert_eq!(ua.language, pb::Language::Python as i32);
    assert_eq!(ua.version, "5.1.2");

    // And back: our encoding is byte-for-byte what the client produced.
    let again = pb::TelemetryCommand {
        status: None,
        command: Some(pb::telemetry_command::Command::Settings(pb::Settings {
            client_type: Some(pb::ClientType::SimpleConsumer as i32),
            access_point: Some(access),
            backoff_policy: None,
            request_timeout: Some(prost_types::Duration {
                seconds: 3,
                nanos: 0,
            }),
            pub_sub: Some(pb::settings::PubSub::Subscription(pb::Subscription {
                group: Some(pb::Resource {
                    resource_namespace: String::new(),
                    name: "GroupA".into(),
                }),
                ..sub
            })),
            user_agent: Some(ua),
            metric: None,
        })),
    };
    assert_eq!(again.encode_to_vec(), unhex(fixtures::TELEMETRY_SETTINGS));
}

#[test]
fn decodes_a_delivered_message_from_the_official_client() {
    let frame = pb::ReceiveMessageResponse::decode(unhex(fixtures::RECEIVED_MESSAGE).as_slice())
        .expect("decodes");
    let Some(pb::receive_message_response::Content::Message(msg)) = frame.content else {
        panic!("expected a message frame");
    };
    assert_eq!(msg.topic.map(|t| t.name).as_deref(), Some("TopicTest"));
    assert_eq!(msg.user_properties.get("k").map(String::as_str), Some("v"));
    assert_eq!(&msg.body[..], b"hello");
    let props = msg.system_properties.expect("system properties");
    assert_eq!(props.tag.as_deref(), Some("TagA"));
    assert_eq!(props.keys, ["k1"]);
    assert_eq!(props.message_id, "ID1");
    let digest = props.body_digest.expect("digest");
    assert_eq!(digest.r#type, pb::DigestType::Crc32 as i32);
    assert_eq!(digest.checksum, "0D4A1185");
    assert_eq!(props.body_encoding, pb::Encoding::Identity as i32);
    assert_eq!(props.message_type, pb::MessageType::Normal as i32);
    assert_eq!(props.born_timestamp.map(|t| t.seconds), Some(1_700_000_000));
    assert_eq!(props.receipt_handle.as_deref(), Some("rh"));
    assert_eq!(props.queue_id, 3);
    assert_eq!(props.queue_offset, Some(42));
    assert_eq!(props.delivery_attempt, Some(1));
    assert_eq!(props.store_timestamp, None);
}

/// The generated service trait and client exist under the expected paths.
#[allow(dead_code)]
fn generated_service_paths() {
    fn server<S: pb::messaging_service_server::MessagingService>(s: S) {
        let _ = pb::messaging_service_server::MessagingServiceServer::new(s);
    }
    fn admin<S: pb::admin_server::Admin>(s: S) {
        let _ = pb::admin_server::AdminServer::new(s);
    }
    let _ = pb::messaging_service_client::MessagingServiceClient::<tonic::transport::Channel>::new;
    let _ = pb::admin_client::AdminClient::<tonic::transport::Channel>::new;
}
