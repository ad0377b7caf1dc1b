//! A topic's message type, upstream 5.x's `message.type` topic attribute.

use std::fmt;
use std::str::FromStr;

/// The messages a topic takes, as `updateTopic -a +message.type=...` sets it.
///
/// A topic created without the attribute is [`TopicMessageType::Unspecified`]:
/// it takes every type unless the broker checks types
/// (`enableTopicMessageTypeCheck`), where it counts as `NORMAL`, as
/// upstream's attribute defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicMessageType {
    /// Not declared.
    #[default]
    Unspecified,
    /// Normal messages.
    Normal,
    /// FIFO messages (a message group each).
    Fifo,
    /// Delay and scheduled messages.
    Delay,
    /// Transactional messages.
    Transaction,
    /// Any of them.
    Mixed,
}

/// A `message.type` value upstream does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message.type {0:?} is not one of NORMAL, FIFO, DELAY, TRANSACTION, MIXED")]
pub struct UnknownMessageType(pub String);

impl TopicMessageType {
    /// Every declared type, in upstream's order.
    pub const DECLARED: [TopicMessageType; 5] = [
        Self::Normal,
        Self::Fifo,
        Self::Delay,
        Self::Transaction,
        Self::Mixed,
    ];

    /// The stored byte.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::Normal => 1,
            Self::Fifo => 2,
            Self::Delay => 3,
            Self::Transaction => 4,
            Self::Mixed => 5,
        }
    }

    /// The type for a stored byte; an unknown byte reads as unspecified
    /// (data written by a newer build takes every type here).
    pub const fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Normal,
            2 => Self::Fifo,
            3 => Self::Delay,
            4 => Self::Transaction,
            5 => Self::Mixed,
            _ => Self::Unspecified,
        }
    }

    /// Upstream's spelling (`UNSPECIFIED` for an undeclared type).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "UNSPECIFIED",
            Self::Normal => "NORMAL",
            Self::Fifo => "FIFO",
            Self::Delay => "DELAY",
            Self::Transaction => "TRANSACTION",
            Self::Mixed => "MIXED",
        }
    }

    /// The four types a message can have, in upstream's order.
    pub const SENDABLE: [TopicMessageType; 4] =
        [Self::Normal, Self::Fifo, Self::Delay, Self::Transaction];

    /// The message types this topic's queues advertise to clients
    /// (`accept_message_types` in a route): a declared type takes itself,
    /// MIXED the four; an undeclared topic NORMAL alone where the broker
    /// checks types (`checked`), else the four.
    pub fn accepted(self, checked: bool) -> &'static [TopicMessageType] {
        match self {
            Self::Mixed => &Self::SENDABLE,
            Self::Unspecified if !checked => &Self::SENDABLE,
            Self::Unspecified | Self::Normal => &[Self::Normal],
            Self::Fifo => &[Self::Fifo],
            Self::Delay => &[Self::Delay],
            Self::Transaction => &[Self::Transaction],
        }
    }

    /// Whether a message of `sent` type may go to this topic when the broker
    /// checks types: an undeclared topic counts as NORMAL.
    pub fn accepts(self, sent: TopicMessageType) -> bool {
        match self {
            Self::Mixed => true,
            Self::Unspecified => sent == Self::Normal,
            declared => declared == sent,
        }
    }
}

impl fmt::Display for TopicMessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TopicMessageType {
    type Err = UnknownMessageType;

    /// Upstream's spellings, exactly (its enum attribute is case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::DECLARED
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownMessageType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_and_unknown_ones_are_named() {
        for t in TopicMessageType::DECLARED {
            assert_eq!(t.as_str().parse::<TopicMessageType>(), Ok(t));
            assert_eq!(TopicMessageType::from_u8(t.as_u8()), t);
        }
        let e = "normal".parse::<TopicMessageType>().unwrap_err();
        assert!(e.to_string().contains("\"normal\""), "{e}");
        assert!("UNSPECIFIED".parse::<TopicMessageType>().is_err());
    }

    #[test]
    fn an_undeclared_topic_takes_normal_messages_only_under_the_check() {
        use TopicMessageType::*;
        assert!(Unspecified.accepts(Normal));
        assert!(!Unspecified.accepts(Delay));
        assert!(Mixed.accepts(Transaction));
        assert!(Delay.accepts(Delay));
        assert!(!Delay.accepts(Normal));
    }

    #[test]
    fn routes_advertise_what_the_topic_takes() {
        use TopicMessageType::*;
        for checked in [false, true] {
            assert_eq!(Delay.accepted(checked), &[Delay]);
            assert_eq!(Normal.accepted(checked), &[Normal]);
            assert_eq!(Mixed.accepted(checked), &[Normal, Fifo, Delay, Transaction]);
        }
        assert_eq!(Unspecified.accepted(true), &[Normal]);
        assert_eq!(Unspecified.accepted(false), &TopicMessageType::SENDABLE);
        // What a route advertises is what the check lets through.
        for t in TopicMessageType::DECLARED.into_iter().chain([Unspecified]) {
            for sent in TopicMessageType::SENDABLE {
                assert_eq!(
                    t.accepted(true).contains(&sent),
                    t.accepts(sent),
                    "{t} {sent}"
                );
            }
        }
    }
}
