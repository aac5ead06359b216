//! The Kubernetes transport: objects in the operator's own cluster, through the API server.
//! Kinds are resolved by discovery (cached); Jobs are created once (AlreadyExists means "made
//! by an earlier delivery" and the existing one is read back); other objects are server-side
//! applied under the operator's field manager.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
    core::GroupVersionKind,
    discovery::{ApiCapabilities, Scope},
};
use serde_json::Value;

use super::{ObjectTransport, Select, Target, TransportError, generation_of};

/// Discovered kinds by (apiVersion, kind).
type KindCache = std::sync::Arc<Mutex<HashMap<(String, String), (ApiResource, ApiCapabilities)>>>;

/// Objects in the cluster `client` talks to.
#[derive(Clone)]
pub struct Kubernetes {
    client: Client,
    kinds: KindCache,
}

impl std::fmt::Debug for Kubernetes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kubernetes")
    }
}

impl Kubernetes {
    /// A transport over `client`.
    pub fn new(client: Client) -> Self {
        Self { client, kinds: Default::default() }
    }

    async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, ApiCapabilities), TransportError> {
        let key = (api_version.to_owned(), kind.to_owned());
        let cached = self.kinds.lock().unwrap_or_else(PoisonError::into_inner).get(&key).cloned();
        if let Some(found) = cached {
            return Ok(found);
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = kube::discovery::pinned_kind(&self.client, &gvk).await.map_err(|source| {
            TransportError::Kube { operation: "discover", target: format!("{api_version} {kind}"), source }
        })?;
        self.kinds.lock().unwrap_or_else(PoisonError::into_inner).insert(key, found.clone());
        Ok(found)
    }

    async fn api(&self, target: &Target) -> Result<Api<DynamicObject>, TransportError> {
        let (resource, capabilities) = self.resolve(&target.api_version, &target.kind).await?;
        Ok(match (&capabilities.scope, &target.namespace) {
            (Scope::Namespaced, Some(namespace)) => {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            (Scope::Namespaced, None) => {
                return Err(TransportError::Manifest(format!(
                    "{} is namespaced: the manifest needs metadata.namespace",
                    target.kind
                )));
            }
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &resource),
        })
    }
}

fn to_object(manifest: &Value) -> Result<DynamicObject, TransportError> {
    serde_json::from_value(manifest.clone()).map_err(TransportError::Decode)
}

fn to_value(object: &DynamicObject) -> Result<Value, TransportError> {
    serde_json::to_value(object).map_err(TransportError::Decode)
}

/// The error of `operation` on `target`.
fn failed(operation: &'static str, target: &Target) -> impl FnOnce(kube::Error) -> TransportError {
    let target = target.to_string();
    move |source| TransportError::Kube { operation, target, source }
}

fn selector(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn name_of(target: &Target) -> Result<&str, TransportError> {
    match &target.select {
        Select::Name(name) => Ok(name),
        Select::Labels(_) => Err(TransportError::Manifest("a manifest names its object".into())),
    }
}

#[async_trait]
impl ObjectTransport for Kubernetes {
    /// A watch of the selected objects (changes after the initial listing; re-listed and
    /// resumed with kube's backoff when the watch breaks).
    async fn changes(
        self: std::sync::Arc<Self>,
        target: Target,
    ) -> Result<Option<futures::stream::BoxStream<'static, Value>>, TransportError> {
        use futures::StreamExt as _;
        use kube::runtime::{WatchStreamExt as _, watcher};
        let Select::Labels(labels) = &target.select else { return Ok(None) };
        let selector = selector(labels);
        let api = self.api(&target).await?;
        let watched = target.to_string();
        let stream = watcher(api, watcher::Config::default().labels(&selector)).default_backoff().filter_map(
            move |event| {
                let watched = watched.clone();
                async move {
                    match event {
                        Ok(watcher::Event::Apply(object)) => serde_json::to_value(object).ok(),
                        Ok(_) => None,
                        Err(err) => {
                            // kube's backoff spaces these out (up to half a minute apart).
                            tracing::warn!(watched = %watched, error = %err, "the watch broke; it resumes");
                            None
                        }
                    }
                }
            },
        );
        Ok(Some(stream.boxed()))
    }

    #[tracing::instrument(name = "kube.create", skip_all)]
    async fn create(&self, manifest: &Value) -> Result<(Value, bool), TransportError> {
        let target = Target::of(manifest)?;
        let api = self.api(&target).await?;
        match api.create(&PostParams::default(), &to_object(manifest)?).await {
            Ok(created) => Ok((to_value(&created)?, true)),
            Err(kube::Error::Api(status)) if status.reason == "AlreadyExists" => {
                let existing = api.get(name_of(&target)?).await.map_err(failed("get", &target))?;
                Ok((to_value(&existing)?, false))
            }
            Err(err) => Err(failed("create", &target)(err)),
        }
    }

    #[tracing::instrument(name = "kube.apply", skip_all)]
    async fn apply(&self, manifest: &Value) -> Result<Value, TransportError> {
        let target = Target::of(manifest)?;
        let api = self.api(&target).await?;
        let params = PatchParams::apply(hyperfleet_crds::FIELD_MANAGER).force();
        let applied = api
            .patch(name_of(&target)?, &params, &Patch::Apply(manifest))
            .await
            .map_err(failed("apply", &target))?;
        to_value(&applied)
    }

    #[tracing::instrument(name = "kube.find", skip_all)]
    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError> {
        match &target.select {
            Select::Name(name) => {
                let api = self.api(target).await?;
                api.get_opt(name).await.map_err(failed("get", target))?.map(|o| to_value(&o)).transpose()
            }
            Select::Labels(_) => Ok(self.list(target).await?.into_iter().max_by_key(generation_of)),
        }
    }

    #[tracing::instrument(name = "kube.list", skip_all)]
    async fn list(&self, target: &Target) -> Result<Vec<Value>, TransportError> {
        let api = self.api(target).await?;
        let mut params = ListParams::default();
        match &target.select {
            Select::Labels(labels) => params = params.labels(&selector(labels)),
            Select::Name(name) => params = params.fields(&format!("metadata.name={name}")),
        }
        let mut list = api.list(&params).await.map_err(failed("list", target))?;
        list.items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        list.items.iter().map(to_value).collect()
    }

    #[tracing::instrument(name = "kube.delete", skip_all)]
    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        let api = self.api(target).await?;
        let params = DeleteParams::background();
        match &target.select {
            Select::Name(name) => match api.delete(name, &params).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
                Err(err) => Err(failed("delete", target)(err)),
            },
            Select::Labels(labels) => {
                // One call; the API answers with what it deleted (or a bare Status).
                let deleted = api
                    .delete_collection(&params, &ListParams::default().labels(&selector(labels)))
                    .await
                    .map_err(failed("delete", target))?;
                Ok(deleted.left().is_none_or(|list| !list.items.is_empty()))
            }
        }
    }

    #[tracing::instrument(name = "kube.warnings", skip_all)]
    async fn warnings(&self, target: &Target) -> Result<Vec<String>, TransportError> {
        let (Some(namespace), Select::Name(name)) = (&target.namespace, &target.select) else {
            return Ok(Vec::new());
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), namespace);
        let fields = format!("involvedObject.kind={},involvedObject.name={name},type=Warning", target.kind);
        let list = events
            .list(&ListParams::default().fields(&fields))
            .await
            .map_err(failed("list events of", target))?;
        let mut refusals: Vec<&Event> =
            list.items.iter().filter(|event| event.reason.as_deref() == Some("FailedCreate")).collect();
        refusals.sort_by_key(|event| event.last_timestamp.as_ref().map(|t| t.0));
        Ok(refusals.into_iter().filter_map(|event| event.message.clone()).collect())
    }

    #[tracing::instrument(name = "kube.termination_message", skip_all)]
    async fn termination_message(&self, job: &Target) -> Result<Option<String>, TransportError> {
        let (Some(namespace), Select::Name(name)) = (&job.namespace, &job.select) else {
            return Ok(None);
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        // The Job controller labels its pods with the Job's name (`job-name`, on every version).
        let list = pods
            .list(&ListParams::default().labels(&format!("job-name={name}")))
            .await
            .map_err(failed("list pods of", job))?;
        let mut finished: Vec<(&Pod, String)> =
            list.items.iter().filter_map(|pod| Some((pod, terminated_message(pod)?))).collect();
        finished.sort_by_key(|(pod, _)| pod.metadata.creation_timestamp.as_ref().map(|t| t.0));
        Ok(finished.pop().map(|(_, message)| message))
    }
}

/// The first non-empty termination message among a pod's containers.
fn terminated_message(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses
        .iter()
        .filter_map(|status| status.state.as_ref()?.terminated.as_ref()?.message.as_deref())
        .map(str::trim)
        .find(|message| !message.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests;
