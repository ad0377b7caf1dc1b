//! Transactions (ADR 0012): EndTransaction on the leader, check-back
//! rounds decided by the leader and replicated, and the check-backs sent by
//! every member to the producers connected to it.
//!
//! ```text
//!  SendMessage(TRANSACTION) ─► half message held (its id = transaction id)
//!  EndTransaction COMMIT ────► released copy written ─► in its queue, once
//!  EndTransaction ROLLBACK ──► EndTransactions command ─► gone
//!  older than transactionTimeOut, not ended:
//!    leader: CheckTransactions round every transactionCheckInterval
//!    every member: RecoverOrphanedTransactionCommand to a producer of the
//!                  topic connected to it ─► EndTransaction(SOURCE_SERVER_CHECK)
//!    after transactionCheckMax rounds: discarded (EndTransactions)
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_store::message_store::Placed;
use raftmq_store::meta_state::{Command, HeldId, Outcome};
use tonic::Request;

use super::convert::{self, now_ms};
use super::send::write_refusal;
use super::timers::release_of;
use super::Inner;

/// Half messages in one round's command at most.
const ROUND_MAX: usize = 1024;
/// How often the member looks for check rounds to send.
const SEND_TICK: Duration = Duration::from_millis(200);

/// Half messages discarded after `transactionCheckMax` unanswered checks,
/// since this member started.
pub static DISCARDED: AtomicU64 = AtomicU64::new(0);

fn answer(code: v2::Code, message: impl Into<String>) -> v2::EndTransactionResponse {
    v2::EndTransactionResponse {
        status: Some(cp::status(code, message)),
    }
}

fn ok() -> v2::EndTransactionResponse {
    v2::EndTransactionResponse {
        status: Some(cp::ok()),
    }
}

/// What a resolution asks for, or None for UNSPECIFIED.
fn wanted(resolution: i32) -> Option<Outcome> {
    match v2::TransactionResolution::try_from(resolution) {
        Ok(v2::TransactionResolution::Commit) => Some(Outcome::Committed),
        Ok(v2::TransactionResolution::Rollback) => Some(Outcome::RolledBack),
        _ => None,
    }
}

/// The answer to an end of a transaction that is no longer open: OK for
/// the answer it got, a refusal naming it for any other.
fn already(id: HeldId, want: Outcome, got: Option<Outcome>) -> v2::EndTransactionResponse {
    match got {
        Some(got) if got == want => ok(),
        Some(got) => answer(
            v2::Code::InvalidTransactionId,
            format!("transaction {id} was {got} already; the first answer stands"),
        ),
        None => answer(
            v2::Code::InvalidTransactionId,
            format!(
                "transaction {id} is unknown: not a half message of this group, or ended long ago"
            ),
        ),
    }
}

/// EndTransaction on the leader.
pub(super) async fn end(
    inner: &Inner,
    request: Request<v2::EndTransactionRequest>,
) -> v2::EndTransactionResponse {
    if let Err(status) = cp::client_id(request.metadata()) {
        return v2::EndTransactionResponse {
            status: Some(status),
        };
    }
    let r = request.into_inner();
    let Ok(id) = r.transaction_id.parse::<HeldId>() else {
        return answer(
            v2::Code::InvalidTransactionId,
            format!(
                "transaction id {:?} is not one this group gave out",
                r.transaction_id.chars().take(64).collect::<String>()
            ),
        );
    };
    let Some(want) = wanted(r.resolution) else {
        return answer(
            v2::Code::BadRequest,
            "resolution must be COMMIT or ROLLBACK",
        );
    };
    // What this member has applied must include every end committed before.
    if !inner.node.wait_applied_as_leader().await {
        return answer(
            v2::Code::HaNotAvailable,
            "leadership is changing; end the transaction again",
        );
    }
    let store = inner.node.store();
    let Some(half) = store.half(id) else {
        return already(id, want, store.transaction_outcome(id));
    };
    // The id must name this message: a stale or forged id ends nothing.
    let record = match store.read_held(id) {
        Ok(Some(r)) => r,
        Ok(None) => return already(id, want, None),
        Err(e) => {
            return answer(
                v2::Code::InternalServerError,
                format!("reading half message {id}: {e}"),
            )
        }
    };
    let matches = record.view().is_ok_and(|v| {
        v.message_id() == r.message_id
            && r.topic
                .as_ref()
                .is_none_or(|t| t.name.is_empty() || t.name == half.topic)
    });
    if !matches {
        return answer(
            v2::Code::InvalidTransactionId,
            format!(
                "transaction {id} is not message {:?} of topic {:?}",
                r.message_id, half.topic
            ),
        );
    }
    let source = match v2::TransactionSource::try_from(r.source) {
        Ok(v2::TransactionSource::SourceServerCheck) => "check-back",
        _ => "client",
    };
    let written = match want {
        Outcome::Committed => match release_of(&record, id) {
            Ok(copy) => inner
                .node
                .write_here(std::slice::from_ref(&copy))
                .await
                .map(|stored| stored.first().map(|s| s.placed)),
            Err(e) => {
                return answer(
                    v2::Code::InternalServerError,
                    format!("reading half message {id}: {e}"),
                )
            }
        },
        _ => inner
            .node
            .write_here_command(&Command::EndTransactions {
                ended: vec![(id, want)],
            })
            .await
            .map(|()| None),
    };
    match written {
        Ok(Some(Placed::Queued)) => {
            tracing::debug!(transaction = %id, source, "transaction committed");
            ok()
        }
        // Ended meanwhile, by another call: the outcome says how.
        Ok(_) => already(id, want, store.transaction_outcome(id)),
        Err(e) => {
            let (code, why) = write_refusal(&e);
            answer(code, format!("ending transaction {id}: {why}"))
        }
    }
}

/// Decides check-back rounds and discards while this member leads; runs
/// until the member stops.
pub(super) async fn run_checks(inner: &Inner) {
    let conf = &inner.conf.held;
    let tick = conf
        .transaction_check_interval
        .min(conf.transaction_timeout)
        .clamp(Duration::from_millis(100), Duration::from_secs(5));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !inner.node.is_leader() || !inner.node.wait_applied_as_leader().await {
            continue;
        }
        let (round, discard) = due_checks(inner, now_ms());
        if !discard.is_empty() {
            for (id, topic) in &discard {
                tracing::warn!(transaction = %id, %topic, checks = conf.transaction_check_max,
                    "half message discarded: no producer answered its check-backs (transactionCheckMax)");
            }
            let ended = discard
                .iter()
                .map(|(id, _)| (*id, Outcome::Discarded))
                .collect();
            match inner
                .node
                .write_here_command(&Command::EndTransactions { ended })
                .await
            {
                Ok(()) => {
                    DISCARDED.fetch_add(discard.len() as u64, Ordering::Relaxed);
                }
                Err(e) => tracing::warn!(error = %e, "discarding half messages failed; next round"),
            }
        }
        if !round.is_empty() {
            let cmd = Command::CheckTransactions {
                at_ms: now_ms(),
                checks: round,
            };
            if let Err(e) = inner.node.write_here_command(&cmd).await {
                tracing::warn!(error = %e, "a check-back round failed; next tick");
            }
        }
    }
}

/// A check round: half messages with their new check counts.
type Round = Vec<(HeldId, u32)>;
/// Half messages out of checks, with their topics.
type OutOfChecks = Vec<(HeldId, String)>;

/// The half messages due a check at `now`, and those out of checks.
fn due_checks(inner: &Inner, now: i64) -> (Round, OutOfChecks) {
    let conf = &inner.conf.held;
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let (timeout, interval) = (
        ms(conf.transaction_timeout),
        ms(conf.transaction_check_interval),
    );
    let held = inner.node.store().held();
    let mut round = Vec::new();
    let mut discard = Vec::new();
    for (id, half) in &held.halves {
        if now.saturating_sub(half.stored_ms) < timeout
            || (half.checks > 0 && now.saturating_sub(half.last_check_ms) < interval)
        {
            continue;
        }
        if half.checks >= conf.transaction_check_max {
            discard.push((*id, half.topic.clone()));
        } else {
            round.push((*id, half.checks + 1));
        }
        if round.len() + discard.len() >= ROUND_MAX {
            break;
        }
    }
    (round, discard)
}

/// Sends the check-backs of replicated rounds to the producers connected
/// to this member, each round once; runs until the member stops.
pub(super) async fn run_check_sender(inner: &Inner) {
    // Half message -> the round this member sent last.
    let mut sent: HashMap<HeldId, u32> = HashMap::new();
    let mut ticker = tokio::time::interval(SEND_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if inner.sessions.is_empty() {
            continue;
        }
        let store = inner.node.store();
        let held = store.held();
        sent.retain(|id, _| held.halves.contains_key(id));
        for (id, half) in &held.halves {
            if half.checks == 0 || sent.get(id).is_some_and(|n| *n >= half.checks) {
                continue;
            }
            let message = match store.read_held(*id) {
                Ok(Some(r)) => r,
                _ => continue,
            };
            let Ok(view) = message.view() else { continue };
            let command = v2::TelemetryCommand {
                status: None,
                command: Some(
                    v2::telemetry_command::Command::RecoverOrphanedTransactionCommand(
                        v2::RecoverOrphanedTransactionCommand {
                            message: Some(convert::to_wire(
                                &view,
                                bytes::Bytes::copy_from_slice(view.body()),
                                &convert::Delivery::default(),
                            )),
                            transaction_id: id.to_string(),
                        },
                    ),
                ),
            };
            // A round with no producer here is left to the members that
            // have one; it counts either way.
            if let Some(client) = inner.sessions.to_a_producer_of(&half.topic, command) {
                tracing::debug!(transaction = %id, %client, round = half.checks, "check-back sent");
            }
            sent.insert(*id, half.checks);
        }
    }
}
