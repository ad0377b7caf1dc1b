//! What every SDK client is configured with: where the nameservers are, how
//! long to wait, how to retry, how to coalesce sends.

use std::time::Duration;

use super::ClientError;

/// The environment variable read by [`ClientConfig::from_env`], as in RocketMQ.
pub const NAMESRV_ADDR_ENV: &str = "NAMESRV_ADDR";

/// Settings shared by producers and consumers.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Nameserver addresses (`host:port`), tried in order for routes.
    pub namesrv: Vec<String>,
    /// Bound on one call's answer (long polls add their own wait on top).
    pub request_timeout: Duration,
    /// Bound on opening a connection to one address before trying the next.
    pub connect_timeout: Duration,
    /// How long a receive waits on the broker when nothing is ready.
    pub long_polling_timeout: Duration,
    /// How old a cached route may get before it is asked for again.
    pub route_refresh: Duration,
    /// How long to wait for the server's answer to the Telemetry settings.
    pub telemetry_timeout: Duration,
    /// Period of the Heartbeat sent to every endpoint in use.
    pub heartbeat_interval: Duration,
    /// Attempts and backoff of a send (the message id stays the same).
    pub send_retry: Retry,
    /// How outstanding sends are coalesced into SendMessage requests.
    pub batch: BatchLimits,
}

impl ClientConfig {
    /// A configuration with defaults for nameservers `"host:port;host:port"`.
    pub fn new(namesrv: &str) -> Result<Self, ClientError> {
        Ok(Self {
            namesrv: parse_namesrv(namesrv)?,
            request_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(1),
            long_polling_timeout: Duration::from_secs(20),
            route_refresh: Duration::from_secs(30),
            telemetry_timeout: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(10),
            send_retry: Retry::default(),
            batch: BatchLimits::default(),
        })
    }

    /// A configuration with defaults for the nameservers in `NAMESRV_ADDR`.
    pub fn from_env() -> Result<Self, ClientError> {
        match std::env::var(NAMESRV_ADDR_ENV) {
            Ok(list) => Self::new(&list),
            Err(_) => Err(ClientError::BadConfig {
                field: "namesrv",
                reason: format!("{NAMESRV_ADDR_ENV} is not set: set it to host:port[;host:port]"),
            }),
        }
    }

    /// Checks the values a hand-built configuration may get wrong.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.namesrv.is_empty() {
            return Err(bad("namesrv", "give at least one host:port"));
        }
        for a in &self.namesrv {
            check_addr(a)?;
        }
        let positive = [
            ("request_timeout", self.request_timeout),
            ("connect_timeout", self.connect_timeout),
            ("route_refresh", self.route_refresh),
            ("telemetry_timeout", self.telemetry_timeout),
            ("heartbeat_interval", self.heartbeat_interval),
        ];
        for (field, d) in positive {
            if d.is_zero() {
                return Err(bad(field, "must be longer than zero"));
            }
        }
        if self.send_retry.max_attempts == 0 {
            return Err(bad("send_retry.max_attempts", "must be at least 1"));
        }
        if self.send_retry.multiplier < 1.0 || !self.send_retry.multiplier.is_finite() {
            return Err(bad("send_retry.multiplier", "must be a number >= 1"));
        }
        let b = &self.batch;
        if b.max_messages == 0 || b.max_bytes == 0 || b.max_in_flight == 0 {
            return Err(bad(
                "batch",
                "max_messages, max_bytes and max_in_flight must be at least 1",
            ));
        }
        Ok(())
    }
}

fn bad(field: &'static str, reason: &str) -> ClientError {
    ClientError::BadConfig {
        field,
        reason: reason.to_owned(),
    }
}

/// Splits `host:port;host:port`, refusing an empty list or a bad address.
pub(crate) fn parse_namesrv(list: &str) -> Result<Vec<String>, ClientError> {
    let addrs = list
        .split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| check_addr(a).map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(bad(
            "namesrv",
            "expected host:port, several separated by ';' (e.g. 127.0.0.1:9876)",
        ));
    }
    Ok(addrs)
}

fn check_addr(addr: &str) -> Result<&str, ClientError> {
    let reason = |why: &str| ClientError::BadConfig {
        field: "namesrv",
        reason: format!("'{addr}': {why}"),
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| reason("expected host:port"))?;
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(reason("expected host:port"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(addr),
        _ => Err(reason("the port must be a number from 1 to 65535")),
    }
}

/// Attempts and exponential backoff between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    /// Wait after the first failed attempt.
    pub initial: Duration,
    /// Growth of the wait per failed attempt.
    pub multiplier: f64,
    /// Longest wait.
    pub max: Duration,
}

impl Default for Retry {
    /// 5 attempts, waiting 100, 200, 400 then 800 ms (1.5 s in all), the
    /// route re-read between: enough to ride out a leader's crash, which a
    /// producer with 256 sends outstanding on a busy 2-core machine sees as
    /// a gap of 0.5 to 0.85 s (benches/scripts/failover-gap.sh).
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial: Duration::from_millis(100),
            multiplier: 2.0,
            max: Duration::from_secs(1),
        }
    }
}

impl Retry {
    /// The wait after failed attempt `attempt` (1 for the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exp);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }
}

/// Bounds of one coalesced SendMessage request, and of the requests in
/// flight to one broker group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most messages in one request.
    pub max_messages: usize,
    /// Most encoded bytes in one request (a larger single message goes alone).
    pub max_bytes: usize,
    /// Most SendMessage requests in flight to one broker group. A few keep
    /// the group busy while the next request fills; more make each request
    /// emptier, and a fuller request costs the brokers less per message.
    /// With 256 sends outstanding on two cores: 3 made 102,000-113,000
    /// msg/s, 2 made 87,000-116,000 (median 98,000), 4 less than either.
    pub max_in_flight: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_messages: 256,
            max_bytes: 1 << 20,
            max_in_flight: 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namesrv_lists_split_on_semicolons() {
        let c = ClientConfig::new(" a:1; b:2;").unwrap();
        assert_eq!(c.namesrv, ["a:1", "b:2"]);
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        c.validate().unwrap();
    }

    #[test]
    fn bad_lists_say_which_field() {
        for bad in ["", ";", "nohost", ":1", "a:0", "a:70000", "a b:1"] {
            let err = ClientConfig::new(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    ClientError::BadConfig {
                        field: "namesrv",
                        ..
                    }
                ),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn hand_built_configs_are_checked() {
        let mut c = ClientConfig::new("a:1").unwrap();
        c.batch.max_in_flight = 0;
        assert!(c.validate().unwrap_err().to_string().contains("batch"));
        let mut c = ClientConfig::new("a:1").unwrap();
        c.request_timeout = Duration::ZERO;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("request_timeout"));
    }

    #[test]
    fn retry_delays_grow_and_cap() {
        let r = Retry::default();
        assert_eq!(r.delay(1), Duration::from_millis(100));
        assert_eq!(r.delay(2), Duration::from_millis(200));
        assert_eq!(r.delay(3), Duration::from_millis(400));
        assert_eq!(r.delay(4), Duration::from_millis(800));
        assert_eq!(r.delay(5), Duration::from_secs(1));
        assert_eq!(r.delay(400), Duration::from_secs(1));
    }
}
