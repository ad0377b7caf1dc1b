//! Value parsers. Each takes the value as written and returns the typed value
//! or the reason it was refused, naming the value and what was expected; the
//! caller adds file, line and key.

use std::net::IpAddr;
use std::str::FromStr;

/// The reason a value was refused.
pub(crate) type Reason = String;

/// `true` or `false`, any case (Java's `Boolean.parseBoolean` reads anything
/// else as false; raftmq refuses it instead).
pub(crate) fn boolean(v: &str) -> Result<bool, Reason> {
    if v.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if v.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!("`{v}` is not true or false"))
    }
}

/// An integer in `min..=max`; `what` describes it in the error.
pub(crate) fn int_in<T>(v: &str, min: T, max: T, what: &str) -> Result<T, Reason>
where
    T: FromStr + PartialOrd + Copy,
{
    match v.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("`{v}` is not {what}")),
    }
}

/// A TCP port, 1-65535.
pub(crate) fn port(v: &str) -> Result<u16, Reason> {
    int_in(v, 1, u16::MAX, "a port number (1-65535)")
}

/// A percentage, 1-100.
pub(crate) fn ratio(v: &str) -> Result<u8, Reason> {
    int_in(v, 1, 100, "a percentage (1-100)")
}

/// A positive number of milliseconds.
pub(crate) fn millis(v: &str) -> Result<u64, Reason> {
    int_in(v, 1, u64::MAX, "a number of milliseconds (1 or more)")
}

/// Delay levels, upstream's `messageDelayLevel`: space-separated numbers
/// with a unit each, `s`, `m`, `h` or `d` (`1s 5s 10s 30s 1m ... 2h`).
pub(crate) fn delay_levels(v: &str) -> Result<Vec<std::time::Duration>, Reason> {
    let mut levels = Vec::new();
    for (i, word) in v.split_whitespace().enumerate() {
        let bad = || {
            format!(
                "level {} `{word}` is not a number with a unit s, m, h or d (e.g. `1s 5s 1m 2h`)",
                i + 1
            )
        };
        let unit = word.chars().last().ok_or_else(bad)?;
        let n: u64 = word[..word.len() - unit.len_utf8()]
            .parse()
            .map_err(|_| bad())?;
        let secs = match unit {
            's' => Some(n),
            'm' => n.checked_mul(60),
            'h' => n.checked_mul(3600),
            'd' => n.checked_mul(86_400),
            _ => None,
        }
        .ok_or_else(bad)?;
        levels.push(std::time::Duration::from_secs(secs));
    }
    if levels.is_empty() {
        return Err("no delay level: give them like `1s 5s 10s 30s 1m 2h`".into());
    }
    Ok(levels)
}

/// `framed` or `grpc`, any case.
pub(crate) fn replication_transport(v: &str) -> Result<raftmq_raft::ReplicationTransport, Reason> {
    use raftmq_raft::ReplicationTransport as T;
    if v.eq_ignore_ascii_case("framed") {
        Ok(T::Framed)
    } else if v.eq_ignore_ascii_case("grpc") {
        Ok(T::Grpc)
    } else {
        Err(format!(
            "`{v}` is not framed (the default) or grpc (for a rolling upgrade from a build \
             whose members answer only gRPC)"
        ))
    }
}

/// A cluster, broker or group name: not empty, no whitespace, no `;`.
pub(crate) fn name(v: &str) -> Result<String, Reason> {
    if v.is_empty() {
        return Err("the value is empty".into());
    }
    if v.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == ';')
    {
        return Err(format!(
            "`{v}` is not a valid name (no spaces, control characters or `;`)"
        ));
    }
    Ok(v.to_owned())
}

/// A directory path, not empty.
pub(crate) fn path(v: &str) -> Result<String, Reason> {
    if v.is_empty() {
        Err("the value is empty: give a directory".into())
    } else {
        Ok(v.to_owned())
    }
}

/// `host:port`, with a non-empty host and a port 1-65535.
pub(crate) fn host_port(v: &str) -> Result<String, Reason> {
    let ok = v.rsplit_once(':').is_some_and(|(host, p)| {
        !host.is_empty()
            && !host.chars().any(char::is_whitespace)
            && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    if ok {
        Ok(v.to_owned())
    } else {
        Err(format!("`{v}` is not host:port (port 1-65535)"))
    }
}

/// `namesrvAddr`: `host:port` items separated by `;`. Empty items are
/// skipped, so an empty value is an empty list.
pub(crate) fn namesrv_list(v: &str) -> Result<Vec<String>, Reason> {
    v.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(host_port)
        .collect()
}

/// `deleteWhen`: hours of the day separated by `;`, as `04` or `04;16`.
/// Duplicates are dropped; the order is kept.
pub(crate) fn hours(v: &str) -> Result<Vec<u8>, Reason> {
    let mut out: Vec<u8> = Vec::new();
    for item in v.split(';').map(str::trim) {
        let hour = item
            .parse::<u8>()
            .ok()
            .filter(|h| *h <= 23)
            .ok_or_else(|| {
                format!("`{item}` in `{v}` is not an hour of the day (0-23; several as 04;16)")
            })?;
        if !out.contains(&hour) {
            out.push(hour);
        }
    }
    Ok(out)
}

/// `brokerPermission`: 6 (read 4 + write 2), 4, 2 or 0.
pub(crate) fn permission(v: &str) -> Result<u8, Reason> {
    match v.parse::<u8>() {
        Ok(p @ (0 | 2 | 4 | 6)) => Ok(p),
        _ => Err(format!(
            "`{v}` is not a broker permission (6 = read 4 + write 2; 4, 2 or 0)"
        )),
    }
}

/// `brokerIP1`: an IP address or a host name.
pub(crate) fn ip_or_host(v: &str) -> Result<String, Reason> {
    let host_ok = !v.is_empty()
        && v.len() <= 253
        && !v.starts_with(['-', '.'])
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if v.parse::<IpAddr>().is_ok() || host_ok {
        Ok(v.to_owned())
    } else {
        Err(format!("`{v}` is not an IP address or host name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(boolean("TRUE"), Ok(true));
        assert_eq!(boolean("yes").unwrap_err(), "`yes` is not true or false");
        assert_eq!(port("30911"), Ok(30911));
        assert!(port("0").is_err() && port("65536").is_err() && port("").is_err());
        assert_eq!(ratio("100"), Ok(100));
        assert!(ratio("0").is_err() && ratio("101").is_err());
        assert_eq!(hours("04;16;04"), Ok(vec![4, 16]));
        assert!(hours("24").unwrap_err().contains("`24`"));
        assert!(hours("").is_err());
        assert_eq!(
            namesrv_list("127.0.0.1:9876; 127.0.0.1:9877;"),
            Ok(vec![
                "127.0.0.1:9876".to_owned(),
                "127.0.0.1:9877".to_owned()
            ])
        );
        assert_eq!(namesrv_list(""), Ok(vec![]));
        assert!(namesrv_list("127.0.0.1").is_err());
        assert!(namesrv_list(":9876").is_err());
        assert_eq!(permission("6"), Ok(6));
        assert!(permission("7").is_err());
        assert!(ip_or_host("10.0.0.1").is_ok() && ip_or_host("broker-0.local").is_ok());
        assert!(ip_or_host("::1").is_ok());
        assert!(ip_or_host("a b").is_err() && ip_or_host("").is_err());
        assert!(name("Raft Node").is_err() && name("RaftNode00").is_ok());
    }
}
