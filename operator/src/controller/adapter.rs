//! The AdapterConfig controller: each AdapterConfig gets an adapter task (a broker consumer) at
//! its generation, and a status with its health and the events it handled.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::DeserializeGuard;

use hyperfleet_crds::{
    conditions::merge,
    v1alpha1::{AdapterConfig, AdapterConfigStatus},
};

use super::{driver::Managed, status::readiness, to_time};
use crate::{
    adapter::AdapterProgress,
    workloads::{Applied, Workloads},
};

/// An AdapterConfig that may not match the schema (it must not stop the watch).
pub type GuardedAdapter = DeserializeGuard<AdapterConfig>;

impl Managed for AdapterConfig {
    const KIND: &'static str = "AdapterConfig";
    const CONTROLLER: &'static str = "adapterconfig";
    type Status = AdapterConfigStatus;
    type Progress = AdapterProgress;

    fn current_status(&self) -> AdapterConfigStatus {
        self.status.clone().unwrap_or_default()
    }

    fn conditions(status: &AdapterConfigStatus) -> &[Condition] {
        &status.conditions
    }

    async fn apply(&self, workloads: &Workloads, namespace: &str, name: &str) -> Applied<AdapterProgress> {
        let generation = self.metadata.generation.unwrap_or(0);
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
    ) -> AdapterConfigStatus {
        adapter_status(applied, generation, previous, now)
    }
}

/// The status for an adapter in state `applied` (pure).
pub fn adapter_status(
    applied: &Applied<AdapterProgress>,
    generation: Option<i64>,
    previous: &AdapterConfigStatus,
    now: &Time,
) -> AdapterConfigStatus {
    let conditions = merge(&previous.conditions, readiness(applied, generation, now));
    let mut status =
        AdapterConfigStatus { observed_generation: generation, conditions, ..Default::default() };
    match applied {
        Applied::Running { progress, .. } => {
            status.events_processed = Some(i64::try_from(progress.processed).unwrap_or(i64::MAX));
            status.events_failed = Some(i64::try_from(progress.failed).unwrap_or(i64::MAX));
            status.last_event_time = progress.last_event.map(to_time);
            status.last_error.clone_from(&progress.last_error);
        }
        Applied::Invalid(errors) => status.last_error = Some(errors.join("; ")),
        Applied::Unresolved(err) => status.last_error = Some(err.to_string()),
    }
    status
}

#[cfg(test)]
mod tests;
