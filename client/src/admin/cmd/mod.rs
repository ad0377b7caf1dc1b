//! One file per `mqadmin` command: an async function that asks the servers
//! and a pure function that renders what it prints.

pub mod broker_status;
pub mod cluster_list;
pub mod consume_message;
pub mod consumer_progress;
pub mod delete_sub_group;
pub mod delete_topic;
pub mod get_consumer_config;
pub mod group_list;
pub mod send_message;
pub mod topic_list;
pub mod topic_route;
pub mod update_sub_group;
pub mod update_topic;

use super::AdminError;

/// Upstream's `create WHAT to ADDR success.` for each broker group that
/// applied a change, then `spec` when every one did (`updateTopic`,
/// `updateSubGroup`).
pub(crate) fn render_applied(
    what: &str,
    spec: &dyn std::fmt::Display,
    groups: &[(String, Result<String, AdminError>)],
) -> String {
    let mut out = String::new();
    for addr in groups.iter().filter_map(|(_, r)| r.as_ref().ok()) {
        out.push_str(&format!("create {what} to {addr} success.\n"));
    }
    if groups.iter().all(|(_, r)| r.is_ok()) {
        out.push_str(&format!("{spec}\n"));
    }
    out
}

/// The broker groups that failed `call`, as one error; `None` when all
/// succeeded.
pub(crate) fn failed_groups(
    call: &'static str,
    cluster: Option<String>,
    groups: Vec<(String, Result<String, AdminError>)>,
) -> Option<AdminError> {
    let total = groups.len();
    let failures: Vec<(String, AdminError)> = groups
        .into_iter()
        .filter_map(|(group, r)| r.err().map(|e| (group, e)))
        .collect();
    if failures.is_empty() {
        return None;
    }
    Some(AdminError::Groups {
        call,
        cluster: cluster.unwrap_or_default(),
        groups: total,
        failures,
    })
}
