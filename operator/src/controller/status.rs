//! Status plumbing shared by the controllers: the Ready/Degraded conditions of any workload
//! ([`readiness`]), the server-side apply of `/status` under the operator's field manager, and
//! the Event published when Ready changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::events::{Event, EventType},
};
use serde::{Serialize, de::DeserializeOwned};

use hyperfleet_crds::{
    FIELD_MANAGER,
    conditions::{self, DEGRADED, READY},
};

use super::{Context, Error};
use crate::{tasks::TaskHealth, workloads::Applied};

/// Ready and Degraded for a workload in state `applied` (merge with the old ones afterwards).
pub fn readiness<P>(applied: &Applied<P>, generation: Option<i64>, now: &Time) -> Vec<Condition> {
    use hyperfleet_crds::conditions::{
        REASON_AS_EXPECTED, REASON_ERRORS, REASON_INVALID_CONFIG, REASON_STARTING, REASON_TASK_FAILED,
    };
    let (ready, degraded, reason, message) = match applied {
        Applied::Invalid(errors) => (false, true, REASON_INVALID_CONFIG, errors.join("; ")),
        Applied::Unresolved(err) => (false, true, err.reason(), hyperfleet_telemetry::error_chain(err)),
        Applied::Elsewhere => (false, false, REASON_STARTING, "runs on another replica".to_owned()),
        Applied::Running { health, .. } => match health {
            TaskHealth::Starting => (false, false, REASON_STARTING, "the task is starting".to_owned()),
            TaskHealth::Running => (true, false, REASON_AS_EXPECTED, String::new()),
            TaskHealth::Degraded(message) => (false, true, REASON_ERRORS, message.clone()),
            TaskHealth::Failed(message) => (false, true, REASON_TASK_FAILED, message.clone()),
        },
    };
    vec![
        conditions::condition(READY, ready, reason, &message, generation, now),
        conditions::condition(DEGRADED, degraded, reason, &message, generation, now),
    ]
}

/// How a status is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusWrite {
    /// Server-side apply under the operator's field manager, forcing ownership (only the
    /// operator writes status).
    Apply,
    /// A JSON merge patch: for an object the API server itself can no longer decode (it does
    /// not match the schema), which it refuses to server-side apply to (500, "failed to create
    /// typed live object").
    Merge,
}

/// Writes `status` to `/status` of the object.
pub async fn apply_status<K>(
    api: &Api<K>,
    kind: &str,
    (name, namespace): (&str, &str),
    status: &impl Serialize,
    how: StatusWrite,
) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "status": status,
    });
    let written = match how {
        StatusWrite::Apply => {
            api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await
        }
        StatusWrite::Merge => {
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            api.patch_status(name, &params, &Patch::Merge(&patch)).await
        }
    };
    written.map(|_| ()).map_err(|source| Error::ApplyStatus {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    })
}

/// Publishes an Event when the Ready condition changed between `previous` and `next`: Warning
/// when the new state is Degraded, Normal otherwise. A failed publish is logged, never fatal
/// (Events are best effort).
pub async fn announce<K>(context: &Context, object: &K, previous: &[Condition], next: &[Condition])
where
    K: Resource<DynamicType = ()>,
{
    let Some(ready) = conditions::transition(previous, next, READY) else { return };
    // Warning only for trouble (Degraded): a task starting is a normal transition.
    let degraded = next.iter().any(|c| c.type_ == DEGRADED && c.status == "True");
    let event = Event {
        type_: if degraded { EventType::Warning } else { EventType::Normal },
        reason: ready.reason.clone(),
        note: (!ready.message.is_empty()).then(|| truncate(&ready.message, 1000)),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(err) = context.recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(name = %object.name_any(), error = %err, "failed to publish an event");
    }
}

fn truncate(message: &str, limit: usize) -> String {
    match message.char_indices().nth(limit) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message.to_owned(),
    }
}
