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
    /// The rule that failed: `required`, `min_length`, `max_length`, `pattern`, `format`, `schema`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// Human-readable explanation.
    pub message: String,
}
