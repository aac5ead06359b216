//! Lexer and recursive-descent parser for the list `search` language. Text in, [`Expr`] out;
//! meaning (which fields exist, which types they take) is checked later, by the server's SQL
//! translation. Nesting is bounded ([`MAX_SEARCH_DEPTH`]) so no input can exhaust the stack.
//!
//! Grammar (keywords are case-insensitive):
//! ```text
//! expr    := and ( "or" and )*
//! and     := unary ( "and" unary )*
//! unary   := "not" unary | "(" expr ")" | predicate
//! predicate := field op literal
//!            | field ["not"] "in" "[" literal ( "," literal )* "]"
//!            | field "is" ["not"] "null"
//! op      := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
//! literal := 'single-quoted, '' escapes a quote' | integer | decimal | true | false
//! field   := letter ( letter | digit | "_" | "." | "/" | "-" )*
//! ```

use super::{CompareOp, Expr, Field, Literal, MAX_SEARCH_DEPTH, SearchError};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Op(CompareOp),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

/// Parses a whole search expression.
pub fn parse(input: &str) -> Result<Expr, SearchError> {
    let tokens = lex(input)?;
    let mut parser = Parser { tokens, next: 0, end: input.len(), depth: 0 };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some((_, pos)) => Err(SearchError::at(pos, "expected `and`, `or` or the end of the expression")),
    }
}

fn lex(input: &str) -> Result<Vec<(Token, usize)>, SearchError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(pos, c)) = chars.peek() {
        let token = match c {
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '(' | ')' | '[' | ']' | ',' => {
                chars.next();
                match c {
                    '(' => Token::LParen,
                    ')' => Token::RParen,
                    '[' => Token::LBracket,
                    ']' => Token::RBracket,
                    _ => Token::Comma,
                }
            }
            '=' | '!' | '<' | '>' => lex_operator(&mut chars, pos)?,
            '\'' => lex_string(&mut chars, pos)?,
            c if c.is_ascii_digit() || c == '-' => lex_number(&mut chars, pos)?,
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')) {
                        break;
                    }
                    name.push(c);
                    chars.next();
                }
                Token::Ident(name)
            }
            other => return Err(SearchError::at(pos, format!("unexpected character `{other}`"))),
        };
        tokens.push((token, pos));
    }
    Ok(tokens)
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

fn lex_operator(chars: &mut Chars<'_>, pos: usize) -> Result<Token, SearchError> {
    let Some((_, first)) = chars.next() else {
        return Err(SearchError::at(pos, "expected an operator"));
    };
    let second = chars.peek().map(|&(_, c)| c);
    let (op, two) = match (first, second) {
        ('=', _) => (CompareOp::Eq, false),
        ('!', Some('=')) => (CompareOp::Ne, true),
        ('<', Some('>')) => (CompareOp::Ne, true),
        ('<', Some('=')) => (CompareOp::Le, true),
        ('<', _) => (CompareOp::Lt, false),
        ('>', Some('=')) => (CompareOp::Ge, true),
        ('>', _) => (CompareOp::Gt, false),
        _ => return Err(SearchError::at(pos, "expected `!=`")),
    };
    if two {
        chars.next();
    }
    Ok(Token::Op(op))
}

fn lex_string(chars: &mut Chars<'_>, pos: usize) -> Result<Token, SearchError> {
    chars.next(); // opening quote
    let mut value = String::new();
    loop {
        match chars.next() {
            None => {
                return Err(SearchError::at(pos, "unterminated string: a closing `'` is missing"));
            }
            Some((_, '\'')) if chars.peek().map(|&(_, c)| c) == Some('\'') => {
                chars.next();
                value.push('\'');
            }
            Some((_, '\'')) => return Ok(Token::Str(value)),
            // PostgreSQL text cannot hold NUL; refuse it here rather than fail the query.
            Some((at, '\0')) => return Err(SearchError::at(at, "NUL characters are not allowed")),
            Some((_, c)) => value.push(c),
        }
    }
}

fn lex_number(chars: &mut Chars<'_>, pos: usize) -> Result<Token, SearchError> {
    let mut text = String::new();
    while let Some(&(_, c)) = chars.peek() {
        if !(c.is_ascii_digit() || matches!(c, '-' | '.' | 'e' | 'E' | '+')) {
            break;
        }
        text.push(c);
        chars.next();
    }
    if let Ok(int) = text.parse::<i64>() {
        return Ok(Token::Int(int));
    }
    match text.parse::<f64>() {
        Ok(float) if float.is_finite() => Ok(Token::Float(float)),
        _ => Err(SearchError::at(pos, format!("`{text}` is not a number"))),
    }
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    next: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<(&Token, usize)> {
        self.tokens.get(self.next).map(|(t, p)| (t, *p))
    }

    fn bump(&mut self) -> Option<(Token, usize)> {
        let token = self.tokens.get(self.next).cloned();
        self.next += 1;
        token
    }

    fn position(&self) -> usize {
        self.peek().map_or(self.end, |(_, pos)| pos)
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some((Token::Ident(word), _)) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.next += 1;
        }
        found
    }

    fn expect(&mut self, expected: &Token, what: &str) -> Result<(), SearchError> {
        match self.peek() {
            Some((token, _)) if token == expected => {
                self.next += 1;
                Ok(())
            }
            _ => Err(SearchError::at(self.position(), format!("expected {what}"))),
        }
    }

    fn or(&mut self) -> Result<Expr, SearchError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, SearchError> {
        let mut left = self.unary()?;
        while self.eat_keyword("and") {
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, SearchError> {
        let nested = self.at_keyword("not") || self.peek().map(|(t, _)| t) == Some(&Token::LParen);
        if !nested {
            return self.predicate();
        }
        if self.depth >= MAX_SEARCH_DEPTH {
            return Err(SearchError::at(
                self.position(),
                format!("nested deeper than {MAX_SEARCH_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let expr = if self.eat_keyword("not") {
            self.unary().map(|inner| Expr::Not(Box::new(inner)))
        } else {
            self.next += 1;
            self.or().and_then(|inner| self.expect(&Token::RParen, "`)`").map(|()| inner))
        };
        self.depth -= 1;
        expr
    }

    fn predicate(&mut self) -> Result<Expr, SearchError> {
        let field = match self.bump() {
            Some((Token::Ident(name), position)) if !is_keyword(&name) => Field { name, position },
            _ => {
                self.next = self.next.saturating_sub(1);
                return Err(SearchError::at(
                    self.position(),
                    "expected a field name such as `name` or `labels.region`",
                ));
            }
        };
        if self.eat_keyword("is") {
            let negated = self.eat_keyword("not");
            if !self.eat_keyword("null") {
                return Err(SearchError::at(self.position(), "expected `null` after `is`"));
            }
            return Ok(Expr::IsNull { field, negated });
        }
        let negated = self.eat_keyword("not");
        if self.eat_keyword("in") {
            let values = self.list()?;
            return Ok(Expr::In { field, values, negated });
        }
        if negated {
            return Err(SearchError::at(self.position(), "expected `in` after `not`"));
        }
        let op = self.operator()?;
        let value = self.literal()?;
        Ok(Expr::Compare { field, op, value })
    }

    fn operator(&mut self) -> Result<CompareOp, SearchError> {
        let op = match self.peek() {
            Some((Token::Op(op), _)) => *op,
            Some((Token::Ident(word), _)) if word.eq_ignore_ascii_case("like") => CompareOp::Like,
            Some((Token::Ident(word), _)) if word.eq_ignore_ascii_case("ilike") => CompareOp::ILike,
            _ => {
                return Err(SearchError::at(
                    self.position(),
                    "expected an operator (=, !=, <, <=, >, >=, like, ilike, in, is null)",
                ));
            }
        };
        self.next += 1;
        Ok(op)
    }

    fn list(&mut self) -> Result<Vec<Literal>, SearchError> {
        self.expect(&Token::LBracket, "`[` to open the list")?;
        let mut values = vec![self.literal()?];
        while self.peek().map(|(t, _)| t) == Some(&Token::Comma) {
            self.next += 1;
            values.push(self.literal()?);
        }
        self.expect(&Token::RBracket, "`,` or `]`")?;
        Ok(values)
    }

    fn literal(&mut self) -> Result<Literal, SearchError> {
        let literal = match self.peek() {
            Some((Token::Str(s), _)) => Literal::String(s.clone()),
            Some((Token::Int(i), _)) => Literal::Int(*i),
            Some((Token::Float(f), _)) => Literal::Float(*f),
            Some((Token::Ident(w), _)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some((Token::Ident(w), _)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => {
                return Err(SearchError::at(
                    self.position(),
                    "expected a value: a 'quoted string', a number, true or false",
                ));
            }
        };
        self.next += 1;
        Ok(literal)
    }
}

pub(super) fn is_keyword(word: &str) -> bool {
    ["and", "or", "not", "in", "is", "null", "like", "ilike", "true", "false"]
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
}
