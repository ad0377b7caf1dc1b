use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::*;

#[tokio::test]
async fn stop_drops_a_pending_task_and_waits_for_it() {
    let tasks = Tasks::new("test");
    let dropped = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let flag = Flag(Arc::clone(&dropped));
    let handle = tasks.spawn("forever", async move {
        let _flag = flag;
        std::future::pending::<()>().await
    });
    assert_eq!(tasks.running(), 1);
    tasks.stop(Duration::from_secs(5)).await.unwrap();
    assert!(dropped.load(Ordering::SeqCst));
    assert!(handle.await.unwrap_err().is_cancelled());
    assert_eq!(tasks.running(), 0);
}

#[tokio::test]
async fn a_finished_task_returns_its_output() {
    let tasks = Tasks::new("test");
    let handle = tasks.spawn("answer", async { 42 });
    assert_eq!(handle.await.unwrap(), 42);
    assert_eq!(tasks.running(), 0);
}

#[tokio::test]
async fn a_graceful_task_sees_the_stop_and_finishes() {
    let tasks = Tasks::new("test");
    let stopping = tasks.stopping();
    let handle = tasks.spawn_graceful("drainer", async move {
        stopping.await;
        "drained"
    });
    tasks.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(handle.await.unwrap(), "drained");
}

#[tokio::test(start_paused = true)]
async fn stop_names_what_did_not_finish() {
    let tasks = Tasks::new("node");
    let child = tasks.child("session");
    // Ignores the stop: only the deadline ends the wait.
    let _stuck = child.spawn_graceful("stubborn", std::future::pending::<()>());
    let err = tasks.stop(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(err.0, vec!["node/session/stubborn".to_string()]);
}

#[tokio::test]
async fn a_child_stops_alone_and_with_its_parent() {
    let parent = Tasks::new("p");
    let first = parent.child("a");
    let second = parent.child("b");
    let a = first.spawn("a", std::future::pending::<()>());
    let b = second.spawn("b", std::future::pending::<()>());
    first.stop(Duration::from_secs(5)).await.unwrap();
    assert!(a.await.unwrap_err().is_cancelled());
    assert!(!second.is_stopping());
    parent.stop(Duration::from_secs(5)).await.unwrap();
    assert!(second.is_stopping());
    assert!(b.await.unwrap_err().is_cancelled());
}

#[tokio::test]
async fn a_task_spawned_after_stop_is_dropped_at_once() {
    let tasks = Tasks::new("test");
    tasks.stop(Duration::from_secs(1)).await.unwrap();
    let late = tasks.spawn("late", std::future::pending::<()>());
    assert!(late.await.unwrap_err().is_cancelled());
}

#[tokio::test]
async fn cancel_asks_without_waiting_and_stop_then_waits() {
    let tasks = Tasks::new("test");
    let child = tasks.child("c");
    let stopping = child.stopping();
    let graceful = child.spawn_graceful("drainer", async move {
        stopping.await;
        tokio::task::yield_now().await;
        "drained"
    });
    let dropped = tasks.spawn("forever", std::future::pending::<()>());
    tasks.cancel();
    assert!(tasks.is_stopping() && child.is_stopping());
    assert!(dropped.await.unwrap_err().is_cancelled());
    assert_eq!(graceful.await.unwrap(), "drained");
    tasks.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(tasks.running() + child.running(), 0);
}
