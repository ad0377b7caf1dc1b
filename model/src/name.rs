//! The rule topic and group names share, and the error that states it.
//!
//! Upstream RocketMQ allows the characters `%`, `|`, `-`, `_` and the ASCII
//! letters and digits in both; only the longest length differs. Consume
//! queue directories are named by topic, so the alphabet also keeps every
//! path inside the store.

use std::fmt;

/// Which kind of name broke the rule, so the message can say so.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameOf {
    /// A topic name.
    Topic,
    /// A consumer (or producer) group name.
    Group,
}

impl NameOf {
    /// The longest name of this kind, in characters.
    pub const fn max_len(self) -> usize {
        match self {
            NameOf::Topic => 127,
            NameOf::Group => 255,
        }
    }

    /// The rule, in words, for error messages and help texts.
    pub fn rule(self) -> String {
        format!(
            "a {self} name is 1 to {} characters of A-Z, a-z, 0-9, %, |, _ and -",
            self.max_len()
        )
    }
}

impl fmt::Display for NameOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameOf::Topic => "topic",
            NameOf::Group => "group",
        })
    }
}

/// Why a string is not a legal topic or group name. Every message names
/// the name, what is wrong with it, and the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("the {of} name is empty; {}", of.rule())]
    Empty {
        /// Topic or group.
        of: NameOf,
    },
    /// The name is longer than its kind allows.
    #[error("{of} name {name:?} is {len} characters long; {}", of.rule())]
    TooLong {
        /// Topic or group.
        of: NameOf,
        /// The name as given.
        name: String,
        /// Its length in characters.
        len: usize,
    },
    /// The name holds a character outside the alphabet.
    #[error("{of} name {name:?} has {ch:?} at position {position} (counting from 1); {}", of.rule())]
    IllegalChar {
        /// Topic or group.
        of: NameOf,
        /// The name as given.
        name: String,
        /// The first character that is not allowed.
        ch: char,
        /// Its position in characters, counting from 1.
        position: usize,
    },
    /// The name starts with a prefix raftmq keeps for names it makes itself.
    #[error("{of} name {name:?} starts with {prefix:?}, which is reserved for {purpose}; choose another name")]
    Reserved {
        /// Topic or group.
        of: NameOf,
        /// The name as given.
        name: String,
        /// The reserved prefix.
        prefix: &'static str,
        /// What the prefix is kept for.
        purpose: &'static str,
    },
}

impl NameError {
    /// Topic or group: which name broke the rule.
    pub fn of(&self) -> NameOf {
        match self {
            NameError::Empty { of }
            | NameError::TooLong { of, .. }
            | NameError::IllegalChar { of, .. }
            | NameError::Reserved { of, .. } => *of,
        }
    }
}

/// Whether `c` may appear in a topic or group name.
pub(crate) fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '-' | '_')
}

/// Checks `name` against the alphabet and the length of `of`.
pub(crate) fn check(of: NameOf, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { of });
    }
    if let Some((i, ch)) = name.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        return Err(NameError::IllegalChar {
            of,
            name: name.to_owned(),
            ch,
            position: i + 1,
        });
    }
    // Every allowed character is one ASCII byte.
    if name.len() > of.max_len() {
        return Err(NameError::TooLong {
            of,
            name: name.to_owned(),
            len: name.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_state_the_rule() {
        let e = check(NameOf::Topic, "a.b").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("'.' at position 2"), "{text}");
        assert!(text.contains("1 to 127 characters of A-Z"), "{text}");
        let e = check(NameOf::Group, "").unwrap_err();
        assert_eq!(e, NameError::Empty { of: NameOf::Group });
        assert!(e.to_string().contains("1 to 255"));
    }

    #[test]
    fn a_bad_character_is_named_before_the_length() {
        let long = format!("{}é", "a".repeat(300));
        match check(NameOf::Topic, &long) {
            Err(NameError::IllegalChar { ch, position, .. }) => {
                assert_eq!((ch, position), ('é', 301));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
