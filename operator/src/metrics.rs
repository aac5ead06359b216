//! The operator's metrics registry: reconcile counters and durations of the controllers
//! (`hyperfleet_operator_*`, failures labelled by the bounded error category), plus the Sentinel
//! and broker series, all served by the admin server's `/metrics`.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

use hyperfleet_broker::BrokerMetrics;

use crate::{adapter::metrics::AdapterMetrics, sentinel::metrics::SentinelMetrics};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControllerLabels {
    controller: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    controller: &'static str,
    category: &'static str,
}

/// Reconcile runs, failures and durations per controller.
#[derive(Debug, Clone)]
pub struct ReconcileMetrics {
    runs: Family<ControllerLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    duration: Family<ControllerLabels, Histogram>,
}

impl Default for ReconcileMetrics {
    fn default() -> Self {
        Self {
            runs: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
            }),
        }
    }
}

impl ReconcileMetrics {
    /// Records one reconcile of `controller` that took `took`.
    pub fn reconciled(&self, controller: &'static str, took: Duration) {
        let labels = ControllerLabels { controller };
        self.runs.get_or_create(&labels).inc();
        self.duration.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// Records a failed reconcile by error category.
    pub fn failed(&self, controller: &'static str, category: &'static str) {
        self.failures.get_or_create(&FailureLabels { controller, category }).inc();
    }
}

/// Every series the operator exports, and the registry holding them.
#[derive(Debug)]
pub struct OperatorMetrics {
    /// The registry `/metrics` renders.
    pub registry: Registry,
    /// Controller reconciles.
    pub reconcile: ReconcileMetrics,
    /// Sentinel loops.
    pub sentinel: SentinelMetrics,
    /// Adapters.
    pub adapter: AdapterMetrics,
    /// Broker traffic.
    pub broker: BrokerMetrics,
}

impl OperatorMetrics {
    /// Creates and registers everything.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconcile = ReconcileMetrics::default();
        {
            let operator = registry.sub_registry_with_prefix("hyperfleet_operator");
            operator.register("reconciliations", "Reconciles run, by controller", reconcile.runs.clone());
            operator.register(
                "reconcile_failures",
                "Reconciles that failed, by controller and error category",
                reconcile.failures.clone(),
            );
            operator.register(
                "reconcile_duration_seconds",
                "Time of one reconcile, by controller",
                reconcile.duration.clone(),
            );
        }
        let sentinel = SentinelMetrics::register(&mut registry);
        let adapter = AdapterMetrics::register(&mut registry);
        let broker = BrokerMetrics::register(&mut registry);
        Self { registry, reconcile, sentinel, adapter, broker }
    }
}

impl Default for OperatorMetrics {
    fn default() -> Self {
        Self::new()
    }
}
