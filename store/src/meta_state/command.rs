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
//!  7 UpsertGroup:   str16 group, then the group's configuration:
//!                   u8 layout version (1), u8 flags (bit 0 consumeEnable,
//!                   bit 1 consumeBroadcastEnable, bit 2 consumeMessageOrderly),
//!                   u32 retryMaxTimes, u8 retry policy type, then
//!                   0 CUSTOMIZED:  u32 n, n x u64 wait ms
//!                   1 EXPONENTIAL: u64 initial ms, u64 max ms, u64 multiplier
//!  8 DeleteGroup:   str16 group, u8 remove its offsets (0 or 1)
//! ```
//! `str16` is a u16 length and UTF-8 bytes; integers little-endian.
//!
//! A group's configuration carries its own layout version so that fields
//! can be added: a later layout appends them, and reading an earlier one
//! gives them their defaults. A layout newer than this build knows is
//! refused rather than read in part (its fields could change what a group
//! promises).

use raftmq_model::{
    GroupConfigError, GroupName, GroupRetryPolicy, NameError, Perm, PermError,
    SubscriptionGroupConfig, TopicMessageType, TopicName,
};

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
    /// Create or replace a consumer group's configuration.
    UpsertGroup {
        /// Consumer group.
        group: GroupName,
        /// Its configuration.
        config: SubscriptionGroupConfig,
    },
    /// Delete a consumer group's configuration (a later use may create it
    /// again when the broker creates groups on first use).
    DeleteGroup {
        /// Consumer group.
        group: GroupName,
        /// Whether its committed offsets go too (upstream `removeOffset`).
        remove_offsets: bool,
    },
}

/// The group configuration layout this build writes.
const GROUP_LAYOUT: u8 = 1;
const FLAG_CONSUME_ENABLE: u8 = 1;
const FLAG_BROADCAST: u8 = 2;
const FLAG_ORDERLY: u8 = 4;
const POLICY_CUSTOMIZED: u8 = 0;
const POLICY_EXPONENTIAL: u8 = 1;

/// Writes a group's configuration (the part after the name in command 7;
/// the metadata file stores groups the same way).
pub(super) fn put_group_config(out: &mut Vec<u8>, c: &SubscriptionGroupConfig) -> Result<()> {
    out.push(GROUP_LAYOUT);
    let mut flags = 0;
    for (on, bit) in [
        (c.consume_enable, FLAG_CONSUME_ENABLE),
        (c.consume_broadcast, FLAG_BROADCAST),
        (c.consume_orderly, FLAG_ORDERLY),
    ] {
        if on {
            flags |= bit;
        }
    }
    out.push(flags);
    out.extend_from_slice(&c.retry_max_times.to_le_bytes());
    match &c.retry_policy {
        GroupRetryPolicy::Customized { next } => {
            out.push(POLICY_CUSTOMIZED);
            out.extend_from_slice(&len32(next.len())?.to_le_bytes());
            for ms in next {
                out.extend_from_slice(&ms.to_le_bytes());
            }
        }
        GroupRetryPolicy::Exponential {
            initial,
            max,
            multiplier,
        } => {
            out.push(POLICY_EXPONENTIAL);
            for v in [initial, max, multiplier] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }
    Ok(())
}

pub(super) fn put_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    let len = u16::try_from(s.len())
        .map_err(|_| StoreError::Config(format!("name of {} bytes is too long", s.len())))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

pub(super) fn len32(n: usize) -> Result<u32> {
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
            Command::UpsertGroup { group, config } => {
                out.push(7);
                put_str(&mut out, group)?;
                put_group_config(&mut out, config)?;
            }
            Command::DeleteGroup {
                group,
                remove_offsets,
            } => {
                out.push(8);
                put_str(&mut out, group)?;
                out.push(u8::from(*remove_offsets));
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
            7 => Command::UpsertGroup {
                group: GroupName::from_stored(r.str()?),
                config: r.group_config()?,
            },
            8 => Command::DeleteGroup {
                group: GroupName::from_stored(r.str()?),
                remove_offsets: match r.u8()? {
                    0 => false,
                    1 => true,
                    v => return Err(format!("removeOffset byte {v} is neither 0 nor 1")),
                },
            },
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
    /// A group's configuration breaks a rule.
    #[error("group {group:?}: {source}")]
    Group {
        /// The group.
        group: String,
        /// The rule broken.
        source: GroupConfigError,
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
            Command::UpsertGroup { group, config } => {
                GroupName::new(group.as_str())?;
                config.check().map_err(|source| CommandError::Group {
                    group: group.to_string(),
                    source,
                })?;
            }
            Command::DeleteGroup { group, .. } => {
                GroupName::new(group.as_str())?;
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

    /// A group's configuration, as [`put_group_config`] writes it.
    pub(super) fn group_config(&mut self) -> std::result::Result<SubscriptionGroupConfig, String> {
        let layout = self.u8()?;
        if layout == 0 || layout > GROUP_LAYOUT {
            return Err(format!(
                "group configuration layout {layout} is not one this build reads (it reads 1 to {GROUP_LAYOUT}): upgrade this member"
            ));
        }
        let flags = self.u8()?;
        let known = FLAG_CONSUME_ENABLE | FLAG_BROADCAST | FLAG_ORDERLY;
        if flags & !known != 0 {
            return Err(format!("group flags {flags:#04x} have unknown bits"));
        }
        let retry_max_times = self.u32()?;
        let retry_policy = match self.u8()? {
            POLICY_CUSTOMIZED => {
                let n = self.u32()?;
                // Eight bytes a level: a count past the bytes left is corrupt.
                if u64::from(n) * 8 > (self.b.len() - self.at) as u64 {
                    return Err(format!("{n} retry levels cut short at byte {}", self.at));
                }
                let mut next = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    next.push(self.u64()?);
                }
                GroupRetryPolicy::Customized { next }
            }
            POLICY_EXPONENTIAL => GroupRetryPolicy::Exponential {
                initial: self.u64()?,
                max: self.u64()?,
                multiplier: self.u64()?,
            },
            t => return Err(format!("unknown group retry policy type {t}")),
        };
        Ok(SubscriptionGroupConfig {
            consume_enable: flags & FLAG_CONSUME_ENABLE != 0,
            consume_broadcast: flags & FLAG_BROADCAST != 0,
            consume_orderly: flags & FLAG_ORDERLY != 0,
            retry_max_times,
            retry_policy,
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
            Command::UpsertGroup {
                group: GroupName::new("g").expect("legal"),
                config: SubscriptionGroupConfig::default(),
            },
            Command::UpsertGroup {
                group: GroupName::new("fifo").expect("legal"),
                config: SubscriptionGroupConfig {
                    consume_enable: false,
                    consume_broadcast: false,
                    consume_orderly: true,
                    retry_max_times: 2,
                    retry_policy: GroupRetryPolicy::default_exponential(),
                },
            },
            Command::DeleteGroup {
                group: GroupName::new("g").expect("legal"),
                remove_offsets: true,
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

    fn group_bytes(tail: &[u8]) -> Vec<u8> {
        let mut b = vec![7u8, 1, 0, b'g'];
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn group_layout_is_fixed_and_newer_or_odd_layouts_are_refused() {
        // Layout 1: enabled + orderly, 2 retries, customized [1000, 3000].
        let mut tail = vec![1u8, 0b101];
        tail.extend_from_slice(&2u32.to_le_bytes());
        tail.push(0);
        tail.extend_from_slice(&2u32.to_le_bytes());
        for ms in [1_000u64, 3_000] {
            tail.extend_from_slice(&ms.to_le_bytes());
        }
        let want = Command::UpsertGroup {
            group: GroupName::new("g").expect("legal"),
            config: SubscriptionGroupConfig {
                consume_enable: true,
                consume_broadcast: false,
                consume_orderly: true,
                retry_max_times: 2,
                retry_policy: GroupRetryPolicy::Customized {
                    next: vec![1_000, 3_000],
                },
            },
        };
        let b = group_bytes(&tail);
        assert_eq!(Command::decode(&b), Ok(want.clone()));
        assert_eq!(want.encode().expect("encode"), b, "the documented bytes");
        let mut newer = tail.clone();
        newer[0] = 2;
        let e = Command::decode(&group_bytes(&newer)).expect_err("layout 2");
        assert!(e.contains("layout 2"), "{e}");
        let mut odd_flags = tail.clone();
        odd_flags[1] = 0x80;
        assert!(Command::decode(&group_bytes(&odd_flags))
            .expect_err("flag")
            .contains("unknown bits"));
        let mut odd_policy = tail.clone();
        odd_policy[6] = 9;
        assert!(Command::decode(&group_bytes(&odd_policy))
            .expect_err("policy")
            .contains("policy type 9"));
        // A level count far past the bytes is refused before allocating.
        let mut huge = tail[..7].to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Command::decode(&group_bytes(&huge)).is_err());
        assert!(Command::decode(&[8, 1, 0, b'g', 2])
            .expect_err("bool")
            .contains("removeOffset"));
    }

    #[test]
    fn group_commands_are_checked_before_proposal() {
        let upsert = |g: &str, config| Command::UpsertGroup {
            group: GroupName::from_stored(g.to_owned()),
            config,
        };
        assert_eq!(
            upsert("g", SubscriptionGroupConfig::default()).check(),
            Ok(())
        );
        assert!(matches!(
            upsert("%DLQ%g", SubscriptionGroupConfig::default()).check(),
            Err(CommandError::Name(_))
        ));
        let empty = SubscriptionGroupConfig {
            retry_policy: GroupRetryPolicy::Customized { next: vec![] },
            ..Default::default()
        };
        let e = upsert("g", empty).check().expect_err("no levels");
        assert!(matches!(e, CommandError::Group { .. }), "{e:?}");
        assert!(e.to_string().contains("\"g\""), "{e}");
        let delete = Command::DeleteGroup {
            group: GroupName::from_stored("a.b".into()),
            remove_offsets: false,
        };
        assert!(delete.check().is_err());
    }
}
