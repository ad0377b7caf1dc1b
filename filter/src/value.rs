//! Values during evaluation and how upstream compares them.
//!
//! Upstream evaluates with Java objects: a property is a `String`, an
//! integer literal an `Integer` (or a `Long` beyond 32 bits), a decimal a
//! `Double`. Comparing two of different classes converts one to the
//! other's: a string to the number class of the other side
//! (`Integer.valueOf`, `Long.valueOf`, `Double.valueOf`) or to a boolean
//! (`"true"` in any case is TRUE); numbers widen (int, long, double). A
//! string that does not convert makes the evaluation fail, and a failed
//! evaluation matches nothing. `<`, `<=`, `>`, `>=` between two strings
//! compare them as doubles. These rules are kept here, value for value, so
//! a subscription selects the same messages as upstream.

use std::cmp::Ordering;

/// A value met while evaluating; borrows the expression's literals and the
/// message's properties, so evaluating allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    /// An integer literal that fits 32 bits (Java `Integer`).
    Int(i32),
    /// A wider integer literal (Java `Long`).
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// The evaluation failed (upstream: an exception), so the message does
/// not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault;

/// Java's `Double.compareTo`: -0.0 below 0.0, NaN above everything and
/// equal to itself.
pub(crate) fn java_cmp_f64(a: f64, b: f64) -> Ordering {
    let canonical = |x: f64| if x.is_nan() { f64::NAN } else { x };
    canonical(a).total_cmp(&canonical(b))
}

/// Java's `Double.valueOf(String)` for decimal text: surrounding control
/// characters and spaces trimmed, an optional sign, `NaN`, `Infinity`, or
/// digits with an optional point and exponent and an optional `f`/`d`
/// suffix. (Java's hexadecimal form is not read.)
pub(crate) fn java_double(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c <= ' ');
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let magnitude = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let digits = match body.as_bytes().last() {
                Some(b'f' | b'F' | b'd' | b'D') => &body[..body.len() - 1],
                _ => body,
            };
            if !is_decimal(digits) {
                return None;
            }
            digits.parse::<f64>().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `digits [. digits] [e [+-] digits]` with at least one mantissa digit.
fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut mantissa = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        mantissa += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            mantissa += 1;
        }
    }
    if mantissa == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// Java's `Boolean.valueOf(String)`.
fn java_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

/// Upstream's `__compare` with string conversion on: the order of two
/// non-null values, after converting one to the other's class. Classes
/// that do not convert (a boolean and a number) compare as "less", as
/// upstream's -1 does; a string that does not convert is a [`Fault`].
pub(crate) fn compare(lv: Value<'_>, rv: Value<'_>) -> Result<Ordering, Fault> {
    use Value::*;
    Ok(match (lv, rv) {
        (Null, _) | (_, Null) => return Err(Fault),
        (Bool(a), Bool(b)) => a.cmp(&b),
        (Str(a), Str(b)) => a.cmp(b),
        (Int(a), Int(b)) => a.cmp(&b),
        (Long(a), Long(b)) => a.cmp(&b),
        (Double(a), Double(b)) => java_cmp_f64(a, b),
        (Int(a), Long(b)) => i64::from(a).cmp(&b),
        (Long(a), Int(b)) => a.cmp(&i64::from(b)),
        (Int(a), Double(b)) => java_cmp_f64(f64::from(a), b),
        (Double(a), Int(b)) => java_cmp_f64(a, f64::from(b)),
        (Long(a), Double(b)) => java_cmp_f64(a as f64, b),
        (Double(a), Long(b)) => java_cmp_f64(a, b as f64),
        // Upstream casts the boolean to a string here and throws.
        (Bool(_), Str(_)) => return Err(Fault),
        (Bool(_), _) | (Int(_) | Long(_) | Double(_), Bool(_)) => Ordering::Less,
        (Str(a), Bool(b)) => java_bool(a).cmp(&b),
        (Str(a), Int(b)) => a.parse::<i32>().map_err(|_| Fault)?.cmp(&b),
        (Str(a), Long(b)) => a.parse::<i64>().map_err(|_| Fault)?.cmp(&b),
        (Str(a), Double(b)) => java_cmp_f64(java_double(a).ok_or(Fault)?, b),
        (Int(a), Str(b)) => a.cmp(&b.parse::<i32>().map_err(|_| Fault)?),
        (Long(a), Str(b)) => a.cmp(&b.parse::<i64>().map_err(|_| Fault)?),
        (Double(a), Str(b)) => java_cmp_f64(a, java_double(b).ok_or(Fault)?),
    })
}

/// Upstream's `=`: NULL on the left is unknown, NULL on the right only is
/// FALSE, NULL on both sides TRUE; otherwise equal objects, or objects
/// that compare equal after conversion.
pub(crate) fn equals<'a>(lv: Value<'a>, rv: Value<'a>) -> Result<Value<'a>, Fault> {
    Ok(match (lv, rv) {
        (Value::Null, Value::Null) => Value::Bool(true),
        (Value::Null, _) => Value::Null,
        (_, Value::Null) => Value::Bool(false),
        _ => Value::Bool(compare(lv, rv)? == Ordering::Equal),
    })
}

/// `<`, `<=`, `>`, `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OrderOp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl OrderOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            OrderOp::Lt => "<",
            OrderOp::Le => "<=",
            OrderOp::Gt => ">",
            OrderOp::Ge => ">=",
        }
    }

    fn holds(self, o: Ordering) -> bool {
        match self {
            OrderOp::Lt => o.is_lt(),
            OrderOp::Le => o.is_le(),
            OrderOp::Gt => o.is_gt(),
            OrderOp::Ge => o.is_ge(),
        }
    }

    /// The comparison of two evaluated, non-null operands: two strings as
    /// doubles, anything else by [`compare`].
    pub(crate) fn apply(self, lv: Value<'_>, rv: Value<'_>) -> Result<bool, Fault> {
        let o = match (lv, rv) {
            (Value::Str(a), Value::Str(b)) => {
                java_cmp_f64(java_double(a).ok_or(Fault)?, java_double(b).ok_or(Fault)?)
            }
            _ => compare(lv, rv)?,
        };
        Ok(self.holds(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value::*;

    #[test]
    fn java_doubles() {
        for (s, want) in [
            ("1", 1.0),
            (" 2.5 ", 2.5),
            ("-.5", -0.5),
            ("+3.", 3.0),
            ("1e3", 1000.0),
            ("1.5d", 1.5),
            ("2F", 2.0),
            ("-Infinity", f64::NEG_INFINITY),
        ] {
            assert_eq!(java_double(s), Some(want), "{s}");
        }
        assert!(java_double("NaN").is_some_and(f64::is_nan));
        for s in [
            "", "abc", "inf", "nan", "1e", ".", "1.2.3", "0x10", "1 2", "--1", "d",
        ] {
            assert_eq!(java_double(s), None, "{s}");
        }
    }

    #[test]
    fn strings_convert_to_the_other_sides_class() {
        assert_eq!(compare(Str("10"), Int(5)), Ok(Ordering::Greater));
        assert_eq!(compare(Int(5), Str("+5")), Ok(Ordering::Equal));
        assert_eq!(compare(Str("3000000000"), Int(5)), Err(Fault));
        assert_eq!(
            compare(Str("3000000000"), Long(5_000_000_000)),
            Ok(Ordering::Less)
        );
        assert_eq!(compare(Str("5.0"), Int(5)), Err(Fault));
        assert_eq!(compare(Str("5.0"), Double(5.0)), Ok(Ordering::Equal));
        assert_eq!(compare(Str("TRUE"), Bool(true)), Ok(Ordering::Equal));
        assert_eq!(compare(Str("yes"), Bool(false)), Ok(Ordering::Equal));
        assert_eq!(compare(Bool(true), Str("true")), Err(Fault));
        assert_eq!(compare(Int(1), Bool(true)), Ok(Ordering::Less));
    }

    #[test]
    fn numbers_widen() {
        assert_eq!(compare(Int(2), Long(2)), Ok(Ordering::Equal));
        assert_eq!(compare(Long(3), Double(2.5)), Ok(Ordering::Greater));
        assert_eq!(compare(Double(-0.0), Double(0.0)), Ok(Ordering::Less));
        assert_eq!(
            compare(Double(f64::NAN), Double(f64::INFINITY)),
            Ok(Ordering::Greater)
        );
    }

    #[test]
    fn equality_with_null_is_lopsided_as_upstream() {
        assert_eq!(equals(Null, Str("x")), Ok(Null));
        assert_eq!(equals(Str("x"), Null), Ok(Bool(false)));
        assert_eq!(equals(Null, Null), Ok(Bool(true)));
    }

    #[test]
    fn ordering_two_strings_reads_them_as_doubles() {
        assert_eq!(OrderOp::Gt.apply(Str("10"), Str("9")), Ok(true));
        assert_eq!(OrderOp::Gt.apply(Str("b"), Str("a")), Err(Fault));
        assert_eq!(OrderOp::Le.apply(Str("1.5"), Int(2)), Err(Fault));
        assert_eq!(OrderOp::Le.apply(Str("1.5"), Double(2.0)), Ok(true));
    }
}
