//! `mqbroker -c conf/dledger/broker-n0.conf [-n "host:port;..."] [--check]`:
//! one member of a broker group, until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use raftmq_broker::{conf, Broker, Listeners};
use raftmq_cli::process::{init_logging, wait_for_stop_signal, Process};

// Many small allocations per request; mimalloc keeps them cheap and the
// heap compact.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A raftmq broker: one member of a Raft-replicated broker group.
#[derive(Parser, Debug)]
#[command(name = "mqbroker", version)]
struct Args {
    /// The broker's conf file (RocketMQ properties, e.g.
    /// conf/dledger/broker-n0.conf).
    #[arg(short = 'c', long = "configFile")]
    config: PathBuf,
    /// Nameserver addresses, `host:port;host:port`; replaces `namesrvAddr`
    /// and `NAMESRV_ADDR`.
    #[arg(short = 'n', long = "namesrvAddr")]
    namesrv: Option<String>,
    /// Check the conf file, print its warnings, and exit without starting.
    #[arg(long)]
    check: bool,
}

fn main() -> ExitCode {
    // mimalloc asks for transparent huge pages on its arenas, and each 2 MiB
    // page touched then counts whole in resident memory: about 50 MB for a
    // heap of a few MB live. The broker's heap is small; keep its pages
    // small. (Advice only: without it the broker runs the same, bigger.)
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let args = Args::parse();
    if !args.check {
        init_logging();
    }
    let loaded = conf::load(&args.config)
        .and_then(|(c, w)| Ok((c.with_namesrv_override(args.namesrv.as_deref())?, w)));
    let (conf, warnings) = match loaded {
        Ok(x) => x,
        Err(e) => {
            eprintln!("mqbroker: {e}");
            return ExitCode::from(1);
        }
    };
    for w in &warnings {
        if args.check {
            eprintln!("mqbroker: warning: {w}");
        } else {
            tracing::warn!("{w}");
        }
    }
    if args.check {
        println!("{}: OK", args.config.display());
        return ExitCode::SUCCESS;
    }
    // serverWorkerThreads, else one per core.
    let workers = conf
        .server_worker_threads
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let idle_spin = std::time::Duration::from_micros(u64::from(conf.server_idle_spin_micros));
    let process = match Process::new("mqbroker", workers, idle_spin) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mqbroker: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    process.run(|tasks| async move {
        let name = conf.broker_name.clone();
        let broker = match Broker::start(conf, Listeners::default(), &tasks).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("mqbroker: {}: {e}", args.config.display());
                return ExitCode::from(1);
            }
        };
        println!(
            "The broker[{name}, {}] boot success. serializeType=PROTOBUF",
            broker.advertised_addr()
        );
        let failed = broker.node().failed();
        tokio::select! {
            () = wait_for_stop_signal() => {
                broker.stop().await;
                ExitCode::SUCCESS
            }
            why = failed => {
                // openraft stops for good on a storage error; a member that
                // stayed up would answer nothing. Exit, so that whatever
                // runs the broker sees it and the group elects another leader.
                tracing::error!(error = %why, "Raft stopped; the broker exits and must be restarted");
                eprintln!("mqbroker: {}: Raft stopped: {why}", args.config.display());
                broker.stop().await;
                ExitCode::from(1)
            }
        }
    })
}
