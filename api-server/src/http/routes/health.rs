//! Liveness, readiness and metrics endpoints (outside the versioned API).

use std::time::Duration;

use axum::{Json, extract::State, http::StatusCode, http::header, response::IntoResponse};
use hyperfleet_api_model::ApiMetadata;
use serde_json::json;

use crate::http::AppState;

/// How long `/readyz` waits for the database.
const DB_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// What this API is: the reference API's metadata document.
#[utoipa::path(get, path = "/api/hyperfleet", tag = "meta", operation_id = "get_api_metadata",
    responses((status = 200, body = ApiMetadata)))]
pub async fn api_metadata() -> Json<ApiMetadata> {
    Json(ApiMetadata {
        id: "hyperfleet".into(),
        kind: "API".into(),
        href: "/api/hyperfleet".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        // Stamped by the image build (`--build-arg`/env at compile time); "unknown" otherwise.
        build_time: option_env!("HYPERFLEET_BUILD_TIME").unwrap_or("unknown").into(),
    })
}

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match tokio::time::timeout(DB_PING_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "not_ready", "reason": "database unreachable"})),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not_ready", "reason": "database ping timed out"})),
        ),
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.fleet.refresh(&state.store).await;
    match hyperfleet_telemetry::render_metrics(&state.registry) {
        Ok(body) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, hyperfleet_telemetry::OPENMETRICS_CONTENT_TYPE)], body)
        }
        Err(err) => {
            tracing::error!(error = %err, "failed to encode metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], String::new())
        }
    }
}
