//! The fault suite's CI schedule: about 75 s of load on a nameserver and a
//! three-member group (real processes), with one fault of each kind; every
//! acknowledged value must be consumed, nothing unexpected may show, and
//! every queue must read 0, 1, 2, ... from the start. Delay messages and
//! transactions run alongside: none delivered early, none made visible
//! twice, no rolled-back one delivered, every committed one delivered.
//! FIFO message groups too: each group's first deliveries in order.

use std::time::Duration;

use raftmq_tests::faults::{run, Fault, Options, Schedule};

#[test]
fn acknowledged_messages_survive_the_fault_schedule() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let opts = Options {
        bins: raftmq_tests::bins().to_owned(),
        load: Duration::from_secs(75),
        gap: Duration::from_secs(3),
        schedule: Schedule::Fixed(vec![
            Fault::KillLeader,
            Fault::PauseFollower,
            Fault::IsolateLeader,
            Fault::KillFollower,
            Fault::DiskFull,
            Fault::TornTail,
            Fault::KillRandom,
            Fault::KillTornTail,
            Fault::PauseLeader,
            Fault::FlipBytes,
        ]),
        producers: 4,
        interval: Duration::from_millis(5),
        consumers: 2,
        timer_producers: 2,
        tx_producers: 2,
        fifo_producers: 2,
        held_interval: Duration::from_millis(20),
        seed,
        verbose: true,
    };
    let report = run(&opts);
    println!("{report} (seed {seed})");
    eprintln!("{report} (seed {seed})");
    assert!(report.ok(), "{report} (seed {seed})");
    assert!(report.acked > 1000, "too little load got through: {report}");
    let delayed = report.delayed.as_ref().expect("the timer workload ran");
    assert!(delayed.acked > 100, "too few delay messages: {report}");
    let tx = report
        .transactions
        .as_ref()
        .expect("the transaction workload ran");
    assert!(
        tx.committed > 50 && tx.rolled_back > 50 && tx.orphans > 10,
        "too few transactions of each kind: {report}"
    );
    let fifo = report.fifo.as_ref().expect("the FIFO workload ran");
    assert!(
        fifo.acked > 100 && fifo.held > 0,
        "too few FIFO messages, or none held back: {report}"
    );
    assert!(
        report.fault_count() >= 6,
        "too few faults applied: {report}"
    );
}
