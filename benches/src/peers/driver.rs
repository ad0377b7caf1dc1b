//! The closed-loop load driver: `inflight` tasks, each sending one message and
//! awaiting its acknowledgement before sending the next, until `messages` were
//! sent or the time limit passed. Progress goes to stderr every second.

// A load generator: its workers and progress printer are joined or aborted by the run that spawns them.
#![allow(clippy::disallowed_methods)]

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// What a closed-loop run produced.
#[derive(Debug, Default)]
pub struct LoopResult {
    /// Latency of every acknowledged message, microseconds, in no order.
    pub latencies_us: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

/// Counters shared between the workers and the progress printer.
#[derive(Debug, Default)]
pub struct Progress {
    pub acked: AtomicU64,
    pub errors: AtomicU64,
}

/// Prints `label: N acked (R/s in the last second), E errors` on stderr every
/// second until the returned handle is aborted.
pub fn spawn_progress(label: &'static str, progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut last = 0;
        loop {
            tick.tick().await;
            let acked = progress.acked.load(Ordering::Relaxed);
            let errors = progress.errors.load(Ordering::Relaxed);
            eprintln!(
                "[{label}] {:>4.0} s: {acked} acked, {} in the last second, {errors} errors",
                start.elapsed().as_secs_f64(),
                acked - last,
            );
            last = acked;
        }
    })
}

/// Runs `op` `messages` times (or until `time_limit`), `inflight` at once.
/// `op(i)` sends message `i` and resolves once it is acknowledged.
pub async fn closed_loop<F, Fut>(
    label: &'static str,
    messages: u64,
    inflight: usize,
    time_limit: Option<Duration>,
    op: F,
) -> LoopResult
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Progress::default());
    let first_error = Arc::new(Mutex::new(None::<String>));
    let start = Instant::now();
    let deadline = time_limit.map(|t| start + t);
    let printer = spawn_progress(label, progress.clone());
    let per_worker = (messages as usize / inflight.max(1)).saturating_add(1);

    let mut workers = Vec::with_capacity(inflight);
    for _ in 0..inflight.max(1) {
        let (op, next, progress, first_error) = (
            op.clone(),
            next.clone(),
            progress.clone(),
            first_error.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker.min(1 << 20));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= messages || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let sent = Instant::now();
                match op(i).await {
                    Ok(()) => {
                        latencies.push(sent.elapsed().as_micros() as u64);
                        progress.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        progress.errors.fetch_add(1, Ordering::Relaxed);
                        let mut first = first_error.lock().await;
                        if first.is_none() {
                            *first = Some(format!("{e:#}"));
                        }
                    }
                }
            }
            latencies
        }));
    }

    let mut result = LoopResult::default();
    for worker in workers {
        match worker.await {
            Ok(latencies) => result.latencies_us.extend(latencies),
            Err(e) => {
                result.errors += 1;
                result
                    .first_error
                    .get_or_insert_with(|| format!("worker: {e}"));
            }
        }
    }
    result.elapsed = start.elapsed();
    printer.abort();
    result.errors += progress.errors.load(Ordering::Relaxed);
    if let Some(e) = first_error.lock().await.take() {
        result.first_error.get_or_insert(e);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_every_message_once_and_counts_errors() {
        let result = closed_loop("test", 1000, 16, None, |i| async move {
            if i % 100 == 0 {
                anyhow::bail!("refused {i}")
            }
            Ok(())
        })
        .await;
        assert_eq!(result.latencies_us.len(), 990);
        assert_eq!(result.errors, 10);
        assert!(result.first_error.is_some_and(|e| e.starts_with("refused")));
    }

    #[tokio::test]
    async fn stops_at_the_time_limit() {
        let result = closed_loop(
            "test",
            u64::MAX,
            4,
            Some(Duration::from_millis(100)),
            |_| async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            },
        )
        .await;
        assert!(result.latencies_us.len() < 1000);
        assert!(result.elapsed < Duration::from_secs(2));
    }
}
