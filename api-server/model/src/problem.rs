//! RFC 9457 problem details (`application/problem+json`), the body of every error response.

use serde::{Deserialize, Serialize};

/// Media type of error bodies.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An error response. `code` is stable (`HYPERFLEET-<CATEGORY>-<NNN>`) and is what clients match on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// URI naming the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// Stable machine-readable code, e.g. `HYPERFLEET-VAL-000`.
    pub code: String,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id (`X-Request-ID`), for correlating with server logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// When the error happened (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
    /// Per-field validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON path of the field, e.g. `labels.region` or `name`.
    pub field: String,
    /// The offending value, when it is short enough to echo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The rule that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<Constraint>,
    /// Human-readable explanation.
    pub message: String,
}

/// The kind of rule a field broke: the reference API's enum, so that clients written against it
/// can branch on it. A type mismatch is `format`; a value outside a range is `min` or `max`,
/// whichever bound it crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// A required field is missing or empty.
    Required,
    /// A number below its minimum (or a time before the earliest accepted).
    Min,
    /// A number above its maximum (or a time after the latest accepted).
    Max,
    /// A string shorter than its minimum length.
    MinLength,
    /// A string (or list) longer than its maximum length.
    MaxLength,
    /// A string that does not match its pattern.
    Pattern,
    /// A value that is not one of the allowed ones.
    Enum,
    /// A value of the wrong type or encoding (e.g. not an object, or a NUL character).
    Format,
    /// A value that must be unique appears twice.
    Unique,
    /// A rule this client does not know (a newer server); kept so the rest of the error decodes.
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_use_the_reference_names_and_unknown_ones_still_decode() {
        let names =
            serde_json::to_value([Constraint::MinLength, Constraint::Enum, Constraint::Unique]).unwrap();
        assert_eq!(names, serde_json::json!(["min_length", "enum", "unique"]));
        let newer: FieldError =
            serde_json::from_str(r#"{"field": "x", "constraint": "multiple_of", "message": "m"}"#).unwrap();
        assert_eq!(newer.constraint, Some(Constraint::Other));
    }
}
