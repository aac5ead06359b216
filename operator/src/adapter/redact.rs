//! Secret values out of sight: an adapter that reads a Secret (or a lookup marked `sensitive`)
//! collects its values here, and everything the event makes that a person could see — the
//! reported conditions and `data`, a failure's message, `adapter test` output — passes through
//! [`Redactor::redact`] first. Values are matched as they are and, for Secret data, decoded
//! from base64, since a template may use either.

use base64::Engine as _;
use serde_json::Value;

use hyperfleet_api_model::StatusReport;

/// What replaces a secret value.
pub const REDACTED: &str = "[redacted]";

/// Shorter values are not redacted: they would blank out ordinary words and numbers (`1`,
/// `true`), and say next to nothing of a secret.
const MIN_LEN: usize = 4;

/// The secret values seen while handling one event.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// Adds the values of `object`: a Secret's `data` (as given and decoded) and `stringData`;
    /// for any other kind every string outside `metadata`.
    pub fn add_object(&mut self, object: &Value) {
        if object["kind"] == "Secret" {
            for value in object["data"].as_object().into_iter().flat_map(|data| data.values()) {
                let Some(encoded) = value.as_str() else { continue };
                self.add(encoded);
                let decoded = base64::engine::general_purpose::STANDARD.decode(encoded);
                if let Some(text) = decoded.ok().and_then(|bytes| String::from_utf8(bytes).ok()) {
                    self.add(&text);
                }
            }
            strings(&object["stringData"], &mut |s| self.add(s));
            return;
        }
        for (key, value) in object.as_object().into_iter().flatten() {
            if key != "metadata" && key != "apiVersion" && key != "kind" {
                strings(value, &mut |s| self.add(s));
            }
        }
    }

    /// Adds the values of `object` when it is a Secret.
    pub fn add_object_if_secret(&mut self, object: &Value) {
        if object["kind"] == "Secret" {
            self.add_object(object);
        }
    }

    fn add(&mut self, value: &str) {
        if value.len() >= MIN_LEN && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_owned());
            // Longest first, so a value that contains another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// Whether there is anything to redact.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret value replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret.as_str()) {
                text = text.replace(secret.as_str(), REDACTED);
            }
        }
        text
    }

    /// Every string in `value`, redacted in place.
    pub fn redact_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = self.redact(s),
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_value(item)),
            Value::Object(fields) => fields.values_mut().for_each(|field| self.redact_value(field)),
            _ => {}
        }
    }

    /// The report's condition reasons and messages, `data` and `metadata`, redacted in place.
    pub fn redact_report(&self, report: &mut StatusReport) {
        if self.is_empty() {
            return;
        }
        for condition in &mut report.conditions {
            for text in [&mut condition.reason, &mut condition.message].into_iter().flatten() {
                *text = self.redact(text);
            }
        }
        for value in [&mut report.data, &mut report.metadata].into_iter().flatten() {
            self.redact_value(value);
        }
    }
}

fn strings(value: &Value, each: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => each(s),
        Value::Array(items) => items.iter().for_each(|item| strings(item, each)),
        Value::Object(fields) => fields.values().for_each(|field| strings(field, each)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_values_are_redacted_as_given_and_decoded_and_nothing_else_is() {
        let mut redactor = Redactor::default();
        // {"auths":{"quay.io":{"auth":"dXNlcjpwYXNz"}}}
        let config = r#"{"auths":{"quay.io":{"auth":"dXNlcjpwYXNz"}}}"#;
        let encoded = base64::engine::general_purpose::STANDARD.encode(config);
        redactor
            .add_object(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull-secret"},
            "data": {".dockerconfigjson": encoded}, "stringData": {"token": "s3cr3t-token"}}));
        let text = format!("copied {encoded} and {config}; token s3cr3t-token; name pull-secret; true");
        assert_eq!(
            redactor.redact(&text),
            "copied [redacted] and [redacted]; token [redacted]; name pull-secret; true"
        );
    }

    #[test]
    fn a_sensitive_object_of_another_kind_hides_everything_but_its_metadata() {
        let mut redactor = Redactor::default();
        redactor.add_object(&json!({"kind": "ConfigMap", "metadata": {"name": "creds"},
            "data": {"password": "hunter22", "port": "5432", "x": "ab"}}));
        let mut report: StatusReport = serde_json::from_value(json!({
            "adapter": "a", "observed_generation": 1,
            "conditions": [{"type": "Available", "status": "False", "reason": "Bad", "message": "hunter22 at creds:5432 ab"}],
            "data": {"seen": ["hunter22"]}
        }))
        .unwrap();
        redactor.redact_report(&mut report);
        assert_eq!(report.conditions[0].message.as_deref(), Some("[redacted] at creds:[redacted] ab"));
        assert_eq!(report.data, Some(json!({"seen": ["[redacted]"]})));
    }
}
