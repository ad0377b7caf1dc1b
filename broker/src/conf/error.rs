//! Why a conf file was refused. Every variant names the file, and the line
//! and key when there is one, so the message alone tells the operator what to
//! edit: `conf/dledger/broker-n0.conf:7: unknown key `listenPrt`; did you mean
//! `listenPort`?`

use std::fmt;
use std::path::PathBuf;

/// A conf file (or an override of one of its values) that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfError {
    /// The file could not be read.
    #[error("{}: cannot read the conf file: {source}", path.display())]
    Read {
        /// The conf file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text.
    #[error("{}: the conf file is not UTF-8 text", path.display())]
    NotUtf8 {
        /// The conf file.
        path: PathBuf,
    },
    /// A line that is not `key=value`, a comment or blank.
    #[error("{}:{line}: {problem}", path.display())]
    Syntax {
        /// The conf file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        problem: SyntaxProblem,
    },
    /// A key that is neither a raftmq key nor a RocketMQ key raftmq ignores.
    #[error("{}:{line}: unknown key `{key}`{}", path.display(), Suggestion(*suggestion))]
    UnknownKey {
        /// The conf file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
        /// The known key nearest to it, if one is close.
        suggestion: Option<&'static str>,
    },
    /// A value that does not fit its key.
    #[error("{}:{line}: {key}: {reason}", path.display())]
    BadValue {
        /// The conf file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
        /// The value as written (trimmed, comment removed).
        value: String,
        /// What is wrong, naming the value and what is expected.
        reason: String,
    },
    /// `dLegerSelfId` or `preferredLeaderId` names a member missing from
    /// `dLegerPeers`.
    #[error("{}:{line}: {key} `{value}` is not one of the peers {}", path.display(), peers.join(", "))]
    NotAPeer {
        /// The conf file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
        /// The member named, as written.
        value: String,
        /// The members of `dLegerPeers`, as `n0`, `n1`, ...
        peers: Vec<String>,
    },
    /// Required keys are absent.
    #[error("{}: missing {}{}", path.display(), keys.join(", "), missing_hint(keys))]
    Missing {
        /// The conf file.
        path: PathBuf,
        /// The keys, in the order they are documented.
        keys: Vec<&'static str>,
    },
    /// An environment variable the conf falls back on holds a bad value.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable, e.g. `NAMESRV_ADDR`.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A command-line override (`mqbroker -n`) holds a bad value.
    #[error("-n: {reason}")]
    NamesrvOverride {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

pub use raftmq_cli::properties::SyntaxProblem;

struct Suggestion(Option<&'static str>);

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "; did you mean `{s}`?"),
            None => Ok(()),
        }
    }
}

fn missing_hint(keys: &[&'static str]) -> String {
    let mut hints = Vec::new();
    if keys.iter().any(|k| k.starts_with("dLeger")) {
        hints.push(
            "every raftmq broker is a member of a DLedger group, e.g. dLegerGroup=RaftNode00, \
             dLegerPeers=n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913, dLegerSelfId=n0",
        );
    }
    if keys.contains(&"storePathRootDir") {
        hints.push("the default storePathRootDir, $HOME/store, needs $HOME");
    }
    if hints.is_empty() {
        String::new()
    } else {
        format!(" ({})", hints.join("; "))
    }
}
