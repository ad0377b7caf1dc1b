//! What the `mqnamesrv` and `mqbroker` processes share: logging set-up,
//! waiting for the signal to stop, and the [`Process`]: the runtime and the
//! one owner of every task in it.
//!
//! ```text
//!   Process::new ── runtime (+ idle spinner, a task of the process)
//!        │
//!        └─ run(|tasks| main) ── main starts servers with `tasks`,
//!                                waits for SIGTERM, stops them
//!                             ── then: tasks.stop(STOP_WITHIN), naming
//!                                what did not end, and the runtime ends
//! ```

use std::future::Future;
use std::time::Duration;

use raftmq_tasks::Tasks;

/// How long [`Process::run`] waits, after `main` returned, for the tasks
/// still running to end.
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

/// Logs to standard output, plain text, at the level in `RAFTMQ_LOG`
/// (`info` when unset; any `tracing` filter, e.g. `raftmq_raft=debug`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAFTMQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .init();
}

/// Returns on SIGTERM or SIGINT.
pub async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

/// A server process: its tokio runtime and the owner of every task that
/// runs on it. Servers are handed [`Process::tasks`] (or a child of it)
/// and spawn through it; nothing outlives [`Process::run`].
pub struct Process {
    runtime: tokio::runtime::Runtime,
    tasks: Tasks,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("tasks", &self.tasks)
            .finish_non_exhaustive()
    }
}

impl Process {
    /// A process named `name` (in the logs of its tasks), on a runtime with
    /// `workers` threads that, after each wake-up, keep polling for I/O for
    /// `idle_spin` of idle time before they sleep again (zero: at once; see
    /// [`crate::idle_spin`]).
    pub fn new(name: &str, workers: usize, idle_spin: Duration) -> std::io::Result<Self> {
        let tasks = Tasks::new(name);
        let (runtime, _) = crate::idle_spin::build(workers, idle_spin, &tasks)?;
        Ok(Self { runtime, tasks })
    }

    /// The owner of the process's tasks.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Runs `main`, given the process's tasks, to its end; then stops every
    /// task still running, waiting at most [`STOP_WITHIN`] and logging the
    /// names of those that did not end, and shuts the runtime down.
    pub fn run<M, F>(self, main: M) -> F::Output
    where
        M: FnOnce(Tasks) -> F,
        F: Future,
    {
        let Self { runtime, tasks } = self;
        runtime.block_on(async move {
            let out = main(tasks.clone()).await;
            // `stop` logs what is left; the runtime's shutdown drops it.
            let _ = tasks.stop(STOP_WITHIN).await;
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_stops_what_main_left_running() {
        let process = Process::new("test", 1, Duration::from_micros(50)).expect("process");
        // The idle spinner.
        assert_eq!(process.tasks().running(), 1);
        let owner = process.tasks().clone();
        let left = process.run(|tasks| async move {
            tasks.spawn("forever", std::future::pending::<()>());
            tasks
                .child("server")
                .spawn("forever", std::future::pending::<()>());
            tasks.running()
        });
        assert_eq!(left, 2);
        assert!(owner.is_stopping());
        assert_eq!(owner.running(), 0);
    }
}
