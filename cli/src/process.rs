//! What the `mqnamesrv` and `mqbroker` processes share: logging set-up and
//! waiting for the signal to stop.

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

/// A tokio runtime with `workers` threads that, after each wake-up, keeps
/// polling for I/O for `idle_spin` of idle time before it sleeps again
/// (zero: it sleeps at once). See [`crate::idle_spin`].
pub fn runtime(
    workers: usize,
    idle_spin: std::time::Duration,
) -> std::io::Result<tokio::runtime::Runtime> {
    crate::idle_spin::build(workers, idle_spin).map(|(runtime, _)| runtime)
}
