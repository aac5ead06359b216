//! The HTTP layer: shared state, the router with its middleware stack, and the server loop.
//! `app(state)` is what tests drive; `serve` adds the listener and graceful shutdown.

pub mod auth;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod rate_limit;
pub mod routes;

use std::{future::Future, sync::Arc, time::Duration};

use axum::{Json, Router, http::StatusCode, middleware, routing::get};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
    trace::{DefaultOnResponse, TraceLayer},
};

use self::auth::Authenticator;
use crate::{openapi, store::Store};
use error::ApiError;
use hyperfleet_api_model::BASE_PATH;

/// State every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Database access.
    pub store: Store,
    /// HTTP metrics.
    pub metrics: metrics::HttpMetrics,
    /// Fleet gauges.
    pub fleet: metrics::FleetMetrics,
    /// Registry `/metrics` encodes.
    pub registry: Arc<Registry>,
    /// Token verification; `None` when authentication is off.
    pub auth: Option<Arc<Authenticator>>,
    /// Per-caller rate limits; `None` when off.
    pub limits: Option<Arc<rate_limit::RateLimits>>,
    /// Wakes `GET /changes` requests waiting for a change.
    pub feed: Arc<crate::feed::ChangeFeed>,
}

impl AppState {
    /// Builds the state with a fresh metrics registry; resources count as stuck once
    /// `Reconciled` has been False for `stuck_after`.
    pub fn new(store: Store, stuck_after: Duration) -> Self {
        let mut registry = Registry::default();
        let metrics = metrics::HttpMetrics::register(&mut registry);
        let fleet = metrics::FleetMetrics::register(&mut registry, stuck_after);
        let feed = Arc::default();
        Self { store, metrics, fleet, registry: Arc::new(registry), auth: None, limits: None, feed }
    }

    /// Turns the per-caller rate limits on.
    pub fn with_rate_limits(mut self, settings: rate_limit::RateLimitSettings) -> Self {
        let limits = rate_limit::RateLimits::new(settings, self.metrics.rate_limited.clone());
        self.limits = Some(Arc::new(limits));
        self
    }

    /// Turns authentication on.
    pub fn with_auth(mut self, auth: Authenticator) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }
}

/// How long the server waits for a client.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A whole request (answered 503 past it).
    pub request: Duration,
    /// Between two parts of a request body (a stalled upload is answered 408 past it).
    pub body: Duration,
}

/// The whole application: API routes, health, metrics and the OpenAPI document.
pub fn app(state: AppState, timeouts: Timeouts) -> Router {
    let mut api = routes::router()
        .fallback(|uri: axum::http::Uri| async move { ApiError::RouteNotFound(uri.path().to_owned()) });
    // Layers run outermost last-added: authentication first, so limits know the caller.
    if let Some(limits) = &state.limits {
        api = api.layer(middleware::from_fn_with_state(limits.clone(), rate_limit::limit));
    }
    if let Some(auth) = &state.auth {
        api = api.layer(middleware::from_fn_with_state(auth.clone(), auth::authenticate));
    }
    Router::new()
        .nest(BASE_PATH, api)
        .route(&format!("{BASE_PATH}/openapi"), get(|| async { Json(openapi::document()) }))
        .route("/api/hyperfleet", get(routes::health::api_metadata))
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .fallback(|uri: axum::http::Uri| async move { ApiError::RouteNotFound(uri.path().to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span)
                        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
                )
                .layer(middleware::from_fn(error::render_problems))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeouts.request))
                .layer(middleware::from_fn(run_to_completion))
                .layer(RequestBodyTimeoutLayer::new(timeouts.body)),
        )
        .with_state(state)
}

/// Runs the rest of the request in a task of its own. When a client goes away, hyper drops the
/// request's future; a handler dropped between two statements of a transaction could hand its
/// pooled connection back still inside that transaction (`idle in transaction`, then "there is
/// already a transaction in progress" for the next request on it). Detached, the handler runs
/// to its commit or rollback whatever the client does, and its answer is simply not sent.
async fn run_to_completion(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    // The task carries the request's span, so the handler's logs and spans stay inside it.
    match tokio::spawn(tracing::Instrument::in_current_span(next.run(request))).await {
        Ok(response) => response,
        Err(err) => {
            tracing::error!(error = %err, "request handler failed");
            axum::response::IntoResponse::into_response(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        // Known once routed: `metrics::track` records it.
        http.route = tracing::field::Empty,
        request_id,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    // An incoming `traceparent` (an adapter reporting, a traced client) is this span's parent.
    hyperfleet_telemetry::traces::continue_from(
        &span,
        &hyperfleet_telemetry::traces::HeaderExtractor(request.headers()),
    );
    span
}

/// Serves `app` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The client address keys the rate limits when authentication is off.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
