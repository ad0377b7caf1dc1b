//! The producers of held messages: delay messages due 1 to 8 s ahead, and
//! transactions that commit, roll back or are left to the check-back.
//!
//! ```text
//! delayed:      d-<id>-<seq>, due now+1..8 s, sent until acked (5 tries, same due)
//! transactions: begin, send t-<id>-<seq>; acked -> decide (recorded), then
//!               commit | rollback | leave open (the checker answers the decision)
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use raftmq_client::sdk::{
    ClientError, Message, Producer, Retry, TransactionChecker, TransactionProducer,
    TransactionResolution, TransactionalMessage,
};

use super::injector::Rng;
use super::transactions::Decision;
use super::workload::{config, lock, Shared, ATTEMPTS};

/// One in this many transactions is left open for the check-back.
const ORPHAN_ONE_IN: usize = 5;

/// One producer of delay messages: sends `d-<id>-<seq>` due 1 to 8 s
/// ahead every `interval` until `stop`.
pub async fn produce_delayed(
    namesrv: String,
    topic: String,
    id: usize,
    interval: Duration,
    seed: u64,
    history: Shared,
    stop: Arc<AtomicBool>,
) {
    let producer = match Producer::start(config(&namesrv), &[&topic]).await {
        Ok(p) => p,
        Err(e) => panic!("delay producer {id} did not start: {e}"),
    };
    let mut rng = Rng::new(seed);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("d-{id}-{seq}");
        seq += 1;
        let due = SystemTime::now() + Duration::from_millis(1_000 + rng.below(7_001) as u64);
        lock(&history).timers.attempt(&value, due);
        for attempt in 0..ATTEMPTS {
            let msg = Message::new(topic.clone(), value.clone().into_bytes())
                .with_keys([&value])
                .with_delivery_time(due);
            let res = tokio::time::timeout(Duration::from_secs(15), producer.send(msg)).await;
            match res {
                Ok(Ok(_)) => {
                    lock(&history).timers.acked(&value);
                    break;
                }
                Ok(Err(e)) => lock(&history).timers.failed(&value, &e.to_string()),
                Err(_) => lock(&history)
                    .timers
                    .failed(&value, "send timed out (15 s)"),
            }
            if attempt + 1 < ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        tokio::time::sleep(interval).await;
    }
    producer.shutdown().await;
}

/// The check-back's answers: the decision recorded for the value (the
/// body), Unknown while none is.
pub fn checker(history: Shared) -> Arc<dyn TransactionChecker> {
    Arc::new(move |m: TransactionalMessage| {
        let value = String::from_utf8_lossy(m.body()).into_owned();
        let decision = lock(&history).transactions.answer_check(&value);
        async move {
            match decision {
                Some(Decision::Commit) => TransactionResolution::Commit,
                Some(Decision::Rollback) => TransactionResolution::Rollback,
                None => TransactionResolution::Unknown,
            }
        }
    })
}

/// One transactional producer: a transaction of `t-<id>-<seq>` every
/// `interval` until `stop`, then only answers check-backs until
/// `stop_answering` (the drain needs the last orphans resolved).
#[allow(clippy::too_many_arguments)]
pub async fn produce_transactions(
    namesrv: String,
    topic: String,
    id: usize,
    interval: Duration,
    seed: u64,
    history: Shared,
    stop: Arc<AtomicBool>,
    stop_answering: Arc<AtomicBool>,
) {
    let mut cfg = config(&namesrv);
    // Sends and ends retried for about 10 s: long enough for an election.
    cfg.send_retry = Retry {
        max_attempts: 12,
        initial: Duration::from_millis(100),
        multiplier: 2.0,
        max: Duration::from_secs(1),
    };
    let producer = TransactionProducer::start(cfg, &[&topic], checker(history.clone()))
        .await
        .unwrap_or_else(|e| panic!("transaction producer {id} did not start: {e}"));
    let mut rng = Rng::new(seed);
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("t-{id}-{seq}");
        seq += 1;
        lock(&history).transactions.begun(&value);
        let mut tx = producer.begin();
        let msg = Message::new(topic.clone(), value.clone().into_bytes()).with_keys([&value]);
        match tokio::time::timeout(Duration::from_secs(30), tx.send(msg)).await {
            Ok(Ok(_)) => {
                let decision = if rng.below(2) == 0 {
                    Decision::Commit
                } else {
                    Decision::Rollback
                };
                let orphan = rng.below(ORPHAN_ONE_IN) == 0;
                {
                    let mut h = lock(&history);
                    h.transactions.acked(&value);
                    h.transactions.decide(&value, decision);
                    if orphan {
                        h.transactions.orphaned(&value);
                    }
                }
                if orphan {
                    drop(tx);
                } else {
                    let end = async move {
                        match decision {
                            Decision::Commit => tx.commit().await,
                            Decision::Rollback => tx.rollback().await,
                        }
                    };
                    let res = tokio::time::timeout(Duration::from_secs(30), end).await;
                    let mut h = lock(&history);
                    match res {
                        Ok(Ok(())) => h.transactions.ended += 1,
                        Ok(Err(e)) => h.transactions.end_failed(
                            &e.to_string(),
                            matches!(e, ClientError::InvalidTransaction { .. }),
                        ),
                        Err(_) => h.transactions.end_failed("timed out (30 s)", false),
                    }
                }
            }
            Ok(Err(e)) => lock(&history)
                .transactions
                .send_failed(&value, &e.to_string()),
            Err(_) => lock(&history)
                .transactions
                .send_failed(&value, "send timed out (30 s)"),
        }
        tokio::time::sleep(interval).await;
    }
    // Orphans near the end are checked after transactionTimeOut.
    while !stop_answering.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    producer.shutdown().await;
}
