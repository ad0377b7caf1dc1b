//! Tokens of the filter language, as upstream's selector grammar spells
//! them: case-insensitive keywords, ASCII identifiers (`a`-`z`, `0`-`9`,
//! `_`, `$`, not starting with a digit), single-quoted strings with `''`
//! for a quote, integers with an optional `L`, decimals with an optional
//! exponent, `-- line` and `/* block */` comments.

use std::borrow::Cow;

use crate::error::{ErrorKind, ParseError};

/// A reserved word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
}

const KEYWORDS: &[(&str, Keyword)] = &[
    ("NOT", Keyword::Not),
    ("AND", Keyword::And),
    ("OR", Keyword::Or),
    ("BETWEEN", Keyword::Between),
    ("IN", Keyword::In),
    ("TRUE", Keyword::True),
    ("FALSE", Keyword::False),
    ("NULL", Keyword::Null),
    ("IS", Keyword::Is),
    ("CONTAINS", Keyword::Contains),
    ("STARTSWITH", Keyword::StartsWith),
    ("ENDSWITH", Keyword::EndsWith),
];

impl Keyword {
    pub(crate) fn name(self) -> &'static str {
        KEYWORDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("?", |(n, _)| n)
    }
}

/// One token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    Ident(&'a str),
    Keyword(Keyword),
    /// A string literal, quotes removed and `''` decoded.
    Str(Cow<'a, str>),
    /// Decimal digits of an integer (any `L` suffix removed).
    Int(&'a str),
    /// A decimal literal as written.
    Decimal(&'a str),
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
    End,
}

impl Tok<'_> {
    /// How an error message names this token.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("property {s}"),
            Tok::Keyword(k) => k.name().to_owned(),
            Tok::Str(s) => format!("string '{}'", s.replace('\'', "''")),
            Tok::Int(s) | Tok::Decimal(s) => format!("number {s}"),
            Tok::Eq => "'='".into(),
            Tok::Ne => "'<>'".into(),
            Tok::Lt => "'<'".into(),
            Tok::Le => "'<='".into(),
            Tok::Gt => "'>'".into(),
            Tok::Ge => "'>='".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Comma => "','".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

/// A token and the byte offset where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token<'a> {
    pub tok: Tok<'a>,
    pub at: usize,
}

/// Every token of `text`, ending with [`Tok::End`].
pub(crate) fn tokens(text: &str) -> Result<Vec<Token<'_>>, ParseError> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut out = Vec::new();
    loop {
        let t = lexer.next()?;
        let end = t.tok == Tok::End;
        out.push(t);
        if end {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_ident_part(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

impl<'a> Lexer<'a> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + ahead).copied()
    }

    fn error(&self, at: usize, kind: ErrorKind) -> ParseError {
        ParseError::at(self.text, at, kind)
    }

    /// Skips white space and comments.
    fn skip(&mut self) -> Result<(), ParseError> {
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c'), _) => self.pos += 1,
                (Some(b'-'), Some(b'-')) => {
                    let rest = &self.text.as_bytes()[self.pos..];
                    let len = rest
                        .iter()
                        .position(|b| *b == b'\n' || *b == b'\r')
                        .unwrap_or(rest.len());
                    self.pos += len;
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = self.pos;
                    match self.text[self.pos + 2..].find("*/") {
                        Some(i) => self.pos += 2 + i + 2,
                        None => return Err(self.error(start, ErrorKind::UnterminatedComment)),
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn next(&mut self) -> Result<Token<'a>, ParseError> {
        self.skip()?;
        let at = self.pos;
        let Some(b) = self.peek(0) else {
            return Ok(Token { tok: Tok::End, at });
        };
        let one = |lexer: &mut Self, tok| {
            lexer.pos += 1;
            Ok(Token { tok, at })
        };
        let two = |lexer: &mut Self, tok| {
            lexer.pos += 2;
            Ok(Token { tok, at })
        };
        match (b, self.peek(1)) {
            (b'=', _) => one(self, Tok::Eq),
            (b'<', Some(b'>')) => two(self, Tok::Ne),
            (b'<', Some(b'=')) => two(self, Tok::Le),
            (b'<', _) => one(self, Tok::Lt),
            (b'>', Some(b'=')) => two(self, Tok::Ge),
            (b'>', _) => one(self, Tok::Gt),
            (b'(', _) => one(self, Tok::LParen),
            (b')', _) => one(self, Tok::RParen),
            (b',', _) => one(self, Tok::Comma),
            (b'+', _) => one(self, Tok::Plus),
            (b'-', _) => one(self, Tok::Minus),
            (b'\'', _) => self.string(),
            (b'0'..=b'9', _) => Ok(self.number()),
            (b'.', Some(b'0'..=b'9')) => Ok(self.number()),
            (b, _) if is_ident_start(b) => Ok(self.word()),
            _ => {
                let c = self.text[at..].chars().next().unwrap_or('\u{fffd}');
                Err(self.error(at, ErrorKind::UnexpectedChar(c)))
            }
        }
    }

    fn string(&mut self) -> Result<Token<'a>, ParseError> {
        let at = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = at + 1;
        let mut escaped = false;
        loop {
            match bytes.get(i) {
                None => return Err(self.error(at, ErrorKind::UnterminatedString)),
                Some(b'\'') if bytes.get(i + 1) == Some(&b'\'') => {
                    escaped = true;
                    i += 2;
                }
                Some(b'\'') => break,
                Some(_) => i += 1,
            }
        }
        // Quotes are ASCII, so `at + 1` and `i` are character boundaries.
        let inner = &self.text[at + 1..i];
        self.pos = i + 1;
        let s = if escaped {
            Cow::Owned(inner.replace("''", "'"))
        } else {
            Cow::Borrowed(inner)
        };
        Ok(Token {
            tok: Tok::Str(s),
            at,
        })
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek(0).is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Token<'a> {
        let at = self.pos;
        self.digits();
        let mut decimal = false;
        if self.peek(0) == Some(b'.') {
            decimal = true;
            self.pos += 1;
            self.digits();
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            let mark = self.pos;
            self.pos += 1;
            if matches!(self.peek(0), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                // Not an exponent: `5e` is the number 5, then a word.
                self.pos = mark;
            } else {
                decimal = true;
            }
        }
        let text = &self.text[at..self.pos];
        if decimal {
            return Token {
                tok: Tok::Decimal(text),
                at,
            };
        }
        if matches!(self.peek(0), Some(b'l' | b'L')) {
            self.pos += 1;
        }
        Token {
            tok: Tok::Int(text),
            at,
        }
    }

    fn word(&mut self) -> Token<'a> {
        let at = self.pos;
        while self.peek(0).is_some_and(is_ident_part) {
            self.pos += 1;
        }
        let word = &self.text[at..self.pos];
        let tok = KEYWORDS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(word))
            .map_or(Tok::Ident(word), |(_, k)| Tok::Keyword(*k));
        Token { tok, at }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok<'_>> {
        tokens(text)
            .expect("lexes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn words_numbers_strings_and_operators() {
        assert_eq!(
            toks("a_1 >= 5L AND $b<>'it''s' or c IN (.5, 1e3, 2.)"),
            vec![
                Tok::Ident("a_1"),
                Tok::Ge,
                Tok::Int("5"),
                Tok::Keyword(Keyword::And),
                Tok::Ident("$b"),
                Tok::Ne,
                Tok::Str(Cow::Owned("it's".into())),
                Tok::Keyword(Keyword::Or),
                Tok::Ident("c"),
                Tok::Keyword(Keyword::In),
                Tok::LParen,
                Tok::Decimal(".5"),
                Tok::Comma,
                Tok::Decimal("1e3"),
                Tok::Comma,
                Tok::Decimal("2."),
                Tok::RParen,
                Tok::End,
            ]
        );
    }

    #[test]
    fn comments_and_white_space_are_skipped() {
        assert_eq!(
            toks("a -- to the end\n= /* in\nside */ 1 --"),
            vec![Tok::Ident("a"), Tok::Eq, Tok::Int("1"), Tok::End]
        );
    }

    #[test]
    fn a_dangling_exponent_is_not_part_of_the_number() {
        assert_eq!(toks("5e"), vec![Tok::Int("5"), Tok::Ident("e"), Tok::End]);
        assert_eq!(
            toks("5e+"),
            vec![Tok::Int("5"), Tok::Ident("e"), Tok::Plus, Tok::End]
        );
    }

    #[test]
    fn refusals_name_the_place() {
        let e = tokens("a = 'open").unwrap_err();
        assert_eq!((e.offset, e.kind), (4, ErrorKind::UnterminatedString));
        let e = tokens("a /* x").unwrap_err();
        assert_eq!((e.offset, e.kind), (2, ErrorKind::UnterminatedComment));
        let e = tokens("é = 1").unwrap_err();
        assert_eq!(
            (e.offset, e.column, e.kind),
            (0, 1, ErrorKind::UnexpectedChar('é'))
        );
        let e = tokens("a ! b").unwrap_err();
        assert_eq!(e.column, 3);
    }
}
