//! A consumer group's configuration, upstream 5.x's `SubscriptionGroupConfig`
//! with the fields raftmq honours, and its retry policy (`GroupRetryPolicy`).
//!
//! A group is created by `mqadmin updateSubGroup`, or on first use when the
//! broker's `autoCreateSubscriptionGroup` is on (upstream's default), with
//! [`SubscriptionGroupConfig::default`]: enabled, not orderly, 16 retries,
//! upstream's customized back-off levels.

use std::fmt;

/// How long a consumer waits before a failed message is tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupRetryPolicy {
    /// Upstream `CUSTOMIZED`: the wait before retry `n` is `next[n - 1]`,
    /// the last one for every retry past the list.
    Customized {
        /// Waits, in ms; never empty.
        next: Vec<u64>,
    },
    /// Upstream `EXPONENTIAL`: `initial * multiplier^(n-1)`, at most `max`.
    Exponential {
        /// First wait, ms.
        initial: u64,
        /// Longest wait, ms.
        max: u64,
        /// Growth per retry.
        multiplier: u64,
    },
}

/// Upstream's customized levels: 1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m
/// 10m 20m 30m 1h 2h.
pub const DEFAULT_CUSTOMIZED_LEVELS_MS: [u64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000,
    480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

/// Upstream `ExponentialRetryPolicy` defaults: 5 s, at most 2 h, doubling.
pub const DEFAULT_EXPONENTIAL: (u64, u64, u64) = (5_000, 7_200_000, 2);

/// The wait of a FIFO group's PushConsumer before it consumes a failed
/// message again (upstream's documented fixed 3000 ms).
pub const FIFO_RETRY_INTERVAL_MS: u64 = 3_000;

impl Default for GroupRetryPolicy {
    fn default() -> Self {
        GroupRetryPolicy::Customized {
            next: DEFAULT_CUSTOMIZED_LEVELS_MS.to_vec(),
        }
    }
}

impl GroupRetryPolicy {
    /// Upstream's exponential policy with its default numbers.
    pub fn default_exponential() -> Self {
        let (initial, max, multiplier) = DEFAULT_EXPONENTIAL;
        GroupRetryPolicy::Exponential {
            initial,
            max,
            multiplier,
        }
    }

    /// Upstream's name of the policy's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            GroupRetryPolicy::Customized { .. } => "CUSTOMIZED",
            GroupRetryPolicy::Exponential { .. } => "EXPONENTIAL",
        }
    }

    /// The wait before retry `retry` (1 for the first retry), in ms.
    pub fn delay_ms(&self, retry: u32) -> u64 {
        let retry = retry.max(1);
        match self {
            GroupRetryPolicy::Customized { next } => {
                let i = usize::try_from(retry - 1).unwrap_or(usize::MAX);
                next.get(i).or(next.last()).copied().unwrap_or(0)
            }
            GroupRetryPolicy::Exponential {
                initial,
                max,
                multiplier,
            } => {
                // Upstream caps the exponent at 32.
                let exp = (retry - 1).min(32);
                multiplier
                    .checked_pow(exp)
                    .and_then(|m| initial.checked_mul(m))
                    .map_or(*max, |d| d.min(*max))
            }
        }
    }

    fn check(&self) -> Result<(), GroupConfigError> {
        match self {
            GroupRetryPolicy::Customized { next } => {
                if next.is_empty() {
                    return Err(GroupConfigError::EmptyCustomized);
                }
                if next.len() > MAX_LEVELS {
                    return Err(GroupConfigError::TooManyLevels { len: next.len() });
                }
            }
            GroupRetryPolicy::Exponential {
                initial,
                max,
                multiplier,
            } => {
                if *initial == 0 || max < initial || *multiplier == 0 {
                    return Err(GroupConfigError::Exponential {
                        initial: *initial,
                        max: *max,
                        multiplier: *multiplier,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Most levels a customized policy may list.
pub const MAX_LEVELS: usize = 1_024;

/// Most retries a group may ask for: attempts (`retryMaxTimes + 1`) must
/// fit the client protocol's `int32`.
pub const MAX_RETRY_TIMES: u32 = i32::MAX as u32 - 1;

/// A consumer group's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionGroupConfig {
    /// `consumeEnable`: whether the group may receive; a disabled group is
    /// refused at receive.
    pub consume_enable: bool,
    /// `consumeBroadcastEnable`: whether the group may consume by
    /// broadcast (recorded and shown; the RocketMQ 5 clients never do).
    pub consume_broadcast: bool,
    /// `consumeMessageOrderly`: a FIFO group, each message group received
    /// in order.
    pub consume_orderly: bool,
    /// `retryMaxTimes`: deliveries after the first before a message goes to
    /// the group's dead-letter topic.
    pub retry_max_times: u32,
    /// `groupRetryPolicy`: the waits between a PushConsumer's attempts.
    pub retry_policy: GroupRetryPolicy,
}

impl Default for SubscriptionGroupConfig {
    /// Upstream's defaults: enabled, broadcast allowed, not orderly, 16
    /// retries, customized levels.
    fn default() -> Self {
        Self {
            consume_enable: true,
            consume_broadcast: true,
            consume_orderly: false,
            retry_max_times: 16,
            retry_policy: GroupRetryPolicy::default(),
        }
    }
}

/// Why a group configuration is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupConfigError {
    /// `retryMaxTimes` out of range.
    #[error("retryMaxTimes {0} is out of range: use 0 to {MAX_RETRY_TIMES}")]
    RetryMaxTimes(u32),
    /// A customized policy without levels.
    #[error("groupRetryPolicy: a CUSTOMIZED policy needs at least one wait in next")]
    EmptyCustomized,
    /// A customized policy with too many levels.
    #[error("groupRetryPolicy: {len} waits in next; at most {MAX_LEVELS}")]
    TooManyLevels {
        /// Levels given.
        len: usize,
    },
    /// An exponential policy whose numbers do not make a back-off.
    #[error(
        "groupRetryPolicy: EXPONENTIAL needs initial > 0, max >= initial and multiplier >= 1 \
         (got initial {initial}, max {max}, multiplier {multiplier})"
    )]
    Exponential {
        /// `initial`.
        initial: u64,
        /// `max`.
        max: u64,
        /// `multiplier`.
        multiplier: u64,
    },
}

impl SubscriptionGroupConfig {
    /// Deliveries a message gets before it goes to the dead-letter topic:
    /// `retryMaxTimes + 1`.
    pub fn max_attempts(&self) -> u32 {
        self.retry_max_times.saturating_add(1)
    }

    /// The strict check for a configuration about to be stored.
    pub fn check(&self) -> Result<(), GroupConfigError> {
        if self.retry_max_times > MAX_RETRY_TIMES {
            return Err(GroupConfigError::RetryMaxTimes(self.retry_max_times));
        }
        self.retry_policy.check()
    }
}

/// Upstream's `toString` shape, `SubscriptionGroupConfig{groupName=..., ...}`
/// without the name (the caller knows it) and with the fields raftmq keeps.
impl fmt::Display for SubscriptionGroupConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "consumeEnable={}, consumeBroadcastEnable={}, consumeMessageOrderly={}, \
             retryMaxTimes={}, groupRetryPolicy={}",
            self.consume_enable,
            self.consume_broadcast,
            self.consume_orderly,
            self.retry_max_times,
            self.retry_policy
        )
    }
}

impl fmt::Display for GroupRetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupRetryPolicy::Customized { next } => {
                write!(f, "GroupRetryPolicy{{type=CUSTOMIZED, next={next:?}}}")
            }
            GroupRetryPolicy::Exponential {
                initial,
                max,
                multiplier,
            } => write!(
                f,
                "GroupRetryPolicy{{type=EXPONENTIAL, initial={initial}, max={max}, multiplier={multiplier}}}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_upstreams() {
        let c = SubscriptionGroupConfig::default();
        assert!(c.consume_enable && c.consume_broadcast && !c.consume_orderly);
        assert_eq!((c.retry_max_times, c.max_attempts()), (16, 17));
        assert_eq!(c.retry_policy.type_name(), "CUSTOMIZED");
        assert_eq!(c.retry_policy.delay_ms(1), 1_000);
        assert_eq!(c.retry_policy.delay_ms(18), 7_200_000);
        assert_eq!(c.retry_policy.delay_ms(100), 7_200_000, "the last level");
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn exponential_grows_to_its_max_without_overflow() {
        let p = GroupRetryPolicy::default_exponential();
        assert_eq!([1, 2, 3].map(|n| p.delay_ms(n)), [5_000, 10_000, 20_000]);
        assert_eq!(p.delay_ms(u32::MAX), 7_200_000);
        let huge = GroupRetryPolicy::Exponential {
            initial: u64::MAX / 2,
            max: u64::MAX,
            multiplier: 3,
        };
        assert_eq!(huge.delay_ms(2), u64::MAX, "an overflow is the max");
    }

    #[test]
    fn bad_configurations_are_refused_naming_the_field() {
        let mut c = SubscriptionGroupConfig {
            retry_max_times: u32::MAX,
            ..Default::default()
        };
        let e = c.check().expect_err("too many retries");
        assert!(e.to_string().contains("retryMaxTimes"), "{e}");
        c.retry_max_times = 2;
        c.retry_policy = GroupRetryPolicy::Customized { next: vec![] };
        assert_eq!(c.check(), Err(GroupConfigError::EmptyCustomized));
        c.retry_policy = GroupRetryPolicy::Exponential {
            initial: 10,
            max: 5,
            multiplier: 2,
        };
        let e = c.check().expect_err("max below initial");
        assert!(e.to_string().contains("EXPONENTIAL"), "{e}");
    }
}
