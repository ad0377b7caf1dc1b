//! The nameserver's conf file: `mqnamesrv -c conf/namesrv.conf`.
//!
//! The same properties syntax as the broker's (see `raftmq-props`). Read:
//! `listenPort` (9876), `bindAddress` (`0.0.0.0`), and two intervals that
//! upstream hard-codes or sets far longer: `scanNotActiveBrokerInterval`
//! (upstream's key; raftmq's default 1000 ms instead of 5000) and
//! `brokerChannelExpiredTime` (named after upstream's constant; raftmq's
//! default 10000 ms instead of 120000): brokers heartbeat every second, so a
//! dead member leaves the routes within about 11 s. A leader change does not
//! wait for either: the new leader registers at once, with a higher term.
//!
//! Other keys of upstream's nameserver are accepted with a warning naming
//! the file, line and key; anything else is an error naming the nearest key.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The nameserver's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamesrvConf {
    /// `listenPort` (9876).
    pub listen_port: u16,
    /// `bindAddress` (`0.0.0.0`): the interface the port is opened on.
    pub bind_address: String,
    /// `scanNotActiveBrokerInterval`, ms (1000): how often silent members
    /// are looked for.
    pub scan_interval: Duration,
    /// `brokerChannelExpiredTime`, ms (10000): a member silent this long is
    /// dropped from the routes.
    pub expiry: Duration,
}

impl Default for NamesrvConf {
    fn default() -> Self {
        Self {
            listen_port: 9876,
            bind_address: "0.0.0.0".into(),
            scan_interval: Duration::from_millis(1000),
            expiry: Duration::from_millis(10_000),
        }
    }
}

/// Upstream nameserver keys that mean nothing here, with the reason given.
const IGNORED: &[(&str, &str)] = &[
    ("rocketmqHome", "raftmq needs no home directory"),
    ("kvConfigPath", "raftmq keeps no KV config"),
    (
        "configStorePath",
        "raftmq keeps no nameserver state on disk",
    ),
    ("productEnvName", "raftmq has no product environments"),
    ("clusterTest", "raftmq has no cluster test mode"),
    ("orderMessageEnable", "raftmq keeps no order-message config"),
    (
        "returnOrderTopicConfigToBroker",
        "raftmq keeps no order-message config",
    ),
    (
        "clientRequestThreadPoolNums",
        "raftmq sizes its own runtime",
    ),
    ("defaultThreadPoolNums", "raftmq sizes its own runtime"),
    (
        "clientRequestThreadPoolQueueCapacity",
        "raftmq sizes its own runtime",
    ),
    (
        "defaultThreadPoolQueueCapacity",
        "raftmq sizes its own runtime",
    ),
    (
        "unRegisterBrokerQueueCapacity",
        "raftmq sizes its own runtime",
    ),
    ("serverWorkerThreads", "raftmq sizes its own runtime"),
    (
        "serverCallbackExecutorThreads",
        "raftmq sizes its own runtime",
    ),
    ("serverSelectorThreads", "raftmq sizes its own runtime"),
    ("serverOnewaySemaphoreValue", "raftmq sizes its own runtime"),
    ("serverAsyncSemaphoreValue", "raftmq sizes its own runtime"),
    (
        "serverChannelMaxIdleTimeSeconds",
        "gRPC manages idle connections",
    ),
    (
        "serverSocketSndBufSize",
        "the kernel's socket buffers are used",
    ),
    (
        "serverSocketRcvBufSize",
        "the kernel's socket buffers are used",
    ),
    ("writeBufferHighWaterMark", "gRPC manages flow control"),
    ("writeBufferLowWaterMark", "gRPC manages flow control"),
    (
        "serverSocketBacklog",
        "the kernel's default backlog is used",
    ),
    (
        "serverPooledByteBufAllocatorEnable",
        "raftmq has no Netty buffers",
    ),
    ("useEpollNativeSelector", "raftmq always uses epoll"),
    (
        "supportActingMaster",
        "a Raft group elects its leader itself",
    ),
    ("enableAllTopicList", "topicList is always served"),
    ("enableTopicList", "topicList is always served"),
    (
        "notifyMinBrokerIdChanged",
        "a Raft group elects its leader itself",
    ),
    (
        "enableControllerInNamesrv",
        "a Raft group elects its leader itself",
    ),
    (
        "needWaitForService",
        "the nameserver serves as soon as it starts",
    ),
    (
        "waitSecondsForService",
        "the nameserver serves as soon as it starts",
    ),
    (
        "deleteTopicWithBrokerRegistration",
        "topics follow the group leader's table",
    ),
    (
        "configBlackList",
        "the nameserver's config cannot be changed remotely",
    ),
];

const KNOWN: &[&str] = &[
    "listenPort",
    "bindAddress",
    "scanNotActiveBrokerInterval",
    "brokerChannelExpiredTime",
];

/// A conf file that cannot be used; the message names the file, and the line
/// and key when there is one.
#[derive(Debug, thiserror::Error)]
pub enum NamesrvConfError {
    /// The file could not be read.
    #[error("{}: cannot read the conf file: {source}", path.display())]
    Read {
        /// The conf file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line that is not `key=value`, a comment or blank.
    #[error("{}:{line}: {problem}", path.display())]
    Syntax {
        /// The conf file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        problem: raftmq_cli::properties::SyntaxProblem,
    },
    /// A key the nameserver does not know.
    #[error("{}:{line}: unknown key `{key}`{}", path.display(), Hint(*nearest))]
    UnknownKey {
        /// The conf file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key as written.
        key: String,
        /// The known key nearest to it.
        nearest: Option<&'static str>,
    },
    /// A value that does not fit its key.
    #[error("{}:{line}: {key}: {reason}", path.display())]
    BadValue {
        /// The conf file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The key.
        key: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
}

struct Hint(Option<&'static str>);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(k) => write!(f, "; did you mean `{k}`?"),
            None => f.write_str(" (the nameserver reads listenPort, bindAddress, scanNotActiveBrokerInterval and brokerChannelExpiredTime)"),
        }
    }
}

/// A warning about a key that was read but has no effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfWarning(pub String);

impl fmt::Display for ConfWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl NamesrvConf {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<(NamesrvConf, Vec<ConfWarning>), NamesrvConfError> {
        let text = std::fs::read_to_string(path).map_err(|source| NamesrvConfError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks `text` as the contents of `path`.
    pub fn parse(
        path: &Path,
        text: &str,
    ) -> Result<(NamesrvConf, Vec<ConfWarning>), NamesrvConfError> {
        let entries = raftmq_cli::properties::entries(text).map_err(|(line, problem)| {
            NamesrvConfError::Syntax {
                path: path.to_owned(),
                line,
                problem,
            }
        })?;
        let mut conf = NamesrvConf::default();
        let mut warnings = Vec::new();
        let mut expiry_line = 0;
        for e in entries {
            let bad = |key: &'static str, reason: String| NamesrvConfError::BadValue {
                path: path.to_owned(),
                line: e.line,
                key,
                reason,
            };
            match e.key {
                "listenPort" => {
                    conf.listen_port = match e.value.parse::<u16>() {
                        Ok(p) if p != 0 => p,
                        _ => {
                            return Err(bad(
                                "listenPort",
                                format!("`{}` is not a port: use 1 to 65535", e.value),
                            ))
                        }
                    }
                }
                "bindAddress" => {
                    if e.value.parse::<std::net::IpAddr>().is_err() {
                        return Err(bad(
                            "bindAddress",
                            format!(
                                "`{}` is not an IP address: use e.g. 0.0.0.0 or 127.0.0.1",
                                e.value
                            ),
                        ));
                    }
                    conf.bind_address = e.value.to_owned();
                }
                "scanNotActiveBrokerInterval" => {
                    conf.scan_interval = millis(e.value, 10, 600_000)
                        .map_err(|r| bad("scanNotActiveBrokerInterval", r))?;
                }
                "brokerChannelExpiredTime" => {
                    conf.expiry = millis(e.value, 100, 3_600_000)
                        .map_err(|r| bad("brokerChannelExpiredTime", r))?;
                    expiry_line = e.line;
                }
                key => {
                    if let Some((_, why)) = IGNORED.iter().find(|(k, _)| *k == key) {
                        warnings.push(ConfWarning(format!(
                            "{}:{}: `{key}` is ignored: {why}",
                            path.display(),
                            e.line
                        )));
                    } else {
                        return Err(NamesrvConfError::UnknownKey {
                            path: path.to_owned(),
                            line: e.line,
                            key: key.to_owned(),
                            nearest: raftmq_cli::properties::nearest(
                                key,
                                KNOWN.iter().copied().chain(IGNORED.iter().map(|(k, _)| *k)),
                            ),
                        });
                    }
                }
            }
        }
        if conf.expiry <= conf.scan_interval {
            return Err(NamesrvConfError::BadValue {
                path: path.to_owned(),
                line: expiry_line,
                key: "brokerChannelExpiredTime",
                reason: format!(
                    "{} ms is not longer than scanNotActiveBrokerInterval ({} ms): \
                     members would be dropped between two heartbeats",
                    conf.expiry.as_millis(),
                    conf.scan_interval.as_millis()
                ),
            });
        }
        Ok((conf, warnings))
    }
}

fn millis(value: &str, min: u64, max: u64) -> Result<Duration, String> {
    match value.parse::<u64>() {
        Ok(ms) if (min..=max).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "`{value}` is not a number of milliseconds from {min} to {max}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(NamesrvConf, Vec<ConfWarning>), NamesrvConfError> {
        NamesrvConf::parse(Path::new("conf/namesrv.conf"), text)
    }

    #[test]
    fn empty_file_gives_the_defaults() {
        let (conf, warnings) = parse("# nothing\n").unwrap();
        assert_eq!(conf, NamesrvConf::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn reads_every_key() {
        let (conf, _) = parse(
            "listenPort=19876 # test\nbindAddress=127.0.0.1\n\
             scanNotActiveBrokerInterval=200\nbrokerChannelExpiredTime=3000\n",
        )
        .unwrap();
        assert_eq!(conf.listen_port, 19876);
        assert_eq!(conf.bind_address, "127.0.0.1");
        assert_eq!(conf.scan_interval, Duration::from_millis(200));
        assert_eq!(conf.expiry, Duration::from_millis(3000));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("listenPort=9876\nlistenPrt=1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "conf/namesrv.conf:2: unknown key `listenPrt`; did you mean `listenPort`?"
        );
        let e = parse("\nlistenPort=70000\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "conf/namesrv.conf:2: listenPort: `70000` is not a port: use 1 to 65535"
        );
        let e = parse("bindAddress=localhost\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("conf/namesrv.conf:1: bindAddress:"));
        let e = parse("oops\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("conf/namesrv.conf:1: expected `key=value`"));
        let e =
            parse("scanNotActiveBrokerInterval=5000\nbrokerChannelExpiredTime=4000\n").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("conf/namesrv.conf:2: brokerChannelExpiredTime: 4000 ms is not longer"));
    }

    #[test]
    fn upstream_keys_are_warned_about() {
        let (conf, warnings) = parse("rocketmqHome=/opt/rocketmq\nlistenPort=9877\n").unwrap();
        assert_eq!(conf.listen_port, 9877);
        assert_eq!(
            warnings,
            vec![ConfWarning(
                "conf/namesrv.conf:1: `rocketmqHome` is ignored: raftmq needs no home directory"
                    .into()
            )]
        );
    }
}
