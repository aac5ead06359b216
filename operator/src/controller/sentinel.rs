//! The SentinelConfig controller: each SentinelConfig gets a Sentinel task at its generation
//! (started, restarted on spec change, stopped on delete or invalid spec), and a status carrying
//! the task's health (Ready/Degraded) and the figures `kubectl get sentinelconfigs` shows.

use std::{sync::Arc, time::Instant};

use futures::{Stream, StreamExt as _};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, Resource, ResourceExt,
    core::DeserializeGuard,
    runtime::{
        Controller, WatchStreamExt as _,
        controller::{self, Action},
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use tokio_util::sync::CancellationToken;

use hyperfleet_crds::{
    conditions::merge,
    v1alpha1::{SentinelConfig, SentinelConfigStatus},
};

use super::{
    Context, Error, error_policy, now,
    status::{announce, apply_status, readiness},
    to_time,
};
use crate::{sentinel::SentinelProgress, workloads::Applied};

/// The controller's name in metrics and logs.
pub const CONTROLLER: &str = "sentinelconfig";

/// A SentinelConfig that may not match the schema (it must not stop the watch).
pub type GuardedSentinel = DeserializeGuard<SentinelConfig>;

/// Re-reads the object, makes its task match it, and writes its status when that changed.
pub async fn reconcile(object: Arc<GuardedSentinel>, context: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let name = object.name_any();
    let namespace = object.namespace().ok_or_else(|| Error::NoNamespace { name: name.clone() })?;
    let generation = object.meta().generation;
    let (applied, previous) = match &object.0 {
        Ok(config) => {
            let applied = context
                .workloads
                .apply_sentinel(&namespace, &name, generation.unwrap_or(0), &config.spec)
                .await;
            (applied, config.status.clone().unwrap_or_default())
        }
        Err(invalid) => {
            context.workloads.remove_sentinel(&namespace, &name).await;
            let message = format!("the object does not match the SentinelConfig schema: {}", invalid.error);
            (Applied::Invalid(vec![message]), SentinelConfigStatus::default())
        }
    };
    let status = sentinel_status(&applied, generation, &previous, &now());
    if status != previous {
        let api = Api::<GuardedSentinel>::namespaced(context.client.clone(), &namespace);
        apply_status(&api, "SentinelConfig", &name, &namespace, &status).await?;
        announce(&context, object.as_ref(), &previous.conditions, &status.conditions).await;
    }
    context.metrics.reconciled(CONTROLLER, started.elapsed());
    Ok(match applied {
        // Nothing to do until the spec changes.
        Applied::Invalid(_) => Action::await_change(),
        Applied::Unresolved(_) | Applied::Running { .. } => Action::requeue(context.status_interval),
    })
}

/// The status for a Sentinel in state `applied` (pure).
pub fn sentinel_status(
    applied: &Applied<SentinelProgress>,
    generation: Option<i64>,
    previous: &SentinelConfigStatus,
    now: &Time,
) -> SentinelConfigStatus {
    let conditions = merge(&previous.conditions, readiness(applied, generation, now));
    let mut status =
        SentinelConfigStatus { observed_generation: generation, conditions, ..Default::default() };
    match applied {
        Applied::Running { progress, shard, .. } => {
            status.shard = Some(shard.clone().unwrap_or_else(|| "(all)".into()));
            status.last_poll_time = progress.last_poll.map(to_time);
            status.resources_in_shard = progress.last_poll.map(|_| progress.in_shard);
            status.resources_pending = progress.last_poll.map(|_| progress.pending);
            status.events_published = Some(i64::try_from(progress.published).unwrap_or(i64::MAX));
            status.last_error.clone_from(&progress.last_error);
        }
        Applied::Invalid(errors) => status.last_error = Some(errors.join("; ")),
        Applied::Unresolved(err) => status.last_error = Some(err.to_string()),
    }
    status
}

/// Runs the controller until `shutdown`: watches SentinelConfigs (in `namespace`, or all),
/// reconciles on every change and whenever a task announces a health change (`changes`), and
/// stops the task of every SentinelConfig that disappears.
pub async fn run(
    context: Arc<Context>,
    namespace: Option<&str>,
    changes: impl Stream<Item = ObjectRef<GuardedSentinel>> + Send + 'static,
    shutdown: CancellationToken,
) {
    let api: Api<GuardedSentinel> = match namespace {
        Some(namespace) => Api::namespaced(context.client.clone(), namespace),
        None => Api::all(context.client.clone()),
    };
    let (reader, writer) = reflector::store();
    // Deletes must trigger too (the default trigger only sees applied objects): the reconcile
    // of a deleted object reports ObjectNotFound, which stops its task. No finalizer needed,
    // since the task holds no state outside this process.
    let objects = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .touched_objects()
        .default_backoff();
    drive(context, objects, reader, changes, shutdown).await;
}

/// The controller loop over a stream of touched objects and the store that mirrors them.
pub async fn drive(
    context: Arc<Context>,
    objects: impl Stream<Item = Result<GuardedSentinel, watcher::Error>> + Send + 'static,
    store: Store<GuardedSentinel>,
    changes: impl Stream<Item = ObjectRef<GuardedSentinel>> + Send + 'static,
    shutdown: CancellationToken,
) {
    Controller::for_stream(objects, store)
        .reconcile_on(changes)
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile, |_, error, context| error_policy::<GuardedSentinel>(CONTROLLER, error, &context), context.clone())
        .for_each(|result| {
            let context = context.clone();
            async move {
                match result {
                    Ok(_) => {}
                    Err(controller::Error::ObjectNotFound(gone)) => {
                        let namespace = gone.namespace.clone().unwrap_or_default();
                        if context.workloads.remove_sentinel(&namespace, &gone.name).await {
                            tracing::info!(namespace, name = %gone.name, "SentinelConfig deleted; its Sentinel stopped");
                        }
                    }
                    Err(err) => tracing::warn!(controller = CONTROLLER, error = %err, "controller error"),
                }
            }
        })
        .await;
}

/// The object a task key (`<namespace>/<name>`) stands for.
pub fn object_ref(key: &str) -> Option<ObjectRef<GuardedSentinel>> {
    let (namespace, name) = key.split_once('/')?;
    Some(ObjectRef::new(name).within(namespace))
}

#[cfg(test)]
mod tests;
