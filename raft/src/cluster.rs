//! A whole group in one process, on free loopback ports and a temporary
//! directory: for tests and benchmarks (`test-util` builds only).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use raftmq_store::message_store::PutResult;
use raftmq_store::record::message::Message;
use raftmq_store::{FlushMode, StoreConfig};
use tokio::net::TcpListener;

use crate::error::{StartError, WriteError};
use crate::network::ReplicationTransport;
use crate::node::{FaultHooks, NodeConfig, RaftNode, Timing};
use crate::partition::Partition;
use crate::proposer::Batching;
use crate::types::NodeId;

/// How to build the group.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Members.
    pub size: usize,
    /// Flush mode of every member.
    pub flush_mode: FlushMode,
    /// Small files (tests) or production sizes.
    pub small_files: bool,
    /// Election timing.
    pub timing: Timing,
    /// `preferredLeaderIds`.
    pub preferred_leader: Option<NodeId>,
    /// How leaders replicate.
    pub replication: ReplicationTransport,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            size: 3,
            flush_mode: FlushMode::Async,
            small_files: true,
            timing: Timing::default(),
            preferred_leader: None,
            replication: ReplicationTransport::default(),
        }
    }
}

/// A running in-process group. Members are numbered 0..size.
pub struct LocalCluster {
    dir: tempfile::TempDir,
    configs: BTreeMap<NodeId, NodeConfig>,
    nodes: BTreeMap<NodeId, RaftNode>,
    partition: Partition,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("dir", &self.dir.path())
            .field("running", &self.nodes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl LocalCluster {
    /// Starts `size` members with default options.
    pub async fn start(size: usize) -> Result<Self, StartError> {
        Self::start_with(ClusterOptions {
            size,
            ..ClusterOptions::default()
        })
        .await
    }

    /// Starts a group.
    pub async fn start_with(opts: ClusterOptions) -> Result<Self, StartError> {
        let dir = tempfile::tempdir().map_err(|source| StartError::Io {
            what: "creating a temporary directory".into(),
            source,
        })?;
        let mut listeners = BTreeMap::new();
        for id in 0..opts.size as NodeId {
            let l = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| StartError::Io {
                    what: "binding a loopback port".into(),
                    source,
                })?;
            listeners.insert(id, l);
        }
        let mut peers = BTreeMap::new();
        for (id, l) in &listeners {
            let addr = l.local_addr().map_err(|source| StartError::Io {
                what: "reading a bound address".into(),
                source,
            })?;
            peers.insert(*id, addr.to_string());
        }
        let partition = Partition::default();
        let mut configs = BTreeMap::new();
        for id in peers.keys() {
            let root = dir.path().join(format!("node{id:02}"));
            let mut store = if opts.small_files {
                StoreConfig::small(&root)
            } else {
                StoreConfig::new(&root)
            };
            if opts.small_files {
                store.segment_size = 4 << 20;
            }
            store.flush_mode = opts.flush_mode;
            // A temporary directory, often on a disk fuller than the
            // shipped 90%: refuse only when it is entirely full.
            store.retention.disk_refuse_ratio = 100;
            configs.insert(
                *id,
                NodeConfig {
                    id: *id,
                    peers: peers.clone(),
                    store,
                    timing: opts.timing,
                    batching: Batching::default(),
                    preferred_leader: opts.preferred_leader,
                    replication: opts.replication,
                    client_addr: None,
                },
            );
        }
        let starts = configs.values().cloned().map(|cfg| {
            let l = listeners.remove(&cfg.id);
            RaftNode::start_with_hooks(cfg, l, self_hooks(&partition))
        });
        let mut nodes = BTreeMap::new();
        for node in futures_util::future::join_all(starts).await {
            let node = node?;
            nodes.insert(node.id(), node);
        }
        Ok(Self {
            dir,
            configs,
            nodes,
            partition,
        })
    }

    /// The Raft address of member `id`.
    pub fn raft_addr(&self, id: NodeId) -> Option<&str> {
        self.configs
            .get(&id)
            .and_then(|c| c.peers.get(&id))
            .map(String::as_str)
    }

    /// Member ids, running or not.
    pub fn ids(&self) -> Vec<NodeId> {
        self.configs.keys().copied().collect()
    }

    /// A running member.
    pub fn node(&self, id: NodeId) -> Option<&RaftNode> {
        self.nodes.get(&id)
    }

    /// The running members.
    pub fn running(&self) -> impl Iterator<Item = &RaftNode> {
        self.nodes.values()
    }

    /// The RPC switchboard.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// A member's store root.
    pub fn store_root(&self, id: NodeId) -> Option<std::path::PathBuf> {
        self.configs.get(&id).map(|c| c.store.root.clone())
    }

    /// Waits until the running members (other than `excluding`) agree on a
    /// leader that is one of them and claims it; returns it.
    pub async fn wait_for_leader(
        &self,
        timeout: Duration,
        excluding: Option<NodeId>,
    ) -> Option<NodeId> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = Vec::new();
            for n in self.nodes.values().filter(|n| Some(n.id()) != excluding) {
                seen.push(n.leader());
            }
            if let Some(Some(l)) = seen.first().copied() {
                let agreed = seen.iter().all(|s| *s == Some(l));
                if agreed && self.nodes.get(&l).is_some_and(|n| n.is_leader()) {
                    return Some(l);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Writes through whichever member leads, following redirects and
    /// retrying while there is none, until `timeout`. Members are called
    /// directly (no forwarding between them), so a write that reached no
    /// leader is known not to be stored.
    pub async fn write(
        &self,
        msgs: &[Message],
        timeout: Duration,
    ) -> Result<Vec<PutResult>, WriteError> {
        let deadline = Instant::now() + timeout;
        let mut target = self.nodes.keys().next().copied();
        loop {
            let outcome = match target.and_then(|t| self.nodes.get(&t)) {
                Some(n) => n.write_here(msgs).await,
                None => Err(WriteError::NotLeader { leader: None }),
            };
            match outcome {
                Err(WriteError::NotLeader { leader }) if Instant::now() < deadline => {
                    target = match leader.filter(|l| self.nodes.contains_key(l)) {
                        Some(l) => Some(l),
                        None => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            let ids: Vec<_> = self.nodes.keys().copied().collect();
                            let next = ids
                                .iter()
                                .position(|i| Some(*i) == target)
                                .map_or(0, |p| (p + 1) % ids.len());
                            ids.get(next).copied()
                        }
                    };
                }
                other => return other,
            }
        }
    }

    /// Stops a member as a crash would (no flush). Its files stay.
    pub async fn kill(&mut self, id: NodeId) {
        if let Some(n) = self.nodes.remove(&id) {
            n.stop(false).await;
        }
    }

    /// Stops a member as a power loss would: every byte of its commitlog
    /// that was not fsync'd is gone (zeroed), later segments too. What the
    /// member reported stored under SYNC_FLUSH survives; under ASYNC_FLUSH,
    /// whatever the flusher had not written yet is lost.
    pub async fn kill_losing_unflushed(&mut self, id: NodeId) -> std::io::Result<()> {
        let Some(n) = self.nodes.remove(&id) else {
            return Ok(());
        };
        let durable = n.store().commitlog().durable().0;
        let segment_size = n.store().config().segment_size;
        let dir = n.store().config().commitlog_dir();
        n.stop(false).await;
        for item in std::fs::read_dir(&dir)? {
            let path = item?.path();
            let Some(base) = path
                .file_name()
                .and_then(|f| f.to_str())
                .and_then(|f| f.parse::<u64>().ok())
            else {
                continue;
            };
            if base >= durable {
                std::fs::remove_file(&path)?;
            } else if durable < base + segment_size {
                let mut bytes = std::fs::read(&path)?;
                let from = (durable - base) as usize;
                bytes[from..].iter_mut().for_each(|b| *b = 0);
                std::fs::write(&path, bytes)?;
            }
        }
        Ok(())
    }

    /// Starts a stopped member again on its old address and files.
    pub async fn restart(&mut self, id: NodeId) -> Result<(), StartError> {
        let cfg = self
            .configs
            .get(&id)
            .cloned()
            .ok_or_else(|| StartError::NotAPeer {
                id,
                peers: self.ids(),
            })?;
        let node = RaftNode::start_with_hooks(cfg, None, self_hooks(&self.partition)).await?;
        self.nodes.insert(id, node);
        Ok(())
    }

    /// Stops every member cleanly.
    pub async fn shutdown(mut self) {
        let nodes: Vec<_> = std::mem::take(&mut self.nodes).into_values().collect();
        for n in nodes {
            n.stop(true).await;
        }
    }
}

/// A member's switches: the group's shared partition, its own store faults.
fn self_hooks(partition: &Partition) -> FaultHooks {
    FaultHooks {
        partition: partition.clone(),
        ..FaultHooks::default()
    }
}
