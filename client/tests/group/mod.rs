//! What the tests against an embedded group of three share: the
//! deployment, the client configuration, and bounded waits.

use std::future::Future;
use std::time::Duration;

use raftmq_client::sdk::ClientConfig;
use raftmq_embedded::LocalDeployment;

/// Every wait in these tests is bounded by this.
pub const BOUND: Duration = Duration::from_secs(30);
/// Pause between two checks of a condition that has no event to await.
pub const POLL: Duration = Duration::from_millis(50);

pub async fn deployment() -> LocalDeployment {
    let d = LocalDeployment::start(3).await.expect("deployment starts");
    d.wait_for_leader(BOUND).await.expect("a leader");
    d
}

pub fn config(d: &LocalDeployment) -> ClientConfig {
    let mut c = ClientConfig::new(&d.namesrv_addr()).expect("config");
    c.long_polling_timeout = Duration::from_secs(1);
    c
}

/// Evaluates the call until it succeeds, while it fails with an error
/// that time can cure (brokers not registered yet, no leader yet); bounded.
#[macro_export]
macro_rules! until_ok {
    ($what:expr, $call:expr) => {{
        let deadline = tokio::time::Instant::now() + $crate::group::BOUND;
        loop {
            match tokio::time::timeout_at(deadline, $call).await {
                Ok(Ok(t)) => break t,
                Ok(Err(e)) if tokio::time::Instant::now() < deadline => {
                    let e: raftmq_client::sdk::ClientError = e;
                    let transient = e.is_retryable()
                        || matches!(e, raftmq_client::sdk::ClientError::TopicNotFound { .. });
                    assert!(transient, "{}: {e}", $what);
                    tokio::time::sleep($crate::group::POLL).await;
                }
                Ok(Err(e)) => panic!(
                    "{}: still failing after {:?}: {e}",
                    $what,
                    $crate::group::BOUND
                ),
                Err(_) => panic!("{}: no answer within {:?}", $what, $crate::group::BOUND),
            }
        }
    }};
}

pub async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, f).await {
        Ok(t) => t,
        Err(_) => panic!("{what}: not done within {BOUND:?}"),
    }
}
