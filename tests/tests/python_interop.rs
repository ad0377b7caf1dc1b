//! The official RocketMQ 5 Python client (`rocketmq-python-client`, pinned in
//! tests/python/requirements.txt) against a nameserver and a three-member
//! group started from the real binaries: tags, keys and properties through a
//! SimpleConsumer; redelivery after the invisible duration; a PushConsumer;
//! and a leader killed while a producer and a consumer run. Then delayed
//! messages (none early, lateness bounded, a time past three days refused)
//! and transactions (committed ones delivered, rolled-back ones never, open
//! ones resolved by another producer's checker; and ended after a leader
//! kill), each its own test.
//!
//! The scenarios are tests/python/interop.py; this side starts the cluster,
//! runs one Python process per scenario, reads its stdout lines (kills the
//! leader when the failover producer has sent a third of its messages) and
//! asserts on its `SUMMARY` and `PASS`/`FAIL` lines. The virtualenv is made
//! once under the target directory (`<target>/pyvenv-rocketmq-5.1.2`) and
//! reused. Python 3 must be installed: without it the test fails. The tests
//! take turns ([`serial`]): one cluster at a time, so that the delay test's
//! lateness measures the broker rather than a crowded machine.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use raftmq_tests::{bin, bins, cluster_list, free_ports, repo_root, wait_for, MemberConf, Proc};

/// The pinned client version: the virtualenv's name says it.
const CLIENT: &str = "rocketmq-5.1.2";
/// How long `pip install` may take.
const PIP_TIMEOUT: Duration = Duration::from_secs(300);
/// The latest a delayed message may be received after its due time. The
/// receive's long polling (2 s await) and the Raft commit of the release
/// both add to it.
const MAX_LATENESS_MS: f64 = 1500.0;
/// `Code.ILLEGAL_DELIVERY_TIME`.
const ILLEGAL_DELIVERY_TIME: f64 = 40012.0;
/// `Code.INVALID_TRANSACTION_ID`.
const INVALID_TRANSACTION_ID: f64 = 40008.0;
/// `Code.OK`.
const OK: f64 = 20000.0;

/// Held by each test for its whole run: one cluster at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    // A test that panicked still released the cluster it held.
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---- the virtualenv -----------------------------------------------------------

/// `python3.11`, else `python3`: the first that runs. Fails the test when
/// there is none.
fn system_python() -> String {
    for candidate in ["python3.11", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import sys; assert sys.version_info >= (3, 8)"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return candidate.to_owned();
        }
    }
    panic!(
        "the Python interop test needs Python 3 (3.8 or later; CI has 3.11) with the venv \
         module: neither python3.11 nor python3 runs here. Install it (e.g. apt-get install \
         python3 python3-venv)."
    );
}

/// Runs `cmd` with its output in `log`, killing it after `timeout`; panics
/// naming `what` (with the log's tail) unless it succeeds.
fn run_logged(what: &str, mut cmd: Command, log: &Path, timeout: Duration) {
    let file = std::fs::File::create(log).expect("create a log");
    let err = file.try_clone().expect("clone the log handle");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("{what} failed ({s}):\n{}", tail(&text, 40)),
        None => panic!(
            "{what} did not finish within {timeout:?}:\n{}",
            tail(&text, 40)
        ),
    }
}

/// The venv's python, with the pinned client installed. Made once under the
/// target directory; a venv is built under a temporary name and renamed
/// into place when complete, so a half-made one is never used.
fn venv_python() -> PathBuf {
    let requirements = repo_root().join("tests/python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).expect("read requirements.txt");
    // bins() is <target>/debug.
    let target = bins().parent().expect("the target directory").to_path_buf();
    let venv = target.join(format!("pyvenv-{CLIENT}"));
    let marker = venv.join("raftmq-requirements.txt");
    let python = venv.join("bin").join("python");
    if std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) && python.exists() {
        return python;
    }
    let _ = std::fs::remove_dir_all(&venv);
    let building = target.join(format!("pyvenv-{CLIENT}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let system = system_python();
    let log = target.join(format!("pyvenv-{CLIENT}.log"));
    let mut cmd = Command::new(&system);
    cmd.args(["-m", "venv"]).arg(&building);
    run_logged(
        &format!("`{system} -m venv` (is the venv module installed? e.g. python3-venv)"),
        cmd,
        &log,
        Duration::from_secs(120),
    );
    let mut cmd = Command::new(building.join("bin").join("python"));
    cmd.env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
        ])
        .arg(&requirements);
    run_logged(
        &format!("pip install -r {}", requirements.display()),
        cmd,
        &log,
        PIP_TIMEOUT,
    );
    std::fs::write(building.join("raftmq-requirements.txt"), &wanted).expect("write the marker");
    // Another test process may have won the race: then use its venv.
    if std::fs::rename(&building, &venv).is_err() {
        let _ = std::fs::remove_dir_all(&building);
    }
    assert!(
        std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted),
        "no complete virtualenv at {}",
        venv.display()
    );
    python
}

// ---- the cluster --------------------------------------------------------------

struct Cluster {
    namesrv: String,
    client_ports: Vec<u16>,
    _namesrv_proc: Proc,
    brokers: Vec<Proc>,
}

impl Cluster {
    /// A nameserver and a three-member group; `extra` is appended to every
    /// member's conf file (`key=value` lines).
    fn start(dir: &Path, extra: &str) -> Cluster {
        let ports = free_ports(7);
        let namesrv = format!("127.0.0.1:{}", ports[0]);
        let conf = dir.join("namesrv.conf");
        std::fs::write(
            &conf,
            format!("listenPort={}\nbindAddress=127.0.0.1\n", ports[0]),
        )
        .unwrap();
        let mut cmd = Command::new(bin("mqnamesrv"));
        cmd.args(["-c", conf.to_str().unwrap()]);
        let namesrv_proc = Proc::spawn("mqnamesrv", cmd, &dir.join("namesrv.log"));
        let (client, raft) = (&ports[1..4], &ports[4..7]);
        let brokers = (0..3)
            .map(|id| {
                let store = dir.join(format!("node0{id}"));
                let conf = dir.join(format!("broker-n{id}.conf"));
                let text = MemberConf {
                    group: "RaftNode00",
                    id,
                    client_ports: client,
                    raft_ports: raft,
                    namesrv: &namesrv,
                    store: &store,
                }
                .text();
                std::fs::write(&conf, text + extra).unwrap();
                let mut cmd = Command::new(bin("mqbroker"));
                cmd.args(["-c", conf.to_str().unwrap()]);
                Proc::spawn(
                    &format!("broker n{id}"),
                    cmd,
                    &dir.join(format!("broker-n{id}.log")),
                )
            })
            .collect();
        let cluster = Cluster {
            namesrv,
            client_ports: client.to_vec(),
            _namesrv_proc: namesrv_proc,
            brokers,
        };
        wait_for(
            "three members and one leader in clusterList",
            Duration::from_secs(60),
            || cluster.leader().filter(|_| cluster.members() == 3),
        );
        cluster
    }

    fn members(&self) -> usize {
        cluster_list(&self.namesrv).map_or(0, |rows| rows.len())
    }

    /// The index of the member clusterList shows as BID 0.
    fn leader(&self) -> Option<usize> {
        let rows = cluster_list(&self.namesrv)?;
        let leaders: Vec<_> = rows.iter().filter(|r| r.bid == 0).collect();
        assert!(leaders.len() <= 1, "two BID 0 rows: {rows:?}");
        let port: u16 = leaders.first()?.addr.rsplit_once(':')?.1.parse().ok()?;
        self.client_ports.iter().position(|p| *p == port)
    }

    fn log_tails(&self) -> String {
        self.brokers
            .iter()
            .enumerate()
            .map(|(i, b)| format!("--- broker n{i} log (tail)\n{}", tail(&b.log(), 15)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

// ---- running one scenario -----------------------------------------------------

/// A Python process, killed on drop.
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one scenario printed and how it ended.
struct Outcome {
    scenario: String,
    lines: Vec<String>,
    exit: Option<i32>,
    timed_out: bool,
    home: PathBuf,
}

impl Outcome {
    /// The `SUMMARY` line's `key=value` pairs.
    fn summary(&self) -> HashMap<String, String> {
        self.lines
            .iter()
            .find(|l| l.starts_with("SUMMARY "))
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.summary().get(key)?.parse().ok()
    }

    fn passed(&self) -> bool {
        !self.timed_out
            && self.exit == Some(0)
            && self.lines.last().map(String::as_str) == Some(&format!("PASS {}", self.scenario))
    }

    /// Why it did not pass, with its output and the client's log.
    fn failure(&self) -> String {
        let client_log =
            std::fs::read_to_string(self.home.join("logs/rocketmq_python/rocketmq_client.log"))
                .unwrap_or_default();
        format!(
            "scenario {} (exit {:?}{}):\n{}\n--- Python client log (tail)\n{}",
            self.scenario,
            self.exit,
            if self.timed_out { ", timed out" } else { "" },
            tail(&self.lines.join("\n"), 40),
            tail(&client_log, 25),
        )
    }
}

/// The script's `HOME` (its client logs there; tx_failover waits there for
/// `go`).
fn home_of(dir: &Path, scenario: &str) -> PathBuf {
    dir.join(format!("home-{scenario}"))
}

/// Runs `interop.py NAMESRV scenario topic group count`, handing each stdout
/// line to `on_line`; kills it after `timeout`.
fn run_scenario(
    python: &Path,
    dir: &Path,
    namesrv: &str,
    args: [&str; 4],
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Outcome {
    let scenario = args[0];
    let home = home_of(dir, scenario);
    std::fs::create_dir_all(&home).unwrap();
    let stderr = std::fs::File::create(dir.join(format!("{scenario}.stderr"))).unwrap();
    let started = Instant::now();
    let mut child = Command::new(python)
        .arg(repo_root().join("tests/python/interop.py"))
        .arg(namesrv)
        .args(args)
        // The client logs under ~/logs/rocketmq_python.
        .env("HOME", &home)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start the Python script");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut script = Script(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = started + timeout;
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!(
                    "[{scenario} {:5.1}s] {line}",
                    started.elapsed().as_secs_f64()
                );
                on_line(&line);
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    let exit = if timed_out {
        let _ = script.0.kill();
        None
    } else {
        // stdout closed: the script is exiting.
        let status = wait_for("the script to exit", Duration::from_secs(10), || {
            script.0.try_wait().expect("wait").map(Some)
        });
        status.and_then(|s| s.code())
    };
    println!(
        "[{scenario}] finished after {:.1}s, exit {exit:?}",
        started.elapsed().as_secs_f64()
    );
    Outcome {
        scenario: scenario.to_owned(),
        lines,
        exit,
        timed_out,
        home,
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ---- the test -----------------------------------------------------------------

#[test]
fn official_python_client_interop() {
    let _serial = serial();
    let t0 = Instant::now();
    let python = venv_python();
    println!("virtualenv ready after {:.1}s", t0.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(dir.path(), "");
    println!(
        "cluster ready after {:.1}s, nameserver {}",
        t0.elapsed().as_secs_f64(),
        cluster.namesrv
    );
    let ns = cluster.namesrv.clone();
    let mut failures: Vec<String> = Vec::new();
    let mut check = |out: &Outcome, extra: Vec<(bool, String)>| {
        let mut why: Vec<String> = extra
            .into_iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, w)| w)
            .collect();
        if !out.passed() {
            why.push("the script did not PASS".into());
        }
        if !why.is_empty() {
            failures.push(format!("{}\n{}", why.join("; "), out.failure()));
        }
    };
    // a. Tags, keys, user properties; only TagA; nothing after the acks.
    let out = run_scenario(
        &python,
        dir.path(),
        &ns,
        ["tags", "InteropTags", "InteropTagsGroup", "1000"],
        Duration::from_secs(160),
        |_| {},
    );
    let extra = vec![
        eq(&out, "sent", 1000.0),
        eq(&out, "received", 500.0),
        eq(&out, "duplicates", 0.0),
        eq(&out, "missing", 0.0),
    ];
    check(&out, extra);

    // b. Not acked: back after the invisible duration, attempt 2.
    let out = run_scenario(
        &python,
        dir.path(),
        &ns,
        [
            "redeliver",
            "InteropRedeliver",
            "InteropRedeliverGroup",
            "20",
        ],
        Duration::from_secs(100),
        |_| {},
    );
    let extra = vec![eq(&out, "first", 20.0), eq(&out, "second", 20.0)];
    check(&out, extra);

    // c. A PushConsumer sees every message.
    let out = run_scenario(
        &python,
        dir.path(),
        &ns,
        ["push", "InteropPush", "InteropPushGroup", "200"],
        Duration::from_secs(110),
        |_| {},
    );
    let extra = vec![eq(&out, "seen", 200.0), eq(&out, "missing", 0.0)];
    check(&out, extra);

    // d. The leader killed a third of the way through.
    const FAILOVER_COUNT: u64 = 900;
    let mut killed: Option<(usize, u64, Instant)> = None;
    let out = run_scenario(
        &python,
        dir.path(),
        &ns,
        [
            "failover",
            "InteropFailover",
            "InteropFailoverGroup",
            &FAILOVER_COUNT.to_string(),
        ],
        Duration::from_secs(160),
        |line| {
            let Some(sent) = line
                .strip_prefix("PROGRESS sent=")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                return;
            };
            if killed.is_none() && sent >= FAILOVER_COUNT / 3 {
                let leader = cluster.leader().expect("a leader before the kill");
                cluster.brokers[leader].kill();
                println!("killed the leader, broker n{leader}, at sent={sent}");
                killed = Some((leader, sent, Instant::now()));
            }
        },
    );
    let mut extra = vec![
        eq(&out, "acked", FAILOVER_COUNT as f64),
        eq(&out, "missing", 0.0),
    ];
    match killed {
        None => extra.push((false, "the leader was never killed".into())),
        Some((old, sent, at)) => {
            extra.push((
                sent < FAILOVER_COUNT,
                format!("killed only after all {sent} sends"),
            ));
            // A new leader among the two left.
            let new = cluster.leader();
            extra.push((
                new.is_some_and(|n| n != old),
                format!(
                    "leader after the kill: {new:?} (killed n{old} {:.1}s ago)",
                    at.elapsed().as_secs_f64()
                ),
            ));
        }
    }
    check(&out, extra);

    println!(
        "all scenarios done after {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed:\n\n{}\n\n{}",
        failures.len(),
        failures.join("\n\n"),
        cluster.log_tails()
    );
}

// ---- delayed and transactional messages ----------------------------------------

/// `(ok, why)`: the summary's `key` is `want`.
fn eq(out: &Outcome, key: &str, want: f64) -> (bool, String) {
    (
        out.num(key) == Some(want),
        format!("{} {key}: {:?}, want {want}", out.scenario, out.num(key)),
    )
}

/// `(ok, why)`: the summary's `key` is at least 0 and below `max`.
fn below(out: &Outcome, key: &str, max: f64) -> (bool, String) {
    (
        out.num(key).is_some_and(|v| (0.0..max).contains(&v)),
        format!(
            "{} {key}: {:?}, want below {max}",
            out.scenario,
            out.num(key)
        ),
    )
}

/// Panics naming every failed check, with the script's output and the
/// brokers' logs, unless the scenario passed and every check holds.
fn verdict(out: &Outcome, checks: Vec<(bool, String)>, cluster: &Cluster) {
    let mut why: Vec<String> = checks
        .into_iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, w)| w)
        .collect();
    if !out.passed() {
        let last = out.lines.last().map_or("(no output)", String::as_str);
        why.push(format!("the script did not PASS: {last}"));
    }
    assert!(
        why.is_empty(),
        "{}\n\n{}\n\n{}",
        why.join("\n"),
        out.failure(),
        cluster.log_tails()
    );
}

/// Messages with delivery times 2..8 s ahead: none received early, every one
/// received once, no later than [`MAX_LATENESS_MS`]; a delivery time four
/// days ahead refused with ILLEGAL_DELIVERY_TIME.
#[test]
fn python_client_delayed_messages() {
    const COUNT: f64 = 40.0;
    let _serial = serial();
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "");
    let out = run_scenario(
        &python,
        dir.path(),
        &cluster.namesrv,
        [
            "delay",
            "InteropDelay",
            "InteropDelayGroup",
            &COUNT.to_string(),
        ],
        Duration::from_secs(110),
        |_| {},
    );
    println!(
        "lateness after the due time: p50 {:?} ms, p99 {:?} ms, max {:?} ms (bound {MAX_LATENESS_MS} ms)",
        out.num("late_p50_ms"),
        out.num("late_p99_ms"),
        out.num("late_max_ms"),
    );
    let checks = vec![
        eq(&out, "early", 0.0),
        eq(&out, "received", COUNT),
        eq(&out, "missing", 0.0),
        eq(&out, "duplicates", 0.0),
        below(&out, "late_max_ms", MAX_LATENESS_MS),
        eq(&out, "far_code", ILLEGAL_DELIVERY_TIME),
        eq(&out, "ms_as_seconds_code", ILLEGAL_DELIVERY_TIME),
        eq(&out, "refused_received", 0.0),
    ];
    verdict(&out, checks, &cluster);
}

/// Committed, rolled back, and left open by a producer that shuts down
/// (resolved by a second producer's checker): the consumer gets exactly the
/// committed ones; a second, different end is refused.
#[test]
fn python_client_transactions() {
    const COUNT: u32 = 10;
    let _serial = serial();
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(
        dir.path(),
        "transactionTimeOut=1000\ntransactionCheckInterval=1000\n",
    );
    let out = run_scenario(
        &python,
        dir.path(),
        &cluster.namesrv,
        [
            "transaction",
            "InteropTx",
            "InteropTxGroup",
            &COUNT.to_string(),
        ],
        Duration::from_secs(130),
        |_| {},
    );
    let expected = f64::from(COUNT + COUNT.div_ceil(2));
    let recommit = out.num("recommit_code");
    let checks = vec![
        eq(&out, "rolled_back_received", 0.0),
        eq(&out, "commit_errors", 0.0),
        eq(&out, "rollback_errors", 0.0),
        eq(&out, "received", expected),
        eq(&out, "missing", 0.0),
        eq(&out, "duplicates", 0.0),
        eq(&out, "unknown_received", 0.0),
        eq(&out, "orphans_checked", f64::from(COUNT)),
        eq(&out, "rollback_committed_code", INVALID_TRANSACTION_ID),
        eq(&out, "commit_rolled_back_code", INVALID_TRANSACTION_ID),
        (
            recommit.is_some_and(|c| c == OK || c == INVALID_TRANSACTION_ID)
                && recommit == out.num("recommit_again_code"),
            format!(
                "commit of a committed transaction, twice: {recommit:?} then {:?}, want \
                 {OK} or {INVALID_TRANSACTION_ID} both times",
                out.num("recommit_again_code")
            ),
        ),
    ];
    verdict(&out, checks, &cluster);
}

/// Half messages sent, the leader killed, then half committed and half
/// rolled back through the new leader: the consumer gets exactly the
/// committed ones. No check-back within the test (transactionTimeOut 60 s).
#[test]
fn python_client_transactions_across_failover() {
    const COUNT: u32 = 20;
    let _serial = serial();
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(
        dir.path(),
        "transactionTimeOut=60000\ntransactionCheckInterval=1000\n",
    );
    let go = home_of(dir.path(), "tx_failover").join("go");
    let mut killed: Option<(usize, Option<usize>)> = None;
    let out = run_scenario(
        &python,
        dir.path(),
        &cluster.namesrv.clone(),
        [
            "tx_failover",
            "InteropTxFailover",
            "InteropTxFailoverGroup",
            &COUNT.to_string(),
        ],
        Duration::from_secs(250),
        |line| {
            if !line.starts_with("PROGRESS halves=") || killed.is_some() {
                return;
            }
            let old = cluster.leader().expect("a leader before the kill");
            cluster.brokers[old].kill();
            println!("killed the leader, broker n{old}");
            let deadline = Instant::now() + Duration::from_secs(60);
            let new = loop {
                match cluster.leader().filter(|n| *n != old) {
                    Some(n) => break Some(n),
                    None if Instant::now() >= deadline => break None,
                    None => std::thread::sleep(Duration::from_millis(100)),
                }
            };
            println!("new leader: {new:?}");
            killed = Some((old, new));
            // Go either way: without a new leader the ends fail, and say so.
            std::fs::write(&go, b"go").expect("write the go file");
        },
    );
    let mut checks = vec![
        eq(&out, "rolled_back_received", 0.0),
        eq(&out, "ended", f64::from(COUNT)),
        eq(&out, "end_refused", 0.0),
        eq(&out, "received", f64::from(COUNT / 2)),
        eq(&out, "missing", 0.0),
        eq(&out, "duplicates", 0.0),
    ];
    match killed {
        None => checks.push((false, "the leader was never killed".into())),
        Some((old, new)) => checks.push((
            new.is_some(),
            format!("no new leader within 60 s of killing n{old}"),
        )),
    }
    verdict(&out, checks, &cluster);
}

// ---- FIFO consumer groups --------------------------------------------------------

/// Runs `mqadmin ARGS -n NAMESRV` until it succeeds (the members may still
/// be registering); panics with its last output after 30 s.
fn mqadmin_until_ok(namesrv: &str, args: &[&str]) {
    let mut last = String::new();
    let done = wait_for_or_none(Duration::from_secs(30), || {
        let out = Command::new(bin("mqadmin"))
            .args(args)
            .args(["-n", namesrv])
            .env_remove("NAMESRV_ADDR")
            .output()
            .ok()?;
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out.status.success().then_some(())
    });
    assert!(done.is_some(), "mqadmin {}: {last}", args.join(" "));
}

/// `check` until it gives a value or `timeout` passes.
fn wait_for_or_none<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A FIFO topic and two consumer groups created FIFO with `mqadmin
/// updateSubGroup -o true`: four message groups through a SimpleConsumer
/// that holds one message unacked (its group waits for its redelivery and
/// ack, the others go on, every group's first deliveries in send order),
/// then through a PushConsumer that the Settings make orderly.
#[test]
fn python_client_fifo_groups() {
    const PER_GROUP: u32 = 10;
    let _serial = serial();
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "");
    let (topic, group) = ("InteropFifo", "InteropFifoGroup");
    let push_group = format!("{group}Push");
    let ns = cluster.namesrv.clone();
    mqadmin_until_ok(
        &ns,
        &[
            "updateTopic",
            "-t",
            topic,
            "-c",
            "RaftCluster",
            "-a",
            "+message.type=FIFO",
        ],
    );
    for g in [group, push_group.as_str()] {
        mqadmin_until_ok(
            &ns,
            &["updateSubGroup", "-g", g, "-c", "RaftCluster", "-o", "true"],
        );
    }
    let out = run_scenario(
        &python,
        dir.path(),
        &ns,
        ["fifo", topic, group, &PER_GROUP.to_string()],
        Duration::from_secs(160),
        |_| {},
    );
    let sent = f64::from(4 * PER_GROUP);
    let checks = vec![
        eq(&out, "sent", sent),
        eq(&out, "acked", sent),
        eq(&out, "missing", 0.0),
        eq(&out, "out_of_order", 0.0),
        eq(&out, "held_redelivered", 1.0),
        eq(&out, "blocked_violations", 0.0),
        (
            out.num("others_while_held").is_some_and(|n| n > 0.0),
            format!(
                "fifo others_while_held: {:?}, want above 0",
                out.num("others_while_held")
            ),
        ),
        eq(&out, "batch_doubles", 0.0),
        eq(&out, "push_fifo", 1.0),
        eq(&out, "push_missing", 0.0),
        eq(&out, "push_out_of_order", 0.0),
        eq(&out, "push_overlaps", 0.0),
        eq(&out, "push_retried_first", 1.0),
    ];
    verdict(&out, checks, &cluster);
}

// ---- subscription groups --------------------------------------------------------

/// A group made with `mqadmin updateSubGroup -r 2`: a message never acked is
/// delivered three times, then read from `%DLQ%<group>` with its id, body
/// and properties; a group made with `-s false` is refused at receive.
#[test]
fn python_client_subscription_group_dead_letters() {
    const COUNT: u32 = 5;
    const GROUP: &str = "InteropDlqGroup";
    let _serial = serial();
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "");
    let disabled = format!("{GROUP}-Off");
    for args in [
        vec!["-g", GROUP, "-r", "2"],
        vec!["-g", disabled.as_str(), "-s", "false"],
    ] {
        let mut all = vec![
            "updateSubGroup",
            "-n",
            &cluster.namesrv,
            "-c",
            "RaftCluster",
        ];
        all.extend(args);
        let out = raftmq_tests::mqadmin(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("create subscription group to "),
            "mqadmin {all:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = run_scenario(
        &python,
        dir.path(),
        &cluster.namesrv,
        ["subgroup_dlq", "InteropDlq", GROUP, &COUNT.to_string()],
        Duration::from_secs(110),
        |_| {},
    );
    let checks = vec![
        eq(&out, "delivered_three_times", f64::from(COUNT)),
        eq(&out, "delivered_more", 0.0),
        eq(&out, "dead_letters", f64::from(COUNT)),
        eq(&out, "fields_wrong", 0.0),
        eq(&out, "unknown", 0.0),
        eq(&out, "disabled_code", 40300.0),
    ];
    verdict(&out, checks, &cluster);
}

// ---- SQL92 filters -----------------------------------------------------------

/// `Code.ILLEGAL_FILTER_EXPRESSION`.
const ILLEGAL_FILTER_EXPRESSION: f64 = 40010.0;

/// Three SimpleConsumers and a PushConsumer with SQL92 filters over several
/// properties and operators (IN, BETWEEN, =, <>, >, <=, IS NULL, NOT, AND,
/// OR, TAGS; missing properties among them) get exactly the matching
/// messages, each once; a malformed expression is refused at receive with
/// ILLEGAL_FILTER_EXPRESSION naming its column.
#[test]
fn python_client_sql92_filters() {
    const COUNT: u32 = 300;
    let _serial = serial();
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let cluster = Cluster::start(dir.path(), "");
    let out = run_scenario(
        &python,
        dir.path(),
        &cluster.namesrv,
        [
            "sql92",
            "InteropSql92",
            "InteropSql92Group",
            &COUNT.to_string(),
        ],
        Duration::from_secs(160),
        |_| {},
    );
    let mut checks = vec![
        eq(&out, "sent", f64::from(COUNT)),
        eq(&out, "bad_code", ILLEGAL_FILTER_EXPRESSION),
        eq(&out, "bad_names_column", 1.0),
        eq(&out, "bad_delivered", 0.0),
        eq(&out, "push_unexpected", 0.0),
    ];
    for name in ["e1", "e2", "e3", "push"] {
        let expected = out.num(&format!("{name}_expected"));
        checks.push((
            expected.is_some_and(|n| n > 0.0) && out.num(&format!("{name}_received")) == expected,
            format!(
                "{name}: received {:?} of {expected:?} matching",
                out.num(&format!("{name}_received"))
            ),
        ));
    }
    for name in ["e1", "e2", "e3"] {
        checks.push(eq(&out, &format!("{name}_unexpected"), 0.0));
        checks.push(eq(&out, &format!("{name}_duplicates"), 0.0));
    }
    verdict(&out, checks, &cluster);
}
