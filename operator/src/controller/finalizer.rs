//! Finalizers: what deleting a CR must clean up outside Kubernetes (an AdapterConfig's broker
//! subscription, under `deletionPolicy: Delete`). The replica holding the CR's Lease adds the
//! finalizer while the CR lives and, once it is being deleted, cleans up and removes it; every
//! replica stops its own task as soon as it sees the deletion.

use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    core::DeserializeGuard,
    runtime::controller::Action,
};

use super::{Context, Error, driver::Managed};
use crate::leader::ClaimKey;

/// Guards an AdapterConfig's broker subscription (removed with the object).
pub const BROKER_FINALIZER: &str = "hyperfleet.redhat.com/broker-cleanup";

/// Every finalizer the operator manages (others' are left alone).
const OURS: &[&str] = &[BROKER_FINALIZER];

/// Makes the object carry exactly the finalizer of ours its spec asks for; a missing one is
/// added only once its task runs (`running`: what it guards exists), so a CR that never worked
/// (invalid, broker unreachable) is not held on deletion by a clean-up it cannot do.
pub async fn keep<K: Managed>(
    object: &K,
    context: &Context,
    (name, namespace): (&str, &str),
    running: bool,
) -> Result<(), Error> {
    let present = object.finalizers().to_vec();
    let wanted = object.finalizer().filter(|wanted| running || present.iter().any(|f| f == wanted));
    let mut next: Vec<String> = present
        .iter()
        .filter(|f| !OURS.contains(&f.as_str()) || Some(f.as_str()) == wanted)
        .cloned()
        .collect();
    if let Some(wanted) = wanted
        && !next.iter().any(|f| f == wanted)
    {
        next.push(wanted.to_owned());
    }
    if next == present {
        return Ok(());
    }
    write::<K>(object, context, (name, namespace), &next).await
}

/// The object is being deleted: its task stops here; on the Lease's holder, what our
/// finalizer guards is cleaned up and the finalizer removed, so the deletion completes.
pub async fn deleted<K: Managed>(object: &K, context: &Context, claim: &ClaimKey) -> Result<Action, Error> {
    let (name, namespace) = (claim.key.name.as_str(), claim.key.namespace.as_str());
    if K::remove(&context.workloads, namespace, name).await {
        tracing::info!(kind = K::KIND, namespace, name, "being deleted; its task stopped");
    }
    // Someone must hold the Lease until the finalizer is gone.
    context.want(claim);
    let present = object.finalizers().to_vec();
    if !context.holds(claim) || !present.iter().any(|f| OURS.contains(&f.as_str())) {
        return Ok(Action::await_change());
    }
    object.clean_up(&context.workloads, namespace).await.map_err(|source| Error::CleanUp {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    })?;
    let next: Vec<String> = present.into_iter().filter(|f| !OURS.contains(&f.as_str())).collect();
    write::<K>(object, context, (name, namespace), &next).await?;
    tracing::info!(kind = K::KIND, namespace, name, "cleaned up; finalizer removed");
    Ok(Action::await_change())
}

/// Writes the finalizer list, conditional on the version read (a concurrent change conflicts
/// and the reconcile is retried rather than losing someone else's finalizer).
async fn write<K: Managed>(
    object: &K,
    context: &Context,
    (name, namespace): (&str, &str),
    finalizers: &[String],
) -> Result<(), Error> {
    let api = Api::<DeserializeGuard<K>>::namespaced(context.client.clone(), namespace);
    let patch = serde_json::json!({
        "metadata": {"resourceVersion": object.meta().resource_version, "finalizers": finalizers}
    });
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|source| Error::Finalizer { namespace: namespace.to_owned(), name: name.to_owned(), source })
}
