//! A nameserver and one three-member broker group as real processes, with
//! the handles the fault injector needs: who leads, kill, pause, restart
//! from the same conf, the admin fault RPC, and each member's store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use raftmq_proto::admin::v1::broker_admin_client::BrokerAdminClient;
use raftmq_proto::admin::v1::{BrokerStatusRequest, InjectFaultRequest, TransferLeaderRequest};

use crate::{free_ports, signal, MemberConf, Proc, Row};

/// The broker group's name.
pub const GROUP: &str = "RaftNode00";

/// Check-backs of transactions left open: after 2 s, every 2 s, and only
/// after a minute of unanswered checks is a half message discarded (the
/// defaults, 6 s and 30 s, would make the drain wait half a minute).
const TRANSACTION_CONF: &str = "transactionTimeOut=2000\ntransactionCheckInterval=2000\n\
                                transactionCheckMax=30\n";
const MEMBERS: usize = 3;

/// Where the members keep their data, and what their conf files add.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `mappedFileSizeCommitLog`, bytes per commitlog segment.
    pub segment_size: u64,
    /// Per member, `storePathRootDir` and `storePathCommitLog`; `None`:
    /// `node0<i>` and `node0<i>/commitlog` in the run's directory.
    pub stores: Option<Vec<(PathBuf, PathBuf)>>,
    /// More `key=value` lines for every member's conf; a key already set
    /// (the transaction check-back keys are) takes the value given here.
    pub extra_conf: String,
}

impl Default for Layout {
    /// 64 MiB segments in the run's directory.
    fn default() -> Self {
        Layout {
            segment_size: 64 << 20,
            stores: None,
            extra_conf: String::new(),
        }
    }
}

/// One broker member: its conf, store and process (if running).
#[derive(Debug)]
pub struct Member {
    conf: PathBuf,
    store: PathBuf,
    commitlog: PathBuf,
    log: PathBuf,
    client_port: u16,
    proc: Option<Proc>,
}

/// The processes of one run, in a temporary directory removed on drop.
#[derive(Debug)]
pub struct Cluster {
    bins: PathBuf,
    dir: tempfile::TempDir,
    namesrv: String,
    _namesrv_proc: Proc,
    members: Vec<Member>,
}

impl Cluster {
    /// Starts a nameserver and three members from the binaries in `bins`
    /// with fault injection on; returns once a leader is known.
    pub fn start(bins: &Path) -> Cluster {
        Cluster::start_with(bins, &Layout::default())
    }

    /// [`Cluster::start`] with the stores and conf of `layout`.
    pub fn start_with(bins: &Path, layout: &Layout) -> Cluster {
        // RAFTMQ_FAULTS_KEEP=1 keeps the logs and stores for a post-mortem.
        let dir = tempfile::Builder::new()
            .prefix("raftmq-faults-")
            .disable_cleanup(std::env::var_os("RAFTMQ_FAULTS_KEEP").is_some())
            .tempdir()
            .expect("temp dir");
        let ports = free_ports(1 + 2 * MEMBERS);
        let namesrv = format!("127.0.0.1:{}", ports[0]);
        let ns_conf = dir.path().join("namesrv.conf");
        std::fs::write(
            &ns_conf,
            format!("listenPort={}\nbindAddress=127.0.0.1\n", ports[0]),
        )
        .expect("write the nameserver conf");
        let mut cmd = Command::new(bins.join("mqnamesrv"));
        cmd.arg("-c").arg(&ns_conf);
        let ns = Proc::spawn("namesrv", cmd, &dir.path().join("namesrv.log"));
        let (client, raft) = (&ports[1..=MEMBERS], &ports[MEMBERS + 1..]);
        let members = (0..MEMBERS)
            .map(|id| {
                let (store, commitlog) = match &layout.stores {
                    Some(s) => s[id].clone(),
                    None => {
                        let root = dir.path().join(format!("node0{id}"));
                        let cl = root.join("commitlog");
                        (root, cl)
                    }
                };
                let conf = dir.path().join(format!("broker-n{id}.conf"));
                let text = MemberConf {
                    group: GROUP,
                    id,
                    client_ports: client,
                    raft_ports: raft,
                    namesrv: &namesrv,
                    store: &store,
                }
                .text();
                let mut text = set_key(
                    &text,
                    "mappedFileSizeCommitLog",
                    &layout.segment_size.to_string(),
                );
                text = set_key(
                    &text,
                    "storePathCommitLog",
                    &commitlog.display().to_string(),
                );
                text.push_str("faultInjectionEnable=true\n");
                text.push_str(TRANSACTION_CONF);
                for line in layout.extra_conf.lines() {
                    match line.split_once('=') {
                        Some((key, value)) => text = set_key(&text, key.trim(), value.trim()),
                        None => panic!("extra_conf line {line:?} is not key=value"),
                    }
                }
                std::fs::write(&conf, text).expect("write a broker conf");
                Member {
                    conf,
                    store,
                    commitlog,
                    log: dir.path().join(format!("broker-n{id}.log")),
                    client_port: client[id],
                    proc: None,
                }
            })
            .collect();
        let mut c = Cluster {
            bins: bins.to_owned(),
            dir,
            namesrv,
            _namesrv_proc: ns,
            members,
        };
        for i in 0..MEMBERS {
            c.spawn(i);
        }
        assert!(
            c.wait_healthy(Duration::from_secs(60)),
            "the group did not come up: {:?}",
            c.rows()
        );
        c
    }

    /// The nameserver address.
    pub fn namesrv(&self) -> &str {
        &self.namesrv
    }

    /// Where logs and stores are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: a group has members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn spawn(&mut self, i: usize) {
        let m = &mut self.members[i];
        let mut cmd = Command::new(self.bins.join("mqbroker"));
        cmd.arg("-c").arg(&m.conf);
        m.proc = Some(Proc::spawn(&format!("broker n{i}"), cmd, &m.log));
    }

    /// Creates `topic` on the group, retrying for up to 30 s while the
    /// group settles (panics after that).
    pub fn create_topic(&self, topic: &str) {
        crate::wait_for("the topic", Duration::from_secs(30), || {
            let (ok, _) = self.mqadmin(&["updateTopic", "-t", topic, "-c", "RaftCluster"]);
            ok.then_some(())
        });
    }

    /// Creates `topic` as a FIFO topic and `group` as a FIFO consumer group
    /// (`consumeMessageOrderly`), retried until the group takes them.
    pub fn create_fifo(&self, topic: &str, group: &str) {
        crate::wait_for("the FIFO topic", Duration::from_secs(30), || {
            let (ok, _) = self.mqadmin(&[
                "updateTopic",
                "-t",
                topic,
                "-c",
                "RaftCluster",
                "-a",
                "+message.type=FIFO",
            ]);
            ok.then_some(())
        });
        crate::wait_for("the FIFO group", Duration::from_secs(30), || {
            let (ok, _) = self.mqadmin(&[
                "updateSubGroup",
                "-g",
                group,
                "-c",
                "RaftCluster",
                "-o",
                "true",
            ]);
            ok.then_some(())
        });
    }

    /// Runs `mqadmin` with `args`; whether it succeeded, and its output.
    pub fn mqadmin(&self, args: &[&str]) -> (bool, String) {
        match Command::new(self.bins.join("mqadmin"))
            .args(args)
            .args(["-n", &self.namesrv])
            .env_remove("NAMESRV_ADDR")
            .output()
        {
            Ok(o) => (
                o.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            ),
            Err(e) => (false, e.to_string()),
        }
    }

    /// `clusterList` rows, `None` if the call failed.
    pub fn rows(&self) -> Option<Vec<Row>> {
        let (ok, text) = self.mqadmin(&["clusterList"]);
        if !ok {
            return None;
        }
        crate::parse_cluster_list(&text)
    }

    fn index_of(&self, addr: &str) -> Option<usize> {
        let port: u16 = addr.rsplit_once(':')?.1.parse().ok()?;
        self.members.iter().position(|m| m.client_port == port)
    }

    /// The leader's index as the nameserver sees it.
    pub fn leader(&self) -> Option<usize> {
        let rows = self.rows()?;
        let leaders: Vec<&Row> = rows.iter().filter(|r| r.bid == 0).collect();
        match leaders.as_slice() {
            [one] => self.index_of(&one.addr),
            _ => None,
        }
    }

    /// Waits until every member runs, the nameserver lists all three and
    /// exactly one leader; false after `timeout`.
    pub fn wait_healthy(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let running = (0..self.len()).all(|i| self.listening(i));
            if running {
                if let Some(rows) = self.rows() {
                    let leaders = rows.iter().filter(|r| r.bid == 0).count();
                    if rows.len() == MEMBERS && leaders == 1 {
                        return true;
                    }
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Whether member `i` runs and accepts connections on its client port.
    pub fn listening(&self, i: usize) -> bool {
        let m = &self.members[i];
        m.proc.is_some()
            && std::net::TcpStream::connect_timeout(
                &([127, 0, 0, 1], m.client_port).into(),
                Duration::from_millis(500),
            )
            .is_ok()
    }

    /// SIGKILL member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.members[i].proc.take() {
            p.kill();
        }
    }

    /// SIGTERM member `i` and wait for it to exit; its exit status (`None`
    /// if it was not running).
    pub fn stop(&mut self, i: usize) -> Option<ExitStatus> {
        let mut p = self.members[i].proc.take()?;
        match p.exited() {
            Some(status) => Some(status),
            None => Some(p.terminate(Duration::from_secs(20))),
        }
    }

    /// Member `i`'s process id (0 if it is not running).
    pub fn pid(&self, i: usize) -> u32 {
        self.members[i].proc.as_ref().map_or(0, Proc::pid)
    }

    /// How member `i`'s process ended, if it has exited on its own.
    pub fn exit_status(&mut self, i: usize) -> Option<ExitStatus> {
        self.members[i].proc.as_mut().and_then(Proc::exited)
    }

    /// Starts member `i` again from its conf file (after a kill or stop).
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }

    /// Whether member `i`'s process has exited on its own.
    pub fn exited(&mut self, i: usize) -> bool {
        self.members[i]
            .proc
            .as_mut()
            .is_none_or(|p| p.exited().is_some())
    }

    /// SIGSTOP (`true`) or SIGCONT (`false`) member `i`.
    pub fn pause(&self, i: usize, paused: bool) {
        if let Some(p) = &self.members[i].proc {
            signal(p.pid(), if paused { "STOP" } else { "CONT" });
        }
    }

    /// Member `i`'s store root.
    pub fn store(&self, i: usize) -> &Path {
        &self.members[i].store
    }

    /// Removes member `i`'s store (root and commitlog), which must not run.
    pub fn wipe(&mut self, i: usize) -> Result<(), String> {
        let m = &self.members[i];
        for dir in [&m.commitlog, &m.store] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("wipe {}: {e}", dir.display())),
            }
        }
        Ok(())
    }

    /// Member `i`'s commitlog directory.
    pub fn commitlog(&self, i: usize) -> &Path {
        &self.members[i].commitlog
    }

    /// Member `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }

    /// For a failure message: the nameserver's rows, whether each member
    /// listens, each member's distinct warnings and errors (timestamps cut)
    /// and the last lines of its log.
    pub fn digest(&self) -> String {
        let mut out = format!("clusterList: {:?}\n", self.rows());
        for i in 0..self.len() {
            let log = self.log(i);
            out.push_str(&format!(
                "--- n{i} (listening: {}): distinct warnings and errors\n",
                self.listening(i)
            ));
            let mut seen = std::collections::BTreeSet::new();
            for l in log.lines() {
                let text = l.split_once(' ').map_or(l, |(_, rest)| rest).trim_start();
                if (text.starts_with("WARN") || text.starts_with("ERROR")) && seen.insert(text) {
                    out.push_str(l);
                    out.push('\n');
                }
            }
            out.push_str(&format!("--- n{i}: last lines\n"));
            let tail: Vec<&str> = log.lines().rev().take(8).collect();
            for l in tail.into_iter().rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Calls `BrokerAdmin.InjectFault` on member `i` (a few tries).
    pub async fn inject(&self, i: usize, req: InjectFaultRequest) -> Result<(), String> {
        let addr = format!("http://127.0.0.1:{}", self.members[i].client_port);
        let mut last = String::new();
        for _ in 0..5 {
            let call = async {
                let mut c = BrokerAdminClient::connect(addr.clone())
                    .await
                    .map_err(|e| e.to_string())?;
                c.inject_fault(req)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            };
            match tokio::time::timeout(Duration::from_secs(3), call).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => last = e,
                Err(_) => last = "timed out".into(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(format!("inject fault on n{i}: {last}"))
    }

    /// `BrokerAdmin.BrokerStatus` of member `i` as name -> value
    /// (`role`, `logNextIndex`, `appliedIndex`, `commitLogMaxOffset`, ...).
    pub async fn status(&self, i: usize) -> Result<BTreeMap<String, String>, String> {
        let addr = format!("http://127.0.0.1:{}", self.members[i].client_port);
        let call = async {
            let mut c = BrokerAdminClient::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            c.broker_status(BrokerStatusRequest {})
                .await
                .map_err(|e| e.to_string())
        };
        let resp = tokio::time::timeout(Duration::from_secs(3), call)
            .await
            .map_err(|_| format!("brokerStatus of n{i} timed out"))??;
        Ok(resp
            .into_inner()
            .entries
            .into_iter()
            .map(|e| (e.name, e.value))
            .collect())
    }

    /// Asks member `i` (the leader) to hand leadership to member `to`.
    pub async fn transfer_leader(&self, i: usize, to: usize) -> Result<(), String> {
        let addr = format!("http://127.0.0.1:{}", self.members[i].client_port);
        let call = async {
            let mut c = BrokerAdminClient::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            c.transfer_leader(TransferLeaderRequest {
                member_id: to as u64,
            })
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .map_err(|_| format!("transferLeader on n{i} timed out"))?
    }
}

/// `text` with the line `key=...` replaced by `key=value` (added if absent).
fn set_key(text: &str, key: &str, value: &str) -> String {
    let prefix = format!("{key}=");
    let mut out = String::with_capacity(text.len() + value.len());
    let mut found = false;
    for line in text.lines() {
        if line.starts_with(&prefix) {
            found = true;
            out.push_str(&format!("{key}={value}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !found {
        out.push_str(&format!("{key}={value}\n"));
    }
    out
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            if let Some(p) = &m.proc {
                signal(p.pid(), "CONT");
            }
            m.proc = None;
        }
    }
}
