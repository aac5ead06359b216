//! CEL for the expressions users write in custom resources (a SentinelConfig's `messageDecision`
//! and `messageData`, an AdapterConfig's preconditions, params and status rules). Expressions are
//! compiled once when the resource is validated, so a typo becomes an `InvalidConfig` condition
//! instead of a runtime failure, and evaluated per event against JSON variables.
//!
//! The `cel` crate changes its API in every minor release; this module is the only place that
//! touches it.

mod limits;

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, LazyLock},
};

use cel::{Context, Env, Program, Value, objects::Key};

use chrono::{DateTime, Utc};
pub use limits::{MAX_DEPTH, MAX_SOURCE_LEN};

/// A CEL failure, with the expression it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CelError {
    /// The expression does not parse.
    #[error("invalid CEL expression `{expression}`: {message}")]
    Compile {
        /// The expression's text.
        expression: String,
        /// What the parser said.
        message: String,
    },
    /// Evaluation failed (a missing field, a type mismatch).
    #[error("CEL expression `{expression}` failed: {message}")]
    Evaluate {
        /// The expression's text.
        expression: String,
        /// What went wrong.
        message: String,
    },
    /// The result is not of the type the caller needs.
    #[error("CEL expression `{expression}` gave {got}, expected {expected}")]
    Type {
        /// The expression's text.
        expression: String,
        /// The type needed.
        expected: &'static str,
        /// What it gave.
        got: String,
    },
}

/// The environment every expression compiles and runs in, built once: the standard library
/// with the string, list and math extensions.
static ENVIRONMENT: LazyLock<Result<Arc<Env>, String>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    cel::extensions::strings(&mut env).map_err(|err| err.to_string())?;
    cel::extensions::lists(&mut env).map_err(|err| err.to_string())?;
    cel::extensions::math(&mut env).map_err(|err| err.to_string())?;
    Ok(Arc::new(env))
});

fn environment() -> Result<Arc<Env>, String> {
    ENVIRONMENT.clone()
}

/// Variables bound once for several evaluations. Converting the variables (JSON to CEL, then to
/// the interpreter's values) cost more than evaluating: a pass that evaluates its params,
/// preconditions and status rules binds them once per group instead of once per expression.
/// Synchronous use only: evaluate, then drop it before the next `.await`.
pub struct Scope {
    context: Context<'static, 'static>,
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl Scope {
    /// The named JSON variables, bound.
    pub fn new(variables: &[(&str, &serde_json::Value)]) -> Self {
        // Without the environment no expression compiles, so none is evaluated here.
        let env = environment().unwrap_or_else(|_| Arc::new(Env::stdlib()));
        let mut context = Context::with_env(env);
        for (name, value) in variables {
            context.add_variable_from_value(*name, to_cel(value));
        }
        Self { context }
    }

    /// Binds (or rebinds) one variable.
    pub fn set(&mut self, name: &str, value: &serde_json::Value) {
        self.context.add_variable_from_value(name, to_cel(value));
    }

    /// Binds `now` to a CEL timestamp.
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.context.add_variable_from_value("now", Value::Timestamp(now.fixed_offset()));
        self
    }
}

/// A compiled expression.
#[derive(Clone)]
pub struct Expression {
    source: String,
    program: Arc<Program>,
}

impl fmt::Debug for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl Expression {
    /// Compiles `source`, within the [`limits`] on length and depth.
    pub fn compile(source: &str) -> Result<Self, CelError> {
        let compile_error = |message: String| CelError::Compile { expression: excerpt(source), message };
        let env = environment().map_err(compile_error)?;
        let program = limits::parse_bounded(&env, source).map_err(compile_error)?;
        Ok(Self { source: source.to_owned(), program: Arc::new(program) })
    }

    /// The expression's text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates with the named JSON variables; the result as JSON.
    pub fn evaluate(&self, variables: &[(&str, &serde_json::Value)]) -> Result<serde_json::Value, CelError> {
        self.evaluate_in(&Scope::new(variables))
    }

    /// Evaluates an expression that must give a boolean.
    pub fn evaluate_bool(&self, variables: &[(&str, &serde_json::Value)]) -> Result<bool, CelError> {
        self.evaluate_bool_in(&Scope::new(variables))
    }

    /// Like [`Expression::evaluate_bool`], with `now` bound to a CEL timestamp when given.
    pub fn evaluate_bool_at(
        &self,
        variables: &[(&str, &serde_json::Value)],
        now: Option<DateTime<Utc>>,
    ) -> Result<bool, CelError> {
        let scope = Scope::new(variables);
        self.evaluate_bool_in(&match now {
            Some(now) => scope.at(now),
            None => scope,
        })
    }

    /// Evaluates over bound variables; the result as JSON.
    pub fn evaluate_in(&self, scope: &Scope) -> Result<serde_json::Value, CelError> {
        let value = self.evaluate_value(scope)?;
        value.json().map_err(|err| self.evaluate_error(err.to_string()))
    }

    /// Evaluates over bound variables an expression that must give a boolean.
    pub fn evaluate_bool_in(&self, scope: &Scope) -> Result<bool, CelError> {
        match self.evaluate_value(scope)? {
            Value::Bool(result) => Ok(result),
            other => Err(CelError::Type {
                expression: self.source.clone(),
                expected: "a bool",
                got: format!("{:?}", other.type_of()),
            }),
        }
    }

    fn evaluate_value(&self, scope: &Scope) -> Result<Value, CelError> {
        self.program.execute(&scope.context).map_err(|err| self.evaluate_error(err.to_string()))
    }

    fn evaluate_error(&self, message: String) -> CelError {
        CelError::Evaluate { expression: self.source.clone(), message }
    }
}

/// The start of `source`, for error messages (a rejected expression may be kilobytes long).
fn excerpt(source: &str) -> String {
    const SHOWN: usize = 120;
    match source.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("{}…", &source[..end]),
        None => source.to_owned(),
    }
}

/// JSON to CEL with integers as `int`: the crate's own conversion makes non-negative integers
/// `uint`, and then `resource.generation + 1` fails because CEL does not mix `uint` and `int`.
pub fn to_cel(value: &serde_json::Value) -> Value {
    match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(Arc::new(s.clone())),
        serde_json::Value::Array(items) => Value::List(Arc::new(items.iter().map(to_cel).collect())),
        serde_json::Value::Object(fields) => {
            let map: HashMap<Key, Value> =
                fields.iter().map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            Value::Map(map.into())
        }
    }
}

#[cfg(test)]
mod tests;
