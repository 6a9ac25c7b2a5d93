//! The label selector string parser and the field selector parser.
//!
//! A hand-written port of the grammar in apimachinery `pkg/labels/selector.go` (`Lexer`, `Parser`,
//! `parseRequirement`, `parseValues`, `parseIdentifiersList`) with upstream's error wording, and of
//! `pkg/fields/selector.go` `parseSelector` for `fieldSelector=` terms (`=`, `==`, `!=`, `\`
//! escapes). Any input, however odd, yields a selector or an error, never a panic.

use crate::selector::{Operator, Requirement, Selector, SelectorError};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Comma,
    Open,
    Close,
    Eq,
    DoubleEq,
    NotEq,
    Bang,
    In,
    NotIn,
    /// `<` and `>`: lexed like upstream but not supported for labels here.
    Cmp(char),
    End,
}

impl Token {
    fn literal(&self) -> String {
        match self {
            Token::Ident(s) => s.clone(),
            Token::Comma => ",".into(),
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Eq => "=".into(),
            Token::DoubleEq => "==".into(),
            Token::NotEq => "!=".into(),
            Token::Bang => "!".into(),
            Token::In => "in".into(),
            Token::NotIn => "notin".into(),
            Token::Cmp(c) => c.to_string(),
            Token::End => String::new(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '<' | '>')
}

fn lex(input: &str) -> Vec<Token> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let next = chars.get(i + 1).copied();
        let (tok, len) = match (c, next) {
            ('=', Some('=')) => (Token::DoubleEq, 2),
            ('!', Some('=')) => (Token::NotEq, 2),
            ('=', _) => (Token::Eq, 1),
            ('!', _) => (Token::Bang, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            ('<' | '>', _) => (Token::Cmp(c), 1),
            _ => {
                let start = i;
                let mut end = i;
                while end < chars.len() && !chars[end].is_whitespace() && !is_special(chars[end]) {
                    end += 1;
                }
                let word: String = chars[start..end].iter().collect();
                let tok = match word.as_str() {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Ident(word),
                };
                (tok, end - start)
            }
        };
        out.push(tok);
        i += len;
    }
    out.push(Token::End);
    out
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Token {
        self.tokens.get(self.pos).cloned().unwrap_or(Token::End)
    }

    /// In value position upstream re-reads keywords as identifiers (`a=in` is valid).
    fn peek_value(&self) -> Token {
        match self.peek() {
            Token::In => Token::Ident("in".into()),
            Token::NotIn => Token::Ident("notin".into()),
            t => t,
        }
    }

    fn next(&mut self) -> Token {
        let t = self.peek();
        self.pos += 1;
        t
    }

    fn next_value(&mut self) -> Token {
        let t = self.peek_value();
        self.pos += 1;
        t
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut tok = self.next_value();
        let negated = tok == Token::Bang;
        if negated {
            tok = self.next_value();
        }
        let Token::Ident(key) = tok else {
            return Err(unexpected(&tok, "identifier"));
        };
        if negated {
            return Requirement::new(&key, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Requirement::new(&key, Operator::Exists, Vec::new());
        }
        let op_tok = self.next();
        let op = match op_tok {
            Token::Eq => Operator::Equals,
            Token::DoubleEq => Operator::DoubleEquals,
            Token::NotEq => Operator::NotEquals,
            Token::In => Operator::In,
            Token::NotIn => Operator::NotIn,
            other => {
                return Err(unexpected(&other, "'=', '!=', '==', 'in', notin'"));
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.set_values()?,
            _ => vec![self.exact_value()?],
        };
        Requirement::new(&key, op, values)
    }

    fn exact_value(&mut self) -> Result<String, SelectorError> {
        if matches!(self.peek(), Token::End | Token::Comma) {
            return Ok(String::new());
        }
        match self.next_value() {
            Token::Ident(v) => Ok(v),
            other => Err(unexpected(&other, "identifier")),
        }
    }

    fn set_values(&mut self) -> Result<Vec<String>, SelectorError> {
        let open = self.next();
        if open != Token::Open {
            return Err(SelectorError::ExpectedOpenParen(open.literal()));
        }
        match self.peek_value() {
            Token::Close => {
                // Upstream reads `()` as the set {""}, so `a in ()` matches `a=""`.
                self.next();
                return Ok(vec![String::new()]);
            }
            Token::Ident(_) | Token::Comma => {}
            other => return Err(unexpected(&other, "',', ')' or identifier")),
        }
        let mut values = Vec::new();
        loop {
            match self.next_value() {
                Token::Ident(v) => {
                    values.push(v);
                    match self.peek_value() {
                        Token::Comma => {
                            self.next();
                            if self.peek_value() == Token::Close {
                                values.push(String::new());
                            }
                        }
                        Token::Close => break,
                        other => return Err(unexpected(&other, "',' or ')'")),
                    }
                }
                Token::Comma => values.push(String::new()),
                Token::Close => {
                    self.pos -= 1;
                    break;
                }
                other => return Err(unexpected(&other, "',', or identifier")),
            }
        }
        let close = self.next();
        if close != Token::Close {
            return Err(unexpected(&close, "')'"));
        }
        Ok(values)
    }
}

fn unexpected(tok: &Token, expected: &'static str) -> SelectorError {
    SelectorError::Unexpected {
        found: tok.literal(),
        expected,
    }
}

/// `labels.Parse`: a comma-separated list of requirements; blank input selects everything.
pub fn parse(input: &str) -> Result<Selector, SelectorError> {
    let mut p = Parser {
        tokens: lex(input),
        pos: 0,
    };
    let mut reqs = Vec::new();
    loop {
        match p.peek_value() {
            Token::End => return Ok(Selector::Requirements(reqs)),
            Token::Ident(_) | Token::Bang => {
                // Upstream wraps every requirement-level error in "unable to parse requirement".
                let req = p.requirement().map_err(|e| match e {
                    SelectorError::Requirement(_) => e,
                    other => SelectorError::Requirement(other.to_string()),
                })?;
                reqs.push(req);
                match p.next() {
                    Token::End => return Ok(Selector::Requirements(reqs)),
                    Token::Comma => {
                        if !matches!(p.peek_value(), Token::Ident(_) | Token::Bang) {
                            return Err(unexpected(&p.peek(), "identifier after ','"));
                        }
                    }
                    other => return Err(unexpected(&other, "',' or 'end of string'")),
                }
            }
            other => return Err(unexpected(&other, "!, identifier, or 'end of string'")),
        }
    }
}

/// One `field op value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    /// `true` for `!=`.
    pub negated: bool,
    pub value: String,
}

impl FieldRequirement {
    /// Matches against a flat getter; a missing field reads as `""`, like `fields.Set`.
    pub fn matches(&self, get: &dyn Fn(&str) -> Option<String>) -> bool {
        let got = get(&self.field).unwrap_or_default();
        (got == self.value) != self.negated
    }
}

/// Splits on unescaped `sep`, keeping escapes for the next stage.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(String::new());
            continue;
        }
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Finds the first unescaped operator in a field term: `!=`, then `==`, then `=`.
fn split_field_term(term: &str) -> Option<(String, bool, String)> {
    let bytes: Vec<char> = term.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            '\\' => i += 2,
            '!' if bytes.get(i + 1) == Some(&'=') => {
                let (l, r) = (&bytes[..i], &bytes[i + 2..]);
                return Some((l.iter().collect(), true, r.iter().collect()));
            }
            '=' => {
                let skip = if bytes.get(i + 1) == Some(&'=') { 2 } else { 1 };
                let (l, r) = (&bytes[..i], &bytes[i + skip..]);
                return Some((l.iter().collect(), false, r.iter().collect()));
            }
            _ => i += 1,
        }
    }
    None
}

/// `fields.ParseSelector`: `a=b,c!=d`; blank input selects everything.
pub fn parse_fields(input: &str) -> Result<Vec<FieldRequirement>, SelectorError> {
    if input.trim().is_empty() {
        return Ok(Vec::new());
    }
    split_unescaped(input, ',')
        .into_iter()
        .map(|term| {
            let (field, negated, value) = split_field_term(&term)
                .ok_or_else(|| SelectorError::Field(input.to_string(), term.clone()))?;
            Ok(FieldRequirement {
                field: unescape(&field),
                negated,
                value: unescape(&value),
            })
        })
        .collect()
}
