//! `host:port` addresses as `mqadmin` takes them: `-n` lists nameservers
//! separated by `;` (RocketMQ's `NAMESRV_ADDR` format), `-b` names one broker.

use super::AdminError;

/// The environment variable read when `-n` is not given.
pub const NAMESRV_ADDR_ENV: &str = "NAMESRV_ADDR";

/// The nameservers to ask, in the order to try them; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesrvAddrs(Vec<String>);

impl NamesrvAddrs {
    /// Picks the list from `-n` if given, else from `NAMESRV_ADDR` (`env`),
    /// and parses it.
    pub fn resolve(flag: Option<&str>, env: Option<&str>) -> Result<Self, AdminError> {
        match (flag, env) {
            (Some(list), _) => Self::parse("-n", list),
            (None, Some(list)) if !list.trim().is_empty() => Self::parse(NAMESRV_ADDR_ENV, list),
            (None, _) => Err(AdminError::NoNamesrv),
        }
    }

    /// Parses `host:port;host:port`; `source` names where the list came from
    /// (`-n` or `NAMESRV_ADDR`) for the error message.
    pub fn parse(source: &'static str, list: &str) -> Result<Self, AdminError> {
        let addrs = list
            .split(';')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| check_addr(source, a).map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?;
        if addrs.is_empty() {
            return Err(AdminError::InvalidOption {
                option: source,
                value: list.to_owned(),
                reason: "expected host:port, several separated by ';'".to_owned(),
            });
        }
        Ok(Self(addrs))
    }

    /// The addresses, in the order given.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// Checks that `addr` is `host:port` with a non-empty host and a port in
/// 1..=65535; `option` names the option it came from.
pub fn check_addr<'a>(option: &'static str, addr: &'a str) -> Result<&'a str, AdminError> {
    let invalid = |reason: &str| AdminError::InvalidOption {
        option,
        value: addr.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| invalid("expected host:port"))?;
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(invalid("expected host:port"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(addr),
        _ => Err(invalid("the port must be a number from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_env_and_splits_on_semicolons() {
        let addrs = NamesrvAddrs::resolve(Some("a:1; b:2;"), Some("c:3")).unwrap();
        assert_eq!(addrs.as_slice(), ["a:1", "b:2"]);
    }

    #[test]
    fn env_is_used_when_no_flag() {
        let addrs = NamesrvAddrs::resolve(None, Some("c:3")).unwrap();
        assert_eq!(addrs.as_slice(), ["c:3"]);
    }

    #[test]
    fn neither_flag_nor_env_says_what_to_do() {
        let err = NamesrvAddrs::resolve(None, Some("  ")).unwrap_err();
        assert!(matches!(err, AdminError::NoNamesrv));
        assert!(err.to_string().contains("NAMESRV_ADDR"));
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn bad_addresses_name_their_source() {
        for bad in ["localhost", ":9876", "a:0", "a:99999", "a:x", ";"] {
            let err = NamesrvAddrs::parse("-n", bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid -n"), "{bad}: {err}");
        }
        let err = NamesrvAddrs::resolve(None, Some("nope")).unwrap_err();
        assert!(err.to_string().contains("NAMESRV_ADDR"), "{err}");
    }
}
