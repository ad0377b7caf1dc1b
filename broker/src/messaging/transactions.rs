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
use std::sync::atomic::Ordering;
use std::time::Duration;

use raftmq_proto::client::v1 as ext;
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_store::message_store::Placed;
use raftmq_store::meta_state::{Command, HeldId, Outcome};
use tonic::Request;

use raftmq_raft::WriteError;
use raftmq_store::record::message::Message;
use raftmq_store::StoreCore;

use super::convert::{self, now_ms};
use super::send::write_refusal;
use super::timers::{release_of, write_copies};
use super::Inner;

/// Half messages in one round's command at most.
const ROUND_MAX: usize = 1024;
/// How often the member looks for check rounds to send.
const SEND_TICK: Duration = Duration::from_millis(200);

/// Ends in one [`end_many`] call at most (`EndTransactions`).
pub const MAX_ENDS: usize = 4096;

/// One transaction's end as asked, by EndTransaction or EndTransactions.
#[derive(Debug, Clone)]
pub(super) struct EndAsked {
    /// The topic the caller names (empty: any).
    pub topic: String,
    pub message_id: String,
    pub transaction_id: String,
    /// An `apache.rocketmq.v2.TransactionResolution`.
    pub resolution: i32,
    /// An `apache.rocketmq.v2.TransactionSource`.
    pub source: i32,
}

impl From<ext::TransactionEnd> for EndAsked {
    fn from(e: ext::TransactionEnd) -> Self {
        // raftmq.client.v1's enums number as v2's do.
        Self {
            topic: e.topic,
            message_id: e.message_id,
            transaction_id: e.transaction_id,
            resolution: e.resolution,
            source: e.source,
        }
    }
}

impl From<v2::EndTransactionRequest> for EndAsked {
    fn from(r: v2::EndTransactionRequest) -> Self {
        Self {
            topic: r.topic.map(|t| t.name).unwrap_or_default(),
            message_id: r.message_id,
            transaction_id: r.transaction_id,
            resolution: r.resolution,
            source: r.source,
        }
    }
}

fn refused(code: v2::Code, message: impl Into<String>) -> v2::Status {
    cp::status(code, message)
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
fn already(id: HeldId, want: Outcome, got: Option<Outcome>) -> v2::Status {
    match got {
        Some(got) if got == want => cp::ok(),
        Some(got) => refused(
            v2::Code::InvalidTransactionId,
            format!("transaction {id} was {got} already; the first answer stands"),
        ),
        None => refused(
            v2::Code::InvalidTransactionId,
            format!(
                "transaction {id} is unknown: not a half message of this group, or ended long ago"
            ),
        ),
    }
}

/// What ending one transaction takes: a write, or nothing (answered).
enum Plan {
    /// Commit: write the released copy.
    Copy(HeldId, Box<Message>),
    /// Rollback: an `EndTransactions` command.
    Drop(HeldId),
    /// Answered without a write.
    Answered(v2::Status),
}

/// Checks one end against the store: the half message must be open and be
/// the message named; what to write for it.
fn plan(store: &StoreCore, asked: &EndAsked) -> Plan {
    let Ok(id) = asked.transaction_id.parse::<HeldId>() else {
        return Plan::Answered(refused(
            v2::Code::InvalidTransactionId,
            format!(
                "transaction id {:?} is not one this group gave out",
                asked.transaction_id.chars().take(64).collect::<String>()
            ),
        ));
    };
    let Some(want) = wanted(asked.resolution) else {
        return Plan::Answered(refused(
            v2::Code::BadRequest,
            format!("transaction {id}: resolution must be COMMIT or ROLLBACK"),
        ));
    };
    let Some(half) = store.half(id) else {
        return Plan::Answered(already(id, want, store.transaction_outcome(id)));
    };
    // The id must name this message: a stale or forged id ends nothing.
    let record = match store.read_held(id) {
        Ok(Some(r)) => r,
        Ok(None) => return Plan::Answered(already(id, want, None)),
        Err(e) => {
            return Plan::Answered(refused(
                v2::Code::InternalServerError,
                format!("reading half message {id}: {e}"),
            ))
        }
    };
    let matches = record.view().is_ok_and(|v| {
        v.message_id() == asked.message_id && (asked.topic.is_empty() || asked.topic == half.topic)
    });
    if !matches {
        return Plan::Answered(refused(
            v2::Code::InvalidTransactionId,
            format!(
                "transaction {id} is not message {:?} of topic {:?}",
                asked.message_id, half.topic
            ),
        ));
    }
    match want {
        Outcome::Committed => match release_of(&record, id) {
            Ok(copy) => Plan::Copy(id, Box::new(copy)),
            Err(e) => Plan::Answered(refused(
                v2::Code::InternalServerError,
                format!("reading half message {id}: {e}"),
            )),
        },
        _ => Plan::Drop(id),
    }
}

/// Ends transactions on the leader, each as EndTransaction would: the
/// commits' copies go in one write (a few, past 8 MiB), the rollbacks in
/// one command. One answer per end, in order.
pub(super) async fn end_many(inner: &Inner, asked: &[EndAsked]) -> Vec<v2::Status> {
    // What this member has applied must include every end committed before.
    if !inner.node.wait_applied_as_leader().await {
        let busy = refused(
            v2::Code::HaNotAvailable,
            "leadership is changing; end the transaction again",
        );
        return vec![busy; asked.len()];
    }
    let store = inner.node.store();
    let mut answers: Vec<Option<v2::Status>> = vec![None; asked.len()];
    // Commits: (end, id) and their copies alike.
    let (mut commits, mut copies): (Vec<(usize, HeldId)>, Vec<Message>) = (vec![], vec![]);
    let mut drops: Vec<(usize, HeldId)> = Vec::new();
    for (i, a) in asked.iter().enumerate() {
        match plan(store, a) {
            Plan::Copy(id, m) => {
                commits.push((i, id));
                copies.push(*m);
            }
            Plan::Drop(id) => drops.push((i, id)),
            Plan::Answered(s) => answers[i] = Some(s),
        }
    }
    let committing = write_copies(inner, &copies);
    let rollbacks = async {
        if drops.is_empty() {
            return Ok(());
        }
        let ended = drops
            .iter()
            .map(|(_, id)| (*id, Outcome::RolledBack))
            .collect();
        inner
            .node
            .write_here_command(&Command::EndTransactions { ended })
            .await
    };
    let (committed, rolled_back) = tokio::join!(committing, rollbacks);
    for ((i, id), placed) in commits.iter().zip(committed) {
        answers[*i] = Some(match placed {
            Ok(Placed::Queued) => {
                tracing::debug!(transaction = %id, source = source_name(asked[*i].source), "transaction committed");
                cp::ok()
            }
            // Ended meanwhile, by another call: the outcome says how.
            Ok(_) => already(*id, Outcome::Committed, store.transaction_outcome(*id)),
            Err(e) => write_failed(*id, &e),
        });
    }
    for (i, id) in &drops {
        answers[*i] = Some(match &rolled_back {
            Ok(()) => already(*id, Outcome::RolledBack, store.transaction_outcome(*id)),
            Err(e) => write_failed(*id, e),
        });
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| refused(v2::Code::InternalServerError, "no answer")))
        .collect()
}

fn source_name(source: i32) -> &'static str {
    match v2::TransactionSource::try_from(source) {
        Ok(v2::TransactionSource::SourceServerCheck) => "check-back",
        _ => "client",
    }
}

fn write_failed(id: HeldId, e: &WriteError) -> v2::Status {
    let (code, why) = write_refusal(e);
    refused(code, format!("ending transaction {id}: {why}"))
}

/// EndTransaction on the leader.
pub(super) async fn end(
    inner: &Inner,
    request: Request<v2::EndTransactionRequest>,
) -> v2::EndTransactionResponse {
    let status = match cp::client_id(request.metadata()) {
        Err(status) => status,
        Ok(_) => {
            let asked = EndAsked::from(request.into_inner());
            end_many(inner, std::slice::from_ref(&asked))
                .await
                .pop()
                .unwrap_or_else(|| refused(v2::Code::InternalServerError, "no answer"))
        }
    };
    v2::EndTransactionResponse {
        status: Some(status),
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
                    inner
                        .discarded
                        .fetch_add(discard.len() as u64, Ordering::Relaxed);
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
