//! The admin server, on its own port in every mode: `/livez` (the process serves), `/readyz`
//! (start-up finished: clients built, in `run` mode the lease manager running, and every
//! connected broker answering its health check), `/metrics` (everything in [`OperatorMetrics`]).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get};
use tokio_util::sync::CancellationToken;

use crate::{metrics::OperatorMetrics, resolve::BrokerPool};

/// How long `/readyz` waits for a broker's health check.
const BROKER_HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the admin endpoints read.
#[derive(Debug, Clone)]
pub struct AdminState {
    /// The metrics to render.
    pub metrics: Arc<OperatorMetrics>,
    /// Set once start-up is done.
    pub ready: Arc<AtomicBool>,
    /// The brokers whose health readiness includes.
    pub brokers: Arc<BrokerPool>,
}

/// The admin routes.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn readyz(State(state): State<AdminState>) -> (StatusCode, String) {
    if !state.ready.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "starting".into());
    }
    let unhealthy = state.brokers.unhealthy(BROKER_HEALTH_TIMEOUT).await;
    if unhealthy.is_empty() {
        (StatusCode::OK, "ok".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("broker unhealthy: {}", unhealthy.join("; ")))
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

#[cfg(test)]
mod tests {
    use hyperfleet_broker::{BrokerConfig, BrokerMetrics};

    use super::*;

    #[tokio::test]
    async fn readiness_waits_for_start_up_and_names_a_broker_that_does_not_answer() {
        let brokers = Arc::new(BrokerPool::new(BrokerMetrics::default()));
        let state = AdminState {
            metrics: Arc::new(OperatorMetrics::new()),
            ready: Arc::new(AtomicBool::new(false)),
            brokers: brokers.clone(),
        };
        assert_eq!(readyz(State(state.clone())).await.0, StatusCode::SERVICE_UNAVAILABLE);
        state.ready.store(true, Ordering::Relaxed);
        let memory = BrokerConfig::Memory {};
        brokers
            .insert(
                memory.clone(),
                hyperfleet_broker::connect(&memory, BrokerMetrics::default()).await.unwrap(),
            )
            .await;
        assert_eq!(readyz(State(state.clone())).await, (StatusCode::OK, "ok".to_owned()));
        // Nothing listens on port 1: the Pub/Sub client is built, its health check fails.
        let dead =
            BrokerConfig::GcpPubsub { project_id: "p".into(), emulator_host: Some("127.0.0.1:1".into()) };
        brokers
            .insert(dead.clone(), hyperfleet_broker::connect(&dead, BrokerMetrics::default()).await.unwrap())
            .await;
        let (status, body) = readyz(State(state)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("gcp-pubsub"), "{body}");
    }
}
