//! A topic's name, queue counts, permission and attribute changes, checked
//! before anything is sent, with RocketMQ's limits and its way of printing
//! permissions.

use std::fmt;

use raftmq_model::{Perm, TopicName};

use super::{AdminError, TopicAttributes};

/// The most read or write queues a topic may have.
pub const MAX_QUEUES: u32 = 1024;

/// A topic configuration whose every value is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    name: TopicName,
    read_queues: u32,
    write_queues: u32,
    perm: Perm,
    attributes: TopicAttributes,
}

impl TopicSpec {
    /// Checks the values as `updateTopic` takes them (`-t`, `-r`, `-w`, `-p`).
    pub fn new(
        name: &str,
        read_queues: u32,
        write_queues: u32,
        perm: u32,
    ) -> Result<Self, AdminError> {
        // A user names the topic to create: no reserved prefix either.
        let name = TopicName::user_named(name).map_err(|e| invalid_topic(name, e))?;
        check_queues("-r", read_queues)?;
        check_queues("-w", write_queues)?;
        let perm = Perm::new(perm).map_err(|e| AdminError::InvalidOption {
            option: "-p",
            value: perm.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            name,
            read_queues,
            write_queues,
            perm,
            attributes: TopicAttributes::default(),
        })
    }

    /// The same topic with the attribute changes of `-a`.
    pub fn with_attributes(self, attributes: TopicAttributes) -> Self {
        Self { attributes, ..self }
    }

    /// The topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The number of read queues.
    pub fn read_queues(&self) -> u32 {
        self.read_queues
    }

    /// The number of write queues.
    pub fn write_queues(&self) -> u32 {
        self.write_queues
    }

    /// The permission bits.
    pub fn perm(&self) -> Perm {
        self.perm
    }

    /// The attribute changes (`-a`); none keeps the topic's own.
    pub fn attributes(&self) -> TopicAttributes {
        self.attributes
    }
}

/// As upstream's `TopicConfig.toString()`, cut to the fields raftmq has;
/// `attributes={+message.type=X}` only when `-a` changes them.
impl fmt::Display for TopicSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}",
            self.name,
            self.read_queues,
            self.write_queues,
            self.perm.letters()
        )?;
        if !self.attributes.is_empty() {
            write!(f, ", attributes={}", self.attributes)?;
        }
        f.write_str("]")
    }
}

/// Checks a topic name a command names (`-t`) with the topic rule.
pub fn check_topic(name: &str) -> Result<TopicName, AdminError> {
    TopicName::new(name).map_err(|e| invalid_topic(name, e))
}

fn invalid_topic(name: &str, e: raftmq_model::NameError) -> AdminError {
    AdminError::InvalidOption {
        option: "-t",
        value: name.to_owned(),
        reason: e.to_string(),
    }
}

fn check_queues(option: &'static str, queues: u32) -> Result<(), AdminError> {
    if !(1..=MAX_QUEUES).contains(&queues) {
        return Err(AdminError::InvalidOption {
            option,
            value: queues.to_string(),
            reason: format!("the number of queues must be from 1 to {MAX_QUEUES}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_prints_as_topic_config() {
        let spec = TopicSpec::new("T", 8, 8, 6).unwrap();
        assert_eq!(
            spec.to_string(),
            "TopicConfig [topicName=T, readQueueNums=8, writeQueueNums=8, perm=RW-]"
        );
        let typed = spec.with_attributes(TopicAttributes::parse("+message.type=DELAY").unwrap());
        assert_eq!(
            typed.to_string(),
            "TopicConfig [topicName=T, readQueueNums=8, writeQueueNums=8, perm=RW-, \
             attributes={+message.type=DELAY}]"
        );
    }

    #[test]
    fn valid_edges_pass() {
        assert!(TopicSpec::new("a%b|c_d-e", 1, 1024, 0).is_ok());
        assert!(TopicSpec::new(&"x".repeat(127), 8, 8, 7).is_ok());
    }

    #[test]
    fn each_bad_value_names_its_option() {
        let cases = [
            (TopicSpec::new("", 8, 8, 6), "-t"),
            (TopicSpec::new("a b", 8, 8, 6), "-t"),
            (TopicSpec::new("été", 8, 8, 6), "-t"),
            (TopicSpec::new(&"x".repeat(128), 8, 8, 6), "-t"),
            (TopicSpec::new("T", 0, 8, 6), "-r"),
            (TopicSpec::new("T", 1025, 8, 6), "-r"),
            (TopicSpec::new("T", 8, 0, 6), "-w"),
            (TopicSpec::new("a.b", 8, 8, 6), "-t"),
            (TopicSpec::new("%DLQ%g", 8, 8, 6), "-t"),
            (TopicSpec::new("rmq_sys_x", 8, 8, 6), "-t"),
            (TopicSpec::new("T", 8, 8, 8), "-p"),
        ];
        for (result, option) in cases {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, AdminError::InvalidOption { option: o, .. } if *o == option),
                "{err}"
            );
            assert_eq!(err.exit_code(), 2);
            assert!(
                err.to_string().starts_with(&format!("invalid {option} ")),
                "{err}"
            );
        }
    }
}
