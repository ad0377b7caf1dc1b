//! Subscription filters: by tag (`*`, `TagA`, `TagA || TagB`) or by an
//! SQL92 predicate over properties. The broker applies them; the client
//! only checks and sends them, and can evaluate a tag filter itself.

use raftmq_proto::rocketmq::v2;

use super::ClientError;

/// Which messages of a topic a consumer wants.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FilterExpression {
    /// Tags joined by `||`; `*` for every message.
    Tag(String),
    /// An SQL92 predicate over the properties and `TAGS` (built by
    /// [`FilterExpression::sql`], which checks it).
    Sql(String),
}

impl Default for FilterExpression {
    fn default() -> Self {
        Self::all()
    }
}

impl FilterExpression {
    /// Every message (`*`).
    pub fn all() -> Self {
        Self::Tag("*".to_owned())
    }

    /// A tag expression: `*`, `TagA` or `TagA || TagB`. An empty one means
    /// `*`. Fails on empty alternatives such as `TagA ||`.
    pub fn tag(expression: &str) -> Result<Self, ClientError> {
        let e = expression.trim();
        if e.is_empty() || e == "*" {
            return Ok(Self::all());
        }
        let tags: Vec<&str> = e.split("||").map(str::trim).collect();
        if tags.iter().any(|t| t.is_empty() || *t == "*") {
            return Err(ClientError::Invalid {
                what: "filter expression",
                reason: format!(
                    "'{expression}': expected '*' or tags separated by '||', e.g. 'TagA || TagB'"
                ),
            });
        }
        Ok(Self::Tag(tags.join(" || ")))
    }

    /// An SQL92 predicate over the message properties and `TAGS`, e.g.
    /// `a > 5 AND region = 'eu' AND TAGS IN ('TagA', 'TagB')`, evaluated
    /// by the broker (RocketMQ's language and meaning: see the
    /// `raftmq-filter` crate). Checked here first, so a malformed one fails
    /// now, naming the column of the fault and what was expected there.
    pub fn sql(expression: &str) -> Result<Self, ClientError> {
        let e = expression.trim();
        if e.is_empty() {
            return Err(ClientError::Invalid {
                what: "filter expression",
                reason: "an SQL filter cannot be empty; use FilterExpression::all()".into(),
            });
        }
        if let Err(error) = raftmq_filter::SqlFilter::compile(e) {
            return Err(ClientError::Invalid {
                what: "filter expression",
                reason: format!("{error} in {e:?}"),
            });
        }
        Ok(Self::Sql(e.to_owned()))
    }

    /// The tags a tag filter accepts; `None` for `*` or an SQL filter.
    pub fn tags(&self) -> Option<Vec<&str>> {
        match self {
            Self::Tag(e) if e != "*" => Some(e.split("||").map(str::trim).collect()),
            _ => None,
        }
    }

    /// Whether a message with `tag` passes a tag filter (SQL filters are
    /// the broker's to evaluate: they pass here).
    pub fn matches_tag(&self, tag: Option<&str>) -> bool {
        match self.tags() {
            None => true,
            Some(tags) => tag.is_some_and(|t| tags.contains(&t)),
        }
    }

    /// The expression's text.
    pub fn expression(&self) -> &str {
        match self {
            Self::Tag(e) | Self::Sql(e) => e,
        }
    }
}

impl From<&FilterExpression> for v2::FilterExpression {
    fn from(f: &FilterExpression) -> Self {
        let kind = match f {
            FilterExpression::Tag(_) => v2::FilterType::Tag,
            FilterExpression::Sql(_) => v2::FilterType::Sql,
        };
        v2::FilterExpression {
            r#type: kind.into(),
            expression: f.expression().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_empty_mean_all() {
        for e in ["*", " * ", ""] {
            let f = FilterExpression::tag(e).unwrap();
            assert_eq!(f, FilterExpression::all());
            assert!(f.matches_tag(None));
            assert!(f.matches_tag(Some("x")));
        }
    }

    #[test]
    fn tag_lists_are_normalised_and_matched() {
        let f = FilterExpression::tag("TagA||  TagB ").unwrap();
        assert_eq!(f.expression(), "TagA || TagB");
        assert_eq!(f.tags().unwrap(), ["TagA", "TagB"]);
        assert!(f.matches_tag(Some("TagA")));
        assert!(f.matches_tag(Some("TagB")));
        assert!(!f.matches_tag(Some("TagC")));
        assert!(!f.matches_tag(None));
        let one = FilterExpression::tag("TagA").unwrap();
        assert!(one.matches_tag(Some("TagA")) && !one.matches_tag(Some("TagAB")));
    }

    #[test]
    fn empty_alternatives_are_refused() {
        for bad in ["TagA ||", "|| TagB", "A || || B", "A || *"] {
            assert!(FilterExpression::tag(bad).is_err(), "{bad}");
        }
        assert!(FilterExpression::sql(" ").is_err());
    }

    #[test]
    fn sql_is_checked_before_it_is_sent() {
        let ok = FilterExpression::sql(" a > 5 AND TAGS IN ('A') ").unwrap();
        assert_eq!(ok.expression(), "a > 5 AND TAGS IN ('A')");
        let e = FilterExpression::sql("a > 5 AND").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("column 10") && text.contains("expected"),
            "{text}"
        );
        assert!(matches!(e, ClientError::Invalid { .. }));
    }

    #[test]
    fn filters_go_on_the_wire_with_their_type() {
        let w = v2::FilterExpression::from(&FilterExpression::tag("A || B").unwrap());
        assert_eq!(w.r#type, v2::FilterType::Tag as i32);
        assert_eq!(w.expression, "A || B");
        let w = v2::FilterExpression::from(&FilterExpression::sql("a > 1").unwrap());
        assert_eq!(w.r#type, v2::FilterType::Sql as i32);
        assert!(FilterExpression::sql("a > 1").unwrap().matches_tag(None));
    }
}
