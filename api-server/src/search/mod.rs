//! The `search` query parameter of list routes: parsed into an AST ([`parse`]) and translated
//! into a SQL `WHERE` fragment whose every user-supplied value is a bind parameter ([`sql`]).
//! Sits between the list handlers and the store.

mod parse;
mod sql;

pub use parse::{CompareOp, Expr, Field, Literal, parse};
pub use sql::push_filter;

/// Longest search expression accepted.
pub const MAX_SEARCH_LEN: usize = 4096;

/// Why a search expression was rejected. Always the client's fault (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid search at position {position}: {message}")]
pub struct SearchError {
    /// Byte offset in the expression.
    pub position: usize,
    /// What was expected or what is wrong.
    pub message: String,
}

impl SearchError {
    pub(crate) fn at(position: usize, message: impl Into<String>) -> Self {
        Self { position, message: message.into() }
    }
}

/// Parses a search expression, enforcing the length limit.
pub fn parse_search(input: &str) -> Result<Expr, SearchError> {
    if input.len() > MAX_SEARCH_LEN {
        return Err(SearchError::at(MAX_SEARCH_LEN, format!("longer than {MAX_SEARCH_LEN} bytes")));
    }
    if input.trim().is_empty() {
        return Err(SearchError::at(0, "empty expression"));
    }
    parse(input)
}

#[cfg(test)]
mod tests;
