//! The admin server, on its own port in every mode: `/livez` (the process serves), `/readyz`
//! (start-up finished: clients built, and in `run` mode the lease manager running), `/metrics`
//! (everything in [`OperatorMetrics`]).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get};
use tokio_util::sync::CancellationToken;

use crate::metrics::OperatorMetrics;

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The metrics to render.
    pub metrics: Arc<OperatorMetrics>,
    /// Set once start-up is done.
    pub ready: Arc<AtomicBool>,
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, &'static str) {
    if state.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting")
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    match hyperfleet_telemetry::render_metrics(&state.metrics.registry) {
        Ok(body) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, hyperfleet_telemetry::OPENMETRICS_CONTENT_TYPE)], body)
        }
        Err(err) => {
            tracing::error!(error = %err, "failed to encode metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], String::new())
        }
    }
}

/// Binds `addr` (failing early, with the address in the error, when it is taken).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|err| {
        std::io::Error::new(err.kind(), format!("admin server cannot listen on {addr}: {err}"))
    })
}

/// Serves until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "admin server listening (/livez, /readyz, /metrics)");
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown.cancelled_owned()).await
}
