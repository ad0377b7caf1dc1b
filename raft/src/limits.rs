//! Sizes the members agree on: the largest message between them.

/// Largest gRPC message or replication frame between members (an
/// AppendEntries of many batches).
pub const MAX_RPC_BYTES: usize = 256 << 20;
