//! `updateTopic -a`: upstream RocketMQ 5's topic attribute changes, a
//! comma-separated list of `+key=value` (set) and `-key` (remove). raftmq
//! knows one attribute, `message.type`; any other key or value is refused
//! before anything is sent.

use std::fmt;

use raftmq_model::TopicMessageType;

use super::AdminError;

/// The one attribute raftmq knows: the topic's message type.
pub const MESSAGE_TYPE: &str = "message.type";

/// What `-a` does to the topic's message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageTypeChange {
    /// `+message.type=X`: the topic takes X.
    Set(TopicMessageType),
    /// `-message.type`: the topic's type is no longer declared.
    Remove,
}

/// The attribute changes of one `updateTopic`; none keeps the topic's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicAttributes {
    message_type: Option<MessageTypeChange>,
}

impl TopicAttributes {
    /// Parses `-a` as upstream writes it: `+message.type=DELAY`,
    /// `-message.type`. The error names the item at fault.
    pub fn parse(text: &str) -> Result<Self, AdminError> {
        let bad = |reason: String| AdminError::InvalidOption {
            option: "-a",
            value: text.to_owned(),
            reason,
        };
        let mut out = Self::default();
        for item in text.split(',') {
            let (key, change) = if let Some(set) = item.strip_prefix('+') {
                let Some((key, value)) = set.split_once('=') else {
                    return Err(bad(format!("\"{item}\" sets no value: write +{set}=VALUE")));
                };
                check_key(key).map_err(&bad)?;
                if value.is_empty() {
                    return Err(bad(format!("\"{item}\" sets no value: write +{key}=VALUE")));
                }
                let t = value
                    .parse::<TopicMessageType>()
                    .map_err(|e| bad(e.to_string()))?;
                (key, MessageTypeChange::Set(t))
            } else if let Some(key) = item.strip_prefix('-') {
                if key.contains('=') {
                    return Err(bad(format!(
                        "\"{item}\" removes an attribute and takes no value: write -{}",
                        key.split('=').next().unwrap_or_default()
                    )));
                }
                check_key(key).map_err(&bad)?;
                (key, MessageTypeChange::Remove)
            } else {
                return Err(bad(format!(
                    "\"{item}\" must start with + (set, +key=value) or - (remove, -key)"
                )));
            };
            if out.message_type.replace(change).is_some() {
                return Err(bad(format!("{key} is changed twice")));
            }
        }
        Ok(out)
    }

    /// The change to the topic's message type, if any.
    pub fn message_type(&self) -> Option<MessageTypeChange> {
        self.message_type
    }

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.message_type.is_none()
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key == MESSAGE_TYPE {
        Ok(())
    } else {
        Err(format!(
            "unknown attribute \"{key}\": the only topic attribute is {MESSAGE_TYPE}"
        ))
    }
}

/// As upstream prints the changes in `TopicConfig [... attributes={...}]`:
/// `{+message.type=DELAY}`, `{-message.type=}`, `{}`.
impl fmt::Display for TopicAttributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message_type {
            None => f.write_str("{}"),
            Some(MessageTypeChange::Set(t)) => write!(f, "{{+{MESSAGE_TYPE}={t}}}"),
            Some(MessageTypeChange::Remove) => write!(f, "{{-{MESSAGE_TYPE}=}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_is_set_and_the_type_is_removed() {
        for t in TopicMessageType::DECLARED {
            let a = TopicAttributes::parse(&format!("+message.type={t}")).unwrap();
            assert_eq!(a.message_type(), Some(MessageTypeChange::Set(t)));
            assert_eq!(a.to_string(), format!("{{+message.type={t}}}"));
        }
        let a = TopicAttributes::parse("-message.type").unwrap();
        assert_eq!(a.message_type(), Some(MessageTypeChange::Remove));
        assert_eq!(a.to_string(), "{-message.type=}");
        assert!(TopicAttributes::default().is_empty());
        assert_eq!(TopicAttributes::default().to_string(), "{}");
    }

    #[test]
    fn bad_items_are_refused_naming_them() {
        let cases = [
            ("+message.type=normal", "\"normal\" is not one of NORMAL"),
            ("+message.type=UNSPECIFIED", "\"UNSPECIFIED\" is not one of"),
            ("+message.type=", "sets no value"),
            ("+message.type", "sets no value"),
            ("+foo=bar", "unknown attribute \"foo\""),
            ("-queue.type", "unknown attribute \"queue.type\""),
            ("-message.type=DELAY", "takes no value: write -message.type"),
            ("message.type=DELAY", "must start with + (set"),
            ("", "\"\" must start with +"),
            ("+message.type=FIFO,", "\"\" must start with +"),
            (
                "+message.type=FIFO,-message.type",
                "message.type is changed twice",
            ),
        ];
        for (text, why) in cases {
            let e = TopicAttributes::parse(text).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{text}");
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("invalid -a '{text}': ")), "{msg}");
            assert!(msg.contains(why), "{text}: {msg}");
        }
    }
}
