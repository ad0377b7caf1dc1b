//! The fault suite's long run: random faults of every kind for N minutes on
//! a nameserver and a three-member group, then the report line.
//!
//! ```sh
//! cargo run -p raftmq-tests --release --bin faults -- --minutes 10 [--seed 42] [--gap-secs 5]
//!     [--only kill_torn_tail,kill_torn_tail_leader] [--skip kill_torn_tail_leader]
//!     [--timer-producers 2] [--tx-producers 2] [--fifo-producers 2]
//! ```
//!
//! Builds `mqnamesrv`, `mqbroker` and `mqadmin` in the same profile as
//! itself. Exits 1 when a guarantee was violated.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use raftmq_tests::faults::{run, Fault, Options, Schedule};

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    let i = args.iter().position(|a| a == name)?;
    let v = args.get(i + 1)?;
    match v.parse() {
        Ok(v) => Some(v),
        Err(_) => {
            eprintln!("{name}: cannot read '{v}'");
            std::process::exit(2);
        }
    }
}

/// Builds the binaries in this binary's profile; returns their directory.
fn build_bins() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("target/<profile>").to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(raftmq_tests::repo_root()).args([
        "build",
        "--quiet",
        "-p",
        "raftmq-nameserver",
        "-p",
        "raftmq-broker",
        "-p",
        "raftmq-client",
        "--bin",
        "mqnamesrv",
        "--bin",
        "mqbroker",
        "--bin",
        "mqadmin",
        // faultInjectionEnable needs a test build of mqbroker.
        "--features",
        "raftmq-broker/failpoints",
    ]);
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building the binaries failed");
    dir
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "faults [--minutes N (10)] [--seed S] [--gap-secs G (5)] [--producers P (4)] \
             [--timer-producers T (2)] [--tx-producers X (2)] [--fifo-producers F (2)] \
             [--only FAULT,... (all: {})] [--skip FAULT,...]",
            Fault::ALL.map(Fault::name).join(",")
        );
        return;
    }
    let names = |flag: &str| -> Option<Vec<Fault>> {
        let list: String = arg(&args, flag)?;
        Some(
            list.split(',')
                .map(|n| {
                    Fault::from_name(n.trim()).unwrap_or_else(|| {
                        eprintln!("{flag}: no fault named '{n}'");
                        std::process::exit(2);
                    })
                })
                .collect(),
        )
    };
    let skip = names("--skip").unwrap_or_default();
    let kinds: Vec<Fault> = names("--only")
        .unwrap_or_else(|| Fault::ALL.to_vec())
        .into_iter()
        .filter(|f| !skip.contains(f))
        .collect();
    if kinds.is_empty() {
        eprintln!("no fault left to run");
        std::process::exit(2);
    }
    let minutes: f64 = arg(&args, "--minutes").unwrap_or(10.0);
    let seed: u64 = arg(&args, "--seed").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let opts = Options {
        bins: build_bins(),
        load: Duration::from_secs_f64(minutes * 60.0),
        gap: Duration::from_secs(arg(&args, "--gap-secs").unwrap_or(5)),
        schedule: Schedule::Random(kinds),
        producers: arg(&args, "--producers").unwrap_or(4),
        interval: Duration::from_millis(2),
        consumers: 2,
        timer_producers: arg(&args, "--timer-producers").unwrap_or(2),
        tx_producers: arg(&args, "--tx-producers").unwrap_or(2),
        fifo_producers: arg(&args, "--fifo-producers").unwrap_or(2),
        held_interval: Duration::from_millis(10),
        seed,
        verbose: true,
    };
    eprintln!("faults: {minutes} min, seed {seed}");
    let started = std::time::Instant::now();
    let report = run(&opts);
    println!(
        "{report} (seed {seed}, {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    if !report.ok() {
        std::process::exit(1);
    }
}
