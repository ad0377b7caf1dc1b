//! Conversions between openraft entries and commitlog records.
//!
//! An openraft entry is stored as one commitlog record: blank entries as
//! `Blank`, application data as `Messages` or `Command` with its body as is,
//! membership changes as `Membership` with the encoding below. Between
//! members, entries travel as the same records laid end to end, so a
//! follower checks each record's CRC and appends its body unchanged.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{BufMut, Bytes, BytesMut};
use openraft::entry::RaftEntry;
use openraft::impls::BasicNode;
use openraft::EntryPayload;
use raftmq_store::message_store::SnapshotPlan;
use raftmq_store::meta_state::MetaState;
use raftmq_store::record::entry::{self as record, EntryKind, HEADER_LEN};

use crate::types::{log_id, DataKind, Entry, LogData, Membership, NodeId};

/// Why bytes are not valid entries.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A record failed its checks.
    #[error("bad entry record at byte {offset}: {defect}")]
    Record {
        /// Offset in the buffer.
        offset: usize,
        /// What was wrong.
        defect: record::EntryDefect,
    },
    /// A membership body or snapshot plan failed to decode.
    #[error("bad encoding: {0}")]
    Membership(String),
    /// Records that should follow one another do not.
    #[error("record {index} follows record {after}")]
    OutOfOrder {
        /// The record's index.
        index: u64,
        /// The index of the record before it.
        after: u64,
    },
    /// The buffer held another number of records than announced.
    #[error("expected {expected} entries, found {found}")]
    Count {
        /// Announced.
        expected: usize,
        /// Found.
        found: usize,
    },
}

/// The record kind and body of an entry.
pub fn kind_and_body(entry: &Entry) -> (EntryKind, Bytes) {
    match &entry.payload {
        EntryPayload::Blank => (EntryKind::Blank, Bytes::new()),
        EntryPayload::Normal(d) => (record_kind(d.kind), d.body.clone()),
        EntryPayload::Membership(m) => (EntryKind::Membership, encode_membership(m)),
    }
}

/// The record kind that holds data of this kind.
fn record_kind(kind: DataKind) -> EntryKind {
    match kind {
        DataKind::Messages => EntryKind::Messages,
        DataKind::Command => EntryKind::Command,
    }
}

/// Builds the entry a record holds.
pub fn entry_from_record(
    kind: EntryKind,
    index: u64,
    term: u64,
    body: Bytes,
) -> Result<Entry, CodecError> {
    let payload = match kind {
        EntryKind::Blank => EntryPayload::Blank,
        EntryKind::Messages => EntryPayload::Normal(LogData::new(DataKind::Messages, body)),
        EntryKind::Command => EntryPayload::Normal(LogData::new(DataKind::Command, body)),
        EntryKind::Membership => EntryPayload::Membership(decode_membership(&body)?),
    };
    Ok(Entry::new(log_id(term, index), payload))
}

/// Builds the entry of a whole record (header and body) whose CRC was
/// checked; the entry keeps the record, to be sent and stored as it is.
pub fn entry_from_checked_record(
    kind: EntryKind,
    index: u64,
    term: u64,
    record: Bytes,
) -> Result<Entry, CodecError> {
    let mut entry = entry_from_record(kind, index, term, record.slice(HEADER_LEN..))?;
    if let EntryPayload::Normal(d) = &mut entry.payload {
        d.record = Some(record);
    }
    Ok(entry)
}

/// Frames a normal entry proposed here as its record and keeps the record
/// in it (see [`LogData::record`]). Returns the record's CRC and length;
/// `None` for other entries, and for one that has a record already.
pub fn keep_record(entry: &mut Entry) -> Option<(u32, usize)> {
    let (term, index) = entry.log_id_parts();
    let (term, index) = (**term, index);
    let EntryPayload::Normal(d) = &mut entry.payload else {
        return None;
    };
    if d.record.is_some() {
        return None;
    }
    let kind = record_kind(d.kind);
    let mut header = [0u8; HEADER_LEN];
    record::encode_header(&mut header, kind, index, term, &d.body);
    let mut framed = BytesMut::with_capacity(HEADER_LEN + d.body.len());
    framed.put_slice(&header);
    framed.put_slice(&d.body);
    let framed = framed.freeze();
    let len = framed.len();
    let crc = record::decode_header(&framed, len as u64).ok()?.crc;
    d.body = framed.slice(HEADER_LEN..);
    d.record = Some(framed);
    Some((crc, len))
}

/// The record an entry was read or received as, if it kept one.
pub fn kept_record(entry: &Entry) -> Option<&Bytes> {
    match &entry.payload {
        EntryPayload::Normal(d) => d.record.as_ref(),
        _ => None,
    }
}

/// Encodes entries as commitlog records laid end to end.
pub fn encode_records(entries: &[Entry]) -> Bytes {
    if let [one] = entries {
        if let Some(r) = kept_record(one) {
            return r.clone();
        }
    }
    let parts: Vec<(EntryKind, Bytes)> = entries.iter().map(kind_and_body).collect();
    let total: usize = parts.iter().map(|(_, b)| HEADER_LEN + b.len()).sum();
    let mut out = BytesMut::with_capacity(total);
    let mut header = [0u8; HEADER_LEN];
    for (e, (kind, body)) in entries.iter().zip(&parts) {
        if let Some(r) = kept_record(e) {
            out.put_slice(r);
            continue;
        }
        let (term, index) = e.log_id_parts();
        record::encode_header(&mut header, *kind, index, **term, body);
        out.put_slice(&header);
        out.put_slice(body);
    }
    out.freeze()
}

/// Decodes records laid end to end, checking every CRC. Bodies share the
/// buffer: nothing is copied.
pub fn decode_records(buf: Bytes, expected: usize) -> Result<Vec<Entry>, CodecError> {
    // `expected` is the sender's word: reserve no more records than the
    // buffer can hold (each is at least a header), or a count of u32::MAX
    // asks the allocator for hundreds of gigabytes and aborts the process.
    let mut out = Vec::with_capacity(expected.min(buf.len() / HEADER_LEN));
    let mut at = 0usize;
    while at < buf.len() {
        let rest = &buf[at..];
        let header = record::decode_header(rest, rest.len() as u64)
            .map_err(|defect| CodecError::Record { offset: at, defect })?;
        let len = header.len as usize;
        record::verify(&header, &rest[..len])
            .map_err(|defect| CodecError::Record { offset: at, defect })?;
        out.push(entry_from_checked_record(
            header.kind,
            header.index,
            header.term,
            buf.slice(at..at + len),
        )?);
        at += len;
    }
    if out.len() != expected {
        return Err(CodecError::Count {
            expected,
            found: out.len(),
        });
    }
    Ok(out)
}

/// The first and last index of records laid end to end, which must follow
/// one another; `None` for no records. Reads the headers only: the CRCs
/// are checked where the records are stored.
pub fn records_span(buf: &[u8]) -> Result<Option<(u64, u64)>, CodecError> {
    let mut span: Option<(u64, u64)> = None;
    let mut at = 0usize;
    while at < buf.len() {
        let rest = &buf[at..];
        let header = record::decode_header(rest, rest.len() as u64)
            .map_err(|defect| CodecError::Record { offset: at, defect })?;
        span = match span {
            None => Some((header.index, header.index)),
            Some((first, last)) if last.checked_add(1) == Some(header.index) => {
                Some((first, header.index))
            }
            Some((_, last)) => {
                return Err(CodecError::OutOfOrder {
                    index: header.index,
                    after: last,
                })
            }
        };
        at += header.len as usize;
    }
    Ok(span)
}

/// Membership body: `u32 configs`, each `u32 n` then `n` x `u64 id`; then
/// `u32 nodes`, each `u64 id`, `u16 len`, address bytes. Little-endian.
pub fn encode_membership(m: &Membership) -> Bytes {
    let mut out = BytesMut::new();
    let configs = m.get_joint_config();
    out.put_u32_le(configs.len() as u32);
    for c in configs {
        out.put_u32_le(c.len() as u32);
        for id in c {
            out.put_u64_le(*id);
        }
    }
    let nodes: Vec<_> = m.nodes().collect();
    out.put_u32_le(nodes.len() as u32);
    for (id, node) in nodes {
        out.put_u64_le(*id);
        let addr = node.addr.as_bytes();
        out.put_u16_le(addr.len().min(u16::MAX as usize) as u16);
        out.put_slice(&addr[..addr.len().min(u16::MAX as usize)]);
    }
    out.freeze()
}

/// Decodes [`encode_membership`]'s bytes.
pub fn decode_membership(b: &[u8]) -> Result<Membership, CodecError> {
    let mut r = Reader { b, at: 0 };
    let n = r.u32()?;
    let mut configs = Vec::new();
    for _ in 0..n {
        let k = r.u32()?;
        let mut set = BTreeSet::new();
        for _ in 0..k {
            set.insert(r.u64()?);
        }
        configs.push(set);
    }
    let n = r.u32()?;
    let mut nodes = BTreeMap::new();
    for _ in 0..n {
        let id: NodeId = r.u64()?;
        let len = r.u16()? as usize;
        let addr = std::str::from_utf8(r.take(len)?)
            .map_err(|_| CodecError::Membership("address is not UTF-8".into()))?;
        nodes.insert(id, BasicNode::new(addr));
    }
    if r.at != b.len() {
        return Err(CodecError::Membership(format!(
            "{} trailing bytes",
            b.len() - r.at
        )));
    }
    Membership::new(configs, nodes).map_err(|e| CodecError::Membership(e.to_string()))
}

/// Snapshot plan: `u64 start_index`, `u32 queues`, each `u16 len`, topic,
/// `u32 queue id`, `u64 base offset`, then the state in its own format,
/// whose next index is the plan's `state_index`. Little-endian.
pub fn encode_plan(plan: &SnapshotPlan) -> Result<Bytes, raftmq_store::StoreError> {
    let mut out = BytesMut::new();
    out.put_u64_le(plan.start_index);
    out.put_u32_le(plan.queue_bases.len() as u32);
    for (topic, q, base) in &plan.queue_bases {
        let t = topic.as_bytes();
        out.put_u16_le(t.len().min(u16::MAX as usize) as u16);
        out.put_slice(&t[..t.len().min(u16::MAX as usize)]);
        out.put_u32_le(*q);
        out.put_u64_le(*base);
    }
    // The state ends the plan; its own format carries its CRC.
    out.put_slice(&plan.state.encode(plan.state_index)?);
    Ok(out.freeze())
}

/// Decodes [`encode_plan`]'s bytes.
pub fn decode_plan(b: &[u8]) -> Result<SnapshotPlan, CodecError> {
    let mut r = Reader { b, at: 0 };
    let start_index = r.u64()?;
    let n = r.u32()?;
    let mut queue_bases = Vec::new();
    for _ in 0..n {
        let len = r.u16()? as usize;
        let topic = std::str::from_utf8(r.take(len)?)
            .map_err(|_| CodecError::Membership("topic is not UTF-8".into()))?
            .to_owned();
        queue_bases.push((topic, r.u32()?, r.u64()?));
    }
    let (state, state_index) = MetaState::decode(&b[r.at..]).map_err(CodecError::Membership)?;
    Ok(SnapshotPlan {
        start_index,
        queue_bases,
        state,
        state_index,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| {
                CodecError::Membership(format!("membership cut short at byte {}", self.at))
            })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn u64(&mut self) -> Result<u64, CodecError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Membership {
        let nodes: BTreeMap<NodeId, BasicNode> = (0..3)
            .map(|i| (i, BasicNode::new(format!("127.0.0.1:{}", 40911 + i))))
            .collect();
        Membership::new(vec![nodes.keys().copied().collect()], nodes).expect("membership")
    }

    #[test]
    fn a_kept_record_is_what_encoding_writes_and_is_sent_as_it_is() {
        let plain = Entry::new(
            log_id(4, 9),
            EntryPayload::Normal(LogData::new(
                DataKind::Messages,
                Bytes::from_static(b"body"),
            )),
        );
        let encoded = encode_records(std::slice::from_ref(&plain));
        let mut kept = plain.clone();
        let (crc, len) = keep_record(&mut kept).expect("a normal entry");
        assert_eq!(kept_record(&kept), Some(&encoded));
        assert_eq!((len, kept), (encoded.len(), plain.clone()));
        assert_eq!(
            record::decode_header(&encoded, len as u64)
                .expect("header")
                .crc,
            crc
        );
        let mut twice = plain;
        keep_record(&mut twice).expect("first");
        assert_eq!(keep_record(&mut twice), None, "kept once");
        // Received, the record is kept and sent again as it came.
        let back = decode_records(encoded.clone(), 1).expect("decode");
        assert_eq!(encode_records(&back), encoded);
        assert_eq!(kept_record(&back[0]), Some(&encoded));
        let mut blank = Entry::new(log_id(4, 10), EntryPayload::Blank);
        assert_eq!(keep_record(&mut blank), None);
    }

    #[test]
    fn records_span_names_first_and_last_and_refuses_gaps() {
        let entry = |i: u64| Entry::new(log_id(1, i), EntryPayload::Blank);
        assert_eq!(records_span(&[]).expect("empty"), None);
        let run = encode_records(&[entry(5), entry(6), entry(7)]);
        assert_eq!(records_span(&run).expect("run"), Some((5, 7)));
        let gap = encode_records(&[entry(5), entry(7)]);
        assert!(matches!(
            records_span(&gap),
            Err(CodecError::OutOfOrder { index: 7, after: 5 })
        ));
        assert!(records_span(&run[..run.len() - 1]).is_err(), "cut short");
    }

    #[test]
    fn records_round_trip_with_shared_bodies() {
        let entries = vec![
            Entry::new(log_id(0, 0), EntryPayload::Membership(members())),
            Entry::new(log_id(1, 1), EntryPayload::Blank),
            Entry::new(
                log_id(1, 2),
                EntryPayload::Normal(LogData::new(
                    DataKind::Messages,
                    Bytes::from_static(b"records"),
                )),
            ),
        ];
        let buf = encode_records(&entries);
        let back = decode_records(buf, 3).expect("decode");
        assert_eq!(back, entries);
    }

    #[test]
    fn damage_and_wrong_counts_are_errors() {
        let entries = vec![Entry::new(log_id(1, 1), EntryPayload::Blank)];
        let buf = encode_records(&entries);
        let mut bad = buf.to_vec();
        bad[20] ^= 1;
        assert!(decode_records(Bytes::from(bad), 1).is_err());
        assert!(matches!(
            decode_records(buf, 2),
            Err(CodecError::Count { .. })
        ));
        assert!(decode_membership(&[1, 0, 0]).is_err());
    }

    #[test]
    fn a_lying_count_is_an_error_not_an_allocation() {
        // Found by the fuzz target raft_records: an AppendEntries announcing
        // u32::MAX entries reserved room for all of them and aborted.
        let huge = u32::MAX as usize;
        assert!(matches!(
            decode_records(Bytes::new(), huge),
            Err(CodecError::Count { expected, found: 0 }) if expected == huge
        ));
        let one = encode_records(&[Entry::new(log_id(1, 1), EntryPayload::Blank)]);
        assert!(matches!(
            decode_records(one, huge),
            Err(CodecError::Count { found: 1, .. })
        ));
    }
}
