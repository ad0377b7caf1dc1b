//! The library behind `mqadmin`, RocketMQ's admin tool for raftmq.
//!
//! ```text
//!   mqadmin (bin: parse args, print, exit code)
//!      │
//!      ├── cmd::*            one file per command: ask, then render text (pure)
//!      ├── NamesrvClient ──► nameservers, tried in order, first answer wins
//!      └── BrokerClient  ──► BrokerAdmin on one member per group, leader first,
//!                            the next member when one does not answer
//! ```
//!
//! Values are checked before anything is sent ([`TopicSpec`],
//! [`TopicAttributes`], [`NamesrvAddrs`]); every failure is an [`AdminError`] whose `Display` is
//! the one line `mqadmin` prints, and whose [`AdminError::exit_code`] is the
//! process's.

mod addr;
mod attributes;
mod broker;
pub mod cmd;
mod error;
mod group_spec;
mod groups;
mod namesrv;
mod rpc;
mod topic_spec;

pub use addr::{check_addr, NamesrvAddrs, NAMESRV_ADDR_ENV};
pub use attributes::{MessageTypeChange, TopicAttributes, MESSAGE_TYPE};
pub use broker::{BrokerClient, Deleted};
pub use cmd::broker_status::{broker_status, render_broker_status};
pub use cmd::cluster_list::{cluster_list, render_cluster_list, CLUSTER_LIST_COLUMNS};
pub use cmd::consume_message::{consume_message, render_messages};
pub use cmd::consumer_progress::{consumer_progress, render_consumer_progress, GroupProgress};
pub use cmd::delete_sub_group::{delete_sub_group, DeleteSubGroupOutcome};
pub use cmd::delete_topic::{delete_topic, DeleteOutcome};
pub use cmd::get_consumer_config::{get_consumer_config, render_consumer_config, ConsumerConfig};
pub use cmd::group_list::{group_list, render_group_list, GroupRow};
pub use cmd::send_message::{render_send_result, send_message};
pub use cmd::topic_list::{render_topic_list, topic_list};
pub use cmd::topic_route::{
    render_topic_route, topic_route, BrokerData, QueueData, TopicRouteData,
};
pub use cmd::update_sub_group::{update_sub_group, SubGroupOutcome, SubGroupTarget};
pub use cmd::update_topic::{update_topic_on_broker, update_topic_on_cluster, UpdateOutcome};
pub use error::{AdminError, RpcFailure};
pub use group_spec::{retry_policy, GroupOptions, GroupSpec};
pub use groups::{cluster_groups, GroupMembers};
pub use namesrv::{Answered, NamesrvClient};
pub use rpc::Timeouts;
pub use topic_spec::{check_topic, TopicSpec, MAX_QUEUES};
