//! `dLegerPeers` and `dLegerSelfId`: `n0-127.0.0.1:40911;n1-127.0.0.1:40912`.

use std::collections::BTreeMap;

use crate::types::NodeId;

/// The node id of a DLedger member name: `n0` is 0, `n12` is 12.
pub fn node_id(name: &str) -> Result<NodeId, String> {
    name.strip_prefix('n')
        .and_then(|n| n.parse::<NodeId>().ok())
        .ok_or_else(|| format!("member name `{name}` must be `n` followed by a number, as in n0"))
}

/// Parses `dLegerPeers` into member id -> Raft address.
pub fn parse_peers(s: &str) -> Result<BTreeMap<NodeId, String>, String> {
    let mut out = BTreeMap::new();
    for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, addr) = part
            .split_once('-')
            .ok_or_else(|| format!("peer `{part}` must look like n0-127.0.0.1:40911"))?;
        let id = node_id(name.trim())?;
        let addr = addr.trim();
        let port_ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !port_ok {
            return Err(format!("peer `{part}`: `{addr}` is not host:port"));
        }
        if out.insert(id, addr.to_owned()).is_some() {
            return Err(format!("peer `{name}` is listed twice"));
        }
    }
    if out.is_empty() {
        return Err("dLegerPeers lists no member".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_stock_fast_try_peers() {
        let p =
            parse_peers("n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913").expect("valid");
        assert_eq!(p.len(), 3);
        assert_eq!(p[&1], "127.0.0.1:40912");
    }

    #[test]
    fn names_what_is_wrong() {
        assert!(parse_peers("n0-127.0.0.1")
            .expect_err("no port")
            .contains("host:port"));
        assert!(parse_peers("x0-127.0.0.1:1")
            .expect_err("bad name")
            .contains("`x0`"));
        assert!(parse_peers("n0-a:1;n0-b:2")
            .expect_err("twice")
            .contains("twice"));
        assert!(parse_peers(" ; ").is_err());
    }
}
