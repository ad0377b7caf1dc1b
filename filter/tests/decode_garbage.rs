//! The SQL92 compiler over deterministic garbage: random sequences of the
//! language's pieces (keywords, operators, literals, quotes, comment marks,
//! parentheses in runs) and mutations of valid expressions. Every text must
//! compile or be refused at a real position, without a panic. The check is
//! the body of the cargo-fuzz target `sql_filter` (`fuzz/`), so CI runs it
//! on stable.

mod decode_checks;
#[path = "../../store/tests/garbage/mod.rs"]
mod garbage;
use garbage::Rng;

/// Texts to try: enough to reach every refusal, fast in debug builds.
const INPUTS: usize = 20_000;

const PIECES: &[&str] = &[
    "a",
    "TAGS",
    "$x",
    "_",
    " ",
    "\n",
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "AND",
    "or",
    "Not",
    "BETWEEN",
    "IN",
    "IS",
    "NULL",
    "TRUE",
    "false",
    "CONTAINS",
    "STARTSWITH",
    "ENDSWITH",
    "(",
    ")",
    ",",
    "'",
    "''",
    "'x'",
    "1",
    "0",
    "-",
    "+",
    "2.5",
    ".5",
    "1e3",
    "1e",
    "99999999999999999999",
    "L",
    "/*",
    "*/",
    "--",
    "é",
    "\u{0}",
    "!",
    "((((((((((",
    "NOT NOT NOT NOT ",
];

#[test]
fn valid_texts_compile() {
    for text in decode_checks::valid_texts() {
        raftmq_filter::SqlFilter::compile(text).expect("a valid expression compiles");
        decode_checks::sql(text);
    }
}

#[test]
fn garbage_texts_never_panic() {
    let mut rng = Rng(0x5eed_05e1);
    let valid = decode_checks::valid_texts();
    let (mut ok, mut err) = (0, 0);
    for i in 0..INPUTS {
        let text = if i % 2 == 0 {
            (0..rng.below(24))
                .map(|_| PIECES[rng.below(PIECES.len())])
                .collect::<Vec<_>>()
                .join(if rng.below(2) == 0 { " " } else { "" })
        } else {
            let base = valid[rng.below(valid.len())];
            let bytes = garbage::mutate(&mut rng, base.as_bytes());
            String::from_utf8_lossy(&bytes).into_owned()
        };
        decode_checks::sql(&text);
        match raftmq_filter::SqlFilter::compile(&text) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    // Both ways are exercised.
    assert!(ok > 100 && err > 100, "{ok} compiled, {err} refused");
}
