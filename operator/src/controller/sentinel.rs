//! The SentinelConfig controller: each SentinelConfig gets a Sentinel task at its generation
//! (started, restarted on spec change, stopped on delete or invalid spec), and a status carrying
//! the task's health (Ready/Degraded) and the figures `kubectl get sentinelconfigs` shows.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::core::DeserializeGuard;

use hyperfleet_crds::{
    conditions::merge,
    v1alpha1::{SentinelConfig, SentinelConfigStatus},
};

use super::{
    driver::{Managed, Replicas},
    status::readiness,
    to_time,
};
use crate::{
    leader::Role,
    sentinel::SentinelProgress,
    workloads::{Applied, Workloads},
};

/// A SentinelConfig that may not match the schema (it must not stop the watch).
pub type GuardedSentinel = DeserializeGuard<SentinelConfig>;

impl Managed for SentinelConfig {
    const KIND: &'static str = "SentinelConfig";
    const CONTROLLER: &'static str = "sentinelconfig";
    const ROLE: Role = Role::SentinelConfig;
    type Status = SentinelConfigStatus;
    type Progress = SentinelProgress;

    fn current_status(&self) -> SentinelConfigStatus {
        self.status.clone().unwrap_or_default()
    }

    fn conditions(status: &SentinelConfigStatus) -> &[Condition] {
        &status.conditions
    }

    async fn apply(
        &self,
        workloads: &Workloads,
        namespace: &str,
        name: &str,
        holds: &(dyn Fn() -> bool + Sync),
    ) -> Applied<SentinelProgress> {
        let generation = self.metadata.generation.unwrap_or(0);
        workloads.apply_sentinel_if(namespace, name, generation, &self.spec, holds).await
    }

    async fn remove(workloads: &Workloads, namespace: &str, name: &str) -> bool {
        workloads.remove_sentinel(namespace, name).await
    }

    fn status(
        applied: &Applied<SentinelProgress>,
        generation: Option<i64>,
        previous: &SentinelConfigStatus,
        now: &Time,
        replicas: &Replicas,
    ) -> SentinelConfigStatus {
        sentinel_status(applied, generation, previous, now, replicas)
    }
}

/// The status for a Sentinel in state `applied` (pure).
pub fn sentinel_status(
    applied: &Applied<SentinelProgress>,
    generation: Option<i64>,
    previous: &SentinelConfigStatus,
    now: &Time,
    replicas: &Replicas,
) -> SentinelConfigStatus {
    let conditions = merge(&previous.conditions, readiness(applied, generation, now));
    let mut status =
        SentinelConfigStatus { observed_generation: generation, conditions, ..Default::default() };
    match applied {
        Applied::Running { progress, shard, .. } => {
            status.shard = Some(shard.clone().unwrap_or_else(|| "(all)".into()));
            status.replica.clone_from(&replicas.this);
            status.last_poll_time = progress.last_poll.map(to_time);
            status.resources_in_shard = progress.last_poll.map(|_| progress.in_shard);
            status.resources_pending = progress.last_poll.map(|_| progress.pending);
            status.events_published = Some(i64::try_from(progress.published).unwrap_or(i64::MAX));
            status.last_error.clone_from(&progress.last_error);
        }
        Applied::Invalid(errors) => status.last_error = Some(errors.join("; ")),
        Applied::Unresolved(err) => status.last_error = Some(err.to_string()),
        // Not written here: the holder of its Lease writes it.
        Applied::Elsewhere => {}
    }
    status
}

#[cfg(test)]
mod tests;
