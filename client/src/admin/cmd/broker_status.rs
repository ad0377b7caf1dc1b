//! `mqadmin brokerStatus -b ADDR`: one member's own view, as upstream prints
//! it: `name : value` lines, names padded to one column.

use raftmq_proto::admin::v1::StatusEntry;

use crate::admin::{AdminError, BrokerClient};

/// The status entries of the member at `addr`.
pub async fn broker_status(
    brokers: &BrokerClient,
    addr: &str,
) -> Result<Vec<StatusEntry>, AdminError> {
    brokers.broker_status(addr).await
}

/// One `name : value` line per entry, in the member's order.
pub fn render_broker_status(entries: &[StatusEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{:<32}: {}\n", e.name, e.value))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_padded_into_one_column() {
        let entries = [("role", "Follower"), ("term", "3")].map(|(n, v)| StatusEntry {
            name: n.into(),
            value: v.into(),
        });
        let text = render_broker_status(&entries);
        assert_eq!(
            text,
            format!("{:<32}: Follower\n{:<32}: 3\n", "role", "term")
        );
    }
}
