//! What the `mqnamesrv` and `mqbroker` processes share: reading
//! RocketMQ-style conf files, whose errors name the file, line and key at
//! fault ([`properties`]), and running as a process: logging and the stop
//! signals ([`process`]).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod process;
pub mod properties;
