//! The OLM bundle: generated from the chart (it cannot drift from it: regenerating must give
//! the committed files), with a ClusterServiceVersion OLM accepts the shape of: owned CRDs
//! matching the CRD types, install modes the operator supports, `alm-examples` that are valid
//! resources, and the bundle annotations.

use serde_json::Value;

use hyperfleet_crds::v1alpha1::{AdapterConfig, SentinelConfig};
use hyperfleet_packaging::{bundle, repo_root};

#[test]
fn the_committed_bundle_is_what_the_chart_generates() {
    for (path, generated) in bundle::generate().unwrap() {
        let committed = std::fs::read_to_string(repo_root().join(&path)).unwrap_or_else(|err| {
            panic!("{}: {err}; run `cargo run -p hyperfleet-packaging --bin bundlegen`", path.display())
        });
        assert_eq!(
            committed,
            generated,
            "{} drifted: run `cargo run -p hyperfleet-packaging --bin bundlegen`",
            path.display()
        );
    }
}

fn csv() -> Value {
    let text = std::fs::read_to_string(
        repo_root().join("bundle/manifests/hyperfleet-operator.clusterserviceversion.yaml"),
    )
    .unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[test]
fn the_csv_owns_the_crds_and_says_how_it_installs() {
    let csv = csv();
    assert_eq!(csv["kind"], "ClusterServiceVersion");
    assert_eq!(
        csv["metadata"]["name"],
        format!("hyperfleet-operator.v{}", csv["spec"]["version"].as_str().unwrap())
    );
    let owned: Vec<&str> = csv["spec"]["customresourcedefinitions"]["owned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let crds: Vec<String> = hyperfleet_crds::crds().into_iter().map(|c| c.metadata.name.unwrap()).collect();
    assert_eq!(owned, crds);
    for crd in &crds {
        assert!(
            repo_root().join(format!("bundle/manifests/{crd}.crd.yaml")).exists(),
            "{crd} is not in the bundle"
        );
    }
    let modes: Vec<(&str, bool)> = csv["spec"]["installModes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["type"].as_str().unwrap(), m["supported"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [
            ("OwnNamespace", true),
            ("SingleNamespace", true),
            ("MultiNamespace", true),
            ("AllNamespaces", true)
        ]
    );
    let install = &csv["spec"]["install"]["spec"];
    let container = &install["deployments"][0]["spec"]["template"]["spec"]["containers"][0];
    let watch = container["env"].as_array().unwrap().iter().find(|e| e["name"] == "WATCH_NAMESPACE").unwrap();
    assert_eq!(watch["valueFrom"]["fieldRef"]["fieldPath"], "metadata.annotations['olm.targetNamespaces']");
    assert!(!install["clusterPermissions"][0]["rules"].as_array().unwrap().is_empty());
    assert!(!install["permissions"][0]["rules"].as_array().unwrap().is_empty());
    // Under a MultiNamespace OperatorGroup (operator + Jobs namespace) OLM grants `permissions`
    // in each target namespace: the adapters' Job rights must be among them.
    let permissions = csv["spec"]["install"]["spec"]["permissions"].to_string();
    for needed in ["\"jobs\"", "\"events\"", "\"deletecollection\""] {
        assert!(
            permissions.contains(needed),
            "{needed} missing from the namespaced permissions: {permissions}"
        );
    }
}

#[test]
fn alm_examples_are_valid_resources() {
    let csv = csv();
    let examples: Vec<Value> =
        serde_json::from_str(csv["metadata"]["annotations"]["alm-examples"].as_str().unwrap()).unwrap();
    assert!(!examples.is_empty());
    for example in examples {
        match example["kind"].as_str().unwrap() {
            "SentinelConfig" => {
                serde_json::from_value::<SentinelConfig>(example).unwrap().spec.validate().unwrap()
            }
            "AdapterConfig" => {
                serde_json::from_value::<AdapterConfig>(example).unwrap().spec.validate().unwrap()
            }
            other => panic!("unexpected example kind {other}"),
        }
    }
}

#[test]
fn the_bundle_metadata_names_the_package_and_channel() {
    let text = std::fs::read_to_string(repo_root().join("bundle/metadata/annotations.yaml")).unwrap();
    let annotations: Value = serde_saphyr::from_str(&text).unwrap();
    let annotations = &annotations["annotations"];
    assert_eq!(annotations["operators.operatorframework.io.bundle.mediatype.v1"], "registry+v1");
    assert_eq!(annotations["operators.operatorframework.io.bundle.package.v1"], "hyperfleet-operator");
    let dockerfile = std::fs::read_to_string(repo_root().join("bundle.Dockerfile")).unwrap();
    assert!(dockerfile.contains("COPY bundle/manifests /manifests/"));
}
