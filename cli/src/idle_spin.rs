//! Polling for I/O a little longer before a worker thread sleeps.
//!
//! A message at one in flight crosses four processes (client, leader,
//! follower, leader, client), and on a virtual machine each hand-off to a
//! process asleep on an idle vCPU costs 15-25 us before it runs: the
//! sender's wake-up IPI, the halted vCPU's exit and entry. A worker that
//! has just woken is likely to be woken again soon (the follower's answer
//! follows the leader's append within tens of microseconds), so for a
//! short while after each wake-up it keeps polling for I/O instead of
//! sleeping: data that arrives then is read without any wake-up at all.
//!
//! ```text
//! worker:  park ── woken (I/O) ── runs tasks ── idle ─┬─ spin: poll I/O, sched_yield ─┐
//!                      │                              │  (work arrives: run it,       │
//!                 unpark hook ── spinner round        │   the idle clock restarts)    │
//!                                                     └─ `spin` of idle time passed ─ park
//! ```
//!
//! The spinner is one task, owned by the process's [`Tasks`] (it ends when
//! the process stops, between two rounds): it yields to tokio (whose worker then polls the
//! I/O driver without blocking before running it again) and to the kernel
//! (`sched_yield`, so another process runnable on this CPU goes first). A
//! round starts when a worker thread unparks and ends after `spin` without
//! other work, as soon as a `sched_yield` hands the CPU to another thread
//! (the CPU is wanted: under load spinning only competes), or after
//! [`MAX_ROUND_SPINS`] times `spin` in all. An idle process does not spin:
//! only a wake-up starts a round. A process whose spinning does not pay
//! (no work comes while it spins, round after round) pauses it for a while
//! ([`Pacing`]).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raftmq_tasks::Tasks;
use tokio::sync::Notify;

/// A turn of the runtime longer than this means other tasks ran in it:
/// the idle clock restarts.
const BUSY_TURN: Duration = Duration::from_micros(20);

/// A `sched_yield` longer than this means another thread ran: the round
/// ends (the CPU is wanted).
const GAVE_AWAY: Duration = Duration::from_micros(10);

/// A round lasts at most this many times the idle spin, busy or not.
pub const MAX_ROUND_SPINS: u32 = 20;

/// After this many rounds in a row in which no work came while spinning,
/// spinning pauses ...
const MISSES_BEFORE_PAUSE: u32 = 8;

/// ... for this many wake-ups, then is tried again.
const PAUSE_ROUNDS: u32 = 32;

/// Whether spinning has been paying: a round pays when work comes while
/// it spins. Spinning pauses after [`MISSES_BEFORE_PAUSE`] rounds in a row
/// that did not pay (a follower whose appends come every millisecond would
/// otherwise spin for nothing after each), and is tried again after
/// [`PAUSE_ROUNDS`] wake-ups.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacing {
    misses: u32,
    paused: u32,
}

impl Pacing {
    /// Whether the round that starts now spins.
    pub fn spin_now(&mut self) -> bool {
        if self.paused > 0 {
            self.paused -= 1;
            return false;
        }
        true
    }

    /// What the round that spun found.
    pub fn record(&mut self, paid: bool) {
        if paid {
            self.misses = 0;
            return;
        }
        self.misses += 1;
        if self.misses >= MISSES_BEFORE_PAUSE {
            self.misses = 0;
            self.paused = PAUSE_ROUNDS;
        }
    }
}

/// What the spinner shares with the runtime's unpark hook.
#[derive(Debug, Default)]
pub(crate) struct Spinner {
    wake: Notify,
    /// Rounds started.
    pub rounds: AtomicU64,
    /// Whether it waits for the next wake-up (not spinning).
    pub waiting: AtomicBool,
}

impl Spinner {
    /// Called by every worker thread as it wakes from sleep.
    pub fn unparked(&self) {
        self.wake.notify_one();
    }

    /// Runs rounds of spinning, each after a wake-up, until `stop`
    /// resolves. `stop` is looked at only between rounds: a round in
    /// progress ends as it would anyway (within `MAX_ROUND_SPINS` times
    /// `spin`), so stopping costs the spinning nothing.
    pub async fn run(self: Arc<Self>, spin: Duration, stop: impl Future<Output = ()>) {
        let longest = spin.saturating_mul(MAX_ROUND_SPINS);
        let mut pacing = Pacing::default();
        let mut stop = std::pin::pin!(stop);
        loop {
            self.waiting.store(true, Ordering::Release);
            tokio::select! {
                biased;
                () = &mut stop => return,
                () = self.wake.notified() => {}
            }
            self.waiting.store(false, Ordering::Release);
            self.rounds.fetch_add(1, Ordering::Relaxed);
            if pacing.spin_now() {
                pacing.record(spin_round(spin, longest).await);
            }
        }
    }
}

/// One round: spins until `spin` passes with no other work, the CPU is
/// wanted, or `longest` passes. Returns whether work came while it spun.
async fn spin_round(spin: Duration, longest: Duration) -> bool {
    let start = Instant::now();
    let mut idle_since = start;
    // Whether a turn found nothing to do yet: work after that is work the
    // spinning caught (what runs first is what woke the thread).
    let mut idled = false;
    let mut paid = false;
    loop {
        let before = Instant::now();
        std::thread::yield_now();
        let after = Instant::now();
        if after - before > GAVE_AWAY {
            // Another thread wanted this CPU: sleeping leaves it to them,
            // spinning would only compete.
            return paid;
        }
        tokio::task::yield_now().await;
        let now = Instant::now();
        if now - after > BUSY_TURN {
            idle_since = now;
            paid |= idled;
        } else {
            idled = true;
        }
        if now - idle_since >= spin || now - start >= longest {
            return paid;
        }
    }
}

/// A multi-thread tokio runtime with `workers` threads that, after each
/// wake-up, polls for I/O for `idle_spin` of idle time before sleeping
/// again (zero: sleeps at once). The spinner is a task of `owner`, and
/// ends when `owner` stops. Returns the spinner too, for tests.
pub(crate) fn build(
    workers: usize,
    idle_spin: Duration,
    owner: &Tasks,
) -> std::io::Result<(tokio::runtime::Runtime, Option<Arc<Spinner>>)> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_all();
    if idle_spin.is_zero() {
        return Ok((builder.build()?, None));
    }
    let spinner = Arc::new(Spinner::default());
    let hook = Arc::clone(&spinner);
    let runtime = builder.on_thread_unpark(move || hook.unparked()).build()?;
    let _in_runtime = runtime.enter();
    owner.spawn_graceful(
        "idle spinner",
        Arc::clone(&spinner).run(idle_spin, owner.stopping()),
    );
    Ok((runtime, Some(spinner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits until `cond` holds, checking every millisecond for at most
    /// `secs` seconds.
    fn wait_for(secs: u64, what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_wake_up_starts_a_round_that_ends_when_idle() {
        let owner = Tasks::new("test");
        let (runtime, spinner) = build(1, Duration::from_micros(500), &owner).expect("runtime");
        let spinner = spinner.expect("a spinner");
        wait_for(10, "the spinner to wait", || {
            spinner.waiting.load(Ordering::Acquire)
        });
        let rounds = spinner.rounds.load(Ordering::Relaxed);
        // Work from outside wakes the worker: a round starts, then ends
        // (500 us idle, 10 ms at most) with the runtime idle again. The
        // spinner says it waits just before the worker parks, so work sent
        // in between finds the worker awake and wakes nothing: send work
        // until a round starts (each attempt after a pause to park in).
        let deadline = Instant::now() + Duration::from_secs(10);
        for attempt in 0u32.. {
            let answer = runtime.block_on(runtime.spawn(async { 7 }));
            assert_eq!(answer.expect("task"), 7);
            if spinner.rounds.load(Ordering::Relaxed) > rounds {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no new round after {attempt} wake-ups"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        wait_for(10, "the round to end", || {
            spinner.waiting.load(Ordering::Acquire)
        });
    }

    #[test]
    fn a_timer_still_fires_while_it_spins() {
        let owner = Tasks::new("test");
        let (runtime, spinner) = build(1, Duration::from_millis(5), &owner).expect("runtime");
        assert!(spinner.is_some());
        let started = Instant::now();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), async {
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_micros(300)).await;
                }
            })
            .await
            .expect("twenty short sleeps end within 10 s");
        });
        assert!(started.elapsed() >= Duration::from_micros(6000));
    }

    #[test]
    fn spinning_pauses_after_rounds_that_do_not_pay_and_is_tried_again() {
        let mut p = Pacing::default();
        for _ in 0..MISSES_BEFORE_PAUSE - 1 {
            assert!(p.spin_now());
            p.record(false);
        }
        // A round that pays starts the count again.
        assert!(p.spin_now());
        p.record(true);
        for _ in 0..MISSES_BEFORE_PAUSE {
            assert!(p.spin_now());
            p.record(false);
        }
        for _ in 0..PAUSE_ROUNDS {
            assert!(!p.spin_now(), "paused");
        }
        assert!(p.spin_now(), "tried again after the pause");
    }

    #[test]
    fn no_spin_means_no_spinner() {
        let owner = Tasks::new("test");
        let (runtime, spinner) = build(2, Duration::ZERO, &owner).expect("runtime");
        assert!(spinner.is_none());
        assert_eq!(owner.running(), 0);
        let n = runtime.block_on(runtime.spawn(async { 1 + 1 }));
        assert_eq!(n.expect("task"), 2);
    }

    #[test]
    fn the_spinner_ends_when_its_owner_stops() {
        let owner = Tasks::new("test");
        let (runtime, spinner) = build(1, Duration::from_micros(500), &owner).expect("runtime");
        let spinner = spinner.expect("a spinner");
        assert_eq!(owner.running(), 1);
        // Mid-round or waiting, the stop ends it within the round's bound.
        runtime
            .block_on(owner.stop(Duration::from_secs(5)))
            .expect("the spinner ends");
        assert_eq!(owner.running(), 0);
        // It is gone for good: wake-ups start no more rounds.
        let rounds = spinner.rounds.load(Ordering::Relaxed);
        let n = runtime.block_on(runtime.spawn(async { 2 + 2 }));
        assert_eq!(n.expect("task"), 4);
        assert_eq!(spinner.rounds.load(Ordering::Relaxed), rounds);
    }
}
