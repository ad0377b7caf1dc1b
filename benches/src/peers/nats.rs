//! NATS JetStream: publishes awaited for their PubAck, and a pull-consumer drain.
//!
//! The stream is file-backed with 3 replicas (by default) on one subject, as
//! a raftmq topic is replicated by its Raft group; `publish` recreates it so
//! every run starts from an empty stream.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use async_nats::jetstream::{self, consumer, stream};
use async_nats::ServerAddr;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::json;

use super::cpu::CpuMeter;
use super::driver::{closed_loop, spawn_progress, Progress};
use super::report::{Percentiles, Report};

/// Where and what to publish.
#[derive(Debug, Clone)]
pub struct Target {
    /// `nats://127.0.0.1:4222,nats://...`: any member of the cluster.
    pub servers: String,
    pub stream: String,
    pub subject: String,
    pub replicas: usize,
}

/// Options of `peerbench nats`.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub size: usize,
    pub messages: u64,
    pub inflight: usize,
    pub time_limit: Option<Duration>,
    /// Publishes before the measured run, not counted (they stay in the stream).
    pub warmup: u64,
    /// Keep the stream and what it holds instead of recreating it.
    pub keep_stream: bool,
    pub server_pids: Vec<u32>,
}

/// How `nats-drain` acknowledges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AckMode {
    /// Every message (AckExplicit): what a consumer that processes one
    /// message at a time does.
    Each,
    /// The last message of each batch (AckAll): a cumulative offset commit,
    /// as a RocketMQ consumer commits offsets.
    All,
    /// No acks (AckNone).
    None,
}

/// Options of `peerbench nats-drain`.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    pub messages: u64,
    pub batch: usize,
    pub ack: AckMode,
    /// Stop when no message came for this long.
    pub idle: Duration,
    pub server_pids: Vec<u32>,
}

const DRAIN_CONSUMER: &str = "peerbench-drain";

async fn connect(target: &Target) -> Result<(async_nats::Client, jetstream::Context)> {
    let addrs = target
        .servers
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| ServerAddr::from_str(s).with_context(|| format!("bad NATS server address {s:?}")))
        .collect::<Result<Vec<_>>>()?;
    if addrs.is_empty() {
        bail!("no NATS server given");
    }
    let client = async_nats::ConnectOptions::new()
        .name("peerbench")
        .connection_timeout(Duration::from_secs(5))
        .connect(addrs)
        .await
        .with_context(|| format!("connecting to {}", target.servers))?;
    let js = jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .build(client.clone());
    Ok((client, js))
}

/// The stream's leader and replicas, as the server reports them.
async fn cluster_note(js: &jetstream::Context, name: &str) -> serde_json::Value {
    match js.get_stream(name).await {
        Ok(mut s) => match s.info().await {
            Ok(info) => json!({
                "leader": info.cluster.as_ref().and_then(|c| c.leader.clone()),
                "replicas": info.cluster.as_ref().map(|c| c.replicas.len() + 1),
                "messages_in_stream": info.state.messages,
            }),
            Err(e) => json!(format!("stream info: {e}")),
        },
        Err(e) => json!(format!("stream lookup: {e}")),
    }
}

/// Creates the stream (deleting an existing one of the same name first) and
/// waits until it takes writes.
async fn recreate_stream(js: &jetstream::Context, target: &Target) -> Result<()> {
    match js.delete_stream(&target.stream).await {
        Ok(_) => {}
        Err(e) => match e.kind() {
            jetstream::context::DeleteStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND => {}
            // The create below fails if the stream is really still there.
            _ => eprintln!("[nats] deleting stream {}: {e}", target.stream),
        },
    }
    js.create_stream(stream::Config {
        name: target.stream.clone(),
        subjects: vec![target.subject.clone()],
        storage: stream::StorageType::File,
        num_replicas: target.replicas,
        ..Default::default()
    })
    .await
    .with_context(|| {
        format!(
            "creating stream {} ({} replicas, file storage)",
            target.stream, target.replicas
        )
    })?;
    Ok(())
}

/// `peerbench nats`: publishes `messages` messages of `size` bytes, `inflight`
/// outstanding, each awaited for its PubAck.
pub async fn publish(target: &Target, opts: &PublishOptions) -> Result<Report> {
    let (client, js) = connect(target).await?;
    if !opts.keep_stream {
        recreate_stream(&js, target).await?;
    }
    let payload = Bytes::from(vec![b'x'; opts.size]);
    let subject = target.subject.clone();

    // The new stream may need a moment to elect its leader: the first
    // publish is retried for up to 10 s.
    let ready_by = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = async {
            let ack = js.publish(subject.clone(), payload.clone()).await?;
            ack.await?;
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => break,
            Err(e) if Instant::now() < ready_by => {
                eprintln!("[nats] first publish: {e:#}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.context("first publish")),
        }
    }

    // Warm-up, not measured: the connection, the stream leader, the route.
    let warm_start = Instant::now();
    for _ in 0..opts.warmup {
        let ack = js.publish(subject.clone(), payload.clone()).await?;
        ack.await.context("warm-up publish")?;
    }
    if opts.warmup > 0 {
        eprintln!(
            "[nats] warm-up: {} publishes in {:.2} s",
            opts.warmup,
            warm_start.elapsed().as_secs_f64()
        );
    }

    let server_cpu = if opts.server_pids.is_empty() {
        None
    } else {
        Some(CpuMeter::start(&opts.server_pids)?)
    };
    let client_cpu = CpuMeter::start(&[std::process::id()])?;
    let op_js = js.clone();
    let subject: async_nats::Subject = subject.into();
    let mut result = closed_loop(
        "nats",
        opts.messages,
        opts.inflight,
        opts.time_limit,
        move |_| {
            let (js, subject, payload) = (op_js.clone(), subject.clone(), payload.clone());
            async move {
                let ack = js.publish(subject, payload).await?;
                ack.await?;
                Ok(())
            }
        },
    )
    .await;
    let server_cpu_s = server_cpu.map(|m| m.seconds()).transpose()?;
    let client_cpu_s = client_cpu.seconds()?;

    let connected = client.server_info();
    let notes = vec![
        (
            "connected_to",
            json!(format!(
                "{} (nats-server {})",
                connected.server_name, connected.version
            )),
        ),
        ("stream", cluster_note(&js, &target.stream).await),
    ];
    Ok(Report {
        bench: "nats",
        size: opts.size,
        inflight: opts.inflight,
        requested: opts.messages,
        acked: result.latencies_us.len() as u64,
        errors: result.errors,
        first_error: result.first_error.take(),
        elapsed: result.elapsed,
        latency: Percentiles::of(&mut result.latencies_us),
        server_cpu_s,
        client_cpu_s: Some(client_cpu_s),
        notes,
    })
}

/// `peerbench nats-drain`: reads up to `messages` messages of the stream from
/// the start with a durable pull consumer, in batches, acknowledging them.
pub async fn drain(target: &Target, opts: &DrainOptions) -> Result<Report> {
    let (client, js) = connect(target).await?;
    let stream = js
        .get_stream(&target.stream)
        .await
        .with_context(|| format!("stream {} (run `peerbench nats` first)", target.stream))?;
    let backlog = stream.cached_info().state.messages;
    if stream.delete_consumer(DRAIN_CONSUMER).await.is_ok() {
        eprintln!("[nats-drain] deleted the consumer {DRAIN_CONSUMER} of an earlier run");
    }
    let ack_policy = match opts.ack {
        AckMode::Each => consumer::AckPolicy::Explicit,
        AckMode::All => consumer::AckPolicy::All,
        AckMode::None => consumer::AckPolicy::None,
    };
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(DRAIN_CONSUMER.to_owned()),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy,
            // Explicit acks: several batches may wait for theirs at once.
            max_ack_pending: (opts.batch as i64 * 4).max(1000),
            ..Default::default()
        })
        .await
        .context("creating the pull consumer")?;
    let wanted = opts.messages.min(backlog);
    eprintln!(
        "[nats-drain] stream {} holds {backlog} messages; draining {wanted}, batches of {}, ack {:?}",
        target.stream, opts.batch, opts.ack
    );

    let server_cpu = if opts.server_pids.is_empty() {
        None
    } else {
        Some(CpuMeter::start(&opts.server_pids)?)
    };
    let client_cpu = CpuMeter::start(&[std::process::id()])?;
    let progress = Arc::new(Progress::default());
    let printer = spawn_progress("nats-drain", progress.clone());
    let start = Instant::now();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(opts.batch)
        .messages()
        .await
        .context("starting the pull")?;
    let (mut got, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut last_end = start;
    while got < wanted {
        let next = match tokio::time::timeout(opts.idle, messages.next()).await {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(_) => {
                first_error
                    .get_or_insert_with(|| format!("no message for {:?} after {got}", opts.idle));
                break;
            }
        };
        let message = match next {
            Ok(m) => m,
            Err(e) => {
                errors += 1;
                first_error.get_or_insert_with(|| format!("pull: {e}"));
                continue;
            }
        };
        got += 1;
        bytes += message.payload.len() as u64;
        let ack = match opts.ack {
            AckMode::Each => true,
            AckMode::All => got % opts.batch as u64 == 0 || got == wanted,
            AckMode::None => false,
        };
        if ack {
            if let Err(e) = message.ack().await {
                errors += 1;
                first_error.get_or_insert_with(|| format!("ack: {e}"));
            }
        }
        progress
            .acked
            .store(got, std::sync::atomic::Ordering::Relaxed);
        last_end = Instant::now();
    }
    // Acks are buffered publishes: they count once they left.
    client.flush().await.map_err(|e| anyhow!("flush: {e}"))?;
    let elapsed = last_end.max(Instant::now()) - start;
    printer.abort();
    let server_cpu_s = server_cpu.map(|m| m.seconds()).transpose()?;
    let client_cpu_s = client_cpu.seconds()?;
    drop(messages);

    let size = bytes.checked_div(got).unwrap_or(0) as usize;
    Ok(Report {
        bench: "nats-drain",
        size,
        inflight: 0,
        requested: opts.messages,
        acked: got,
        errors,
        first_error,
        elapsed,
        latency: None,
        server_cpu_s,
        client_cpu_s: Some(client_cpu_s),
        notes: vec![
            ("ack", json!(format!("{:?}", opts.ack).to_lowercase())),
            ("batch", json!(opts.batch)),
            ("stream", cluster_note(&js, &target.stream).await),
        ],
    })
}
