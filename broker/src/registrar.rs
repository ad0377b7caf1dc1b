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

use raftmq_proto::message_type;
use raftmq_proto::namesrv::v1 as pb;
use raftmq_proto::namesrv::v1::name_server_client::NameServerClient;
use raftmq_raft::{Leadership, RaftNode, Role};
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
    /// `enableTopicMessageTypeCheck`.
    pub check_message_type: bool,
}

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

fn route_key(l: Leadership, node: &RaftNode) -> RouteKey {
    let role = match l.role {
        Role::Leader => pb::Role::Leader,
        Role::Follower | Role::Learner => pb::Role::Follower,
        Role::Candidate | Role::Stopped => pb::Role::Candidate,
    };
    RouteKey {
        role: role.into(),
        term: l.term,
        leader: l.leader,
        topics_version: node.store().topics_version(),
    }
}

/// The registration loop, until the member's Raft stops or its owner drops
/// it. [`unregister`] says goodbye on a clean stop.
pub(crate) async fn run(
    me: Identity,
    node: Arc<RaftNode>,
    namesrv_addrs: Vec<String>,
    period: Duration,
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
    // Changes with the role, term or leader only, not with every write.
    let mut leadership = node.leadership();
    let mut last: Option<RouteKey> = None;
    let mut next_beat = tokio::time::Instant::now();
    loop {
        let now = *leadership.borrow_and_update();
        let key = route_key(now, &node);
        let due = tokio::time::Instant::now() >= next_beat;
        if due || last != Some(key) {
            register_all(&me, &node, key, &mut sampler, &mut namesrvs).await;
            last = Some(key);
            next_beat = tokio::time::Instant::now() + period;
        }
        let wake = next_beat.min(tokio::time::Instant::now() + TOPIC_POLL);
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            r = leadership.changed() => {
                if r.is_err() {
                    return; // the member stopped
                }
            }
        }
    }
}

async fn register_all(
    me: &Identity,
    node: &RaftNode,
    key: RouteKey,
    sampler: &mut StatsSampler,
    namesrvs: &mut [Namesrv],
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
                message_type: message_type::to_wire(t.message_type),
            })
            .collect(),
        stats: Some(sampler.sample(node)),
        auto_create_queues: me.auto_create_queues,
        check_message_type: me.check_message_type,
    };
    // Side by side: a nameserver that is down delays none of the others.
    let calls = namesrvs.iter().map(|n| {
        let mut client = n.client.clone();
        let request = request.clone();
        async move { client.register_broker(request).await }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (n, answer) in namesrvs.iter_mut().zip(answers) {
        let outcome = answer.map(|_| ()).map_err(|s| s.to_string());
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

/// Tells every nameserver that this member is leaving (a clean stop), each
/// within a second; one that does not answer expires the member by itself.
pub(crate) async fn unregister(me: &Identity, namesrv_addrs: &[String]) {
    let Ok(namesrvs) = clients(namesrv_addrs) else {
        return; // logged when registration started
    };
    let request = pb::UnregisterBrokerRequest {
        cluster: me.cluster.clone(),
        group: me.group.clone(),
        member_id: me.member_id,
    };
    let calls = namesrvs.iter().map(|n| {
        let mut client = n.client.clone();
        let request = request.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(1), client.unregister_broker(request)).await
        }
    });
    let answers = futures_util::future::join_all(calls).await;
    for (n, answer) in namesrvs.iter().zip(answers) {
        match answer {
            Ok(Ok(_)) => tracing::info!(namesrv = %n.addr, "unregistered"),
            _ => {
                tracing::info!(namesrv = %n.addr, "could not unregister; the nameserver will expire this member")
            }
        }
    }
}
