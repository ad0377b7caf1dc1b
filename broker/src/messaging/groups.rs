//! Consumer groups (subscription groups) as the client calls meet them:
//! the configuration a call obeys, and creation on first use.
//!
//! ```text
//!   Heartbeat / ReceiveMessage / PullMessage of group g
//!        │
//!        ├─ g stored ─────────────────────────────► its configuration
//!        ├─ autoCreateSubscriptionGroup off ──────► CONSUMER_GROUP_NOT_FOUND
//!        └─ first use here: UpsertGroup(g, defaults) through Raft (forwarded
//!           to the leader), awaited once; a failed create is tried again
//!           at most every RETRY_CREATE, the defaults meanwhile
//! ```
//!
//! Configurations are replicated state (`MetaState::groups`), so every
//! member answers the same, a follower included (Telemetry settings).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use raftmq_model::{GroupName, SubscriptionGroupConfig};
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_store::meta_state::Command;

use super::Inner;

/// How long after a failed create the next use tries again (it waits for
/// Raft; uses in between take the defaults without waiting).
const RETRY_CREATE: Duration = Duration::from_secs(10);

/// Groups this member is creating or tried to create, and when.
#[derive(Default)]
pub(super) struct Creating(Mutex<HashMap<GroupName, Instant>>);

/// The configuration `group` is served with: its stored one, or upstream's
/// defaults for a group not created yet.
pub(super) fn config(inner: &Inner, group: &GroupName) -> SubscriptionGroupConfig {
    inner.node.store().group(group).unwrap_or_default()
}

/// The configuration of `group`, created with the defaults on its first
/// use when `autoCreateSubscriptionGroup` is on; CONSUMER_GROUP_NOT_FOUND
/// (upstream's code for a missing group) when it is off.
pub(super) async fn config_or_create(
    inner: &Inner,
    group: &GroupName,
) -> Result<SubscriptionGroupConfig, v2::Status> {
    if let Some(c) = inner.node.store().group(group) {
        return Ok(c);
    }
    if !inner.conf.auto_create_groups {
        return Err(cp::status(
            v2::Code::ConsumerGroupNotFound,
            format!(
                "subscription group [{group}] does not exist: create it with mqadmin updateSubGroup \
                 (autoCreateSubscriptionGroup is off on broker group {})",
                inner.conf.group
            ),
        ));
    }
    let defaults = SubscriptionGroupConfig::default();
    {
        let mut creating = inner.groups.0.lock();
        let now = Instant::now();
        match creating.get(group) {
            Some(at) if now.duration_since(*at) < RETRY_CREATE => return Ok(defaults),
            _ => {
                creating.insert(group.clone(), now);
            }
        }
    }
    let created = inner
        .node
        .command(&Command::UpsertGroup {
            group: group.clone(),
            config: defaults.clone(),
        })
        .await;
    match created {
        Ok(()) => {
            inner.groups.0.lock().remove(group);
            tracing::info!(%group, "subscription group created on first use");
        }
        Err(e) => {
            tracing::warn!(%group, error = %e, "subscription group not created; served with the defaults, tried again later");
        }
    }
    // A concurrent updateSubGroup may have landed first: the stored one wins.
    Ok(inner.node.store().group(group).unwrap_or(defaults))
}

/// The configuration of a group about to receive, or the refusal: a
/// missing group (auto-creation off), or a disabled one (`consumeEnable`
/// false: FORBIDDEN with upstream's remark).
pub(super) async fn receivable(
    inner: &Inner,
    group: &GroupName,
) -> Result<SubscriptionGroupConfig, v2::Status> {
    let c = config_or_create(inner, group).await?;
    if !c.consume_enable {
        return Err(cp::status(
            v2::Code::Forbidden,
            format!(
                "subscription group no permission, {group}: consumeEnable is false \
                 (mqadmin updateSubGroup -g {group} -s true enables it)"
            ),
        ));
    }
    Ok(c)
}
