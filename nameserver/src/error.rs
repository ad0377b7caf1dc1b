//! The nameserver's errors.
//!
//! Every registry error is an API error: the request was refused and nothing
//! changed. The registry has no fatal errors (it holds no files).

use crate::model::{BrokerName, ClusterName};

/// Why a request to the registry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// A cluster, broker or topic name is empty, too long or has characters
    /// outside `A-Z a-z 0-9 % | _ - .`.
    #[error("bad {what} {name:?}: use 1 to 127 characters of A-Z a-z 0-9 % | _ - .")]
    BadName {
        /// Which name.
        what: &'static str,
        /// The name as sent.
        name: String,
    },
    /// An address is not `host:port`.
    #[error("bad {what} {addr:?}: expected host:port with a port from 1 to 65535")]
    BadAddress {
        /// Which address.
        what: &'static str,
        /// The address as sent.
        addr: String,
    },
    /// A `dLegerSelfId` that is not a letter followed by a number.
    #[error("bad dLegerSelfId {id:?}: expected a letter and a number, e.g. n0")]
    BadSelfId {
        /// The id as sent.
        id: String,
    },
    /// The member id has no BID (member id + 1 would overflow).
    #[error("member id {id} is too large: its BID (id + 1) would overflow")]
    MemberIdOutOfRange {
        /// The id as sent.
        id: u64,
    },
    /// The group is already registered in another cluster. Group names are
    /// unique across clusters.
    #[error(
        "broker {group} is registered in cluster {registered}, not {requested}: \
         rename one of the groups, or unregister it (or wait for it to expire) before moving it"
    )]
    GroupInOtherCluster {
        /// The group.
        group: BrokerName,
        /// The cluster it is registered in.
        registered: ClusterName,
        /// The cluster the request named.
        requested: ClusterName,
    },
}
