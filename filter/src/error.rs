//! Why an expression was refused, and where.

/// An expression that does not compile: where the fault is and what it is.
///
/// `offset` is a byte offset into the expression and `column` the same place
/// counted in characters from 1, so a message can point at it either way.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("SQL92 filter: {kind} at column {column} (byte {offset})")]
pub struct ParseError {
    /// Byte offset of the fault in the expression.
    pub offset: usize,
    /// Character column of the fault, counted from 1.
    pub column: usize,
    /// What is wrong there.
    pub kind: ErrorKind,
}

impl ParseError {
    /// An error at byte `offset` of `text`.
    pub(crate) fn at(text: &str, offset: usize, kind: ErrorKind) -> Self {
        let offset = offset.min(text.len());
        let column = text.get(..offset).map_or(offset, |s| s.chars().count()) + 1;
        Self {
            offset,
            column,
            kind,
        }
    }
}

/// What is wrong with an expression.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The grammar wanted something else here.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What would have been accepted.
        expected: &'static str,
        /// What was there instead.
        found: String,
    },
    /// A character that starts no token.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// A string literal without its closing quote.
    #[error("string literal not closed: end it with ' (write '' for a quote inside it)")]
    UnterminatedString,
    /// A `/*` comment without its `*/`.
    #[error("comment not closed: end it with */")]
    UnterminatedComment,
    /// An integer beyond 64 bits, or a decimal beyond the range of a double.
    #[error("number {text} is out of range")]
    NumberOutOfRange {
        /// The literal as written.
        text: String,
    },
    /// Something used as a condition that gives no TRUE or FALSE.
    #[error("{found} is not a condition: compare it, e.g. a = 'x' or a > 5")]
    NotCondition {
        /// What was found.
        found: &'static str,
    },
    /// An operand `<`, `<=`, `>`, `>=` or BETWEEN cannot order.
    #[error("{found} cannot be compared with {operator}: only numbers and properties can")]
    NotOrderable {
        /// The operand's sort.
        found: &'static str,
        /// The operator.
        operator: &'static str,
    },
    /// `= NULL` or `<> NULL`.
    #[error("NULL cannot be compared with {operator}: use IS NULL or IS NOT NULL")]
    NullOperand {
        /// The operator.
        operator: &'static str,
    },
    /// `TRUE = 5`, `FALSE <> 'x'`.
    #[error("a TRUE or FALSE literal cannot be compared with a number or a string")]
    BooleanMismatch,
    /// `a BETWEEN 5 AND 1`.
    #[error("BETWEEN bounds in the wrong order: the lower bound must come first")]
    BetweenReversed,
    /// `'x' IN ('x')`, `5 IN ('5')`.
    #[error("IN needs a property on its left")]
    InNeedsProperty,
    /// Parentheses, NOTs or comparisons nested beyond the limit.
    #[error("expression nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_and_offsets_bytes() {
        let e = ParseError::at("é = ", 5, ErrorKind::UnterminatedString);
        assert_eq!((e.offset, e.column), (5, 5));
        let e = ParseError::at("ab", 99, ErrorKind::UnterminatedString);
        assert_eq!((e.offset, e.column), (2, 3));
        assert!(e.to_string().contains("column 3"), "{e}");
    }
}
