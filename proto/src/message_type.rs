//! A topic's message type between the model and the wire: the internal
//! services carry [`ns::TopicMessageType`], the client protocol
//! [`v2::MessageType`]. A value the wire does not know reads as
//! undeclared, as a stored byte a newer build wrote does.

use raftmq_model::TopicMessageType;

use crate::namesrv::v1 as ns;
use crate::rocketmq::v2;

impl From<TopicMessageType> for ns::TopicMessageType {
    fn from(t: TopicMessageType) -> Self {
        match t {
            TopicMessageType::Unspecified => Self::Unspecified,
            TopicMessageType::Normal => Self::Normal,
            TopicMessageType::Fifo => Self::Fifo,
            TopicMessageType::Delay => Self::Delay,
            TopicMessageType::Transaction => Self::Transaction,
            TopicMessageType::Mixed => Self::Mixed,
        }
    }
}

impl From<ns::TopicMessageType> for TopicMessageType {
    fn from(t: ns::TopicMessageType) -> Self {
        match t {
            ns::TopicMessageType::Unspecified => Self::Unspecified,
            ns::TopicMessageType::Normal => Self::Normal,
            ns::TopicMessageType::Fifo => Self::Fifo,
            ns::TopicMessageType::Delay => Self::Delay,
            ns::TopicMessageType::Transaction => Self::Transaction,
            ns::TopicMessageType::Mixed => Self::Mixed,
        }
    }
}

/// The type a wire field holds; an unknown number is undeclared.
pub fn from_wire(v: i32) -> TopicMessageType {
    ns::TopicMessageType::try_from(v)
        .map(TopicMessageType::from)
        .unwrap_or_default()
}

/// A type as a wire field.
pub fn to_wire(t: TopicMessageType) -> i32 {
    ns::TopicMessageType::from(t).into()
}

/// A message's type in the client protocol; `None` for the topic-only
/// values (undeclared, MIXED).
pub fn client_type(t: TopicMessageType) -> Option<v2::MessageType> {
    match t {
        TopicMessageType::Normal => Some(v2::MessageType::Normal),
        TopicMessageType::Fifo => Some(v2::MessageType::Fifo),
        TopicMessageType::Delay => Some(v2::MessageType::Delay),
        TopicMessageType::Transaction => Some(v2::MessageType::Transaction),
        TopicMessageType::Unspecified | TopicMessageType::Mixed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_and_unknown_numbers_are_undeclared() {
        for t in TopicMessageType::DECLARED
            .into_iter()
            .chain([TopicMessageType::Unspecified])
        {
            assert_eq!(from_wire(to_wire(t)), t);
        }
        assert_eq!(from_wire(99), TopicMessageType::Unspecified);
        assert_eq!(client_type(TopicMessageType::Mixed), None);
        assert_eq!(
            client_type(TopicMessageType::Delay),
            Some(v2::MessageType::Delay)
        );
    }
}
