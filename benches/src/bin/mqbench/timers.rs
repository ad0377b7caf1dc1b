//! `mqbench timers`: how late timed messages reach a consumer.
//!
//! ```text
//!  senders (W tasks)                 broker                  consumers (C tasks)
//!  message i at start + i/R  --->  held until due  --->  receive, ack; lateness =
//!  due = now + U(0, S), in a                              receive time - due
//!  property (`due_ms`)
//! ```
//!
//! R timed messages a second for D seconds, each due at a time drawn
//! uniformly from the next S seconds and written into a user property, so
//! the consumer knows it. The senders keep to a fixed schedule (message i is
//! sent at start + i/R) whatever the broker's answers, at most W
//! outstanding. The run waits until every message whose send was
//! acknowledged has been received, or the last due time plus `--wait-secs`.
//! Reported: lateness p50/p99/max, messages received before their due time
//! (must be none), missing, duplicates, and how far the senders fell behind
//! their schedule.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use raftmq_client::sdk::{
    ClientConfig, FilterExpression, Message, Producer, ReceivedMessage, SimpleConsumer,
};

/// The user properties a timed message carries.
const SEQ: &str = "mqbench_seq";
const DUE_MS: &str = "mqbench_due_ms";

#[derive(Args, Debug)]
pub struct TimersArgs {
    /// Nameserver addresses, host:port;host:port
    #[arg(long)]
    namesrv: String,
    /// The topic (use a new one per run: other messages are counted apart)
    #[arg(long)]
    topic: String,
    /// The consumer group
    #[arg(long)]
    group: String,
    /// Timed messages sent a second
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// Each message is due within this many seconds of its send
    #[arg(long, default_value_t = 120)]
    spread_secs: u64,
    /// Seconds of sending
    #[arg(long, default_value_t = 60)]
    duration_secs: u64,
    /// Body size in bytes
    #[arg(long, default_value_t = 256)]
    size: usize,
    /// Sends outstanding at most
    #[arg(long, default_value_t = 256)]
    inflight: usize,
    /// Receivers running at once (each a long poll)
    #[arg(long, default_value_t = 4)]
    consumers: usize,
    /// Messages per receive
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Seconds to wait for stragglers after the last due time
    #[arg(long, default_value_t = 60)]
    wait_secs: u64,
    /// Print the final report as one JSON object on stdout
    #[arg(long)]
    json: bool,
    /// Worker threads of mqbench's runtime
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
}

/// What happened to message i: not sent yet, acknowledged, or refused.
const UNSENT: u8 = 0;
const SENT: u8 = 1;
const FAILED: u8 = 2;

/// The state of one run, shared by senders, consumers and the reporter.
struct Tally {
    sent: Vec<AtomicU8>,
    received: Vec<AtomicBool>,
    sent_ok: AtomicU64,
    send_errors: AtomicU64,
    received_ok: AtomicU64,
    duplicates: AtomicU64,
    /// Messages of the topic without our properties (an earlier run's).
    others: AtomicU64,
    early: AtomicU64,
    /// The most any message came before its due time, µs.
    max_early_us: AtomicU64,
    /// The most a send started after its place in the schedule, µs.
    max_behind_us: AtomicU64,
    /// The latest due time of a sent message, ms since the epoch.
    last_due_ms: AtomicI64,
    /// Lateness (receive time - due time), µs.
    lateness: Mutex<Histogram<u64>>,
    /// Send call to acknowledgement, µs.
    send_latency: Mutex<Histogram<u64>>,
}

impl Tally {
    fn new(total: usize) -> Result<Self> {
        Ok(Self {
            sent: (0..total).map(|_| AtomicU8::new(UNSENT)).collect(),
            received: (0..total).map(|_| AtomicBool::new(false)).collect(),
            sent_ok: AtomicU64::new(0),
            send_errors: AtomicU64::new(0),
            received_ok: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            others: AtomicU64::new(0),
            early: AtomicU64::new(0),
            max_early_us: AtomicU64::new(0),
            max_behind_us: AtomicU64::new(0),
            last_due_ms: AtomicI64::new(0),
            lateness: Mutex::new(Histogram::new_with_bounds(1, 3_600_000_000, 3)?),
            send_latency: Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3)?),
        })
    }

    /// Counts one received message at `at_us` (µs since the epoch).
    fn receive(&self, m: &ReceivedMessage, at_us: i64) {
        let props = m.properties();
        let parsed = props
            .get(SEQ)
            .and_then(|s| s.parse::<usize>().ok())
            .zip(props.get(DUE_MS).and_then(|d| d.parse::<i64>().ok()));
        let Some((seq, due_ms)) = parsed.filter(|(seq, _)| *seq < self.received.len()) else {
            self.others.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if self.received[seq].swap(true, Ordering::Relaxed) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.received_ok.fetch_add(1, Ordering::Relaxed);
        let late_us = at_us - due_ms * 1000;
        if late_us < 0 {
            self.early.fetch_add(1, Ordering::Relaxed);
            self.max_early_us
                .fetch_max(late_us.unsigned_abs(), Ordering::Relaxed);
        } else {
            let _ = self.lateness.lock().record(late_us.max(1) as u64);
        }
    }

    /// Sent and acknowledged, not received.
    fn missing(&self) -> u64 {
        self.sent
            .iter()
            .zip(&self.received)
            .filter(|(s, r)| s.load(Ordering::Relaxed) == SENT && !r.load(Ordering::Relaxed))
            .count() as u64
    }
}

fn epoch_us() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A well-mixed 64-bit value of `x` (splitmix64's finaliser): the due
/// times, reproducible and spread without a random-number crate.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub async fn run(a: TimersArgs) -> Result<()> {
    let total = usize::try_from(a.rate.saturating_mul(a.duration_secs))?;
    if total == 0 {
        bail!("--rate and --duration-secs must be above zero");
    }
    let spread_ms = a.spread_secs.saturating_mul(1000).max(1);
    let mut config = ClientConfig::new(&a.namesrv).context("nameserver addresses")?;
    config.long_polling_timeout = Duration::from_secs(5);
    let producer = Arc::new(
        Producer::start(config.clone(), &[a.topic.as_str()])
            .await
            .context("starting the producer")?,
    );
    // A plain message first, so the topic exists (created on first send)
    // before the consumers ask for it; they count it among `others`.
    producer
        .send(Message::new(a.topic.clone(), "warm-up"))
        .await
        .context("sending the warm-up message")?;
    let consumer = Arc::new(
        SimpleConsumer::start(config, &a.group)
            .await
            .context("starting the consumer")?,
    );
    consumer
        .subscribe(&a.topic, FilterExpression::all())
        .await
        .context("subscribing")?;
    let tally = Arc::new(Tally::new(total)?);
    let done = Arc::new(AtomicBool::new(false));

    let mut receivers = Vec::new();
    for _ in 0..a.consumers.max(1) {
        let (consumer, tally, done, batch) = (
            Arc::clone(&consumer),
            Arc::clone(&tally),
            Arc::clone(&done),
            a.batch,
        );
        receivers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                match consumer.receive(batch, Duration::from_secs(60)).await {
                    Ok(msgs) => {
                        let at = epoch_us();
                        for m in &msgs {
                            tally.receive(m, at);
                        }
                        if !msgs.is_empty() {
                            if let Err(e) = consumer.ack_batch(&msgs).await {
                                eprintln!("ack failed: {e}");
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("receive failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }

    let body = Bytes::from(vec![b'x'; a.size]);
    let next = Arc::new(AtomicU64::new(0));
    let start = tokio::time::Instant::now();
    let nanos_per_msg = 1e9 / a.rate as f64;
    let mut senders = Vec::new();
    for _ in 0..a.inflight.max(1) {
        let (producer, tally, next, body, topic) = (
            Arc::clone(&producer),
            Arc::clone(&tally),
            Arc::clone(&next),
            body.clone(),
            a.topic.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = usize::try_from(i).ok().filter(|i| *i < total) else {
                    break;
                };
                let at = start + Duration::from_nanos((i as f64 * nanos_per_msg) as u64);
                tokio::time::sleep_until(at).await;
                let behind = tokio::time::Instant::now().saturating_duration_since(at);
                tally
                    .max_behind_us
                    .fetch_max(behind.as_micros() as u64, Ordering::Relaxed);
                let due_ms = epoch_us() / 1000 + 1 + (mix(i) % spread_ms) as i64;
                let due = SystemTime::UNIX_EPOCH + Duration::from_millis(due_ms as u64);
                let m = Message::new(topic.clone(), body.clone())
                    .with_property(SEQ, i.to_string())
                    .with_property(DUE_MS, due_ms.to_string())
                    .with_delivery_time(due);
                let t = Instant::now();
                match producer.send(m).await {
                    Ok(_) => {
                        tally.sent[slot].store(SENT, Ordering::Relaxed);
                        tally.sent_ok.fetch_add(1, Ordering::Relaxed);
                        tally.last_due_ms.fetch_max(due_ms, Ordering::Relaxed);
                        let us = t.elapsed().as_micros().max(1) as u64;
                        let _ = tally.send_latency.lock().record(us);
                    }
                    Err(e) => {
                        tally.sent[slot].store(FAILED, Ordering::Relaxed);
                        if tally.send_errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("send failed: {e}");
                        }
                    }
                }
            }
        }));
    }

    // Progress a second, until every acknowledged message has come or the
    // wait after the last due time is over.
    let mut sending = true;
    let (mut last_sent, mut last_recv) = (0, 0);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        if sending && senders.iter().all(|s| s.is_finished()) {
            sending = false;
        }
        let (sent, recv) = (
            tally.sent_ok.load(Ordering::Relaxed),
            tally.received_ok.load(Ordering::Relaxed),
        );
        let lateness_p99_ms = tally.lateness.lock().value_at_quantile(0.99) as f64 / 1000.0;
        eprintln!(
            "[{:>4.0}s] sent {:>6}/s ({sent} in all)  received {:>6}/s ({recv})  early {}  send errors {}  late p99 {lateness_p99_ms:.1} ms  behind {:.1} ms",
            start.elapsed().as_secs_f64(),
            sent - last_sent,
            recv - last_recv,
            tally.early.load(Ordering::Relaxed),
            tally.send_errors.load(Ordering::Relaxed),
            tally.max_behind_us.load(Ordering::Relaxed) as f64 / 1000.0,
        );
        (last_sent, last_recv) = (sent, recv);
        if sending {
            continue;
        }
        let wait_over = epoch_us() / 1000
            > tally.last_due_ms.load(Ordering::Relaxed) + a.wait_secs as i64 * 1000;
        if recv >= sent || wait_over {
            break;
        }
    }
    done.store(true, Ordering::Relaxed);
    for r in &receivers {
        r.abort();
    }
    for s in senders {
        s.await?;
    }
    report(&a, &tally, start.elapsed());
    if let Ok(c) = Arc::try_unwrap(consumer) {
        c.shutdown().await;
    }
    if let Ok(p) = Arc::try_unwrap(producer) {
        p.shutdown().await;
    }
    Ok(())
}

fn report(a: &TimersArgs, t: &Tally, elapsed: Duration) {
    let late = t.lateness.lock();
    let send = t.send_latency.lock();
    let ms = |us: u64| us as f64 / 1000.0;
    let sent = t.sent_ok.load(Ordering::Relaxed);
    let figures = [
        ("rate", a.rate as f64),
        ("spread_secs", a.spread_secs as f64),
        ("duration_secs", a.duration_secs as f64),
        ("sent", sent as f64),
        ("send_errors", t.send_errors.load(Ordering::Relaxed) as f64),
        ("received", t.received_ok.load(Ordering::Relaxed) as f64),
        ("missing", t.missing() as f64),
        ("duplicates", t.duplicates.load(Ordering::Relaxed) as f64),
        ("others", t.others.load(Ordering::Relaxed) as f64),
        ("early", t.early.load(Ordering::Relaxed) as f64),
        ("max_early_ms", ms(t.max_early_us.load(Ordering::Relaxed))),
        ("late_p50_ms", ms(late.value_at_quantile(0.5))),
        ("late_p90_ms", ms(late.value_at_quantile(0.9))),
        ("late_p99_ms", ms(late.value_at_quantile(0.99))),
        ("late_p999_ms", ms(late.value_at_quantile(0.999))),
        ("late_max_ms", ms(late.max())),
        ("send_p50_ms", ms(send.value_at_quantile(0.5))),
        ("send_p99_ms", ms(send.value_at_quantile(0.99))),
        (
            "max_behind_schedule_ms",
            ms(t.max_behind_us.load(Ordering::Relaxed)),
        ),
        ("seconds", elapsed.as_secs_f64()),
    ];
    if a.json {
        let fields: Vec<String> = figures
            .iter()
            .map(|(k, v)| format!("\"{k}\":{}", round(*v)))
            .collect();
        println!("{{\"kind\":\"timers\",{}}}", fields.join(","));
    } else {
        for (k, v) in figures {
            println!("{k}: {}", round(v));
        }
    }
}

/// Three decimals at most, none for whole numbers.
fn round(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}
