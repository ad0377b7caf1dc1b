//! Store benchmarks (issue targets in parentheses):
//! - append of 1 KiB messages, ASYNC_FLUSH, one thread (>= 1 GB/s payload)
//! - SYNC_FLUSH with 64 concurrent appenders of 1 KiB (>= 150,000 msg/s)
//! - consume-queue lookup plus message read by queue offset (>= 2,000,000 msg/s)
//! - recovery of a 1 GiB commitlog after a crash (< 1 s)
//!
//! Run: `cargo bench -p raftmq-benches --bench store`. Stores go under
//! `$RAFTMQ_BENCH_DIR` (default: the system temp dir).

// A bench: its appenders are awaited inside each measured iteration.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raftmq_store::commitlog::NewEntry;
use raftmq_store::config::FlushMode;
use raftmq_store::message_store::testing;
use raftmq_store::record::entry::EntryKind;
use raftmq_store::record::message::Message;
use raftmq_store::{MessageStore, OpenOptions, QueueOffset, StoreConfig};

const BODY: usize = 1024;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("RAFTMQ_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("tempdir"),
        None => tempfile::tempdir().expect("tempdir"),
    }
}

fn message(n: u64, queues: u32) -> Message {
    Message {
        queue_id: (n % u64::from(queues)) as u32,
        tag: Some("TagA".into()),
        keys: vec![format!("k{n}")],
        body: Bytes::from(vec![b'x'; BODY]),
        message_id: format!("{n:032X}"),
        born_host: "127.0.0.1:50000".into(),
        store_host: "127.0.0.1:30911".into(),
        born_timestamp_ms: 1_700_000_000_000,
        store_timestamp_ms: 1_700_000_000_000 + n as i64,
        ..Message::new("BenchTopic".parse().expect("legal topic"))
    }
}

fn open(dir: &std::path::Path, mode: FlushMode, background: bool) -> Arc<MessageStore> {
    let mut cfg = StoreConfig::new(dir);
    cfg.flush_mode = mode;
    MessageStore::open_with(
        cfg,
        OpenOptions {
            no_background: !background,
            ..OpenOptions::default()
        },
    )
    .expect("open")
}

fn append_async(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_async_1k");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    for batch in [1usize, 32] {
        g.throughput(Throughput::Bytes((BODY * batch) as u64));
        let dir = bench_dir();
        let store = open(dir.path(), FlushMode::Async, true);
        let msgs: Vec<Message> = (0..batch as u64).map(|n| message(n, 8)).collect();
        g.bench_with_input(
            BenchmarkId::new("messages_per_put", batch),
            &batch,
            |b, _| b.iter(|| testing::put(&store, &msgs).expect("put")),
        );
        store.close().expect("close");
    }
    g.finish();
}

/// The Raft write path alone: pre-encoded batches of 32 x 1 KiB appended to
/// the commitlog as entries (header, CRC, copy, entry index), no dispatch.
fn append_log_only(c: &mut Criterion) {
    let mut g = c.benchmark_group("commitlog_append_1k");
    g.sample_size(10).measurement_time(Duration::from_secs(8));
    const BATCH: usize = 32;
    g.throughput(Throughput::Bytes((BODY * BATCH) as u64));
    let dir = bench_dir();
    let store = open(dir.path(), FlushMode::Async, true);
    let msgs: Vec<Message> = (0..BATCH as u64).map(|n| message(n, 8)).collect();
    let body = store.encode_batch(&msgs, usize::MAX).expect("encode");
    let log = store.commitlog();
    g.bench_function("entries_of_32", |b| {
        b.iter(|| {
            let index = log.bounds().next_index;
            log.append(&[NewEntry {
                index,
                term: 1,
                kind: EntryKind::Messages,
                body: &body,
                crc: None,
            }])
            .expect("append")
        })
    });
    store.close().expect("close");
    g.finish();
}

fn append_sync_64(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_sync_1k");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    const WRITERS: u64 = 64;
    const PER_WRITER: u64 = 400;
    g.throughput(Throughput::Elements(WRITERS * PER_WRITER));
    let dir = bench_dir();
    let store = open(
        dir.path(),
        FlushMode::Sync,
        std::env::var_os("NOBG").is_none(),
    );
    // 64 appenders as tasks on a 2-thread runtime, as the broker runs them.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    g.bench_function("64_tasks", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..WRITERS)
                        .map(|w| {
                            let store = Arc::clone(&store);
                            tokio::spawn(async move {
                                let m = [message(w, 8)];
                                for _ in 0..PER_WRITER {
                                    testing::put_async(&store, &m).await.expect("put");
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.expect("writer");
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    // 64 blocking OS threads: the same work, paying a thread switch per
    // message on two cores.
    g.bench_function("64_threads", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let threads: Vec<_> = (0..WRITERS)
                    .map(|w| {
                        let store = Arc::clone(&store);
                        std::thread::spawn(move || {
                            let m = [message(w, 8)];
                            for _ in 0..PER_WRITER {
                                testing::put(&store, &m).expect("put");
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().expect("writer");
                }
                total += start.elapsed();
            }
            total
        })
    });
    store.close().expect("close");
    g.finish();
}

fn read_by_offset(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_by_queue_offset_1k");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    const N: u64 = 200_000;
    let dir = bench_dir();
    let store = open(dir.path(), FlushMode::Async, false);
    let batch: Vec<Message> = (0..32).map(|n| message(n, 1)).collect();
    for _ in 0..N / 32 {
        testing::put(&store, &batch).expect("put");
    }
    const READS: u64 = 10_000;
    g.throughput(Throughput::Elements(READS));
    // A consumer's pattern: consecutive offsets.
    let mut at = 0u64;
    g.bench_function("sequential", |b| {
        b.iter(|| {
            for _ in 0..READS {
                let m = store
                    .read_message("BenchTopic", 0, QueueOffset(at % N))
                    .expect("read");
                let v = m.view().expect("decode");
                assert_eq!(v.body().len(), BODY);
                at += 1;
            }
        })
    });
    // The worst case: every read misses the CPU caches.
    let mut at = 0u64;
    g.bench_function("random", |b| {
        b.iter(|| {
            for _ in 0..READS {
                let m = store
                    .read_message("BenchTopic", 0, QueueOffset(at % N))
                    .expect("read");
                let v = m.view().expect("decode");
                assert_eq!(v.body().len(), BODY);
                at = at.wrapping_add(7919);
            }
        })
    });
    g.finish();
}

/// Writes 1 GiB of 1 KiB messages with the flusher running, then drops the
/// store without a clean close, as a kill -9 would leave it.
fn crashed_store(dir: &std::path::Path) {
    let store = open(dir, FlushMode::Async, true);
    let batch: Vec<Message> = (0..32).map(|n| message(n, 8)).collect();
    let target = 1u64 << 30;
    while store.commitlog().bounds().end_pos < target {
        testing::put(&store, &batch).expect("put");
    }
}

fn recovery(c: &mut Criterion) {
    let mut g = c.benchmark_group("recovery");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("open_after_crash_1GiB", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = bench_dir();
                crashed_store(dir.path());
                let start = Instant::now();
                let store = open(dir.path(), FlushMode::Async, false);
                total += start.elapsed();
                assert!(store.commitlog().bounds().end_pos > 1 << 29);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    append_async,
    append_log_only,
    append_sync_64,
    read_by_offset,
    recovery
);
criterion_main!(benches);
