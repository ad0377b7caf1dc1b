//! What every SDK client is built on: its id and headers, its connections,
//! its route cache, its Telemetry streams and heartbeats, and the two ways
//! to call out (to the nameservers, to a broker group), both failing over
//! between addresses and marking routes stale when that does not help.
//!
//! Every task of a client belongs to its [`ClientCore::tasks`]: the
//! heartbeats, the Telemetry readers, a producer's group senders, a push
//! consumer's loops and workers. `shutdown` stops them all and waits
//! (bounded); dropping the client stops them without waiting.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use raftmq_model::{GroupName, TopicName};
use raftmq_proto::client_protocol;
use raftmq_proto::rocketmq::v2;
use raftmq_tasks::Tasks;
use tonic::transport::Channel;

use super::convert::{duration, resource};
use super::error::{check, Subject};
use super::ids;
use super::link::{stub, GroupLink, Links};
use super::message::invalid_name;
use super::route::{BrokerGroup, TopicRoute};
use super::routes::RouteCache;
use super::telemetry::Telemetry;
use super::{ClientConfig, ClientError};

/// The shared state of one producer or consumer.
#[derive(Debug)]
pub(crate) struct ClientCore {
    pub config: ClientConfig,
    pub client_id: String,
    pub born_host: String,
    pub links: Links,
    pub routes: RouteCache,
    pub telemetry: Telemetry,
    /// The owner of every task of this client.
    pub tasks: Tasks,
    /// The heartbeats' owner, a child of `tasks` stopped first at shutdown.
    heartbeat: Tasks,
    namesrv: GroupLink,
    client_type: v2::ClientType,
    group: Option<String>,
    closed: AtomicBool,
}

/// How long `shutdown` waits for each set of tasks it stops. Those left
/// are named in the log.
pub(crate) const STOP_WITHIN: Duration = Duration::from_secs(5);

impl ClientCore {
    /// Checks `config`, and starts a client of `client_type` (of consumer
    /// `group`) whose Telemetry settings carry `pub_sub`.
    pub fn start(
        config: ClientConfig,
        client_type: v2::ClientType,
        group: Option<&str>,
        pub_sub: v2::settings::PubSub,
    ) -> Result<Arc<Self>, ClientError> {
        config.validate()?;
        if let Some(g) = group {
            GroupName::new(g).map_err(|e| invalid_name("consumer group", e))?;
        }
        let client_id = ids::client_id();
        let tasks = Tasks::new(format!("sdk client {client_id}"));
        let heartbeat = tasks.child("heartbeat");
        let links = Links::new(&client_id, config.connect_timeout)?;
        let settings = v2::Settings {
            client_type: Some(client_type.into()),
            access_point: Some(client_protocol::endpoints(
                config.namesrv.iter().map(String::as_str),
            )),
            request_timeout: Some(duration(config.request_timeout)),
            pub_sub: Some(pub_sub),
            user_agent: Some(v2::Ua {
                language: v2::Language::Rust.into(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                platform: std::env::consts::OS.to_owned(),
                hostname: ids::hostname(),
            }),
            ..Default::default()
        };
        let core = Arc::new(Self {
            namesrv: GroupLink::new("nameserver", config.namesrv.clone()),
            telemetry: Telemetry::new(settings, config.telemetry_timeout, tasks.child("telemetry")),
            routes: RouteCache::new(config.route_refresh),
            born_host: ids::hostname(),
            links,
            client_id,
            client_type,
            group: group.map(str::to_owned),
            tasks,
            heartbeat,
            closed: AtomicBool::new(false),
            config,
        });
        core.heartbeat
            .spawn("heartbeats", heartbeats(Arc::downgrade(&core)));
        Ok(core)
    }

    /// The consumer group, empty for producers.
    pub fn group(&self) -> &str {
        self.group.as_deref().unwrap_or("")
    }

    /// Fails once the client is shut down.
    pub fn check_open(&self) -> Result<(), ClientError> {
        if self.closed.load(Ordering::Relaxed) {
            Err(ClientError::Shutdown)
        } else {
            Ok(())
        }
    }

    /// Replaces the Telemetry settings' pub/sub part (new subscriptions).
    pub fn update_pub_sub(&self, pub_sub: v2::settings::PubSub) {
        self.telemetry.update_pub_sub(pub_sub);
    }

    /// Delivery attempts before the dead-letter queue, as the server said
    /// in Telemetry (17 until it says).
    pub fn max_delivery_attempts(&self) -> i32 {
        self.telemetry
            .server_settings()
            .and_then(|s| s.backoff_policy)
            .map(|p| p.max_attempts)
            .filter(|n| *n > 0)
            .unwrap_or(client_protocol::MAX_DELIVERY_ATTEMPTS)
    }

    /// The wait before a PushConsumer's next delivery of a message whose
    /// attempt `attempt` failed, as the consumer group's retry policy in
    /// the server's settings says; `None` until a server said.
    pub fn consume_backoff(&self, attempt: u32) -> Option<Duration> {
        let policy = self.telemetry.server_settings()?.backoff_policy?;
        super::backoff::delay(&policy, attempt)
    }

    /// `msg` as a request with this client's headers and `timeout`.
    pub fn request<T>(&self, msg: T, timeout: Duration) -> tonic::Request<T> {
        self.links.request(msg, timeout)
    }

    /// Calls a member of `group` (leader first, then the others), opening
    /// Telemetry to it first; marks routes stale when no member answers.
    pub async fn call_group<T, F, Fut>(
        &self,
        group: &GroupLink,
        name: &'static str,
        timeout: Duration,
        mut f: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        self.check_open()?;
        let result = group
            .call(&self.links, name, timeout, |channel, addr| {
                let call = f(channel);
                async move {
                    self.telemetry.ensure(&self.links, &addr).await;
                    call.await
                }
            })
            .await;
        if result.as_ref().is_err_and(ClientError::is_retryable) {
            self.routes.mark_stale();
        }
        result
    }

    /// Calls the nameservers, in order.
    pub async fn call_namesrv<T, F, Fut>(&self, name: &'static str, f: F) -> Result<T, ClientError>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        self.call_group(&self.namesrv, name, self.config.request_timeout, f)
            .await
    }

    /// The route of `topic`, from the cache when fresh, else from the
    /// nameservers (an old route is used while none answers).
    pub async fn route(&self, topic: &str) -> Result<Arc<TopicRoute>, ClientError> {
        if let Some(r) = self.routes.fresh(topic) {
            return Ok(r);
        }
        // Only legal names reach the cache, so a hit needs no check.
        TopicName::new(topic).map_err(|e| invalid_name("topic", e))?;
        let _one_at_a_time = self.routes.refreshing.lock().await;
        if let Some(r) = self.routes.fresh(topic) {
            return Ok(r);
        }
        match self.query_route(topic).await {
            Ok(r) => Ok(self.routes.store(r)),
            Err(e) if e.is_retryable() => self.routes.any(topic).ok_or(e),
            Err(e) => Err(e),
        }
    }

    async fn query_route(&self, topic: &str) -> Result<TopicRoute, ClientError> {
        let req = v2::QueryRouteRequest {
            topic: Some(resource(topic)),
            endpoints: Some(client_protocol::endpoints(
                self.config.namesrv.iter().map(String::as_str),
            )),
        };
        let timeout = self.config.request_timeout;
        let resp = self
            .call_namesrv("QueryRoute", |ch| {
                let r = self.request(req.clone(), timeout);
                async move {
                    stub(ch)
                        .query_route(r)
                        .await
                        .map(tonic::Response::into_inner)
                }
            })
            .await?;
        let subject = Subject {
            topic,
            ..Subject::default()
        };
        check("QueryRoute", resp.status.as_ref(), subject)?;
        TopicRoute::from_proto(topic, &resp.message_queues)
    }

    /// The link of a group named by a route or an assignment.
    pub fn group_link(&self, name: &str) -> Result<Arc<GroupLink>, ClientError> {
        self.routes
            .group(name)
            .ok_or_else(|| ClientError::BadResponse {
                call: "QueryRoute",
                reason: format!("broker group {name} is in no route"),
            })
    }

    /// Records a group an assignment names.
    pub fn register_group(&self, g: &BrokerGroup) -> Arc<GroupLink> {
        self.routes.register_group(g)
    }

    /// Stops heartbeats, tells every endpoint in use that this client is
    /// going, closes the Telemetry streams, and stops every task of the
    /// client that is left (each step bounded; what did not end is logged).
    /// Idempotent.
    pub async fn shutdown(&self) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        let _ = self.heartbeat.stop(STOP_WITHIN).await;
        let group = self.group.as_deref().map(resource);
        let timeout = self.config.request_timeout;
        for addr in self.telemetry.endpoints() {
            let Ok(mut stub) = self.links.stub(&addr) else {
                continue;
            };
            let req = self.request(
                v2::NotifyClientTerminationRequest {
                    group: group.clone(),
                },
                timeout,
            );
            let _ = tokio::time::timeout(timeout, stub.notify_client_termination(req)).await;
        }
        self.telemetry.close().await;
        let _ = self.tasks.stop(STOP_WITHIN).await;
    }
}

impl Drop for ClientCore {
    fn drop(&mut self) {
        self.tasks.cancel();
    }
}

/// Sends a Heartbeat to every endpoint with a Telemetry stream, every
/// `heartbeat_interval`, while the client lives.
async fn heartbeats(core: Weak<ClientCore>) {
    let Some(interval) = core.upgrade().map(|c| c.config.heartbeat_interval) else {
        return;
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(core) = core.upgrade() else {
            return;
        };
        let timeout = core.config.request_timeout;
        let req = v2::HeartbeatRequest {
            group: core.group.as_deref().map(resource),
            client_type: core.client_type.into(),
        };
        for addr in core.telemetry.endpoints() {
            if let Ok(mut stub) = core.links.stub(&addr) {
                let r = core.request(req.clone(), timeout);
                let _ = tokio::time::timeout(timeout, stub.heartbeat(r)).await;
            }
        }
    }
}
