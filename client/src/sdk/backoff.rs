//! The waits of a consumer group's retry policy, as the broker states it
//! in the Telemetry settings (`Settings.backoff_policy`): how long a
//! PushConsumer leaves a failed message invisible before its next attempt.
//!
//! ```text
//!  customized  next = [1s, 5s, 10s]  retry 1 → 1s, 2 → 5s, 3 and later → 10s
//!  exponential initial 5s, x2, max 2h retry n → min(5s * 2^(n-1), 2h)
//! ```

use std::time::Duration;

use raftmq_proto::rocketmq::v2;

fn duration(d: Option<&prost_types::Duration>) -> Option<Duration> {
    let d = d?;
    Some(Duration::new(
        u64::try_from(d.seconds).ok()?,
        u32::try_from(d.nanos).ok()?,
    ))
}

/// The wait before the delivery that follows failed attempt `attempt` (1
/// for the first), or None when the policy states none.
pub(crate) fn delay(policy: &v2::RetryPolicy, attempt: u32) -> Option<Duration> {
    let attempt = attempt.max(1);
    match policy.strategy.as_ref()? {
        v2::retry_policy::Strategy::CustomizedBackoff(c) => {
            let i = usize::try_from(attempt - 1).unwrap_or(usize::MAX);
            duration(c.next.get(i).or(c.next.last()))
        }
        v2::retry_policy::Strategy::ExponentialBackoff(e) => {
            let initial = duration(e.initial.as_ref())?;
            let max = duration(e.max.as_ref()).unwrap_or(Duration::MAX);
            // As upstream: the exponent stops growing at 32.
            let exp = i32::try_from((attempt - 1).min(32)).unwrap_or(32);
            let secs = initial.as_secs_f64() * f64::from(e.multiplier).powi(exp);
            if !secs.is_finite() || secs >= max.as_secs_f64() {
                Some(max)
            } else {
                Some(Duration::from_secs_f64(secs.max(0.0)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> prost_types::Duration {
        prost_types::Duration {
            seconds: s,
            nanos: 0,
        }
    }

    #[test]
    fn customized_levels_then_the_last_one() {
        let p = v2::RetryPolicy {
            max_attempts: 4,
            strategy: Some(v2::retry_policy::Strategy::CustomizedBackoff(
                v2::CustomizedBackoff {
                    next: vec![secs(1), secs(5), secs(10)],
                },
            )),
        };
        let got: Vec<_> = [0, 1, 2, 3, 4, 99].map(|a| delay(&p, a)).to_vec();
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(got, [s(1), s(1), s(5), s(10), s(10), s(10)]);
        let empty = v2::RetryPolicy {
            max_attempts: 4,
            strategy: Some(v2::retry_policy::Strategy::CustomizedBackoff(
                v2::CustomizedBackoff { next: vec![] },
            )),
        };
        assert_eq!(delay(&empty, 1), None);
        assert_eq!(delay(&v2::RetryPolicy::default(), 1), None);
    }

    #[test]
    fn exponential_grows_to_its_max() {
        let p = v2::RetryPolicy {
            max_attempts: 17,
            strategy: Some(v2::retry_policy::Strategy::ExponentialBackoff(
                v2::ExponentialBackoff {
                    initial: Some(secs(5)),
                    max: Some(secs(7200)),
                    multiplier: 2.0,
                },
            )),
        };
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!([1, 2, 3].map(|a| delay(&p, a)), [s(5), s(10), s(20)]);
        assert_eq!(delay(&p, 40), s(7200));
        assert_eq!(delay(&p, u32::MAX), s(7200));
    }
}
