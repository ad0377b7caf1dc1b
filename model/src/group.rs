//! Group names: the topic alphabet, 1 to 255 characters (upstream's limit
//! for groups), and none of the prefixes of the topics made from a group.
//!
//! Upstream checks only the alphabet and the length of a group. raftmq also
//! refuses `%RETRY%` and `%DLQ%` at the start of a group name: the group's
//! own retry and dead-letter topics put those prefixes in front of its name,
//! and `%DLQ%%DLQ%x` would read as the dead letters of a group `%DLQ%x`.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use crate::name::{check, NameError, NameOf};

const RESERVED: [(&str, &str); 2] = [
    ("%RETRY%", "the retry topics made from group names"),
    ("%DLQ%", "the dead-letter topics made from group names"),
];

/// A legal group name: 1 to 255 characters of `A-Z a-z 0-9 % | _ -`, not
/// starting with `%RETRY%` or `%DLQ%`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(String);

impl GroupName {
    /// The longest group name, in characters (upstream `CHARACTER_MAX_LENGTH`).
    pub const MAX_LEN: usize = NameOf::Group.max_len();

    /// Checks `name` against the group rule.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        check(NameOf::Group, &name)?;
        if let Some((prefix, purpose)) = RESERVED.iter().find(|(p, _)| name.starts_with(p)) {
            return Err(NameError::Reserved {
                of: NameOf::Group,
                name,
                prefix,
                purpose,
            });
        }
        Ok(GroupName(name))
    }

    /// Takes a name read back from raftmq's own log or metadata as it is,
    /// without the check: an older version may have stored a group the rule
    /// now refuses, and reading it back must not fail. Never for a name that
    /// enters the process; use [`GroupName::new`] there.
    pub fn from_stored(name: String) -> Self {
        GroupName(name)
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
impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for GroupName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for GroupName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for GroupName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for GroupName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for GroupName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl FromStr for GroupName {
    type Err = NameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupName::new(s)
    }
}

impl TryFrom<String> for GroupName {
    type Error = NameError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        GroupName::new(s)
    }
}

impl TryFrom<&str> for GroupName {
    type Error = NameError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        GroupName::new(s)
    }
}

impl From<GroupName> for String {
    fn from(g: GroupName) -> String {
        g.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%|-_";

    #[test]
    fn every_legal_character_is_accepted_and_others_refused_at_their_position() {
        for c in ALPHABET.chars() {
            assert!(GroupName::new(format!("g{c}")).is_ok(), "{c:?}");
        }
        for b in 0u8..128 {
            let c = char::from(b);
            if ALPHABET.contains(c) {
                continue;
            }
            match GroupName::new(format!("{c}g")) {
                Err(NameError::IllegalChar {
                    of: NameOf::Group,
                    ch,
                    position: 1,
                    ..
                }) => assert_eq!(ch, c),
                other => panic!("{c:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn lengths_0_255_256() {
        assert_eq!(
            GroupName::new(""),
            Err(NameError::Empty { of: NameOf::Group })
        );
        assert!(GroupName::new("g".repeat(255)).is_ok());
        let e = GroupName::new("g".repeat(256)).expect_err("too long");
        assert!(matches!(e, NameError::TooLong { len: 256, .. }), "{e:?}");
        assert!(e.to_string().contains("1 to 255 characters"), "{e}");
    }

    #[test]
    fn the_prefixes_of_group_topics_are_refused() {
        for (name, prefix) in [("%RETRY%g", "%RETRY%"), ("%DLQ%g", "%DLQ%")] {
            match GroupName::new(name) {
                Err(NameError::Reserved { prefix: p, .. }) => assert_eq!(p, prefix),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(GroupName::new("rmq_sys_g").is_ok());
        assert!(GroupName::new("g%DLQ%").is_ok());
    }

    proptest! {
        #[test]
        fn names_of_the_alphabet_are_accepted(s in "[A-Za-z0-9|_-][A-Za-z0-9%|_-]{0,254}") {
            let g = GroupName::new(s.clone()).expect("legal");
            prop_assert_eq!(g.as_str(), s.as_str());
        }
    }
}
