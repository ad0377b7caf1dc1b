//! RocketMQ-style conf files (`key=value` properties), apart from what the
//! keys mean: the syntax, and the nearest known name for a mistyped key.
//!
//! RocketMQ reads its conf files with `java.util.Properties`; raftmq reads the
//! subset people write, and is stricter where Java silently does something
//! surprising:
//!
//! - blank lines, and lines whose first non-blank character is `#` or `!`,
//!   are skipped;
//! - `key=value` or `key:value` (whichever separator comes first); spaces
//!   around the key and the value are trimmed;
//! - `key=value # comment`: a `#` preceded by whitespace starts a comment
//!   (Java would keep `value # comment` as the value, and upstream then fails
//!   to start). A `#` inside a word (`a#b`) is part of the value;
//! - a line without a separator (Java's `key value`) is an error naming the
//!   line, as is a line ending in `\` (Java's continuation);
//! - no `\` escapes are interpreted;
//! - a leading UTF-8 byte-order mark is skipped.

use std::fmt;

/// One `key=value` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The key, trimmed.
    pub key: &'a str,
    /// The value, trimmed, without a trailing comment.
    pub value: &'a str,
}

/// The entries of `text` in file order, or the first line that is malformed
/// (its number and the problem).
pub fn entries(text: &str) -> Result<Vec<Entry<'_>>, (usize, SyntaxProblem)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if let Some(entry) = parse_line(raw).map_err(|p| (line, p))? {
            out.push(Entry {
                line,
                key: entry.0,
                value: entry.1,
            });
        }
    }
    Ok(out)
}

/// `Ok(None)` for blank and comment lines.
fn parse_line(raw: &str) -> Result<Option<(&str, &str)>, SyntaxProblem> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
        return Ok(None);
    }
    let body = strip_comment(trimmed).trim_end();
    if body.ends_with('\\') {
        return Err(SyntaxProblem::Continuation);
    }
    let Some(sep) = body.find(['=', ':']) else {
        return Err(SyntaxProblem::NoSeparator {
            text: trimmed.to_owned(),
        });
    };
    let key = body[..sep].trim();
    if key.is_empty() {
        return Err(SyntaxProblem::EmptyKey);
    }
    let value = body[sep + 1..].trim();
    Ok(Some((key, value)))
}

/// `text` up to the first `#` that follows whitespace.
fn strip_comment(text: &str) -> &str {
    let mut prev_blank = false;
    for (i, c) in text.char_indices() {
        if c == '#' && prev_blank {
            return &text[..i];
        }
        prev_blank = c.is_whitespace();
    }
    text
}

/// Why a line is not `key=value`, a comment or blank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxProblem {
    /// No `=` (or `:`) separates a key from a value.
    NoSeparator {
        /// The line, trimmed.
        text: String,
    },
    /// Nothing before the `=`.
    EmptyKey,
    /// The line ends in `\`: Java properties would join it with the next
    /// line; raftmq refuses rather than guess.
    Continuation,
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxProblem::NoSeparator { text } => {
                write!(f, "expected `key=value`, found `{text}`")
            }
            SyntaxProblem::EmptyKey => f.write_str("no key before `=`"),
            SyntaxProblem::Continuation => f.write_str(
                "a line ending in `\\` (a continued line) is not supported: put the value on one line",
            ),
        }
    }
}

/// The candidate closest to `name` by edit distance (ignoring case), if it is
/// close enough to be a likely typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let limit = (name.chars().count() / 4).max(2);
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over chars.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<Option<(&str, &str)>, SyntaxProblem> {
        parse_line(line)
    }

    #[test]
    fn separators_spaces_and_comments() {
        assert_eq!(one("a=b").unwrap(), Some(("a", "b")));
        assert_eq!(one("  a = b  ").unwrap(), Some(("a", "b")));
        assert_eq!(one("a:b").unwrap(), Some(("a", "b")));
        assert_eq!(
            one("a=127.0.0.1:9876").unwrap(),
            Some(("a", "127.0.0.1:9876"))
        );
        assert_eq!(one("a=b # note").unwrap(), Some(("a", "b")));
        assert_eq!(one("a=b\t# note").unwrap(), Some(("a", "b")));
        assert_eq!(one("a=b#c").unwrap(), Some(("a", "b#c")));
        assert_eq!(one("a=").unwrap(), Some(("a", "")));
        assert_eq!(one("a= # nothing").unwrap(), Some(("a", "")));
        assert_eq!(one("   ").unwrap(), None);
        assert_eq!(one("## must be unique").unwrap(), None);
        assert_eq!(one("  ! bang comment").unwrap(), None);
    }

    #[test]
    fn malformed_lines() {
        assert!(matches!(
            one("listenPort 30911"),
            Err(SyntaxProblem::NoSeparator { .. })
        ));
        assert_eq!(one("=5"), Err(SyntaxProblem::EmptyKey));
        assert_eq!(one("a=b\\"), Err(SyntaxProblem::Continuation));
    }

    #[test]
    fn numbers_lines_from_one_and_skips_bom() {
        let e = entries("\u{feff}# c\r\n\r\na=1\r\nb = 2\n").unwrap();
        assert_eq!(
            e,
            vec![
                Entry {
                    line: 3,
                    key: "a",
                    value: "1"
                },
                Entry {
                    line: 4,
                    key: "b",
                    value: "2"
                },
            ]
        );
        assert_eq!(entries("a=1\noops\n").unwrap_err().0, 2);
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("listenprt", "listenport"), 1);
    }

    #[test]
    fn nearest_name_ignores_case_and_far_names() {
        let names = ["listenPort", "brokerName", "dLegerPeers"];
        assert_eq!(nearest("listenPrt", names), Some("listenPort"));
        assert_eq!(nearest("BrokerName", names), Some("brokerName"));
        assert_eq!(nearest("completelyUnrelated", names), None);
    }
}
