//! What can go wrong in an admin command. Each error displays as the one line
//! `mqadmin` prints on stderr: what failed, where, and what to do about it.

use std::fmt;

use tonic::{Code, Status};

/// A failed admin command.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A call through the SDK failed (`sendMessage`, `consumeMessage`).
    #[error("{0}")]
    Sdk(#[from] crate::sdk::ClientError),

    /// Neither `-n` nor `NAMESRV_ADDR` names a nameserver.
    #[error("no nameserver address: pass -n host:port[;host:port] or set NAMESRV_ADDR")]
    NoNamesrv,

    /// An option's value is out of range or malformed; nothing was sent.
    #[error("invalid {option} '{value}': {reason}")]
    InvalidOption {
        /// The option (`-t`, `-r`, ...) or variable that holds the value.
        option: &'static str,
        /// The value as given.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },

    /// No nameserver of the list answered.
    #[error(
        "no nameserver answered (tried {}): {last}; check that mqnamesrv runs there, \
         or pass the right -n / NAMESRV_ADDR",
        tried.join(", ")
    )]
    NamesrvUnreachable {
        /// Every address tried, in order.
        tried: Vec<String>,
        /// Why the last one did not answer.
        last: RpcFailure,
    },

    /// A nameserver answered a call with an error.
    #[error("nameserver {addr} refused {call}: {failure}")]
    NamesrvRefused {
        /// The nameserver that answered.
        addr: String,
        /// The RPC (`ClusterList`, ...).
        call: &'static str,
        /// Its answer.
        failure: RpcFailure,
    },

    /// The nameserver knows no group that serves the topic.
    #[error("topic '{topic}' has no route on nameserver {namesrv}: no broker group serves it")]
    TopicNotFound {
        /// The topic asked for.
        topic: String,
        /// The nameserver that answered.
        namesrv: String,
    },

    /// No broker of the cluster is registered on the nameserver.
    #[error(
        "cluster '{cluster}' has no broker on nameserver {namesrv}; \
         `mqadmin clusterList -n {namesrv}` lists the clusters it knows"
    )]
    ClusterNotFound {
        /// The cluster asked for.
        cluster: String,
        /// The nameserver that answered.
        namesrv: String,
    },

    /// No broker address tried answered.
    #[error(
        "no broker answered (tried {}): {last}; check that the broker runs and \
         listens there (its listenPort)",
        tried.join(", ")
    )]
    BrokerUnreachable {
        /// Every address tried, in order.
        tried: Vec<String>,
        /// Why the last one did not answer.
        last: RpcFailure,
    },

    /// A broker answered a call with an error.
    #[error("broker {addr} refused {call}: {failure}")]
    BrokerRefused {
        /// The broker that answered.
        addr: String,
        /// The RPC (`UpdateTopic`, ...).
        call: &'static str,
        /// Its answer.
        failure: RpcFailure,
    },

    /// Every group of the cluster answered that it has no such topic.
    #[error("topic '{topic}' exists on no broker group of cluster '{cluster}': nothing deleted")]
    TopicNotInCluster {
        /// The topic asked for.
        topic: String,
        /// The cluster whose groups were asked.
        cluster: String,
    },

    /// Every group of the cluster answered that it has no such consumer group.
    #[error("subscription group '{group}' does not exist {scope}: nothing deleted")]
    SubGroupNotInCluster {
        /// The consumer group asked for.
        group: String,
        /// Where it was looked for (`on broker ADDR`, `on any broker
        /// group of cluster 'C'`).
        scope: String,
    },

    /// No broker group has the consumer group.
    #[error("subscription group '{group}' exists on no broker group; `mqadmin consumerProgress` lists the groups")]
    SubGroupNotFound {
        /// The consumer group asked for.
        group: String,
    },

    /// Some groups of a cluster failed; the others were still done.
    #[error("{}", groups_message(call, cluster, *groups, failures))]
    Groups {
        /// The command (`updateTopic`, `deleteTopic`).
        call: &'static str,
        /// The cluster.
        cluster: String,
        /// How many groups the cluster has.
        groups: usize,
        /// Each failed group with its error.
        failures: Vec<(String, AdminError)>,
    },
}

impl AdminError {
    /// The process exit code: 2 for bad usage (nothing was sent), 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AdminError::NoNamesrv | AdminError::InvalidOption { .. } => 2,
            _ => 1,
        }
    }
}

fn groups_message(
    call: &str,
    cluster: &str,
    groups: usize,
    failures: &[(String, AdminError)],
) -> String {
    let each = failures
        .iter()
        .map(|(group, e)| format!("[{group}] {e}"))
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "{call} failed on {} of {groups} broker groups of cluster '{cluster}': {each}",
        failures.len()
    )
}

/// A gRPC call that did not succeed: its status code and message, or a
/// timeout of our own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcFailure {
    /// The gRPC status code.
    pub code: Code,
    /// The status message, flattened to one line.
    pub message: String,
}

impl RpcFailure {
    /// No answer within `after`.
    pub fn timeout(after: std::time::Duration) -> Self {
        Self {
            code: Code::DeadlineExceeded,
            message: format!("no answer within {} ms", after.as_millis()),
        }
    }

    /// Whether the peer gave no answer of its own (down, unreachable, too
    /// slow, or not serving the service at all), so that another address
    /// may be tried.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.code,
            Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::Unknown
                | Code::Unimplemented
        )
    }
}

impl From<Status> for RpcFailure {
    fn from(status: Status) -> Self {
        let mut message = status.message().to_owned();
        let mut source = std::error::Error::source(&status);
        while let Some(cause) = source {
            let text = cause.to_string();
            // tonic's wrapper says nothing its own cause does not.
            if text != "transport error" && !message.contains(&text) {
                message = if message.is_empty() {
                    text
                } else {
                    format!("{message}: {text}")
                };
            }
            source = cause.source();
        }
        Self {
            code: status.code(),
            message: message.replace(['\n', '\r'], " "),
        }
    }
}

impl fmt::Display for RpcFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code.description())
        } else {
            write!(f, "{:?}: {}", self.code, self.message)
        }
    }
}
