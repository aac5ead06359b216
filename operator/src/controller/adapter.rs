//! The AdapterConfig controller: each AdapterConfig gets an adapter task (a broker consumer) at
//! its generation, and a status with its health and the events it handled.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::DeserializeGuard;

use hyperfleet_crds::{
    conditions::merge,
    v1alpha1::{AdapterConfig, AdapterConfigStatus, DeletionPolicy},
};

use super::{
    driver::{Managed, Replicas},
    finalizer::BROKER_FINALIZER,
    status::readiness,
    to_time,
};
use crate::{
    adapter::AdapterProgress,
    leader::Role,
    resolve::ResolveError,
    tasks::TaskHealth,
    workloads::{Applied, Workloads},
};

/// An AdapterConfig that may not match the schema (it must not stop the watch).
pub type GuardedAdapter = DeserializeGuard<AdapterConfig>;

impl Managed for AdapterConfig {
    const KIND: &'static str = "AdapterConfig";
    const CONTROLLER: &'static str = "adapterconfig";
    const ROLE: Role = Role::AdapterConfig;
    type Status = AdapterConfigStatus;
    type Progress = AdapterProgress;

    fn current_status(&self) -> AdapterConfigStatus {
        self.status.clone().unwrap_or_default()
    }

    fn conditions(status: &AdapterConfigStatus) -> &[Condition] {
        &status.conditions
    }

    async fn apply(
        &self,
        workloads: &Workloads,
        namespace: &str,
        name: &str,
        _holds: &(dyn Fn() -> bool + Sync),
    ) -> Applied<AdapterProgress> {
        let generation = self.metadata.generation.unwrap_or(0);
        // Every replica consumes (competing consumers on one subscription); the Lease only
        // decides who writes the status.
        workloads.apply_adapter(namespace, name, generation, &self.spec).await
    }

    async fn remove(workloads: &Workloads, namespace: &str, name: &str) -> bool {
        workloads.remove_adapter(namespace, name).await
    }

    fn status(
        applied: &Applied<AdapterProgress>,
        generation: Option<i64>,
        previous: &AdapterConfigStatus,
        now: &Time,
        replicas: &Replicas,
    ) -> AdapterConfigStatus {
        adapter_status(applied, generation, previous, now, replicas)
    }

    fn finalizer(&self) -> Option<&'static str> {
        (self.spec.deletion_policy == DeletionPolicy::Delete).then_some(BROKER_FINALIZER)
    }

    async fn clean_up(&self, workloads: &Workloads, namespace: &str) -> Result<(), ResolveError> {
        workloads.remove_subscription(namespace, &self.spec).await?;
        tracing::info!(namespace, subscription = self.spec.subscription(), "broker subscription removed");
        Ok(())
    }
}

/// The status for an adapter in state `applied` (pure).
pub fn adapter_status(
    applied: &Applied<AdapterProgress>,
    generation: Option<i64>,
    previous: &AdapterConfigStatus,
    now: &Time,
    replicas: &Replicas,
) -> AdapterConfigStatus {
    let conditions = merge(&previous.conditions, readiness(applied, generation, now));
    let mut status =
        AdapterConfigStatus { observed_generation: generation, conditions, ..Default::default() };
    match applied {
        Applied::Running { health, progress, .. } => {
            let here = usize::from(matches!(health, TaskHealth::Running | TaskHealth::Degraded(_)));
            let count = |n: u64| Some(i64::try_from(n).unwrap_or(i64::MAX));
            status.consumers = count((here + replicas.consumers) as u64);
            status.events_processed = count(progress.processed + replicas.figures.processed);
            status.events_failed = count(progress.failed + replicas.figures.failed);
            status.last_event_time = progress.last_event.map(to_time);
            status.last_error.clone_from(&progress.last_error);
        }
        Applied::Invalid(errors) => status.last_error = Some(errors.join("; ")),
        Applied::Unresolved(err) => status.last_error = Some(err.to_string()),
        // Adapters run on every replica.
        Applied::Elsewhere => {}
    }
    status
}

#[cfg(test)]
mod tests;
