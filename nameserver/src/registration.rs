//! What a broker sends when it registers or heartbeats, and the checks the
//! registry runs on it before anything changes.

use std::collections::BTreeMap;

use crate::error::RegistryError;
use raftmq_model::TopicName;

use crate::model::{BrokerName, ClusterName, DataVersion, MemberId, Perm, Role, Term, TopicConfig};

/// Figures a broker reports for `mqadmin clusterList`. The registry stores
/// and shows them; it never interprets them, and a change in them is not a
/// route change.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrokerStats {
    /// Broker version string, e.g. `V5_3_0`.
    pub version: String,
    /// Messages put per second (`#InTPS`).
    pub in_tps: f64,
    /// Messages got per second (`#OutTPS`).
    pub out_tps: f64,
    /// Timer progress as the broker formats it (`#Timer(Progress)`).
    pub timer_progress: String,
    /// Page cache lock wait in ms (`#PCWait(ms)`).
    pub page_cache_wait_ms: u64,
    /// Hours since the earliest stored message (`#Hour`).
    pub hours: f64,
    /// Disk used ratio, 0.0 to 1.0 (`#SPACE`).
    pub disk_used_ratio: f64,
    /// Whether the broker is activated (`#ACTIVATED`).
    pub activated: bool,
    /// Writes waiting to be stored (the load beside `#InTPS`).
    pub write_queue_len: u64,
    /// How long the oldest waiting write has waited, ms.
    pub write_queue_wait_ms: u64,
}

/// One register (or heartbeat) call from one group member: a heartbeat is a
/// registration with the same data.
#[derive(Clone, Debug, PartialEq)]
pub struct Registration {
    /// `brokerClusterName`.
    pub cluster: ClusterName,
    /// `brokerName`.
    pub group: BrokerName,
    /// The member, from `dLegerSelfId`.
    pub member: MemberId,
    /// Where clients reach it (`host:port`, the port is `listenPort`).
    pub client_addr: String,
    /// Where its peers reach it for Raft (`host:port`).
    pub raft_addr: String,
    /// Its Raft role now.
    pub role: Role,
    /// Its Raft term now.
    pub term: Term,
    /// Its topic table version.
    pub data_version: DataVersion,
    /// Its `brokerPermission`.
    pub perm: Perm,
    /// Its topic table: topic name to queues and permission.
    pub topics: BTreeMap<TopicName, TopicConfig>,
    /// Figures for `clusterList`.
    pub stats: BrokerStats,
    /// `autoCreateTopicEnable`: `Some(defaultTopicQueueNums)` when the
    /// member creates unknown topics on their first send.
    pub auto_create_queues: Option<u32>,
    /// `enableTopicMessageTypeCheck`: the member refuses messages of a type
    /// their topic does not take.
    pub check_message_type: bool,
}

impl Registration {
    /// Checks everything the registry relies on; the error names the field.
    pub fn validate(&self) -> Result<(), RegistryError> {
        check_name("cluster name", self.cluster.as_str())?;
        check_name("broker name", self.group.as_str())?;
        if self.member.0 == u64::MAX {
            return Err(RegistryError::MemberIdOutOfRange { id: self.member.0 });
        }
        check_addr("client address", &self.client_addr)?;
        check_addr("raft address", &self.raft_addr)?;
        Ok(())
    }
}

/// Cluster and broker names: 1 to 127 characters of `A-Z a-z 0-9 % | _ - .`.
/// Topic names are [`TopicName`]s, checked when the registration is read
/// from the wire.
fn check_name(what: &'static str, name: &str) -> Result<(), RegistryError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "%|_-.".contains(c);
    if name.is_empty() || name.len() > 127 || !name.chars().all(ok_char) {
        return Err(RegistryError::BadName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Addresses: `host:port` with a non-empty host and a port from 1 to 65535.
fn check_addr(what: &'static str, addr: &str) -> Result<(), RegistryError> {
    let ok = match addr.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && port.parse::<u16>().is_ok_and(|p| p != 0)
        }
        None => false,
    };
    if !ok {
        return Err(RegistryError::BadAddress {
            what,
            addr: addr.to_owned(),
        });
    }
    Ok(())
}
