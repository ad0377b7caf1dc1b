//! The fault suite: a nameserver and a three-member group as real
//! processes, producers sending unique values and consumers draining, faults
//! injected on a schedule, and a checker over the history. Four
//! workloads, each on its own topic: normal messages, delay messages
//! (`timers.rs`) and transactions (`transactions.rs`), the last two held
//! by the broker until due or committed (ADR 0012), and FIFO message
//! groups consumed by a FIFO consumer group (`fifo.rs`, ADR 0013).
//!
//! ```text
//!  producers ──send v-p-seq──▶ ┌──────── group ────────┐ ──receive/ack──▶ consumers
//!   delayed   d-p-seq (due)    │ n0      n1      n2    │                  (every delivery,
//!   tx        t-p-seq (decided)└───────────────────────┘                   per topic)
//!      ▲ check-back: the recorded decision │
//!      └───────────────────────────────────┘
//!                   injector: kill -9 / SIGSTOP / isolate / disk full / damaged commitlog
//!  end: drain until every acked value (due, committed) was delivered, then
//!  audit every queue of each topic from offset 0 with a PullConsumer; the
//!  records' checks give the Report.
//! ```
//!
//! [`run`] does one run: `tests/tests/faults.rs` with a short fixed
//! schedule, `src/bin/faults.rs` with random faults for N minutes.

pub mod cluster;
pub mod delivery;
pub mod fifo;
pub mod held;
pub mod history;
pub mod injector;
pub mod timers;
pub mod transactions;
pub mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cluster::Cluster;
pub use history::{History, Report};
pub use injector::{Fault, Rng};
use workload::Kind;

/// The topic the normal workload uses.
pub const TOPIC: &str = "FaultSuite";

/// Which faults, in what order.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// These faults in order, then load without faults until the end.
    Fixed(Vec<Fault>),
    /// A random fault of these kinds after each gap, until the end.
    Random(Vec<Fault>),
}

/// One run's settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `mqnamesrv`, `mqbroker` and `mqadmin` are.
    pub bins: PathBuf,
    /// How long the producers send.
    pub load: Duration,
    /// Quiet time between one fault's end (group healthy) and the next.
    pub gap: Duration,
    /// The faults.
    pub schedule: Schedule,
    /// Producers, each sending one value at a time.
    pub producers: usize,
    /// Pause between one producer's values.
    pub interval: Duration,
    /// Consumers in the group.
    pub consumers: usize,
    /// Producers of delay messages (0: no timer workload).
    pub timer_producers: usize,
    /// Transactional producers (0: no transaction workload).
    pub tx_producers: usize,
    /// Pause between one delay or transactional producer's messages.
    pub held_interval: Duration,
    /// FIFO producers (0: no FIFO workload), pausing `held_interval`
    /// between messages.
    pub fifo_producers: usize,
    /// Seed of the fault choices and the held workloads' draws.
    pub seed: u64,
    /// Print each fault as it is applied.
    pub verbose: bool,
}

/// How much load, of which workloads.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Producers of normal messages.
    pub producers: usize,
    /// Pause between one normal producer's values.
    pub interval: Duration,
    /// Consumers of each workload's topic.
    pub consumers: usize,
    /// Producers of delay messages (0: none, no topic, no consumer).
    pub timer_producers: usize,
    /// Transactional producers (0: none).
    pub tx_producers: usize,
    /// Pause between one delay or transactional producer's messages.
    pub held_interval: Duration,
    /// FIFO producers (0: none, no topic, no consumer group).
    pub fifo_producers: usize,
    /// Seed of the held producers' draws (due times, decisions).
    pub seed: u64,
}

/// The workload on a running cluster: producers and consumers on their own
/// runtime, sharing one [`History`].
pub struct Load {
    rt: tokio::runtime::Runtime,
    namesrv: String,
    history: workload::Shared,
    kinds: Vec<Kind>,
    stop_producers: Arc<AtomicBool>,
    stop_consumers: Arc<AtomicBool>,
    producers: Vec<tokio::task::JoinHandle<()>>,
    /// Transactional producers: they answer check-backs until the drain ends.
    answerers: Vec<tokio::task::JoinHandle<()>>,
    consumers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Creates [`TOPIC`], starts `consumers` consumers, waits until each
    /// has received once, then starts `producers` producers sending one
    /// value each every `interval`. Normal messages only.
    pub fn start(
        cluster: &Cluster,
        producers: usize,
        interval: Duration,
        consumers: usize,
    ) -> Load {
        Load::start_with(
            cluster,
            &Shape {
                producers,
                interval,
                consumers,
                timer_producers: 0,
                tx_producers: 0,
                held_interval: interval,
                fifo_producers: 0,
                seed: 1,
            },
        )
    }

    /// [`Load::start`] with the held workloads of `shape` too, each on its
    /// own topic with its own `consumers` consumers.
    pub fn start_with(cluster: &Cluster, shape: &Shape) -> Load {
        // `finish` drains through these consumers: without one, nothing
        // acknowledged could ever be delivered.
        assert!(shape.consumers > 0, "a load needs a consumer for its drain");
        let mut kinds = vec![Kind::Normal];
        if shape.timer_producers > 0 {
            kinds.push(Kind::Delayed);
        }
        if shape.tx_producers > 0 {
            kinds.push(Kind::Transactions);
        }
        for k in &kinds {
            cluster.create_topic(k.topic());
        }
        if shape.fifo_producers > 0 {
            kinds.push(Kind::Fifo);
            cluster.create_fifo(fifo::FIFO_TOPIC, fifo::FIFO_GROUP);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let history = workload::Shared::default();
        let stop_producers = Arc::new(AtomicBool::new(false));
        let stop_consumers = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicU64::new(0));
        let ns = cluster.namesrv().to_owned();
        let consumers: Vec<_> = kinds
            .iter()
            .flat_map(|k| std::iter::repeat_n(*k, shape.consumers))
            .enumerate()
            .map(|(i, kind)| match kind {
                Kind::Fifo => rt.spawn(fifo::consume(
                    ns.clone(),
                    i as u64,
                    history.clone(),
                    ready.clone(),
                    stop_consumers.clone(),
                )),
                _ => rt.spawn(workload::consume(
                    ns.clone(),
                    kind,
                    history.clone(),
                    ready.clone(),
                    stop_consumers.clone(),
                )),
            })
            .collect();
        let want = consumers.len() as u64;
        crate::wait_for(
            "every consumer's first receive",
            Duration::from_secs(60),
            || (ready.load(Ordering::SeqCst) >= want).then_some(()),
        );
        let mut producers: Vec<_> = (0..shape.producers)
            .map(|id| {
                rt.spawn(workload::produce(
                    ns.clone(),
                    TOPIC.into(),
                    id,
                    shape.interval,
                    history.clone(),
                    stop_producers.clone(),
                ))
            })
            .collect();
        // Each held producer draws from a seed of its own.
        let seed = |kind: u64, id: usize| shape.seed ^ ((kind << 32) | (id as u64 + 1));
        producers.extend((0..shape.timer_producers).map(|id| {
            rt.spawn(held::produce_delayed(
                ns.clone(),
                Kind::Delayed.topic().into(),
                id,
                shape.held_interval,
                seed(1, id),
                history.clone(),
                stop_producers.clone(),
            ))
        }));
        producers.extend((0..shape.fifo_producers).map(|id| {
            rt.spawn(fifo::produce(
                ns.clone(),
                id,
                shape.held_interval,
                history.clone(),
                stop_producers.clone(),
            ))
        }));
        let answerers = (0..shape.tx_producers)
            .map(|id| {
                rt.spawn(held::produce_transactions(
                    ns.clone(),
                    Kind::Transactions.topic().into(),
                    id,
                    shape.held_interval,
                    seed(2, id),
                    history.clone(),
                    stop_producers.clone(),
                    stop_consumers.clone(),
                ))
            })
            .collect();
        Load {
            rt,
            namesrv: ns,
            history,
            kinds,
            stop_producers,
            stop_consumers,
            producers,
            answerers,
            consumers,
        }
    }

    /// The runtime the load runs on (for admin calls).
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.rt.handle()
    }

    /// The record so far.
    pub fn history(&self) -> std::sync::MutexGuard<'_, History> {
        workload::lock(&self.history)
    }

    /// Stops the producers, waits until the group is healthy and every
    /// acknowledged value was delivered (60 s at most; delay messages once
    /// due, transactions once committed, left-open ones by the check-back),
    /// stops the consumers and the transactional producers, audits every
    /// queue of each topic from offset 0 and judges the run.
    /// `say` gets progress lines. Panics if the group does not settle.
    pub fn finish(
        self,
        cluster: &Cluster,
        faults: &BTreeMap<String, u32>,
        say: impl Fn(String),
    ) -> Report {
        self.stop_producers.store(true, Ordering::SeqCst);
        self.rt.block_on(async {
            for p in self.producers {
                let _ = tokio::time::timeout(Duration::from_secs(90), p).await;
            }
        });
        assert!(
            cluster.wait_healthy(Duration::from_secs(60)),
            "the group did not settle\n{}",
            cluster.digest()
        );
        // Drain: every acknowledged value delivered, or the deadline (a
        // message received and not acked comes back after its invisible
        // time).
        let drain = Instant::now() + Duration::from_secs(60);
        while Instant::now() < drain && workload::lock(&self.history).missing() > 0 {
            std::thread::sleep(Duration::from_millis(200));
        }
        say(format!(
            "drained, {} missing",
            workload::lock(&self.history).missing()
        ));
        self.stop_consumers.store(true, Ordering::SeqCst);
        self.rt.block_on(async {
            for c in self.consumers.into_iter().chain(self.answerers) {
                let _ = tokio::time::timeout(Duration::from_secs(30), c).await;
            }
        });
        // The normal workload first: it always runs.
        let mut report = Report::default();
        for kind in self.kinds {
            let expect = {
                let h = workload::lock(&self.history);
                match kind {
                    Kind::Normal => h.acked_values().clone(),
                    Kind::Delayed => h.timers.acked_values().clone(),
                    Kind::Transactions => h.transactions.committed(),
                    Kind::Fifo => h.fifo.acked_values().clone(),
                }
            };
            let audit = self.rt.block_on(workload::audit(
                &self.namesrv,
                kind.topic(),
                &expect,
                Duration::from_secs(90),
            ));
            let h = workload::lock(&self.history);
            match kind {
                Kind::Normal => report = h.check(&audit, faults),
                Kind::Delayed => report.delayed = Some(h.timers.check(&audit.queues)),
                Kind::Transactions => {
                    report.transactions = Some(h.transactions.check(&audit.queues))
                }
                Kind::Fifo => report.fifo = Some(h.fifo.check(&audit.queues)),
            }
        }
        self.rt.shutdown_timeout(Duration::from_secs(5));
        report
    }
}

/// The end of a workload's report line: OK or VIOLATED, the commonest
/// errors, and a few of each kind of violation found.
fn write_verdict(
    f: &mut std::fmt::Formatter<'_>,
    ok: bool,
    errors: &[(String, u64)],
    samples: &[(&str, &Vec<String>)],
) -> std::fmt::Result {
    f.write_str(if ok { "OK" } else { "VIOLATED" })?;
    if !errors.is_empty() {
        write!(f, " errors e.g. {errors:?}")?;
    }
    for (what, sample) in samples {
        if !sample.is_empty() {
            write!(f, " {what} e.g. {sample:?}")?;
        }
    }
    Ok(())
}

/// Runs the workload and the faults; returns the checked report. Panics
/// only when the harness itself cannot go on (the group never comes up).
pub fn run(opts: &Options) -> Report {
    let mut cluster = Cluster::start(&opts.bins);
    let say = |line: String| {
        if opts.verbose {
            eprintln!("[faults] {line}");
        }
    };
    say(format!("cluster up in {}", cluster.dir().display()));
    let load = Load::start_with(
        &cluster,
        &Shape {
            producers: opts.producers,
            interval: opts.interval,
            consumers: opts.consumers,
            timer_producers: opts.timer_producers,
            tx_producers: opts.tx_producers,
            held_interval: opts.held_interval,
            fifo_producers: opts.fifo_producers,
            seed: opts.seed,
        },
    );
    let started = Instant::now();
    let mut rng = Rng::new(opts.seed);
    let mut faults: BTreeMap<String, u32> = BTreeMap::new();
    let mut next = 0usize;
    let mut harness_errors = 0u32;
    while started.elapsed() < opts.load {
        std::thread::sleep(opts.gap.min(opts.load.saturating_sub(started.elapsed())));
        if started.elapsed() >= opts.load {
            break;
        }
        let fault = match &opts.schedule {
            Schedule::Fixed(list) => list.get(next).copied(),
            Schedule::Random(kinds) => Some(kinds[rng.below(kinds.len())]),
        };
        let Some(fault) = fault else { continue };
        next += 1;
        match injector::apply(fault, &mut cluster, load.handle(), &mut rng) {
            Ok(a) => {
                say(format!(
                    "{:>6.1}s {}: {}",
                    started.elapsed().as_secs_f64(),
                    a.name,
                    a.detail
                ));
                *faults.entry(a.name).or_default() += 1;
            }
            Err(e) => {
                say(format!("{} not applied: {e}", fault.name()));
                harness_errors += 1;
            }
        }
        if !cluster.wait_healthy(Duration::from_secs(60)) {
            say("the group is not healthy 60 s after a fault".into());
            harness_errors += 1;
        }
    }
    say(format!("load done after {:?}; draining", started.elapsed()));
    let mut report = load.finish(&cluster, &faults, say);
    report.harness_errors = harness_errors;
    for i in 0..cluster.len() {
        cluster.stop(i);
    }
    report
}
