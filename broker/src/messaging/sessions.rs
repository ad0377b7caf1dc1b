//! The Telemetry streams open on this member: the settings replies, and a
//! way back to the producers of a topic for transaction check-backs.
//!
//! A session is registered while its stream is open, with the topics its
//! last `Settings` said it publishes; the stream's end (the client closed
//! it, or the connection died) removes it.

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
    outbox: mpsc::Sender<v2::TelemetryCommand>,
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
        if let Some(v2::settings::PubSub::Publishing(p)) = &s.pub_sub {
            if let Some(session) = self.open.lock().get_mut(&id) {
                session.topics = p.topics.iter().map(|t| t.name.clone()).collect();
            }
        }
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
