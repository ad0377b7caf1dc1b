//! The Raft layer's decoders over deterministic garbage, as a peer (or
//! anyone who reaches the Raft port) could send it: AppendEntries records
//! with any announced count, membership bodies, snapshot plans, and whole
//! AppendEntries requests. Inputs are pseudo-random bytes and mutations of
//! valid encodings, some with their CRCs fixed up so the decoders behind the
//! CRC see garbage too. Every input must give `Ok` or `Err` without a panic
//! or an abort, and what decodes must encode back to the same entries. The
//! checks are the bodies of the cargo-fuzz targets `raft_records`,
//! `raft_append` and `raft_membership` (`fuzz/`), so CI runs them on stable.

mod decode_checks;
#[path = "../../store/tests/garbage/mod.rs"]
mod garbage;
use garbage::{mutate, Rng, EDGES_32};

use bytes::Bytes;
use raftmq_proto::raft::v1 as pb;
use raftmq_raft::codec;
use raftmq_store::record::entry::{self, EntryKind, HEADER_LEN};

/// Inputs per decoder: enough to reach every error path, fast in debug builds.
const INPUTS: usize = 20_000;

impl Rng {
    /// A count as a hostile peer would announce it.
    fn count(&mut self, real: usize) -> u32 {
        match self.below(4) {
            0 => EDGES_32[self.below(EDGES_32.len())],
            1 => self.next() as u32,
            _ => u32::try_from(real).unwrap_or(u32::MAX),
        }
    }
}

/// A record with a valid header and CRC around `body`.
fn record(kind: EntryKind, index: u64, body: &[u8]) -> Vec<u8> {
    let mut h = [0u8; HEADER_LEN];
    entry::encode_header(&mut h, kind, index, 1, body);
    let mut v = h.to_vec();
    v.extend_from_slice(body);
    v
}

/// AppendEntries records: random bytes, mutated valid records, or valid
/// records around mutated bodies; with the number of records they hold.
fn garbage_records(rng: &mut Rng, valid: &Bytes, membership: &[u8]) -> (Vec<u8>, usize) {
    match rng.below(4) {
        0 => {
            let n = rng.below(256);
            (rng.bytes(n), 0)
        }
        1 => (mutate(rng, valid), 4),
        _ => {
            let n = 1 + rng.below(3);
            let mut out = Vec::new();
            for i in 0..n {
                let (kind, body) = match rng.below(4) {
                    0 => (EntryKind::Blank, Vec::new()),
                    1 => {
                        let n = rng.below(64);
                        (EntryKind::Messages, rng.bytes(n))
                    }
                    _ => (EntryKind::Membership, mutate(rng, membership)),
                };
                out.extend(record(kind, i as u64 + 1, &body));
            }
            (out, n)
        }
    }
}

#[test]
fn valid_records_and_requests_round_trip() {
    let entries = decode_checks::valid_entries();
    let buf = codec::encode_records(&entries);
    let back = codec::decode_records(buf.clone(), entries.len()).expect("valid records");
    assert_eq!(back, entries);
    decode_checks::records(&buf, 4);
    let request = decode_checks::valid_request(&entries);
    let decoded = raftmq_raft::convert::from_append_request(request.clone())
        .expect("a valid request converts");
    assert_eq!(decoded.entries, entries);
    decode_checks::append_request(request);
    let m = codec::encode_membership(&decode_checks::members());
    assert_eq!(
        codec::decode_membership(&m).ok(),
        Some(decode_checks::members())
    );
    decode_checks::membership(&m);
    let plan = codec::encode_plan(&decode_checks::valid_plan()).expect("encode a plan");
    assert_eq!(
        codec::decode_plan(&plan).ok(),
        Some(decode_checks::valid_plan())
    );
    decode_checks::plan(&plan);
}

#[test]
fn garbage_records_with_any_count_never_panic() {
    let mut rng = Rng(0x5eed_0101);
    let valid = codec::encode_records(&decode_checks::valid_entries());
    let membership = codec::encode_membership(&decode_checks::members());
    let mut decoded = 0;
    for _ in 0..INPUTS {
        let (buf, real) = garbage_records(&mut rng, &valid, &membership);
        let expected = rng.count(real);
        decode_checks::records(&buf, expected);
        decoded += usize::from(codec::decode_records(Bytes::from(buf), expected as usize).is_ok());
    }
    assert!(
        decoded > 0 && decoded < INPUTS,
        "{decoded} of {INPUTS} decoded"
    );
}

#[test]
fn garbage_append_requests_never_panic() {
    let mut rng = Rng(0x5eed_0102);
    let valid = codec::encode_records(&decode_checks::valid_entries());
    let membership = codec::encode_membership(&decode_checks::members());
    for _ in 0..INPUTS {
        let (entries, real) = garbage_records(&mut rng, &valid, &membership);
        let vote = match rng.below(4) {
            0 => None,
            1 => Some(pb::Vote {
                leader_id: None,
                committed: false,
            }),
            _ => Some(pb::Vote {
                leader_id: Some(pb::LeaderId {
                    term: rng.next(),
                    node_id: rng.next(),
                }),
                committed: rng.below(2) == 0,
            }),
        };
        let mut log_id = || {
            (rng.below(2) == 0).then(|| pb::LogId {
                term: rng.next(),
                index: rng.next(),
            })
        };
        let (prev_log_id, leader_commit) = (log_id(), log_id());
        let request = pb::AppendEntriesRequest {
            vote,
            prev_log_id,
            leader_commit,
            entries: Bytes::from(entries),
            entry_count: rng.count(real),
        };
        decode_checks::append_request(request);
    }
}

#[test]
fn garbage_membership_and_plans_never_panic() {
    let mut rng = Rng(0x5eed_0103);
    let membership = codec::encode_membership(&decode_checks::members()).to_vec();
    let plan = decode_checks::valid_plan();
    let plan_bytes = codec::encode_plan(&plan).expect("encode a plan").to_vec();
    let state = plan.state.encode(plan.start_index).expect("encode a state");
    let prefix = &plan_bytes[..plan_bytes.len() - state.len()];
    let (mut members_ok, mut plans_ok) = (0, 0);
    for _ in 0..INPUTS {
        let m = if rng.below(4) == 0 {
            let n = rng.below(128);
            rng.bytes(n)
        } else {
            mutate(&mut rng, &membership)
        };
        decode_checks::membership(&m);
        members_ok += usize::from(codec::decode_membership(&m).is_ok());

        // The state ends the plan under its own CRC: fix the CRC up half the
        // time so that its decoder sees garbage too.
        let mut s = mutate(&mut rng, &state);
        if s.len() >= 4 && rng.below(2) == 0 {
            let at = s.len() - 4;
            let crc = crc32fast::hash(&s[..at]);
            s[at..].copy_from_slice(&crc.to_le_bytes());
        }
        let mut p = if rng.below(2) == 0 {
            prefix.to_vec()
        } else {
            mutate(&mut rng, prefix)
        };
        p.extend(s);
        decode_checks::plan(&p);
        plans_ok += usize::from(codec::decode_plan(&p).is_ok());
    }
    assert!(
        members_ok > 0 && members_ok < INPUTS,
        "{members_ok} memberships decoded"
    );
    assert!(
        plans_ok > 0 && plans_ok < INPUTS,
        "{plans_ok} plans decoded"
    );
}

/// Replication-session frames (`append_wire`), as anyone reaching the Raft
/// port could send them: random bytes and mutations of a valid session
/// (magic, a request, an answer), read frame by frame and decoded. Errors
/// only, no panic; what is valid decodes to what was sent.
#[tokio::test]
async fn append_session_frames_over_garbage() {
    use raftmq_raft::append_wire::{self, FrameReader, MAGIC};

    let request = decode_checks::valid_request(&decode_checks::valid_entries());
    let mut valid = MAGIC.to_vec();
    append_wire::write_request(&mut valid, request.clone())
        .await
        .expect("encode a request");
    let mut frames = FrameReader::new(&valid[..]);
    frames.expect_magic().await.expect("magic");
    let frame = frames.next().await.expect("read").expect("a frame");
    assert_eq!(append_wire::decode_request(frame).expect("decode"), request);

    let mut rng = Rng(0x5eed_0104);
    let mut decoded = 0;
    for _ in 0..INPUTS {
        let input = if rng.below(4) == 0 {
            let n = rng.below(256);
            rng.bytes(n)
        } else {
            mutate(&mut rng, &valid)
        };
        let mut frames = FrameReader::new(&input[..]);
        if frames.expect_magic().await.is_err() {
            continue;
        }
        while let Ok(Some(frame)) = frames.next().await {
            let as_request = append_wire::decode_request(frame.clone());
            let as_answer = append_wire::decode_answer(frame);
            if let Ok(r) = as_request {
                decoded += 1;
                // What decodes is checked as the follower checks it.
                let _ = raftmq_raft::convert::from_append_request(r);
            }
            let _ = as_answer;
        }
    }
    assert!(
        decoded > 0 && decoded < INPUTS,
        "{decoded} requests decoded"
    );
}
