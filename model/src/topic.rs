//! Topic names: upstream RocketMQ's alphabet, 1 to 127 characters, and the
//! prefixes raftmq keeps for the topics it names itself.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::name::{check, NameError, NameOf};
use crate::GroupName;

const RETRY_PREFIX: &str = "%RETRY%";
const DEAD_LETTER_PREFIX: &str = "%DLQ%";
const SYSTEM_PREFIX: &str = "rmq_sys_";

/// What a topic is for, read from its reserved prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicKind<'a> {
    /// A topic users create and send to.
    Normal,
    /// `%RETRY%group`: messages a group is to consume again.
    Retry {
        /// The group the topic belongs to.
        group: &'a str,
    },
    /// `%DLQ%group`: messages a group gave up on.
    DeadLetter {
        /// The group the topic belongs to.
        group: &'a str,
    },
    /// `rmq_sys_...`: kept for the broker's own use.
    System,
}

/// A legal topic name: 1 to 127 characters of `A-Z a-z 0-9 % | _ -`.
///
/// Any legal name may be read from (a consumer may receive from
/// `%DLQ%group`); [`TopicName::user_named`] is the stricter check for a
/// name a user picks to create or send to.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicName(String);

impl TopicName {
    /// The longest topic name, in characters (upstream `TOPIC_MAX_LENGTH`).
    pub const MAX_LEN: usize = NameOf::Topic.max_len();

    /// Checks `name` against the topic rule.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        check(NameOf::Topic, &name)?;
        Ok(TopicName(name))
    }

    /// Checks a name a user gives to create a topic or send to one: the
    /// topic rule, and none of the prefixes reserved for topics raftmq
    /// names itself (`%RETRY%`, `%DLQ%`, `rmq_sys_`).
    pub fn user_named(name: impl Into<String>) -> Result<Self, NameError> {
        let topic = TopicName::new(name)?;
        topic.check_user_named()?;
        Ok(topic)
    }

    /// Refuses a name with a reserved prefix, saying what the prefix is for.
    pub fn check_user_named(&self) -> Result<(), NameError> {
        let (prefix, purpose) = match self.kind() {
            TopicKind::Normal => return Ok(()),
            TopicKind::Retry { .. } => (RETRY_PREFIX, "the retry topics of consumer groups"),
            TopicKind::DeadLetter { .. } => (
                DEAD_LETTER_PREFIX,
                "the dead-letter topics of consumer groups",
            ),
            TopicKind::System => (SYSTEM_PREFIX, "the broker's system topics"),
        };
        Err(NameError::Reserved {
            of: NameOf::Topic,
            name: self.0.clone(),
            prefix,
            purpose,
        })
    }

    /// The retry topic of `group`, `%RETRY%group`; an error when the group
    /// name is too long for the result to be a topic name.
    pub fn retry(group: &GroupName) -> Result<Self, NameError> {
        TopicName::new(format!("{RETRY_PREFIX}{group}"))
    }

    /// The dead-letter topic of `group`, `%DLQ%group`; an error when the
    /// group name is too long for the result to be a topic name.
    pub fn dead_letter(group: &GroupName) -> Result<Self, NameError> {
        TopicName::new(format!("{DEAD_LETTER_PREFIX}{group}"))
    }

    /// What the topic is for, from its prefix.
    pub fn kind(&self) -> TopicKind<'_> {
        let s = self.0.as_str();
        if let Some(group) = s.strip_prefix(RETRY_PREFIX) {
            TopicKind::Retry { group }
        } else if let Some(group) = s.strip_prefix(DEAD_LETTER_PREFIX) {
            TopicKind::DeadLetter { group }
        } else if s.starts_with(SYSTEM_PREFIX) {
            TopicKind::System
        } else {
            TopicKind::Normal
        }
    }

    /// Takes a name read back from raftmq's own log or metadata as it is,
    /// without the check: an older version may have stored a topic the rule
    /// now refuses, and reading it back must not fail. Never for a name that
    /// enters the process; use [`TopicName::new`] there.
    pub fn from_stored(name: String) -> Self {
        TopicName(name)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name, as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// The name in quotes, as a string prints, so that `{name:?}` in a message
/// reads `"Orders"`.
impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for TopicName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl FromStr for TopicName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicName::new(s)
    }
}

impl TryFrom<String> for TopicName {
    type Error = NameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        TopicName::new(s)
    }
}

impl TryFrom<&str> for TopicName {
    type Error = NameError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        TopicName::new(s)
    }
}

impl From<TopicName> for String {
    fn from(t: TopicName) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests;
