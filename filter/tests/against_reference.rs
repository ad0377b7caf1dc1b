//! Random expressions, written out as SQL text with random case, spacing
//! and parentheses, compiled and evaluated against random properties: the
//! outcome must be the plain model's (`reference/mod.rs`), which follows
//! upstream's Java evaluation step by step.

mod reference;

use std::collections::BTreeMap;

use proptest::prelude::*;
use raftmq_filter::SqlFilter;
use reference::{Cond, Dice, Op, Operand, TextOp};

const NAMES: [&str; 4] = ["a", "b", "c", "TAGS"];

/// Property values that exercise every conversion: integers in and out of
/// 32 bits, decimals, spaces, booleans, NaN, suffixes, non-numbers.
const VALUES: [&str; 20] = [
    "1",
    "-3",
    "10",
    "0",
    "-0",
    "2147483648",
    "9223372036854775807",
    "1.5",
    " 2 ",
    "1e3",
    "2.0d",
    "NaN",
    "abc",
    "",
    "true",
    "TRUE",
    "x'y",
    "eu-west",
    "+7",
    "é",
];

fn name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&NAMES[..])
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&VALUES[..]).prop_map(str::to_owned),
        "[a-c'é -]{0,4}",
    ]
}

fn number() -> impl Strategy<Value = Operand> {
    prop_oneof![
        (-12i64..12).prop_map(Operand::Int),
        prop::sample::select(vec![
            2_147_483_647i64,
            2_147_483_648,
            -2_147_483_648,
            i64::MAX,
            -i64::MAX,
            3_000_000_000
        ])
        .prop_map(Operand::Int),
        prop::sample::select(vec![0.0f64, -0.0, 0.5, 1.5, -2.25, 10.0, 1e-7, 1e16, 2.0])
            .prop_map(Operand::Double),
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        3 => name().prop_map(Operand::Prop),
        2 => number(),
        1 => text().prop_map(Operand::Str),
    ]
}

/// Operands `<` and friends accept: no string literals.
fn orderable() -> impl Strategy<Value = Operand> {
    prop_oneof![3 => name().prop_map(Operand::Prop), 2 => number()]
}

fn leaf() -> impl Strategy<Value = Cond> {
    let ops = prop::sample::select(vec![Op::Lt, Op::Le, Op::Gt, Op::Ge]);
    let text_ops =
        prop::sample::select(vec![TextOp::Contains, TextOp::StartsWith, TextOp::EndsWith]);
    prop_oneof![
        1 => prop::option::of(any::<bool>()).prop_map(Cond::Const),
        1 => name().prop_map(Cond::Prop),
        4 => (any::<bool>(), operand(), operand())
            .prop_map(|(ne, l, r)| Cond::Cmp(if ne { Op::Ne } else { Op::Eq }, l, r)),
        4 => (ops, orderable(), orderable()).prop_map(|(op, l, r)| Cond::Cmp(op, l, r)),
        1 => (any::<bool>(), operand()).prop_map(|(n, o)| Cond::IsNullOperand(n, o)),
        2 => (any::<bool>(), orderable(), number(), number()).prop_map(|(n, v, lo, hi)| {
            if n || reference::in_order(&lo, &hi) {
                Cond::Between(n, v, lo, hi)
            } else {
                Cond::Between(n, v, hi, lo)
            }
        }),
        2 => (any::<bool>(), name(), prop::collection::vec(text(), 1..5))
            .prop_map(|(n, p, l)| Cond::In(n, p, l)),
        1 => (any::<bool>(), text_ops, operand(), text())
            .prop_map(|(n, op, o, t)| Cond::Text(n, op, o, t)),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    leaf().prop_recursive(5, 32, 2, |inner| {
        prop_oneof![
            3 => (inner.clone(), inner.clone()).prop_map(|(l, r)| Cond::And(Box::new(l), Box::new(r))),
            3 => (inner.clone(), inner.clone()).prop_map(|(l, r)| Cond::Or(Box::new(l), Box::new(r))),
            2 => inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            1 => (any::<bool>(), inner.clone(), inner.clone())
                .prop_map(|(n, l, r)| Cond::Equal(n, Box::new(not_null(l)), Box::new(not_null(r)))),
            1 => (any::<bool>(), inner).prop_map(|(n, c)| Cond::IsNull(n, Box::new(c))),
        ]
    })
}

/// `= NULL` does not compile (upstream: use IS NULL).
fn not_null(c: Cond) -> Cond {
    match c {
        Cond::Const(None) => Cond::Const(Some(true)),
        c => c,
    }
}

fn properties() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map(name().prop_map(str::to_owned), text(), 0..=NAMES.len())
}

/// 2,000 cases (a few seconds in a debug build); `PROPTEST_CASES` for more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn compiled_filters_agree_with_the_reference(
        c in cond(),
        props in prop::collection::vec(properties(), 1..6),
        seed in any::<u64>(),
    ) {
        let sql = reference::render(&mut Dice(seed | 1), &c, 0);
        let f = SqlFilter::compile(&sql).map_err(|e| TestCaseError::fail(format!("{sql:?}: {e}")))?;
        for p in &props {
            prop_assert_eq!(f.evaluate(p), reference::outcome(&c, p), "{} with {:?}", sql, p);
        }
    }

    #[test]
    fn any_text_compiles_or_is_refused_at_a_real_place(s in "[a-z0-9 '()=<>!.,+*/-]{0,40}|\\PC{0,20}") {
        match SqlFilter::compile(&s) {
            Ok(f) => { let _ = f.evaluate(&BTreeMap::<String, String>::new()); }
            Err(e) => {
                prop_assert!(e.offset <= s.len());
                prop_assert!(s.is_char_boundary(e.offset));
                prop_assert_eq!(e.column, s[..e.offset].chars().count() + 1);
            }
        }
    }
}
