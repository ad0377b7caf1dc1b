//! The newcomer's first run, as a test: `bin/dledger/fast-try.sh start` from
//! the real binaries and conf files (ports and store root moved by the
//! script's environment overrides), `clusterList`, kill -9 of the leader, a
//! new BID 0 within 2 s, the old member back as a follower, and `stop`
//! leaving no process behind.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use raftmq_tests::{
    alive, bins, cluster_list, free_ports, mqadmin, repo_root, signal, wait_for, Proc, Row,
};

struct FastTry<'a> {
    root: &'a Path,
    namesrv_port: u16,
    broker_ports: Vec<u16>,
    raft_ports: Vec<u16>,
}

impl FastTry<'_> {
    fn run(&self, action: &str) -> Output {
        let join = |ports: &[u16]| {
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        Command::new(repo_root().join("bin/dledger/fast-try.sh"))
            .arg(action)
            .env("RAFTMQ_BIN_DIR", bins())
            .env("RAFTMQ_STORE_ROOT", self.root)
            .env("RAFTMQ_NAMESRV_PORT", self.namesrv_port.to_string())
            .env("RAFTMQ_BROKER_PORTS", join(&self.broker_ports))
            .env("RAFTMQ_RAFT_PORTS", join(&self.raft_ports))
            .env("RAFTMQ_START_TIMEOUT", "60")
            // This machine's disk may be fuller than the shipped 90%.
            .env("RAFTMQ_DISK_SPACE_WARNING_LEVEL_RATIO", "100")
            .env_remove("NAMESRV_ADDR")
            .output()
            .expect("run fast-try.sh")
    }

    fn pid(&self, name: &str) -> Option<u32> {
        std::fs::read_to_string(self.root.join(format!("fast-try/{name}.pid")))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) && alive(pid) {
                out.push(pid);
            }
        }
    }
    out
}

fn leaders(rows: &[Row]) -> Vec<&Row> {
    rows.iter().filter(|r| r.bid == 0).collect()
}

/// The value of `name` in `mqadmin brokerStatus` output (`name : value`
/// lines).
fn status_field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn fast_try_starts_fails_over_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rmqstore");
    let ports = free_ports(7);
    let ft = FastTry {
        root: &root,
        namesrv_port: ports[0],
        broker_ports: ports[1..4].to_vec(),
        raft_ports: ports[4..7].to_vec(),
    };
    let namesrv = format!("127.0.0.1:{}", ft.namesrv_port);

    let started = ft.run("start");
    // Whatever happens next, stop what was started.
    struct StopOnDrop<'a>(&'a FastTry<'a>);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            let _ = self.0.run("stop");
        }
    }
    let _guard = StopOnDrop(&ft);
    assert!(
        started.status.success(),
        "start failed:\n{}",
        text(&started)
    );
    let out = String::from_utf8_lossy(&started.stdout);
    assert!(
        out.contains("#Cluster Name"),
        "start did not print clusterList:\n{out}"
    );

    // Three members, exactly one BID 0.
    let rows = cluster_list(&namesrv).expect("clusterList");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r.cluster == "RaftCluster" && r.group == "RaftNode00"));
    let leader = leaders(&rows);
    assert_eq!(leader.len(), 1, "{rows:?}");
    let old_leader = leader[0].addr.clone();

    // A second start is refused and starts nothing.
    let again = ft.run("start");
    assert_eq!(
        again.status.code(),
        Some(1),
        "a second start:\n{}",
        text(&again)
    );

    // kill -9 the leader: a new BID 0 within 2 s.
    let port: u16 = old_leader.rsplit_once(':').unwrap().1.parse().unwrap();
    let n = ft
        .broker_ports
        .iter()
        .position(|p| *p == port)
        .expect("leader port");
    let pid = ft.pid(&format!("broker-n{n}")).expect("leader pid file");
    assert!(alive(pid));
    let killed = Instant::now();
    signal(pid, "KILL");
    let new_leader = wait_for("a new BID 0", Duration::from_secs(5), || {
        let rows = cluster_list(&namesrv)?;
        let l = leaders(&rows);
        assert!(l.len() <= 1, "two BID 0 rows: {rows:?}");
        l.first()
            .map(|r| r.addr.clone())
            .filter(|a| *a != old_leader)
    });
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "new leader {new_leader} after {took:?}"
    );
    eprintln!("new BID 0 {new_leader} {took:?} after kill -9 of {old_leader}");

    // The old member, restarted from its conf, rejoins as a follower.
    let conf = root.join(format!("fast-try/conf/broker-n{n}.conf"));
    let mut cmd = Command::new(repo_root().join("bin/mqbroker"));
    cmd.args(["-c", conf.to_str().unwrap()])
        .env("RAFTMQ_BIN_DIR", bins());
    let mut restarted = Proc::spawn("restarted broker", cmd, &dir.path().join("restarted.log"));
    // (Its stale row stays until it expires, so ask the member itself.)
    wait_for(
        "the old leader back as a follower",
        Duration::from_secs(20),
        || {
            let status = mqadmin(&["brokerStatus", "-b", &old_leader]);
            let text = String::from_utf8_lossy(&status.stdout).into_owned();
            let following = status_field(&text, "role") == Some("Follower")
                && status_field(&text, "leader").is_some_and(|l| l != "none");
            let rows = cluster_list(&namesrv)?;
            let back = rows.iter().find(|r| r.addr == old_leader)?;
            (following && back.bid != 0 && leaders(&rows).len() == 1 && rows.len() == 3)
                .then_some(())
        },
    );
    // brokerStatus shows the disk gate as upstream does: the used fraction
    // of the commitlog's disk and the percent at which sends stop.
    let status = mqadmin(&["brokerStatus", "-b", &new_leader]);
    let shown = text(&status);
    let ratio: f64 = status_field(&shown, "commitLogDiskRatio")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no commitLogDiskRatio in:\n{shown}"));
    assert!((0.0..=1.0).contains(&ratio), "{shown}");
    assert_eq!(
        status_field(&shown, "diskSpaceWarningLevelRatio"),
        Some("100"),
        "{shown}"
    );

    let status = restarted.terminate(Duration::from_secs(15));
    assert!(status.success(), "{status:?}:\n{}", restarted.log());

    // stop ends every process it started, and nothing of the run remains.
    let pids: Vec<u32> = ["namesrv", "broker-n0", "broker-n1", "broker-n2"]
        .iter()
        .filter_map(|name| ft.pid(name))
        .collect();
    let stopped = ft.run("stop");
    assert!(stopped.status.success(), "stop failed:\n{}", text(&stopped));
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived stop");
    }
    let left = processes_mentioning(root.to_str().unwrap());
    assert!(left.is_empty(), "processes of the run remain: {left:?}");
}
