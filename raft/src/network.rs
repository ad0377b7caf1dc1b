//! The client side of the Raft RPCs: one tonic channel per peer, reused by
//! every RPC to it, connected lazily. A [`Partition`] switchboard lets tests
//! drop RPCs between chosen members, as a network partition would.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::impls::BasicNode;
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use parking_lot::Mutex;
use raftmq_proto::raft::v1 as pb;
use raftmq_proto::raft::v1::raft_service_client::RaftServiceClient;
use tonic::transport::{Channel, Endpoint};

use raftmq_store::MessageStore;

use crate::codec;
use crate::convert;
use crate::state_machine::SnapshotData;
use crate::types::{NodeId, TypeConfig};

/// Pairs of members whose RPCs are dropped (both directions are listed
/// separately). Shared by every member of an in-process cluster.
#[derive(Clone, Debug, Default)]
pub struct Partition(Arc<Mutex<HashSet<(NodeId, NodeId)>>>);

impl Partition {
    /// Drops every RPC between `node` and the others in `all`.
    pub fn isolate(&self, node: NodeId, all: &[NodeId]) {
        let mut cut = self.0.lock();
        for &other in all.iter().filter(|o| **o != node) {
            cut.insert((node, other));
            cut.insert((other, node));
        }
    }

    /// Lets every RPC through again.
    pub fn heal(&self) {
        self.0.lock().clear();
    }

    /// Whether RPCs from `from` to `to` are dropped.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.0.lock().contains(&(from, to))
    }
}

/// One long-lived, lazily connected channel per peer address, shared by
/// replication and forwarded writes.
#[derive(Clone, Debug, Default)]
pub struct Channels(Arc<Mutex<HashMap<String, Channel>>>);

impl Channels {
    fn channel(&self, addr: &str) -> Result<Channel, String> {
        let mut channels = self.0.lock();
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| format!("bad peer address {addr}: {e}"))?
            .tcp_nodelay(true)
            .connect_timeout(std::time::Duration::from_millis(500));
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_owned(), channel.clone());
        Ok(channel)
    }

    /// A client on the channel to `addr`.
    pub fn client_for(&self, addr: &str) -> Result<RaftServiceClient<Channel>, String> {
        self.channel(addr).map(|c| {
            RaftServiceClient::new(c)
                .max_decoding_message_size(crate::node::MAX_RPC_BYTES)
                .max_encoding_message_size(crate::node::MAX_RPC_BYTES)
        })
    }
}

/// Makes clients for the peers of one member.
#[derive(Clone, Debug)]
pub struct NetworkFactory {
    me: NodeId,
    channels: Channels,
    partition: Partition,
    store: Arc<MessageStore>,
}

impl NetworkFactory {
    /// Clients from member `me` over `channels`; store snapshots are read
    /// from `store`.
    pub fn new(
        me: NodeId,
        partition: Partition,
        store: Arc<MessageStore>,
        channels: Channels,
    ) -> Self {
        Self {
            me,
            channels,
            partition,
            store,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            me: self.me,
            target,
            client: self.channels.client_for(&node.addr),
            partition: self.partition.clone(),
            store: Arc::clone(&self.store),
        }
    }
}

/// RPCs to one peer.
#[derive(Debug)]
pub struct PeerClient {
    me: NodeId,
    target: NodeId,
    client: Result<RaftServiceClient<Channel>, String>,
    partition: Partition,
    store: Arc<MessageStore>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Message(String);

impl PeerClient {
    fn client(&self) -> Result<RaftServiceClient<Channel>, Unreachable<TypeConfig>> {
        if self.partition.is_cut(self.me, self.target) {
            return Err(Unreachable::new(&Message(format!(
                "partitioned from node {}",
                self.target
            ))));
        }
        self.client
            .clone()
            .map_err(|e| Unreachable::new(&Message(e)))
    }
}

fn status_to_rpc(s: tonic::Status) -> RPCError<TypeConfig> {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled => {
            RPCError::Unreachable(Unreachable::new(&s))
        }
        _ => RPCError::Network(NetworkError::new(&s)),
    }
}

fn request<T>(msg: T, option: &RPCOption) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    req.set_timeout(option.hard_ttl());
    req
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut client = self.client()?;
        let resp = client
            .append_entries(request(convert::append_request(&rpc), &option))
            .await
            .map_err(status_to_rpc)?;
        convert::from_append_response(resp.into_inner())
            .map_err(|s| RPCError::Network(NetworkError::new(&s)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut client = self.client()?;
        let resp = client
            .vote(request(convert::vote_request(&rpc), &option))
            .await
            .map_err(status_to_rpc)?;
        convert::from_vote_response(resp.into_inner())
            .map_err(|s| RPCError::Network(NetworkError::new(&s)))
    }

    async fn full_snapshot(
        &mut self,
        vote: VoteOf<TypeConfig>,
        snapshot: SnapshotOf<TypeConfig, SnapshotData>,
        _cancel: impl Future<Output = ReplicationClosed> + openraft::OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let mut client = self.client()?;
        let meta = &snapshot.meta;
        let chunks = snapshot_chunks(&self.store, &vote, meta)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let resp = client
            .install_snapshot(request(tokio_stream::iter(chunks), &option))
            .await
            .map_err(|s| match status_to_rpc(s) {
                RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                RPCError::Network(n) => StreamingError::Network(n),
                other => StreamingError::Network(NetworkError::new(&other)),
            })?;
        let v = convert::vote(resp.into_inner().vote)
            .map_err(|s| StreamingError::Network(NetworkError::new(&s)))?;
        Ok(SnapshotResponse { vote: v })
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut client = self.client()?;
        client
            .transfer_leader(request(
                pb::TransferLeaderRequest {
                    from_leader: Some(convert::pb_vote(req.from_leader())),
                    to_node_id: *req.to_node_id(),
                    last_log_id: req.last_log_id().map(convert::pb_log_id),
                },
                &option,
            ))
            .await
            .map_err(status_to_rpc)?;
        Ok(Ok(()))
    }
}

/// Bytes of retained entries per snapshot chunk.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// The chunks of a snapshot: the meta and the plan first, then the retained
/// entries from the log start through the snapshot's last index, as stored.
fn snapshot_chunks(
    store: &MessageStore,
    vote: &VoteOf<TypeConfig>,
    meta: &openraft::type_config::alias::SnapshotMetaOf<TypeConfig>,
) -> Result<Vec<pb::SnapshotChunk>, raftmq_store::StoreError> {
    let plan = store.snapshot_plan();
    let mut chunks = vec![pb::SnapshotChunk {
        vote: Some(convert::pb_vote(vote)),
        meta: Some(pb::SnapshotMeta {
            last_log_id: meta.last_log_id.as_ref().map(convert::pb_log_id),
            last_membership_log_id: meta
                .last_membership
                .log_id()
                .as_ref()
                .map(convert::pb_log_id),
            membership: codec::encode_membership(meta.last_membership.membership()),
            snapshot_id: String::new(),
        }),
        data: codec::encode_plan(&plan)?,
    }];
    let Some(last) = meta.last_log_id else {
        return Ok(chunks);
    };
    let log = store.commitlog();
    let mut buf = bytes::BytesMut::with_capacity(SNAPSHOT_CHUNK);
    for index in plan.start_index..=last.index {
        let e = log.read_entry(index)?;
        buf.extend_from_slice(&e.bytes);
        if buf.len() >= SNAPSHOT_CHUNK {
            chunks.push(pb::SnapshotChunk {
                vote: None,
                meta: None,
                data: buf.split().freeze(),
            });
        }
    }
    if !buf.is_empty() {
        chunks.push(pb::SnapshotChunk {
            vote: None,
            meta: None,
            data: buf.freeze(),
        });
    }
    Ok(chunks)
}
