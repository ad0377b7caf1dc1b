//! What the `mqnamesrv` and `mqbroker` processes share: reading
//! RocketMQ-style conf files, whose errors name the file, line and key at
//! fault ([`properties`]), and running as a process: logging, the stop
//! signals, the runtime and the one owner of the process's tasks
//! ([`process`], [`idle_spin`]).
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod idle_spin;
pub mod process;
pub mod properties;
