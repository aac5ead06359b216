//! The list `search` language (the reference API's TSL subset) as a type: [`Expr`] is what a
//! client builds (the Sentinel's shard and "possibly due" filters) and renders with `Display`,
//! and what the server parses from the `search` parameter ([`parse_search`]) and turns into SQL.
//! Rendering and parsing round-trip: `parse_search(&expr.to_string()) == Ok(expr)`.

mod display;
mod parse;

pub use parse::parse;

/// Longest search expression accepted.
pub const MAX_SEARCH_LEN: usize = 4096;
/// Deepest nesting of parentheses and `not` accepted (the parser recurses once per level).
pub const MAX_SEARCH_DEPTH: usize = 64;

/// A parsed search expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both sides hold.
    And(Box<Expr>, Box<Expr>),
    /// Either side holds.
    Or(Box<Expr>, Box<Expr>),
    /// The inner expression does not hold.
    Not(Box<Expr>),
    /// `field op literal`.
    Compare {
        /// Left-hand side.
        field: Field,
        /// Operator.
        op: CompareOp,
        /// Right-hand side.
        value: Literal,
    },
    /// `field [not] in [a, b]`.
    In {
        /// Left-hand side.
        field: Field,
        /// The list (never empty).
        values: Vec<Literal>,
        /// `not in`.
        negated: bool,
    },
    /// `field is [not] null`.
    IsNull {
        /// The field.
        field: Field,
        /// `is not null`.
        negated: bool,
    },
}

/// A dotted field name (`name`, `labels.region`, `status.conditions.Reconciled.reason`) and
/// where it starts in the parsed input. Two fields are equal when their names are: the position
/// only serves error messages.
#[derive(Debug, Clone, Eq)]
pub struct Field {
    /// The name as written.
    pub name: String,
    /// Byte offset in the parsed input (0 for a field built in code).
    pub position: usize,
}

impl PartialEq for Field {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Field {
    /// A field built in code.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), position: 0 }
    }

    /// `labels.<key>`.
    pub fn label(key: &str) -> Self {
        Self::new(format!("labels.{key}"))
    }

    /// `status.conditions.<type>` (its status), or `.<field>` of it.
    pub fn condition(condition_type: &str, field: Option<&str>) -> Self {
        match field {
            Some(field) => Self::new(format!("status.conditions.{condition_type}.{field}")),
            None => Self::new(format!("status.conditions.{condition_type}")),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Eq,
    /// `!=` (or `<>`)
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `like` (SQL pattern, case-sensitive)
    Like,
    /// `ilike` (SQL pattern, case-insensitive)
    ILike,
}

/// A literal value on the right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `'text'` (`''` escapes a quote).
    String(String),
    /// An integer.
    Int(i64),
    /// A finite decimal.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
}

impl From<&str> for Literal {
    fn from(value: &str) -> Self {
        Literal::String(value.to_owned())
    }
}

impl From<String> for Literal {
    fn from(value: String) -> Self {
        Literal::String(value)
    }
}

impl Expr {
    /// `field op value`.
    pub fn compare(field: Field, op: CompareOp, value: impl Into<Literal>) -> Self {
        Expr::Compare { field, op, value: value.into() }
    }

    /// `field = value`.
    pub fn eq(field: Field, value: impl Into<Literal>) -> Self {
        Self::compare(field, CompareOp::Eq, value)
    }

    /// `field is [not] null`.
    pub fn is_null(field: Field, negated: bool) -> Self {
        Expr::IsNull { field, negated }
    }

    /// `self and other`.
    pub fn and(self, other: Expr) -> Self {
        Expr::And(Box::new(self), Box::new(other))
    }

    /// `self or other`.
    pub fn or(self, other: Expr) -> Self {
        Expr::Or(Box::new(self), Box::new(other))
    }

    /// Every term joined with `and`; `None` when there is none.
    pub fn all(terms: impl IntoIterator<Item = Expr>) -> Option<Self> {
        terms.into_iter().reduce(Expr::and)
    }
}

/// Why a search expression was rejected. Always the client's fault (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError {
    /// Byte offset in the expression.
    pub position: usize,
    /// What was expected or what is wrong.
    pub message: String,
}

impl std::fmt::Display for SearchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid search at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for SearchError {}

impl SearchError {
    /// An error at byte `position`.
    pub fn at(position: usize, message: impl Into<String>) -> Self {
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
