//! The state control commands build: topic configurations, consumer group
//! configurations and consumer offsets. All are replicated as log entries, so they survive failover
//! (RocketMQ on DLedger keeps consumer offsets outside the log and loses
//! them on failover: its issue 7790).
//!
//! Saved to `<root>/metadata` together with the dispatch checkpoint, and
//! rebuilt past it on open by replaying commands, like the queues.
//!
//! ```text
//!  magic "RMQM" u32, version u8 (1 to 3; each reads its predecessors'),
//!  u64 next_index (commands before it are in),
//!  u32 topics, each: str16 name, u32 read, u32 write, u32 perm,
//!                    u8 message type (version 2)
//!  u32 offsets, each: str16 group, str16 topic, u32 queue id, u64 offset
//!  version 2, the held index (ADR 0012):
//!  u32 timers,  each: i64 due ms, u64 index, u32 slot
//!  u32 halves,  each: u64 index, u32 slot, str16 topic, i64 stored ms,
//!                     u32 checks, i64 last check ms
//!  u32 ended,   each: u64 index, u32 slot, u8 outcome
//!  u32 dropped, each: u64 index, u32 slot
//!  version 3, consumer groups (ADR 0014):
//!  u32 groups,  each: str16 name, the group's configuration as in command 7
//!                     (its own layout version first)
//!  crc32 of all before it
//! ```
//!
//! Held records enter and leave the held index as their entries are
//! dispatched (see `message_store::dispatch`); the commands here end and
//! check transactions.

mod command;
mod held;

use std::collections::BTreeMap;
use std::path::Path;

pub use command::{Command, CommandError, TopicConfig};
pub use held::{BadHeldId, Half, HeldId, HeldIndex, Outcome, ENDED_KEPT};

pub use raftmq_model::{
    GroupName, GroupRetryPolicy, Perm, SubscriptionGroupConfig, TopicMessageType, TopicName,
};

use crate::error::{Result, StoreError};
use crate::mapped::write_atomic;

const MAGIC: u32 = u32::from_le_bytes(*b"RMQM");

/// Topics, consumer groups and consumer offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaState {
    /// Topic configurations by name.
    pub topics: BTreeMap<String, TopicConfig>,
    /// Consumer group configurations by name.
    pub groups: BTreeMap<String, SubscriptionGroupConfig>,
    /// Consumer offsets by (group, topic, queue id).
    pub offsets: BTreeMap<(String, String, u32), u64>,
    /// Timed and half messages not yet in their queues.
    pub held: HeldIndex,
}

const VERSION: u8 = 3;

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
            Command::EndTransactions { ended } => {
                for (id, outcome) in ended {
                    self.held.end(id, outcome);
                }
            }
            Command::UpsertGroup { group, config } => {
                self.groups.insert(group.into_string(), config);
            }
            Command::DeleteGroup {
                group,
                remove_offsets,
            } => {
                self.groups.remove(group.as_str());
                if remove_offsets {
                    self.offsets.retain(|(g, _, _), _| *g != group.as_str());
                }
            }
            Command::CheckTransactions { at_ms, checks } => {
                for (id, n) in checks {
                    if let Some(half) = self.held.halves.get_mut(&id) {
                        half.checks = n;
                        half.last_check_ms = at_ms;
                    }
                }
            }
        }
    }

    /// Encodes the state as of `next_index`.
    pub fn encode(&self, next_index: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.push(VERSION);
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
        self.encode_held(&mut out)?;
        out.extend_from_slice(&command::len32(self.groups.len())?.to_le_bytes());
        for (name, c) in &self.groups {
            command::put_str(&mut out, name)?;
            command::put_group_config(&mut out, c)?;
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
        if !(1..=VERSION).contains(&v) {
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
                message_type: if v >= 2 {
                    TopicMessageType::from_u8(r.u8()?)
                } else {
                    TopicMessageType::Unspecified
                },
            };
            state.topics.insert(name, config);
        }
        for _ in 0..r.u32()? {
            let key = (r.str()?, r.str()?, r.u32()?);
            state.offsets.insert(key, r.u64()?);
        }
        if v >= 2 {
            state.held = Self::decode_held(&mut r)?;
        }
        if v >= 3 {
            for _ in 0..r.u32()? {
                let name = r.str()?;
                state.groups.insert(name, r.group_config()?);
            }
        }
        if r.at != body.len() {
            return Err("metadata file has trailing bytes".into());
        }
        Ok((state, next_index))
    }

    fn encode_held(&self, out: &mut Vec<u8>) -> Result<()> {
        let h = &self.held;
        let count = |n: usize| {
            u32::try_from(n).map_err(|_| StoreError::Config(format!("{n} held records")))
        };
        let id = |out: &mut Vec<u8>, id: &HeldId| {
            out.extend_from_slice(&id.index.to_le_bytes());
            out.extend_from_slice(&id.slot.to_le_bytes());
        };
        out.reserve(h.timers.len() * 20);
        out.extend_from_slice(&count(h.timers.len())?.to_le_bytes());
        for (due, i) in &h.timers {
            out.extend_from_slice(&due.to_le_bytes());
            id(out, i);
        }
        out.extend_from_slice(&count(h.halves.len())?.to_le_bytes());
        for (i, half) in &h.halves {
            id(out, i);
            let len = u16::try_from(half.topic.len())
                .map_err(|_| StoreError::Config("topic name too long".into()))?;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(half.topic.as_bytes());
            out.extend_from_slice(&half.stored_ms.to_le_bytes());
            out.extend_from_slice(&half.checks.to_le_bytes());
            out.extend_from_slice(&half.last_check_ms.to_le_bytes());
        }
        out.extend_from_slice(&count(h.ended.len())?.to_le_bytes());
        for (i, outcome) in &h.ended {
            id(out, i);
            out.push(outcome.as_u8());
        }
        out.extend_from_slice(&count(h.dropped.len())?.to_le_bytes());
        for i in &h.dropped {
            id(out, i);
        }
        Ok(())
    }

    fn decode_held(r: &mut command::Reader<'_>) -> std::result::Result<HeldIndex, String> {
        let mut h = HeldIndex::default();
        for _ in 0..r.u32()? {
            let due = r.i64()?;
            h.timers.insert((due, r.id()?));
        }
        for _ in 0..r.u32()? {
            let id = r.id()?;
            let half = Half {
                topic: r.str()?,
                stored_ms: r.i64()?,
                checks: r.u32()?,
                last_check_ms: r.i64()?,
            };
            h.halves.insert(id, half);
        }
        for _ in 0..r.u32()? {
            let id = r.id()?;
            let v = r.u8()?;
            let outcome =
                Outcome::from_u8(v).ok_or_else(|| format!("unknown transaction outcome {v}"))?;
            h.ended.insert(id, outcome);
        }
        for _ in 0..r.u32()? {
            h.dropped.insert(r.id()?);
        }
        Ok(h)
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
            config: TopicConfig::new(4),
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
        let id = |index, slot| HeldId { index, slot };
        s.held.timers.insert((1_000, id(3, 0)));
        s.held.timers.insert((900, id(4, 2)));
        for i in [5, 6] {
            s.held.halves.insert(
                id(i, 0),
                Half {
                    topic: "T".into(),
                    stored_ms: 10,
                    checks: 0,
                    last_check_ms: 0,
                },
            );
        }
        s.apply(Command::CheckTransactions {
            at_ms: 50,
            checks: vec![(id(5, 0), 2), (id(99, 0), 1)],
        });
        assert_eq!(
            (
                s.held.halves[&id(5, 0)].checks,
                s.held.halves[&id(5, 0)].last_check_ms
            ),
            (2, 50)
        );
        s.apply(Command::EndTransactions {
            ended: vec![
                (id(6, 0), Outcome::RolledBack),
                (id(99, 0), Outcome::Committed),
            ],
        });
        assert_eq!(s.held.ended.len(), 1, "an unknown id ends nothing");
        s.held.dropped.insert(id(8, 1));
        s.apply(Command::UpsertGroup {
            group: g(),
            config: SubscriptionGroupConfig {
                consume_orderly: true,
                retry_max_times: 2,
                ..Default::default()
            },
        });
        s.apply(Command::UpsertGroup {
            group: GroupName::new("other").expect("legal"),
            config: SubscriptionGroupConfig {
                retry_policy: GroupRetryPolicy::default_exponential(),
                ..Default::default()
            },
        });
        assert!(s.groups["g"].consume_orderly);
        let b = s.encode(77).expect("encode");
        assert_eq!(MetaState::decode(&b), Ok((s.clone(), 77)));
        let mut bad = b.clone();
        bad[10] ^= 1;
        assert!(MetaState::decode(&bad).is_err());
        s.apply(Command::DeleteTopic { topic: t() });
        assert!(s.topics.is_empty() && s.offsets.is_empty());
    }

    #[test]
    fn deleting_a_group_keeps_or_removes_its_offsets() {
        let mut s = MetaState::default();
        let other = GroupName::new("other").expect("legal");
        for group in [g(), other.clone()] {
            s.apply(Command::UpsertGroup {
                group: group.clone(),
                config: SubscriptionGroupConfig::default(),
            });
            s.apply(Command::CommitOffsets {
                group,
                offsets: vec![(t(), 0, 5)],
            });
        }
        s.apply(Command::DeleteGroup {
            group: g(),
            remove_offsets: false,
        });
        assert!(!s.groups.contains_key("g"));
        assert_eq!(s.offsets.len(), 2, "offsets kept");
        s.apply(Command::DeleteGroup {
            group: other,
            remove_offsets: true,
        });
        assert!(s.groups.is_empty());
        assert_eq!(
            s.offsets.keys().cloned().collect::<Vec<_>>(),
            vec![("g".to_string(), "T".to_string(), 0)],
            "only the removed group's offsets went"
        );
    }

    #[test]
    fn a_version_2_file_reads_with_no_groups() {
        let mut s = MetaState::default();
        s.apply(Command::UpsertTopic {
            topic: t(),
            config: TopicConfig::new(2),
        });
        s.held.dropped.insert(HeldId { index: 4, slot: 1 });
        let v3 = s.encode(5).expect("encode");
        // Version 2 is version 3 without the group count: cut it off, set
        // the version byte, and seal it again.
        let body = &v3[..v3.len() - 4];
        assert_eq!(&body[body.len() - 4..], &0u32.to_le_bytes(), "no groups");
        let mut v2 = body[..body.len() - 4].to_vec();
        v2[4] = 2;
        let crc = crc32fast::hash(&v2);
        v2.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(MetaState::decode(&v2), Ok((s, 5)));
        let mut v4 = v2.clone();
        v4[4] = 4;
        let n = v4.len() - 4;
        let crc = crc32fast::hash(&v4[..n]);
        v4[n..].copy_from_slice(&crc.to_le_bytes());
        let e = MetaState::decode(&v4).expect_err("a newer file");
        assert!(e.contains("version 4"), "{e}");
    }

    #[test]
    fn a_version_1_file_reads_with_nothing_held() {
        let mut s = MetaState::default();
        s.apply(Command::UpsertTopic {
            topic: t(),
            config: TopicConfig::new(2),
        });
        // Version 1: no message type byte, no held index.
        let mut v1 = Vec::new();
        v1.extend_from_slice(&MAGIC.to_le_bytes());
        v1.push(1);
        v1.extend_from_slice(&9u64.to_le_bytes());
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&1u16.to_le_bytes());
        v1.push(b'T');
        for v in [2u32, 2, 6] {
            v1.extend_from_slice(&v.to_le_bytes());
        }
        v1.extend_from_slice(&0u32.to_le_bytes());
        let crc = crc32fast::hash(&v1);
        v1.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(MetaState::decode(&v1), Ok((s, 9)));
    }
}
