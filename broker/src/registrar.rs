//! Registration with every nameserver: at start, whenever the member's role,
//! term, leader or topic table changes, and as a heartbeat every
//! `registerNameServerPeriod`. A new leader thus shows as BID 0 on the
//! nameservers within milliseconds of its election, not at the next beat.
//!
//! Each nameserver is called on its own long-lived channel and
//! independently: one that is down costs the others nothing, and is caught
//! up by the next registration once it is back (nameservers share nothing).

use std::sync::Arc;
use std::time::Duration;

use openraft::type_config::async_runtime::WatchReceiver;
use openraft::ServerState;
use raftmq_proto::namesrv::v1 as pb;
use raftmq_proto::namesrv::v1::name_server_client::NameServerClient;
use raftmq_raft::RaftNode;
use tokio::sync::watch;
use tonic::transport::{Channel, Endpoint};

use crate::stats::StatsSampler;

/// How often the topic table's version is looked at between beats.
const TOPIC_POLL: Duration = Duration::from_millis(100);
/// One registration call's limit.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Who this member is, as the nameservers know it.
#[derive(Clone, Debug)]
pub struct Identity {
    /// `brokerClusterName`.
    pub cluster: String,
    /// `brokerName`.
    pub group: String,
    /// The number of `dLegerSelfId`.
    pub member_id: u64,
    /// Where clients reach it.
    pub client_addr: String,
    /// Where its peers reach it.
    pub raft_addr: String,
    /// `brokerPermission`.
    pub perm: u32,
    /// `defaultTopicQueueNums` when `autoCreateTopicEnable` is on.
    pub auto_create_queues: Option<u32>,
}

/// The group's members' client addresses, as the nameservers last told
/// this member (how a follower finds its leader's client port).
pub type MemberAddrs = Arc<parking_lot::RwLock<std::collections::BTreeMap<u64, String>>>;

/// One nameserver's client, and whether the last call reached it (to log
/// changes, not every failed beat).
struct Namesrv {
    addr: String,
    client: NameServerClient<Channel>,
    reachable: bool,
}

/// Connects lazily to each address; a malformed one is an error naming it.
fn clients(addrs: &[String]) -> Result<Vec<Namesrv>, String> {
    addrs
        .iter()
        .map(|addr| {
            let endpoint = Endpoint::from_shared(format!("http://{addr}"))
                .map_err(|e| format!("namesrvAddr: bad address {addr}: {e}"))?
                .connect_timeout(Duration::from_secs(1))
                .timeout(CALL_TIMEOUT)
                .tcp_nodelay(true);
            Ok(Namesrv {
                addr: addr.clone(),
                client: NameServerClient::new(endpoint.connect_lazy()),
                reachable: true,
            })
        })
        .collect()
}

/// What makes a registration necessary at once when it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RouteKey {
    role: i32,
    term: u64,
    leader: Option<u64>,
    topics_version: u64,
}

fn route_key(state: ServerState, term: u64, leader: Option<u64>, node: &RaftNode) -> RouteKey {
    let role = match state {
        ServerState::Leader => pb::Role::Leader,
        ServerState::Follower | ServerState::Learner => pb::Role::Follower,
        _ => pb::Role::Candidate,
    };
    RouteKey {
        role: role.into(),
        term,
        leader,
        topics_version: node.store().topics_version(),
    }
}

/// The registration loop; returns when `stop` turns true, after
/// unregistering from every nameserver.
pub(crate) async fn run(
    me: Identity,
    node: Arc<RaftNode>,
    namesrv_addrs: Vec<String>,
    period: Duration,
    addrs: MemberAddrs,
    mut stop: watch::Receiver<bool>,
) {
    let mut namesrvs = match clients(&namesrv_addrs) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{e}; not registering with any nameserver");
            return;
        }
    };
    if namesrvs.is_empty() {
        tracing::warn!("no nameserver address (namesrvAddr, NAMESRV_ADDR or -n): clients cannot find this broker");
    }
    let mut sampler = StatsSampler::new();
    // Server metrics change with the role, term, leader or membership only,
    // not with every write as the full metrics do.
    let mut metrics = node.raft().server_metrics();
    let mut last: Option<RouteKey> = None;
    let mut next_beat = tokio::time::Instant::now();
    loop {
        let (state, term, leader) = {
            let m = metrics.borrow_watched();
            (m.state, m.vote.leader_id.term, m.current_leader)
        };
        let key = route_key(state, term, leader, &node);
        let due = tokio::time::Instant::now() >= next_beat;
        if due || last != Some(key) {
            register_all(&me, &node, key, &mut sampler, &mut namesrvs, &addrs).await;
            last = Some(key);
            next_beat = tokio::time::Instant::now() + period;
        }
        let wake = next_beat.min(tokio::time::Instant::now() + TOPIC_POLL);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            r = metrics.changed() => {
                if r.is_err() {
                    break; // openraft stopped
                }
            }
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    unregister_all(&me, &mut namesrvs).await;
}

async fn register_all(
    me: &Identity,
    node: &RaftNode,
    key: RouteKey,
    sampler: &mut StatsSampler,
    namesrvs: &mut [Namesrv],
    addrs: &MemberAddrs,
) {
    let (_, topics) = node.store().topics();
    let request = pb::RegisterBrokerRequest {
        cluster: me.cluster.clone(),
        group: me.group.clone(),
        member_id: me.member_id,
        client_addr: me.client_addr.clone(),
        raft_addr: me.raft_addr.clone(),
        role: key.role,
        term: key.term,
        data_version: key.topics_version,
        perm: me.perm,
        // A topic an older version created under a name the topic rule now
        // refuses stays in the metadata but is not announced: the
        // nameserver would refuse the whole registration.
        topics: topics
            .into_iter()
            .filter(|(name, _)| raftmq_model::TopicName::new(name.as_str()).is_ok())
            .map(|(name, t)| pb::TopicConfig {
                name,
                read_queues: t.read_queues,
                write_queues: t.write_queues,
                perm: t.perm.bits(),
            })
            .collect(),
        stats: Some(sampler.sample(node)),
        auto_create_queues: me.auto_create_queues,
    };
    let calls = namesrvs.iter().map(|n| {
        let mut client = n.client.clone();
        let request = request.clone();
        tokio::spawn(async move { client.register_broker(request).await })
    });
    let calls: Vec<_> = calls.collect();
    for (n, call) in namesrvs.iter_mut().zip(calls) {
        let outcome = match call.await {
            Ok(Ok(r)) => {
                let seen = r.into_inner().member_client_addrs;
                if !seen.is_empty() {
                    addrs.write().extend(seen);
                }
                Ok(())
            }
            Ok(Err(s)) => Err(s.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) if !n.reachable => {
                tracing::info!(namesrv = %n.addr, "registered with the nameserver again");
                n.reachable = true;
            }
            Ok(()) => {}
            Err(e) if n.reachable => {
                tracing::warn!(namesrv = %n.addr, error = %e, "cannot register with the nameserver; retrying every beat");
                n.reachable = false;
            }
            Err(_) => {}
        }
    }
}

async fn unregister_all(me: &Identity, namesrvs: &mut [Namesrv]) {
    let request = pb::UnregisterBrokerRequest {
        cluster: me.cluster.clone(),
        group: me.group.clone(),
        member_id: me.member_id,
    };
    let calls: Vec<_> = namesrvs
        .iter()
        .map(|n| {
            let mut client = n.client.clone();
            let request = request.clone();
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(1), client.unregister_broker(request))
                    .await
            })
        })
        .collect();
    for (n, call) in namesrvs.iter().zip(calls) {
        match call.await {
            Ok(Ok(Ok(_))) => tracing::info!(namesrv = %n.addr, "unregistered"),
            _ => {
                tracing::info!(namesrv = %n.addr, "could not unregister; the nameserver will expire this member")
            }
        }
    }
}
