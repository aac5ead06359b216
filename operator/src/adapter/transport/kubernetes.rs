//! The Kubernetes transport: objects in the operator's own cluster, through the API server.
//! Kinds are resolved by discovery (cached); Jobs are created once (AlreadyExists means "made
//! by an earlier delivery" and the existing one is read back); other objects are server-side
//! applied under the operator's field manager.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;
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
        if let Some(found) = self.kinds.lock().ok().and_then(|kinds| kinds.get(&key).cloned()) {
            return Ok(found);
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = kube::discovery::pinned_kind(&self.client, &gvk).await.map_err(classify)?;
        if let Ok(mut kinds) = self.kinds.lock() {
            kinds.insert(key, found.clone());
        }
        Ok(found)
    }

    async fn api(&self, target: &Target) -> Result<Api<DynamicObject>, TransportError> {
        let (resource, capabilities) = self.resolve(&target.api_version, &target.kind).await?;
        Ok(match (&capabilities.scope, &target.namespace) {
            (Scope::Namespaced, Some(namespace)) => {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            (Scope::Namespaced, None) => {
                return Err(TransportError::Terminal(format!(
                    "{} is namespaced: the manifest needs metadata.namespace",
                    target.kind
                )));
            }
            (Scope::Cluster, _) => Api::all_with(self.client.clone(), &resource),
        })
    }
}

fn to_object(manifest: &Value) -> Result<DynamicObject, TransportError> {
    serde_json::from_value(manifest.clone())
        .map_err(|err| TransportError::Terminal(format!("not a Kubernetes object: {err}")))
}

fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or_default()
}

/// Conflicts, throttling and server trouble are transient; refusals and bad input are not.
fn classify(err: kube::Error) -> TransportError {
    match &err {
        kube::Error::Api(status) if status.code == 409 || status.code == 429 || status.code >= 500 => {
            TransportError::Transient(err.to_string())
        }
        kube::Error::Api(_) | kube::Error::SerdeError(_) | kube::Error::Discovery(_) => {
            TransportError::Terminal(err.to_string())
        }
        _ => TransportError::Transient(err.to_string()),
    }
}

fn selector(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn name_of(target: &Target) -> Result<&str, TransportError> {
    match &target.select {
        Select::Name(name) => Ok(name),
        Select::Labels(_) => Err(TransportError::Terminal("a manifest names its object".into())),
    }
}

#[async_trait]
impl ObjectTransport for Kubernetes {
    async fn create(&self, manifest: &Value) -> Result<(Value, bool), TransportError> {
        let target = Target::of(manifest)?;
        let api = self.api(&target).await?;
        match api.create(&PostParams::default(), &to_object(manifest)?).await {
            Ok(created) => Ok((to_value(&created), true)),
            Err(kube::Error::Api(status)) if status.reason == "AlreadyExists" => api
                .get(name_of(&target)?)
                .await
                .map(|existing| (to_value(&existing), false))
                .map_err(classify),
            Err(err) => Err(classify(err)),
        }
    }

    async fn apply(&self, manifest: &Value) -> Result<Value, TransportError> {
        let target = Target::of(manifest)?;
        let api = self.api(&target).await?;
        let params = PatchParams::apply(hyperfleet_crds::FIELD_MANAGER).force();
        api.patch(name_of(&target)?, &params, &Patch::Apply(manifest))
            .await
            .map(|o| to_value(&o))
            .map_err(classify)
    }

    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError> {
        let api = self.api(target).await?;
        match &target.select {
            Select::Name(name) => Ok(api.get_opt(name).await.map_err(classify)?.map(|o| to_value(&o))),
            Select::Labels(labels) => {
                let list =
                    api.list(&ListParams::default().labels(&selector(labels))).await.map_err(classify)?;
                Ok(list.items.iter().map(to_value).max_by_key(generation_of))
            }
        }
    }

    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        let api = self.api(target).await?;
        let params = DeleteParams::background();
        match &target.select {
            Select::Name(name) => match api.delete(name, &params).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
                Err(err) => Err(classify(err)),
            },
            Select::Labels(labels) => {
                // One call; the API answers with what it deleted (or a bare Status).
                let deleted = api
                    .delete_collection(&params, &ListParams::default().labels(&selector(labels)))
                    .await
                    .map_err(classify)?;
                Ok(deleted.left().is_none_or(|list| !list.items.is_empty()))
            }
        }
    }
}

#[cfg(test)]
mod tests;
