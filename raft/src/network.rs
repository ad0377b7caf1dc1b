//! The client side of the Raft RPCs: one tonic channel per peer, reused by
//! every RPC to it, connected lazily, and for replication one TCP
//! connection per session in raftmq's own framing ([`append_wire`], ADR
//! 0009) or, configured so, a gRPC call per session. A [`Partition`]
//! (tests only) drops RPCs between chosen members, as a network partition
//! would.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use openraft::base::{BoxFuture, BoxStream};
use openraft::errors::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::impls::BasicNode;
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::{SnapshotOf, VoteOf};
use openraft::OptionalSend;
use parking_lot::Mutex;
use raftmq_proto::raft::v1 as pb;
use raftmq_proto::raft::v1::raft_service_client::RaftServiceClient;
use raftmq_tasks::Tasks;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tonic::transport::Channel;

use raftmq_store::MessageStore;

use crate::append_wire;
use crate::channels::{BadAddress, Channels, CONNECT_WAIT};
use crate::codec;
use crate::convert;
use crate::partition::Partition;
use crate::state_machine::SnapshotData;
use crate::types::{LogId, NodeId, TypeConfig};

/// How a leader carries its replication sessions (`raftReplicationTransport`).
/// Members of this build answer both; members of builds before ADR 0009
/// answer only gRPC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplicationTransport {
    /// raftmq's own framing on a TCP connection per session (ADR 0009).
    #[default]
    Framed,
    /// A gRPC `StreamAppend` call per session (ADR 0005).
    Grpc,
}

/// Makes clients for the peers of one member.
#[derive(Clone, Debug)]
pub struct NetworkFactory {
    me: NodeId,
    channels: Channels,
    partition: Partition,
    store: Arc<MessageStore>,
    transport: ReplicationTransport,
    tasks: Tasks,
}

impl NetworkFactory {
    /// Clients from member `me` over `channels`; store snapshots are read
    /// from `store`; replication sessions go over `transport`, their writers
    /// owned by `tasks`.
    pub(crate) fn new(
        me: NodeId,
        partition: Partition,
        store: Arc<MessageStore>,
        channels: Channels,
        transport: ReplicationTransport,
        tasks: Tasks,
    ) -> Self {
        Self {
            me,
            channels,
            partition,
            store,
            transport,
            tasks,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            me: self.me,
            target,
            addr: node.addr.clone(),
            client: self.channels.client_for(&node.addr),
            partition: self.partition.clone(),
            store: Arc::clone(&self.store),
            transport: self.transport,
            tasks: self.tasks.clone(),
        }
    }
}

/// RPCs to one peer.
#[derive(Debug)]
pub struct PeerClient {
    me: NodeId,
    target: NodeId,
    /// The peer's Raft address, for replication sessions.
    addr: String,
    client: Result<RaftServiceClient<Channel>, BadAddress>,
    partition: Partition,
    store: Arc<MessageStore>,
    transport: ReplicationTransport,
    tasks: Tasks,
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
        self.client.clone().map_err(|e| Unreachable::new(&e))
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

    /// One long-lived session per replication session's worth of requests:
    /// a connection in our own framing ([`append_wire`]) or a gRPC
    /// `StreamAppend` call, as configured. Requests go out as openraft
    /// produces them, without waiting for the previous answer (pipelined);
    /// answers come back in order.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, AppendAnswer>, RPCError<TypeConfig>>>
    where
        S: Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        Box::pin(async move {
            // Refused at once when cut off by the partition switchboard.
            let mut client = self.client()?;
            let sent = Arc::new(Mutex::new(VecDeque::new()));
            let (partition, me, target) = (self.partition.clone(), self.me, self.target);
            let pending = Arc::clone(&sent);
            // A partition ends the requests; the peer then ends its answers.
            let requests = CommitLinger::new(input)
                .take_while(move |_| std::future::ready(!partition.is_cut(me, target)))
                .map(move |req| {
                    let last = last_log_id(&req);
                    pending
                        .lock()
                        .push_back((req.prev_log_id, last, Instant::now()));
                    convert::append_request(&req)
                });
            let answers = match self.transport {
                ReplicationTransport::Framed => {
                    Answers::Framed(framed_session(&self.addr, requests, &self.tasks).await?)
                }
                // No grpc-timeout: the call lives as long as the session.
                // Each answer has its own deadline instead (`next_answer`).
                ReplicationTransport::Grpc => Answers::Grpc(Box::new(
                    client
                        .stream_append(tonic::Request::new(requests))
                        .await
                        .map_err(status_to_rpc)?
                        .into_inner(),
                )),
            };
            let deadline = option.hard_ttl().max(MIN_ANSWER_WAIT);
            let answers =
                futures_util::stream::unfold(Some((answers, sent)), move |state| async move {
                    let (mut answers, sent) = state?;
                    let (answer, go_on) = next_answer(&mut answers, &sent, deadline).await?;
                    Some((answer, go_on.then_some((answers, sent))))
                });
            Ok(Box::pin(answers) as BoxStream<'s, AppendAnswer>)
        })
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

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut client = self.client()?;
        let resp = client
            .pre_vote(request(convert::vote_request(&rpc), &option))
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
        let chunks = SnapshotChunks::new(Arc::clone(&self.store), &vote, &snapshot.meta)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let failed = Arc::clone(&chunks.failed);
        let sent = client
            .install_snapshot(request(tokio_stream::iter(chunks), &option))
            .await;
        if let Some(e) = failed.lock().take() {
            return Err(StreamingError::Network(NetworkError::new(&e)));
        }
        let resp = sent.map_err(|s| match status_to_rpc(s) {
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

/// Opens a session in our own framing to `addr` and starts writing
/// `requests` to it.
async fn framed_session(
    addr: &str,
    requests: impl Stream<Item = pb::AppendEntriesRequest> + Send + 'static,
    tasks: &Tasks,
) -> Result<FramedAnswers, RPCError<TypeConfig>> {
    let unreachable = |e: &dyn std::fmt::Display| {
        RPCError::Unreachable(Unreachable::new(&Message(format!(
            "replication session to {addr}: {e}"
        ))))
    };
    let stream = match tokio::time::timeout(CONNECT_WAIT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err(unreachable(&e)),
        Err(_) => return Err(unreachable(&"no connection within 500 ms")),
    };
    // Best effort: a socket without it still works, only slower.
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    write
        .write_all(&append_wire::MAGIC)
        .await
        .map_err(|e| unreachable(&e))?;
    let writer = tasks.spawn("replication-writer", async move {
        let mut requests = std::pin::pin!(requests);
        while let Some(req) = requests.next().await {
            if let Err(e) = append_wire::write_request(&mut write, req).await {
                tracing::debug!(error = %e, "replication session: write failed");
                return;
            }
        }
        // The session is over: the peer answers what it has and closes.
        let _ = write.shutdown().await;
    });
    Ok(FramedAnswers {
        frames: append_wire::FrameReader::new(read),
        writer,
    })
}

/// The answers of a session in our own framing; the task writing its
/// requests ends with it.
struct FramedAnswers {
    frames: append_wire::FrameReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::task::JoinHandle<()>,
}

impl Drop for FramedAnswers {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

/// The answers of a replication session, by transport.
enum Answers {
    Framed(FramedAnswers),
    Grpc(Box<tonic::Streaming<pb::AppendEntriesResponse>>),
}

impl Answers {
    /// The next answer; `None` once the peer ended the session.
    async fn message(&mut self) -> Result<Option<pb::AppendEntriesResponse>, tonic::Status> {
        match self {
            Self::Framed(f) => {
                let unavailable = |e: std::io::Error| tonic::Status::unavailable(e.to_string());
                match f.frames.next().await.map_err(unavailable)? {
                    Some(frame) => append_wire::decode_answer(frame)
                        .map(Some)
                        .map_err(|e| tonic::Status::internal(e.to_string())),
                    None => Ok(None),
                }
            }
            Self::Grpc(g) => g.message().await,
        }
    }
}

/// One answer of a replication session, as openraft takes it.
type AppendAnswer = Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>;

/// (prev_log_id, last log id, sent at) of each request not yet answered.
type Unanswered = Arc<Mutex<VecDeque<(Option<LogId>, Option<LogId>, Instant)>>>;

/// The least time an answer may take before the session is given up.
/// openraft passes the heartbeat interval (50 ms by default), which a
/// pipelined request queued behind others on a busy 2-core machine can
/// exceed without anything being wrong.
const MIN_ANSWER_WAIT: Duration = Duration::from_millis(250);

/// The next answer of a replication session, matched with the oldest
/// unanswered request; `None` once the peer ended the stream. Fails when the
/// oldest request waited longer than `deadline` (a stopped or cut-off peer).
/// The flag says whether the session goes on: not after an error, a
/// conflict, a higher vote, or a partial success (the pipelined requests
/// after it would not match the peer's log).
async fn next_answer(
    answers: &mut Answers,
    sent: &Unanswered,
    deadline: Duration,
) -> Option<(AppendAnswer, bool)> {
    let network =
        |e: &dyn std::fmt::Display| RPCError::Network(NetworkError::new(&Message(e.to_string())));
    let received = loop {
        let oldest = sent.lock().front().map(|(_, _, at)| *at);
        // With nothing unanswered the stream may idle as long as it likes;
        // look again after `deadline` in case a request went out meanwhile.
        let wait = oldest.map_or(deadline, |at| deadline.saturating_sub(at.elapsed()));
        match tokio::time::timeout(wait, answers.message()).await {
            Ok(received) => break received,
            Err(_) => {
                let late = sent
                    .lock()
                    .front()
                    .is_some_and(|(_, _, at)| at.elapsed() >= deadline);
                if late {
                    let e = Unreachable::new(&Message(format!(
                        "no append answer within {} ms",
                        deadline.as_millis()
                    )));
                    return Some((Err(RPCError::Unreachable(e)), false));
                }
            }
        }
    };
    let answer = match received {
        Ok(Some(a)) => a,
        Ok(None) => return None,
        Err(status) => return Some((Err(status_to_rpc(status)), false)),
    };
    let Some((prev, last, _)) = sent.lock().pop_front() else {
        return Some((Err(network(&"an append answer to no request")), false));
    };
    let response = match convert::from_append_response(answer) {
        Ok(r) => r,
        Err(status) => return Some((Err(network(&status)), false)),
    };
    if matches!(response, AppendEntriesResponse::Conflict) && prev.is_none() {
        // A log cannot conflict before its first entry.
        return Some((
            Err(network(&"a conflict reported at the log's start")),
            false,
        ));
    }
    let result = response.into_stream_result(prev, last);
    let go_on = matches!(&result, Ok(matched) if *matched == last);
    Some((Ok(result), go_on))
}

/// Where the log ends after `req`: its last entry, or where it starts.
fn last_log_id(req: &AppendEntriesRequest<TypeConfig>) -> Option<LogId> {
    req.entries.last().map(|e| e.log_id).or(req.prev_log_id)
}

/// How long a request that only carries a new commit index waits for the
/// next request with entries, which carries the commit too and replaces it.
const COMMIT_LINGER: Duration = Duration::from_millis(2);

/// The requests of a replication session, with commit-only requests held
/// back for [`COMMIT_LINGER`]. After each commit openraft sends every
/// follower a request without entries to tell it the new commit index (its
/// followers apply up to it). Under load the next request with entries
/// follows within a fraction of a millisecond and says the same; sending
/// both costs a write, a wake-up and an answer on both sides, on the two
/// processes whose time the next message needs (measured at one message in
/// flight: the leader made 5 writes a message, the followers 2 each). A
/// held request is dropped when one with entries comes (its answer is never
/// awaited: openraft counts requests as answered by any later match), and
/// sent when the linger ends or the session does, so an idle follower
/// still learns the commit at once in human terms.
///
/// Only a request that starts where the previous one sent ended is held:
/// the session's first request (a probe) and anything carrying entries go
/// out at once.
struct CommitLinger<S> {
    input: S,
    /// The last log id of the last request let through; None before the
    /// first.
    sent_up_to: Option<Option<LogId>>,
    held: Option<AppendEntriesRequest<TypeConfig>>,
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
    input_done: bool,
}

impl<S> CommitLinger<S> {
    fn new(input: S) -> Self {
        Self {
            input,
            sent_up_to: None,
            held: None,
            linger: None,
            input_done: false,
        }
    }
}

impl<S> Stream for CommitLinger<S>
where
    S: Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin,
{
    type Item = AppendEntriesRequest<TypeConfig>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while !this.input_done {
            match this.input.poll_next_unpin(cx) {
                Poll::Ready(Some(req)) => {
                    let commit_only =
                        req.entries.is_empty() && this.sent_up_to == Some(req.prev_log_id);
                    if commit_only {
                        // A newer commit replaces the one held; the linger
                        // runs from the first.
                        if this.held.is_none() {
                            this.linger = Some(Box::pin(tokio::time::sleep(COMMIT_LINGER)));
                        }
                        this.held = Some(req);
                        continue;
                    }
                    this.held = None;
                    this.linger = None;
                    this.sent_up_to = Some(last_log_id(&req));
                    return Poll::Ready(Some(req));
                }
                Poll::Ready(None) => this.input_done = true,
                Poll::Pending => break,
            }
        }
        if this.held.is_some() {
            let due = this.input_done
                || this
                    .linger
                    .as_mut()
                    .is_none_or(|l| l.as_mut().poll(cx).is_ready());
            if !due {
                return Poll::Pending;
            }
            this.linger = None;
            return Poll::Ready(this.held.take());
        }
        if this.input_done {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}

/// Bytes of retained entries per snapshot chunk.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// The chunks of a snapshot, read from the log as the request stream is
/// polled, so that a sender holds one chunk at a time: the meta and the
/// plan first, then the retained entries from the log start through the
/// snapshot's last index, as stored. A read error (retention removed an
/// entry meanwhile, say) ends the chunks early and is kept in `failed`;
/// the receiver refuses entries that stop short of the last index.
struct SnapshotChunks {
    store: Arc<MessageStore>,
    head: Option<pb::SnapshotChunk>,
    next: u64,
    /// The last index still to send; `None` once done.
    last: Option<u64>,
    failed: Arc<Mutex<Option<raftmq_store::StoreError>>>,
}

impl SnapshotChunks {
    fn new(
        store: Arc<MessageStore>,
        vote: &VoteOf<TypeConfig>,
        meta: &openraft::type_config::alias::SnapshotMetaOf<TypeConfig>,
    ) -> Result<Self, raftmq_store::StoreError> {
        let plan = store.snapshot_plan();
        let head = pb::SnapshotChunk {
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
        };
        Ok(Self {
            store,
            head: Some(head),
            next: plan.start_index,
            last: meta.last_log_id.map(|l| l.index),
            failed: Arc::default(),
        })
    }
}

impl Iterator for SnapshotChunks {
    type Item = pb::SnapshotChunk;

    fn next(&mut self) -> Option<pb::SnapshotChunk> {
        if let Some(head) = self.head.take() {
            return Some(head);
        }
        let last = self.last?;
        let log = self.store.commitlog();
        let mut buf = bytes::BytesMut::with_capacity(SNAPSHOT_CHUNK);
        while self.next <= last && buf.len() < SNAPSHOT_CHUNK {
            match log.read_entry(self.next) {
                Ok(e) => buf.extend_from_slice(&e.bytes),
                Err(e) => {
                    *self.failed.lock() = Some(e);
                    self.last = None;
                    return None;
                }
            }
            self.next += 1;
        }
        if buf.is_empty() {
            self.last = None;
            return None;
        }
        Some(pb::SnapshotChunk {
            vote: None,
            meta: None,
            data: buf.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use openraft::entry::RaftEntry;
    use openraft::EntryPayload;

    use super::*;
    use crate::types::{log_id, Entry, Vote};

    type Requests =
        tokio_stream::wrappers::UnboundedReceiverStream<AppendEntriesRequest<TypeConfig>>;

    fn linger() -> (
        tokio::sync::mpsc::UnboundedSender<AppendEntriesRequest<TypeConfig>>,
        CommitLinger<Requests>,
    ) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (tx, CommitLinger::new(Requests::new(rx)))
    }

    fn request(
        prev: Option<u64>,
        entries: &[u64],
        commit: u64,
    ) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 0),
            prev_log_id: prev.map(|i| log_id(1, i)),
            leader_commit: Some(log_id(1, commit)),
            entries: entries
                .iter()
                .map(|&i| Entry::new(log_id(1, i), EntryPayload::Blank))
                .collect(),
        }
    }

    /// (prev index, entry count, commit index) of a request.
    fn shape(r: &AppendEntriesRequest<TypeConfig>) -> (Option<u64>, usize, Option<u64>) {
        (
            r.prev_log_id.map(|l| l.index),
            r.entries.len(),
            r.leader_commit.map(|l| l.index),
        )
    }

    async fn next(s: &mut CommitLinger<Requests>) -> Option<(Option<u64>, usize, Option<u64>)> {
        tokio::time::timeout(Duration::from_secs(5), s.next())
            .await
            .expect("the linger ends long before this")
            .map(|r| shape(&r))
    }

    #[tokio::test]
    async fn a_commit_only_request_gives_way_to_the_next_with_entries() {
        let (tx, mut s) = linger();
        // The session's first request goes out at once, empty or not.
        tx.send(request(Some(4), &[], 3)).unwrap();
        assert_eq!(next(&mut s).await, Some((Some(4), 0, Some(3))));
        tx.send(request(Some(4), &[5, 6], 3)).unwrap();
        assert_eq!(next(&mut s).await, Some((Some(4), 2, Some(3))));
        // Commit 6 alone, then 7 arrives with commit 6 aboard: one request.
        tx.send(request(Some(6), &[], 6)).unwrap();
        tx.send(request(Some(6), &[7], 6)).unwrap();
        assert_eq!(next(&mut s).await, Some((Some(6), 1, Some(6))));
        drop(tx);
        assert_eq!(next(&mut s).await, None, "nothing else was held");
    }

    #[tokio::test]
    async fn a_commit_only_request_goes_out_after_the_linger_or_at_the_end() {
        let (tx, mut s) = linger();
        tx.send(request(None, &[1], 0)).unwrap();
        assert_eq!(next(&mut s).await, Some((None, 1, Some(0))));
        // Two commits with nothing after: the newer goes, once.
        tx.send(request(Some(1), &[], 0)).unwrap();
        tx.send(request(Some(1), &[], 1)).unwrap();
        let held_at = Instant::now();
        assert!(s.next().now_or_never().is_none(), "held");
        assert_eq!(next(&mut s).await, Some((Some(1), 0, Some(1))));
        assert!(held_at.elapsed() >= COMMIT_LINGER, "held for the linger");
        // One held when the session ends goes out before the end.
        tx.send(request(Some(1), &[2], 1)).unwrap();
        assert_eq!(next(&mut s).await, Some((Some(1), 1, Some(1))));
        tx.send(request(Some(2), &[], 2)).unwrap();
        drop(tx);
        assert_eq!(next(&mut s).await, Some((Some(2), 0, Some(2))));
        assert_eq!(next(&mut s).await, None);
    }

    #[tokio::test]
    async fn an_empty_request_that_does_not_follow_on_is_not_held() {
        let (tx, mut s) = linger();
        tx.send(request(Some(9), &[10], 9)).unwrap();
        assert_eq!(next(&mut s).await, Some((Some(9), 1, Some(9))));
        // A probe further back (after a conflict, say) is an answer openraft
        // waits for.
        tx.send(request(Some(3), &[], 9)).unwrap();
        let at_once = s.next().now_or_never().flatten().map(|r| shape(&r));
        assert_eq!(at_once, Some((Some(3), 0, Some(9))));
    }
}
