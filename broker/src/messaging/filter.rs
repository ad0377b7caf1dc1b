//! What a consumer reads: the filter of its ReceiveMessage or PullMessage,
//! applied by the store while it reads a queue, so a message that does not
//! match never leaves the broker and is passed over like one filtered by
//! tag.
//!
//! ```text
//!   FilterExpression ──► TAG: TagFilter (hash in the consume queue, then the tag)
//!                   └──► SQL: SqlFilter (every entry: its properties and TAGS, read in place)
//! ```
//!
//! SQL92 is accepted while `enablePropertyFilter` is on (raftmq's default;
//! upstream's is off) and refused otherwise as upstream refuses it; an
//! expression that does not compile is refused with
//! ILLEGAL_FILTER_EXPRESSION naming where it went wrong.

use raftmq_filter::{Properties, SqlFilter};
use raftmq_proto::client_protocol as cp;
use raftmq_proto::rocketmq::v2;
use raftmq_store::consume_queue::{MessageFilter, TagFilter};
use raftmq_store::record::message::MessageView;

/// The property name by which SQL92 reads a message's tag, as upstream.
pub const TAGS: &str = "TAGS";

/// A consumer's filter.
#[derive(Clone, Debug)]
pub enum ConsumeFilter {
    /// By tag: `*`, `TagA || TagB`.
    Tag(TagFilter),
    /// By SQL92 over the properties and TAGS.
    Sql(SqlFilter),
}

/// A message's properties as SQL92 sees them: the user properties, and
/// the tag as `TAGS`.
struct ViewProperties<'v, 'a>(&'v MessageView<'a>);

impl Properties for ViewProperties<'_, '_> {
    fn property(&self, name: &str) -> Option<&str> {
        if name == TAGS {
            return self.0.tag();
        }
        self.0
            .properties()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

impl MessageFilter for ConsumeFilter {
    fn matches_hash(&self, hash: u64) -> bool {
        match self {
            ConsumeFilter::Tag(t) => t.matches_hash(hash),
            ConsumeFilter::Sql(_) => true,
        }
    }

    fn needs_message(&self) -> bool {
        match self {
            ConsumeFilter::Tag(t) => MessageFilter::needs_message(t),
            ConsumeFilter::Sql(_) => true,
        }
    }

    fn matches_message(&self, message: &MessageView<'_>) -> bool {
        match self {
            ConsumeFilter::Tag(t) => t.matches_tag(message.tag()),
            ConsumeFilter::Sql(f) => f.matches(&ViewProperties(message)),
        }
    }
}

/// The filter a request asks for; `enable_sql` is `enablePropertyFilter`.
pub(super) fn from_request(
    f: Option<&v2::FilterExpression>,
    enable_sql: bool,
) -> Result<ConsumeFilter, v2::Status> {
    let Some(f) = f else {
        return Ok(ConsumeFilter::Tag(TagFilter::All));
    };
    if f.r#type == v2::FilterType::Sql as i32 {
        if !enable_sql {
            // Upstream's broker answers SYSTEM_ERROR, which its proxy
            // turns into INTERNAL_SERVER_ERROR, with this text.
            return Err(cp::status(
                v2::Code::InternalServerError,
                "The broker does not support consumer to filter message by SQL92 \
                 (enablePropertyFilter=false on this broker)",
            ));
        }
        return SqlFilter::compile(&f.expression)
            .map(ConsumeFilter::Sql)
            .map_err(|e| {
                cp::status(
                    v2::Code::IllegalFilterExpression,
                    format!("{e} in {:?}", f.expression),
                )
            });
    }
    TagFilter::parse(&f.expression)
        .map(ConsumeFilter::Tag)
        .map_err(|e| cp::status(v2::Code::IllegalFilterExpression, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use raftmq_store::record::message::Message;

    fn sql(expression: &str) -> v2::FilterExpression {
        v2::FilterExpression {
            r#type: v2::FilterType::Sql as i32,
            expression: expression.into(),
        }
    }

    fn record(tag: Option<&str>, properties: &[(&str, &str)]) -> bytes::Bytes {
        let mut m = Message::new("T".parse().expect("topic"));
        m.tag = tag.map(Into::into);
        m.message_id = "ID".into();
        m.properties = properties
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        m.encode_to_bytes().expect("encodes")
    }

    #[test]
    fn sql_reads_properties_and_the_tag() {
        let f = from_request(Some(&sql("TAGS = 'A' AND n > 5")), true).expect("compiles");
        assert!(f.needs_message() && f.matches_hash(0));
        let yes = record(Some("A"), &[("n", "6")]);
        let no = record(Some("B"), &[("n", "6")]);
        let none = record(None, &[("n", "6")]);
        let view = |b: &bytes::Bytes| MessageView::decode(b).map(|v| f.matches_message(&v));
        assert_eq!(view(&yes), Ok(true));
        assert_eq!(view(&no), Ok(false));
        assert_eq!(view(&none), Ok(false));
    }

    #[test]
    fn a_bad_expression_is_refused_with_its_position() {
        let e = from_request(Some(&sql("a = ")), true).expect_err("refused");
        assert_eq!(e.code, v2::Code::IllegalFilterExpression as i32);
        assert!(e.message.contains("column 5"), "{}", e.message);
        let e = from_request(Some(&sql("")), true).expect_err("refused");
        assert_eq!(e.code, v2::Code::IllegalFilterExpression as i32);
    }

    #[test]
    fn sql_is_refused_when_property_filters_are_off() {
        let e = from_request(Some(&sql("a = 1")), false).expect_err("refused");
        assert_eq!(e.code, v2::Code::InternalServerError as i32);
        assert!(e.message.contains("enablePropertyFilter"), "{}", e.message);
        // Tags still work.
        let tag = v2::FilterExpression {
            r#type: v2::FilterType::Tag as i32,
            expression: "A || B".into(),
        };
        assert!(matches!(
            from_request(Some(&tag), false),
            Ok(ConsumeFilter::Tag(TagFilter::Tags(_)))
        ));
    }
}
