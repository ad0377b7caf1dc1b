//! The broker's conf file: `mqbroker -c conf/dledger/broker-n0.conf`.
//!
//! Operators arrive with RocketMQ conf files, so raftmq reads RocketMQ's
//! properties format with RocketMQ's key names: the stock
//! `conf/dledger/broker-n{0,1,2}.conf` start a raftmq broker unchanged. Where
//! upstream is silent or surprising, raftmq is strict and says which file,
//! line and key to fix.
//!
//! ```text
//!   text ──properties──► key=value entries (line numbers kept)
//!        ──keys────────► known (typed) | ignored (warning) | unknown (error + nearest key)
//!        ──builder─────► values typed, defaults filled, checked together ──► BrokerConf
//! ```
//!
//! # Syntax
//! `key=value` (or `key:value`), spaces around both trimmed; blank lines and
//! lines starting with `#` or `!` skipped; `key=value # comment` accepted (a `#` after whitespace starts
//! a comment: upstream would read the comment into the value and fail to
//! start). A line with no `=` or `:`, or ending in `\`, is an error naming the
//! line. Keys are case-sensitive, as upstream.
//!
//! # Keys
//! - Read: the fields of [`BrokerConf`], each documented with its key and
//!   default; raftmq adds `raftHeartbeatIntervalMs`, `raftElectionTimeoutMinMs`,
//!   `raftElectionTimeoutMaxMs`, `raftReplicationTransport` and
//!   `serverIdleSpinMicros` in the same camelCase style.
//! - Ignored: RocketMQ keys that do not apply to raftmq ([`IGNORED_KEYS`]:
//!   `brokerRole`, `enableControllerMode`, `transientStorePoolEnable`, the HA
//!   and thread-pool keys, ...) and `brokerId` (the leader is BID 0) are
//!   accepted with a warning naming file, line, key and the reason.
//! - Anything else is an error naming the nearest known key.
//!
//! # Decisions
//! - A key set twice: the later line wins, as with Java properties, and a
//!   warning names both lines.
//! - Every raftmq broker is a member of a DLedger (Raft) group, so
//!   `enableDLegerCommitLog` defaults to true, `false` is an error, and
//!   `brokerName`, `dLegerGroup`, `dLegerPeers` and `dLegerSelfId` are
//!   required (upstream's hostname default for `brokerName` is not taken: two
//!   groups must never share a name by accident). A single node is a group of
//!   one: `dLegerPeers=n0-127.0.0.1:40911`, `dLegerSelfId=n0`.
//! - `dLegerSelfId` and `preferredLeaderId` must name members of
//!   `dLegerPeers`. `preferredLeaderId` is upstream's broker key; DLedger's own
//!   spelling `preferredLeaderIds` is accepted too, naming one member.
//! - `aclEnable=true` is refused: raftmq has no ACL and will not run open
//!   when access control was asked for.
//! - `storePathCommitLog` is honoured (upstream ignores it in DLedger mode).
//!
//! # Nameserver addresses
//! As upstream (`BrokerStartup`): the `NAMESRV_ADDR` environment variable is
//! the default, a `namesrvAddr` line in the conf file replaces it (even an
//! empty one), and `mqbroker -n` replaces both
//! ([`BrokerConf::with_namesrv_override`]). Lowest to highest:
//! `NAMESRV_ADDR` < `namesrvAddr` < `-n`.

mod broker_conf;
mod builder;
pub mod defaults;
mod error;
mod keys;
mod values;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use broker_conf::{BrokerConf, DLedgerConf, HeldConf};
pub use error::{ConfError, SyntaxProblem};

/// The RocketMQ keys raftmq accepts and ignores, each with the reason its
/// warning gives.
pub const IGNORED_KEYS: &[(&str, &str)] = keys::IGNORED;

/// The process environment a conf file falls back on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Env {
    /// `$HOME`: `storePathRootDir` defaults to `$HOME/store`.
    pub home: Option<PathBuf>,
    /// `$NAMESRV_ADDR`: `namesrvAddr` when the conf file has none.
    pub namesrv_addr: Option<String>,
}

impl Env {
    /// Reads `HOME` and `NAMESRV_ADDR` (empty counts as unset).
    pub fn from_process() -> Self {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let namesrv_addr = std::env::var_os("NAMESRV_ADDR")
            .map(|v| v.to_string_lossy().into_owned())
            .filter(|v| !v.trim().is_empty());
        Self { home, namesrv_addr }
    }
}

/// Parses the conf `text` of the file `path` (used in messages), with the
/// process environment as fallback. Returns the conf and the warnings
/// (ignored keys, repeated keys), each naming file, line and key.
pub fn parse(path: &Path, text: &str) -> Result<(BrokerConf, Vec<String>), ConfError> {
    parse_with_env(path, text, &Env::from_process())
}

/// [`parse`] with an explicit environment (tests, embedding).
pub fn parse_with_env(
    path: &Path,
    text: &str,
    env: &Env,
) -> Result<(BrokerConf, Vec<String>), ConfError> {
    let entries =
        raftmq_cli::properties::entries(text).map_err(|(line, problem)| ConfError::Syntax {
            path: path.to_owned(),
            line,
            problem,
        })?;
    builder::build(path, &entries, env)
}

/// Reads and parses the conf file at `path` (see [`parse`]).
pub fn load(path: &Path) -> Result<(BrokerConf, Vec<String>), ConfError> {
    load_with_env(path, &Env::from_process())
}

/// [`load`] with an explicit environment.
pub fn load_with_env(path: &Path, env: &Env) -> Result<(BrokerConf, Vec<String>), ConfError> {
    let bytes = std::fs::read(path).map_err(|source| ConfError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfError::NotUtf8 {
        path: path.to_owned(),
    })?;
    let out = parse_with_env(path, &text, env)?;
    tracing::debug!(path = %path.display(), warnings = out.1.len(), "conf file read");
    Ok(out)
}
