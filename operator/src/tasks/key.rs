//! Which CR a task belongs to: its namespace and name, kept apart (never a `ns/name` string that
//! is split again elsewhere). `Display` writes `namespace/name` for logs and status.

use std::fmt;

/// The CR a task runs for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskKey {
    /// The CR's namespace.
    pub namespace: String,
    /// The CR's name.
    pub name: String,
}

impl TaskKey {
    /// The key of `namespace/name`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for TaskKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_as_namespace_slash_name_and_order_by_namespace_first() {
        let (a, b) = (TaskKey::new("a", "z"), TaskKey::new("b", "a"));
        assert_eq!(a.to_string(), "a/z");
        assert!(a < b);
    }
}
