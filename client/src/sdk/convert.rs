//! Small conversions between std types and the protocol's well-known types.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use raftmq_proto::rocketmq::v2;

/// A `Resource` named `name` in the default namespace.
pub(crate) fn resource(name: &str) -> v2::Resource {
    v2::Resource {
        resource_namespace: String::new(),
        name: name.to_owned(),
    }
}

/// A protobuf duration.
pub(crate) fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A protobuf timestamp.
pub(crate) fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// A std time from a protobuf timestamp (times before 1970 are 1970).
pub(crate) fn from_timestamp(t: &prost_types::Timestamp) -> SystemTime {
    let secs = u64::try_from(t.seconds).unwrap_or(0);
    let nanos = u32::try_from(t.nanos).unwrap_or(0).min(999_999_999);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

/// A timestamp `ms` milliseconds after the Unix epoch.
pub(crate) fn timestamp_ms(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_round_trip() {
        let d = duration(Duration::from_millis(1_500));
        assert_eq!((d.seconds, d.nanos), (1, 500_000_000));
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(from_timestamp(&timestamp(t)), t);
        assert_eq!(from_timestamp(&timestamp_ms(1_700_000_000_123)), t);
    }
}
