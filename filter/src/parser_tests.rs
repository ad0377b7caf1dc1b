//! What compiles, and how a refusal names its place.

use super::{ErrorKind, SqlFilter, MAX_DEPTH};

fn refusal(expr: &str) -> (usize, ErrorKind) {
    match SqlFilter::compile(expr) {
        Ok(f) => panic!("{expr:?} compiled: {f:?}"),
        Err(e) => (e.column, e.kind),
    }
}

#[test]
fn upstream_forms_compile() {
    for expr in [
        "a = 'x'",
        "a > 1 AND b < 2.5 OR NOT (c <> 'y')",
        "TAGS IN ('TagA', 'TagB') AND price BETWEEN 10 AND 20",
        "a NOT BETWEEN -5 AND -1",
        "a IS NULL OR b IS NOT NULL",
        "name STARTSWITH 'x' AND name NOT ENDSWITH 'y' AND name CONTAINS 'z'",
        "TRUE",
        "false or NULL",
        "a",
        "not a",
        "(((a = 1)))",
        "a = 1 -- a comment",
        "/* lead */ a = 1",
        "a = 9223372036854775807",
        "a > .5e-3",
        "$x_1 = 'y' and _y = 'z'",
        "'x' = a",
        "a = b",
        "5 = TRUE",
    ] {
        if let Err(e) = SqlFilter::compile(expr) {
            panic!("{expr:?}: {e}");
        }
    }
}

#[test]
fn syntax_errors_name_the_column_and_what_was_expected() {
    let (col, kind) = refusal("a = ");
    assert_eq!(col, 5);
    assert!(
        matches!(&kind, ErrorKind::Expected { found, .. } if found == "the end of the expression"),
        "{kind:?}"
    );
    let (col, kind) = refusal("a = 1 b = 2");
    assert_eq!(col, 7);
    assert!(matches!(kind, ErrorKind::Expected { .. }), "{kind:?}");
    let (col, _) = refusal("(a = 1");
    assert_eq!(col, 7);
    let (col, _) = refusal("a IN ('x' 'y')");
    assert_eq!(col, 11);
    let (col, _) = refusal("a IN (1)");
    assert_eq!(col, 7);
    let (col, _) = refusal("a BETWEEN 1 OR 2");
    assert_eq!(col, 13);
    let (col, _) = refusal("a IS 5");
    assert_eq!(col, 6);
    let (col, kind) = refusal("a = 'open");
    assert_eq!((col, kind), (5, ErrorKind::UnterminatedString));
    let (col, _) = refusal("");
    assert_eq!(col, 1);
    let (col, _) = refusal("ä = 1");
    assert_eq!(col, 1);
    let (col, _) = refusal("'ä' = a AND b = #");
    assert_eq!(col, 17);
}

#[test]
fn upstream_operand_checks() {
    assert_eq!(
        refusal("5").1,
        ErrorKind::NotCondition { found: "a number" }
    );
    assert_eq!(refusal("a AND 'x'").0, 7);
    assert!(matches!(
        refusal("a > 'x'").1,
        ErrorKind::NotOrderable {
            found: "a string",
            operator: ">"
        }
    ));
    assert!(matches!(
        refusal("(a = 1) < 2").1,
        ErrorKind::NotOrderable { .. }
    ));
    assert!(matches!(
        refusal("a < TRUE").1,
        ErrorKind::NotOrderable { .. }
    ));
    assert_eq!(
        refusal("a = NULL").1,
        ErrorKind::NullOperand { operator: "=" }
    );
    assert_eq!(
        refusal("NULL <> a").1,
        ErrorKind::NullOperand { operator: "<>" }
    );
    assert_eq!(refusal("TRUE = 5").1, ErrorKind::BooleanMismatch);
    assert_eq!(refusal("FALSE = 'x'").1, ErrorKind::BooleanMismatch);
    assert_eq!(
        refusal("a BETWEEN 5 AND 1"),
        (11, ErrorKind::BetweenReversed)
    );
    assert_eq!(refusal("a BETWEEN -1 AND -5").1, ErrorKind::BetweenReversed);
    assert!(SqlFilter::compile("a NOT BETWEEN 5 AND 1").is_ok());
    assert!(matches!(
        refusal("a BETWEEN 'x' AND 'y'").1,
        ErrorKind::NotOrderable { .. }
    ));
    assert_eq!(refusal("'x' IN ('x')"), (1, ErrorKind::InNeedsProperty));
    assert!(matches!(
        refusal("a = 99999999999999999999").1,
        ErrorKind::NumberOutOfRange { .. }
    ));
    assert!(matches!(
        refusal("a = 1e999").1,
        ErrorKind::NumberOutOfRange { .. }
    ));
    assert!(matches!(refusal("NOT 5").1, ErrorKind::NotCondition { .. }));
    assert!(matches!(
        refusal("NOT -a").1,
        ErrorKind::NotCondition { .. }
    ));
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let ok = format!(
        "{}a = 1{}",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    assert!(SqlFilter::compile(&ok).is_ok());
    for deep in [
        format!("{}a = 1{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}a", "NOT ".repeat(100_000)),
        format!("a = {}1", "- ".repeat(100_000)),
        format!("a{}", " = 1".repeat(100_000)),
        format!("a{}", " IS NULL".repeat(100_000)),
    ] {
        assert!(matches!(
            refusal(&deep).1,
            ErrorKind::TooDeep { limit: MAX_DEPTH }
        ));
    }
    // Long AND / OR chains are flat lists, not deep trees.
    let long = vec!["a = 1"; 100_000].join(" AND ");
    let f = SqlFilter::compile(&long).expect("a long chain compiles");
    assert!(f.matches(&[("a", "1")][..]));
}

#[test]
fn property_names_are_listed_once() {
    let f = SqlFilter::compile("a = 1 AND b BETWEEN 1 AND 2 OR a IN ('x')").expect("compiles");
    assert_eq!(f.property_names().collect::<Vec<_>>(), ["a", "b"]);
}
