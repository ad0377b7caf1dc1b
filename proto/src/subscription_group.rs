//! A consumer group's configuration between the model and the admin wire
//! ([`pb::SubscriptionGroup`]). The wire form carries the name beside the
//! configuration; a policy left out on the wire is upstream's default
//! (customized levels), as upstream's `GroupRetryPolicy` defaults.

use raftmq_model::{GroupRetryPolicy, SubscriptionGroupConfig};

use crate::admin::v1 as pb;

impl From<&GroupRetryPolicy> for pb::GroupRetryPolicy {
    fn from(p: &GroupRetryPolicy) -> Self {
        let policy = match p {
            GroupRetryPolicy::Customized { next } => {
                pb::group_retry_policy::Policy::Customized(pb::CustomizedRetryPolicy {
                    next_ms: next.clone(),
                })
            }
            GroupRetryPolicy::Exponential {
                initial,
                max,
                multiplier,
            } => pb::group_retry_policy::Policy::Exponential(pb::ExponentialRetryPolicy {
                initial_ms: *initial,
                max_ms: *max,
                multiplier: *multiplier,
            }),
        };
        pb::GroupRetryPolicy {
            policy: Some(policy),
        }
    }
}

/// The policy a wire field holds; none is upstream's default.
pub fn policy_from_wire(p: Option<pb::GroupRetryPolicy>) -> GroupRetryPolicy {
    match p.and_then(|p| p.policy) {
        None => GroupRetryPolicy::default(),
        Some(pb::group_retry_policy::Policy::Customized(c)) => {
            GroupRetryPolicy::Customized { next: c.next_ms }
        }
        Some(pb::group_retry_policy::Policy::Exponential(e)) => GroupRetryPolicy::Exponential {
            initial: e.initial_ms,
            max: e.max_ms,
            multiplier: e.multiplier,
        },
    }
}

/// The wire form of `group`'s configuration.
pub fn to_wire(group: &str, c: &SubscriptionGroupConfig) -> pb::SubscriptionGroup {
    pb::SubscriptionGroup {
        group: group.to_owned(),
        consume_enable: c.consume_enable,
        consume_broadcast_enable: c.consume_broadcast,
        consume_message_orderly: c.consume_orderly,
        retry_max_times: c.retry_max_times,
        retry_policy: Some((&c.retry_policy).into()),
    }
}

/// The configuration a wire form holds (its name apart; not checked: see
/// [`SubscriptionGroupConfig::check`]).
pub fn from_wire(g: pb::SubscriptionGroup) -> (String, SubscriptionGroupConfig) {
    let config = SubscriptionGroupConfig {
        consume_enable: g.consume_enable,
        consume_broadcast: g.consume_broadcast_enable,
        consume_orderly: g.consume_message_orderly,
        retry_max_times: g.retry_max_times,
        retry_policy: policy_from_wire(g.retry_policy),
    };
    (g.group, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_round_trip_and_a_missing_policy_is_the_default() {
        for policy in [
            GroupRetryPolicy::default(),
            GroupRetryPolicy::default_exponential(),
        ] {
            let c = SubscriptionGroupConfig {
                consume_orderly: true,
                retry_max_times: 2,
                retry_policy: policy,
                ..Default::default()
            };
            assert_eq!(from_wire(to_wire("g", &c)), ("g".to_owned(), c));
        }
        let bare = pb::SubscriptionGroup {
            group: "g".into(),
            ..Default::default()
        };
        assert_eq!(from_wire(bare).1.retry_policy, GroupRetryPolicy::default());
    }
}
