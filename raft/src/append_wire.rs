//! Replication sessions on a plain TCP connection, in our own framing.
//!
//! A leader's StreamAppend session over gRPC cost the leader a copy of
//! every record into tonic's encode buffer per follower, and each follower
//! a copy of every DATA frame into tonic's decode buffer, with h2's framing
//! and flow control on both sides. Here a session is a TCP connection to
//! the peer's Raft port that starts with [`MAGIC`]; the server tells it
//! from HTTP/2 (whose preface starts with `P`) by its first byte. Then:
//!
//! ```text
//! leader -> follower, per request:  u32 len | u32 head_len | head | records
//! follower -> leader, per answer:   u32 len | answer
//! ```
//!
//! Lengths are little-endian. `head` is the protobuf `AppendEntriesRequest`
//! without its `entries`; `records` are those entries, the commitlog
//! records laid end to end, written from the log's own buffers (a vectored
//! write: no copy in user space) and read into one buffer whose slices the
//! entries keep. `answer` is the protobuf `AppendEntriesResponse`. Either
//! side ends the session by closing its half of the connection.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message as _;
use raftmq_proto::raft::v1 as pb;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The first bytes of a replication session. The first is not an ASCII
/// letter, so that it never starts an HTTP/2 connection.
pub const MAGIC: [u8; 8] = [0xF7, b'R', b'M', b'Q', b'A', b'P', b'P', 1];

/// The largest frame either side accepts: a request of entries joined up
/// to a segment's size, with room to spare. A peer that announces more is
/// refused before anything is allocated for it.
pub const MAX_FRAME: usize = crate::limits::MAX_RPC_BYTES;

/// How much a read asks the kernel for at least.
const READ_CHUNK: usize = 64 << 10;

/// The most room made for a frame before its bytes arrive.
const MAX_RESERVE: usize = 16 << 20;

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Writes one request: its head encoded here, its records as they are.
pub async fn write_request<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut req: pb::AppendEntriesRequest,
) -> io::Result<()> {
    let records = std::mem::take(&mut req.entries);
    let head_len = req.encoded_len();
    let len = 4 + head_len + records.len();
    if len > MAX_FRAME {
        return Err(invalid(format!(
            "an append request of {len} bytes, over the {MAX_FRAME}-byte frame limit"
        )));
    }
    let mut head = BytesMut::with_capacity(8 + head_len);
    head.put_u32_le(len as u32);
    head.put_u32_le(head_len as u32);
    req.encode_raw(&mut head);
    let mut frame = head.freeze().chain(records);
    w.write_all_buf(&mut frame).await
}

/// Writes one answer.
pub async fn write_answer<W: AsyncWrite + Unpin>(
    w: &mut W,
    answer: &pb::AppendEntriesResponse,
) -> io::Result<()> {
    let len = answer.encoded_len();
    let mut buf = BytesMut::with_capacity(4 + len);
    buf.put_u32_le(len as u32);
    answer.encode_raw(&mut buf);
    w.write_all(&buf).await
}

/// A request as received: the records share the frame's buffer.
pub fn decode_request(mut frame: Bytes) -> io::Result<pb::AppendEntriesRequest> {
    if frame.len() < 4 {
        return Err(invalid(format!(
            "an append request of {} bytes, shorter than its head length",
            frame.len()
        )));
    }
    let head_len = frame.get_u32_le() as usize;
    if head_len > frame.len() {
        return Err(invalid(format!(
            "an append request's head of {head_len} bytes in a frame of {}",
            frame.len()
        )));
    }
    let head = frame.split_to(head_len);
    let mut req = pb::AppendEntriesRequest::decode(head)
        .map_err(|e| invalid(format!("an append request's head does not decode: {e}")))?;
    req.entries = frame;
    Ok(req)
}

/// An answer as received.
pub fn decode_answer(frame: Bytes) -> io::Result<pb::AppendEntriesResponse> {
    pb::AppendEntriesResponse::decode(frame)
        .map_err(|e| invalid(format!("an append answer does not decode: {e}")))
}

/// Reads length-prefixed frames.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames from `io`.
    pub fn new(io: R) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Reads [`MAGIC`], or fails naming what came instead.
    pub async fn expect_magic(&mut self) -> io::Result<()> {
        let mut got = [0u8; MAGIC.len()];
        let want = got.len();
        while self.buf.len() < want {
            self.buf.reserve(READ_CHUNK);
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        self.buf.copy_to_slice(&mut got);
        if got != MAGIC {
            return Err(invalid(format!(
                "not a replication session: it starts with {got:02x?}"
            )));
        }
        Ok(())
    }

    /// The next frame's payload; `None` when the peer closed the
    /// connection between frames.
    pub async fn next(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len > MAX_FRAME {
                    return Err(invalid(format!(
                        "a frame of {len} bytes announced, over the {MAX_FRAME}-byte limit"
                    )));
                }
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
                // Room for the rest, up to a bound: a length is only the
                // peer's word until the bytes arrive.
                let missing = 4 + len - self.buf.len();
                self.buf.reserve(missing.clamp(READ_CHUNK, MAX_RESERVE));
            } else {
                self.buf.reserve(READ_CHUNK);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the connection closed inside a frame ({} bytes in)",
                            self.buf.len()
                        ),
                    ))
                };
            }
        }
    }
}

#[cfg(test)]
// The test's writer is awaited before the test ends.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn request(records: &'static [u8]) -> pb::AppendEntriesRequest {
        pb::AppendEntriesRequest {
            prev_log_id: Some(pb::LogId { term: 3, index: 41 }),
            entries: Bytes::from_static(records),
            entry_count: 2,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn requests_and_answers_survive_the_wire() {
        let (mut a, b) = tokio::io::duplex(64);
        let sent = [
            request(b"first records"),
            request(b""),
            request(&[9u8; 300]),
        ];
        let copy = sent.clone();
        let writer = tokio::spawn(async move {
            a.write_all(&MAGIC).await.unwrap();
            for r in copy {
                write_request(&mut a, r).await.unwrap();
            }
            write_answer(&mut a, &pb::AppendEntriesResponse::default())
                .await
                .unwrap();
        });
        let mut frames = FrameReader::new(b);
        frames.expect_magic().await.unwrap();
        for want in sent {
            let got = decode_request(frames.next().await.unwrap().unwrap()).unwrap();
            assert_eq!(got, want);
        }
        let answer = decode_answer(frames.next().await.unwrap().unwrap()).unwrap();
        assert_eq!(answer, pb::AppendEntriesResponse::default());
        writer.await.unwrap();
        assert_eq!(frames.next().await.unwrap(), None, "closed between frames");
    }

    #[tokio::test]
    async fn bad_input_is_an_error_not_a_panic() {
        // Not our magic (an HTTP/2 preface).
        let mut r = FrameReader::new(&b"PRI * HTTP/2.0\r\n"[..]);
        assert_eq!(
            r.expect_magic().await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        // A length over the limit: refused before reading (or allocating) it.
        let mut huge = Vec::new();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let err = FrameReader::new(&huge[..]).next().await.unwrap_err();
        assert!(err.to_string().contains("over the"), "{err}");
        // Cut inside a frame.
        let mut cut = Vec::new();
        cut.extend_from_slice(&10u32.to_le_bytes());
        cut.extend_from_slice(b"abc");
        let err = FrameReader::new(&cut[..]).next().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        // A head longer than its frame, and a head that does not decode.
        assert!(decode_request(Bytes::from_static(&[1, 0])).is_err());
        assert!(decode_request(Bytes::from_static(&[200, 0, 0, 0, 1])).is_err());
        assert!(decode_request(Bytes::from_static(&[2, 0, 0, 0, 0xff, 0xff])).is_err());
        assert!(decode_answer(Bytes::from_static(&[0xff, 0xff, 0xff])).is_err());
    }
}
