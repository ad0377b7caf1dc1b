use raftmq_proto::namesrv::v1::{BrokerStats, ClusterRow};

use super::*;

// Both expected lines were printed by Python's `%` with upstream's formats.
const HEADER: &str =
    "#Cluster Name           #Broker Name            #BID  #Addr                  \
#Version              #InTPS(LOAD)                   #OutTPS(LOAD)  #Timer(Progress)        \
#PCWait(ms)  #Hour         #SPACE    #ACTIVATED\n";

const LEADER_ROW: &str = concat!(
    "DefaultCluster          broker-a                0     127.0.0.1:30911        ",
    "V5_3_1                12.50(3,7ms)                     1.25(0,0ms)  -                       ",
    "          0  1.50          0.1234          true\n",
);

fn row(group: &str, bid: u64, addr: &str) -> ClusterRow {
    ClusterRow {
        cluster: "DefaultCluster".into(),
        group: group.into(),
        bid,
        member_id: bid.saturating_sub(1),
        addr: addr.into(),
        stats: Some(BrokerStats {
            version: "V5_3_1".into(),
            in_tps: 12.5,
            out_tps: 1.25,
            timer_progress: String::new(),
            page_cache_wait_ms: 0,
            hours: 1.5,
            disk_used_ratio: 0.1234,
            activated: true,
            write_queue_len: 3,
            write_queue_wait_ms: 7,
        }),
        ..Default::default()
    }
}

#[test]
fn no_rows_prints_the_header_only() {
    assert_eq!(render_cluster_list(&[]), HEADER);
}

#[test]
fn a_leader_row_matches_upstream_printf() {
    let text = render_cluster_list(&[row("broker-a", 0, "127.0.0.1:30911")]);
    assert_eq!(text, format!("{HEADER}{LEADER_ROW}"));
}

#[test]
fn rows_sort_leader_first_and_split_into_columns() {
    let mut follower = row("broker-a", 3, "127.0.0.1:30921");
    if let Some(stats) = follower.stats.as_mut() {
        stats.version = "V5 3 1".into();
        stats.timer_progress = "12-3".into();
        stats.activated = false;
    }
    let other = row("broker-0", 0, "127.0.0.1:30811");
    let text = render_cluster_list(&[follower, row("broker-a", 0, "127.0.0.1:30911"), other]);

    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    let first_five = |line: &str| -> Vec<String> {
        line.split_whitespace().take(5).map(str::to_owned).collect()
    };
    assert_eq!(
        first_five(lines[1]),
        [
            "DefaultCluster",
            "broker-0",
            "0",
            "127.0.0.1:30811",
            "V5_3_1"
        ]
    );
    assert_eq!(
        first_five(lines[2]),
        [
            "DefaultCluster",
            "broker-a",
            "0",
            "127.0.0.1:30911",
            "V5_3_1"
        ]
    );
    assert_eq!(
        first_five(lines[3]),
        [
            "DefaultCluster",
            "broker-a",
            "3",
            "127.0.0.1:30921",
            "V5_3_1"
        ]
    );
    let follower_tokens: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(
        &follower_tokens[5..],
        [
            "12.50(3,7ms)",
            "1.25(0,0ms)",
            "12-3",
            "0",
            "1.50",
            "0.1234",
            "false"
        ]
    );
}
