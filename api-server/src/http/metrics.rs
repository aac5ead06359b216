//! Prometheus metrics served at `/metrics`: request counts and latencies per route pattern (never
//! per concrete path, so cardinality stays bounded), and fleet gauges read at scrape time.

use std::time::{Duration, Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use hyperfleet_api_model::Phase;

use super::AppState;
use crate::{kinds::Kind, store::Store};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    path: String,
    code: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    path: String,
}

/// The scope of a rate-limited request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    /// `read`, `write` or `status`.
    pub scope: &'static str,
}

/// Request metrics.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RouteLabels, Histogram>,
    /// Requests refused by the rate limits, by scope.
    pub rate_limited: Family<ScopeLabels, Counter>,
}

impl HttpMetrics {
    /// Creates the metrics and registers them under `hyperfleet_api_`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
            rate_limited: Family::default(),
        };
        let api = registry.sub_registry_with_prefix("hyperfleet_api");
        api.register("requests", "HTTP requests by method, route and status code", metrics.requests.clone());
        api.register(
            "request_duration_seconds",
            "HTTP request latency by method and route",
            metrics.duration.clone(),
        );
        api.register(
            "rate_limited",
            "Requests refused by the per-caller rate limits",
            metrics.rate_limited.clone(),
        );
        metrics
    }
}

/// Route-level middleware recording every matched request.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    tracing::Span::current().record("http.route", path.as_str());
    let started = Instant::now();
    let response = next.run(request).await;
    let code = response.status().as_u16();
    let metrics = &state.metrics;
    metrics
        .duration
        .get_or_create(&RouteLabels { method: method.clone(), path: path.clone() })
        .observe(started.elapsed().as_secs_f64());
    metrics.requests.get_or_create(&RequestLabels { method, path, code }).inc();
    response
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

/// Gauges describing the fleet, refreshed from the database on every scrape.
#[derive(Debug, Clone)]
pub struct FleetMetrics {
    clusters: Family<PhaseLabels, Gauge>,
    nodepools: Family<PhaseLabels, Gauge>,
    pending: Family<KindLabels, Gauge>,
    stuck: Family<KindLabels, Gauge>,
    stuck_deleting: Family<KindLabels, Gauge>,
    stuck_after: Duration,
}

impl FleetMetrics {
    /// Creates the gauges and registers them under `hyperfleet_api_`.
    pub fn register(registry: &mut Registry, stuck_after: Duration) -> Self {
        let metrics = Self {
            clusters: Family::default(),
            nodepools: Family::default(),
            pending: Family::default(),
            stuck: Family::default(),
            stuck_deleting: Family::default(),
            stuck_after,
        };
        let api = registry.sub_registry_with_prefix("hyperfleet_api");
        api.register("clusters_total", "Clusters by phase", metrics.clusters.clone());
        api.register("nodepools_total", "Node pools by phase", metrics.nodepools.clone());
        api.register(
            "resources_pending_reconciliation",
            "Resources whose Reconciled condition is False",
            metrics.pending.clone(),
        );
        api.register(
            "resources_stuck_reconciliation",
            "Resources whose Reconciled condition has been False for longer than the stuck threshold",
            metrics.stuck.clone(),
        );
        api.register(
            "resources_stuck_deleting",
            "Resources being deleted for longer than the stuck threshold (e.g. no Sentinel shard covers them)",
            metrics.stuck_deleting.clone(),
        );
        metrics
    }

    /// Reads the counts; on a database failure the gauges keep their last values.
    pub async fn refresh(&self, store: &Store) {
        let counts = match store.fleet_counts(self.stuck_after).await {
            Ok(counts) => counts,
            Err(err) => {
                tracing::warn!(error = %err, "cannot refresh fleet metrics");
                return;
            }
        };
        for family in [&self.clusters, &self.nodepools] {
            family.clear();
            for phase in [Phase::Pending, Phase::Reconciling, Phase::Ready, Phase::Failed, Phase::Deleting] {
                family.get_or_create(&PhaseLabels { phase: phase.as_str().to_owned() }).set(0);
            }
        }
        for (kind, phase, count) in counts.by_phase {
            let family = if kind == Kind::Cluster.as_str() { &self.clusters } else { &self.nodepools };
            family.get_or_create(&PhaseLabels { phase }).set(count);
        }
        self.pending.clear();
        self.stuck.clear();
        self.stuck_deleting.clear();
        for kind in [Kind::Cluster, Kind::NodePool] {
            let labels = KindLabels { kind: kind.as_str().to_owned() };
            let (pending, stuck) =
                counts.backlog.iter().find(|(k, ..)| k == kind.as_str()).map_or((0, 0), |(_, p, s)| (*p, *s));
            self.pending.get_or_create(&labels).set(pending);
            self.stuck.get_or_create(&labels).set(stuck);
            let deleting =
                counts.deleting_stuck.iter().find(|(k, _)| k == kind.as_str()).map_or(0, |(_, n)| *n);
            self.stuck_deleting.get_or_create(&labels).set(deleting);
        }
    }
}
