//! One group member: store, openraft, Raft server and proposer, started
//! from configuration alone and stopped as a whole.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::impls::BasicNode;
use openraft::type_config::async_runtime::WatchReceiver;
use openraft::{Config, Raft, SnapshotPolicy};
use raftmq_proto::raft::v1::raft_service_server::RaftServiceServer;
use raftmq_store::message_store::PutResult;
use raftmq_store::record::message::Message;
use raftmq_store::{MessageStore, OpenOptions, StoreConfig};
use raftmq_tasks::Tasks;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::channels::Channels;
pub use crate::error::{Refusal, StartError, WriteError};
use crate::forward::{Forwarder, LocalWriter};
use crate::limits::MAX_RPC_BYTES;
use crate::log_store::LogStore;
pub use crate::members::AddressError;
use crate::members::Members;
use crate::meta::RaftMeta;
use crate::network::{NetworkFactory, ReplicationTransport};
use crate::partition::Partition;
use crate::proposer::{Batching, Proposer};
use crate::server::RaftServer;
use crate::state_machine::StateMachine;
use crate::types::{DataKind, NodeId, TypeConfig};

/// Election timing. The defaults give a new leader well under a second
/// after the old one dies: followers notice within 150-300 ms.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Leader heartbeat, ms.
    pub heartbeat_ms: u64,
    /// Election timeout range, ms.
    pub election_min_ms: u64,
    /// See `election_min_ms`.
    pub election_max_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            heartbeat_ms: 50,
            election_min_ms: 150,
            election_max_ms: 300,
        }
    }
}

/// Everything a member needs to start.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This member (`dLegerSelfId`).
    pub id: NodeId,
    /// Every member's Raft address (`dLegerPeers`), this one included.
    pub peers: BTreeMap<NodeId, String>,
    /// The store.
    pub store: StoreConfig,
    /// Election timing.
    pub timing: Timing,
    /// Group commit limits.
    pub batching: Batching,
    /// `preferredLeaderIds`: the member that should lead when it is up and
    /// caught up; the leader hands over to it.
    pub preferred_leader: Option<NodeId>,
    /// `raftReplicationTransport`: how this member, leading, replicates.
    pub replication: ReplicationTransport,
    /// Where this member's clients reach it (`brokerIP1:listenPort`), told
    /// to the other members when they ask; `None` for a bare Raft member.
    pub client_addr: Option<String>,
}

/// Test switches a member is started with (`test-util` builds only): RPC
/// drops between members and the store's fault switchboard.
#[cfg(feature = "test-util")]
#[derive(Clone, Debug, Default)]
pub struct FaultHooks {
    /// RPC drops between members.
    pub partition: Partition,
    /// Store fault switches.
    pub store: raftmq_store::fault::Faults,
}

/// What a member is in its group now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// It leads: writes are proposed here.
    Leader,
    /// It stands for election.
    Candidate,
    /// It follows a leader (or waits for one).
    Follower,
    /// It replicates without a vote.
    Learner,
    /// Its Raft has stopped (on request, or by itself: see
    /// [`RaftNode::failure`]).
    Stopped,
}

/// Who leads, as this member sees it. Changes with the term, the role or
/// the leader only, never with a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leadership {
    /// The term this member is in.
    pub term: u64,
    /// Its role in that term.
    pub role: Role,
    /// The leader it knows of.
    pub leader: Option<NodeId>,
}

impl Leadership {
    fn of(m: &openraft::metrics::RaftServerMetrics<TypeConfig>) -> Self {
        use openraft::ServerState;
        Self {
            term: m.vote.leader_id.term,
            role: match m.state {
                ServerState::Leader => Role::Leader,
                ServerState::Candidate => Role::Candidate,
                ServerState::Follower => Role::Follower,
                ServerState::Learner => Role::Learner,
                ServerState::Shutdown => Role::Stopped,
            },
            leader: m.current_leader,
        }
    }
}

/// This member's Raft state, for status pages and route registration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStatus {
    /// Who leads.
    pub leadership: Leadership,
    /// The last entry in this member's log.
    pub last_log_index: Option<u64>,
    /// The last entry applied here.
    pub applied_index: Option<u64>,
    /// Why its Raft stopped by itself, if it did.
    pub failure: Option<String>,
}

/// Wakes its holder when this member appends, commits or applies entries
/// (long polls waiting for new messages).
pub struct Progress(
    openraft::type_config::alias::WatchReceiverOf<TypeConfig, openraft::RaftMetrics<TypeConfig>>,
);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// The member's Raft stopped: it makes no more progress.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the member's Raft stopped")]
pub struct Stopped;

impl Progress {
    /// Resolves at this member's next step.
    pub async fn changed(&mut self) -> Result<(), Stopped> {
        use openraft::type_config::async_runtime::WatchReceiver as _;
        self.0.changed().await.map_err(|_| Stopped)
    }
}

/// A running member: the narrow handle the broker holds. Writes, commands,
/// who leads, and status; openraft stays inside this crate.
pub struct RaftNode {
    id: NodeId,
    raft: Raft<TypeConfig, StateMachine>,
    store: Arc<MessageStore>,
    local: LocalWriter,
    forwarder: Forwarder,
    members: Members,
    leadership: watch::Receiver<Leadership>,
    /// How long a write waits for a leader to be elected.
    leader_wait: Duration,
    /// Every task of this member: server, connections, proposer,
    /// replication writers, retention, leadership.
    tasks: Tasks,
    /// Set by the first [`RaftNode::shutdown`].
    stopped: AtomicBool,
    /// Resolves once openraft let go of the store; taken by the first stop.
    released: parking_lot::Mutex<Option<crate::hold::Released>>,
    #[cfg(feature = "test-util")]
    hooks: FaultHooks,
}

/// How long a member's stop waits for its tasks.
const STOP_WAIT: Duration = Duration::from_secs(5);

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Test switches, or nothing in a build without `test-util`.
#[cfg(feature = "test-util")]
type Hooks = FaultHooks;
/// No test switches: a build without `test-util` has none.
#[cfg(not(feature = "test-util"))]
#[derive(Debug)]
struct Hooks;

impl RaftNode {
    /// Starts the member: opens the store, starts openraft and the Raft
    /// server (on `listener`, or bound to this member's peer address), and
    /// on first start forms the group from `peers` with no manual step.
    pub async fn start(cfg: NodeConfig, listener: Option<TcpListener>) -> Result<Self, StartError> {
        Self::start_owned(cfg, listener, None).await
    }

    /// [`RaftNode::start`] with the member's tasks under `owner` (a
    /// process's), so that stopping the owner stops them too. Without one
    /// the member owns its tasks alone.
    pub async fn start_owned(
        cfg: NodeConfig,
        listener: Option<TcpListener>,
        owner: Option<&Tasks>,
    ) -> Result<Self, StartError> {
        #[cfg(feature = "test-util")]
        let hooks = FaultHooks::default();
        #[cfg(not(feature = "test-util"))]
        let hooks = Hooks;
        Self::start_hooked(cfg, listener, hooks, owner).await
    }

    /// [`RaftNode::start`] with test switches.
    #[cfg(feature = "test-util")]
    pub async fn start_with_hooks(
        cfg: NodeConfig,
        listener: Option<TcpListener>,
        hooks: FaultHooks,
    ) -> Result<Self, StartError> {
        Self::start_hooked(cfg, listener, hooks, None).await
    }

    async fn start_hooked(
        cfg: NodeConfig,
        listener: Option<TcpListener>,
        hooks: Hooks,
        owner: Option<&Tasks>,
    ) -> Result<Self, StartError> {
        let Some(my_addr) = cfg.peers.get(&cfg.id).cloned() else {
            return Err(StartError::NotAPeer {
                id: cfg.id,
                peers: cfg.peers.keys().copied().collect(),
            });
        };
        #[cfg(feature = "test-util")]
        let (partition, store_options) = (
            hooks.partition.clone(),
            OpenOptions {
                faults: hooks.store.clone(),
                ..OpenOptions::default()
            },
        );
        #[cfg(not(feature = "test-util"))]
        let (partition, store_options) = {
            let Hooks = hooks;
            (Partition, OpenOptions::default())
        };
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(&my_addr)
                .await
                .map_err(|source| StartError::Io {
                    what: format!("listening on the Raft address {my_addr}"),
                    source,
                })?,
        };
        let store = MessageStore::open_with(cfg.store.clone(), store_options)?;
        let meta = Arc::new(
            RaftMeta::open(&cfg.store.root.join("raft")).map_err(|source| StartError::Io {
                what: "opening the Raft state files".into(),
                source,
            })?,
        );
        step_down_from_the_old_term(&meta, cfg.id).map_err(|source| StartError::Io {
            what: "saving the vote".into(),
            source,
        })?;
        let raft_config = Config {
            cluster_name: "raftmq".into(),
            heartbeat_interval: cfg.timing.heartbeat_ms,
            election_timeout_min: cfg.timing.election_min_ms,
            election_timeout_max: cfg.timing.election_max_ms,
            max_payload_entries: 64,
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: u64::MAX / 2,
            // A member whose disk was wiped rejoins with an empty log; the
            // leader must start it over rather than stop (see ADR 0002 for
            // what this costs: such a member forgot its vote).
            allow_log_reversion: Some(true),
            // A member back from a partition asks first whether it could win
            // (PreVote RPC) instead of raising its term and unseating a
            // healthy leader.
            enable_pre_vote: Some(true),
            ..Config::default()
        }
        .validate()
        .map_err(|e| StartError::Config {
            source: Box::new(e),
        })?;
        let name = format!("raft n{}", cfg.id);
        let tasks = owner.map_or_else(|| Tasks::new(name.clone()), |o| o.child(&name));
        let (hold, released) = crate::hold::hold();
        let channels = Channels::default();
        let raft = Raft::new(
            cfg.id,
            Arc::new(raft_config),
            NetworkFactory::new(
                cfg.id,
                partition.clone(),
                Arc::clone(&store),
                channels.clone(),
                cfg.replication,
                tasks.child("replication"),
            ),
            LogStore::new(Arc::clone(&store), Arc::clone(&meta)).with_hold(hold.clone()),
            StateMachine::new(Arc::clone(&store), meta).with_hold(hold),
        )
        .await
        .map_err(|e| StartError::Raft {
            while_doing: "starting",
            reason: e.to_string(),
        })?;

        // Joined writes must still fit in a segment (see `LocalWriter::propose`).
        let max_entry = usize::try_from(store.commitlog().max_entry_body()).unwrap_or(usize::MAX);
        let batching = Batching {
            max_bytes: cfg.batching.max_bytes.min(max_entry),
            ..cfg.batching
        };
        let proposer = Proposer::start(raft.clone(), batching, &tasks);
        let raft_server = RaftServer::new(
            cfg.id,
            raft.clone(),
            partition.clone(),
            proposer.clone(),
            Arc::clone(&store),
            cfg.client_addr.clone(),
            tasks.child("raft-port"),
        );
        let service = RaftServiceServer::new(raft_server.clone())
            .max_decoding_message_size(MAX_RPC_BYTES)
            .max_encoding_message_size(MAX_RPC_BYTES);
        let incoming = crate::server::accept(listener, raft_server);
        let stopping = tasks.stopping();
        tasks.spawn_graceful("raft-server", async move {
            let served = tonic::transport::Server::builder()
                .tcp_nodelay(true)
                .max_frame_size(Some(raftmq_proto::serve::MAX_FRAME_SIZE))
                .initial_stream_window_size(Some(8 << 20))
                .initial_connection_window_size(Some(16 << 20))
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, stopping)
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "raft server stopped");
            }
        });

        if let Some(p) = cfg
            .preferred_leader
            .filter(|p| *p != cfg.id && cfg.peers.contains_key(p))
        {
            tasks.spawn(
                "preferred-leader",
                hand_over_to_preferred(raft.clone(), cfg.id, p),
            );
        }
        tasks.spawn(
            "retention",
            retention_loop(raft.clone(), Arc::downgrade(&store)),
        );
        let leadership = watch_leadership(&raft, &tasks);
        let members = Members::new(
            cfg.id,
            cfg.client_addr.clone(),
            raft.clone(),
            channels,
            partition,
        );
        let forwarder = Forwarder {
            raft: raft.clone(),
            members: members.clone(),
        };
        let local = LocalWriter {
            raft: raft.clone(),
            proposer,
            store: Arc::clone(&store),
        };
        let node = Self {
            id: cfg.id,
            raft,
            store,
            local,
            forwarder,
            members,
            leadership,
            leader_wait: Duration::from_millis(cfg.timing.election_max_ms.saturating_mul(4)),
            tasks,
            stopped: AtomicBool::new(false),
            released: parking_lot::Mutex::new(Some(released)),
            #[cfg(feature = "test-util")]
            hooks,
        };
        if let Err(e) = node.form_group(&cfg.peers).await {
            node.stop(false).await;
            return Err(e);
        }
        Ok(node)
    }

    /// On a member's first start, forms the group from `peers`. Another
    /// member forming it first is fine; openraft stopping (it could not
    /// write its first entry: a full disk) is a failed start.
    async fn form_group(&self, peers: &BTreeMap<NodeId, String>) -> Result<(), StartError> {
        let stopped = |e: &dyn std::fmt::Display| StartError::Raft {
            while_doing: "forming the group",
            reason: e.to_string(),
        };
        if self.raft.is_initialized().await.map_err(|e| stopped(&e))? {
            return Ok(());
        }
        let members: BTreeMap<NodeId, BasicNode> = peers
            .iter()
            .map(|(id, addr)| (*id, BasicNode::new(addr)))
            .collect();
        match self.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(openraft::errors::RaftError::Fatal(f)) => Err(stopped(&f)),
            Err(e) => {
                tracing::info!(error = %e, "group already initialized");
                Ok(())
            }
        }
    }

    /// Why this member's Raft stopped by itself, if it did: openraft stops
    /// for good on a storage error (a disk that is full or failing), and the
    /// member then serves nothing until it is restarted. None while it runs
    /// and after a requested stop.
    pub fn failure(&self) -> Option<String> {
        failure_of(&self.raft.metrics().borrow_watched())
    }

    /// Waits until this member's Raft stops by itself ([`RaftNode::failure`])
    /// and returns why, within [`FAILURE_POLL`] of it; never returns while it
    /// runs or once it was stopped on request.
    ///
    /// Polled rather than woken by openraft's metrics: they change with
    /// every entry appended, committed and applied, and a waiter woken by
    /// each (the broker's main thread) cost the members 12-18% more CPU at
    /// 90,000 msg/s in context switches alone.
    pub async fn failed(&self) -> String {
        let mut tick = tokio::time::interval(FAILURE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(why) = self.failure() {
                return why;
            }
        }
    }

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The openraft handle, for tests that drive openraft directly.
    #[cfg(feature = "test-util")]
    pub fn raft(&self) -> &Raft<TypeConfig, StateMachine> {
        &self.raft
    }

    /// The test switches this member was started with.
    #[cfg(feature = "test-util")]
    pub fn hooks(&self) -> &FaultHooks {
        &self.hooks
    }

    /// The store.
    pub fn store(&self) -> &Arc<MessageStore> {
        &self.store
    }

    /// The group commit's load: writes waiting, oldest wait.
    pub fn write_load(&self) -> (u64, Duration) {
        self.local.proposer.load().now()
    }

    /// Who leads, as this member sees it, now and as it changes.
    pub fn leadership(&self) -> watch::Receiver<Leadership> {
        self.leadership.clone()
    }

    /// Whether this member leads now.
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    /// The term this member is in.
    pub fn term(&self) -> u64 {
        self.leadership.borrow().term
    }

    /// The leader this member knows of.
    pub fn leader(&self) -> Option<NodeId> {
        self.leadership.borrow().leader
    }

    /// This member's Raft state now.
    pub fn status(&self) -> RaftStatus {
        let m = self.raft.metrics().borrow_watched().clone();
        RaftStatus {
            leadership: *self.leadership.borrow(),
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            failure: failure_of(&m),
        }
    }

    /// A watch that wakes at each step of this member's log (appended,
    /// committed, applied): what long polls wait on for new messages.
    pub fn progress(&self) -> Progress {
        Progress(self.raft.metrics())
    }

    /// Every member of the group with its Raft address, from the log's
    /// membership.
    pub fn members(&self) -> BTreeMap<NodeId, String> {
        self.members.raft_addrs()
    }

    /// Where the clients of member `id` reach it, as that member says
    /// (asked over its Raft port, then remembered).
    pub async fn client_addr(&self, id: NodeId) -> Result<String, AddressError> {
        self.members.client_addr(id).await
    }

    /// Forgets what member `id` said of its client address, after a call to
    /// it could not connect.
    pub fn forget_client_addr(&self, id: NodeId) {
        self.members.forget_client_addr(id);
    }

    /// Waits (up to four election timeouts) until this member leads and has
    /// applied an entry of its own term, and so every entry its predecessors
    /// committed: only then does its applied state (the key index, queue
    /// offsets) include all that the group acknowledged. A new leader gets
    /// there once the blank entry it appends on election is applied.
    /// Returns whether it did; false at once when leadership is lost.
    pub async fn wait_applied_as_leader(&self) -> bool {
        fn ready(m: &openraft::RaftMetrics<TypeConfig>) -> bool {
            m.state == openraft::ServerState::Leader
                && m.last_applied.map(|l| l.leader_id.term) == Some(m.current_term)
        }
        if ready(&self.raft.metrics().borrow_watched()) {
            return true;
        }
        // Stop waiting as soon as leadership is lost, too.
        let settled = |m: &openraft::RaftMetrics<TypeConfig>| {
            ready(m) || m.state != openraft::ServerState::Leader
        };
        match self
            .raft
            .wait(Some(self.leader_wait))
            .metrics(settled, "an applied entry of this leader's term")
            .await
        {
            Ok(m) => ready(&m),
            Err(_) => false,
        }
    }

    /// Stores messages through Raft; returns once a majority has them and
    /// they are applied on the leader, with their queue offsets. On a member
    /// that does not lead, the write is forwarded to the leader.
    pub async fn write(&self, msgs: &[Message]) -> Result<Vec<PutResult>, WriteError> {
        let body = self.encode(msgs)?;
        self.propose(DataKind::Messages, bytes::Bytes::from(body), msgs.len())
            .await
    }

    fn encode(&self, msgs: &[Message]) -> Result<Vec<u8>, WriteError> {
        self.store.encode_batch(msgs, usize::MAX).map_err(|e| {
            Refusal::Malformed {
                what: e.to_string(),
            }
            .into()
        })
    }

    /// Stores messages through Raft on this member only: `NotLeader` if it
    /// does not lead (no forwarding).
    pub async fn write_here(&self, msgs: &[Message]) -> Result<Vec<PutResult>, WriteError> {
        let body = self.encode(msgs)?;
        self.local
            .propose(DataKind::Messages, bytes::Bytes::from(body), msgs.len())
            .await
    }

    /// Proposes here if this member leads, else forwards to the leader; while
    /// no leader is known, waits for one (up to four election timeouts).
    /// Gives up after a few leader changes with the last error.
    async fn propose(
        &self,
        kind: DataKind,
        body: bytes::Bytes,
        count: usize,
    ) -> Result<Vec<PutResult>, WriteError> {
        const ATTEMPTS: usize = 4;
        if let Some(why) = self.failure() {
            return Err(WriteError::Failed { why });
        }
        let mut last = WriteError::NotLeader { leader: None };
        let mut target = self.raft.metrics().borrow_watched().current_leader;
        for _ in 0..ATTEMPTS {
            let tried = target.unwrap_or(self.id);
            let outcome = if tried == self.id {
                self.local.propose(kind, body.clone(), count).await
            } else {
                self.forwarder
                    .propose(tried, kind, body.clone(), count)
                    .await
            };
            match outcome {
                Err(WriteError::NotLeader { leader }) => {
                    last = WriteError::NotLeader { leader };
                    target = match leader {
                        // Told of another leader: go straight there.
                        Some(l) if l != tried => Some(l),
                        _ => {
                            self.wait_for_leader_change(Some(tried)).await;
                            self.raft.metrics().borrow_watched().current_leader
                        }
                    };
                }
                other => return other,
            }
        }
        Err(last)
    }

    /// Waits until this member knows a leader other than `stale` (or any
    /// leader when `stale` is `None`), up to `leader_wait`.
    async fn wait_for_leader_change(&self, stale: Option<NodeId>) {
        let known = self.raft.metrics().borrow_watched().current_leader;
        if known.is_some() && known != stale {
            return;
        }
        let _ = self
            .raft
            .wait(Some(self.leader_wait))
            .metrics(
                |m| m.current_leader.is_some() && m.current_leader != stale,
                "a new leader",
            )
            .await;
    }

    /// One retention pass on this member: when the store's retention would
    /// delete segments, the log is purged through Raft (a snapshot first,
    /// so that a member that needs purged entries gets them from the
    /// snapshot), then the segments go. Returns the new log start index.
    pub async fn run_retention(
        &self,
        now: std::time::SystemTime,
        hour: Option<raftmq_store::message_store::HourOrManual>,
    ) -> Result<Option<u64>, WriteError> {
        retention_pass(&self.raft, &self.store, now, hour).await
    }

    /// Applies a control command (topic change, offset commit) through Raft,
    /// forwarded to the leader when this member does not lead.
    pub async fn command(&self, cmd: &raftmq_store::meta_state::Command) -> Result<(), WriteError> {
        let body = cmd.encode().map_err(|e| Refusal::Malformed {
            what: e.to_string(),
        })?;
        self.propose(DataKind::Command, bytes::Bytes::from(body), 0)
            .await
            .map(|_| ())
    }

    /// Applies a control command through Raft on this member only:
    /// `NotLeader` if it does not lead (no forwarding), as
    /// [`RaftNode::write_here`].
    pub async fn write_here_command(
        &self,
        cmd: &raftmq_store::meta_state::Command,
    ) -> Result<(), WriteError> {
        let body = cmd.encode().map_err(|e| Refusal::Malformed {
            what: e.to_string(),
        })?;
        self.local
            .propose(DataKind::Command, bytes::Bytes::from(body), 0)
            .await
            .map(|_| ())
    }

    /// Asks the group to move leadership to `to` (admin call).
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), WriteError> {
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(|e| WriteError::unknown(format!("moving leadership to n{to}"), e))
    }

    /// Stops the member: its tasks, openraft, and the store's threads.
    /// With `flush`, the store is flushed as on a clean stop; without, it is
    /// left as a crash of the process would.
    pub async fn stop(self, flush: bool) {
        self.shutdown(flush).await;
    }

    /// [`RaftNode::stop`] through a shared handle: the member stops (tasks,
    /// openraft, the store's threads) even if others still hold it; what
    /// they call afterwards fails. Later calls do nothing. Bounded: tasks
    /// still running after a few seconds are named in the log.
    pub async fn shutdown(&self, flush: bool) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // Tasks first: no new write reaches openraft, and replication
        // sessions and connections let go of this member's handles.
        let _ = self.tasks.stop(STOP_WAIT).await;
        let _ = self.raft.shutdown().await;
        // openraft's state-machine worker may still finish what it was
        // given: wait until it let go, so that a restart on the same files
        // never races it.
        let released = self.released.lock().take();
        if let Some(released) = released {
            if !released.wait(STOP_WAIT).await {
                tracing::warn!("openraft still holds the store after {STOP_WAIT:?}");
            }
        }
        if flush {
            if let Err(e) = self.store.close() {
                tracing::error!(error = %e, "store close failed");
            }
        }
        self.store.stop_background();
    }
}

/// Keeps a [`Leadership`] watch in step with openraft's server metrics,
/// which change with the term, role, leader or membership only, not with
/// every write.
fn watch_leadership(
    raft: &Raft<TypeConfig, StateMachine>,
    tasks: &Tasks,
) -> watch::Receiver<Leadership> {
    let mut server = raft.server_metrics();
    let (tx, rx) = watch::channel(Leadership::of(&server.borrow_watched()));
    tasks.spawn("leadership", async move {
        while server.changed().await.is_ok() {
            let now = Leadership::of(&server.borrow_watched());
            tx.send_if_modified(|seen| std::mem::replace(seen, now) != now);
        }
        // openraft is gone.
        tx.send_modify(|l| l.role = Role::Stopped);
    });
    rx
}

/// How often [`RaftNode::failed`] looks.
pub const FAILURE_POLL: Duration = Duration::from_millis(200);

fn failure_of(m: &openraft::RaftMetrics<TypeConfig>) -> Option<String> {
    match &m.running_state {
        Ok(()) | Err(openraft::errors::Fatal::Stopped) => None,
        Err(f) => Some(f.to_string()),
    }
}

/// While this member leads and the preferred member has replicated
/// everything, hands leadership over to it (once per term).
async fn hand_over_to_preferred(
    raft: Raft<TypeConfig, StateMachine>,
    me: NodeId,
    preferred: NodeId,
) {
    use openraft::type_config::async_runtime::WatchReceiver;
    let mut metrics = raft.metrics();
    let mut tried_term = None;
    loop {
        let ready = {
            let m = metrics.borrow_and_update();
            let leading = m.state == openraft::ServerState::Leader && m.current_leader == Some(me);
            let caught_up = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&preferred))
                .and_then(|matched| matched.as_ref())
                .is_some_and(|matched| Some(matched.index) == m.last_log_index);
            (leading && caught_up && tried_term != Some(m.current_term)).then_some(m.current_term)
        };
        if let Some(term) = ready {
            tried_term = Some(term);
            tracing::info!(to = preferred, "handing leadership to the preferred member");
            if let Err(e) = raft.trigger().transfer_leader(preferred).await {
                tracing::warn!(error = %e, "leadership transfer failed");
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// A member that led before it stopped does not resume leading that term
/// on restart (openraft would, from its committed vote for itself): its
/// log may have lost entries it had reported stored (ASYNC_FLUSH reports
/// an entry before fsync, and a machine crash loses what was not flushed),
/// and leading the same term again it would hand those indexes to new
/// entries while the followers keep the old ones under the same log id.
/// With the vote made a plain candidate's, it must win a new term, which
/// needs a log holding every committed entry (ADR 0005).
fn step_down_from_the_old_term(meta: &RaftMeta, me: NodeId) -> std::io::Result<()> {
    match meta.vote() {
        Some(v) if v.committed && v.leader_id.voted_for == me => {
            tracing::info!(
                term = v.leader_id.term,
                "led before the restart: not resuming that term"
            );
            meta.save_vote(&openraft::Vote::new(v.leader_id.term, me))
        }
        _ => Ok(()),
    }
}

/// See [`RaftNode::run_retention`].
async fn retention_pass(
    raft: &Raft<TypeConfig, StateMachine>,
    store: &MessageStore,
    now: std::time::SystemTime,
    hour: Option<raftmq_store::message_store::HourOrManual>,
) -> Result<Option<u64>, WriteError> {
    let unknown = |e: &dyn std::fmt::Display| WriteError::unknown_because(e.to_string());
    let Some(purge_to) = store
        .expired_purge_index(now, hour)
        .map_err(|e| unknown(&e))?
    else {
        return Ok(None);
    };
    let upto = purge_to - 1;
    let already = raft.metrics().borrow_watched().purged.map(|p| p.index);
    if already.is_some_and(|p| p >= upto) {
        // Raft let go of these entries already (a snapshot install).
        store.purge_before(purge_to).map_err(|e| unknown(&e))?;
        return Ok(Some(purge_to));
    }
    raft.trigger().snapshot().await.map_err(|e| unknown(&e))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let snap = raft.metrics().borrow_watched().snapshot.map(|s| s.index);
        if snap.is_some_and(|s| s >= upto) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(WriteError::unknown_because(
                "snapshot for retention not built in time",
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    raft.trigger()
        .purge_log(upto)
        .await
        .map_err(|e| unknown(&e))?;
    Ok(Some(purge_to))
}

/// How often retention looks, as the store's own cleaner.
const RETENTION_INTERVAL: Duration = Duration::from_secs(10);

async fn retention_loop(
    raft: Raft<TypeConfig, StateMachine>,
    store: std::sync::Weak<MessageStore>,
) {
    let mut tick = tokio::time::interval(RETENTION_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(store) = store.upgrade() else { return };
        if let Err(e) = retention_pass(&raft, &store, std::time::SystemTime::now(), None).await {
            tracing::warn!(error = %e, "retention pass failed");
        }
    }
}
