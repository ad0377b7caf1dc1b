//! `mqnamesrv [-c conf/namesrv.conf]`: one nameserver, until SIGTERM or
//! SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use raftmq_cli::process::{init_logging, wait_for_stop_signal, Process};
use raftmq_nameserver::{NameServer, NamesrvConf};

/// The raftmq nameserver: brokers register with it, clients ask it for routes.
#[derive(Parser, Debug)]
#[command(name = "mqnamesrv", version)]
struct Args {
    /// Conf file (RocketMQ properties: listenPort, bindAddress,
    /// scanNotActiveBrokerInterval, brokerChannelExpiredTime).
    #[arg(short = 'c', long = "configFile")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let conf = match &args.config {
        None => NamesrvConf::default(),
        Some(path) => match NamesrvConf::load(path) {
            Ok((conf, warnings)) => {
                for w in warnings {
                    tracing::warn!("{w}");
                }
                conf
            }
            Err(e) => {
                eprintln!("mqnamesrv: {e}");
                return ExitCode::from(1);
            }
        },
    };
    // Routes are asked for seldom: no spinning while idle.
    let process = match Process::new("mqnamesrv", 2, std::time::Duration::ZERO) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("mqnamesrv: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    process.run(|tasks| async move {
        let server = match NameServer::start(&conf, None, &tasks).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("mqnamesrv: {e}");
                return ExitCode::from(1);
            }
        };
        println!(
            "The Name Server boot success. serializeType=PROTOBUF, address {}",
            server.addr()
        );
        wait_for_stop_signal().await;
        // What did not end in time is logged; the process ends regardless.
        let _ = server.stop().await;
        ExitCode::SUCCESS
    })
}
