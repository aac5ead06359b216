//! The reconcile driver both controllers share, over the [`Managed`] trait: read the (possibly
//! malformed) object, compete for its Lease, hand it to the workloads (validate -> resolve ->
//! ensure the task), and on the Lease's holder keep its finalizer, build the status,
//! server-side apply it when it changed, announce Ready transitions as Events; and the
//! controller loop that also stops the task of every object that disappears.

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
    Context, Error, error_policy, finalizer, now,
    status::{StatusWrite, announce, apply_status},
};
use crate::{
    leader::{ClaimKey, Role},
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
    /// What its Lease gives the holder.
    const ROLE: Role;
    /// The status type.
    type Status: Clone + Default + PartialEq + Serialize + Send + Sync + 'static;
    /// The task's progress figures.
    type Progress: Send + 'static;

    /// The object's current status.
    fn current_status(&self) -> Self::Status;
    /// The status conditions of a status.
    fn conditions(status: &Self::Status) -> &[Condition];
    /// Makes the object's task match it; `holds` says whether this replica holds its Lease.
    fn apply(
        &self,
        workloads: &Workloads,
        namespace: &str,
        name: &str,
        holds: &(dyn Fn() -> bool + Sync),
    ) -> impl Future<Output = Applied<Self::Progress>> + Send;
    /// Stops the task of a vanished or malformed object; whether one ran.
    fn remove(workloads: &Workloads, namespace: &str, name: &str) -> impl Future<Output = bool> + Send;
    /// The status for a task in state `applied` (pure), in the deployment `replicas`.
    fn status(
        applied: &Applied<Self::Progress>,
        generation: Option<i64>,
        previous: &Self::Status,
        now: &Time,
        replicas: &Replicas,
    ) -> Self::Status;
    /// The finalizer the object must carry (none by default).
    fn finalizer(&self) -> Option<&'static str> {
        None
    }
    /// Cleans up what the finalizer guards (its task has stopped).
    fn clean_up(
        &self,
        _workloads: &Workloads,
        _namespace: &str,
    ) -> impl Future<Output = Result<(), crate::resolve::ResolveError>> + Send {
        async { Ok(()) }
    }
}

/// The deployment around this replica, for one object's status.
#[derive(Debug, Clone, Default)]
pub struct Replicas {
    /// This replica's identity (it holds the object's Lease); none when it runs every CR.
    pub this: Option<String>,
    /// The other live replicas' adapter figures, added up.
    pub figures: crate::leader::members::AdapterFigures,
    /// How many other live replicas run its consumer.
    pub consumers: usize,
}

/// Re-reads the object, makes its task match it, and, on the replica holding its Lease,
/// keeps its finalizer and writes its status when that changed.
pub async fn reconcile<K: Managed>(
    object: Arc<DeserializeGuard<K>>,
    context: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let name = object.name_any();
    let namespace = object.namespace().ok_or_else(|| Error::NoNamespace { name: name.clone() })?;
    let claim = ClaimKey { role: K::ROLE, key: TaskKey::new(&namespace, &name) };
    if let Ok(valid) = &object.0
        && valid.meta().deletion_timestamp.is_some()
    {
        return finalizer::deleted(valid, &context, &claim).await;
    }
    context.want(&claim);
    let generation = object.meta().generation;
    let (applied, previous) = match &object.0 {
        Ok(valid) => {
            let holds = || context.holds(&claim);
            (valid.apply(&context.workloads, &namespace, &name, &holds).await, valid.current_status())
        }
        Err(invalid) => {
            K::remove(&context.workloads, &namespace, &name).await;
            let message = format!("the object does not match the {} schema: {}", K::KIND, invalid.error);
            (Applied::Invalid(vec![message]), K::Status::default())
        }
    };
    // The status and the finalizer are the holder's; a won Lease re-triggers this reconcile.
    if !context.holds(&claim) {
        context.metrics.reconciled(K::CONTROLLER, started.elapsed());
        return Ok(Action::await_change());
    }
    if let Ok(valid) = &object.0 {
        let running = matches!(applied, Applied::Running { .. });
        finalizer::keep(valid, &context, (&name, &namespace), running).await?;
    }
    let status = K::status(&applied, generation, &previous, &now(), &context.replicas(&claim.key));
    if status != previous {
        let api = Api::<DeserializeGuard<K>>::namespaced(context.client.clone(), &namespace);
        let how = if object.0.is_ok() { StatusWrite::Apply } else { StatusWrite::Merge };
        apply_status(&api, K::KIND, (&name, &namespace), &status, how).await?;
        announce(&context, object.as_ref(), K::conditions(&previous), K::conditions(&status)).await;
    }
    context.metrics.reconciled(K::CONTROLLER, started.elapsed());
    Ok(match applied {
        // Nothing to do until the spec changes.
        Applied::Invalid(_) | Applied::Elsewhere => Action::await_change(),
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
    // of a deleted object reports ObjectNotFound, which stops its task and gives up its Lease.
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
                        let key = TaskKey::new(namespace, gone.name.clone());
                        context.unwant(&ClaimKey { role: K::ROLE, key }).await;
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
