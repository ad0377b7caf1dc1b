//! Connections: one lazily connected tonic channel per address, reused by
//! every call; requests carry the client's headers and a deadline; a call
//! to a broker group tries its members in order (leader first) and moves to
//! the next one when an address cannot be reached.
//!
//! ```text
//! GroupLink "RaftNode00": [n1 (leader), n0, n2]   preferred = 0
//!   call -> n1: UNAVAILABLE  -> n0: answers        preferred = 1
//!   route refresh (new leader first) -> addresses replaced, preferred = 0
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use raftmq_proto::rocketmq::v2::messaging_service_client::MessagingServiceClient;
use tokio::net::TcpStream;
use tonic::codegen::http::Uri;
use tonic::codegen::Service;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};

use super::cork::Corked;
use super::error::rpc_error;
use super::lookahead::LookaheadBodies;
use super::ClientError;

/// The stub every call uses: request bodies end with their last frame.
pub(crate) type Stub = MessagingServiceClient<LookaheadBodies<Channel>>;

/// The largest message a response may carry (a pull of many large bodies).
const MAX_DECODE: usize = 64 << 20;

/// The generated stub over `channel`.
pub(crate) fn stub(channel: Channel) -> Stub {
    MessagingServiceClient::new(LookaheadBodies(channel)).max_decoding_message_size(MAX_DECODE)
}

/// Opens the TCP connections of a channel: no Nagle delay, and writes
/// corked for one turn of the scheduler ([`Corked`]).
#[derive(Debug, Clone)]
struct Connect {
    addr: Arc<str>,
}

impl Service<Uri> for Connect {
    type Response = TokioIo<Corked<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Connects to the channel's address (the URI is made from it).
    fn call(&mut self, _: Uri) -> Self::Future {
        let addr = Arc::clone(&self.addr);
        Box::pin(async move {
            let stream = TcpStream::connect(&*addr).await?;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(Corked::new(stream)))
        })
    }
}

/// The channels of one client and the headers it sends.
#[derive(Debug)]
pub(crate) struct Links {
    connect_timeout: Duration,
    headers: MetadataMap,
    open: Mutex<HashMap<String, Channel>>,
}

impl Links {
    pub fn new(client_id: &str, connect_timeout: Duration) -> Result<Self, ClientError> {
        let mut headers = MetadataMap::new();
        let value = |v: &str| {
            AsciiMetadataValue::try_from(v).map_err(|_| ClientError::BadConfig {
                field: "client id",
                reason: format!("'{v}' is not printable ASCII"),
            })
        };
        headers.insert("x-mq-client-id", value(client_id)?);
        headers.insert("x-mq-language", AsciiMetadataValue::from_static("RUST"));
        headers.insert(
            "x-mq-client-version",
            AsciiMetadataValue::from_static(env!("CARGO_PKG_VERSION")),
        );
        headers.insert("x-mq-protocol", AsciiMetadataValue::from_static("v2"));
        // Routes then list every member of a group, leader first, so calls
        // can fail over between them.
        headers.insert(
            raftmq_proto::client_protocol::ALL_MEMBERS_HEADER,
            AsciiMetadataValue::from_static("1"),
        );
        Ok(Self {
            connect_timeout,
            headers,
            open: Mutex::default(),
        })
    }

    /// The stub for `addr`.
    pub fn stub(&self, addr: &str) -> Result<Stub, ClientError> {
        self.channel(addr).map(stub)
    }

    /// The channel to `addr`; connects lazily, so a peer that is down fails
    /// the call, not this.
    pub fn channel(&self, addr: &str) -> Result<Channel, ClientError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let channel = match open.get(addr) {
            Some(c) => c.clone(),
            None => {
                let c = Endpoint::from_shared(format!("http://{addr}"))
                    .map_err(|e| ClientError::BadConfig {
                        field: "address",
                        reason: format!("'{addr}': {e}"),
                    })?
                    .connect_timeout(self.connect_timeout)
                    .http2_keep_alive_interval(Duration::from_secs(30))
                    .keep_alive_while_idle(true)
                    .connect_with_connector_lazy(Connect {
                        addr: Arc::from(addr),
                    });
                open.insert(addr.to_owned(), c.clone());
                c
            }
        };
        Ok(channel)
    }

    /// `msg` as a request with the client's headers and a deadline.
    pub fn request<T>(&self, msg: T, timeout: Duration) -> tonic::Request<T> {
        let mut r = self.open_request(msg);
        r.set_timeout(timeout);
        r
    }

    /// `msg` as a request with the client's headers and no deadline (for
    /// the long-lived Telemetry stream).
    pub fn open_request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut r = tonic::Request::new(msg);
        *r.metadata_mut() = self.headers.clone();
        r
    }

    /// Runs `call` on `addrs` from `start`, wrapping around, until one
    /// address answers. An address that cannot be reached (UNAVAILABLE, or
    /// no answer within `timeout`) is skipped. Returns the index of the
    /// address that answered and its answer.
    ///
    /// `call` returns the transport's result; inside it, the business
    /// result, which ends the search either way.
    pub async fn first_answer<T, F, Fut>(
        &self,
        name: &'static str,
        addrs: &[String],
        start: usize,
        timeout: Duration,
        mut call: F,
    ) -> Result<(usize, T), ClientError>
    where
        F: FnMut(Channel, String) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let mut tried = Vec::new();
        let mut last = String::from("no address to try");
        for k in 0..addrs.len() {
            let i = (start + k) % addrs.len();
            let addr = &addrs[i];
            tried.push(addr.clone());
            let channel = self.channel(addr)?;
            match tokio::time::timeout(timeout, call(channel, addr.clone())).await {
                Ok(Ok(answer)) => return Ok((i, answer)),
                Ok(Err(s)) if unreachable(&s) => last = format!("{addr}: {}", s.message()),
                Ok(Err(s)) => return Err(rpc_error(name, &s)),
                Err(_) => last = format!("{addr}: no answer within {timeout:?}"),
            }
        }
        Err(ClientError::Unavailable {
            call: name,
            tried,
            last,
        })
    }
}

/// Whether a gRPC failure means the address could not be reached (try
/// another member) rather than an answer.
fn unreachable(s: &tonic::Status) -> bool {
    matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Unknown)
        || (s.code() == tonic::Code::Cancelled && s.message().contains("connect"))
}

/// One broker group: its members' addresses, leader first, and the one
/// that answered last.
#[derive(Debug)]
pub(crate) struct GroupLink {
    name: String,
    addrs: RwLock<Arc<[String]>>,
    preferred: AtomicUsize,
}

impl GroupLink {
    pub fn new(name: &str, addrs: Vec<String>) -> Self {
        Self {
            name: name.to_owned(),
            addrs: RwLock::new(addrs.into()),
            preferred: AtomicUsize::new(0),
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The addresses, leader first.
    pub fn addrs(&self) -> Arc<[String]> {
        self.addrs.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Takes a newer address list (from a route); goes back to its first
    /// address when the list changed.
    pub fn update(&self, addrs: &[String]) {
        let mut cur = self.addrs.write().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref() != addrs {
            *cur = addrs.into();
            self.preferred.store(0, Ordering::Relaxed);
        }
    }

    /// Runs `call` on the preferred member, then the others in order;
    /// remembers the member that answered.
    pub async fn call<T, F, Fut>(
        &self,
        links: &Links,
        name: &'static str,
        timeout: Duration,
        call: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(Channel, String) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let addrs = self.addrs();
        let start = self.preferred.load(Ordering::Relaxed) % addrs.len().max(1);
        let (i, answer) = links
            .first_answer(name, &addrs, start, timeout, call)
            .await?;
        if i != start {
            self.preferred.store(i, Ordering::Relaxed);
        }
        Ok(answer)
    }

    /// The address calls go to first.
    #[cfg(test)]
    pub fn preferred_addr(&self) -> Option<String> {
        let addrs = self.addrs();
        let i = self.preferred.load(Ordering::Relaxed);
        addrs.get(i % addrs.len().max(1)).cloned()
    }
}
