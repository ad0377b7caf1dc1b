//! Pieces of the RocketMQ 5 client protocol (`apache.rocketmq.v2`) that the
//! nameserver and the brokers answer alike: statuses, the client id header,
//! routes as message queues, and the Telemetry handshake.
//!
//! Business errors travel in the response's `Status` while the gRPC call
//! succeeds, as the official clients expect; only the classic codes are
//! used (see `shared/protocol/client-behaviour.md`: the Rust 5.0.0 client
//! panics on codes it does not know).

use std::pin::Pin;
use std::time::Duration;

use crate::namesrv::v1 as ns;
use crate::rocketmq::v2;
use raftmq_model::{GroupRetryPolicy, Perm, SubscriptionGroupConfig, FIFO_RETRY_INTERVAL_MS};
use tokio_stream::{Stream, StreamExt};

/// The header every official client sends with its client id.
pub const CLIENT_ID_HEADER: &str = "x-mq-client-id";

/// The largest body a broker accepts by default (`maxMessageSize`).
pub const DEFAULT_MAX_BODY: i32 = 4 << 20;

/// A `Status` with `code` and `message`.
pub fn status(code: v2::Code, message: impl Into<String>) -> v2::Status {
    v2::Status {
        code: code.into(),
        message: message.into(),
    }
}

/// `OK`.
pub fn ok() -> v2::Status {
    status(v2::Code::Ok, "OK")
}

/// The overall status of a call answered entry by entry: the first
/// refusal among the entries', or OK.
pub fn overall<'a>(statuses: impl IntoIterator<Item = Option<&'a v2::Status>>) -> v2::Status {
    statuses
        .into_iter()
        .flatten()
        .find(|s| s.code != v2::Code::Ok as i32)
        .cloned()
        .unwrap_or_else(ok)
}

/// The client id of a request, or the `CLIENT_ID_REQUIRED` status to answer.
pub fn client_id(meta: &tonic::metadata::MetadataMap) -> Result<String, v2::Status> {
    match meta.get(CLIENT_ID_HEADER).and_then(|v| v.to_str().ok()) {
        Some(id) if !id.trim().is_empty() => Ok(id.to_owned()),
        _ => Err(status(
            v2::Code::ClientIdRequired,
            format!("the {CLIENT_ID_HEADER} header is required"),
        )),
    }
}

/// The address scheme the clients need for `host`.
fn scheme(host: &str) -> v2::AddressScheme {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => v2::AddressScheme::IPv4,
        Ok(std::net::IpAddr::V6(_)) => v2::AddressScheme::IPv6,
        Err(_) => v2::AddressScheme::DomainName,
    }
}

/// `Endpoints` for `host:port` addresses (leader first). Mixed schemes take
/// the first address's.
pub fn endpoints<'a>(addrs: impl IntoIterator<Item = &'a str>) -> v2::Endpoints {
    let mut out = v2::Endpoints::default();
    for a in addrs {
        let Some((host, port)) = a.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<i32>() else {
            continue;
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if out.addresses.is_empty() {
            out.scheme = scheme(host).into();
        }
        out.addresses.push(v2::Address {
            host: host.to_owned(),
            port,
        });
    }
    out
}

/// The permission of a queue for the clients, from RocketMQ's bits.
fn permission(perm: Perm) -> v2::Permission {
    match (perm.readable(), perm.writable()) {
        (true, true) => v2::Permission::ReadWrite,
        (true, false) => v2::Permission::Read,
        (false, true) => v2::Permission::Write,
        (false, false) => v2::Permission::None,
    }
}

/// The header with which a client asks for every member of a group in its
/// routes (raftmq's SDK sends it).
pub const ALL_MEMBERS_HEADER: &str = "x-raftmq-all-members";

/// Which members a route's endpoints list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Members {
    /// The leader alone (or, while none stands, the first member). The
    /// official clients join several addresses into one gRPC target whose
    /// `:authority` (`a:1,b:2`) an HTTP/2 server must refuse; they refresh
    /// routes every 30 s and any member forwards to the leader meanwhile.
    Leader,
    /// Every member, leader first (clients that fail over by themselves).
    All,
}

impl Members {
    /// What the request's headers ask for.
    pub fn wanted(meta: &tonic::metadata::MetadataMap) -> Members {
        if meta.contains_key(ALL_MEMBERS_HEADER) {
            Members::All
        } else {
            Members::Leader
        }
    }

    fn pick(self, g: &ns::GroupRoute) -> impl Iterator<Item = &str> {
        let n = match self {
            Members::Leader => 1,
            Members::All => usize::MAX,
        };
        g.members.iter().take(n).map(|m| m.client_addr.as_str())
    }
}

/// The message types a group's queues of the topic accept, for the clients
/// (see [`raftmq_model::TopicMessageType::accepted`]).
fn accept_types(g: &ns::GroupRoute) -> Vec<i32> {
    crate::message_type::from_wire(g.message_type)
        .accepted(g.check_message_type)
        .iter()
        .filter_map(|t| crate::message_type::client_type(*t))
        .map(i32::from)
        .collect()
}

/// A route as the clients want it: per group, one queue per queue id, with
/// `broker{name: group, id: 0, endpoints}` (see [`Members`]), accepting the
/// message types the topic takes on that group.
pub fn message_queues(route: &ns::TopicRouteResponse, members: Members) -> Vec<v2::MessageQueue> {
    let mut out = Vec::new();
    for g in &route.groups {
        let endpoints = endpoints(members.pick(g));
        let broker = v2::Broker {
            name: g.group.clone(),
            id: 0,
            endpoints: Some(endpoints),
        };
        let accept = accept_types(g);
        let queues = g.read_queues.max(g.write_queues);
        for id in 0..queues {
            let group_perm = Perm::from_bits_retain(g.perm);
            let mut perm = Perm::NONE;
            if id < g.read_queues {
                perm = perm.union(group_perm.intersect(Perm::READ));
            }
            if id < g.write_queues {
                perm = perm.union(group_perm.intersect(Perm::WRITE));
            }
            out.push(v2::MessageQueue {
                topic: Some(v2::Resource {
                    resource_namespace: String::new(),
                    name: route.topic.clone(),
                }),
                id: i32::try_from(id).unwrap_or(i32::MAX),
                permission: permission(perm).into(),
                broker: Some(broker.clone()),
                accept_message_types: accept.clone(),
            });
        }
    }
    out
}

/// One assignment per group serving the topic, queue id -1: the group's
/// members pop from all of the topic's queues for the consumer group.
pub fn assignments(route: &ns::TopicRouteResponse, members: Members) -> Vec<v2::Assignment> {
    route
        .groups
        .iter()
        .filter(|g| Perm::from_bits_retain(g.perm).readable())
        .map(|g| v2::Assignment {
            message_queue: Some(v2::MessageQueue {
                topic: Some(v2::Resource {
                    resource_namespace: String::new(),
                    name: route.topic.clone(),
                }),
                id: -1,
                permission: permission(Perm::from_bits_retain(g.perm)).into(),
                broker: Some(v2::Broker {
                    name: g.group.clone(),
                    id: 0,
                    endpoints: Some(endpoints(members.pick(g))),
                }),
                accept_message_types: accept_types(g),
            }),
        })
        .collect()
}

/// How many attempts a message of a group with the default configuration
/// gets before it goes to the dead-letter topic (RocketMQ's default
/// `retryMaxTimes` 16, plus the first); a group's own is
/// [`SubscriptionGroupConfig::max_attempts`].
pub const MAX_DELIVERY_ATTEMPTS: i32 = 17;

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A consumer group's retry policy as the clients take it:
/// `retryMaxTimes + 1` attempts; for a concurrent group, the group's back-off (upstream's
/// customized levels or exponential numbers, as upstream's proxy converts
/// them); for a FIFO group, a fixed interval (upstream's documented 3000 ms
/// for an orderly PushConsumer), one customized level.
pub fn group_backoff(group: &SubscriptionGroupConfig) -> v2::RetryPolicy {
    let ms = |ms: u64| duration(Duration::from_millis(ms));
    let strategy = match (&group.retry_policy, group.consume_orderly) {
        (_, true) => v2::retry_policy::Strategy::CustomizedBackoff(v2::CustomizedBackoff {
            next: vec![ms(FIFO_RETRY_INTERVAL_MS)],
        }),
        (GroupRetryPolicy::Customized { next }, false) => {
            v2::retry_policy::Strategy::CustomizedBackoff(v2::CustomizedBackoff {
                next: next.iter().map(|n| ms(*n)).collect(),
            })
        }
        (
            GroupRetryPolicy::Exponential {
                initial,
                max,
                multiplier,
            },
            false,
        ) => v2::retry_policy::Strategy::ExponentialBackoff(v2::ExponentialBackoff {
            initial: Some(ms(*initial)),
            max: Some(ms(*max)),
            // The wire's float; upstream's multiplier is an integer.
            multiplier: *multiplier as f32,
        }),
    };
    v2::RetryPolicy {
        max_attempts: i32::try_from(group.max_attempts()).unwrap_or(i32::MAX),
        strategy: Some(strategy),
    }
}

/// The server's answer to a client's `Settings` when the consumer group's
/// configuration is not known here (the nameserver): a consumer gets
/// upstream's defaults for a group.
pub fn settings_reply(s: v2::Settings, max_body: i32) -> v2::TelemetryCommand {
    settings_reply_for_group(s, max_body, None)
}

/// The server's answer to a client's `Settings`: the client's own settings
/// with the server's choices filled in. A consumer's reply carries its
/// group's retry policy ([`group_backoff`]) and `fifo` from the group's
/// `consumeMessageOrderly` when `group` is given; a client's own `fifo` (or
/// false) and the default policy otherwise.
pub fn settings_reply_for_group(
    mut s: v2::Settings,
    max_body: i32,
    group: Option<&SubscriptionGroupConfig>,
) -> v2::TelemetryCommand {
    s.backoff_policy = Some(v2::RetryPolicy {
        max_attempts: MAX_DELIVERY_ATTEMPTS,
        strategy: Some(v2::retry_policy::Strategy::ExponentialBackoff(
            v2::ExponentialBackoff {
                initial: Some(duration(Duration::from_millis(10))),
                max: Some(duration(Duration::from_secs(1))),
                multiplier: 2.0,
            },
        )),
    });
    match &mut s.pub_sub {
        Some(v2::settings::PubSub::Publishing(p)) => {
            p.max_body_size = max_body;
            p.validate_message_type = true;
        }
        Some(v2::settings::PubSub::Subscription(sub)) => {
            if sub.receive_batch_size.is_none() {
                sub.receive_batch_size = Some(32);
            }
            if sub.long_polling_timeout.is_none() {
                sub.long_polling_timeout = Some(duration(Duration::from_secs(20)));
            }
            match group {
                Some(g) => sub.fifo = Some(g.consume_orderly),
                None => {
                    if sub.fifo.is_none() {
                        sub.fifo = Some(false);
                    }
                }
            }
            // Consumers are told their group's retry policy: how many
            // deliveries before the dead-letter topic, and the waits.
            let defaults = SubscriptionGroupConfig::default();
            s.backoff_policy = Some(group_backoff(group.unwrap_or(&defaults)));
        }
        None => {}
    }
    s.metric = Some(v2::Metric {
        on: false,
        endpoints: None,
    });
    v2::TelemetryCommand {
        status: Some(ok()),
        command: Some(v2::telemetry_command::Command::Settings(s)),
    }
}

/// The stream of answers to a Telemetry stream: each `Settings` gets its
/// reply; other commands (results of server requests raftmq never makes)
/// are taken and dropped. Ends when the client ends its side.
pub type TelemetryStream =
    Pin<Box<dyn Stream<Item = Result<v2::TelemetryCommand, tonic::Status>> + Send + 'static>>;

/// Serves one Telemetry stream.
pub fn telemetry(
    incoming: tonic::Streaming<v2::TelemetryCommand>,
    max_body: i32,
) -> TelemetryStream {
    let out = incoming.filter_map(move |cmd| match cmd {
        Ok(v2::TelemetryCommand {
            command: Some(v2::telemetry_command::Command::Settings(s)),
            ..
        }) => Some(Ok(settings_reply(s, max_body))),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    });
    Box::pin(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmq_model::TopicMessageType;

    fn route() -> ns::TopicRouteResponse {
        ns::TopicRouteResponse {
            topic: "T".into(),
            groups: vec![ns::GroupRoute {
                cluster: "C".into(),
                group: "RaftNode00".into(),
                read_queues: 2,
                write_queues: 3,
                perm: Perm::READ_WRITE.bits(),
                leader: Some(1),
                members: vec![
                    ns::RouteMember {
                        bid: 0,
                        member_id: 1,
                        client_addr: "127.0.0.1:30921".into(),
                        ..Default::default()
                    },
                    ns::RouteMember {
                        bid: 1,
                        member_id: 0,
                        client_addr: "127.0.0.1:30911".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        }
    }

    fn accepted(route: &ns::TopicRouteResponse) -> Vec<Vec<v2::MessageType>> {
        let types = |q: &[i32]| -> Vec<v2::MessageType> {
            q.iter()
                .map(|t| v2::MessageType::try_from(*t).unwrap())
                .collect()
        };
        let mut out: Vec<Vec<v2::MessageType>> = message_queues(route, Members::Leader)
            .iter()
            .map(|q| types(&q.accept_message_types))
            .collect();
        out.extend(
            assignments(route, Members::Leader)
                .iter()
                .map(|a| types(&a.message_queue.as_ref().unwrap().accept_message_types)),
        );
        out
    }

    #[test]
    fn queues_accept_the_types_the_topic_takes() {
        use v2::MessageType as M;
        let all = vec![M::Normal, M::Fifo, M::Delay, M::Transaction];
        let cases = [
            (TopicMessageType::Unspecified, false, all.clone()),
            (TopicMessageType::Unspecified, true, vec![M::Normal]),
            (TopicMessageType::Delay, false, vec![M::Delay]),
            (TopicMessageType::Fifo, true, vec![M::Fifo]),
            (TopicMessageType::Transaction, true, vec![M::Transaction]),
            (TopicMessageType::Mixed, true, all.clone()),
        ];
        for (t, checked, want) in cases {
            let mut r = route();
            r.groups[0].message_type = crate::message_type::to_wire(t);
            r.groups[0].check_message_type = checked;
            let got = accepted(&r);
            // Three queues, then the one assignment.
            assert_eq!(got.len(), 4);
            assert!(got.iter().all(|q| *q == want), "{t} {checked}: {got:?}");
        }
    }

    #[test]
    fn routes_list_every_member_leader_first_under_broker_id_zero() {
        let qs = message_queues(&route(), Members::All);
        assert_eq!(qs.len(), 3);
        let one = message_queues(&route(), Members::Leader);
        let e = one[0].broker.as_ref().unwrap().endpoints.as_ref().unwrap();
        assert_eq!(e.addresses.len(), 1);
        assert_eq!(e.addresses[0].port, 30921);
        let b = qs[0].broker.as_ref().unwrap();
        assert_eq!((b.name.as_str(), b.id), ("RaftNode00", 0));
        let e = b.endpoints.as_ref().unwrap();
        assert_eq!(e.scheme, v2::AddressScheme::IPv4 as i32);
        let ports: Vec<i32> = e.addresses.iter().map(|a| a.port).collect();
        assert_eq!(ports, vec![30921, 30911]);
        let perms: Vec<i32> = qs.iter().map(|q| q.permission).collect();
        assert_eq!(
            perms,
            vec![
                v2::Permission::ReadWrite as i32,
                v2::Permission::ReadWrite as i32,
                v2::Permission::Write as i32
            ]
        );
    }

    #[test]
    fn host_names_get_the_domain_scheme() {
        let e = endpoints(["broker-a.local:8081"]);
        assert_eq!(e.scheme, v2::AddressScheme::DomainName as i32);
        assert_eq!(e.addresses[0].host, "broker-a.local");
    }

    #[test]
    fn settings_are_echoed_with_the_servers_choices() {
        let s = v2::Settings {
            client_type: Some(v2::ClientType::Producer.into()),
            pub_sub: Some(v2::settings::PubSub::Publishing(v2::Publishing::default())),
            ..Default::default()
        };
        let reply = settings_reply(s, 1024);
        assert_eq!(reply.status.unwrap().code, v2::Code::Ok as i32);
        let Some(v2::telemetry_command::Command::Settings(s)) = reply.command else {
            panic!("no settings")
        };
        assert_eq!(s.client_type, Some(v2::ClientType::Producer as i32));
        let Some(v2::settings::PubSub::Publishing(p)) = s.pub_sub else {
            panic!("no publishing")
        };
        assert_eq!(p.max_body_size, 1024);
        assert!(s.backoff_policy.is_some());
    }

    fn consumer_reply(group: Option<&SubscriptionGroupConfig>) -> v2::Settings {
        let s = v2::Settings {
            client_type: Some(v2::ClientType::PushConsumer.into()),
            pub_sub: Some(v2::settings::PubSub::Subscription(v2::Subscription {
                fifo: Some(true),
                ..Default::default()
            })),
            ..Default::default()
        };
        match settings_reply_for_group(s, 1024, group).command {
            Some(v2::telemetry_command::Command::Settings(s)) => s,
            other => panic!("no settings: {other:?}"),
        }
    }

    fn fifo(s: &v2::Settings) -> Option<bool> {
        match &s.pub_sub {
            Some(v2::settings::PubSub::Subscription(sub)) => sub.fifo,
            _ => None,
        }
    }

    #[test]
    fn a_consumer_is_told_its_groups_retry_policy_and_order() {
        let secs = |s: i64| prost_types::Duration {
            seconds: s,
            nanos: 0,
        };
        // Defaults: 17 attempts, upstream's 18 customized levels.
        let s = consumer_reply(Some(&SubscriptionGroupConfig::default()));
        let p = s.backoff_policy.clone().unwrap();
        assert_eq!(p.max_attempts, 17);
        let Some(v2::retry_policy::Strategy::CustomizedBackoff(c)) = p.strategy else {
            panic!("{p:?}")
        };
        assert_eq!(c.next.len(), 18);
        assert_eq!((c.next[0], c.next[17]), (secs(1), secs(7200)));
        assert_eq!(fifo(&s), Some(false), "the group's order, not the client's");

        let exp = SubscriptionGroupConfig {
            retry_max_times: 2,
            retry_policy: GroupRetryPolicy::default_exponential(),
            ..Default::default()
        };
        let p = consumer_reply(Some(&exp)).backoff_policy.unwrap();
        assert_eq!(p.max_attempts, 3);
        let Some(v2::retry_policy::Strategy::ExponentialBackoff(e)) = p.strategy else {
            panic!("{p:?}")
        };
        assert_eq!(
            (e.initial, e.max, e.multiplier),
            (Some(secs(5)), Some(secs(7200)), 2.0)
        );

        let orderly = SubscriptionGroupConfig {
            consume_orderly: true,
            ..exp
        };
        let s = consumer_reply(Some(&orderly));
        assert_eq!(fifo(&s), Some(true));
        let p = s.backoff_policy.unwrap();
        assert_eq!(p.max_attempts, 3);
        assert_eq!(
            p.strategy,
            Some(v2::retry_policy::Strategy::CustomizedBackoff(
                v2::CustomizedBackoff {
                    next: vec![secs(3)]
                }
            )),
            "a FIFO group retries at a fixed interval"
        );
        // Unknown group (the nameserver): the client's own flag is kept.
        assert_eq!(fifo(&consumer_reply(None)), Some(true));
    }
}
