//! Conversions between the `raftmq.raft.v1` messages and openraft's.

// tonic handlers speak `Status`; boxing it at every conversion buys nothing.
#![allow(clippy::result_large_err)]

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest, VoteResponse};
use raftmq_proto::raft::v1 as pb;
use tonic::Status;

use crate::codec;
use crate::types::{log_id, LogId, TypeConfig, Vote};

fn missing(field: &str) -> Status {
    Status::invalid_argument(format!("field `{field}` is missing"))
}

/// A protobuf vote.
pub fn pb_vote(v: &Vote) -> pb::Vote {
    pb::Vote {
        leader_id: Some(pb::LeaderId {
            term: v.leader_id.term,
            node_id: v.leader_id.voted_for,
        }),
        committed: v.committed,
    }
}

/// The vote a message carries.
pub fn vote(v: Option<pb::Vote>) -> Result<Vote, Status> {
    let v = v.ok_or_else(|| missing("vote"))?;
    let l = v.leader_id.ok_or_else(|| missing("vote.leader_id"))?;
    Ok(if v.committed {
        Vote::new_committed(l.term, l.node_id)
    } else {
        Vote::new(l.term, l.node_id)
    })
}

/// A protobuf log id.
pub fn pb_log_id(id: &LogId) -> pb::LogId {
    pb::LogId {
        term: id.leader_id.term,
        index: id.index,
    }
}

/// An openraft log id.
pub fn from_pb_log_id(id: &pb::LogId) -> LogId {
    log_id(id.term, id.index)
}

/// Request to wire.
pub fn append_request(r: &AppendEntriesRequest<TypeConfig>) -> pb::AppendEntriesRequest {
    pb::AppendEntriesRequest {
        vote: Some(pb_vote(&r.vote)),
        prev_log_id: r.prev_log_id.as_ref().map(pb_log_id),
        leader_commit: r.leader_commit.as_ref().map(pb_log_id),
        entries: codec::encode_records(&r.entries),
        entry_count: r.entries.len() as u32,
    }
}

/// Wire to request; entry bodies share the received buffer.
pub fn from_append_request(
    r: pb::AppendEntriesRequest,
) -> Result<AppendEntriesRequest<TypeConfig>, Status> {
    Ok(AppendEntriesRequest {
        vote: vote(r.vote)?,
        prev_log_id: r.prev_log_id.as_ref().map(from_pb_log_id),
        leader_commit: r.leader_commit.as_ref().map(from_pb_log_id),
        entries: codec::decode_records(r.entries, r.entry_count as usize)
            .map_err(|e| Status::invalid_argument(e.to_string()))?,
    })
}

/// Response to wire.
pub fn append_response(r: &AppendEntriesResponse<TypeConfig>) -> pb::AppendEntriesResponse {
    use pb::append_entries_response::Result as R;
    let result = match r {
        AppendEntriesResponse::Success => R::Success(pb::Empty {}),
        AppendEntriesResponse::PartialSuccess(Some(id)) => R::PartialSuccess(pb_log_id(id)),
        AppendEntriesResponse::PartialSuccess(None) => R::PartialSuccessNone(pb::Empty {}),
        AppendEntriesResponse::Conflict => R::Conflict(pb::Empty {}),
        AppendEntriesResponse::HigherVote(v) => R::HigherVote(pb_vote(v)),
    };
    pb::AppendEntriesResponse {
        result: Some(result),
    }
}

/// An answer of openraft's pipelined append to wire: how far the log now
/// matches the leader's, or why it stopped. The sender knows each request's
/// `prev_log_id`, so a conflict needs no log id of its own.
pub fn stream_append_answer(
    r: &openraft::raft::StreamAppendResult<TypeConfig>,
) -> pb::AppendEntriesResponse {
    use openraft::raft::StreamAppendError;
    use pb::append_entries_response::Result as R;
    let result = match r {
        Ok(Some(id)) => R::PartialSuccess(pb_log_id(id)),
        Ok(None) => R::PartialSuccessNone(pb::Empty {}),
        Err(StreamAppendError::Conflict(_)) => R::Conflict(pb::Empty {}),
        Err(StreamAppendError::HigherVote(v)) => R::HigherVote(pb_vote(v)),
    };
    pb::AppendEntriesResponse {
        result: Some(result),
    }
}

/// Wire to response.
pub fn from_append_response(
    r: pb::AppendEntriesResponse,
) -> Result<AppendEntriesResponse<TypeConfig>, Status> {
    use pb::append_entries_response::Result as R;
    Ok(match r.result.ok_or_else(|| missing("result"))? {
        R::Success(_) => AppendEntriesResponse::Success,
        R::PartialSuccess(id) => AppendEntriesResponse::PartialSuccess(Some(from_pb_log_id(&id))),
        R::PartialSuccessNone(_) => AppendEntriesResponse::PartialSuccess(None),
        R::Conflict(_) => AppendEntriesResponse::Conflict,
        R::HigherVote(v) => AppendEntriesResponse::HigherVote(vote(Some(v))?),
    })
}

/// Request to wire.
pub fn vote_request(r: &VoteRequest<TypeConfig>) -> pb::VoteRequest {
    pb::VoteRequest {
        vote: Some(pb_vote(&r.vote)),
        last_log_id: r.last_log_id.as_ref().map(pb_log_id),
        leadership_transfer: r.leadership_transfer,
    }
}

/// Wire to request.
pub fn from_vote_request(r: pb::VoteRequest) -> Result<VoteRequest<TypeConfig>, Status> {
    let mut req = VoteRequest::new(vote(r.vote)?, r.last_log_id.as_ref().map(from_pb_log_id));
    req.leadership_transfer = r.leadership_transfer;
    Ok(req)
}

/// Response to wire.
pub fn vote_response(r: &VoteResponse<TypeConfig>) -> pb::VoteResponse {
    pb::VoteResponse {
        vote: Some(pb_vote(&r.vote)),
        vote_granted: r.vote_granted,
        last_log_id: r.last_log_id.as_ref().map(pb_log_id),
    }
}

/// Wire to response.
pub fn from_vote_response(r: pb::VoteResponse) -> Result<VoteResponse<TypeConfig>, Status> {
    Ok(VoteResponse::new(
        vote(r.vote)?,
        r.last_log_id.as_ref().map(from_pb_log_id),
        r.vote_granted,
    ))
}
