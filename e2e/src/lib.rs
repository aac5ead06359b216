//! Support for the e2e suite: black-box tests against the cluster in `KUBECONFIG`, with the
//! HyperFleet operator deployed there and its API reachable at `HYPERFLEET_API_URL`. Depends
//! only on the contracts (CRD types, API model), never on the operator or API crates.
//!
//! Without `KUBECONFIG` every test prints one line saying why it is skipped and passes; the
//! crate is not a default workspace member, so `cargo test --workspace` does not build it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support code

pub mod catalog;

use std::future::Future;

use hyperfleet_api_model::{CreateResource, Resource};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    discovery::{ApiResource, Discovery},
};

/// What a test talks to.
#[allow(missing_debug_implementations)] // kube::Client has no Debug
pub struct Env {
    /// The cluster.
    pub kube: Client,
    /// The HyperFleet API.
    pub api: hyperfleet_api_model::client::Client,
    /// The operator's admin server (`/metrics`), when `HYPERFLEET_OPERATOR_URL` is set.
    pub operator_url: Option<String>,
}

/// The environment, or `None` (after one line on stderr) when no cluster is configured.
pub async fn env(test: &str) -> Option<Env> {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("e2e {test}: skipped: KUBECONFIG is not set (see e2e/README.md)");
        return None;
    }
    let kube = Client::try_default().await.expect("KUBECONFIG is set but no client can be built from it");
    let url = std::env::var("HYPERFLEET_API_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let api = hyperfleet_api_model::client::Client::new(&url).unwrap();
    Some(Env { kube, api, operator_url: std::env::var("HYPERFLEET_OPERATOR_URL").ok() })
}

/// Runs `test` in a fresh namespace, deleted afterwards whatever happens.
pub async fn with_temp_ns<F, Fut>(client: &Client, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = format!("hf-e2e-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    namespaces.create(&PostParams::default(), &namespace).await.unwrap();
    let outcome = tokio::spawn(test(name.clone()));
    let result = outcome.await;
    let _ = namespaces.delete(&name, &DeleteParams::default()).await;
    if let Err(err) = result {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Creates the cluster `body`, runs `test` with it, and removes it afterwards whatever happens
/// (DELETE, then force-delete), so a failed run leaves no cluster behind.
pub async fn with_cluster<F, Fut>(api: &hyperfleet_api_model::client::Client, body: &CreateResource, test: F)
where
    F: FnOnce(Resource) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let cluster = api.create_cluster(body).await.unwrap_or_else(|err| panic!("creating the cluster: {err}"));
    let result = tokio::spawn(test(cluster.clone())).await;
    if let Err(err) = api.delete_cluster(cluster.id).await
        && !err.is_not_found()
    {
        eprintln!("e2e clean-up: DELETE of cluster {} failed: {err}", cluster.id);
    }
    match api.force_delete(&cluster.href, "e2e clean-up").await {
        Ok(()) => {}
        Err(err) if err.is_not_found() => {}
        Err(err) => eprintln!("e2e clean-up: cluster {} could not be removed: {err}", cluster.id),
    }
    if let Err(err) = result {
        std::panic::resume_unwind(err.into_panic());
    }
}

/// Server-side applies every document of `yaml` (into `namespace` when they are namespaced).
pub async fn apply_yaml(client: &Client, yaml: &str, namespace: Option<&str>) -> Vec<DynamicObject> {
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let mut applied = Vec::new();
    for document in serde_saphyr::from_multiple::<serde_json::Value>(yaml).unwrap() {
        let mut object: DynamicObject = serde_json::from_value(document).unwrap();
        let gvk = object.types.as_ref().map(|t| kube::core::GroupVersionKind::try_from(t).unwrap()).unwrap();
        let (resource, capabilities) =
            discovery.resolve_gvk(&gvk).unwrap_or_else(|| panic!("{gvk:?} is not served"));
        let api: Api<DynamicObject> = match (capabilities.scope, namespace) {
            (kube::discovery::Scope::Namespaced, Some(ns)) => {
                object.metadata.namespace = Some(ns.to_owned());
                Api::namespaced_with(client.clone(), ns, &resource)
            }
            _ => Api::all_with(client.clone(), &resource),
        };
        let params = PatchParams::apply("hyperfleet-e2e").force();
        applied.push(api.patch(&object.name_any(), &params, &Patch::Apply(&object)).await.unwrap());
    }
    applied
}

/// The API resource of a kind, for dynamic calls.
pub async fn resource_of(client: &Client, group: &str, version: &str, kind: &str) -> ApiResource {
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    kube::discovery::pinned_kind(client, &gvk).await.unwrap().0
}

/// Polls `check` until it returns `Some`, at most `timeout` (the workspace's one waiting helper).
pub use hyperfleet_testing::eventually;
