//! `peerbench`: the peers raftmq is compared with, measured on the same machine
//! in the same run (see `benches/scripts/side-by-side.sh`).
//!
//! ```text
//! peerbench nats --servers URLS --size 1024 --messages N --inflight W [--json] [--server-pids P,P,P]
//! peerbench nats-drain --servers URLS --messages N [--batch B] [--ack each|all|none] [--json]
//! peerbench grpc-server --port P
//! peerbench grpc-ceiling --addr 127.0.0.1:P --size 1024 --messages N --inflight W [--json]
//! peerbench table [--ratio A:B]... NAME=FILE...
//! ```
//!
//! Each command prints a summary on stdout; with `--json` the last stdout line
//! is one JSON object (`msgs_per_sec`, `mb_per_sec` in 10^6 bytes/s, `p50_us`,
//! `p90_us`, `p99_us`, `p999_us`, `max_us`, `errors`, `server_cpu_us_per_msg`,
//! ...). Progress goes to stderr every second. The exit status is 1 when no
//! message was acknowledged or on a setup failure, 0 otherwise (errors during
//! the run are counted in the report).

#[path = "../peers/mod.rs"]
mod peers;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use peers::cpu::parse_pids;
use peers::nats::{AckMode, DrainOptions, PublishOptions, Target};
use peers::report::Report;

#[derive(Parser, Debug)]
#[command(
    name = "peerbench",
    about = "NATS JetStream and gRPC-ceiling load, for side-by-side figures"
)]
struct Cli {
    /// Tokio worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Print the report as one JSON object on the last stdout line too.
    #[arg(long)]
    json: bool,
    /// Server processes whose CPU time (utime+stime) is measured over the run:
    /// `PID,PID,...`.
    #[arg(long, value_name = "PID,PID,...")]
    server_pids: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct NatsTarget {
    /// NATS URLs of the cluster, comma-separated.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    servers: String,
    #[arg(long, default_value = "PEERBENCH")]
    stream: String,
    #[arg(long, default_value = "peerbench.data")]
    subject: String,
    /// Stream replicas.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
}

#[derive(Args, Debug, Clone)]
struct Load {
    /// Message body size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Messages to send (the run also stops at --duration).
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    /// Messages outstanding at once, each awaited for its acknowledgement.
    #[arg(long, default_value_t = 256)]
    inflight: usize,
    /// Stop sending after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Unmeasured sends before the run.
    #[arg(long, default_value_t = 200)]
    warmup: u64,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Publish to a JetStream stream (file storage, 3 replicas), each publish
    /// awaited for its PubAck. The stream is recreated first.
    Nats {
        #[command(flatten)]
        target: NatsTarget,
        #[command(flatten)]
        load: Load,
        /// Keep the stream and its messages instead of recreating it.
        #[arg(long)]
        keep_stream: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Drain the stream from its start with a durable pull consumer.
    NatsDrain {
        #[command(flatten)]
        target: NatsTarget,
        /// Messages to read (at most what the stream holds).
        #[arg(long, default_value_t = 300_000)]
        messages: u64,
        /// Messages per pull request.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[arg(long, value_enum, default_value_t = AckMode::Each)]
        ack: AckMode,
        /// Stop when no message came for this many seconds.
        #[arg(long, default_value_t = 5.0)]
        idle: f64,
        #[command(flatten)]
        common: Common,
    },
    /// Serve a do-nothing MessagingService (SendMessage answers OK at once)
    /// on 127.0.0.1:PORT until SIGTERM; prints `listening ADDR` on stdout.
    GrpcServer {
        /// 0: any free port.
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// One message per SendMessage call against `grpc-server`.
    GrpcCeiling {
        #[arg(long)]
        addr: SocketAddr,
        #[command(flatten)]
        load: Load,
        /// HTTP/2 connections (the official clients use one per endpoint).
        #[arg(long, default_value_t = 1)]
        connections: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Print the markdown table of runs saved with --json (by peerbench or
    /// any tool printing the same keys), and ratios between runs.
    Table {
        /// `A:B`: figures of run A divided by those of run B.
        #[arg(long, value_name = "A:B")]
        ratio: Vec<String>,
        /// `NAME=FILE`: the run's output; its last JSON line is read.
        #[arg(required = true, value_name = "NAME=FILE")]
        runs: Vec<String>,
    },
}

fn pids(common: &Common) -> Result<Vec<u32>> {
    common.server_pids.as_deref().map_or(Ok(vec![]), parse_pids)
}

fn time_limit(load: &Load) -> Result<Option<Duration>> {
    load.duration
        .map(|s| Duration::try_from_secs_f64(s).map_err(|e| anyhow::anyhow!("--duration {s}: {e}")))
        .transpose()
}

fn target(t: NatsTarget) -> Target {
    Target {
        servers: t.servers,
        stream: t.stream,
        subject: t.subject,
        replicas: t.replicas,
    }
}

async fn run(command: Command) -> Result<Option<(Report, bool)>> {
    Ok(Some(match command {
        Command::Nats {
            target: t,
            load,
            keep_stream,
            common,
        } => {
            let opts = PublishOptions {
                size: load.size,
                messages: load.messages,
                inflight: load.inflight,
                time_limit: time_limit(&load)?,
                warmup: load.warmup,
                keep_stream,
                server_pids: pids(&common)?,
            };
            (peers::nats::publish(&target(t), &opts).await?, common.json)
        }
        Command::NatsDrain {
            target: t,
            messages,
            batch,
            ack,
            idle,
            common,
        } => {
            let opts = DrainOptions {
                messages,
                batch: batch.max(1),
                ack,
                idle: Duration::try_from_secs_f64(idle)
                    .map_err(|e| anyhow::anyhow!("--idle {idle}: {e}"))?,
                server_pids: pids(&common)?,
            };
            (peers::nats::drain(&target(t), &opts).await?, common.json)
        }
        Command::Table { ratio, runs } => {
            let rows = runs
                .iter()
                .map(|spec| peers::table::read_row(spec))
                .collect::<Result<Vec<_>>>()?;
            print!("{}", peers::table::render(&rows));
            for spec in &ratio {
                println!("{}", peers::table::ratio(&rows, spec)?);
            }
            return Ok(None);
        }
        Command::GrpcServer { port } => {
            peers::grpc::serve(port).await?;
            return Ok(None);
        }
        Command::GrpcCeiling {
            addr,
            load,
            connections,
            common,
        } => {
            let opts = peers::grpc::CeilingOptions {
                addr,
                size: load.size,
                messages: load.messages,
                inflight: load.inflight,
                time_limit: time_limit(&load)?,
                connections,
                warmup: load.warmup,
                server_pids: pids(&common)?,
            };
            (peers::grpc::ceiling(&opts).await?, common.json)
        }
    }))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = cli.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("peerbench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(Some((report, json))) => {
            report.print(json);
            if report.acked == 0 {
                eprintln!("peerbench: no message was acknowledged");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("peerbench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
