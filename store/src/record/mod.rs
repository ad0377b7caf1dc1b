//! The bytes the commitlog holds.
//!
//! A commitlog *entry* ([`entry`]) is one Raft log entry: a header with magic,
//! version, size, Raft index and term, a CRC32, and a body. The body of a
//! message-batch entry is a run of *message records* ([`message`]) laid end to
//! end, each readable on its own so that a consume queue can point straight at
//! it.

pub mod entry;
pub mod message;
