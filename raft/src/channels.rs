//! One long-lived, lazily connected channel per peer address, shared by
//! replication, votes and forwarded writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use raftmq_proto::raft::v1::raft_service_client::RaftServiceClient;
use tonic::transport::{Channel, Endpoint};

use crate::limits::MAX_RPC_BYTES;

/// How long connecting to a peer may take.
pub const CONNECT_WAIT: Duration = Duration::from_millis(500);

/// A peer address that is not a `host:port` a channel can be made to.
#[derive(Clone, Debug, thiserror::Error)]
#[error("bad peer address {addr:?}: {reason}")]
pub struct BadAddress {
    /// The address as configured.
    pub addr: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The channels of one member, by peer address.
#[derive(Clone, Debug, Default)]
pub struct Channels(Arc<Mutex<HashMap<String, Channel>>>);

impl Channels {
    fn channel(&self, addr: &str) -> Result<Channel, BadAddress> {
        let mut channels = self.0.lock();
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| BadAddress {
                addr: addr.to_owned(),
                reason: e.to_string(),
            })?
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_WAIT);
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_owned(), channel.clone());
        Ok(channel)
    }

    /// A client on the channel to `addr`.
    pub fn client_for(&self, addr: &str) -> Result<RaftServiceClient<Channel>, BadAddress> {
        self.channel(addr).map(|c| {
            RaftServiceClient::new(c)
                .max_decoding_message_size(MAX_RPC_BYTES)
                .max_encoding_message_size(MAX_RPC_BYTES)
        })
    }
}

/// Whether a failed call never reached the peer: the connection could not
/// be made (refused, unreachable, timed out while connecting), so nothing
/// was sent and a retry cannot store anything twice. Decided from the
/// error's causes, not from its text.
pub fn never_sent(status: &tonic::Status) -> bool {
    use std::error::Error as _;
    use std::io::ErrorKind;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = status.source();
    while let Some(e) = cause {
        if e.is::<tonic::ConnectError>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::NotFound
            );
        }
        cause = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_known_as_never_sent() {
        // A port that was free a moment ago: nothing listens there.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        let mut client = Channels::default().client_for(&addr).unwrap();
        let status = client
            .propose(raftmq_proto::raft::v1::ProposeRequest::default())
            .await
            .unwrap_err();
        assert!(never_sent(&status), "{status:?}");
    }

    #[test]
    fn a_status_made_by_a_peer_is_not_a_connect_error() {
        // A peer's own answer, even one that mentions connecting.
        let status = tonic::Status::unavailable("could not connect to the leader");
        assert!(!never_sent(&status));
    }
}
