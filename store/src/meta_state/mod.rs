//! The state control commands build: topic configurations and consumer
//! offsets. Both are replicated as log entries, so they survive failover
//! (RocketMQ on DLedger keeps consumer offsets outside the log and loses
//! them on failover: its issue 7790).
//!
//! Saved to `<root>/metadata` together with the dispatch checkpoint, and
//! rebuilt past it on open by replaying commands, like the queues.
//!
//! ```text
//!  magic "RMQM" u32, version u8, u64 next_index (commands before it are in),
//!  u32 topics, each: str16 name, u32 read, u32 write, u32 perm
//!  u32 offsets, each: str16 group, str16 topic, u32 queue id, u64 offset
//!  crc32 of all before it
//! ```

mod command;

use std::collections::BTreeMap;
use std::path::Path;

pub use command::{Command, CommandError, TopicConfig};

pub use raftmq_model::{GroupName, Perm, TopicName};

use crate::error::{Result, StoreError};
use crate::mapped::write_atomic;

const MAGIC: u32 = u32::from_le_bytes(*b"RMQM");

/// Topics and consumer offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaState {
    /// Topic configurations by name.
    pub topics: BTreeMap<String, TopicConfig>,
    /// Consumer offsets by (group, topic, queue id).
    pub offsets: BTreeMap<(String, String, u32), u64>,
}

impl MetaState {
    /// Applies one command.
    pub fn apply(&mut self, cmd: Command) {
        match cmd {
            Command::UpsertTopic { topic, config } => {
                self.topics.insert(topic.into_string(), config);
            }
            Command::DeleteTopic { topic } => {
                self.topics.remove(topic.as_str());
                self.offsets.retain(|(_, t, _), _| *t != topic.as_str());
            }
            Command::CommitOffsets { group, offsets } => {
                for (topic, queue_id, offset) in offsets {
                    self.offsets
                        .insert((group.to_string(), topic.into_string(), queue_id), offset);
                }
            }
        }
    }

    /// Encodes the state as of `next_index`.
    pub fn encode(&self, next_index: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(1);
        out.extend_from_slice(&next_index.to_le_bytes());
        out.extend_from_slice(&(self.topics.len() as u32).to_le_bytes());
        for (name, c) in &self.topics {
            let cmd = Command::UpsertTopic {
                topic: TopicName::from_stored(name.clone()),
                config: c.clone(),
            }
            .encode()?;
            out.extend_from_slice(&cmd[1..]);
        }
        out.extend_from_slice(&(self.offsets.len() as u32).to_le_bytes());
        for ((g, t, q), o) in &self.offsets {
            for s in [g, t] {
                let len = u16::try_from(s.len())
                    .map_err(|_| StoreError::Config("name too long".into()))?;
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            out.extend_from_slice(&q.to_le_bytes());
            out.extend_from_slice(&o.to_le_bytes());
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes [`MetaState::encode`]'s bytes: the state and its next index.
    pub fn decode(b: &[u8]) -> std::result::Result<(Self, u64), String> {
        if b.len() < 4 + 1 + 8 + 4 + 4 + 4 {
            return Err("metadata file is cut short".into());
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("metadata file fails its CRC".into());
        }
        let mut r = command::Reader { b: body, at: 0 };
        if r.u32()? != MAGIC {
            return Err("metadata file has a bad magic".into());
        }
        let v = r.u8()?;
        if v != 1 {
            return Err(format!(
                "metadata format version {v} is not one this build reads"
            ));
        }
        let next_index = r.u64()?;
        let mut state = MetaState::default();
        for _ in 0..r.u32()? {
            let name = r.str()?;
            let config = TopicConfig {
                read_queues: r.u32()?,
                write_queues: r.u32()?,
                perm: Perm::from_bits_retain(r.u32()?),
            };
            state.topics.insert(name, config);
        }
        for _ in 0..r.u32()? {
            let key = (r.str()?, r.str()?, r.u32()?);
            state.offsets.insert(key, r.u64()?);
        }
        if r.at != body.len() {
            return Err("metadata file has trailing bytes".into());
        }
        Ok((state, next_index))
    }

    /// Loads the saved state, or None.
    pub fn load(path: &Path) -> Result<Option<(Self, u64)>> {
        match std::fs::read(path) {
            Ok(b) => Self::decode(&b)
                .map(Some)
                .map_err(|reason| StoreError::Corrupt {
                    path: path.to_owned(),
                    offset: 0,
                    reason,
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, "read", e)),
        }
    }

    /// Saves the state as of `next_index`, atomically and durably.
    pub fn store(&self, path: &Path, next_index: u64) -> Result<()> {
        write_atomic(path, &self.encode(next_index)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TopicName {
        TopicName::new("T").expect("legal")
    }

    fn g() -> GroupName {
        GroupName::new("g").expect("legal")
    }

    #[test]
    fn state_applies_commands_and_round_trips() {
        let mut s = MetaState::default();
        s.apply(Command::UpsertTopic {
            topic: t(),
            config: TopicConfig {
                read_queues: 4,
                write_queues: 4,
                perm: Perm::READ_WRITE,
            },
        });
        s.apply(Command::CommitOffsets {
            group: g(),
            offsets: vec![(t(), 1, 10)],
        });
        s.apply(Command::CommitOffsets {
            group: g(),
            offsets: vec![(t(), 1, 12)],
        });
        assert_eq!(s.offsets[&("g".into(), "T".into(), 1)], 12);
        let b = s.encode(77).expect("encode");
        assert_eq!(MetaState::decode(&b), Ok((s.clone(), 77)));
        let mut bad = b.clone();
        bad[10] ^= 1;
        assert!(MetaState::decode(&bad).is_err());
        s.apply(Command::DeleteTopic { topic: t() });
        assert!(s.topics.is_empty() && s.offsets.is_empty());
    }
}
