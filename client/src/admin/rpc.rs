//! The gRPC plumbing shared by the nameserver and broker clients: one lazily
//! connected channel per address, reused, and every call bounded in time.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Response, Status};

use super::RpcFailure;

/// How long `mqadmin` waits for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open the TCP connection and the HTTP/2 session.
    pub connect: Duration,
    /// For one call's answer, connection included.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            request: Duration::from_secs(3),
        }
    }
}

/// One channel per address, created on first use and reused after.
#[derive(Debug, Default)]
pub(crate) struct Channels {
    timeouts: Timeouts,
    open: Mutex<HashMap<String, Channel>>,
}

impl Channels {
    pub(crate) fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            open: Mutex::default(),
        }
    }

    /// The channel to `addr`; connects lazily, so it never fails for a peer
    /// that is down (the call does). Must run inside a tokio runtime.
    fn channel(&self, addr: &str) -> Result<Channel, RpcFailure> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(channel) = open.get(addr) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| RpcFailure {
                code: Code::Unavailable,
                message: format!("bad address {addr}: {e}"),
            })?
            .connect_timeout(self.timeouts.connect)
            .timeout(self.timeouts.request)
            .tcp_nodelay(true);
        let channel = endpoint.connect_lazy();
        open.insert(addr.to_owned(), channel.clone());
        Ok(channel)
    }

    /// Runs one call on `addr`'s channel, bounded by the request timeout.
    pub(crate) async fn call<T, F, Fut>(&self, addr: &str, call: F) -> Result<T, RpcFailure>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let channel = self.channel(addr)?;
        match tokio::time::timeout(self.timeouts.request, call(channel)).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status.into()),
            Err(_) => Err(RpcFailure::timeout(self.timeouts.request)),
        }
    }

    /// Runs `call` on each address in turn until one answers, success or
    /// error alike. Returns the index of the address that answered with its
    /// answer, or, when none did, the last reason.
    pub(crate) async fn first_answer<T, F, Fut>(
        &self,
        addrs: &[String],
        mut call: F,
    ) -> Result<(usize, Result<T, RpcFailure>), RpcFailure>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        let mut last = RpcFailure {
            code: Code::Unavailable,
            message: "no address to try".to_owned(),
        };
        for (i, addr) in addrs.iter().enumerate() {
            match self.call(addr, &mut call).await {
                Err(failure) if failure.is_unreachable() => last = failure,
                answer => return Ok((i, answer)),
            }
        }
        Err(last)
    }
}
