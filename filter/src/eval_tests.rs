//! Upstream's meaning, case by case: what each operator gives for present,
//! missing and mistyped properties.

use super::{Outcome, SqlFilter};
use Outcome::*;

fn eval(expr: &str, props: &[(&str, &str)]) -> Outcome {
    SqlFilter::compile(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .evaluate(props)
}

#[track_caller]
fn check(expr: &str, props: &[(&str, &str)], want: Outcome) {
    assert_eq!(eval(expr, props), want, "{expr} with {props:?}");
}

#[test]
fn comparisons_of_numeric_properties_compare_numbers() {
    let p = [("a", "10"), ("b", "2.5"), ("s", "abc")];
    check("a > 5", &p, True);
    check("a >= 10 AND a <= 10", &p, True);
    check("a < 9", &p, False);
    check("a = 10", &p, True);
    check("a <> 10", &p, False);
    check("a = 10.0", &p, True);
    check("b > 2", &p, Failed); // "2.5" is no Integer, as upstream
    check("b > 2.0", &p, True);
    check("a > b", &p, True); // two strings compare as doubles
    check("s > 1", &p, Failed);
    check("s = 'abc'", &p, True);
    check("s = 1", &p, Failed);
    check("a = '10'", &p, True);
    check("a > 3000000000", &p, False);
    check("-a < 0", &p, Unknown); // a property negated is NULL
}

#[test]
fn missing_properties_are_null() {
    let p = [("a", "1")];
    check("x = 'v'", &p, Unknown);
    check("'v' = x", &p, False); // NULL on the right only: FALSE, as upstream
    check("x <> 'v'", &p, Unknown);
    check("'v' <> x", &p, True);
    check("x > 1", &p, Unknown);
    check("x IS NULL", &p, True);
    check("x IS NOT NULL", &p, False);
    check("a IS NULL", &p, False);
    check("x IN ('v')", &p, Unknown);
    check("x NOT IN ('v')", &p, Unknown);
    check("x BETWEEN 1 AND 2", &p, Unknown);
    check("x NOT BETWEEN 1 AND 2", &p, Unknown);
    check("NOT (x = 'v')", &p, Unknown);
    check("x = y", &p, True); // both missing: equal, as upstream
    check("x CONTAINS 'v'", &p, False);
    check("x NOT CONTAINS 'v'", &p, False);
}

#[test]
fn three_valued_logic() {
    let p = [("a", "1")];
    for (expr, want) in [
        ("x = 1 AND a = 1", Unknown),
        ("x = 1 AND a = 2", False),
        ("a = 2 AND x = 1", False),
        ("x = 1 OR a = 1", True),
        ("x = 1 OR a = 2", Unknown),
        ("NOT (x = 1) OR a = 2", Unknown),
        ("(x = 1) IS NULL", True),
        ("TRUE", True),
        ("FALSE OR NULL", Unknown),
        ("NULL", Unknown),
        ("NOT NULL", Unknown),
    ] {
        check(expr, &p, want);
    }
}

#[test]
fn failures_stop_the_evaluation_where_they_happen() {
    let p = [("a", "abc"), ("b", "x")];
    check("a > 5 OR b = 'x'", &p, Failed);
    check("b = 'x' OR a > 5", &p, True);
    check("b = 'y' AND a > 5", &p, False);
    check("NOT (a > 5)", &p, Failed);
}

#[test]
fn between_in_and_text_tests() {
    let p = [("n", "5"), ("r", "eu-west"), ("TAGS", "TagA")];
    check("n BETWEEN 1 AND 5", &p, True);
    check("n BETWEEN 6 AND 9", &p, False);
    check("n NOT BETWEEN 6 AND 9", &p, True);
    check("n BETWEEN -1.5 AND 5.0", &p, True);
    check("r IN ('us', 'eu-west')", &p, True);
    check("r NOT IN ('us', 'eu-west')", &p, False);
    check("TAGS IN ('a','b','c','d','e','f','g','h','TagA')", &p, True);
    check("r STARTSWITH 'eu'", &p, True);
    check("r ENDSWITH 'west'", &p, True);
    check("r CONTAINS '-'", &p, True);
    check("r NOT CONTAINS '-'", &p, False);
    check("r CONTAINS ''", &p, False);
    check("n IN ('5')", &p, True);
}

#[test]
fn booleans_compare_as_upstream() {
    let p = [("f", "TRUE"), ("g", "no")];
    check("f = TRUE", &p, True);
    check("g = FALSE", &p, True);
    check("g = TRUE", &p, False);
    check("(g = 'no') = TRUE", &p, True);
    check("(g = 'no') = f", &p, Failed); // upstream casts the boolean to a string
    check("1 = TRUE", &p, False);
    check("f", &p, False); // a property as a condition is FALSE when present
    check("h", &p, Unknown);
    check("NOT f", &p, True);
    // NOT binds to the operand that follows: (NOT g) = 'no'.
    check("NOT g = 'no'", &p, Failed);
}

#[test]
fn literals_with_quotes_case_and_signs() {
    let p = [("q", "it's"), ("n", "-3")];
    check("q = 'it''s'", &p, True);
    check("n = -3", &p, True);
    check("n = - -3", &p, False);
    check("n = -3L", &p, True);
    check("n < +0", &p, True);
}
