//! The adapter runtime's metrics (`hyperfleet_adapter_*`), labelled by adapter type and resource
//! type (bounded by the number of AdapterConfigs), outcome, result and error category.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// Which adapter a series is about: its type and the resources it acts on (the cluster and
/// the node pool `validation` adapters are two adapters, with two sets of series).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdapterLabels {
    /// `adapterType`.
    pub adapter: String,
    /// `clusters` or `nodepools`.
    pub resource_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    #[prometheus(flatten)]
    adapter: AdapterLabels,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    #[prometheus(flatten)]
    adapter: AdapterLabels,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    #[prometheus(flatten)]
    adapter: AdapterLabels,
    category: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MaestroLabels {
    #[prometheus(flatten)]
    adapter: AdapterLabels,
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MaestroOutcomeLabels {
    #[prometheus(flatten)]
    call: MaestroLabels,
    outcome: &'static str,
}

/// Every adapter's series; cheap to clone.
#[derive(Debug, Clone)]
pub struct AdapterMetrics {
    consumed: Family<OutcomeLabels, Counter>,
    jobs_created: Family<AdapterLabels, Counter>,
    job_duration: Family<ResultLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    maestro_requests: Family<MaestroOutcomeLabels, Counter>,
    maestro_duration: Family<MaestroLabels, Histogram>,
}

impl Default for AdapterMetrics {
    fn default() -> Self {
        Self {
            consumed: Family::default(),
            jobs_created: Family::default(),
            job_duration: Family::new_with_constructor(|| {
                Histogram::new([1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0])
            }),
            errors: Family::default(),
            maestro_requests: Family::default(),
            maestro_duration: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
        }
    }
}

impl AdapterMetrics {
    /// Creates the metrics and registers them under `hyperfleet_adapter_`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        let registry = registry.sub_registry_with_prefix("hyperfleet_adapter");
        registry.register(
            "events_consumed",
            "Events handled, by outcome (reported, stale, gone, coalesced, retry, rejected)",
            metrics.consumed.clone(),
        );
        registry.register("jobs_created", "Jobs created", metrics.jobs_created.clone());
        registry.register(
            "job_duration_seconds",
            "Run time of finished Jobs, by result",
            metrics.job_duration.clone(),
        );
        registry.register("errors", "Event failures, by category", metrics.errors.clone());
        registry.register(
            "maestro_requests",
            "Maestro calls of the maestro transport, by operation and outcome (ok or an error category)",
            metrics.maestro_requests.clone(),
        );
        registry.register(
            "maestro_request_duration_seconds",
            "Latency of Maestro calls, by operation",
            metrics.maestro_duration.clone(),
        );
        metrics
    }

    /// An event ended with `outcome`.
    pub fn consumed(&self, adapter: &AdapterLabels, outcome: &'static str) {
        self.consumed.get_or_create(&OutcomeLabels { adapter: adapter.clone(), outcome }).inc();
    }

    /// A Job was created.
    pub fn job_created(&self, adapter: &AdapterLabels) {
        self.jobs_created.get_or_create(adapter).inc();
    }

    /// A Job was seen finished for the first time.
    pub fn job_finished(&self, adapter: &AdapterLabels, result: &'static str, seconds: f64) {
        self.job_duration.get_or_create(&ResultLabels { adapter: adapter.clone(), result }).observe(seconds);
    }

    /// An event failed.
    pub fn error(&self, adapter: &AdapterLabels, category: &'static str) {
        self.errors.get_or_create(&ErrorLabels { adapter: adapter.clone(), category }).inc();
    }

    /// A Maestro call (`apply`, `get`, `delete`) ended with `outcome` after `seconds`.
    pub fn maestro_call(
        &self,
        adapter: &AdapterLabels,
        operation: &'static str,
        outcome: &'static str,
        seconds: f64,
    ) {
        let call = MaestroLabels { adapter: adapter.clone(), operation };
        self.maestro_duration.get_or_create(&call).observe(seconds);
        self.maestro_requests.get_or_create(&MaestroOutcomeLabels { call, outcome }).inc();
    }
}
