//! The committed CRD YAML is what the code generates, the samples are valid resources, and
//! `kubectl get` shows the columns people look at. Regenerate the YAML with
//! `cargo run -p hyperfleet-crds --bin crdgen -- --out crds`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use std::path::{Path, PathBuf};

use hyperfleet_crds::v1alpha1::{AdapterConfig, SentinelConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

#[test]
fn committed_crds_match_the_code() {
    for crd in hyperfleet_crds::crds() {
        let path = repo().join("crds").join(format!("{}.yaml", crd.spec.names.plural));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == hyperfleet_crds::to_yaml(&crd).unwrap(),
            "{} is stale; run `cargo run -p hyperfleet-crds --bin crdgen -- --out crds`",
            path.display()
        );
    }
}

#[test]
fn kubectl_get_shows_the_shard_columns() {
    let crds = hyperfleet_crds::crds();
    let columns = |i: usize| -> Vec<String> {
        crds[i].spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(
        columns(0),
        [
            "Resource",
            "Shard",
            "Broker",
            "Ready",
            "Pending",
            "Published",
            "Last Poll",
            "Age",
            "Replica",
            "Reason",
            "Message"
        ]
    );
    assert_eq!(
        columns(1),
        [
            "Adapter",
            "Resource",
            "Broker",
            "Ready",
            "Consumers",
            "Processed",
            "Failed",
            "Last Event",
            "Age",
            "Reason",
            "Message"
        ]
    );
    let wide = |i: usize| {
        crds[i].spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .filter(|c| c.priority == Some(1))
            .count()
    };
    assert_eq!(
        (wide(0), wide(1)),
        (3, 2),
        "-o wide adds the Ready reason and message (and where a Sentinel runs)"
    );
    assert!(crds.iter().all(|c| c.spec.versions[0].subresources.as_ref().unwrap().status.is_some()));
    assert_eq!(crds[0].spec.names.short_names.as_deref(), Some(&["hfsc".to_owned()][..]));
}

#[test]
fn samples_deserialize_and_validate() {
    let mut seen = 0;
    let samples = std::fs::read_dir(repo().join("config/samples")).unwrap().map(|e| e.unwrap().path());
    let catalog = std::fs::read_dir(repo().join("adapters"))
        .unwrap()
        .map(|e| e.unwrap().path().join("adapterconfig.yaml"));
    for path in samples.chain(catalog.filter(|p| p.exists())) {
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let kind: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let result = match kind["kind"].as_str() {
            Some("SentinelConfig") => {
                serde_saphyr::from_str::<SentinelConfig>(&text).unwrap().spec.validate()
            }
            Some("AdapterConfig") => serde_saphyr::from_str::<AdapterConfig>(&text).unwrap().spec.validate(),
            other => panic!("{}: unexpected kind {other:?}", path.display()),
        };
        assert_eq!(result, Ok(()), "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 10, "samples or catalog entries missing: {seen}");
}

#[test]
fn defaults_and_semantic_errors() {
    let minimal = r#"
apiVersion: hyperfleet.redhat.com/v1alpha1
kind: SentinelConfig
metadata: {name: s}
spec:
  resourceType: clusters
  hyperfleetAPI: {url: "http://api"}
  broker: {type: memory, topic: t}
"#;
    let sentinel: SentinelConfig = serde_saphyr::from_str(minimal).unwrap();
    assert_eq!(
        (
            sentinel.spec.poll_interval.as_str(),
            sentinel.spec.backoff_not_ready.as_str(),
            sentinel.spec.backoff_ready.as_str()
        ),
        ("5s", "10s", "30m")
    );
    let mut bad = sentinel.spec.clone();
    bad.poll_interval = "1m".into();
    bad.backoff_ready = "soon".into();
    let errors = bad.validate().unwrap_err();
    assert!(errors.iter().any(|e| e.starts_with("backoffReady: 'soon' is not a duration")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("shorter than pollInterval")), "{errors:?}");
}

#[test]
fn only_adapters_document_a_subscription() {
    let broker = |i: usize| {
        let crd = serde_json::to_value(&hyperfleet_crds::crds()[i]).unwrap();
        crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/broker/properties")
            .unwrap()
            .clone()
    };
    assert!(broker(0).get("subscription").is_none(), "SentinelConfigs publish; they subscribe to nothing");
    assert!(broker(1).get("subscription").is_some());
    assert!(broker(0).get("topic").is_some());
}
