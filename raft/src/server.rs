//! The server side of the Raft RPCs: decodes each call and hands it to the
//! local openraft instance. The Raft port's acceptor (`accept`) serves
//! replication sessions in raftmq's own framing itself and hands gRPC
//! connections to tonic.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use openraft::type_config::alias::SnapshotOf;
use openraft::{Raft, SnapshotMeta};
use raftmq_proto::raft::v1 as pb;
use raftmq_proto::raft::v1::raft_service_server::RaftService;
use raftmq_tasks::Tasks;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::append_wire;
use crate::codec;
use crate::convert;
use crate::forward::{self, LocalWriter};
use crate::partition::Partition;
use crate::proposer::Proposer;
use crate::state_machine::{SnapshotData, StateMachine};
use crate::types::{NodeId, StoredMembership, TypeConfig};

/// One member's Raft service.
#[derive(Clone)]
pub struct RaftServer {
    me: NodeId,
    raft: Raft<TypeConfig, StateMachine>,
    partition: Partition,
    local: LocalWriter,
    /// This member's client address, for `Describe`.
    client_addr: Option<String>,
    /// The member's tasks: once they stop, open replication streams end (a
    /// leader keeps its stream open while idle, holding this member's Raft
    /// handles).
    tasks: Tasks,
}

impl RaftServer {
    /// Serves `raft`; RPCs from peers cut off from `me` by `partition` are
    /// refused, as if they never arrived. Forwarded writes are proposed
    /// through `proposer`. Connections and sessions are `tasks`'s.
    pub(crate) fn new(
        me: NodeId,
        raft: Raft<TypeConfig, StateMachine>,
        partition: Partition,
        proposer: Proposer,
        store: std::sync::Arc<raftmq_store::MessageStore>,
        client_addr: Option<String>,
        tasks: Tasks,
    ) -> Self {
        let local = LocalWriter {
            raft: raft.clone(),
            proposer,
            store,
        };
        Self {
            me,
            raft,
            partition,
            local,
            client_addr,
            tasks,
        }
    }

    /// A leader's replication session on a connection of our own framing
    /// ([`append_wire`]), the first byte of which the acceptor has seen:
    /// the same as [`RaftService::stream_append`], without gRPC.
    pub(crate) async fn serve_raw_append(self, stream: tokio::net::TcpStream) {
        let (read, mut write) = stream.into_split();
        let mut frames = append_wire::FrameReader::new(read);
        let greeted = tokio::select! {
            () = self.stopped() => return,
            greeted = tokio::time::timeout(FIRST_BYTE_WAIT, frames.expect_magic()) => greeted,
        };
        match greeted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "raft connection dropped");
                return;
            }
            Err(_) => {
                tracing::debug!("raft connection dropped: no session magic within 5 s");
                return;
            }
        }
        let received = futures_util::stream::unfold(frames, |mut frames| async move {
            let frame = match frames.next().await {
                Ok(Some(frame)) => frame,
                // The leader ended the session.
                Ok(None) => return None,
                Err(e) => {
                    tracing::debug!(error = %e, "append session closed by the sender");
                    return None;
                }
            };
            Some((frame, frames))
        });
        let server = self.clone();
        let requests = received.map_while(move |frame| {
            server.admit_append(
                append_wire::decode_request(frame)
                    .map_err(|e| Status::invalid_argument(e.to_string())),
            )
        });
        let requests =
            futures_util::StreamExt::take_until(Box::pin(requests), Box::pin(self.stopped()));
        let mut answers = std::pin::pin!(self.raft.stream_append(requests));
        let session = async {
            while let Some(answer) = answers.next().await {
                let answer = match answer {
                    Ok(result) => convert::stream_append_answer(&result),
                    Err(e) => {
                        tracing::warn!(error = %e, "append session ended by openraft");
                        return;
                    }
                };
                if let Err(e) = append_wire::write_answer(&mut write, &answer).await {
                    tracing::debug!(error = %e, "append session's answers undeliverable");
                    return;
                }
            }
        };
        // A leader that stopped reading must not keep this member's Raft
        // handles past its stop.
        tokio::select! {
            () = self.stopped() => {}
            () = session => {}
        }
    }

    /// Resolves once this member stops.
    fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.tasks.stopping()
    }

    /// A replication session's request as openraft takes it, whichever
    /// transport brought it; `None` ends the session: a request that does
    /// not decode, or one from a leader the partition switchboard cuts off.
    fn admit_append(
        &self,
        received: Result<pb::AppendEntriesRequest, Status>,
    ) -> Option<openraft::raft::AppendEntriesRequest<TypeConfig>> {
        let req = match received.and_then(convert::from_append_request) {
            Ok(req) => req,
            Err(status) => {
                tracing::warn!(%status, "append session ended by a bad request");
                return None;
            }
        };
        (!self.partition.is_cut(req.vote.leader_id.voted_for, self.me)).then_some(req)
    }

    fn admit(&self, from: Option<NodeId>) -> Result<(), Status> {
        match from {
            Some(from) if self.partition.is_cut(from, self.me) => {
                Err(Status::unavailable("partitioned"))
            }
            _ => Ok(()),
        }
    }
}

/// How long a new connection to the Raft port may stay silent before it
/// is dropped: both kinds of client speak first.
const FIRST_BYTE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Accepts the Raft port's connections: replication sessions of our own
/// framing (first byte [`append_wire::MAGIC`]'s) are served at once; the
/// others, gRPC, are handed on through the stream returned, for tonic.
/// Every connection gets TCP_NODELAY. Stops accepting when `server` stops.
pub(crate) fn accept(
    listener: tokio::net::TcpListener,
    server: RaftServer,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> + Send + 'static {
    let (grpc, incoming) = tokio::sync::mpsc::channel(16);
    let tasks = server.tasks.clone();
    tasks.spawn("raft-accept", async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: try again shortly.
                    tracing::warn!(error = %e, "raft port: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Best effort: a socket without it still works, only slower.
            let _ = stream.set_nodelay(true);
            let (grpc, server) = (grpc.clone(), server.clone());
            server.tasks.clone().spawn("raft-connection", async move {
                let mut first = [0u8; 1];
                let peeked = tokio::time::timeout(FIRST_BYTE_WAIT, stream.peek(&mut first)).await;
                match peeked {
                    Ok(Ok(1)) if first[0] == append_wire::MAGIC[0] => {
                        server.serve_raw_append(stream).await;
                    }
                    Ok(Ok(1)) => {
                        let _ = grpc.send(Ok(stream)).await;
                    }
                    // Closed, failed or silent: nothing to serve.
                    _ => {}
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(incoming)
}

fn fatal(e: impl std::fmt::Display) -> Status {
    Status::internal(e.to_string())
}

type StreamAppendResponse = std::pin::Pin<
    Box<
        dyn tokio_stream::Stream<Item = Result<pb::AppendEntriesResponse, Status>> + Send + 'static,
    >,
>;

#[tonic::async_trait]
impl RaftService for RaftServer {
    async fn vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        let req = convert::from_vote_request(request.into_inner())?;
        self.admit(Some(req.vote.leader_id.voted_for))?;
        let resp = self.raft.vote(req).await.map_err(fatal)?;
        Ok(Response::new(convert::vote_response(&resp)))
    }

    async fn pre_vote(
        &self,
        request: Request<pb::VoteRequest>,
    ) -> Result<Response<pb::VoteResponse>, Status> {
        let req = convert::from_vote_request(request.into_inner())?;
        self.admit(Some(req.vote.leader_id.voted_for))?;
        let resp = self.raft.pre_vote(req).await.map_err(fatal)?;
        Ok(Response::new(convert::vote_response(&resp)))
    }

    async fn append_entries(
        &self,
        request: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::AppendEntriesResponse>, Status> {
        let req = convert::from_append_request(request.into_inner())?;
        self.admit(Some(req.vote.leader_id.voted_for))?;
        let resp = self.raft.append_entries(req).await.map_err(fatal)?;
        Ok(Response::new(convert::append_response(&resp)))
    }

    type StreamAppendStream = StreamAppendResponse;

    /// A leader's replication session: requests are handed to openraft as
    /// they arrive (pipelined), answers go back in the same order. A request
    /// that does not decode, or comes from a peer cut off by the partition
    /// switchboard, ends the session after the answers already due.
    async fn stream_append(
        &self,
        request: Request<Streaming<pb::AppendEntriesRequest>>,
    ) -> Result<Response<Self::StreamAppendStream>, Status> {
        let server = self.clone();
        let requests = request
            .into_inner()
            .map_while(move |received| match received {
                Ok(req) => server.admit_append(Ok(req)),
                // The leader went away or ended the session.
                Err(status) => {
                    tracing::debug!(%status, "append stream closed by the sender");
                    None
                }
            });
        let requests = futures_util::StreamExt::take_until(requests, Box::pin(self.stopped()));
        let answers = self
            .raft
            .stream_append(requests)
            .map(|answer| match answer {
                Ok(result) => Ok(convert::stream_append_answer(&result)),
                Err(e) => Err(fatal(e)),
            });
        Ok(Response::new(Box::pin(answers)))
    }

    async fn install_snapshot(
        &self,
        request: Request<Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::SnapshotResponse>, Status> {
        let mut chunks = request.into_inner();
        let mut vote = None;
        let mut meta = None;
        let mut plan = None;
        let mut spill = Spill::new(&self.local.store.config().root).map_err(spill_failed)?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            if vote.is_none() {
                let v = convert::vote(chunk.vote)?;
                // Before anything is written to disk for this sender.
                self.admit(Some(v.leader_id.voted_for))?;
                vote = Some(v);
                meta = chunk.meta;
                plan = Some(
                    codec::decode_plan(&chunk.data)
                        .map_err(|e| Status::invalid_argument(e.to_string()))?,
                );
            } else {
                spill.push(&chunk.data).map_err(spill_failed)?;
            }
        }
        let records = spill.into_bytes().map_err(spill_failed)?;
        let vote = vote.ok_or_else(|| Status::invalid_argument("empty snapshot stream"))?;
        let meta = meta.ok_or_else(|| Status::invalid_argument("snapshot without meta"))?;
        let membership = codec::decode_membership(&meta.membership)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let last_log_id = meta.last_log_id.as_ref().map(convert::from_pb_log_id);
        if let (Some(plan), Some(last)) = (&plan, last_log_id) {
            // Checked here, not by the state machine: openraft stops for
            // good on a storage error, while the leader retries a refusal.
            let span = codec::records_span(&records)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            let whole = match span {
                Some((first, end)) => first == plan.start_index && end == last.index,
                None => last.index.checked_add(1) == Some(plan.start_index),
            };
            if !whole {
                return Err(Status::invalid_argument(format!(
                    "snapshot through {} carried entries {span:?} from a log starting at {}",
                    last.index, plan.start_index
                )));
            }
        }
        let snapshot = SnapshotOf::<TypeConfig, SnapshotData> {
            meta: SnapshotMeta {
                last_log_id,
                last_membership: StoredMembership::new(
                    meta.last_membership_log_id
                        .as_ref()
                        .map(convert::from_pb_log_id),
                    membership,
                ),
            },
            snapshot: SnapshotData {
                received: plan.map(|p| (p, records)),
            },
        };
        let resp = self
            .raft
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(fatal)?;
        Ok(Response::new(pb::SnapshotResponse {
            vote: Some(convert::pb_vote(&resp.vote)),
        }))
    }

    async fn transfer_leader(
        &self,
        request: Request<pb::TransferLeaderRequest>,
    ) -> Result<Response<pb::TransferLeaderResponse>, Status> {
        let r = request.into_inner();
        let from = convert::vote(r.from_leader)?;
        self.admit(Some(from.leader_id.voted_for))?;
        let req = openraft::raft::TransferLeaderRequest::new(
            from,
            r.to_node_id,
            r.last_log_id.as_ref().map(convert::from_pb_log_id),
        );
        self.raft
            .handle_transfer_leader(req)
            .await
            .map_err(fatal)?
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        Ok(Response::new(pb::TransferLeaderResponse {}))
    }

    async fn propose(
        &self,
        request: Request<pb::ProposeRequest>,
    ) -> Result<Response<pb::ProposeResponse>, Status> {
        let r = request.into_inner();
        self.admit(Some(r.from))?;
        forward::serve(&self.local, r).await.map(Response::new)
    }

    async fn describe(
        &self,
        _request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        Ok(Response::new(pb::DescribeResponse {
            id: self.me,
            client_addr: self.client_addr.clone().unwrap_or_default(),
        }))
    }
}

/// The entries of a snapshot being received, written to a file with no
/// name beside the store as they arrive: a member catching up on gigabytes
/// of retained messages holds one chunk in memory, not all of them.
struct Spill {
    file: std::fs::File,
    len: usize,
}

impl Spill {
    fn new(dir: &std::path::Path) -> std::io::Result<Self> {
        Ok(Self {
            file: tempfile::tempfile_in(dir)?,
            len: 0,
        })
    }

    fn push(&mut self, data: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.file.write_all(data)?;
        self.len += data.len();
        Ok(())
    }

    /// The entries, mapped read-only: page cache, which the kernel can
    /// drop, rather than the process's own memory.
    fn into_bytes(self) -> std::io::Result<bytes::Bytes> {
        if self.len == 0 {
            return Ok(bytes::Bytes::new());
        }
        // SAFETY: the file has no name (`tempfile_in`), so nothing else
        // can open, write or truncate it, and nothing writes to it after
        // this: the mapped bytes stay as they are while the map lives.
        let map = unsafe { memmap2::Mmap::map(&self.file)? };
        Ok(bytes::Bytes::from_owner(map))
    }
}

fn spill_failed(e: std::io::Error) -> Status {
    Status::resource_exhausted(format!("cannot hold the snapshot's entries on disk: {e}"))
}
