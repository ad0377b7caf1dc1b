//! The conf file syntax over deterministic garbage: random text from the
//! characters that matter (separators, comment marks, backslashes, line
//! ends, byte-order marks, multi-byte and control characters) and mutations
//! of valid conf files. Every text must parse or be refused naming a line
//! that exists, without a panic, and what parses must read back the same.
//! The check is the body of the cargo-fuzz target `conf` (`fuzz/`), so CI
//! runs it on stable.

mod decode_checks;
#[path = "../../store/tests/garbage/mod.rs"]
mod garbage;
use garbage::Rng;

use raftmq_cli::properties::entries;

/// Texts to try: enough to reach every refusal, fast in debug builds.
const INPUTS: usize = 20_000;

impl Rng {
    fn char(&mut self) -> char {
        const CHARS: &[char] = &[
            'a',
            'k',
            'Z',
            '0',
            '=',
            ':',
            '#',
            '!',
            '\\',
            ' ',
            '\t',
            '\n',
            '\r',
            '\u{feff}',
            '\u{a0}',
            '\u{2028}',
            'é',
            '\u{10ffff}',
            '\0',
            '\u{7f}',
        ];
        CHARS[self.below(CHARS.len())]
    }
}

#[test]
fn valid_texts_parse() {
    for text in decode_checks::valid_texts() {
        let found = entries(text).expect("a valid conf text parses");
        assert!(!found.is_empty());
        decode_checks::properties(text);
    }
}

#[test]
fn garbage_texts_never_panic() {
    let mut rng = Rng(0x5eed_0301);
    let valid = decode_checks::valid_texts();
    let (mut ok, mut err) = (0, 0);
    for _ in 0..INPUTS {
        let text: String = if rng.below(3) == 0 {
            let n = rng.below(60);
            (0..n).map(|_| rng.char()).collect()
        } else {
            let mut chars: Vec<char> = valid[rng.below(valid.len())].chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(chars.len());
                match rng.below(3) {
                    0 if !chars.is_empty() => chars[at] = rng.char(),
                    1 if !chars.is_empty() => {
                        chars.remove(at);
                    }
                    _ => {
                        let c = rng.char();
                        chars.insert(at.min(chars.len()), c);
                    }
                }
            }
            chars.into_iter().collect()
        };
        decode_checks::properties(&text);
        match entries(&text) {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    assert!(ok > 0 && err > 0, "{ok} parsed, {err} refused");
}
