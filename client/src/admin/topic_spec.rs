//! A topic's name, queue counts and permission, checked before anything is
//! sent, with RocketMQ's limits and its way of printing permissions.

use std::fmt;

use super::AdminError;

/// The longest topic name RocketMQ accepts.
pub const MAX_TOPIC_LEN: usize = 127;
/// The most read or write queues a topic may have.
pub const MAX_QUEUES: u32 = 1024;

/// RocketMQ's permission bit for reading.
pub const PERM_READ: u32 = 4;
/// RocketMQ's permission bit for writing.
pub const PERM_WRITE: u32 = 2;
/// RocketMQ's permission bit for inheriting (`X`).
pub const PERM_INHERIT: u32 = 1;

/// A topic configuration whose every value is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    name: String,
    read_queues: u32,
    write_queues: u32,
    perm: u32,
}

impl TopicSpec {
    /// Checks the values as `updateTopic` takes them (`-t`, `-r`, `-w`, `-p`).
    pub fn new(
        name: &str,
        read_queues: u32,
        write_queues: u32,
        perm: u32,
    ) -> Result<Self, AdminError> {
        check_topic(name)?;
        check_queues("-r", read_queues)?;
        check_queues("-w", write_queues)?;
        if perm > 7 {
            return Err(AdminError::InvalidOption {
                option: "-p",
                value: perm.to_string(),
                reason: "the permission is a sum of read 4, write 2 and inherit 1, from 0 to 7"
                    .to_owned(),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            read_queues,
            write_queues,
            perm,
        })
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
    pub fn perm(&self) -> u32 {
        self.perm
    }
}

/// As upstream's `TopicConfig.toString()`, cut to the fields raftmq has.
impl fmt::Display for TopicSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TopicConfig [topicName={}, readQueueNums={}, writeQueueNums={}, perm={}]",
            self.name,
            self.read_queues,
            self.write_queues,
            perm_string(self.perm)
        )
    }
}

/// Checks a topic name: 1 to 127 characters of `A-Z a-z 0-9 % | _ - .`.
pub fn check_topic(name: &str) -> Result<(), AdminError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "%|_-.".contains(c);
    if name.is_empty() || name.len() > MAX_TOPIC_LEN || !name.chars().all(allowed) {
        return Err(AdminError::InvalidOption {
            option: "-t",
            value: name.to_owned(),
            reason: format!(
                "a topic name is 1 to {MAX_TOPIC_LEN} characters of A-Z, a-z, 0-9, %, |, _, - and ."
            ),
        });
    }
    Ok(())
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

/// Permission bits as RocketMQ's `PermName.perm2String` prints them:
/// `R`, `W`, `X` for read, write, inherit, `-` for a bit not set.
pub fn perm_string(perm: u32) -> String {
    [(PERM_READ, 'R'), (PERM_WRITE, 'W'), (PERM_INHERIT, 'X')]
        .iter()
        .map(|&(bit, c)| if perm & bit != 0 { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perm_prints_as_upstream() {
        assert_eq!(perm_string(6), "RW-");
        assert_eq!(perm_string(4), "R--");
        assert_eq!(perm_string(2), "-W-");
        assert_eq!(perm_string(0), "---");
        assert_eq!(perm_string(7), "RWX");
        assert_eq!(perm_string(1), "--X");
    }

    #[test]
    fn spec_prints_as_topic_config() {
        let spec = TopicSpec::new("T", 8, 8, 6).unwrap();
        assert_eq!(
            spec.to_string(),
            "TopicConfig [topicName=T, readQueueNums=8, writeQueueNums=8, perm=RW-]"
        );
    }

    #[test]
    fn valid_edges_pass() {
        assert!(TopicSpec::new("a%b|c_d-e.f", 1, 1024, 0).is_ok());
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
