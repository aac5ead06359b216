//! The reconcile driver both controllers share, over the [`Managed`] trait: read the (possibly
//! malformed) object, hand it to the workloads (validate -> resolve -> ensure the task), build
//! the status, server-side apply it when it changed, announce Ready transitions as Events; and
//! the controller loop that also stops the task of every object that disappears.

use std::{future::Future, sync::Arc, time::Instant};

use futures::{Stream, StreamExt as _};
use k8s_openapi::{
    NamespaceResourceScope,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
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
use serde::{Serialize, de::DeserializeOwned};
use tokio_util::sync::CancellationToken;

use super::{
    Context, Error, error_policy, now,
    status::{StatusWrite, announce, apply_status},
};
use crate::{
    tasks::TaskKey,
    workloads::{Applied, Workloads},
};

/// A custom resource the controller manager runs a task for.
pub trait Managed:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// The kind (`SentinelConfig`).
    const KIND: &'static str;
    /// The controller's name in metrics and logs.
    const CONTROLLER: &'static str;
    /// The status type.
    type Status: Clone + Default + PartialEq + Serialize + Send + Sync + 'static;
    /// The task's progress figures.
    type Progress: Send + 'static;

    /// The object's current status.
    fn current_status(&self) -> Self::Status;
    /// The status conditions of a status.
    fn conditions(status: &Self::Status) -> &[Condition];
    /// Makes the object's task match it.
    fn apply(
        &self,
        workloads: &Workloads,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Applied<Self::Progress>> + Send;
    /// Stops the task of a vanished or malformed object; whether one ran.
    fn remove(workloads: &Workloads, namespace: &str, name: &str) -> impl Future<Output = bool> + Send;
    /// The status for a task in state `applied` (pure).
    fn status(
        applied: &Applied<Self::Progress>,
        generation: Option<i64>,
        previous: &Self::Status,
        now: &Time,
    ) -> Self::Status;
}

/// Re-reads the object, makes its task match it, and writes its status when that changed.
pub async fn reconcile<K: Managed>(
    object: Arc<DeserializeGuard<K>>,
    context: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let name = object.name_any();
    let namespace = object.namespace().ok_or_else(|| Error::NoNamespace { name: name.clone() })?;
    let generation = object.meta().generation;
    let (applied, previous) = match &object.0 {
        Ok(valid) => (valid.apply(&context.workloads, &namespace, &name).await, valid.current_status()),
        Err(invalid) => {
            K::remove(&context.workloads, &namespace, &name).await;
            let message = format!("the object does not match the {} schema: {}", K::KIND, invalid.error);
            (Applied::Invalid(vec![message]), K::Status::default())
        }
    };
    let status = K::status(&applied, generation, &previous, &now());
    if status != previous {
        let api = Api::<DeserializeGuard<K>>::namespaced(context.client.clone(), &namespace);
        let how = if object.0.is_ok() { StatusWrite::Apply } else { StatusWrite::Merge };
        apply_status(&api, K::KIND, (&name, &namespace), &status, how).await?;
        announce(&context, object.as_ref(), K::conditions(&previous), K::conditions(&status)).await;
    }
    context.metrics.reconciled(K::CONTROLLER, started.elapsed());
    Ok(match applied {
        // Nothing to do until the spec changes.
        Applied::Invalid(_) => Action::await_change(),
        Applied::Unresolved(_) | Applied::Running { .. } => Action::requeue(context.status_interval),
    })
}

/// Runs the controller of `K` until `shutdown`: watches (in `namespace`, or all), reconciles on
/// every change and whenever a task announces a health change (`changes`).
pub async fn run<K: Managed>(
    context: Arc<Context>,
    namespace: Option<&str>,
    changes: impl Stream<Item = ObjectRef<DeserializeGuard<K>>> + Send + 'static,
    shutdown: CancellationToken,
) {
    let api: Api<DeserializeGuard<K>> = match namespace {
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
    // Not ready until the watch has listed everything once; a stopped watch counts off too.
    let unsynced = context.readiness.watch_starting();
    let synced = reader.clone();
    let sync = async move {
        if synced.wait_until_ready().await.is_ok() {
            drop(unsynced);
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = drive(context, objects, reader, changes, shutdown) => {}
        () = sync => {}
    }
}

/// The controller loop over a stream of touched objects and the store that mirrors them.
pub async fn drive<K: Managed>(
    context: Arc<Context>,
    objects: impl Stream<Item = Result<DeserializeGuard<K>, watcher::Error>> + Send + 'static,
    store: Store<DeserializeGuard<K>>,
    changes: impl Stream<Item = ObjectRef<DeserializeGuard<K>>> + Send + 'static,
    shutdown: CancellationToken,
) {
    Controller::for_stream(objects, store)
        .reconcile_on(changes)
        .graceful_shutdown_on(shutdown.cancelled_owned())
        .run(reconcile::<K>, |_, error, context| error_policy(K::CONTROLLER, error, &context), context.clone())
        .for_each(|result| {
            let context = context.clone();
            async move {
                match result {
                    Ok(_) => {}
                    Err(controller::Error::ObjectNotFound(gone)) => {
                        let namespace = gone.namespace.clone().unwrap_or_default();
                        if K::remove(&context.workloads, &namespace, &gone.name).await {
                            tracing::info!(kind = K::KIND, namespace, name = %gone.name, "deleted; its task stopped");
                        }
                    }
                    Err(err) => tracing::warn!(controller = K::CONTROLLER, error = %err, "controller error"),
                }
            }
        })
        .await;
}

/// The object a task key stands for.
pub fn object_ref<K: Managed>(key: &TaskKey) -> ObjectRef<DeserializeGuard<K>> {
    ObjectRef::new(&key.name).within(&key.namespace)
}
