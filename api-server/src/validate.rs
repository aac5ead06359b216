//! Field rules for create and patch bodies: names, Kubernetes label syntax, and the optional
//! per-kind JSON schema of `spec`. Pure functions returning every problem at once, so a client
//! fixes its request in one round trip.

use std::{collections::BTreeMap, sync::LazyLock};

use regex::Regex;

use hyperfleet_api_model::{FieldError, problem::Constraint};
use jsonschema::error::ValidationErrorKind;

use crate::kinds::{Kind, KindSettings};

/// A resource name: a DNS label (lengths per kind: [`Kind::name_len`]). Also written into the
/// OpenAPI document, as every pattern and length here is.
pub const NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A label value (empty, or alphanumeric at both ends), at most [`MAX_LABEL_VALUE_LEN`].
pub const LABEL_VALUE_PATTERN: &str = "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$";
/// Longest label value.
pub const MAX_LABEL_VALUE_LEN: usize = 63;

#[allow(clippy::expect_used)] // constant patterns, checked by the tests
static DNS_LABEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(NAME_PATTERN).expect("valid regex"));
#[allow(clippy::expect_used)]
static LABEL_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$").expect("valid regex"));
#[allow(clippy::expect_used)]
static DNS_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").expect("valid regex")
});

fn error(field: &str, value: &str, constraint: Constraint, message: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        value: Some(value.chars().take(256).collect()),
        constraint: Some(constraint),
        message,
    }
}

/// Checks a resource name: a DNS label within the kind's length limits.
pub fn name(kind: Kind, name: &str, errors: &mut Vec<FieldError>) {
    let len = kind.name_len();
    if name.len() < *len.start() {
        errors.push(error(
            "name",
            name,
            Constraint::MinLength,
            format!("must be at least {} characters", len.start()),
        ));
    } else if name.len() > *len.end() {
        errors.push(error(
            "name",
            name,
            Constraint::MaxLength,
            format!("must be at most {} characters", len.end()),
        ));
    } else if !DNS_LABEL.is_match(name) {
        let message =
            "must consist of lower-case letters, digits and '-', and start and end with a letter or digit";
        errors.push(error("name", name, Constraint::Pattern, message.into()));
    }
}

/// Checks labels against Kubernetes label syntax.
pub fn labels(labels: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    for (key, value) in labels {
        let field = format!("labels.{key}");
        if let Err(message) = label_key(key) {
            errors.push(error(&field, key, Constraint::Pattern, format!("invalid label key: {message}")));
        }
        if value.len() > MAX_LABEL_VALUE_LEN {
            errors.push(error(
                &field,
                value,
                Constraint::MaxLength,
                "label values are at most 63 characters".into(),
            ));
        } else if !value.is_empty() && !LABEL_NAME.is_match(value) {
            let message = "label values use letters, digits, '-', '_' and '.', and start and end with a letter or digit";
            errors.push(error(&field, value, Constraint::Pattern, message.into()));
        }
    }
}

fn label_key(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && (prefix.is_empty() || prefix.len() > 253 || !DNS_SUBDOMAIN.is_match(prefix))
    {
        return Err("the prefix must be a DNS subdomain of at most 253 characters");
    }
    if name.is_empty() || name.len() > 63 {
        return Err("the name part must be 1 to 63 characters");
    }
    if !LABEL_NAME.is_match(name) {
        return Err(
            "the name part uses letters, digits, '-', '_' and '.', and starts and ends with a letter or digit",
        );
    }
    Ok(())
}

/// Checks that `spec` is an object and satisfies the kind's schema, if one is configured.
pub fn spec(settings: &KindSettings, spec: &serde_json::Value, errors: &mut Vec<FieldError>) {
    let shape = match spec {
        serde_json::Value::Null => Some((Constraint::Required, "spec is required")),
        serde_json::Value::Object(_) => None,
        _ => Some((Constraint::Format, "spec must be a JSON object")),
    };
    if let Some((constraint, message)) = shape {
        let (constraint, message) = (Some(constraint), message.to_owned());
        errors.push(FieldError { field: "spec".into(), value: None, constraint, message });
        return;
    }
    if let Some(path) = nul_path(spec, "spec") {
        errors.push(FieldError {
            field: path,
            value: None,
            constraint: Some(Constraint::Format),
            message: "strings cannot contain NUL characters (\\u0000)".into(),
        });
        return;
    }
    let Some(schema) = &settings.spec_schema else {
        return;
    };
    for failure in schema.iter_errors(spec).take(20) {
        let pointer = failure.instance_path().to_string();
        errors.push(FieldError {
            field: format!("spec{}", pointer.replace('/', ".")),
            value: None,
            constraint: Some(schema_constraint(failure.kind())),
            message: failure.to_string(),
        });
    }
}

/// The reference's constraint name for a JSON Schema keyword that failed.
fn schema_constraint(kind: &ValidationErrorKind) -> Constraint {
    use ValidationErrorKind as K;
    match kind {
        K::Required { .. } => Constraint::Required,
        K::Minimum { .. } | K::ExclusiveMinimum { .. } => Constraint::Min,
        K::Maximum { .. } | K::ExclusiveMaximum { .. } => Constraint::Max,
        K::MinLength { .. } | K::MinItems { .. } | K::MinProperties { .. } => Constraint::MinLength,
        K::MaxLength { .. } | K::MaxItems { .. } | K::MaxProperties { .. } => Constraint::MaxLength,
        K::Pattern { .. } => Constraint::Pattern,
        K::Enum { .. } | K::Constant { .. } => Constraint::Enum,
        K::UniqueItems => Constraint::Unique,
        _ => Constraint::Format,
    }
}

/// Path of the first key or string containing NUL, which PostgreSQL's jsonb cannot store.
pub(crate) fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(path.to_owned()),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, item)| nul_path(item, &format!("{path}.{i}")))
        }
        serde_json::Value::Object(map) => map.iter().find_map(|(key, item)| {
            let path = format!("{path}.{key}");
            if key.contains('\0') { Some(path) } else { nul_path(item, &path) }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name_errors(kind: Kind, n: &str) -> Vec<Constraint> {
        let mut errors = Vec::new();
        name(kind, n, &mut errors);
        errors.into_iter().filter_map(|e| e.constraint).collect()
    }

    #[test]
    fn names_follow_dns_label_rules_and_kind_lengths() {
        assert!(name_errors(Kind::Cluster, "prod-eu-1").is_empty());
        assert_eq!(name_errors(Kind::Cluster, "ab"), [Constraint::MinLength]);
        assert_eq!(name_errors(Kind::Cluster, &"a".repeat(54)), [Constraint::MaxLength]);
        assert_eq!(name_errors(Kind::NodePool, "workers-0123456"), [Constraint::Pattern; 0]);
        assert_eq!(name_errors(Kind::NodePool, "workers-01234567"), [Constraint::MaxLength]);
        for bad in ["Prod", "-abc", "abc-", "a_bc", "ab c", "abç"] {
            assert_eq!(name_errors(Kind::Cluster, bad), [Constraint::Pattern], "{bad}");
        }
    }

    #[test]
    fn label_syntax_is_kubernetes_syntax() {
        let ok = [("app", "web"), ("example.com/tier", "gold"), ("a_b.c-d", ""), ("region", "us-east-1")];
        let bad = [
            ("", "x"),
            ("/x", "x"),
            ("Example.com/x", "x"),
            ("x/", "x"),
            ("-x", "x"),
            ("x", "-v"),
            ("x", "v v"),
        ];
        for (k, v) in ok {
            let mut errors = Vec::new();
            labels(&BTreeMap::from([(k.to_owned(), v.to_owned())]), &mut errors);
            assert!(errors.is_empty(), "{k}={v}: {errors:?}");
        }
        for (k, v) in bad {
            let mut errors = Vec::new();
            labels(&BTreeMap::from([(k.to_owned(), v.to_owned())]), &mut errors);
            assert_eq!(errors.len(), 1, "{k}={v}");
        }
        let mut errors = Vec::new();
        labels(&BTreeMap::from([("k".to_owned(), "v".repeat(64))]), &mut errors);
        assert_eq!(errors[0].constraint, Some(Constraint::MaxLength));
    }

    #[test]
    fn spec_schema_failures_point_at_the_field() {
        let schema = serde_json::json!({
            "type": "object", "required": ["region"],
            "properties": {"region": {"type": "string"}, "nodes": {"type": "integer", "minimum": 1}}
        });
        let settings = KindSettings {
            spec_schema: Some(std::sync::Arc::new(jsonschema::validator_for(&schema).unwrap())),
            ..KindSettings::default()
        };
        let mut errors = Vec::new();
        spec(&settings, &serde_json::json!({"region": "eu", "nodes": 0}), &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].field.as_str(), errors[0].constraint), ("spec.nodes", Some(Constraint::Min)));
        errors.clear();
        spec(&settings, &serde_json::json!({"region": "eu", "tags": ["ok", "n\u{0}l"]}), &mut errors);
        assert_eq!(
            (errors[0].field.as_str(), errors[0].constraint),
            ("spec.tags.1", Some(Constraint::Format))
        );
        errors.clear();
        spec(&settings, &serde_json::json!([1]), &mut errors);
        assert_eq!(errors[0].message, "spec must be a JSON object");
    }
}
