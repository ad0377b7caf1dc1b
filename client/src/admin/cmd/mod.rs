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
