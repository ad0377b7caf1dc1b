//! Control commands: the bodies of `Command` entries.
//!
//! ```text
//!  u8 type, then
//!  1 UpsertTopic:   str16 topic, u32 read queues, u32 write queues, u32 perm
//!                   (written before topics had a message type; still read)
//!  2 DeleteTopic:   str16 topic
//!  3 CommitOffsets: str16 group, u32 n, n x (str16 topic, u32 queue id, u64 offset)
//!  4 EndTransactions:   u32 n, n x (u64 index, u32 slot, u8 outcome)
//!  5 CheckTransactions: i64 at ms, u32 n, n x (u64 index, u32 slot, u32 checks)
//!  6 UpsertTopic:   as 1, then u8 message type
//! ```
//! `str16` is a u16 length and UTF-8 bytes; integers little-endian.

use raftmq_model::{GroupName, NameError, Perm, PermError, TopicMessageType, TopicName};

use super::held::{HeldId, Outcome};

use crate::error::{Result, StoreError};

/// A topic's configuration, as `updateTopic` sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicConfig {
    /// Read queues.
    pub read_queues: u32,
    /// Write queues.
    pub write_queues: u32,
    /// Permission bits, stored as their `u32`.
    pub perm: Perm,
    /// The messages it takes (`message.type`).
    pub message_type: TopicMessageType,
}

impl TopicConfig {
    /// A topic of `queues` read and write queues, readable and writable,
    /// of no declared message type.
    pub fn new(queues: u32) -> Self {
        Self {
            read_queues: queues,
            write_queues: queues,
            perm: Perm::READ_WRITE,
            message_type: TopicMessageType::Unspecified,
        }
    }
}

/// One control command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Create or update a topic.
    UpsertTopic {
        /// Topic.
        topic: TopicName,
        /// Its configuration.
        config: TopicConfig,
    },
    /// Delete a topic.
    DeleteTopic {
        /// Topic.
        topic: TopicName,
    },
    /// Commit consumer offsets of a group.
    CommitOffsets {
        /// Consumer group.
        group: GroupName,
        /// (topic, queue id, next offset to consume).
        offsets: Vec<(TopicName, u32, u64)>,
    },
    /// End transactions without a copy: rolled back or discarded (a commit
    /// is a released copy, ADR 0012). Ids no longer open are skipped.
    EndTransactions {
        /// (half message, outcome).
        ended: Vec<(HeldId, Outcome)>,
    },
    /// A round of check-backs: each half message's check count, set.
    CheckTransactions {
        /// When the round was decided, ms since the epoch (the leader's
        /// clock: the next round is due `transactionCheckInterval` later).
        at_ms: i64,
        /// (half message, checks including this round).
        checks: Vec<(HeldId, u32)>,
    },
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    let len = u16::try_from(s.len())
        .map_err(|_| StoreError::Config(format!("name of {} bytes is too long", s.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn len32(n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| StoreError::Config(format!("{n} items in one command")))
}

fn put_id(out: &mut Vec<u8>, id: HeldId) {
    out.extend_from_slice(&id.index.to_le_bytes());
    out.extend_from_slice(&id.slot.to_le_bytes());
}

impl Command {
    /// Encodes the command.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            Command::UpsertTopic { topic, config } => {
                out.push(6);
                put_str(&mut out, topic)?;
                for v in [config.read_queues, config.write_queues, config.perm.bits()] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out.push(config.message_type.as_u8());
            }
            Command::DeleteTopic { topic } => {
                out.push(2);
                put_str(&mut out, topic)?;
            }
            Command::CommitOffsets { group, offsets } => {
                out.push(3);
                put_str(&mut out, group)?;
                out.extend_from_slice(&(offsets.len() as u32).to_le_bytes());
                for (t, q, o) in offsets {
                    put_str(&mut out, t)?;
                    out.extend_from_slice(&q.to_le_bytes());
                    out.extend_from_slice(&o.to_le_bytes());
                }
            }
            Command::EndTransactions { ended } => {
                out.push(4);
                out.extend_from_slice(&len32(ended.len())?.to_le_bytes());
                for (id, outcome) in ended {
                    put_id(&mut out, *id);
                    out.push(outcome.as_u8());
                }
            }
            Command::CheckTransactions { at_ms, checks } => {
                out.push(5);
                out.extend_from_slice(&at_ms.to_le_bytes());
                out.extend_from_slice(&len32(checks.len())?.to_le_bytes());
                for (id, n) in checks {
                    put_id(&mut out, *id);
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
        }
        Ok(out)
    }

    /// Decodes a command; an error names what is wrong. Names are taken as
    /// stored (see [`TopicName::from_stored`]); [`Command::check`] is the
    /// strict check for a command about to be proposed.
    pub fn decode(b: &[u8]) -> std::result::Result<Self, String> {
        let mut r = Reader { b, at: 0 };
        let cmd = match r.u8()? {
            t @ (1 | 6) => Command::UpsertTopic {
                topic: TopicName::from_stored(r.str()?),
                config: TopicConfig {
                    read_queues: r.u32()?,
                    write_queues: r.u32()?,
                    perm: Perm::from_bits_retain(r.u32()?),
                    message_type: if t == 6 {
                        TopicMessageType::from_u8(r.u8()?)
                    } else {
                        TopicMessageType::Unspecified
                    },
                },
            },
            2 => Command::DeleteTopic {
                topic: TopicName::from_stored(r.str()?),
            },
            3 => {
                let group = GroupName::from_stored(r.str()?);
                let n = r.u32()?;
                let mut offsets = Vec::new();
                for _ in 0..n {
                    offsets.push((TopicName::from_stored(r.str()?), r.u32()?, r.u64()?));
                }
                Command::CommitOffsets { group, offsets }
            }
            4 => {
                let n = r.u32()?;
                let mut ended = Vec::new();
                for _ in 0..n {
                    let id = r.id()?;
                    let v = r.u8()?;
                    let outcome = Outcome::from_u8(v)
                        .ok_or_else(|| format!("unknown transaction outcome {v}"))?;
                    ended.push((id, outcome));
                }
                Command::EndTransactions { ended }
            }
            5 => {
                let at_ms = r.i64()?;
                let n = r.u32()?;
                let mut checks = Vec::new();
                for _ in 0..n {
                    checks.push((r.id()?, r.u32()?));
                }
                Command::CheckTransactions { at_ms, checks }
            }
            t => return Err(format!("unknown command type {t}")),
        };
        if r.at != b.len() {
            return Err(format!("{} trailing bytes after a command", b.len() - r.at));
        }
        Ok(cmd)
    }
}

/// Why a proposed command is refused: a name or a permission that breaks
/// its rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A topic or group name breaks its rule.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A topic's permission has undefined bits.
    #[error("topic {topic:?}: {source}")]
    Perm {
        /// The topic.
        topic: String,
        /// The bits at fault.
        source: PermError,
    },
}

impl Command {
    /// The strict check for a command about to be proposed: every topic a
    /// legal [`TopicName`], the group a legal [`GroupName`], the permission
    /// made of defined bits. Applying a command already in the log does not
    /// check: a name an older version let in must still apply.
    pub fn check(&self) -> std::result::Result<(), CommandError> {
        match self {
            Command::UpsertTopic { topic, config } => {
                TopicName::new(topic.as_str())?;
                Perm::new(config.perm.bits()).map_err(|source| CommandError::Perm {
                    topic: topic.to_string(),
                    source,
                })?;
            }
            Command::DeleteTopic { topic } => {
                TopicName::new(topic.as_str())?;
            }
            Command::CommitOffsets { group, offsets } => {
                GroupName::new(group.as_str())?;
                for (topic, _, _) in offsets {
                    TopicName::new(topic.as_str())?;
                }
            }
            Command::EndTransactions { .. } | Command::CheckTransactions { .. } => {}
        }
        Ok(())
    }
}

pub(super) struct Reader<'a> {
    pub(super) b: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| format!("cut short at byte {}", self.at))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub(super) fn u8(&mut self) -> std::result::Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u32(&mut self) -> std::result::Result<u32, String> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }

    pub(super) fn u64(&mut self) -> std::result::Result<u64, String> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    pub(super) fn i64(&mut self) -> std::result::Result<i64, String> {
        Ok(self.u64()? as i64)
    }

    pub(super) fn id(&mut self) -> std::result::Result<HeldId, String> {
        Ok(HeldId {
            index: self.u64()?,
            slot: self.u32()?,
        })
    }

    pub(super) fn str(&mut self) -> std::result::Result<String, String> {
        let s = self.take(2)?;
        let len = u16::from_le_bytes([s[0], s[1]]) as usize;
        std::str::from_utf8(self.take(len)?)
            .map(str::to_owned)
            .map_err(|_| format!("name at byte {} is not UTF-8", self.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicName {
        TopicName::new(name).expect("a legal test topic")
    }

    #[test]
    fn commands_round_trip_and_garbage_is_refused() {
        let cmds = [
            Command::UpsertTopic {
                topic: topic("T"),
                config: TopicConfig {
                    read_queues: 8,
                    write_queues: 8,
                    perm: Perm::READ_WRITE,
                    message_type: TopicMessageType::Delay,
                },
            },
            Command::DeleteTopic { topic: topic("T") },
            Command::EndTransactions {
                ended: vec![
                    (HeldId { index: 7, slot: 0 }, Outcome::RolledBack),
                    (HeldId { index: 9, slot: 3 }, Outcome::Discarded),
                ],
            },
            Command::CheckTransactions {
                at_ms: 1_700_000_000_000,
                checks: vec![(HeldId { index: 7, slot: 1 }, 4)],
            },
            Command::CommitOffsets {
                group: GroupName::new("g").expect("legal"),
                offsets: vec![(topic("T"), 0, 42), (topic("T"), 1, 7)],
            },
        ];
        for c in cmds {
            let b = c.encode().expect("encode");
            assert_eq!(Command::decode(&b), Ok(c));
            for cut in 0..b.len() {
                assert!(Command::decode(&b[..cut]).is_err());
            }
        }
        assert!(Command::decode(&[9])
            .expect_err("unknown")
            .contains("unknown"));
    }

    fn upsert(topic: &str, perm: u32) -> Command {
        Command::UpsertTopic {
            topic: TopicName::from_stored(topic.to_owned()),
            config: TopicConfig {
                read_queues: 1,
                write_queues: 1,
                perm: Perm::from_bits_retain(perm),
                message_type: TopicMessageType::Unspecified,
            },
        }
    }

    #[test]
    fn an_upsert_written_before_message_types_reads_as_undeclared() {
        let mut old = vec![1u8, 1, 0, b'T'];
        for v in [1u32, 1, 6] {
            old.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(Command::decode(&old), Ok(upsert("T", 6)));
        assert!(Command::decode(&[5, 0, 0]).is_err(), "cut short");
        let bad_outcome = [4, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        let e = Command::decode(&bad_outcome).expect_err("outcome 9");
        assert!(e.contains("outcome 9"), "{e}");
    }

    #[test]
    fn names_written_before_the_rule_still_decode_but_fail_the_strict_check() {
        let old = upsert("a.b", 6);
        let b = old.encode().expect("encode");
        let back = Command::decode(&b).expect("lenient decode");
        assert_eq!(back, old);
        assert_eq!(back.encode().expect("encode"), b, "byte-identical");
        assert!(matches!(back.check(), Err(CommandError::Name(_))));
        let odd = upsert("T", 0x40);
        assert_eq!(
            Command::decode(&odd.encode().expect("encode")),
            Ok(odd.clone())
        );
        assert!(matches!(odd.check(), Err(CommandError::Perm { .. })));
        assert_eq!(upsert("T", 6).check(), Ok(()));
        let offsets = |g: &str, t: &str| Command::CommitOffsets {
            group: GroupName::from_stored(g.to_owned()),
            offsets: vec![(TopicName::from_stored(t.to_owned()), 0, 1)],
        };
        assert_eq!(offsets("g", "T").check(), Ok(()));
        assert!(offsets("g.x", "T").check().is_err());
        assert!(offsets("g", "T.x").check().is_err());
        let empty = TopicName::from_stored(String::new());
        assert!(Command::DeleteTopic { topic: empty }.check().is_err());
    }
}
