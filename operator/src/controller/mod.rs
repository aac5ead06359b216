//! The Kubernetes side of `hyperfleet-operator run`: one kube-runtime controller per CRD. Each
//! reconcile is a short driver: read the (possibly malformed) object, hand its spec to
//! [`Workloads`](crate::workloads::Workloads) (validate -> resolve -> ensure the task), build the
//! status from the answer, server-side apply it when it changed, emit an Event on a Ready
//! transition. Task health changes re-trigger the reconcile of their object, so status follows
//! the task; a periodic requeue refreshes the progress figures.

pub mod adapter;
pub mod driver;
pub mod finalizer;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod sentinel;
pub mod status;
pub mod watched;

use std::{sync::Arc, time::Duration};

use kube::runtime::{controller::Action, events::Recorder};

use crate::{
    leader::{ClaimKey, Shares},
    metrics::ReconcileMetrics,
    tasks::TaskKey,
    workloads::Workloads,
};
use driver::Replicas;

/// Wait before retrying a reconcile that failed (status write, Kubernetes API trouble).
const RETRY_AFTER: Duration = Duration::from_secs(15);

/// What every reconcile gets.
pub struct Context {
    /// Kubernetes client.
    pub client: kube::Client,
    /// Publishes Kubernetes Events about our objects.
    pub recorder: Recorder,
    /// The tasks.
    pub workloads: Arc<Workloads>,
    /// Reconcile counters.
    pub metrics: ReconcileMetrics,
    /// How often a healthy object's status figures are refreshed.
    pub status_interval: Duration,
    /// Where watches report that they have synced (`/readyz`).
    pub readiness: Arc<crate::admin::Readiness>,
    /// This replica's share of the CRs' Leases; none when it runs every CR (leader election
    /// off: a single replica).
    pub shares: Option<Arc<Shares>>,
}

impl Context {
    /// Competes for `claim`'s Lease (no-op without shares).
    pub fn want(&self, claim: &ClaimKey) {
        if let Some(shares) = &self.shares {
            shares.want(claim);
        }
    }

    /// Gives up `claim`'s Lease (its CR is gone).
    pub async fn unwant(&self, claim: &ClaimKey) {
        if let Some(shares) = &self.shares {
            shares.unwant(claim).await;
        }
    }

    /// Whether this replica holds `claim`'s Lease (always, without shares).
    pub fn holds(&self, claim: &ClaimKey) -> bool {
        self.shares.as_ref().is_none_or(|shares| shares.holds(claim))
    }

    /// The deployment around this replica, for the status of `key`.
    pub fn replicas(&self, key: &TaskKey) -> Replicas {
        self.shares.as_ref().map(|shares| shares.replicas(key)).unwrap_or_default()
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("status_interval", &self.status_interval).finish_non_exhaustive()
    }
}

/// Why a reconcile failed (the spec's own problems are not errors: they become conditions).
#[derive(Debug, thiserror::Error, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Error {
    /// The object has no namespace (the CRDs are namespaced, so the API never sends one).
    #[error("object {name} has no namespace")]
    NoNamespace {
        /// The object's name.
        name: String,
    },
    /// Adding or removing a finalizer failed.
    #[error("failed to write the finalizers of {namespace}/{name}")]
    Finalizer {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API's error.
        #[source]
        source: kube::Error,
    },
    /// What a finalizer guards could not be cleaned up (retried; the object stays until then).
    #[error("failed to clean up after {namespace}/{name}")]
    CleanUp {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Why.
        #[source]
        source: crate::resolve::ResolveError,
    },
    /// Writing status failed.
    #[error("failed to apply the status of {namespace}/{name}")]
    ApplyStatus {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API's error.
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        self.into()
    }
}

/// Transient failures are retried after a short wait; they are logged and counted here.
pub fn error_policy(controller: &'static str, error: &Error, context: &Context) -> Action {
    tracing::warn!(controller, error = %error, source = ?std::error::Error::source(error), "reconcile failed; retrying");
    context.metrics.failed(controller, error.category());
    Action::requeue(RETRY_AFTER)
}

/// `now`, as Kubernetes stores it (whole seconds), so a re-read status compares equal.
pub fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    to_time(chrono::Utc::now())
}

/// A chrono time as a Kubernetes time (whole seconds).
pub fn to_time(at: chrono::DateTime<chrono::Utc>) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    use k8s_openapi::jiff::Timestamp;
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::from_second(at.timestamp()).unwrap_or(Timestamp::UNIX_EPOCH),
    )
}
