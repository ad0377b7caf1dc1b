//! A consumer group's configuration as `updateSubGroup` takes it, checked
//! before anything is sent: the name, `true`/`false` flags, and upstream's
//! JSON form of a retry policy (`-p`).

use std::fmt;

use raftmq_model::{GroupName, GroupRetryPolicy, SubscriptionGroupConfig};
use serde::Deserialize;

use super::AdminError;

/// A consumer group and the configuration to give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSpec {
    name: GroupName,
    config: SubscriptionGroupConfig,
}

/// The options of `updateSubGroup`, as given.
#[derive(Debug, Clone, Default)]
pub struct GroupOptions<'a> {
    /// `-g`.
    pub group: &'a str,
    /// `-s` consumeEnable.
    pub consume_enable: Option<&'a str>,
    /// `-d` consumeBroadcastEnable.
    pub broadcast: Option<&'a str>,
    /// `-o` consumeMessageOrderly.
    pub orderly: Option<&'a str>,
    /// `-r` retryMaxTimes.
    pub retry_max_times: Option<&'a str>,
    /// `-p` groupRetryPolicy, upstream's JSON.
    pub retry_policy: Option<&'a str>,
}

impl GroupSpec {
    /// Checks the options. As upstream's `updateSubGroup`, every field not
    /// given takes the tool's default (consumeEnable true, broadcast false,
    /// orderly false, 16 retries, customized levels): the command replaces
    /// the whole configuration.
    pub fn new(o: &GroupOptions<'_>) -> Result<Self, AdminError> {
        let name = GroupName::new(o.group).map_err(|e| AdminError::InvalidOption {
            option: "-g",
            value: o.group.to_owned(),
            reason: e.to_string(),
        })?;
        let mut config = SubscriptionGroupConfig {
            // upstream's updateSubGroup starts from broadcast off.
            consume_broadcast: false,
            ..Default::default()
        };
        if let Some(v) = o.consume_enable {
            config.consume_enable = boolean("-s", v)?;
        }
        if let Some(v) = o.broadcast {
            config.consume_broadcast = boolean("-d", v)?;
        }
        if let Some(v) = o.orderly {
            config.consume_orderly = boolean("-o", v)?;
        }
        if let Some(v) = o.retry_max_times {
            config.retry_max_times = v.trim().parse().map_err(|_| AdminError::InvalidOption {
                option: "-r",
                value: v.to_owned(),
                reason: format!(
                    "retryMaxTimes is a whole number from 0 to {}",
                    raftmq_model::MAX_RETRY_TIMES
                ),
            })?;
        }
        if let Some(v) = o.retry_policy {
            config.retry_policy = retry_policy(v)?;
        }
        config.check().map_err(|e| {
            let (option, value) = match e {
                raftmq_model::GroupConfigError::RetryMaxTimes(_) => {
                    ("-r", o.retry_max_times.unwrap_or_default())
                }
                _ => ("-p", o.retry_policy.unwrap_or_default()),
            };
            AdminError::InvalidOption {
                option,
                value: value.to_owned(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self { name, config })
    }

    /// The group's name.
    pub fn name(&self) -> &GroupName {
        &self.name
    }

    /// Its configuration.
    pub fn config(&self) -> &SubscriptionGroupConfig {
        &self.config
    }
}

/// Upstream's `SubscriptionGroupConfig{groupName=..., ...}` line, with the
/// fields raftmq keeps.
impl fmt::Display for GroupSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SubscriptionGroupConfig{{groupName={}, {}}}",
            self.name, self.config
        )
    }
}

/// `true` or `false`, any case (upstream reads anything else as false;
/// raftmq refuses it).
fn boolean(option: &'static str, v: &str) -> Result<bool, AdminError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(AdminError::InvalidOption {
            option,
            value: v.to_owned(),
            reason: "use true or false".into(),
        }),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyJson {
    #[serde(rename = "type")]
    kind: Option<String>,
    exponential_retry_policy: Option<ExponentialJson>,
    customized_retry_policy: Option<CustomizedJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExponentialJson {
    initial: Option<u64>,
    max: Option<u64>,
    multiplier: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomizedJson {
    next: Option<Vec<u64>>,
}

/// Upstream's JSON form of a group retry policy, e.g.
/// `{"type":"EXPONENTIAL","exponentialRetryPolicy":{"initial":5000,"max":7200000,"multiplier":2}}`
/// or `{"type":"CUSTOMIZED","customizedRetryPolicy":{"next":[1000,5000,10000]}}`.
/// A missing type is CUSTOMIZED and a missing field takes upstream's
/// default, as upstream reads it; unknown fields and types are refused.
pub fn retry_policy(json: &str) -> Result<GroupRetryPolicy, AdminError> {
    let bad = |reason: String| AdminError::InvalidOption {
        option: "-p",
        value: json.to_owned(),
        reason,
    };
    let p: PolicyJson = serde_json::from_str(json).map_err(|e| {
        bad(format!(
            "not a group retry policy ({e}); e.g. {{\"type\":\"EXPONENTIAL\",\"exponentialRetryPolicy\":{{\"initial\":5000,\"max\":7200000,\"multiplier\":2}}}} or {{\"type\":\"CUSTOMIZED\",\"customizedRetryPolicy\":{{\"next\":[1000,5000,10000]}}}}"
        ))
    })?;
    match p.kind.as_deref().unwrap_or("CUSTOMIZED") {
        "CUSTOMIZED" => {
            let next = p.customized_retry_policy.and_then(|c| c.next);
            Ok(match next {
                Some(next) => GroupRetryPolicy::Customized { next },
                None => GroupRetryPolicy::default(),
            })
        }
        "EXPONENTIAL" => {
            let (initial, max, multiplier) = raftmq_model::DEFAULT_EXPONENTIAL;
            let e = p.exponential_retry_policy;
            let e = e.as_ref();
            Ok(GroupRetryPolicy::Exponential {
                initial: e.and_then(|e| e.initial).unwrap_or(initial),
                max: e.and_then(|e| e.max).unwrap_or(max),
                multiplier: e.and_then(|e| e.multiplier).unwrap_or(multiplier),
            })
        }
        other => Err(bad(format!(
            "type {other:?} is not EXPONENTIAL or CUSTOMIZED"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(group: &str) -> GroupOptions<'_> {
        GroupOptions {
            group,
            ..Default::default()
        }
    }

    #[test]
    fn unset_options_take_the_tools_defaults() {
        let g = GroupSpec::new(&GroupOptions {
            retry_max_times: Some("2"),
            orderly: Some("TRUE"),
            ..opts("g")
        })
        .unwrap();
        let c = g.config();
        assert!(c.consume_enable && !c.consume_broadcast && c.consume_orderly);
        assert_eq!(c.retry_max_times, 2);
        assert_eq!(c.retry_policy, GroupRetryPolicy::default());
        assert_eq!(
            g.to_string(),
            "SubscriptionGroupConfig{groupName=g, consumeEnable=true, consumeBroadcastEnable=false, \
             consumeMessageOrderly=true, retryMaxTimes=2, groupRetryPolicy=GroupRetryPolicy{type=CUSTOMIZED, \
             next=[1000, 5000, 10000, 30000, 60000, 120000, 180000, 240000, 300000, 360000, 420000, \
             480000, 540000, 600000, 1200000, 1800000, 3600000, 7200000]}}"
        );
    }

    #[test]
    fn upstreams_policy_json_is_read_and_bad_json_refused() {
        assert_eq!(
            retry_policy(
                r#"{"type":"EXPONENTIAL","exponentialRetryPolicy":{"initial":5000,"max":7200000,"multiplier":2}}"#
            )
            .unwrap(),
            GroupRetryPolicy::default_exponential()
        );
        assert_eq!(
            retry_policy(
                r#"{"type":"CUSTOMIZED","customizedRetryPolicy":{"next":[1000,5000,10000]}}"#
            )
            .unwrap(),
            GroupRetryPolicy::Customized {
                next: vec![1000, 5000, 10000]
            }
        );
        assert_eq!(
            retry_policy(r#"{"type":"EXPONENTIAL"}"#).unwrap(),
            GroupRetryPolicy::default_exponential()
        );
        for (bad, says) in [
            (r#"{"type":"LINEAR"}"#, "LINEAR"),
            (r#"{"type":"CUSTOMIZED","extra":1}"#, "extra"),
            ("not json", "not a group retry policy"),
            (
                r#"{"customizedRetryPolicy":{"next":[-1]}}"#,
                "not a group retry policy",
            ),
        ] {
            let e = retry_policy(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid -p"), "{e}");
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn bad_values_name_their_option() {
        for (o, option) in [
            (
                GroupOptions {
                    consume_enable: Some("yes"),
                    ..opts("g")
                },
                "-s",
            ),
            (
                GroupOptions {
                    retry_max_times: Some("-1"),
                    ..opts("g")
                },
                "-r",
            ),
            (
                GroupOptions {
                    retry_policy: Some(r#"{"customizedRetryPolicy":{"next":[]}}"#),
                    ..opts("g")
                },
                "-p",
            ),
            (opts("%DLQ%g"), "-g"),
        ] {
            match GroupSpec::new(&o) {
                Err(AdminError::InvalidOption { option: got, .. }) => assert_eq!(got, option),
                other => panic!("{option}: {other:?}"),
            }
        }
    }
}
