//! What a queue read keeps: a first cut by the tag hash in the consume
//! queue (no false negatives), then, for the entries that pass, an exact
//! check on the message itself, made in place in the log. [`TagFilter`]
//! (`*`, `TagA`, `TagA || TagB`) is the store's own; a caller brings any
//! other [`MessageFilter`] (the broker's SQL92 filter on properties).

use crate::record::message::{tag_hash, MessageView};

/// A filter applied while reading a queue.
pub trait MessageFilter {
    /// Whether an entry with this tag hash may match (no false negatives).
    fn matches_hash(&self, hash: u64) -> bool;

    /// Whether the exact check needs the message; `false` when the hash
    /// has decided (every message passes the exact check).
    fn needs_message(&self) -> bool;

    /// Whether this message matches exactly.
    fn matches_message(&self, message: &MessageView<'_>) -> bool;
}

/// A subscription's tag expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagFilter {
    /// Every message.
    All,
    /// Messages whose tag is one of these (tag, hash).
    Tags(Vec<(String, u64)>),
}

impl TagFilter {
    /// Parses a RocketMQ tag expression. Empty or `*` is everything.
    /// Returns an error naming the bad part for an empty alternative.
    pub fn parse(expr: &str) -> Result<Self, String> {
        let expr = expr.trim();
        if expr.is_empty() || expr == "*" {
            return Ok(TagFilter::All);
        }
        let mut tags = Vec::new();
        for part in expr.split("||") {
            let tag = part.trim();
            if tag.is_empty() {
                return Err(format!("empty tag in filter expression `{expr}`"));
            }
            if tag == "*" {
                return Ok(TagFilter::All);
            }
            if !tags.iter().any(|(t, _)| t == tag) {
                tags.push((tag.to_owned(), tag_hash(tag)));
            }
        }
        Ok(TagFilter::Tags(tags))
    }

    /// Whether an entry with this tag hash may match (no false negatives).
    pub fn matches_hash(&self, hash: u64) -> bool {
        match self {
            TagFilter::All => true,
            TagFilter::Tags(tags) => tags.iter().any(|(_, h)| *h == hash),
        }
    }

    /// Whether a message with this tag matches exactly.
    pub fn matches_tag(&self, tag: Option<&str>) -> bool {
        match self {
            TagFilter::All => true,
            TagFilter::Tags(tags) => tag.is_some_and(|t| tags.iter().any(|(x, _)| x == t)),
        }
    }
}

impl MessageFilter for TagFilter {
    fn matches_hash(&self, hash: u64) -> bool {
        TagFilter::matches_hash(self, hash)
    }

    fn needs_message(&self) -> bool {
        matches!(self, TagFilter::Tags(_))
    }

    fn matches_message(&self, message: &MessageView<'_>) -> bool {
        self.matches_tag(message.tag())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_forms() {
        assert_eq!(TagFilter::parse("*"), Ok(TagFilter::All));
        assert_eq!(TagFilter::parse(""), Ok(TagFilter::All));
        let f = TagFilter::parse("TagA || TagB").expect("valid");
        assert!(f.matches_tag(Some("TagA")) && f.matches_tag(Some("TagB")));
        assert!(!f.matches_tag(Some("TagC")) && !f.matches_tag(None));
        assert!(f.matches_hash(tag_hash("TagB")));
        assert!(TagFilter::parse("TagA || ").is_err());
    }
}
