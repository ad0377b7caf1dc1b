//! `mqbench`: load for a raftmq cluster through the Rust SDK, with the
//! figures users compare brokers by: rate, the latency distribution, and
//! the broker CPU each message costs.
//!
//! ```text
//! mqbench produce --namesrv ADDR --topic T --size BYTES --messages N --inflight W [--batch B] [--json] [--threads N]
//!                 [--property K=V ...] [--match-every N] [--message-groups M]
//! mqbench consume --namesrv ADDR --topic T --group G --messages N [--sql EXPR] [--check-order] [--json]
//! mqbench e2e     --namesrv ADDR --topic T --group G --messages N --inflight W [--json]
//! mqbench timers  --namesrv ADDR --topic T --group G --rate R --spread-secs S --duration-secs D [--json]
//! ```
//!
//! `produce` sends one message per call from the application's side and
//! keeps W sends outstanding, each awaited for its acknowledgement (the SDK
//! coalesces outstanding sends on the wire); `--batch B` uses the SDK's
//! batch call instead. `--delay-secs S` makes every message a timed one,
//! held by the broker S seconds; `--transactional` sends each message in a
//! transaction of its own (begin, send, commit; W transactions in flight).
//! `--property K=V` sets a user property on every message and
//! `--match-every N` marks every Nth one `match=yes` (the rest `match=no`),
//! so that `consume --sql "match = 'yes'"` drains a known share of a topic
//! filtered by the broker (`--messages` is then what the filter selects).
//! `--message-groups M` makes every message a FIFO one, message i in
//! group `g<i % M>` (the SDK pins a group to one queue). `consume
//! --check-order` counts, per message group, first deliveries at a lower
//! queue offset than one delivered before (a FIFO consumer group must show
//! none). `timers` measures how late timed messages reach a consumer (see
//! `timers.rs`). A progress line a second goes to stderr; the final
//! report to stdout, or one JSON object with `--json`. `--server-pids`
//! adds the CPU the broker processes spent per acknowledged message.

// A load generator: its senders and progress printer are joined or aborted by the run that spawns them.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use raftmq_client::sdk::{
    ClientConfig, FilterExpression, Message, Producer, SimpleConsumer, TransactionProducer,
    TransactionResolution, TransactionalMessage,
};

// The timers measurement, in a file of its own beside this one.
#[path = "mqbench/timers.rs"]
mod timers;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "mqbench",
    version,
    about = "Load and latency for a raftmq cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Send N messages keeping W sends outstanding
    Produce(ProduceArgs),
    /// Drain N messages (a backlog) with receive + ack
    Consume(ConsumeArgs),
    /// Send and receive at once; latency from send to receive
    E2e(E2eArgs),
    /// Timed messages at a steady rate: how late consumers get them
    Timers(timers::TimersArgs),
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Nameserver addresses, host:port;host:port
    #[arg(long)]
    namesrv: String,
    /// The topic
    #[arg(long)]
    topic: String,
    /// Messages in all
    #[arg(long)]
    messages: u64,
    /// Print the final report as one JSON object on stdout
    #[arg(long)]
    json: bool,
    /// Broker process ids (comma-separated): report their CPU per message
    #[arg(long, value_delimiter = ',')]
    server_pids: Vec<u32>,
    /// Worker threads of mqbench's runtime. One keeps the client to a core
    /// at most (it needs about a third of one at 100,000 msg/s), leaving the
    /// rest to brokers on the same machine, and spares cross-thread wake-ups
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
}

#[derive(Args, Debug)]
struct ProduceArgs {
    #[command(flatten)]
    common: Common,
    /// Body size in bytes
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Sends outstanding at once
    #[arg(long, default_value_t = 256)]
    inflight: usize,
    /// Send batches of B messages with the SDK's batch call
    #[arg(long)]
    batch: Option<usize>,
    /// SendMessage requests the SDK keeps in flight per broker group
    #[arg(long, default_value_t = raftmq_client::sdk::BatchLimits::default().max_in_flight)]
    requests: usize,
    /// Make every message a timed one, due this many seconds after its send
    #[arg(long, conflicts_with = "transactional")]
    delay_secs: Option<u64>,
    /// Send each message in a transaction of its own: begin, send, commit
    #[arg(long, conflicts_with = "batch")]
    transactional: bool,
    /// Make every message a FIFO one: message i in message group g<i % M>
    #[arg(long, conflicts_with_all = ["delay_secs", "transactional"])]
    message_groups: Option<u64>,
    /// A user property on every message, KEY=VALUE (repeatable)
    #[arg(long = "property", value_parser = key_value)]
    properties: Vec<(String, String)>,
    /// Message i gets the property match=yes when i is a multiple of N,
    /// match=no otherwise (a share of 1/N for SQL92 drains)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    match_every: Option<u64>,
}

/// `KEY=VALUE`.
fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}`: expected KEY=VALUE")),
    }
}

#[derive(Args, Debug)]
struct ConsumeArgs {
    #[command(flatten)]
    common: Common,
    /// The consumer group
    #[arg(long)]
    group: String,
    /// Receivers running at once
    #[arg(long, default_value_t = 4)]
    inflight: usize,
    /// Messages per receive
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Count first deliveries of a message group at a lower queue offset
    /// than one delivered before (reported as out_of_order)
    #[arg(long)]
    check_order: bool,
    /// Receive only the messages that pass this SQL92 filter (evaluated by
    /// the broker), e.g. "match = 'yes'"
    #[arg(long)]
    sql: Option<String>,
}

#[derive(Args, Debug)]
struct E2eArgs {
    #[command(flatten)]
    common: Common,
    /// The consumer group
    #[arg(long)]
    group: String,
    /// Body size in bytes
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Sends outstanding at once
    #[arg(long, default_value_t = 1)]
    inflight: usize,
}

/// What a run measured.
struct Run {
    ok: AtomicU64,
    errors: AtomicU64,
    bytes: AtomicU64,
    latency: Mutex<Histogram<u64>>,
    started: Instant,
    /// When the last acknowledgement came, in µs since `started`; 0 before
    /// the first.
    last_ok_us: AtomicU64,
    /// The longest time between two acknowledgements, µs: what a failover
    /// costs the application.
    max_gap_us: AtomicU64,
    /// `consume --check-order`: first deliveries of a message group below
    /// one delivered before.
    out_of_order: Option<AtomicU64>,
}

impl Run {
    fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(Self {
            ok: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            latency: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
            started: Instant::now(),
            last_ok_us: AtomicU64::new(0),
            max_gap_us: AtomicU64::new(0),
            out_of_order: None,
        }))
    }

    /// A run that also counts message groups delivered out of order.
    fn checking_order() -> Result<Arc<Self>> {
        let mut run = Self::new()?;
        if let Some(r) = Arc::get_mut(&mut run) {
            r.out_of_order = Some(AtomicU64::new(0));
        }
        Ok(run)
    }

    fn record(&self, n: u64, bytes: u64, took: Duration) {
        let now = u64::try_from(self.started.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let prev = self.last_ok_us.fetch_max(now, Ordering::Relaxed);
        if prev > 0 {
            self.max_gap_us
                .fetch_max(now.saturating_sub(prev), Ordering::Relaxed);
        }
        self.ok.fetch_add(n, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let mut h = self.latency.lock();
        let _ = h.record_n(us, n);
    }
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the name: state is 0, utime 11, stime 12 (clock ticks).
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant of the running system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks / if hz > 0 { hz as f64 } else { 100.0 })
}

fn cpu_total(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|p| cpu_seconds(*p)).sum()
}

/// Prints progress every second until `done`.
fn progress(run: Arc<Run>, total: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut last = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let ok = run.ok.load(Ordering::Relaxed);
            eprintln!(
                "[{:>4.0}s] {:>9} msg/s  total {:>10}/{}  errors {}",
                start.elapsed().as_secs_f64(),
                ok - last,
                ok,
                total,
                run.errors.load(Ordering::Relaxed)
            );
            last = ok;
        }
    })
}

fn report(kind: &str, run: &Run, elapsed: Duration, cpu: Option<f64>, json: bool) {
    let ok = run.ok.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = ok as f64 / secs;
    let mb = run.bytes.load(Ordering::Relaxed) as f64 / secs / 1_000_000.0;
    let h = run.latency.lock();
    let q = |p: f64| h.value_at_quantile(p);
    let cpu_us = cpu.map(|c| c * 1e6 / ok.max(1) as f64);
    let gap_us = run.max_gap_us.load(Ordering::Relaxed);
    let out_of_order = run.out_of_order.as_ref().map(|n| n.load(Ordering::Relaxed));
    if json {
        let cpu_field = cpu_us.map_or(String::new(), |c| {
            format!(",\"server_cpu_us_per_msg\":{c:.1}")
        });
        let order_field = out_of_order.map_or(String::new(), |n| format!(",\"out_of_order\":{n}"));
        println!(
            "{{\"kind\":\"{kind}\",\"messages\":{ok},\"seconds\":{secs:.3},\"msgs_per_sec\":{rate:.0},\"mb_per_sec\":{mb:.2},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"max_gap_us\":{},\"errors\":{}{cpu_field}{order_field}}}",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            h.max(),
            gap_us,
            run.errors.load(Ordering::Relaxed)
        );
    } else {
        println!("{kind}: {ok} messages in {secs:.2} s: {rate:.0} msg/s, {mb:.1} MB/s");
        println!(
            "latency us: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            h.max()
        );
        println!(
            "longest gap between acknowledgements: {:.1} ms",
            gap_us as f64 / 1000.0
        );
        println!("errors: {}", run.errors.load(Ordering::Relaxed));
        if let Some(c) = cpu_us {
            println!("broker CPU per message: {c:.1} us (all listed processes)");
        }
        if let Some(n) = out_of_order {
            println!("message groups out of order: {n} first deliveries");
        }
    }
}

/// Per message group, the queue and offset of the latest first delivery:
/// what `consume --check-order` compares against.
#[derive(Default)]
struct OrderCheck {
    last: std::collections::HashMap<String, (String, i32, i64)>,
}

impl OrderCheck {
    /// Counts the messages of `msgs` that come below an earlier delivery
    /// of their group in the same queue.
    fn out_of_order(&mut self, msgs: &[raftmq_client::sdk::ReceivedMessage]) -> u64 {
        let mut bad = 0;
        for m in msgs {
            let Some(g) = m.message_group() else {
                continue;
            };
            let at = (m.broker().to_owned(), m.queue_id(), m.queue_offset());
            match self.last.get_mut(g) {
                Some(last) if last.0 == at.0 && last.1 == at.1 && at.2 < last.2 => bad += 1,
                Some(last) => *last = at,
                None => {
                    self.last.insert(g.to_owned(), at);
                }
            }
        }
        bad
    }
}

/// What `produce` sends through: a plain producer, or one that sends each
/// message in a transaction of its own.
enum Sender {
    Plain(Producer),
    Transactional(TransactionProducer),
}

impl Sender {
    async fn start(a: &ProduceArgs) -> Result<Self> {
        let c = &a.common;
        let mut config = ClientConfig::new(&c.namesrv).context("nameserver addresses")?;
        config.batch.max_in_flight = a.requests.max(1);
        let topics = [c.topic.as_str()];
        Ok(if a.transactional {
            // Every transaction is committed at once; a check-back (one left
            // open by a lost commit) is answered the same way.
            let checker =
                Arc::new(|_: TransactionalMessage| async { TransactionResolution::Commit });
            Self::Transactional(
                TransactionProducer::start(config, &topics, checker)
                    .await
                    .context("starting the transactional producer")?,
            )
        } else {
            Self::Plain(
                Producer::start(config, &topics)
                    .await
                    .context("starting the producer")?,
            )
        })
    }

    /// Sends `msgs`: with the batch call when `batch_call`, else one by
    /// one; each in a transaction of its own (begin, send, commit) on a
    /// transactional producer.
    async fn send(
        &self,
        msgs: Vec<Message>,
        batch_call: bool,
    ) -> Result<(), raftmq_client::sdk::ClientError> {
        match self {
            Self::Plain(p) if batch_call => p.send_batch(msgs).await.map(|_| ()),
            Self::Plain(p) => {
                for m in msgs {
                    p.send(m).await?;
                }
                Ok(())
            }
            Self::Transactional(p) => {
                for m in msgs {
                    let mut tx = p.begin();
                    tx.send(m).await?;
                    tx.commit().await?;
                }
                Ok(())
            }
        }
    }

    async fn shutdown(self) {
        match self {
            Self::Plain(p) => p.shutdown().await,
            Self::Transactional(p) => p.shutdown().await,
        }
    }
}

async fn produce(a: ProduceArgs) -> Result<()> {
    let c = &a.common;
    let producer = Arc::new(Sender::start(&a).await?);
    let body = Bytes::from(vec![b'x'; a.size]);
    let run = Run::new()?;
    let next = Arc::new(AtomicU64::new(0));
    let ticker = progress(Arc::clone(&run), c.messages);
    let cpu0 = cpu_total(&c.server_pids);
    let start = Instant::now();
    let per_call = a.batch.unwrap_or(1).max(1) as u64;
    let delay = a.delay_secs.map(Duration::from_secs);
    let groups = a.message_groups.filter(|n| *n > 0);
    let batch_call = a.batch.is_some();
    let properties = Arc::new(a.properties.clone());
    let match_every = a.match_every;
    let mut tasks = Vec::with_capacity(a.inflight);
    for _ in 0..a.inflight.max(1) {
        let (producer, run, next, body, topic, properties) = (
            Arc::clone(&producer),
            Arc::clone(&run),
            Arc::clone(&next),
            body.clone(),
            c.topic.clone(),
            Arc::clone(&properties),
        );
        let total = c.messages;
        tasks.push(tokio::spawn(async move {
            loop {
                let from = next.fetch_add(per_call, Ordering::Relaxed);
                if from >= total {
                    break;
                }
                let n = per_call.min(total - from);
                let msgs = (from..from + n)
                    .map(|i| {
                        let mut m = Message::new(topic.clone(), body.clone());
                        for (k, v) in properties.iter() {
                            m = m.with_property(k.clone(), v.clone());
                        }
                        if let Some(every) = match_every {
                            let hit = i.is_multiple_of(every);
                            m = m.with_property("match", if hit { "yes" } else { "no" });
                        }
                        match (delay, groups) {
                            (Some(d), _) => m.with_delivery_delay(d),
                            (None, Some(g)) => m.with_message_group(format!("g{}", i % g)),
                            (None, None) => m,
                        }
                    })
                    .collect();
                let t = Instant::now();
                match producer.send(msgs, batch_call).await {
                    Ok(()) => run.record(n, n * body.len() as u64, t.elapsed()),
                    Err(e) => {
                        if run.errors.fetch_add(n, Ordering::Relaxed) < 5 {
                            eprintln!("send failed: {e}");
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    let cpu = cpu0.and_then(|c0| Some(cpu_total(&c.server_pids)? - c0));
    ticker.abort();
    let kind = if a.transactional {
        "produce-transactional"
    } else if delay.is_some() {
        "produce-timed"
    } else if groups.is_some() {
        "produce-fifo"
    } else {
        "produce"
    };
    report(kind, &run, elapsed, cpu, c.json);
    if let Ok(p) = Arc::try_unwrap(producer) {
        p.shutdown().await;
    }
    Ok(())
}

async fn consume(a: ConsumeArgs) -> Result<()> {
    let c = &a.common;
    let mut config = ClientConfig::new(&c.namesrv).context("nameserver addresses")?;
    // A drained backlog shows as empty receives: do not wait long for them.
    config.long_polling_timeout = Duration::from_secs(1);
    let consumer = Arc::new(
        SimpleConsumer::start(config, &a.group)
            .await
            .context("starting the consumer")?,
    );
    let filter = match &a.sql {
        Some(e) => FilterExpression::sql(e).context("the --sql expression")?,
        None => FilterExpression::all(),
    };
    consumer
        .subscribe(&c.topic, filter)
        .await
        .context("subscribing")?;
    let run = if a.check_order {
        Run::checking_order()?
    } else {
        Run::new()?
    };
    let order = Arc::new(Mutex::new(OrderCheck::default()));
    let ticker = progress(Arc::clone(&run), c.messages);
    let cpu0 = cpu_total(&c.server_pids);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    let mut tasks = Vec::new();
    for _ in 0..a.inflight.max(1) {
        let (consumer, run, order) = (Arc::clone(&consumer), Arc::clone(&run), Arc::clone(&order));
        let (total, batch) = (c.messages, a.batch);
        tasks.push(tokio::spawn(async move {
            let mut empty = 0;
            while run.ok.load(Ordering::Relaxed) < total && Instant::now() < deadline {
                let t = Instant::now();
                match consumer.receive(batch, Duration::from_secs(60)).await {
                    Ok(msgs) if msgs.is_empty() => {
                        empty += 1;
                        if empty > 3 {
                            break; // the backlog is drained
                        }
                    }
                    Ok(msgs) => {
                        empty = 0;
                        if let Some(n) = &run.out_of_order {
                            // Recorded before the ack: after it, the next of
                            // a group may arrive at another receiver.
                            n.fetch_add(order.lock().out_of_order(&msgs), Ordering::Relaxed);
                        }
                        let bytes: u64 = msgs.iter().map(|m| m.body().len() as u64).sum();
                        match consumer.ack_batch(&msgs).await {
                            Ok(()) => run.record(msgs.len() as u64, bytes, t.elapsed()),
                            Err(e) => {
                                run.errors.fetch_add(msgs.len() as u64, Ordering::Relaxed);
                                eprintln!("ack failed: {e}");
                            }
                        }
                    }
                    Err(e) => {
                        run.errors.fetch_add(1, Ordering::Relaxed);
                        eprintln!("receive failed: {e}");
                    }
                }
            }
        }));
    }
    // The run ends when the last message is in, not when the last receiver
    // notices: the others may be waiting out a long poll.
    let elapsed = loop {
        if run.ok.load(Ordering::Relaxed) >= c.messages || tasks.iter().all(|t| t.is_finished()) {
            break start.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let cpu = cpu0.and_then(|c0| Some(cpu_total(&c.server_pids)? - c0));
    for t in &tasks {
        t.abort();
    }
    ticker.abort();
    let kind = if a.sql.is_some() {
        "consume-sql92"
    } else {
        "consume"
    };
    report(kind, &run, elapsed, cpu, c.json);
    if run.ok.load(Ordering::Relaxed) < c.messages {
        bail!(
            "drained {} of {} messages",
            run.ok.load(Ordering::Relaxed),
            c.messages
        );
    }
    Ok(())
}

async fn e2e(a: E2eArgs) -> Result<()> {
    let c = &a.common;
    let config = ClientConfig::new(&c.namesrv).context("nameserver addresses")?;
    let consumer = SimpleConsumer::start(config.clone(), &a.group)
        .await
        .context("starting the consumer")?;
    consumer
        .subscribe(&c.topic, FilterExpression::all())
        .await
        .context("subscribing")?;
    let producer = Arc::new(
        Producer::start(config, &[c.topic.as_str()])
            .await
            .context("starting the producer")?,
    );
    let run = Run::new()?;
    let ticker = progress(Arc::clone(&run), c.messages);
    let body = Bytes::from(vec![b'x'; a.size]);
    let epoch = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..a.inflight.max(1) {
        let (producer, next, body, topic, total) = (
            Arc::clone(&producer),
            Arc::clone(&next),
            body.clone(),
            c.topic.clone(),
            c.messages,
        );
        senders.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let sent_at = epoch.elapsed().as_micros().to_string();
                let m = Message::new(topic.clone(), body.clone()).with_property("sent_us", sent_at);
                let _ = producer.send(m).await;
            }
        }));
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs(600);
    while run.ok.load(Ordering::Relaxed) < c.messages && Instant::now() < deadline {
        let msgs = consumer.receive(64, Duration::from_secs(60)).await?;
        let now = epoch.elapsed().as_micros();
        for m in &msgs {
            if let Some(sent) = m
                .properties()
                .get("sent_us")
                .and_then(|v| v.parse::<u128>().ok())
            {
                let took =
                    Duration::from_micros(u64::try_from(now.saturating_sub(sent)).unwrap_or(0));
                run.record(1, m.body().len() as u64, took);
            }
        }
        consumer.ack_batch(&msgs).await?;
    }
    for s in senders {
        s.await?;
    }
    ticker.abort();
    report("e2e", &run, start.elapsed(), None, c.json);
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::Produce(a) => a.common.threads,
        Command::Consume(a) => a.common.threads,
        Command::E2e(a) => a.common.threads,
        Command::Timers(a) => a.threads,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(threads))
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.command {
            Command::Produce(a) => produce(a).await,
            Command::Consume(a) => consume(a).await,
            Command::E2e(a) => e2e(a).await,
            Command::Timers(a) => timers::run(a).await,
        }
    })
}
