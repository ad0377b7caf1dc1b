//! A deliberately plain model of upstream's filter, for the property tests:
//! an expression tree, a renderer that writes it as SQL text (random
//! keyword case, spacing and redundant parentheses), and an evaluator that
//! follows upstream's Java classes step by step (Integer, Long, Double,
//! String, Boolean; `__compare`'s conversions; binary AND and OR).
#![allow(dead_code)]

use std::collections::BTreeMap;

use raftmq_filter::Outcome;

/// A literal or a property, as an operand of a comparison.
#[derive(Clone, Debug)]
pub enum Operand {
    Prop(&'static str),
    Int(i64),
    Double(f64),
    Str(String),
}

/// The comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// CONTAINS, STARTSWITH, ENDSWITH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// A condition.
#[derive(Clone, Debug)]
pub enum Cond {
    /// TRUE, FALSE or NULL.
    Const(Option<bool>),
    /// A property used as a condition.
    Prop(&'static str),
    Cmp(Op, Operand, Operand),
    /// `(c) = (d)` or `(c) <> (d)`.
    Equal(bool, Box<Cond>, Box<Cond>),
    /// `x IS [NOT] NULL`.
    IsNullOperand(bool, Operand),
    IsNull(bool, Box<Cond>),
    /// `x [NOT] BETWEEN lo AND hi`.
    Between(bool, Operand, Operand, Operand),
    In(bool, &'static str, Vec<String>),
    Text(bool, TextOp, Operand, String),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

// ---------------------------------------------------------------- render

/// xorshift, for the renderer's choices.
pub struct Dice(pub u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn keyword(d: &mut Dice, k: &str) -> String {
    match d.roll(3) {
        0 => k.to_uppercase(),
        1 => k.to_lowercase(),
        _ => k
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_lowercase()
                } else {
                    c
                }
            })
            .collect(),
    }
}

fn space(d: &mut Dice) -> &'static str {
    [" ", "  ", "\t", "\n", " /* c */ "][d.roll(5) as usize]
}

fn operand(d: &mut Dice, o: &Operand) -> String {
    match o {
        Operand::Prop(p) => {
            if d.roll(6) == 0 {
                format!("({p})")
            } else {
                (*p).to_owned()
            }
        }
        Operand::Int(i) if *i < 0 => format!("-{}", i.unsigned_abs()),
        Operand::Int(i) => {
            if d.roll(5) == 0 {
                format!("{i}L")
            } else {
                i.to_string()
            }
        }
        Operand::Double(f) if f.is_sign_negative() => format!("-{:?}", -f),
        Operand::Double(f) => format!("{f:?}"),
        Operand::Str(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Eq => "=",
        Op::Ne => "<>",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
    }
}

fn not(d: &mut Dice, negated: bool) -> String {
    if negated {
        format!("{}{}", keyword(d, "NOT"), space(d))
    } else {
        String::new()
    }
}

/// Binding strength: OR 1, AND 2, comparisons 3, atoms 4.
fn strength(c: &Cond) -> u8 {
    match c {
        Cond::Or(..) => 1,
        Cond::And(..) => 2,
        Cond::Const(_) | Cond::Prop(_) | Cond::Not(_) => 4,
        _ => 3,
    }
}

/// `c` as SQL text, parenthesised when it binds less than `at_least`
/// (and now and then when it need not be).
pub fn render(d: &mut Dice, c: &Cond, at_least: u8) -> String {
    let text = render_bare(d, c);
    if strength(c) < at_least || d.roll(8) == 0 {
        format!("({text})")
    } else {
        text
    }
}

fn render_bare(d: &mut Dice, c: &Cond) -> String {
    match c {
        Cond::Const(None) => keyword(d, "NULL"),
        Cond::Const(Some(true)) => keyword(d, "TRUE"),
        Cond::Const(Some(false)) => keyword(d, "FALSE"),
        Cond::Prop(p) => (*p).to_owned(),
        Cond::Cmp(op, l, r) => format!(
            "{}{}{}{}{}",
            operand(d, l),
            space(d),
            op_text(*op),
            space(d),
            operand(d, r)
        ),
        Cond::Equal(negated, l, r) => {
            let op = if *negated { "<>" } else { "=" };
            format!("({}) {op} ({})", render(d, l, 0), render(d, r, 0))
        }
        Cond::IsNullOperand(negated, o) => format!(
            "{} {} {}{}",
            operand(d, o),
            keyword(d, "IS"),
            not(d, *negated),
            keyword(d, "NULL")
        ),
        Cond::IsNull(negated, c) => format!(
            "({}) {} {}{}",
            render(d, c, 0),
            keyword(d, "IS"),
            not(d, *negated),
            keyword(d, "NULL")
        ),
        Cond::Between(negated, v, lo, hi) => format!(
            "{} {}{} {} {} {}",
            operand(d, v),
            not(d, *negated),
            keyword(d, "BETWEEN"),
            operand(d, lo),
            keyword(d, "AND"),
            operand(d, hi)
        ),
        Cond::In(negated, p, list) => {
            let items: Vec<String> = list
                .iter()
                .map(|s| operand(d, &Operand::Str(s.clone())))
                .collect();
            format!(
                "{p} {}{} ({})",
                not(d, *negated),
                keyword(d, "IN"),
                items.join(",")
            )
        }
        Cond::Text(negated, op, o, needle) => {
            let word = match op {
                TextOp::Contains => "CONTAINS",
                TextOp::StartsWith => "STARTSWITH",
                TextOp::EndsWith => "ENDSWITH",
            };
            format!(
                "{} {}{} {}",
                operand(d, o),
                not(d, *negated),
                keyword(d, word),
                operand(d, &Operand::Str(needle.clone()))
            )
        }
        Cond::Not(c) => format!("{}{}({})", keyword(d, "NOT"), space(d), render(d, c, 0)),
        Cond::And(l, r) => format!(
            "{}{}{}{}{}",
            render(d, l, 2),
            space(d),
            keyword(d, "AND"),
            space(d),
            render(d, r, 2)
        ),
        Cond::Or(l, r) => format!(
            "{}{}{}{}{}",
            render(d, l, 1),
            space(d),
            keyword(d, "OR"),
            space(d),
            render(d, r, 1)
        ),
    }
}

// ---------------------------------------------------------------- evaluate

/// A Java object as upstream's evaluator sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Obj {
    Null,
    Boolean(bool),
    Integer(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

/// An exception thrown during evaluation.
#[derive(Debug)]
pub struct Thrown;

type R = Result<Obj, Thrown>;

fn same_class(a: &Obj, b: &Obj) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// `Integer.parseInt`.
fn parse_int(s: &str) -> Result<i32, Thrown> {
    s.parse().map_err(|_| Thrown)
}

/// `Long.parseLong`.
fn parse_long(s: &str) -> Result<i64, Thrown> {
    s.parse().map_err(|_| Thrown)
}

/// `Double.parseDouble`, for the decimal forms the tests produce.
fn parse_double(s: &str) -> Result<f64, Thrown> {
    let t: &str = s.trim_matches(|c: char| c <= ' ');
    let (sign, body) = if let Some(b) = t.strip_prefix('-') {
        (-1.0, b)
    } else if let Some(b) = t.strip_prefix('+') {
        (1.0, b)
    } else {
        (1.0, t)
    };
    if body == "NaN" {
        return Ok(f64::NAN);
    }
    if body == "Infinity" {
        return Ok(sign * f64::INFINITY);
    }
    let body = body.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(body);
    let ok_chars = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    let starts_right = body.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if !ok_chars || !starts_right || !body.chars().any(|c| c.is_ascii_digit()) {
        return Err(Thrown);
    }
    body.parse::<f64>().map(|v| sign * v).map_err(|_| Thrown)
}

/// `Double.compare`.
fn double_compare(a: f64, b: f64) -> i32 {
    if a < b {
        return -1;
    }
    if a > b {
        return 1;
    }
    let bits = |x: f64| {
        if x.is_nan() {
            0x7ff8_0000_0000_0000_i64
        } else {
            x.to_bits() as i64
        }
    };
    bits(a).cmp(&bits(b)) as i32
}

/// `ComparisonExpression.__compare` with string conversion on.
fn java_compare(l: Obj, r: Obj) -> Result<i32, Thrown> {
    use Obj::*;
    let (l, r) = if same_class(&l, &r) {
        (l, r)
    } else {
        match (l, r) {
            (Boolean(_), Str(_)) => return Err(Thrown),
            (Boolean(_), _) => return Ok(-1),
            (Integer(a), Long(b)) => (Long(i64::from(a)), Long(b)),
            (Integer(a), Double(b)) => (Double(f64::from(a)), Double(b)),
            (Integer(a), Str(s)) => (Integer(a), Integer(parse_int(&s)?)),
            (Long(a), Integer(b)) => (Long(a), Long(i64::from(b))),
            (Long(a), Double(b)) => (Double(a as f64), Double(b)),
            (Long(a), Str(s)) => (Long(a), Long(parse_long(&s)?)),
            (Double(a), Integer(b)) => (Double(a), Double(f64::from(b))),
            (Double(a), Long(b)) => (Double(a), Double(b as f64)),
            (Double(a), Str(s)) => (Double(a), Double(parse_double(&s)?)),
            (Str(s), Boolean(b)) => (Boolean(s.to_lowercase() == "true"), Boolean(b)),
            (Str(s), Integer(b)) => (Integer(parse_int(&s)?), Integer(b)),
            (Str(s), Long(b)) => (Long(parse_long(&s)?), Long(b)),
            (Str(s), Double(b)) => (Double(parse_double(&s)?), Double(b)),
            _ => return Ok(-1),
        }
    };
    Ok(match (l, r) {
        (Boolean(a), Boolean(b)) => i32::from(a) - i32::from(b),
        (Integer(a), Integer(b)) => a.cmp(&b) as i32,
        (Long(a), Long(b)) => a.cmp(&b) as i32,
        (Double(a), Double(b)) => double_compare(a, b),
        (Str(a), Str(b)) => a.cmp(&b) as i32,
        _ => return Err(Thrown),
    })
}

fn literal(o: &Operand, props: &BTreeMap<String, String>) -> Obj {
    match o {
        Operand::Prop(p) => props.get(*p).map_or(Obj::Null, |v| Obj::Str(v.clone())),
        Operand::Int(i) => {
            // The literal as written is the magnitude: Integer when that fits.
            if i.unsigned_abs() <= i32::MAX as u64 {
                Obj::Integer(*i as i32)
            } else {
                Obj::Long(*i)
            }
        }
        Operand::Double(f) => Obj::Double(*f),
        Operand::Str(s) => Obj::Str(s.clone()),
    }
}

fn equal(l: Obj, r: Obj) -> R {
    match (&l, &r) {
        (Obj::Null, Obj::Null) => Ok(Obj::Boolean(true)),
        (Obj::Null, _) => Ok(Obj::Null),
        (_, Obj::Null) => Ok(Obj::Boolean(false)),
        _ if l == r && !matches!(l, Obj::Double(_)) => Ok(Obj::Boolean(true)),
        _ => Ok(Obj::Boolean(java_compare(l, r)? == 0)),
    }
}

fn ordered(op: Op, l: Obj, r: Obj) -> R {
    if l == Obj::Null || r == Obj::Null {
        return Ok(Obj::Null);
    }
    let c = match (&l, &r) {
        (Obj::Str(a), Obj::Str(b)) => double_compare(parse_double(a)?, parse_double(b)?),
        _ => java_compare(l, r)?,
    };
    Ok(Obj::Boolean(match op {
        Op::Lt => c < 0,
        Op::Le => c <= 0,
        Op::Gt => c > 0,
        Op::Ge => c >= 0,
        Op::Eq | Op::Ne => unreachable!("not an order"),
    }))
}

fn negate(v: R) -> R {
    match v? {
        Obj::Null => Ok(Obj::Null),
        Obj::Boolean(b) => Ok(Obj::Boolean(!b)),
        _ => Err(Thrown),
    }
}

fn and(l: R, r: impl FnOnce() -> R) -> R {
    let lv = l?;
    if lv == Obj::Boolean(false) {
        return Ok(lv);
    }
    let rv = r()?;
    if rv == Obj::Boolean(false) {
        return Ok(rv);
    }
    if lv == Obj::Null || rv == Obj::Null {
        return Ok(Obj::Null);
    }
    Ok(Obj::Boolean(true))
}

fn or(l: R, r: impl FnOnce() -> R) -> R {
    let lv = l?;
    if lv == Obj::Boolean(true) {
        return Ok(lv);
    }
    let rv = r()?;
    if rv == Obj::Boolean(true) {
        return Ok(rv);
    }
    if lv == Obj::Null || rv == Obj::Null {
        return Ok(Obj::Null);
    }
    Ok(Obj::Boolean(false))
}

/// The value of `c` as an operand of `=` or IS NULL, where upstream does
/// not make a property a condition: the property's string itself.
fn value_of(c: &Cond, p: &BTreeMap<String, String>) -> R {
    match c {
        Cond::Prop(name) => Ok(literal(&Operand::Prop(name), p)),
        c => eval(c, p),
    }
}

/// Upstream's value of `c`.
pub fn eval(c: &Cond, p: &BTreeMap<String, String>) -> R {
    let lit = |o: &Operand| literal(o, p);
    match c {
        Cond::Const(b) => Ok(b.map_or(Obj::Null, Obj::Boolean)),
        Cond::Prop(name) => Ok(if p.contains_key(*name) {
            Obj::Boolean(false)
        } else {
            Obj::Null
        }),
        Cond::Cmp(Op::Eq, l, r) => equal(lit(l), lit(r)),
        Cond::Cmp(Op::Ne, l, r) => negate(equal(lit(l), lit(r))),
        Cond::Cmp(op, l, r) => ordered(*op, lit(l), lit(r)),
        Cond::Equal(negated, l, r) => {
            let e = (|| equal(value_of(l, p)?, value_of(r, p)?))();
            if *negated {
                negate(e)
            } else {
                e
            }
        }
        Cond::IsNullOperand(negated, o) => {
            let v = Ok(Obj::Boolean(lit(o) == Obj::Null));
            if *negated {
                negate(v)
            } else {
                v
            }
        }
        Cond::IsNull(negated, c) => {
            let v = value_of(c, p).map(|v| Obj::Boolean(v == Obj::Null));
            if *negated {
                negate(v)
            } else {
                v
            }
        }
        Cond::Between(false, v, lo, hi) => and(ordered(Op::Ge, lit(v), lit(lo)), || {
            ordered(Op::Le, lit(v), lit(hi))
        }),
        Cond::Between(true, v, lo, hi) => or(ordered(Op::Lt, lit(v), lit(lo)), || {
            ordered(Op::Gt, lit(v), lit(hi))
        }),
        Cond::In(negated, name, list) => Ok(match p.get(*name) {
            None => Obj::Null,
            Some(v) => Obj::Boolean(list.contains(v) != *negated),
        }),
        Cond::Text(negated, op, o, needle) => {
            if needle.is_empty() {
                return Ok(Obj::Boolean(false));
            }
            Ok(match lit(o) {
                Obj::Str(s) => {
                    let found = match op {
                        TextOp::Contains => s.contains(needle.as_str()),
                        TextOp::StartsWith => s.starts_with(needle.as_str()),
                        TextOp::EndsWith => s.ends_with(needle.as_str()),
                    };
                    Obj::Boolean(found != *negated)
                }
                _ => Obj::Boolean(false),
            })
        }
        Cond::Not(c) => negate(eval(c, p)),
        Cond::And(l, r) => and(eval(l, p), || eval(r, p)),
        Cond::Or(l, r) => or(eval(l, p), || eval(r, p)),
    }
}

/// The outcome upstream would report.
pub fn outcome(c: &Cond, p: &BTreeMap<String, String>) -> Outcome {
    match eval(c, p) {
        Ok(Obj::Boolean(true)) => Outcome::True,
        Ok(Obj::Boolean(false)) => Outcome::False,
        Ok(Obj::Null) => Outcome::Unknown,
        _ => Outcome::Failed,
    }
}

/// Whether `lo` may come before `hi` in BETWEEN (upstream refuses
/// constant bounds out of order).
pub fn in_order(lo: &Operand, hi: &Operand) -> bool {
    let empty = BTreeMap::new();
    java_compare(literal(hi, &empty), literal(lo, &empty)).is_ok_and(|c| c >= 0)
}
