//! What the catalog needs around it on the test cluster, and the controllers' part where they
//! are absent: the HostedCluster, NodePool and DNSEndpoint CRDs (minimal stand-ins, installed
//! only when HyperShift or external-dns is not there, saying so, and removed afterwards), the
//! `clusters` namespace, the placement inventory and the source pull secret (the samples, only
//! when none exists). While a test waits, [`Catalog::play_controllers`] writes on the stand-ins'
//! objects the status their controllers would.

use std::time::Duration;

use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace, Secret},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};

use crate::{apply_yaml, eventually, resource_of};

/// HyperShift's namespace for HostedClusters, where the catalog puts its objects.
pub const NAMESPACE: &str = "clusters";
/// The operator's namespace, home of the inventory and the source pull secret.
pub const OPERATOR_NAMESPACE: &str = "hyperfleet";

/// A kind the catalog creates: (group, version, kind, plural).
pub type Kind = (&'static str, &'static str, &'static str, &'static str);

/// The catalog's kinds of other projects.
pub const KINDS: [Kind; 3] = [
    ("hypershift.openshift.io", "v1beta1", "HostedCluster", "hostedclusters"),
    ("hypershift.openshift.io", "v1beta1", "NodePool", "nodepools"),
    ("externaldns.k8s.io", "v1alpha1", "DNSEndpoint", "dnsendpoints"),
];

/// The pull secrets the pullsecret adapter makes.
pub const SECRET: Kind = ("", "v1", "Secret", "secrets");

/// What [`Catalog::prepare`] found missing and made, so that only that is removed.
#[derive(Clone)]
#[allow(missing_debug_implementations)] // kube::Client has no Debug
pub struct Catalog {
    kube: Client,
    standins: Vec<Kind>,
    namespace_created: bool,
    inventory: Vec<String>,
    pull_secret_created: bool,
}

impl Catalog {
    /// Installs what is missing.
    pub async fn prepare(kube: &Client) -> Self {
        let mut catalog = Catalog {
            kube: kube.clone(),
            standins: Vec::new(),
            namespace_created: false,
            inventory: Vec::new(),
            pull_secret_created: false,
        };
        for kind in KINDS {
            if catalog.install_standin(kind).await {
                catalog.standins.push(kind);
            }
        }
        let namespaces: Api<Namespace> = Api::all(kube.clone());
        if namespaces
            .get_opt(NAMESPACE)
            .await
            .unwrap_or_else(|err| panic!("reading namespace {NAMESPACE}: {err}"))
            .is_none()
        {
            let namespace = serde_json::from_value(json!({"metadata": {"name": NAMESPACE}}))
                .unwrap_or_else(|err| panic!("the namespace object: {err}"));
            namespaces
                .create(&PostParams::default(), &namespace)
                .await
                .unwrap_or_else(|err| panic!("creating namespace {NAMESPACE}: {err}"));
            catalog.namespace_created = true;
        }
        let configmaps: Api<ConfigMap> = Api::namespaced(kube.clone(), OPERATOR_NAMESPACE);
        let selector = ListParams::default().labels("hyperfleet.io/management-cluster=true");
        if configmaps
            .list(&selector)
            .await
            .unwrap_or_else(|err| panic!("listing the inventory in {OPERATOR_NAMESPACE}: {err}"))
            .items
            .is_empty()
        {
            eprintln!("e2e: no placement inventory: applying adapters/placement/management-clusters.yaml");
            let sample = include_str!("../../adapters/placement/management-clusters.yaml");
            catalog.inventory =
                apply_yaml(kube, sample, None).await.iter().map(ResourceExt::name_any).collect();
        }
        let secrets: Api<Secret> = Api::namespaced(kube.clone(), OPERATOR_NAMESPACE);
        if secrets
            .get_opt("hyperfleet-pull-secret")
            .await
            .unwrap_or_else(|err| panic!("reading the source pull secret: {err}"))
            .is_none()
        {
            eprintln!("e2e: no source pull secret: applying config/local/pull-secret.yaml");
            apply_yaml(kube, include_str!("../../config/local/pull-secret.yaml"), None).await;
            catalog.pull_secret_created = true;
        }
        catalog
    }

    /// Creates a stand-in CRD of `kind` unless the kind is served; whether it did.
    async fn install_standin(&self, (group, version, kind, plural): Kind) -> bool {
        let crds: Api<CustomResourceDefinition> = Api::all(self.kube.clone());
        let name = format!("{plural}.{group}");
        if crds.get_opt(&name).await.unwrap_or_else(|err| panic!("reading CRD {name}: {err}")).is_some() {
            return false;
        }
        eprintln!(
            "e2e: {kind} is not served: installing a minimal stand-in CRD (the test plays its controller)"
        );
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "labels": {"hyperfleet.io/e2e-standin": "true"}},
            "spec": {"group": group, "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                "versions": [{"name": version, "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
        });
        let crd: CustomResourceDefinition =
            serde_json::from_value(crd).unwrap_or_else(|err| panic!("the stand-in CRD {name}: {err}"));
        crds.create(&PostParams::default(), &crd)
            .await
            .unwrap_or_else(|err| panic!("creating {name}: {err}"));
        eventually(&format!("{name} to be served"), Duration::from_secs(60), || async {
            let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
            kube::discovery::pinned_kind(&self.kube, &gvk).await.ok().map(|_| ())
        })
        .await;
        true
    }

    /// The objects of `kind` the adapters made for the resource `id`.
    pub async fn objects(&self, (group, version, kind, _): Kind, id: &str) -> Vec<DynamicObject> {
        let resource = resource_of(&self.kube, group, version, kind).await;
        let api: Api<DynamicObject> = Api::namespaced_with(self.kube.clone(), NAMESPACE, &resource);
        let selector = ListParams::default().labels(&format!("hyperfleet.io/resource-id={id}"));
        api.list(&selector).await.unwrap_or_else(|err| panic!("listing {kind}s: {err}")).items
    }

    /// Marks the stand-in kinds' objects of resource `id` ready, as their controllers would:
    /// HostedClusters Available, NodePools Ready, DNSEndpoints published.
    pub async fn play_controllers(&self, id: &str) {
        for kind in &self.standins {
            let resource = resource_of(&self.kube, kind.0, kind.1, kind.2).await;
            let api: Api<DynamicObject> = Api::namespaced_with(self.kube.clone(), NAMESPACE, &resource);
            for object in self.objects(*kind, id).await {
                let status = ready_status(kind.2, object.metadata.generation.unwrap_or(1));
                api.patch_status(
                    &object.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"status": status})),
                )
                .await
                .unwrap_or_else(|err| panic!("marking {} {} ready: {err}", kind.2, object.name_any()));
            }
        }
    }

    /// Removes what [`Catalog::prepare`] made.
    pub async fn clean_up(&self) {
        let delete = DeleteParams::default();
        let configmaps: Api<ConfigMap> = Api::namespaced(self.kube.clone(), OPERATOR_NAMESPACE);
        for name in &self.inventory {
            let _ = configmaps.delete(name, &delete).await;
        }
        if self.pull_secret_created {
            let secrets: Api<Secret> = Api::namespaced(self.kube.clone(), OPERATOR_NAMESPACE);
            let _ = secrets.delete("hyperfleet-pull-secret", &delete).await;
        }
        if self.namespace_created {
            let _ = Api::<Namespace>::all(self.kube.clone()).delete(NAMESPACE, &delete).await;
        }
        let crds: Api<CustomResourceDefinition> = Api::all(self.kube.clone());
        for (group, _, _, plural) in &self.standins {
            let _ = crds.delete(&format!("{plural}.{group}"), &delete).await;
        }
    }
}

fn ready_status(kind: &str, generation: i64) -> Value {
    let condition = |type_: &str, status: &str| {
        json!({"type": type_, "status": status, "reason": "AsExpected",
        "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"})
    };
    match kind {
        "HostedCluster" => {
            json!({"conditions": [condition("Available", "True"), condition("Degraded", "False")]})
        }
        "NodePool" => json!({"conditions": [condition("Ready", "True")]}),
        _ => json!({"observedGeneration": generation}),
    }
}
