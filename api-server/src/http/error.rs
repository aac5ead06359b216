//! `ApiError`, the one error type of the HTTP layer, and its rendering as RFC 9457
//! `application/problem+json`.
//!
//! A handler's error becomes a response carrying a [`ProblemDraft`] extension; the
//! [`render_problems`] middleware then completes it with the request path and request id, logs
//! server-side failures inside the request span, and writes the body. Details of internal errors
//! are logged, never sent.

use axum::{
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use hyperfleet_api_model::{FieldError, Problem, problem::PROBLEM_CONTENT_TYPE};

use super::auth::AuthError;
use crate::{kinds::Kind, search::SearchError, store::StoreError};

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Field validation failed.
    #[error("{detail}")]
    Validation { detail: String, errors: Vec<FieldError> },
    /// A query parameter (search, order, paging) is invalid.
    #[error("{0}")]
    BadQuery(String),
    /// The body is not valid JSON for this route.
    #[error("{0}")]
    MalformedBody(String),
    /// A PATCH that changes nothing it could (no `spec`, no `labels`).
    #[error("{0}")]
    EmptyPatch(String),
    /// The body is larger than the server takes.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The caller is over its rate limit.
    #[error("too many requests: retry in {retry_after} s")]
    RateLimited {
        /// Seconds until the next request is allowed.
        retry_after: u64,
    },
    /// The client stopped sending the body it announced.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// No valid credentials.
    #[error("{detail}")]
    Unauthenticated { code: &'static str, detail: String },
    /// Valid credentials without the needed permission.
    #[error("{0}")]
    Forbidden(String),
    /// No such route.
    #[error("no route for {0}")]
    RouteNotFound(String),
    /// The route exists, the method does not.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// No such resource.
    #[error("{kind} with id '{id}' not found")]
    NotFound { kind: Kind, id: String },
    /// The adapter has not reported on this resource.
    #[error("{0}")]
    NoReport(String),
    /// The name is taken.
    #[error("a {kind} named '{name}' already exists")]
    AlreadyExists { kind: Kind, name: String },
    /// The resource's state forbids the change.
    #[error("{0}")]
    Conflict(String),
    /// A feed cursor older than what the feed keeps: the client must list again.
    #[error("{0}")]
    Gone(String),
    /// The database cannot be reached.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else the store failed with.
    #[error("internal error")]
    Internal(#[source] Box<StoreError>),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Validation { .. } => {
                (StatusCode::BAD_REQUEST, "HYPERFLEET-VAL-000", "Validation failed")
            }
            ApiError::BadQuery(_) => (StatusCode::BAD_REQUEST, "HYPERFLEET-VAL-005", "Bad request"),
            ApiError::MalformedBody(_) => {
                (StatusCode::BAD_REQUEST, "HYPERFLEET-VAL-006", "Malformed request body")
            }
            ApiError::EmptyPatch(_) => (StatusCode::BAD_REQUEST, "HYPERFLEET-VAL-005", "Bad request"),
            ApiError::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "HYPERFLEET-VAL-010", "Payload too large")
            }
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "HYPERFLEET-VAL-011", "Unsupported media type")
            }
            ApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "HYPERFLEET-TMO-001", "Request timeout"),
            ApiError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "HYPERFLEET-LMT-001", "Too many requests")
            }
            ApiError::Unauthenticated { code, .. } => (StatusCode::UNAUTHORIZED, code, "Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "HYPERFLEET-AUZ-001", "Forbidden"),
            ApiError::RouteNotFound(_) => (StatusCode::NOT_FOUND, "HYPERFLEET-NTF-000", "Endpoint not found"),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "HYPERFLEET-MTH-000", "Method not allowed")
            }
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "HYPERFLEET-NTF-001", "Resource not found"),
            ApiError::NoReport(_) => (StatusCode::NOT_FOUND, "HYPERFLEET-NTF-002", "Status not found"),
            ApiError::AlreadyExists { .. } => {
                (StatusCode::CONFLICT, "HYPERFLEET-CNF-001", "Resource already exists")
            }
            ApiError::Conflict(_) => {
                (StatusCode::CONFLICT, "HYPERFLEET-CNF-003", "Conflict with resource state")
            }
            ApiError::Gone(_) => (StatusCode::GONE, "HYPERFLEET-GON-001", "Cursor expired"),
            ApiError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "HYPERFLEET-SVC-001", "Service unavailable")
            }
            ApiError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "HYPERFLEET-INT-001", "Internal error")
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { kind, id } => ApiError::NotFound { kind, id: id.to_string() },
            StoreError::NameTaken { kind, name } => ApiError::AlreadyExists { kind, name },
            StoreError::Deleting { .. } | StoreError::NotDeleting { .. } => {
                ApiError::Conflict(err.to_string())
            }
            StoreError::NoReport { .. } => ApiError::NoReport(err.to_string()),
            StoreError::Rejected(errors) => {
                ApiError::Validation { detail: "invalid status report".into(), errors }
            }
            StoreError::Search(search) => search.into(),
            StoreError::Database(db) if is_unavailable(&db) => ApiError::Unavailable(db),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        let code = match &err {
            AuthError::Missing => "HYPERFLEET-AUT-001",
            AuthError::Invalid(_) => "HYPERFLEET-AUT-002",
            AuthError::Expired => "HYPERFLEET-AUT-003",
            AuthError::Forbidden(_) => return ApiError::Forbidden(err.to_string()),
        };
        ApiError::Unauthenticated { code, detail: err.to_string() }
    }
}

impl From<SearchError> for ApiError {
    fn from(err: SearchError) -> Self {
        ApiError::BadQuery(err.to_string())
    }
}

fn is_unavailable(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed)
        || crate::store::is_connection_error(err)
}

/// The problem a handler failed with, before the middleware knows path and request id.
#[derive(Debug, Clone)]
pub struct ProblemDraft {
    problem: Problem,
    /// Internal error category and chain, logged and never sent.
    cause: Option<(&'static str, String)>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let (detail, errors) = match &self {
            ApiError::Validation { detail, errors } => (detail.clone(), errors.clone()),
            other => (other.to_string(), Vec::new()),
        };
        let cause = match &self {
            ApiError::Unavailable(source) => Some(("database", hyperfleet_telemetry::error_chain(source))),
            ApiError::Internal(source) => {
                Some((source.category(), hyperfleet_telemetry::error_chain(source.as_ref())))
            }
            _ => None,
        };
        let slug = title.to_ascii_lowercase().replace(' ', "-");
        let problem = Problem {
            type_uri: format!("https://api.hyperfleet.io/errors/{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            instance: None,
            trace_id: None,
            timestamp: Some(chrono::Utc::now()),
            errors,
        };
        let mut response = status.into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::RateLimited { retry_after } = &self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response.extensions_mut().insert(ProblemDraft { problem, cause });
        response
    }
}

/// Middleware completing [`ProblemDraft`]s into problem+json bodies.
pub async fn render_problems(request: Request, next: Next) -> Response {
    let instance = request.uri().path().to_owned();
    let trace_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut response = next.run(request).await;
    let Some(ProblemDraft { mut problem, cause }) = response.extensions_mut().remove::<ProblemDraft>() else {
        return response;
    };
    if let Some((category, cause)) = cause {
        tracing::error!(code = %problem.code, category, path = %instance, error = %cause, "request failed");
    }
    problem.instance = Some(instance);
    problem.trace_id = trace_id;
    let body = match serde_json::to_vec(&problem) {
        Ok(body) => body,
        Err(err) => {
            // Strings, numbers and a timestamp: not expected, but never an empty problem body.
            tracing::error!(error = %err, "problem details do not serialize");
            format!(r#"{{"status":{},"code":"{}"}}"#, problem.status, problem.code).into_bytes()
        }
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}
