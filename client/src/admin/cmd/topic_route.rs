//! `mqadmin topicRoute`: a topic's route as pretty JSON, in the shape of
//! upstream's `TopicRouteData`.
//!
//! One addition: a group whose topic declares a message type shows it in
//! its queue data as `"attributes":{"message.type":"DELAY"}`, the form
//! upstream keeps in the broker's topic config (its `TopicRouteData` has
//! no attributes; a topic of no declared type prints exactly as upstream).

use std::collections::BTreeMap;

use raftmq_proto::namesrv::v1::{GroupRoute, TopicRouteResponse};
use serde::Serialize;

use crate::admin::{AdminError, NamesrvClient, MESSAGE_TYPE};
use raftmq_model::TopicMessageType;
use raftmq_proto::message_type;

/// A topic's route as RocketMQ prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopicRouteData {
    /// The groups that serve the topic and their members.
    pub broker_datas: Vec<BrokerData>,
    /// The topic's queues on each group.
    pub queue_datas: Vec<QueueData>,
}

/// One group and its members' client addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerData {
    /// The group's cluster.
    pub cluster: String,
    /// The group's name.
    pub broker_name: String,
    /// BID (0 for the leader) to client address; BIDs print as strings.
    pub broker_addrs: BTreeMap<u64, String>,
}

/// The topic's queues on one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueData {
    /// The group's name.
    pub broker_name: String,
    /// Read queues.
    pub read_queue_nums: u32,
    /// Write queues.
    pub write_queue_nums: u32,
    /// Permission bits: read 4, write 2, inherit 1.
    pub perm: u32,
    /// Always 0: raftmq has no system-topic flags.
    pub topic_sys_flag: u32,
    /// The topic's attributes on the group as upstream stores them
    /// (`message.type` to its value); left out when none is declared.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

impl From<&TopicRouteResponse> for TopicRouteData {
    fn from(route: &TopicRouteResponse) -> Self {
        let mut groups: Vec<&GroupRoute> = route.groups.iter().collect();
        groups.sort_by(|a, b| (&a.group, &a.cluster).cmp(&(&b.group, &b.cluster)));
        Self {
            broker_datas: groups
                .iter()
                .map(|g| BrokerData {
                    cluster: g.cluster.clone(),
                    broker_name: g.group.clone(),
                    broker_addrs: g
                        .members
                        .iter()
                        .filter(|m| !m.client_addr.is_empty())
                        .map(|m| (m.bid, m.client_addr.clone()))
                        .collect(),
                })
                .collect(),
            queue_datas: groups
                .iter()
                .map(|g| QueueData {
                    broker_name: g.group.clone(),
                    read_queue_nums: g.read_queues,
                    write_queue_nums: g.write_queues,
                    perm: g.perm,
                    topic_sys_flag: 0,
                    attributes: attributes(g),
                })
                .collect(),
        }
    }
}

/// A group's declared attributes: `message.type` unless undeclared.
fn attributes(g: &GroupRoute) -> BTreeMap<String, String> {
    match message_type::from_wire(g.message_type) {
        TopicMessageType::Unspecified => BTreeMap::new(),
        t => BTreeMap::from([(MESSAGE_TYPE.to_owned(), t.as_str().to_owned())]),
    }
}

/// The route of `topic`; [`AdminError::TopicNotFound`] when no group serves it.
pub async fn topic_route(
    namesrv: &NamesrvClient,
    topic: &str,
) -> Result<TopicRouteData, AdminError> {
    Ok(TopicRouteData::from(
        &namesrv.topic_route(topic).await?.value,
    ))
}

/// The route as pretty JSON, ending with a newline.
pub fn render_topic_route(route: &TopicRouteData) -> String {
    // Plain structs with string and integer keys always serialize.
    let mut json = serde_json::to_string_pretty(route).unwrap_or_default();
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use raftmq_proto::namesrv::v1::RouteMember;

    use super::*;

    fn member(bid: u64, addr: &str) -> RouteMember {
        RouteMember {
            bid,
            client_addr: addr.into(),
            ..Default::default()
        }
    }

    #[test]
    fn json_has_upstream_shape() {
        let route = TopicRouteResponse {
            topic: "T".into(),
            groups: vec![GroupRoute {
                cluster: "DefaultCluster".into(),
                group: "broker-a".into(),
                read_queues: 8,
                write_queues: 4,
                perm: raftmq_model::Perm::READ_WRITE.bits(),
                leader: Some(1),
                members: vec![
                    member(0, "127.0.0.1:30911"),
                    member(3, "127.0.0.1:30931"),
                    member(12, "127.0.0.1:30941"),
                ],
                ..Default::default()
            }],
        };
        let text = render_topic_route(&TopicRouteData::from(&route));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "brokerDatas": [{
                    "cluster": "DefaultCluster",
                    "brokerName": "broker-a",
                    "brokerAddrs": {
                        "0": "127.0.0.1:30911",
                        "3": "127.0.0.1:30931",
                        "12": "127.0.0.1:30941"
                    }
                }],
                "queueDatas": [{
                    "brokerName": "broker-a",
                    "readQueueNums": 8,
                    "writeQueueNums": 4,
                    "perm": 6,
                    "topicSysFlag": 0
                }]
            })
        );
        // BIDs in numeric order, not as strings.
        let twelve = text.find("\"12\"").unwrap();
        assert!(text.find("\"3\"").unwrap() < twelve, "{text}");
    }

    #[test]
    fn a_declared_type_shows_in_its_groups_queue_data() {
        let group = |name: &str, t: raftmq_proto::namesrv::v1::TopicMessageType| GroupRoute {
            cluster: "C".into(),
            group: name.into(),
            read_queues: 1,
            write_queues: 1,
            perm: 6,
            members: vec![member(0, "127.0.0.1:30911")],
            message_type: t.into(),
            ..Default::default()
        };
        use raftmq_proto::namesrv::v1::TopicMessageType as W;
        let route = TopicRouteResponse {
            topic: "T".into(),
            groups: vec![group("a", W::Delay), group("b", W::Unspecified)],
        };
        let text = render_topic_route(&TopicRouteData::from(&route));
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json["queueDatas"][0]["attributes"],
            serde_json::json!({"message.type": "DELAY"})
        );
        assert!(json["queueDatas"][1].get("attributes").is_none(), "{text}");
    }
}
