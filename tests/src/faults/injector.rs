//! The faults, and how each is done to a running [`Cluster`] and undone.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
    /// Every member reads its disk as 100% full, then the real figure again
    /// (100: test members refuse sends only then, see [`crate::DISK_RATIO_OFF`]).
    DiskFull,
    /// Stop a follower cleanly, flip bytes near the end of its commitlog's
    /// written data, restart it (wiped and rebuilt if it refuses to start).
    FlipBytes,
    /// Stop a follower cleanly, zero the last KBs of its written data (a
    /// torn tail), restart it (wiped and rebuilt if it refuses to start).
    TornTail,
    /// SIGKILL a follower under load, tear its commitlog tail past the
    /// checkpoint's durable point (zeroed, cut short, or a partial entry
    /// after it), restart it: it must repair by itself and catch up. A
    /// refusal to start is reported as an error (the node is wiped only so
    /// that the run can go on).
    KillTornTail,
    /// [`Fault::KillTornTail`] done to the leader.
    KillTornTailLeader,
}

impl Fault {
    /// Every kind, for the long runner.
    pub const ALL: [Fault; 12] = [
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
        Fault::KillTornTail,
        Fault::KillTornTailLeader,
    ];

    /// The fault of that report name.
    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }

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
            Fault::KillTornTail => "kill_torn_tail",
            Fault::KillTornTailLeader => "kill_torn_tail_leader",
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
                allocation_fails: None,
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
                allocation_fails: None,
            };
            for i in 0..c.len() {
                rt.block_on(c.inject(i, req(100)))?;
            }
            std::thread::sleep(Duration::from_secs(3));
            for i in 0..c.len() {
                rt.block_on(c.inject(i, req(-1)))?;
            }
            done("every member 100% full for 3 s".into())
        }
        Fault::KillTornTail | Fault::KillTornTailLeader => {
            let i = if fault == Fault::KillTornTail {
                follower
            } else {
                leader
            };
            let cuts_before = recovery_warnings(&c.log(i));
            c.kill(i);
            let (what, warned) = tear(c.store(i), c.commitlog(i), rng)?;
            c.restart(i);
            if !came_back(c, i) {
                let log = c.log(i);
                let tail: String = log.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
                // Wiped only so that the run goes on; the run fails.
                c.kill(i);
                c.wipe(i)?;
                c.restart(i);
                return Err(format!(
                    "n{i}: {what}; refused to start without a wipe ({tail})"
                ));
            }
            if warned && recovery_warnings(&c.log(i)) == cuts_before {
                return Err(format!(
                    "n{i}: {what}; restarted without a word about its torn tail"
                ));
            }
            let caught_up = rt.block_on(caught_up(c, i, Duration::from_secs(30)))?;
            done(format!(
                "kill -9 n{i} (leader was n{leader}), {what}; restarted, repaired, {caught_up}"
            ))
        }
        Fault::FlipBytes | Fault::TornTail => {
            let i = follower;
            c.stop(i);
            let what = damage(c.commitlog(i), fault == Fault::TornTail)?;
            c.restart(i);
            if came_back(c, i) {
                done(format!("n{i}: {what}; restarted and recovered"))
            } else {
                let log = c.log(i);
                let tail: String = log.lines().rev().take(3).collect::<Vec<_>>().join(" / ");
                c.kill(i);
                c.wipe(i)?;
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

/// The newest commitlog segment in `dir`.
fn newest_segment(dir: &Path) -> Result<PathBuf, String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
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
fn damage(commitlog: &Path, torn: bool) -> Result<String, String> {
    let seg = newest_segment(commitlog)?;
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

/// Waits until member `i` serves as Leader or Follower and has applied
/// as much as any other member had when the wait began (it may lead again
/// itself); says how long it took.
async fn caught_up(c: &Cluster, i: usize, timeout: Duration) -> Result<String, String> {
    let start = Instant::now();
    let applied = |s: &std::collections::BTreeMap<String, String>| -> Option<u64> {
        s.get("appliedIndex")?.parse().ok()
    };
    let mut target = None;
    let mut last = String::new();
    while start.elapsed() < timeout {
        if target.is_none() {
            let mut most = None;
            for j in (0..c.len()).filter(|j| *j != i) {
                if let Ok(s) = c.status(j).await {
                    most = most.max(applied(&s));
                }
            }
            target = most;
        }
        match c.status(i).await {
            Ok(s) => {
                let role = s.get("role").cloned().unwrap_or_default();
                let serving = role == "Leader" || role == "Follower";
                if let (true, Some(t), Some(a)) = (serving, target, applied(&s)) {
                    if a >= t {
                        return Ok(format!(
                            "{role}, applied {a} >= {t} in {:.1} s",
                            start.elapsed().as_secs_f64()
                        ));
                    }
                }
                last = format!("{role}, applied {:?}, target {target:?}", applied(&s));
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("n{i} did not catch up in {timeout:?}: {last}"))
}

/// Where the commitlog checkpoint of the store at `root` vouches that the
/// log is durable (its `durable_pos`, bytes 24..32, see
/// `store/src/commitlog/checkpoint.rs`).
fn durable_pos(root: &Path) -> Result<u64, String> {
    let path = root.join("checkpoint");
    let b = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.len() != 60 || &b[0..4] != b"RMQC" {
        return Err(format!("{} is not a checkpoint", path.display()));
    }
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[24..32]);
    Ok(u64::from_le_bytes(word))
}

/// The warnings recovery writes when it cuts a damaged tail or extends a
/// short segment (a zeroed tail on an entry boundary is cut silently).
fn recovery_warnings(log: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains("cutting a torn log tail")
                || l.contains("cutting the log tail")
                || l.contains("last segment is short")
        })
        .count()
}

/// How [`tear`] damages the tail.
const TEARS: [&str; 4] = [
    "zeroed",
    "cut short",
    "partial entry",
    "zeroed + partial entry",
];

/// Tears the written end of the newest segment, only past the checkpoint's
/// durable point (what a crash of the machine can do): zeroes up to the
/// last 4 KiB, cuts the file short there, appends the start of an entry
/// whose length runs past what follows, or zeroes and then appends. The
/// process was killed, so everything it wrote is in the file. Returns what
/// was done, and whether recovery must warn about it.
fn tear(root: &Path, commitlog: &Path, rng: &mut Rng) -> Result<(String, bool), String> {
    let seg = newest_segment(commitlog)?;
    let base: u64 = seg
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{}: not a segment name", seg.display()))?;
    let durable = durable_pos(root)?.saturating_sub(base) as usize;
    let mut data = std::fs::read(&seg).map_err(|e| format!("{}: {e}", seg.display()))?;
    // Entries start with a magic number, so the written end is the last
    // non-zero byte (or the durable point, if the last body ends in zeros).
    let end = data
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |p| p + 1)
        .max(durable);
    let from = end.saturating_sub(4096).max(durable);
    let mut kind = rng.below(TEARS.len());
    if from == end && kind != 2 {
        kind = 2; // everything is durable: only a partial entry can be added
    }
    let partial_at = if kind == 3 { from } else { end };
    if (kind == 2 || kind == 3) && partial_at + 200 > data.len() {
        kind = 0; // no room after the end: zero instead
    }
    let name = seg.display();
    let what = match kind {
        0 | 3 => {
            data[from..end].fill(0);
            format!("zeroed bytes {from}..{end} of {name} (durable to {durable})")
        }
        _ => String::new(),
    };
    if kind == 1 {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .map_err(|e| format!("{name}: {e}"))?;
        f.set_len(from as u64).map_err(|e| format!("{name}: {e}"))?;
        return Ok((
            format!("cut {name} to {from} bytes (written to {end}, durable to {durable})"),
            true,
        ));
    }
    let what = if kind == 2 || kind == 3 {
        // An entry header claiming 4 KiB (magic RMQE, version 1, kind
        // Messages, a CRC that cannot match), then 160 bytes of its body.
        let at = partial_at;
        let mut head = [0u8; 32];
        head[0..4].copy_from_slice(b"RMQE");
        head[4] = 1;
        head[5] = 3;
        head[8..12].copy_from_slice(&4096u32.to_le_bytes());
        head[12..16].copy_from_slice(&0xDEAD_BEEFu32.to_le_bytes());
        head[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        data[at..at + 32].copy_from_slice(&head);
        data[at + 32..at + 192].fill(0xAB);
        let partial = format!("a partial entry of 192 of 4096 bytes at {at} of {name}");
        if what.is_empty() {
            format!("{partial} (written to {end}, durable to {durable})")
        } else {
            format!("{what}, then {partial}")
        }
    } else {
        what
    };
    std::fs::write(&seg, &data).map_err(|e| format!("{name}: {e}"))?;
    Ok((what, kind != 0))
}
