//! What the SQL92 compiler promises whatever the text, as a function that
//! both `tests/decode_garbage.rs` (stable, in CI) and the cargo-fuzz target
//! `sql_filter` in `fuzz/` run: compiling gives a filter or an error whose
//! offset is a character boundary inside the text and whose column counts
//! the characters before it, never a panic or a stack overflow; a filter
//! evaluates against any properties without a panic, and compiling the
//! same text again gives the same filter.

use std::collections::BTreeMap;

use raftmq_filter::{Outcome, SqlFilter};

/// Compiles `text` and, if it compiles, evaluates it against a few
/// property sets built from the names it reads.
pub fn sql(text: &str) {
    match SqlFilter::compile(text) {
        Ok(f) => {
            assert_eq!(SqlFilter::compile(text).as_ref(), Ok(&f));
            let names: Vec<String> = f.property_names().map(str::to_owned).collect();
            for value in ["", "1", "-2.5", "abc", "TRUE", "NaN", "9223372036854775808"] {
                let props: BTreeMap<String, String> = names
                    .iter()
                    .map(|n| (n.clone(), value.to_owned()))
                    .collect();
                let outcome = f.evaluate(&props);
                assert_eq!(f.matches(&props), outcome == Outcome::True);
            }
            let _ = f.evaluate(&BTreeMap::<String, String>::new());
        }
        Err(e) => {
            assert!(e.offset <= text.len(), "{e} beyond {} bytes", text.len());
            assert!(
                text.is_char_boundary(e.offset),
                "{e}: not a character boundary"
            );
            assert_eq!(e.column, text[..e.offset].chars().count() + 1, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
}

/// Expressions that compile, covering every operator.
pub fn valid_texts() -> Vec<&'static str> {
    vec![
        "a = 'x'",
        "TAGS IN ('TagA', 'TagB') AND price BETWEEN 10 AND 20.5",
        "a > 1 AND (b < -2.5e3 OR NOT (c <> 'it''s'))",
        "a NOT BETWEEN 1 AND 2 OR b NOT IN ('x') OR c IS NOT NULL OR d IS NULL",
        "name STARTSWITH 'a' AND name NOT ENDSWITH 'z' AND name CONTAINS 'm'",
        "/* c */ TRUE -- tail\n AND x = 9223372036854775807L",
    ]
}
