//! The Telemetry streams open on this member: the settings replies, a way
//! back to the producers of a topic for transaction check-backs, and the
//! consumers of each consumer group (for `mqadmin consumerProgress`).
//!
//! A session is registered while its stream is open, with the topics its
//! last `Settings` said it publishes, or the group it consumes for; the
//! stream's end (the client closed it, or the connection died) removes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures_util::stream::{self, StreamExt};
use parking_lot::Mutex;
use raftmq_model::{GroupName, SubscriptionGroupConfig};
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// The consumer group a consumer's settings name, if it is a legal one.
fn group_of(s: &v2::Settings) -> Option<GroupName> {
    match &s.pub_sub {
        Some(v2::settings::PubSub::Subscription(sub)) => {
            super::convert::group_name(sub.group.as_ref()).ok()
        }
        _ => None,
    }
}

/// Commands waiting to go out on one session; a full queue drops the
/// newest (a check-back is asked again next round).
const OUTBOX: usize = 1024;

struct Session {
    client_id: String,
    topics: Vec<String>,
    consumer: Option<Consumer>,
    outbox: mpsc::Sender<v2::TelemetryCommand>,
}

/// What a consumer's settings said of it.
struct Consumer {
    group: GroupName,
    client_type: v2::ClientType,
    version: String,
}

/// A consumer connected to this member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSession {
    /// Its client id.
    pub client_id: String,
    /// Its client type (push, simple, pull).
    pub client_type: v2::ClientType,
    /// Its version, as its user agent says.
    pub version: String,
}

/// The open Telemetry sessions of this member.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<u64, Session>>,
    next: AtomicU64,
}

/// Removes its session when the stream is dropped.
struct Registered {
    sessions: Arc<Sessions>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sessions.open.lock().remove(&self.id);
    }
}

// Items pass through the stream one at a time; boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Item {
    Out(Result<v2::TelemetryCommand, tonic::Status>),
    End,
}

impl Sessions {
    /// Serves one Telemetry stream of client `client_id`; a consumer's
    /// settings are answered with its group's configuration, as `groups`
    /// finds it.
    pub fn serve(
        self: &Arc<Self>,
        client_id: String,
        incoming: tonic::Streaming<v2::TelemetryCommand>,
        max_body: i32,
        groups: impl Fn(&GroupName) -> SubscriptionGroupConfig + Send + 'static,
    ) -> cp::TelemetryStream {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(OUTBOX);
        self.open.lock().insert(
            id,
            Session {
                client_id,
                topics: Vec::new(),
                consumer: None,
                outbox: tx,
            },
        );
        let guard = Registered {
            sessions: Arc::clone(self),
            id,
        };
        let sessions = Arc::clone(self);
        let replies = incoming
            .filter_map(move |cmd| {
                let item = match cmd {
                    Ok(v2::TelemetryCommand {
                        command: Some(v2::telemetry_command::Command::Settings(s)),
                        ..
                    }) => {
                        sessions.settings(id, &s);
                        let group = group_of(&s).map(|g| groups(&g));
                        Some(Item::Out(Ok(cp::settings_reply_for_group(
                            s,
                            max_body,
                            group.as_ref(),
                        ))))
                    }
                    Ok(_) => None,
                    Err(e) => Some(Item::Out(Err(e))),
                };
                std::future::ready(item)
            })
            .chain(stream::once(std::future::ready(Item::End)));
        let commands = ReceiverStream::new(rx).map(|c| Item::Out(Ok(c)));
        let out = stream::select(replies, commands)
            .take_while(|item| std::future::ready(matches!(item, Item::Out(_))))
            .filter_map(move |item| {
                // The guard lives as long as the stream.
                let _registered = &guard;
                std::future::ready(match item {
                    Item::Out(r) => Some(r),
                    Item::End => None,
                })
            });
        Box::pin(out)
    }

    fn settings(&self, id: u64, s: &v2::Settings) {
        let mut open = self.open.lock();
        let Some(session) = open.get_mut(&id) else {
            return;
        };
        match &s.pub_sub {
            Some(v2::settings::PubSub::Publishing(p)) => {
                session.topics = p.topics.iter().map(|t| t.name.clone()).collect();
            }
            Some(v2::settings::PubSub::Subscription(_)) => {
                session.consumer = group_of(s).map(|group| Consumer {
                    group,
                    client_type: s
                        .client_type
                        .and_then(|t| v2::ClientType::try_from(t).ok())
                        .unwrap_or(v2::ClientType::Unspecified),
                    version: s
                        .user_agent
                        .as_ref()
                        .map(|ua| ua.version.clone())
                        .unwrap_or_default(),
                });
            }
            None => {}
        }
    }

    /// The consumers of `group` connected to this member, by client id.
    pub fn consumers_of(&self, group: &str) -> Vec<ConsumerSession> {
        let open = self.open.lock();
        let mut out: Vec<ConsumerSession> = open
            .values()
            .filter_map(|s| {
                let c = s.consumer.as_ref().filter(|c| c.group == group)?;
                Some(ConsumerSession {
                    client_id: s.client_id.clone(),
                    client_type: c.client_type,
                    version: c.version.clone(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        out.dedup_by(|a, b| a.client_id == b.client_id);
        out
    }

    /// Sends `command` to one producer of `topic` connected here (the one
    /// asked least lately, so checks spread over producers); returns the
    /// client id it went to, or None when no producer of the topic is here
    /// or its queue is full.
    pub fn to_a_producer_of(&self, topic: &str, command: v2::TelemetryCommand) -> Option<String> {
        let open = self.open.lock();
        let mut candidates: Vec<(&u64, &Session)> = open
            .iter()
            .filter(|(_, s)| s.topics.iter().any(|t| t == topic))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        candidates.sort_by_key(|(id, _)| **id);
        let turn = self.next.fetch_add(1, Ordering::Relaxed) as usize % candidates.len();
        let (_, session) = candidates[turn];
        session
            .outbox
            .try_send(command)
            .ok()
            .map(|()| session.client_id.clone())
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(client_id: &str, consumer: Option<(&str, v2::ClientType)>) -> Session {
        let (outbox, _) = mpsc::channel(1);
        Session {
            client_id: client_id.into(),
            topics: Vec::new(),
            consumer: consumer.map(|(g, client_type)| Consumer {
                group: GroupName::new(g).expect("legal"),
                client_type,
                version: "5.1.2".into(),
            }),
            outbox,
        }
    }

    #[test]
    fn consumers_of_a_group_each_client_once() {
        let sessions = Sessions::default();
        {
            let mut open = sessions.open.lock();
            open.insert(1, session("b", Some(("g", v2::ClientType::PushConsumer))));
            // The same client on a second stream counts once.
            open.insert(2, session("b", Some(("g", v2::ClientType::PushConsumer))));
            open.insert(3, session("a", Some(("g", v2::ClientType::SimpleConsumer))));
            open.insert(
                4,
                session("c", Some(("other", v2::ClientType::PushConsumer))),
            );
            open.insert(5, session("p", None));
        }
        let ids: Vec<String> = sessions
            .consumers_of("g")
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        assert_eq!(ids, ["a", "b"]);
        assert!(sessions.consumers_of("none").is_empty());
    }

    #[test]
    fn a_consumers_settings_name_its_group() {
        let sessions = Sessions::default();
        sessions.open.lock().insert(7, session("x", None));
        let settings = v2::Settings {
            client_type: Some(v2::ClientType::SimpleConsumer.into()),
            pub_sub: Some(v2::settings::PubSub::Subscription(v2::Subscription {
                group: Some(v2::Resource {
                    resource_namespace: String::new(),
                    name: "g".into(),
                }),
                ..Default::default()
            })),
            ..Default::default()
        };
        sessions.settings(7, &settings);
        let c = sessions.consumers_of("g");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].client_type, v2::ClientType::SimpleConsumer);
        // An illegal group name registers no consumer.
        let mut bad = settings.clone();
        if let Some(v2::settings::PubSub::Subscription(s)) = &mut bad.pub_sub {
            s.group = Some(v2::Resource {
                resource_namespace: String::new(),
                name: "a.b".into(),
            });
        }
        sessions.settings(7, &bad);
        assert!(sessions.consumers_of("g").is_empty());
    }
}
