//! Hand-made HTTP/2 and gRPC frames for `bad_frames.rs`, and clients that
//! send them: raw bytes over TCP ([`raw`], [`cut_off`]), and one gRPC call
//! with a body built by hand over its own HTTP/2 connection ([`call`], with
//! the `h2` crate), each bounded by [`CALL_DEADLINE`].

// A test helper: the connection driver is aborted and awaited after its one call.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::Code;

/// How long one attack may take before the server counts as wedged.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// The HTTP/2 client preface.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the server did with raw bytes.
#[derive(Debug)]
pub struct RawOutcome {
    /// It closed the connection (EOF or reset) before the deadline.
    pub closed: bool,
    /// The error code of the GOAWAY frame it sent, if it sent one.
    pub goaway: Option<u32>,
}

/// Writes `bytes`, closes the write side, and reads until the server
/// closes the connection or the deadline passes.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> RawOutcome {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may close before reading everything: a failed write is
    // an answer too.
    let _ = s.write_all(bytes).await;
    let _ = s.shutdown().await;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + CALL_DEADLINE;
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    RawOutcome {
        closed,
        goaway: goaway_code(&got),
    }
}

/// The error code of the first GOAWAY frame in what an HTTP/2 server sent.
fn goaway_code(mut b: &[u8]) -> Option<u32> {
    while b.len() >= 9 {
        let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
        let kind = b[3];
        let payload = b.get(9..9 + len)?;
        if kind == 0x7 && payload.len() >= 8 {
            return Some(u32::from_be_bytes([
                payload[4], payload[5], payload[6], payload[7],
            ]));
        }
        b = &b[9 + len..];
    }
    None
}

/// An HTTP/2 frame header and payload.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small frame");
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK "literal header field without indexing, new name", no Huffman
/// coding (names and values under 127 bytes).
fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0);
    for s in [name, value] {
        out.push(u8::try_from(s.len()).expect("a short header"));
        out.extend_from_slice(s.as_bytes());
    }
}

/// Opens a gRPC call by hand (preface, SETTINGS, HEADERS, one DATA frame
/// holding `body`, no END_STREAM) and closes the connection right after.
pub async fn cut_off(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawOutcome {
    let mut block = Vec::new();
    let authority = addr.to_string();
    for (k, v) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", authority.as_str()),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    .iter()
    .chain(headers)
    {
        hpack_literal(&mut block, k, v);
    }
    let mut bytes = PREFACE.to_vec();
    bytes.extend(h2_frame(0x4, 0, 0, &[]));
    bytes.extend(h2_frame(0x1, 0x4, 1, &block));
    bytes.extend(h2_frame(0x0, 0, 1, body));
    raw(addr, &bytes).await
}

/// A gRPC message: compressed flag, a length that may lie, a payload.
pub fn grpc_frame(flag: u8, claimed: usize, payload: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + payload.len());
    b.put_u8(flag);
    b.put_u32(u32::try_from(claimed).unwrap_or(u32::MAX));
    b.put_slice(payload);
    b.freeze()
}

/// How a gRPC call over HTTP/2 ended.
#[derive(Debug)]
pub enum Outcome {
    /// With a gRPC status.
    Status(Code, String),
    /// The stream or connection was reset, with h2's description.
    Reset(String),
    /// Nothing within the deadline: the server is wedged.
    NoAnswer,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(code, message) => write!(f, "status {code:?}: {message:?}"),
            Outcome::Reset(why) => write!(f, "reset: {why}"),
            Outcome::NoAnswer => write!(f, "no answer within {CALL_DEADLINE:?}"),
        }
    }
}

impl Outcome {
    /// The gRPC status code, if the call ended with one.
    pub fn code(&self) -> Option<Code> {
        match self {
            Outcome::Status(c, _) => Some(*c),
            _ => None,
        }
    }
}

/// One gRPC call at `addr` with a hand-made body and END_STREAM after it,
/// over its own HTTP/2 connection.
pub async fn call(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: Bytes) -> Outcome {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, conn) = match h2::client::handshake(tcp).await {
        Ok(c) => c,
        Err(e) => return Outcome::Reset(format!("handshake: {e}")),
    };
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let outcome = tokio::time::timeout(CALL_DEADLINE, exchange(client, addr, path, headers, body))
        .await
        .unwrap_or(Outcome::NoAnswer);
    driver.abort();
    let _ = driver.await;
    outcome
}

async fn exchange(
    client: h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Outcome {
    let mut client = match client.ready().await {
        Ok(c) => c,
        Err(e) => return Outcome::Reset(e.to_string()),
    };
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(()).expect("a request");
    let (response, mut send) = match client.send_request(req, body.is_empty()) {
        Ok(r) => r,
        Err(e) => return Outcome::Reset(e.to_string()),
    };
    // A server may answer before it has read the body (an unknown method
    // gets a trailers-only answer at once) and close the stream: then the
    // body cannot be sent, and the answer already there is the outcome.
    let unsent = if body.is_empty() {
        None
    } else {
        send.send_data(body, true).err()
    };
    let response = match response.await {
        Ok(r) => r,
        Err(e) => return Outcome::Reset(unsent.unwrap_or(e).to_string()),
    };
    let (parts, mut body) = response.into_parts();
    if let Some(s) = status_of(&parts.headers) {
        return s;
    }
    while let Some(chunk) = body.data().await {
        match chunk {
            Ok(c) => {
                let _ = body.flow_control().release_capacity(c.len());
            }
            Err(e) => return Outcome::Reset(e.to_string()),
        }
    }
    match body.trailers().await {
        Ok(Some(t)) => {
            status_of(&t).unwrap_or(Outcome::Reset("trailers without grpc-status".into()))
        }
        Ok(None) => Outcome::Reset("no trailers".into()),
        Err(e) => Outcome::Reset(e.to_string()),
    }
}

fn status_of(h: &http::HeaderMap) -> Option<Outcome> {
    let code = h.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
    let message = h
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    Some(Outcome::Status(Code::from_i32(code), message))
}

/// `grpc-message` is percent-encoded.
fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(x)) => {
                out.push(x);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
