//! Faults in a three-member group: the leader killed again and again under
//! concurrent writes, an isolated leader, followers whose log tail was torn
//! or corrupted by a crash.
//!
//! Every wait has a deadline and every loop a bound on its count; sleeps are
//! only polling intervals inside such waits, or the random time writers are
//! given to run before a kill.

// Writers and watchers are this test's own, aborted on every way out (AbortOnDrop).
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::ServerState;
use raftmq_raft::proposer::{Batching, Proposer, WriteError};
use raftmq_raft::{LocalCluster, NodeId, RaftNode};
use raftmq_store::consume_queue::TagFilter;
use raftmq_store::message_store::now_ms;
use raftmq_store::record::entry::EntryKind;
use raftmq_store::record::message::Message;
use raftmq_store::{MessageStore, OpenOptions, QueueOffset};
use raftmq_tasks::Tasks;
use tokio::task::JoinHandle;

const QUEUES: u32 = 4;

/// A message of `topic` in `queue` whose body is `body`, stamped as the
/// store would stamp it (`MessageStore::encode_batch`).
fn message(topic: &str, queue: u32, body: impl Into<String>) -> Message {
    Message {
        queue_id: queue,
        tag: Some("T".into()),
        body: Bytes::from(body.into()),
        store_timestamp_ms: now_ms(),
        ..Message::new(topic.parse().expect("legal topic"))
    }
}

/// The encoded batch body `RaftNode::write` would hand its proposer.
fn encode(msgs: &[Message]) -> Vec<u8> {
    let mut body = Vec::new();
    for m in msgs {
        m.encode(&mut body).expect("encode");
    }
    body
}

/// One queue as (offset, body), read in pages until its end.
fn read_queue(node: &RaftNode, topic: &str, queue: u32) -> Vec<(u64, Bytes)> {
    let store = node.store();
    let (_, end) = store.queue_offsets(topic, queue);
    let mut from = QueueOffset(0);
    let mut out = Vec::new();
    for _ in 0..100_000 {
        if from.0 >= end.0 {
            break;
        }
        let batch = store
            .read_messages(topic, queue, from, usize::MAX, &TagFilter::All)
            .expect("read");
        for m in &batch.messages {
            let body = Bytes::copy_from_slice(m.view().expect("decode").body());
            out.push((m.queue_offset.expect("offset").0, body));
        }
        if batch.next_offset.0 <= from.0 {
            break;
        }
        from = batch.next_offset;
    }
    out
}

/// Every queue of `topic`, checked dense from offset 0 and against the
/// queue's own bounds.
fn contents(node: &RaftNode, topic: &str) -> BTreeMap<u32, Vec<(u64, Bytes)>> {
    let mut out = BTreeMap::new();
    for q in 0..QUEUES {
        let entries = read_queue(node, topic, q);
        for (i, (offset, _)) in entries.iter().enumerate() {
            assert_eq!(
                *offset,
                i as u64,
                "n{}: queue {topic}/{q} is not dense from 0: position {i} holds offset {offset}",
                node.id()
            );
        }
        let (min, max) = node.store().queue_offsets(topic, q);
        assert_eq!(
            (min.0, max.0),
            (0, entries.len() as u64),
            "n{}: queue {topic}/{q} bounds disagree with its contents",
            node.id()
        );
        out.insert(q, entries);
    }
    out
}

/// One commitlog entry as (index, term, kind, body).
type LogRecord = (u64, u64, EntryKind, Bytes);

/// A member's whole commitlog, CRC checked.
fn log_of(node: &RaftNode) -> Vec<LogRecord> {
    let log = node.store().commitlog();
    let b = log.bounds();
    (b.start_index..b.next_index)
        .map(|i| {
            let e = log.read_entry(i).unwrap_or_else(|err| {
                panic!("n{}: reading entry {i}: {err}", node.id());
            });
            (e.index.0, e.term.0, e.kind, e.body())
        })
        .collect()
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether openraft still runs on a member: its core neither stopped on a
/// fatal error nor died (a panic in the core drops its metrics sender, and
/// leaves the last metrics it sent looking healthy).
async fn raft_running(node: &RaftNode) -> Result<(), String> {
    let mut rx = node.raft().metrics();
    let state = rx.borrow_and_update().running_state.clone();
    state.map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_millis(1), rx.changed()).await {
        Ok(Err(_)) => Err("the raft core is gone (its metrics channel closed)".into()),
        Ok(Ok(())) | Err(_) => Ok(()),
    }
}

/// [`raft_running`] of every running member.
async fn raft_cores(c: &LocalCluster) -> Vec<(NodeId, Result<(), String>)> {
    let mut out = Vec::new();
    for n in c.running() {
        out.push((n.id(), raft_running(n).await));
    }
    out
}

/// (next log index, next index to dispatch, last term) of a member.
fn progress(node: &RaftNode) -> (u64, u64, u64) {
    let b = node.store().commitlog().bounds();
    (b.next_index, node.store().dispatched().0, b.last_term)
}

/// Waits until every running member has applied its whole log and all logs
/// end at the same index and term.
async fn wait_converged(c: &LocalCluster, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for _ in 0..100_000 {
        let seen: Vec<(NodeId, (u64, u64, u64))> =
            c.running().map(|n| (n.id(), progress(n))).collect();
        let first = seen.first().map(|s| s.1);
        let done = seen.iter().all(|(_, p)| {
            p.0 == p.1 && Some(p.0) == first.map(|f| f.0) && Some(p.2) == first.map(|f| f.2)
        });
        if done {
            return;
        }
        if Instant::now() >= deadline {
            let running = raft_cores(c).await;
            panic!(
                "members did not converge in {timeout:?}: (id, (next index, next to apply, last term)) = {seen:?}; raft cores: {running:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("members did not converge within the poll bound");
}

/// Waits until the running members other than `old` agree on a leader that
/// is not `old`.
async fn wait_for_leader_other_than(
    c: &LocalCluster,
    old: NodeId,
    timeout: Duration,
) -> Option<NodeId> {
    let deadline = Instant::now() + timeout;
    for _ in 0..10_000 {
        if let Some(l) = c
            .wait_for_leader(Duration::from_millis(100), Some(old))
            .await
        {
            if l != old {
                return Some(l);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// Aborts the tasks it holds when dropped, on every path out of a test.
#[derive(Default)]
struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// A small deterministic generator (xorshift64*), seeded per run and printed
/// so that a failing schedule can be replayed with `FAULTS_SEED`.
struct Rng(u64);

impl Rng {
    fn from_env_or_clock() -> Self {
        let seed = std::env::var("FAULTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        eprintln!("FAULTS_SEED={seed}");
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[lo, hi]`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

// ---------------------------------------------------------------------------
// 1. Killing the leader under concurrent writes.

const WRITERS: u32 = 4;
/// Failovers at least, and at most; rounds past the minimum run only while
/// the test is within its time budget.
const MIN_ROUNDS: usize = 20;
const MAX_ROUNDS: usize = 30;
const ROUNDS_BUDGET: Duration = Duration::from_secs(35);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Each member's proposer, as writers find them. A writer holds only a
/// proposer (a channel into a task holding a Raft handle), never the member
/// or its store, so a kill can land while its writes are in flight.
type Directory = Arc<Mutex<BTreeMap<NodeId, Proposer>>>;

/// (term -> members that reported themselves leader in it).
type Leaders = Arc<Mutex<BTreeMap<u64, BTreeSet<NodeId>>>>;

#[derive(Debug, Default)]
struct Outcomes {
    /// (value, queue offset the write was acknowledged with).
    acked: Vec<(String, u64)>,
    /// Values refused with `NotLeader`: `LocalCluster::write` retries
    /// these, so they must never be stored.
    refused: Vec<String>,
    /// Values whose write failed otherwise or timed out: stored at most
    /// once.
    unknown: Vec<String>,
}

/// Gives writers a proposer for `node` (the same group-commit path
/// `RaftNode::write` takes, on a handle to the same openraft instance) and
/// watches its metrics for leadership. Returns the owner of the proposer
/// task: stopping it ends the proposer.
fn attach(node: &RaftNode, dir: &Directory, leaders: &Leaders, tasks: &mut AbortOnDrop) -> Tasks {
    let task = Tasks::new(format!("proposer n{}", node.id()));
    let proposer = Proposer::start(node.raft().clone(), Batching::default(), &task);
    dir.lock().expect("directory").insert(node.id(), proposer);

    let id = node.id();
    let mut rx = node.raft().metrics();
    let leaders = Arc::clone(leaders);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    tasks.0.push(tokio::spawn(async move {
        for _ in 0..10_000_000u64 {
            {
                let m = rx.borrow_watched();
                if m.state == ServerState::Leader {
                    leaders
                        .lock()
                        .expect("leaders")
                        .entry(m.current_term)
                        .or_default()
                        .insert(id);
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                // The member stopped, or the test is long over.
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }));
    task
}

fn next_id(ids: &[NodeId], id: NodeId) -> NodeId {
    let at = ids
        .iter()
        .position(|i| *i == id)
        .map_or(0, |p| (p + 1) % ids.len());
    ids[at]
}

/// Sends unique values ("w{writer}-{seq}", each sent once, never retried)
/// until stopped, following leader hints.
async fn writer(
    w: u32,
    ids: Vec<NodeId>,
    dir: Directory,
    stop: Arc<AtomicBool>,
    acks: Arc<AtomicU64>,
    deadline: Instant,
) -> Outcomes {
    let mut out = Outcomes::default();
    let queue = w % QUEUES;
    let mut target = ids[w as usize % ids.len()];
    let mut seq = 0u64;
    for _ in 0..1_000_000u64 {
        if stop.load(Ordering::Acquire) || Instant::now() >= deadline {
            break;
        }
        let proposer = dir.lock().expect("directory").get(&target).cloned();
        let Some(proposer) = proposer else {
            // Down: try the next member.
            target = next_id(&ids, target);
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let value = format!("w{w}-{seq}");
        seq += 1;
        let body = encode(&[message("F", queue, value.clone())]);
        match tokio::time::timeout(WRITE_TIMEOUT, proposer.write(body.into(), 1)).await {
            Ok(Ok(results)) => {
                assert_eq!(
                    results.len(),
                    1,
                    "write of {value} acknowledged with {results:?}"
                );
                out.acked.push((value, results[0].queue_offset.0));
                acks.fetch_add(1, Ordering::Relaxed);
                // Pace the writers so the logs stay a manageable size.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Ok(Err(WriteError::NotLeader { leader })) => {
                out.refused.push(value);
                target = leader
                    .filter(|l| ids.contains(l) && *l != target)
                    .unwrap_or_else(|| next_id(&ids, target));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(Err(_)) | Err(_) => {
                out.unknown.push(value);
                target = next_id(&ids, target);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_repeatedly_loses_no_acknowledged_write() {
    let started = Instant::now();
    let mut rng = Rng::from_env_or_clock();
    let mut c = LocalCluster::start(3).await.expect("start");
    let ids = c.ids();
    let dir: Directory = Arc::default();
    let leaders: Leaders = Arc::default();
    let mut watchers = AbortOnDrop::default();
    let mut proposers: BTreeMap<NodeId, Tasks> = BTreeMap::new();
    for id in &ids {
        let node = c.node(*id).expect("running");
        let task = attach(node, &dir, &leaders, &mut watchers);
        proposers.insert(*id, task);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicU64::new(0));
    let writers_deadline = Instant::now() + Duration::from_secs(90);
    let writers: Vec<JoinHandle<Outcomes>> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                w,
                ids.clone(),
                Arc::clone(&dir),
                Arc::clone(&stop),
                Arc::clone(&acks),
                writers_deadline,
            ))
        })
        .collect();

    let mut acked_per_round = Vec::with_capacity(MAX_ROUNDS);
    for round in 0..MAX_ROUNDS {
        if round >= MIN_ROUNDS && started.elapsed() >= ROUNDS_BUDGET {
            break;
        }
        c.wait_for_leader(Duration::from_secs(10), None)
            .await
            .unwrap_or_else(|| panic!("round {round}: no leader"));
        let before = acks.load(Ordering::Relaxed);
        // Let the writers run; this sleep is the workload, not a wait.
        tokio::time::sleep(Duration::from_millis(rng.range(50, 300))).await;
        let leader = c
            .wait_for_leader(Duration::from_secs(5), None)
            .await
            .unwrap_or_else(|| panic!("round {round}: no leader to kill"));
        acked_per_round.push(acks.load(Ordering::Relaxed) - before);

        dir.lock().expect("directory").remove(&leader);
        if let Some(t) = proposers.remove(&leader) {
            t.stop(Duration::from_secs(5))
                .await
                .expect("proposer stops");
        }
        c.kill(leader).await;
        let next = c
            .wait_for_leader(Duration::from_secs(10), None)
            .await
            .unwrap_or_else(|| panic!("round {round}: no leader after killing n{leader}"));
        assert_ne!(next, leader, "round {round}");
        c.restart(leader)
            .await
            .unwrap_or_else(|e| panic!("round {round}: restarting n{leader}: {e}"));
        let node = c.node(leader).expect("restarted");
        let task = attach(node, &dir, &leaders, &mut watchers);
        proposers.insert(leader, task);
    }
    let rounds = acked_per_round.len();
    let rounds_took = started.elapsed();

    stop.store(true, Ordering::Release);
    let mut outcomes = Vec::new();
    for (w, h) in writers.into_iter().enumerate() {
        let o = tokio::time::timeout(Duration::from_secs(10), h)
            .await
            .unwrap_or_else(|_| panic!("writer {w} did not stop"))
            .unwrap_or_else(|e| panic!("writer {w} failed: {e}"));
        outcomes.push(o);
    }
    for t in proposers.values() {
        t.stop(Duration::from_secs(5))
            .await
            .expect("proposer stops");
    }
    c.wait_for_leader(Duration::from_secs(10), None)
        .await
        .expect("a leader at the end");
    wait_converged(&c, Duration::from_secs(20)).await;

    // Everything the watchers saw is in; stop them before checking.
    drop(watchers);
    let leaders = leaders.lock().expect("leaders").clone();

    let acked: Vec<(String, u64)> = outcomes.iter().flat_map(|o| o.acked.clone()).collect();
    let refused: Vec<String> = outcomes.iter().flat_map(|o| o.refused.clone()).collect();
    let unknown: Vec<String> = outcomes.iter().flat_map(|o| o.unknown.clone()).collect();
    eprintln!(
        "{rounds} rounds in {rounds_took:?}; acknowledged {} writes, {} refused (not the leader), {} failed or timed out; acks per round {acked_per_round:?}; terms with a leader: {}",
        acked.len(),
        refused.len(),
        unknown.len(),
        leaders.len()
    );
    assert!(
        acked.len() >= 100,
        "too few writes were acknowledged ({}) for the test to mean anything",
        acked.len()
    );
    assert!(
        acked_per_round.iter().filter(|n| **n > 0).count() >= rounds / 2,
        "writes made no progress in most rounds: {acked_per_round:?}"
    );

    // Never two leaders in one term; and every round produced a new term.
    for (term, who) in &leaders {
        assert_eq!(who.len(), 1, "term {term} had leaders {who:?}");
    }
    assert!(
        leaders.len() > rounds,
        "the watchers saw only {} terms with a leader over {rounds} failovers: {leaders:?}",
        leaders.len()
    );

    // Per member: acknowledged values exactly once, where acknowledged;
    // refused values never; nothing never sent; no value twice.
    let acked_at: HashMap<&str, u64> = acked.iter().map(|(v, o)| (v.as_str(), *o)).collect();
    let sent: BTreeSet<&str> = acked
        .iter()
        .map(|(v, _)| v.as_str())
        .chain(unknown.iter().map(String::as_str))
        .chain(refused.iter().map(String::as_str))
        .collect();
    let refused: BTreeSet<&str> = refused.iter().map(String::as_str).collect();
    let members: Vec<&RaftNode> = c.running().collect();
    assert_eq!(members.len(), ids.len(), "every member runs at the end");
    let reference = contents(members[0], "F");
    for node in &members {
        let id = node.id();
        assert_eq!(raft_running(node).await, Ok(()), "n{id}'s raft core");
        let mine = contents(node, "F");
        let mut found: HashMap<String, (u32, u64)> = HashMap::new();
        for (q, entries) in &mine {
            for (offset, body) in entries {
                let value = std::str::from_utf8(body).expect("utf-8 body").to_owned();
                assert!(
                    sent.contains(value.as_str()),
                    "n{id}: {q}/{offset} holds {value:?}, which was never sent"
                );
                assert!(
                    !refused.contains(value.as_str()),
                    "n{id}: {q}/{offset} holds {value:?}, whose write was refused with NotLeader (which LocalCluster::write retries: a duplicate)"
                );
                let writer: u32 = value[1..value.find('-').expect("w{w}-{seq}")]
                    .parse()
                    .expect("writer number");
                assert_eq!(writer % QUEUES, *q, "n{id}: {value} is in the wrong queue");
                if let Some(prev) = found.insert(value.clone(), (*q, *offset)) {
                    panic!("n{id}: {value} is stored twice, at {prev:?} and {q}/{offset}");
                }
            }
        }
        for (value, offset) in &acked_at {
            let writer: u32 = value[1..value.find('-').expect("w{w}-{seq}")]
                .parse()
                .expect("writer number");
            match found.get(*value) {
                Some(at) => assert_eq!(
                    *at,
                    (writer % QUEUES, *offset),
                    "n{id}: acknowledged {value} is not where its acknowledgement said"
                ),
                None => panic!("n{id}: acknowledged write {value} is lost"),
            }
        }
        assert!(
            mine == reference,
            "n{id}'s queues differ from n{}'s",
            members[0].id()
        );
    }

    let stored: BTreeSet<String> = reference
        .values()
        .flatten()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    eprintln!(
        "{} of the {} failed or timed-out writes were stored nonetheless",
        unknown.iter().filter(|v| stored.contains(*v)).count(),
        unknown.len()
    );

    // The commitlogs hold the same entries up to the shortest one.
    let logs: Vec<(NodeId, Vec<LogRecord>)> = members.iter().map(|n| (n.id(), log_of(n))).collect();
    let from = logs
        .iter()
        .map(|(_, l)| l.first().map_or(0, |e| e.0))
        .max()
        .unwrap_or(0);
    let to = logs
        .iter()
        .map(|(_, l)| l.last().map_or(0, |e| e.0 + 1))
        .min()
        .unwrap_or(0);
    assert!(to > from, "the logs share no entry: {from}..{to}");
    let window = |l: &[LogRecord]| -> Vec<LogRecord> {
        l.iter()
            .filter(|e| e.0 >= from && e.0 < to)
            .cloned()
            .collect()
    };
    let first = window(&logs[0].1);
    for (id, log) in &logs[1..] {
        let mine = window(log);
        for (a, b) in first.iter().zip(&mine) {
            assert_eq!(a, b, "n{id}'s log differs from n{}'s", logs[0].0);
        }
        assert_eq!(mine.len(), first.len(), "n{id}'s log window length");
    }
    c.shutdown().await;
    eprintln!(
        "killing_the_leader_repeatedly: {:?} in all",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------
// 2. An isolated leader.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_cannot_commit_and_rejoins_as_follower() {
    let c = LocalCluster::start(3).await.expect("start");
    let ids = c.ids();
    let old = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    for n in 0..6u32 {
        c.write(
            &[message("I", n % QUEUES, format!("before-{n}"))],
            Duration::from_secs(5),
        )
        .await
        .expect("write");
    }
    wait_converged(&c, Duration::from_secs(10)).await;

    c.partition().isolate(old, &ids);
    const ISOLATED: &str = "written-to-the-isolated-leader";
    let old_node = c.node(old).expect("running");
    let isolated_msgs = [message("I", 0, ISOLATED)];
    let (isolated, elected) = tokio::join!(
        tokio::time::timeout(Duration::from_millis(1500), old_node.write(&isolated_msgs)),
        wait_for_leader_other_than(&c, old, Duration::from_secs(10)),
    );
    match isolated {
        Ok(Ok(r)) => panic!("an isolated leader acknowledged a write: {r:?}"),
        Ok(Err(e)) => eprintln!("the isolated leader refused the write: {e}"),
        Err(_) => eprintln!("the isolated leader's write timed out"),
    }
    let new = elected.expect("the majority elects a new leader");
    assert_ne!(new, old);
    let new_node = c.node(new).expect("running");
    for k in 0..6u32 {
        tokio::time::timeout(
            Duration::from_secs(5),
            new_node.write(&[message("I", k % QUEUES, format!("after-{k}"))]),
        )
        .await
        .expect("the majority answers in time")
        .expect("the majority accepts writes");
    }
    // Whatever the isolated leader appended, it never applied it.
    assert!(
        !contents(old_node, "I")
            .values()
            .flatten()
            .any(|(_, b)| b.as_ref() == ISOLATED.as_bytes()),
        "the isolated leader applied a write it could not commit"
    );

    c.partition().heal();
    let deadline = Instant::now() + Duration::from_secs(10);
    let leader = loop {
        let l = c.wait_for_leader(Duration::from_millis(500), None).await;
        let m = old_node.raft().metrics().borrow_watched().clone();
        if let Some(l) = l {
            if l != old && m.current_leader == Some(l) && m.state == ServerState::Follower {
                break l;
            }
        }
        assert!(
            Instant::now() < deadline,
            "n{old} did not rejoin as a follower: its state {:?}, its leader {:?}, the group's {l:?}",
            m.state,
            m.current_leader
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // One more write, so that the rejoined member's log is certainly
    // reconciled past the point it diverged.
    c.write(&[message("I", 1, "after-heal")], Duration::from_secs(5))
        .await
        .expect("write after heal");
    wait_converged(&c, Duration::from_secs(10)).await;

    let leader_node = c.node(leader).expect("running");
    let reference = contents(leader_node, "I");
    let mut expected: Vec<String> = (0..6)
        .map(|n| format!("before-{n}"))
        .chain((0..6).map(|k| format!("after-{k}")))
        .collect();
    expected.push("after-heal".into());
    let mut held: Vec<String> = reference
        .values()
        .flatten()
        .map(|(_, b)| String::from_utf8(b.to_vec()).expect("utf-8"))
        .collect();
    held.sort();
    expected.sort();
    assert_eq!(held, expected, "the leader's messages");
    let leader_log = log_of(leader_node);
    for node in c.running() {
        let id = node.id();
        assert_eq!(raft_running(node).await, Ok(()), "n{id}'s raft core");
        assert_eq!(contents(node, "I"), reference, "n{id}'s queues");
        let log = log_of(node);
        for e in &log {
            assert!(
                !contains(&e.3, ISOLATED.as_bytes()),
                "n{id}'s log still holds the isolated write at entry {} (term {})",
                e.0,
                e.1
            );
        }
        assert_eq!(log.len(), leader_log.len(), "n{id}'s log length");
        for (a, b) in log.iter().zip(&leader_log) {
            assert_eq!(a, b, "n{id}'s log differs from the leader n{leader}'s");
        }
    }
    c.shutdown().await;
}

// ---------------------------------------------------------------------------
// 3. A follower whose log tail was damaged by a crash.

#[derive(Clone, Copy, Debug)]
enum Damage {
    /// Zeros from the middle of the last entry to the end of its segment.
    TornTail,
    /// One flipped byte in the middle of the last entry.
    FlippedByte,
}

/// The durable position the commitlog checkpoint of a stopped member
/// records: recovery re-validates before it and cuts a damaged tail after.
fn checkpoint_durable_pos(root: &Path) -> u64 {
    let bytes = std::fs::read(root.join("checkpoint")).expect("read the checkpoint");
    assert_eq!(bytes.len(), 60, "checkpoint size");
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[24..32]);
    u64::from_le_bytes(w)
}

async fn a_follower_repairs_from_its_peers(damage: Damage) {
    let mut c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    let mut written = 0u32;
    for _ in 0..30 {
        c.write(
            &[message("T", written % QUEUES, format!("value-{written}"))],
            Duration::from_secs(5),
        )
        .await
        .expect("write");
        written += 1;
    }
    wait_converged(&c, Duration::from_secs(10)).await;
    let f = *c.ids().iter().find(|i| **i != leader).expect("a follower");

    // Kill the follower while its last entry is still past the durable
    // point (not yet flushed): a crash of the machine may then tear it.
    // Should the flusher have synced it meanwhile, write one more and retry.
    let mut target = None;
    for attempt in 0..5 {
        let node = c.node(f).expect("running");
        let cfg = node.store().config().clone();
        let log = node.store().commitlog();
        let last = log.bounds().last_index().expect("entries").0;
        let loc = log.location(last).expect("location");
        c.kill(f).await;
        let durable = checkpoint_durable_pos(&cfg.root);
        if loc.pos >= durable {
            target = Some((cfg, loc));
            break;
        }
        eprintln!(
            "attempt {attempt}: entry {last} at {} is already durable ({durable}); again",
            loc.pos
        );
        c.restart(f).await.expect("restart");
        c.write(
            &[message("T", written % QUEUES, format!("value-{written}"))],
            Duration::from_secs(5),
        )
        .await
        .expect("write");
        written += 1;
        wait_converged(&c, Duration::from_secs(10)).await;
    }
    let (cfg, loc) = target.expect("the follower's tail never stayed unflushed");

    let seg = cfg.segment_size;
    let base = loc.pos - loc.pos % seg;
    let path = cfg.root.join("commitlog").join(format!("{base:020}"));
    let mid = loc.pos - base + u64::from(loc.len) / 2;
    match damage {
        Damage::TornTail => {
            let len = std::fs::metadata(&path).expect("segment").len();
            assert!(len > mid, "segment {} is {len} bytes", path.display());
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .expect("open the segment");
            file.seek(SeekFrom::Start(mid)).expect("seek");
            file.write_all(&vec![0u8; (len - mid) as usize])
                .expect("zero the tail");
            file.sync_all().expect("sync");
        }
        Damage::FlippedByte => {
            let mut bytes = std::fs::read(&path).expect("read the segment");
            bytes[mid as usize] ^= 0x5a;
            std::fs::write(&path, bytes).expect("write the segment");
        }
    }

    // Recovery alone (the store opened by itself, as a restart opens it)
    // cuts exactly the damaged entry.
    {
        let store = MessageStore::open_with(
            cfg.clone(),
            OpenOptions {
                no_background: true,
                ..OpenOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{damage:?}: the damaged store does not open: {e}"));
        let b = store.commitlog().bounds();
        assert_eq!(
            b.next_index, loc.index,
            "{damage:?}: recovery should cut the log at the damaged entry {}",
            loc.index
        );
    }

    c.restart(f)
        .await
        .unwrap_or_else(|e| panic!("{damage:?}: the damaged follower does not restart: {e}"));
    for _ in 0..5 {
        c.write(
            &[message("T", written % QUEUES, format!("value-{written}"))],
            Duration::from_secs(10),
        )
        .await
        .unwrap_or_else(|e| panic!("{damage:?}: write after the follower restarted: {e}"));
        written += 1;
    }
    for (id, state) in raft_cores(&c).await {
        assert_eq!(
            state,
            Ok(()),
            "{damage:?}: n{id}'s raft core, after n{f} came back with entry {} cut",
            loc.index
        );
    }
    let converged = Instant::now();
    wait_converged(&c, Duration::from_secs(15)).await;
    eprintln!(
        "{damage:?}: converged {:?} after the writes",
        converged.elapsed()
    );

    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    let leader_node = c.node(leader).expect("running");
    let reference = contents(leader_node, "T");
    let count: usize = reference.values().map(Vec::len).sum();
    assert_eq!(count, written as usize, "messages the leader holds");
    let leader_log = log_of(leader_node);
    for node in c.running() {
        let id = node.id();
        assert_eq!(
            raft_running(node).await,
            Ok(()),
            "{damage:?}: n{id}'s raft core"
        );
        assert_eq!(contents(node, "T"), reference, "{damage:?}: n{id}'s queues");
        assert_eq!(log_of(node), leader_log, "{damage:?}: n{id}'s log");
    }
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_torn_tail_repairs_from_its_peers() {
    a_follower_repairs_from_its_peers(Damage::TornTail).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_corrupt_tail_repairs_from_its_peers() {
    a_follower_repairs_from_its_peers(Damage::FlippedByte).await;
}

// ---------------------------------------------------------------------------
// 6. A follower back from a partition does not unseat the leader (Pre-Vote).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_back_from_a_partition_leaves_the_leader_in_place() {
    let c = LocalCluster::start(3).await.expect("start");
    let ids = c.ids();
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("a leader");
    c.write(&[message("P", 0, "before")], Duration::from_secs(5))
        .await
        .expect("write");
    let term_before = c
        .node(leader)
        .expect("leader")
        .raft()
        .metrics()
        .borrow_watched()
        .current_term;
    let cut = *ids.iter().find(|i| **i != leader).expect("a follower");
    let cut_node = c.node(cut).expect("follower");

    // Cut off for five maximum election timeouts (300 ms each): without
    // Pre-Vote it would start an election, raising its term, each time.
    c.partition().isolate(cut, &ids);
    let until = Instant::now() + Duration::from_millis(1500);
    let mut stayed_follower = true;
    while Instant::now() < until {
        let m = cut_node.raft().metrics().borrow_watched().clone();
        stayed_follower &= m.state != ServerState::Leader;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cut_term = cut_node.raft().metrics().borrow_watched().current_term;
    assert!(stayed_follower, "the cut-off member made itself leader");
    assert_eq!(
        cut_term, term_before,
        "the cut-off member raised its term without a chance to win"
    );

    c.partition().heal();
    c.write(&[message("P", 1, "after")], Duration::from_secs(5))
        .await
        .expect("write after heal");
    wait_converged(&c, Duration::from_secs(10)).await;
    let m = c
        .node(leader)
        .expect("leader")
        .raft()
        .metrics()
        .borrow_watched()
        .clone();
    assert_eq!(m.state, ServerState::Leader, "the leader was unseated");
    assert_eq!(m.current_term, term_before, "the term moved");
    c.shutdown().await;
}
