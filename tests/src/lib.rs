//! A harness for tests that run raftmq as its users do: the real
//! `mqnamesrv`, `mqbroker` and `mqadmin` binaries, the real conf files and
//! scripts, on free loopback ports and in temporary directories.
//!
//! - [`bins`] builds the three binaries once per test process (debug
//!   profile, the same target directory as the tests) and says where they are.
//! - [`free_ports`] finds loopback ports nobody listens on.
//! - [`Proc`] is a child process killed (SIGKILL) and reaped when dropped,
//!   so a failing test leaves nothing running.
//! - [`wait_for`] polls a condition until a deadline: tests never sleep to
//!   synchronise.
#![deny(missing_docs)]

pub mod faults;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (where `bin/`, `conf/` and `Cargo.toml` are).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace root")
        .to_path_buf()
}

/// The directory holding freshly built `mqnamesrv`, `mqbroker` and
/// `mqadmin`. Built once per test process with the cargo that runs the
/// tests; panics with cargo's output if the build fails.
pub fn bins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .current_dir(repo_root())
            .args([
                "build",
                "--quiet",
                "-p",
                "raftmq-nameserver",
                "-p",
                "raftmq-broker",
                "-p",
                "raftmq-client",
                "--bin",
                "mqnamesrv",
                "--bin",
                "mqbroker",
                "--bin",
                "mqadmin",
                // The fault suite injects faults (faultInjectionEnable):
                // test builds of mqbroker only.
                "--features",
                "raftmq-broker/failpoints",
            ])
            .output()
            .expect("run cargo build");
        assert!(
            out.status.success(),
            "building the binaries failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // This test runs from <target>/debug/deps/; the binaries are in
        // <target>/debug/.
        let exe = std::env::current_exe().expect("current exe");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/debug")
            .to_path_buf();
        for b in ["mqnamesrv", "mqbroker", "mqadmin"] {
            assert!(
                dir.join(b).is_file(),
                "{} was not built",
                dir.join(b).display()
            );
        }
        dir
    })
}

/// The path of one built binary.
pub fn bin(name: &str) -> PathBuf {
    bins().join(name)
}

/// `n` distinct loopback ports that were free a moment ago (all held at
/// once while choosing, so they differ).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Polls `check` every 20 ms until it returns `Some`, or panics with
/// `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process, SIGKILLed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with its output appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Proc {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the log");
        let err = file.try_clone().expect("clone the log handle");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What it has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its exit status if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait up to `timeout` for it to exit; returns its status
    /// (panics naming it if it does not exit).
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = self.pid();
        signal(pid, "TERM");
        let name = self.name.clone();
        let status = wait_for(&format!("{name} to exit after SIGTERM"), timeout, || {
            self.exited()
        });
        self.child = None;
        status
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal by name (`TERM`, `KILL`, `STOP`, `CONT`) with `kill(1)`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the field after the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Runs `mqadmin` with `args`; returns its output.
pub fn mqadmin(args: &[&str]) -> Output {
    Command::new(bin("mqadmin"))
        .args(args)
        .env_remove("NAMESRV_ADDR")
        .output()
        .expect("run mqadmin")
}

/// One row of `mqadmin clusterList`: the first four columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// `#Cluster Name`.
    pub cluster: String,
    /// `#Broker Name`.
    pub group: String,
    /// `#BID`.
    pub bid: u64,
    /// `#Addr`.
    pub addr: String,
}

/// `mqadmin clusterList -n namesrv`, parsed; `None` if it failed.
pub fn cluster_list(namesrv: &str) -> Option<Vec<Row>> {
    let out = mqadmin(&["clusterList", "-n", namesrv]);
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let header = text.lines().next()?;
    assert!(
        header.starts_with("#Cluster Name"),
        "unexpected header: {header}"
    );
    parse_cluster_list(&text)
}

/// The rows of `mqadmin clusterList` output; `None` without its header line
/// or with a row of fewer than four columns.
pub fn parse_cluster_list(text: &str) -> Option<Vec<Row>> {
    let mut lines = text.lines();
    lines.next().filter(|h| h.starts_with("#Cluster Name"))?;
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            Some(Row {
                cluster: t.first()?.to_string(),
                group: t.get(1)?.to_string(),
                bid: t.get(2)?.parse().ok()?,
                addr: t.get(3)?.to_string(),
            })
        })
        .collect()
}

/// The writes of a conf file for one member of a three-member group on
/// the given ports: the stock layout of `conf/dledger`, moved.
pub struct MemberConf<'a> {
    /// `brokerName`.
    pub group: &'a str,
    /// This member's number.
    pub id: usize,
    /// Every member's client port.
    pub client_ports: &'a [u16],
    /// Every member's Raft port.
    pub raft_ports: &'a [u16],
    /// Nameserver addresses, `;`-separated.
    pub namesrv: &'a str,
    /// Store root for this member.
    pub store: &'a Path,
}

/// The used-space gate of test members: refuse sends only on a disk that is
/// entirely full. Test machines' disks are often more than 90% used (the
/// build's target directory shares them), and the shipped 90% then refuses
/// every send; the test of the gate itself sets 90 again
/// (`tests/tests/disk_full.rs`).
pub const DISK_RATIO_OFF: &str = "diskSpaceWarningLevelRatio=100";

impl MemberConf<'_> {
    /// The conf file's text.
    pub fn text(&self) -> String {
        let peers: Vec<String> = self
            .raft_ports
            .iter()
            .enumerate()
            .map(|(i, p)| format!("n{i}-127.0.0.1:{p}"))
            .collect();
        format!(
            "brokerClusterName=RaftCluster\nbrokerName={group}\nlistenPort={port}\n\
             namesrvAddr={ns}\nstorePathRootDir={store}\nstorePathCommitLog={store}/commitlog\n\
             enableDLegerCommitLog=true\ndLegerGroup={group}\ndLegerPeers={peers}\n\
             dLegerSelfId=n{id}\nsendMessageThreadPoolNums=16\nmappedFileSizeCommitLog=67108864\n\
             {DISK_RATIO_OFF}\n",
            group = self.group,
            port = self.client_ports[self.id],
            ns = self.namesrv,
            store = self.store.display(),
            peers = peers.join(";"),
            id = self.id,
        )
    }
}
