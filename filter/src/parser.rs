//! Upstream's selector grammar, by recursive descent, with upstream's
//! checks on operands made while parsing:
//!
//! ```text
//! selector   := or END                       (must be a condition)
//! or         := and (OR and)*
//! and        := equality (AND equality)*
//! equality   := comparison ( = comparison | <> comparison | IS [NOT] NULL )*
//! comparison := unary ( (> | >= | < | <=) unary
//!                     | [NOT] BETWEEN unary AND unary
//!                     | [NOT] IN ( 'string' (, 'string')* )
//!                     | [NOT] (CONTAINS | STARTSWITH | ENDSWITH) 'string' )*
//! unary      := + unary | - unary | NOT unary | primary
//! primary    := literal | property | ( or )
//! ```
//!
//! As upstream, NOT binds to the operand that follows it, not to a whole
//! comparison: `NOT a = 'x'` reads `(NOT a) = 'x'`; write `NOT (a = 'x')`.
//! Unlike upstream, text after a complete expression is refused rather than
//! ignored, and a negative number literal counts as a constant (so
//! `BETWEEN -1 AND -5` is refused for its order).

use crate::error::{ErrorKind, ParseError};
use crate::lexer::{self, Keyword, Tok, Token};
use crate::node::{Literal, Node, TextOp};
use crate::value::{compare, OrderOp};
use crate::MAX_DEPTH;

/// What sort of expression a parsed piece is, for upstream's operand checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A number literal.
    Number,
    /// A string literal.
    Text,
    /// TRUE or FALSE.
    BoolConst,
    /// NULL.
    NullConst,
    /// A bare property.
    Property,
    /// A comparison, IN, NOT, AND, OR...: gives TRUE, FALSE or NULL.
    Condition,
    /// Unary minus on something other than a number literal.
    Negated,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Number => "a number",
            Kind::Text => "a string",
            Kind::BoolConst => "TRUE or FALSE",
            Kind::NullConst => "NULL",
            Kind::Property => "a property",
            Kind::Condition => "a condition",
            Kind::Negated => "a negated value",
        }
    }

    fn is_condition(self) -> bool {
        matches!(self, Kind::Condition | Kind::BoolConst | Kind::NullConst)
    }
}

/// A parsed piece: its node, its sort, how deep its tree is, where it
/// starts.
struct Expr {
    node: Node,
    kind: Kind,
    depth: usize,
    at: usize,
}

/// Parses `text` into its tree and the property names it reads (slots).
pub(crate) fn parse(text: &str) -> Result<(Node, Vec<Box<str>>), ParseError> {
    let tokens = lexer::tokens(text)?;
    let mut p = Parser {
        text,
        tokens,
        next: 0,
        nesting: 0,
        names: Vec::new(),
    };
    let e = p.or()?;
    let t = p.peek();
    if t.tok != Tok::End {
        return Err(p.expected("an operator, AND, OR or the end of the expression", p.next));
    }
    let e = p.condition(e)?;
    Ok((e.node, p.names))
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    next: usize,
    nesting: usize,
    names: Vec<Box<str>>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        // `tokens` ends with End, which is never consumed.
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.next.min(last)]
    }

    fn peek_at(&self, ahead: usize) -> &Tok<'a> {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.next + ahead).min(last)].tok
    }

    /// Consumes the next token; returns where it started.
    fn bump(&mut self) -> usize {
        let at = self.peek().at;
        if self.peek().tok != Tok::End {
            self.next += 1;
        }
        at
    }

    fn is_keyword(&self, k: Keyword) -> bool {
        self.peek().tok == Tok::Keyword(k)
    }

    fn error(&self, at: usize, kind: ErrorKind) -> ParseError {
        ParseError::at(self.text, at, kind)
    }

    fn expected(&self, expected: &'static str, token: usize) -> ParseError {
        let last = self.tokens.len().saturating_sub(1);
        let t = &self.tokens[token.min(last)];
        self.error(
            t.at,
            ErrorKind::Expected {
                expected,
                found: t.tok.describe(),
            },
        )
    }

    fn expect(&mut self, tok: Tok<'static>, expected: &'static str) -> Result<usize, ParseError> {
        if self.peek().tok == tok {
            Ok(self.bump())
        } else {
            Err(self.expected(expected, self.next))
        }
    }

    /// A piece of tree over children as deep as `below`, refused past the
    /// depth limit.
    fn make(&self, node: Node, kind: Kind, at: usize, below: usize) -> Result<Expr, ParseError> {
        let depth = below + 1;
        if depth > MAX_DEPTH {
            return Err(self.error(at, ErrorKind::TooDeep { limit: MAX_DEPTH }));
        }
        Ok(Expr {
            node,
            kind,
            depth,
            at,
        })
    }

    /// Enters one more level of parentheses or prefix operators.
    fn nest(&mut self, at: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err(self.error(at, ErrorKind::TooDeep { limit: MAX_DEPTH }));
        }
        Ok(())
    }

    fn slot(&mut self, name: &str) -> usize {
        match self.names.iter().position(|n| &**n == name) {
            Some(i) => i,
            None => {
                self.names.push(name.into());
                self.names.len() - 1
            }
        }
    }

    /// `e` as a condition: a condition as it is, a property cast (NULL when
    /// absent, FALSE when present), anything else refused.
    fn condition(&self, e: Expr) -> Result<Expr, ParseError> {
        match e.kind {
            k if k.is_condition() => Ok(e),
            Kind::Property => {
                self.make(Node::Cast(Box::new(e.node)), Kind::Condition, e.at, e.depth)
            }
            k => Err(self.error(
                e.at,
                ErrorKind::NotCondition {
                    found: k.describe(),
                },
            )),
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.is_keyword(Keyword::Or) {
            self.bump();
            let right = self.and()?;
            left = self.join(false, left, right)?;
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.equality()?;
        while self.is_keyword(Keyword::And) {
            self.bump();
            let right = self.equality()?;
            left = self.join(true, left, right)?;
        }
        Ok(left)
    }

    /// `left AND right` (or OR), flattened into one list: both evaluate
    /// left to right with the same short cuts, so nesting changes nothing.
    fn join(&self, and: bool, left: Expr, right: Expr) -> Result<Expr, ParseError> {
        let (left, right) = (self.condition(left)?, self.condition(right)?);
        let at = left.at;
        // The depth below the list: a flattened side's children, or the side.
        let (mut list, mut below) = match (and, left.node) {
            (true, Node::And(v)) | (false, Node::Or(v)) => (v, left.depth - 1),
            (_, other) => (vec![other], left.depth),
        };
        match (and, right.node) {
            (true, Node::And(v)) | (false, Node::Or(v)) => {
                below = below.max(right.depth - 1);
                list.extend(v);
            }
            (_, other) => {
                below = below.max(right.depth);
                list.push(other);
            }
        }
        let node = if and { Node::And(list) } else { Node::Or(list) };
        self.make(node, Kind::Condition, at, below)
    }

    fn equality(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.comparison()?;
        loop {
            let negated = match self.peek().tok {
                Tok::Eq => false,
                Tok::Ne => true,
                Tok::Keyword(Keyword::Is) => {
                    left = self.is_null(left)?;
                    continue;
                }
                _ => return Ok(left),
            };
            let op_at = self.bump();
            let operator = if negated { "<>" } else { "=" };
            let right = self.comparison()?;
            for e in [&left, &right] {
                if e.kind == Kind::NullConst {
                    return Err(self.error(e.at, ErrorKind::NullOperand { operator }));
                }
            }
            if left.kind == Kind::BoolConst && matches!(right.kind, Kind::Number | Kind::Text) {
                return Err(self.error(op_at, ErrorKind::BooleanMismatch));
            }
            let at = left.at;
            let depth = left.depth.max(right.depth);
            let eq = Node::Eq(Box::new(left.node), Box::new(right.node));
            left = self.make(eq, Kind::Condition, at, depth)?;
            if negated {
                left = self.make(
                    Node::Not(Box::new(left.node)),
                    Kind::Condition,
                    at,
                    left.depth,
                )?;
            }
        }
    }

    /// `left IS [NOT] NULL`, IS being next.
    fn is_null(&mut self, left: Expr) -> Result<Expr, ParseError> {
        self.bump();
        let negated = self.is_keyword(Keyword::Not);
        if negated {
            self.bump();
        }
        self.expect(Tok::Keyword(Keyword::Null), "NULL or NOT NULL after IS")?;
        let at = left.at;
        let e = self.make(
            Node::IsNull(Box::new(left.node)),
            Kind::Condition,
            at,
            left.depth,
        )?;
        if negated {
            self.make(Node::Not(Box::new(e.node)), Kind::Condition, at, e.depth)
        } else {
            Ok(e)
        }
    }

    fn orderable(&self, e: &Expr, operator: &'static str) -> Result<(), ParseError> {
        match e.kind {
            Kind::Number | Kind::Property | Kind::Negated => Ok(()),
            k => Err(self.error(
                e.at,
                ErrorKind::NotOrderable {
                    found: k.describe(),
                    operator,
                },
            )),
        }
    }

    fn order(&self, op: OrderOp, left: Expr, right: Expr) -> Result<Expr, ParseError> {
        self.orderable(&left, op.symbol())?;
        self.orderable(&right, op.symbol())?;
        let (at, depth) = (left.at, left.depth.max(right.depth));
        let node = Node::Order(op, Box::new(left.node), Box::new(right.node));
        self.make(node, Kind::Condition, at, depth)
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Gt => Some(OrderOp::Gt),
                Tok::Ge => Some(OrderOp::Ge),
                Tok::Lt => Some(OrderOp::Lt),
                Tok::Le => Some(OrderOp::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.bump();
                let right = self.unary()?;
                left = self.order(op, left, right)?;
                continue;
            }
            let negated = self.is_keyword(Keyword::Not)
                && matches!(
                    self.peek_at(1),
                    Tok::Keyword(
                        Keyword::Between
                            | Keyword::In
                            | Keyword::Contains
                            | Keyword::StartsWith
                            | Keyword::EndsWith
                    )
                );
            if negated {
                self.bump();
            }
            left = match self.peek().tok {
                Tok::Keyword(Keyword::Between) => {
                    self.bump();
                    self.between(left, negated)?
                }
                Tok::Keyword(Keyword::In) => {
                    self.bump();
                    self.in_list(left, negated)?
                }
                Tok::Keyword(Keyword::Contains) => self.text_op(TextOp::Contains, left, negated)?,
                Tok::Keyword(Keyword::StartsWith) => {
                    self.text_op(TextOp::StartsWith, left, negated)?
                }
                Tok::Keyword(Keyword::EndsWith) => self.text_op(TextOp::EndsWith, left, negated)?,
                _ => return Ok(left),
            };
        }
    }

    fn between(&mut self, value: Expr, negated: bool) -> Result<Expr, ParseError> {
        let low = self.unary()?;
        self.expect(
            Tok::Keyword(Keyword::And),
            "AND between the bounds of BETWEEN",
        )?;
        let high = self.unary()?;
        if let (false, Node::Const(l), Node::Const(h)) = (negated, &low.node, &high.node) {
            let reversed = low.kind == Kind::Number
                && high.kind == Kind::Number
                && compare(h.value(), l.value()).is_ok_and(|o| o.is_lt());
            if reversed {
                return Err(self.error(low.at, ErrorKind::BetweenReversed));
            }
        }
        let (at, value_depth) = (value.at, value.depth);
        let again = Expr {
            node: value.node.clone(),
            kind: value.kind,
            depth: value_depth,
            at,
        };
        let (first, second) = if negated {
            (
                self.order(OrderOp::Lt, value, low)?,
                self.order(OrderOp::Gt, again, high)?,
            )
        } else {
            (
                self.order(OrderOp::Ge, value, low)?,
                self.order(OrderOp::Le, again, high)?,
            )
        };
        let depth = first.depth.max(second.depth);
        let both = vec![first.node, second.node];
        let node = if negated {
            Node::Or(both)
        } else {
            Node::And(both)
        };
        self.make(node, Kind::Condition, at, depth)
    }

    fn string_literal(&mut self, expected: &'static str) -> Result<Box<str>, ParseError> {
        match &self.peek().tok {
            Tok::Str(s) => {
                let s: Box<str> = s.as_ref().into();
                self.bump();
                Ok(s)
            }
            _ => Err(self.expected(expected, self.next)),
        }
    }

    fn in_list(&mut self, left: Expr, negated: bool) -> Result<Expr, ParseError> {
        let Node::Prop(prop) = left.node else {
            return Err(self.error(left.at, ErrorKind::InNeedsProperty));
        };
        self.expect(Tok::LParen, "'(' after IN")?;
        let mut set = vec![self.string_literal("a string literal in the IN list")?];
        while self.peek().tok == Tok::Comma {
            self.bump();
            set.push(self.string_literal("a string literal in the IN list")?);
        }
        self.expect(Tok::RParen, "',' or ')' in the IN list")?;
        set.sort_unstable();
        set.dedup();
        let node = Node::In { prop, set, negated };
        self.make(node, Kind::Condition, left.at, left.depth)
    }

    fn text_op(&mut self, op: TextOp, operand: Expr, negated: bool) -> Result<Expr, ParseError> {
        self.bump();
        let needle = self.string_literal("a string literal to look for")?;
        let (at, depth) = (operand.at, operand.depth);
        let node = Node::Text {
            op,
            operand: Box::new(operand.node),
            needle,
            negated,
        };
        self.make(node, Kind::Condition, at, depth)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let at = self.peek().at;
        let prefix = match self.peek().tok {
            Tok::Plus | Tok::Minus | Tok::Keyword(Keyword::Not) => self.peek().tok.clone(),
            _ => return self.primary(),
        };
        self.bump();
        self.nest(at)?;
        let operand = self.unary()?;
        self.nesting -= 1;
        let e = match prefix {
            Tok::Plus => return Ok(operand),
            Tok::Minus => return self.negate(operand, at),
            _ => self.condition(operand)?,
        };
        self.make(Node::Not(Box::new(e.node)), Kind::Condition, at, e.depth)
    }

    /// `-e`: a number literal folded into a negative literal, anything
    /// else a node that negates numbers and gives NULL for the rest.
    fn negate(&self, e: Expr, at: usize) -> Result<Expr, ParseError> {
        let folded = match (&e.kind, &e.node) {
            (Kind::Number, Node::Const(Literal::Int(i))) => Some(Literal::Int(i.wrapping_neg())),
            (Kind::Number, Node::Const(Literal::Long(l))) => Some(Literal::Long(l.wrapping_neg())),
            (Kind::Number, Node::Const(Literal::Double(d))) => Some(Literal::Double(-d)),
            _ => None,
        };
        match folded {
            Some(l) => self.make(Node::Const(l), Kind::Number, at, 0),
            None => self.make(Node::Neg(Box::new(e.node)), Kind::Negated, at, e.depth),
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let at = self.peek().at;
        let (node, kind) = match self.peek().tok.clone() {
            Tok::Str(s) => (Node::Const(Literal::Str(s.as_ref().into())), Kind::Text),
            Tok::Int(digits) => (Node::Const(self.integer(digits, at)?), Kind::Number),
            Tok::Decimal(text) => (Node::Const(self.decimal(text, at)?), Kind::Number),
            Tok::Keyword(Keyword::True) => (Node::Const(Literal::Bool(true)), Kind::BoolConst),
            Tok::Keyword(Keyword::False) => (Node::Const(Literal::Bool(false)), Kind::BoolConst),
            Tok::Keyword(Keyword::Null) => (Node::Const(Literal::Null), Kind::NullConst),
            Tok::Ident(name) => (Node::Prop(self.slot(name)), Kind::Property),
            Tok::LParen => {
                self.bump();
                self.nest(at)?;
                let e = self.or()?;
                self.expect(Tok::RParen, "')' to close the '(' before it")?;
                self.nesting -= 1;
                return Ok(e);
            }
            _ => return Err(self.expected("a property, a literal, '(', NOT or '-'", self.next)),
        };
        self.bump();
        self.make(node, kind, at, 0)
    }

    /// An integer literal: 32 bits when it fits (Java `Integer`), else 64.
    fn integer(&self, digits: &str, at: usize) -> Result<Literal, ParseError> {
        let v: i64 = digits.parse().map_err(|_| {
            self.error(
                at,
                ErrorKind::NumberOutOfRange {
                    text: digits.to_owned(),
                },
            )
        })?;
        Ok(i32::try_from(v).map_or(Literal::Long(v), Literal::Int))
    }

    fn decimal(&self, text: &str, at: usize) -> Result<Literal, ParseError> {
        match text.parse::<f64>() {
            Ok(d) if d.is_finite() => Ok(Literal::Double(d)),
            _ => Err(self.error(
                at,
                ErrorKind::NumberOutOfRange {
                    text: text.to_owned(),
                },
            )),
        }
    }
}
