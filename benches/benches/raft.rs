//! A three-member group in one process, 1 KiB messages, every write
//! acknowledged once a majority has it:
//! - msg/s and latency percentiles for ASYNC_FLUSH and SYNC_FLUSH with 1
//!   and with 256 writes in flight;
//! - failover: leader killed to first committed write on the new leader,
//!   over 20 runs.
//!
//! Run: `cargo bench -p raftmq-benches --bench raft` (about a minute).
//! `RAFTMQ_BENCH_SECS` sets the seconds per throughput run (default 5).

// A benchmark: its writers are joined before each run reports.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use raftmq_raft::{ClusterOptions, LocalCluster};
use raftmq_store::record::message::Message;
use raftmq_store::FlushMode;
use tokio::sync::Mutex;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn message(n: u64) -> Message {
    Message {
        queue_id: (n % 8) as u32,
        body: Bytes::from(vec![b'x'; 1024]),
        message_id: format!("{n:032X}"),
        ..Message::new("Bench".parse().expect("legal topic"))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn throughput(mode: FlushMode, in_flight: usize, secs: u64) {
    let c = Arc::new(
        LocalCluster::start_with(ClusterOptions {
            flush_mode: mode,
            small_files: false,
            ..ClusterOptions::default()
        })
        .await
        .expect("start"),
    );
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("leader");
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let tasks: Vec<_> = (0..in_flight)
        .map(|w| {
            let c = Arc::clone(&c);
            let latencies = Arc::clone(&latencies);
            tokio::spawn(async move {
                let node = c.node(leader).expect("leader");
                let mut mine = Vec::new();
                let mut n = w as u64;
                let per_write: usize = std::env::var("RAFTMQ_BENCH_BATCH")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1);
                while Instant::now() < deadline {
                    let batch: Vec<Message> =
                        (0..per_write as u64).map(|k| message(n + k)).collect();
                    let t = Instant::now();
                    node.write(&batch).await.expect("write");
                    let took = t.elapsed();
                    mine.extend(std::iter::repeat_n(took, per_write));
                    n += (in_flight * per_write) as u64;
                }
                latencies.lock().await.extend(mine);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer");
    }
    let elapsed = start.elapsed();
    let entries = c
        .node(leader)
        .map_or(0, |n| n.store().commitlog().bounds().next_index);
    let mut l = std::mem::take(&mut *latencies.lock().await);
    l.sort_unstable();
    println!(
        "{:<11} in flight {:>3}: {:>9.0} msg/s  p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}  ({} writes, {} log entries)",
        format!("{mode:?}"),
        in_flight,
        l.len() as f64 / elapsed.as_secs_f64(),
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l.last().copied().unwrap_or_default(),
        l.len(),
        entries
    );
    if let Ok(c) = Arc::try_unwrap(c) {
        c.shutdown().await;
    }
}

/// Leader killed -> first write committed by the new leader.
async fn failover_once() -> Duration {
    let mut c = LocalCluster::start(3).await.expect("start");
    let leader = c
        .wait_for_leader(Duration::from_secs(5), None)
        .await
        .expect("leader");
    c.write(&[message(0)], Duration::from_secs(5))
        .await
        .expect("write");
    let killed = Instant::now();
    c.kill(leader).await;
    c.write(&[message(1)], Duration::from_secs(10))
        .await
        .expect("write after failover");
    let gap = killed.elapsed();
    c.shutdown().await;
    gap
}

fn main() {
    let secs = std::env::var("RAFTMQ_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("3 members in one process, 1 KiB messages, majority-acked, {secs} s per run");
        // RAFTMQ_BENCH_ONLY=async-256 (say) runs just that case, for profiling.
        let only = std::env::var("RAFTMQ_BENCH_ONLY").ok();
        for mode in [FlushMode::Async, FlushMode::Sync] {
            for in_flight in [1, 256] {
                let name = format!("{}-{in_flight}", format!("{mode:?}").to_lowercase());
                if only.as_ref().is_none_or(|o| *o == name) {
                    throughput(mode, in_flight, secs).await;
                }
            }
        }
        if only.is_some() {
            return;
        }
        let mut gaps = Vec::new();
        for _ in 0..20 {
            gaps.push(failover_once().await);
        }
        gaps.sort_unstable();
        println!(
            "failover over {} runs: median {:.0?}, max {:.0?}, min {:.0?}",
            gaps.len(),
            percentile(&gaps, 0.5),
            gaps.last().copied().unwrap_or_default(),
            gaps[0]
        );
    });
}
