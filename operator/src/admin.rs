//! The admin server, on its own port in every mode: `/livez` (the process serves), `/readyz`
//! (start-up finished: clients built, in `run` mode the CRDs checked and the lease manager
//! running; the leader's watches synced; every connected broker answering its health check),
//! `/metrics` (everything in [`OperatorMetrics`]).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
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
    /// Start-up and watch sync.
    pub readiness: Arc<Readiness>,
    /// The brokers whose health readiness includes.
    pub brokers: Arc<BrokerPool>,
}

/// What `/readyz` waits for besides the brokers: start-up, and every watch this replica runs
/// having listed its objects once (only the Lease holder watches; a replica waiting for the
/// Lease is ready to take over once started).
#[derive(Debug, Default)]
pub struct Readiness {
    started: AtomicBool,
    unsynced: AtomicUsize,
}

impl Readiness {
    /// Start-up is done.
    pub fn started(&self) {
        self.started.store(true, Ordering::Relaxed);
    }

    /// A watch that has not synced yet; dropping the guard (synced, or the watch stopped)
    /// counts it off.
    pub fn watch_starting(self: &Arc<Self>) -> Unsynced {
        self.unsynced.fetch_add(1, Ordering::Relaxed);
        Unsynced(self.clone())
    }

    /// Why the replica is not ready, if it is not.
    pub(crate) fn waiting_for(&self) -> Option<&'static str> {
        if !self.started.load(Ordering::Relaxed) {
            Some("starting")
        } else if self.unsynced.load(Ordering::Relaxed) > 0 {
            Some("watches syncing")
        } else {
            None
        }
    }
}

/// One watch not yet synced (see [`Readiness::watch_starting`]).
#[derive(Debug)]
pub struct Unsynced(Arc<Readiness>);

impl Drop for Unsynced {
    fn drop(&mut self) {
        self.0.unsynced.fetch_sub(1, Ordering::Relaxed);
    }
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
    if let Some(waiting) = state.readiness.waiting_for() {
        return (StatusCode::SERVICE_UNAVAILABLE, waiting.into());
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
            readiness: Arc::default(),
            brokers: brokers.clone(),
        };
        assert_eq!(readyz(State(state.clone())).await.0, StatusCode::SERVICE_UNAVAILABLE);
        state.readiness.started();
        let watch = state.readiness.watch_starting();
        let second = state.readiness.watch_starting();
        assert_eq!(
            readyz(State(state.clone())).await,
            (StatusCode::SERVICE_UNAVAILABLE, "watches syncing".into())
        );
        drop(watch);
        assert_eq!(readyz(State(state.clone())).await.0, StatusCode::SERVICE_UNAVAILABLE, "one watch left");
        drop(second);
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
