//! RocketMQ's SQL92 message filter: a subscription such as
//! `region = 'eu' AND amount BETWEEN 10 AND 99 AND TAGS IN ('a', 'b')`,
//! compiled once and evaluated against the properties of every message a
//! consumer group reads, on the broker.
//!
//! ```text
//!  "a > 5 AND b IN ('x')" ──compile──► SqlFilter ──evaluate(properties)──► TRUE | FALSE | NULL | failed
//!        lexer.rs ► parser.rs ► node.rs          eval.rs, value.rs           only TRUE matches
//! ```
//!
//! The language and its meaning are upstream's (Apache RocketMQ's `filter`
//! module): comparisons `=`, `<>`, `<`, `<=`, `>`, `>=`; `[NOT] BETWEEN a
//! AND b`; `[NOT] IN ('x', ...)`; `IS [NOT] NULL`; `[NOT] CONTAINS`,
//! `STARTSWITH`, `ENDSWITH 'text'`; `AND`, `OR`, `NOT`; parentheses;
//! `'strings'` (`''` for a quote), integers, decimals, `TRUE`, `FALSE`,
//! `NULL`; keywords in any case.
//!
//! - A missing property is NULL: a comparison with it is unknown (NULL),
//!   `IS NULL` is TRUE, NOT of unknown is unknown, and only TRUE matches.
//! - Properties are strings. Compared with a number they convert to that
//!   number's type (`a > 5` matches `a = '10'`); one that does not convert
//!   (`'abc'`, or `'1.5'` against the integer 5) fails the whole
//!   evaluation, and the message does not match. See `value.rs`.
//! - AND and OR evaluate left to right and stop at the first FALSE (AND)
//!   or TRUE (OR), as upstream.
//!
//! Compiling never panics and refuses, with the position and what was
//! expected, anything it does not accept, including nesting deeper than
//! [`MAX_DEPTH`]. Evaluating allocates nothing.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod error;
mod eval;
mod lexer;
mod node;
mod parser;
mod value;

use std::collections::{BTreeMap, HashMap};

pub use error::{ErrorKind, ParseError};

/// Deepest nesting of parentheses, prefix operators and comparisons that
/// compiles; deeper expressions are refused (evaluation recurses).
pub const MAX_DEPTH: usize = 64;

/// The properties of one message, by name.
pub trait Properties {
    /// The value of property `name`, if the message has it.
    fn property(&self, name: &str) -> Option<&str>;
}

impl Properties for HashMap<String, String> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Properties for BTreeMap<String, String> {
    fn property(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Properties for [(&str, &str)] {
    fn property(&self, name: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// What an expression evaluates to for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The message matches.
    True,
    /// It does not.
    False,
    /// Unknown (SQL NULL), e.g. a comparison with a missing property: no
    /// match.
    Unknown,
    /// The evaluation failed, e.g. a property that is not a number compared
    /// with a number: no match (upstream logs the exception and skips the
    /// message).
    Failed,
}

/// A compiled SQL92 filter.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlFilter {
    root: node::Node,
    names: Vec<Box<str>>,
}

impl SqlFilter {
    /// Compiles `expression`.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] naming the byte offset and column of the fault and
    /// what was expected there.
    pub fn compile(expression: &str) -> Result<Self, ParseError> {
        let (root, names) = parser::parse(expression)?;
        Ok(Self { root, names })
    }

    /// The expression's value for a message with these properties.
    pub fn evaluate<P: Properties + ?Sized>(&self, properties: &P) -> Outcome {
        let mut scope = eval::Scope::new(properties, &self.names);
        match eval::eval(&self.root, &mut scope) {
            Ok(value::Value::Bool(true)) => Outcome::True,
            Ok(value::Value::Bool(false)) => Outcome::False,
            Ok(value::Value::Null) => Outcome::Unknown,
            Ok(_) | Err(value::Fault) => Outcome::Failed,
        }
    }

    /// Whether a message with these properties matches (evaluates TRUE).
    pub fn matches<P: Properties + ?Sized>(&self, properties: &P) -> bool {
        self.evaluate(properties) == Outcome::True
    }

    /// The property names the expression reads, each once.
    pub fn property_names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }
}

impl std::str::FromStr for SqlFilter {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::compile(s)
    }
}

#[cfg(test)]
mod parser_tests;

#[cfg(test)]
mod eval_tests;
