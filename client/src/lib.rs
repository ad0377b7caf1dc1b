//! The raftmq Rust SDK and the admin client behind `mqadmin`.
//! Filled in by the client-protocol work.
