//! The compiled expression: a tree whose literals are already values and
//! whose properties are already slots, evaluated against a message without
//! allocating.

use crate::value::{OrderOp, Value};

/// A constant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(Box<str>),
}

impl Literal {
    pub(crate) fn value(&self) -> Value<'_> {
        match self {
            Literal::Null => Value::Null,
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Int(i) => Value::Int(*i),
            Literal::Long(l) => Value::Long(*l),
            Literal::Double(d) => Value::Double(*d),
            Literal::Str(s) => Value::Str(s),
        }
    }
}

/// Which string test a [`Node::Text`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

impl TextOp {
    pub(crate) fn holds(self, haystack: &str, needle: &str) -> bool {
        match self {
            TextOp::Contains => haystack.contains(needle),
            TextOp::StartsWith => haystack.starts_with(needle),
            TextOp::EndsWith => haystack.ends_with(needle),
        }
    }
}

/// One node of the compiled tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Const(Literal),
    /// A property, by its slot in [`crate::SqlFilter`]'s name table.
    Prop(usize),
    /// Unary minus: a number negated, anything else NULL.
    Neg(Box<Node>),
    /// A property used as a condition: NULL when absent, FALSE otherwise
    /// (a property is a string, never a boolean).
    Cast(Box<Node>),
    Not(Box<Node>),
    /// Conditions joined by AND, evaluated left to right.
    And(Vec<Node>),
    /// Conditions joined by OR, evaluated left to right.
    Or(Vec<Node>),
    Eq(Box<Node>, Box<Node>),
    IsNull(Box<Node>),
    Order(OrderOp, Box<Node>, Box<Node>),
    /// `prop [NOT] IN (...)`; the strings sorted, without duplicates.
    In {
        prop: usize,
        set: Vec<Box<str>>,
        negated: bool,
    },
    /// `x [NOT] CONTAINS|STARTSWITH|ENDSWITH 'text'`.
    Text {
        op: TextOp,
        operand: Box<Node>,
        needle: Box<str>,
        negated: bool,
    },
}
