//! The faults, and how each is done to a running [`Cluster`] and undone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use raftmq_proto::admin::v1::InjectFaultRequest;

use super::cluster::Cluster;

/// One fault of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the leader, restart it from the same conf after a pause.
    KillLeader,
    /// SIGKILL a follower, restart it.
    KillFollower,
    /// SIGKILL any member, restart it.
    KillRandom,
    /// SIGSTOP the leader for a few seconds, then SIGCONT.
    PauseLeader,
    /// SIGSTOP a follower for a few seconds, then SIGCONT.
    PauseFollower,
    /// Cut the leader off from its peers (admin RPC), then heal.
    IsolateLeader,
    /// Cut a follower off, then heal.
    IsolateFollower,
    /// Every member reads its disk as 95% full, then the real figure again.
    DiskFull,
    /// Stop a follower cleanly, flip bytes near the end of its commitlog's
    /// written data, restart it (wiped and rebuilt if it refuses to start).
    FlipBytes,
    /// Stop a follower cleanly, zero the last KBs of its written data (a
    /// torn tail), restart it (wiped and rebuilt if it refuses to start).
    TornTail,
}

impl Fault {
    /// Every kind, for the long runner.
    pub const ALL: [Fault; 10] = [
        Fault::KillLeader,
        Fault::KillFollower,
        Fault::KillRandom,
        Fault::PauseLeader,
        Fault::PauseFollower,
        Fault::IsolateLeader,
        Fault::IsolateFollower,
        Fault::DiskFull,
        Fault::FlipBytes,
        Fault::TornTail,
    ];

    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillLeader => "kill_leader",
            Fault::KillFollower => "kill_follower",
            Fault::KillRandom => "kill_random",
            Fault::PauseLeader => "pause_leader",
            Fault::PauseFollower => "pause_follower",
            Fault::IsolateLeader => "isolate_leader",
            Fault::IsolateFollower => "isolate_follower",
            Fault::DiskFull => "disk_full",
            Fault::FlipBytes => "flip_bytes",
            Fault::TornTail => "torn_tail",
        }
    }
}

/// A tiny xorshift generator: the schedule is reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// What applying a fault did, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The report name (`flip_bytes_rebuilt` when the node had to be wiped).
    pub name: String,
    /// A line for the log of the run.
    pub detail: String,
}

fn pick_follower(c: &Cluster, leader: usize, rng: &mut Rng) -> usize {
    let others: Vec<usize> = (0..c.len()).filter(|i| *i != leader).collect();
    others[rng.below(others.len())]
}

/// Does `fault` to the cluster and undoes it; blocks for its duration.
pub fn apply(
    fault: Fault,
    c: &mut Cluster,
    rt: &tokio::runtime::Handle,
    rng: &mut Rng,
) -> Result<Applied, String> {
    let leader = c.leader().ok_or("no leader before the fault")?;
    let follower = pick_follower(c, leader, rng);
    let done = |detail: String| {
        Ok(Applied {
            name: fault.name().to_owned(),
            detail,
        })
    };
    match fault {
        Fault::KillLeader | Fault::KillFollower | Fault::KillRandom => {
            let i = match fault {
                Fault::KillLeader => leader,
                Fault::KillFollower => follower,
                _ => rng.below(c.len()),
            };
            c.kill(i);
            std::thread::sleep(Duration::from_secs(2));
            c.restart(i);
            done(format!("kill -9 n{i} (leader was n{leader}), restarted"))
        }
        Fault::PauseLeader | Fault::PauseFollower => {
            let i = if fault == Fault::PauseLeader {
                leader
            } else {
                follower
            };
            c.pause(i, true);
            std::thread::sleep(Duration::from_secs(3));
            c.pause(i, false);
            done(format!("SIGSTOP n{i} for 3 s (leader was n{leader})"))
        }
        Fault::IsolateLeader | Fault::IsolateFollower => {
            let i = if fault == Fault::IsolateLeader {
                leader
            } else {
                follower
            };
            let req = |isolate| InjectFaultRequest {
                isolate: Some(isolate),
                disk_used_percent: None,
            };
            rt.block_on(c.inject(i, req(true)))?;
            std::thread::sleep(Duration::from_secs(4));
            rt.block_on(c.inject(i, req(false)))?;
            done(format!("isolated n{i} for 4 s (leader was n{leader})"))
        }
        Fault::DiskFull => {
            let req = |p| InjectFaultRequest {
                isolate: None,
                disk_used_percent: Some(p),
            };
            for i in 0..c.len() {
                rt.block_on(c.inject(i, req(95)))?;
            }
            std::thread::sleep(Duration::from_secs(3));
            for i in 0..c.len() {
                rt.block_on(c.inject(i, req(-1)))?;
            }
            done("every member 95% full for 3 s".into())
        }
        Fault::FlipBytes | Fault::TornTail => {
            let i = follower;
            c.stop(i);
            let what = damage(c.store(i), fault == Fault::TornTail)?;
            c.restart(i);
            if came_back(c, i) {
                done(format!("n{i}: {what}; restarted and recovered"))
            } else {
                let log = c.log(i);
                let tail: String = log.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
                c.kill(i);
                std::fs::remove_dir_all(c.store(i)).map_err(|e| e.to_string())?;
                c.restart(i);
                Ok(Applied {
                    name: format!("{}_rebuilt", fault.name()),
                    detail: format!("n{i}: {what}; refused to start ({tail}); wiped and rebuilt"),
                })
            }
        }
    }
}

/// Whether member `i` is up and listed within 30 s (false if it exited).
fn came_back(c: &mut Cluster, i: usize) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if c.exited(i) {
            return false;
        }
        if c.listening(i) {
            std::thread::sleep(Duration::from_secs(1));
            return !c.exited(i);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// The newest commitlog segment under `store`.
fn newest_segment(store: &Path) -> Result<PathBuf, String> {
    let dir = store.join("commitlog");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names
        .pop()
        .ok_or_else(|| format!("no segment in {}", dir.display()))
}

/// Damages the written end of the newest segment: zeroes the last 4 KiB
/// (`torn`) or flips 4 bytes within the last KiB. The segment is
/// preallocated, so the written end is the last non-zero byte.
fn damage(store: &Path, torn: bool) -> Result<String, String> {
    let seg = newest_segment(store)?;
    let mut data = std::fs::read(&seg).map_err(|e| e.to_string())?;
    let end = data.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    if end < 8192 {
        return Ok(format!(
            "{} has {end} bytes written: left alone",
            seg.display()
        ));
    }
    let what = if torn {
        data[end - 4096..end].fill(0);
        format!("zeroed bytes {}..{end} of {}", end - 4096, seg.display())
    } else {
        for k in [3usize, 100, 517, 1000] {
            data[end - k] ^= 0xA5;
        }
        format!("flipped 4 bytes before {end} in {}", seg.display())
    };
    std::fs::write(&seg, &data).map_err(|e| e.to_string())?;
    Ok(what)
}
