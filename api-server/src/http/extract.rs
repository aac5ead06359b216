//! Extractors whose rejections are [`ApiError`]s, so malformed bodies and query strings get the
//! same problem+json answers as every other error.

use axum::{
    extract::{FromRequest, FromRequestParts, Query, Request, rejection::JsonRejection},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Identity recorded in `created_by`/`updated_by` when authentication is off.
pub const SYSTEM_IDENTITY: &str = "system@hyperfleet.local";

/// A JSON body; any decoding failure (syntax, type, unknown field) is a 400 naming the problem.
#[derive(Debug)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(body_error(&rejection)),
        }
    }
}

/// What went wrong with a JSON body: too large (413), not JSON (415), not sent in time (408,
/// from the body timeout), or not valid for the route (400).
fn body_error(rejection: &JsonRejection) -> ApiError {
    let text = rejection.body_text();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(text),
        JsonRejection::BytesRejection(_) if timed_out(rejection) => ApiError::BodyTimeout,
        JsonRejection::BytesRejection(_)
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::PayloadTooLarge(text)
        }
        _ => ApiError::MalformedBody(text),
    }
}

/// Whether the body read failed because the body timeout fired.
fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// Query parameters; unknown or mistyped parameters are a 400.
#[derive(Debug)]
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(AppQuery(value)),
            Err(rejection) => Err(ApiError::BadQuery(rejection.body_text())),
        }
    }
}

/// Who is calling. Authentication middleware puts a `Caller` into the request extensions; with
/// authentication off every caller is [`SYSTEM_IDENTITY`].
#[derive(Debug, Clone)]
pub struct Caller(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned().unwrap_or_else(|| Caller(SYSTEM_IDENTITY.to_owned())))
    }
}
