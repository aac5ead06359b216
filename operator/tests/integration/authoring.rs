//! `hyperfleet-operator adapter test` on the committed samples: the dns adapter waits for
//! placement, then renders its DNSEndpoint with the zone computed from the cluster.

use std::path::PathBuf;

use hyperfleet_operator::{
    authoring::{AuthoringError, adapter_test},
    cli::{AdapterTestArgs, SimulatedJob},
};

fn sample(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/samples").join(path)
}

fn args(statuses: Option<&str>, job: SimulatedJob) -> AdapterTestArgs {
    AdapterTestArgs {
        file: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters/dns/adapterconfig.yaml"),
        resource: sample("api/cluster.json"),
        statuses: statuses.map(sample),
        deleting: false,
        job,
        objects: Vec::new(),
    }
}

#[tokio::test]
async fn the_dns_sample_waits_for_placement() {
    let out = adapter_test(&args(None, SimulatedJob::Running)).await.unwrap();
    assert!(out.starts_with("# decision: DependenciesNotMet: waiting for placement"), "{out}");
    assert!(out.contains("# manifests: 0"), "{out}");
}

#[tokio::test]
async fn the_dns_sample_renders_its_records_once_placement_is_done() {
    let out =
        adapter_test(&args(Some("api/statuses-placement-done.json"), SimulatedJob::Succeeded)).await.unwrap();
    assert!(out.contains("# decision: act (ResourcesApplied)"), "{out}");
    assert!(
        out.contains("dnsName: api.prod-us-east-1.clusters.example.com"),
        "the zone param reaches the DNSEndpoint:\n{out}"
    );
    assert!(
        out.contains("- router.mgmt-us-east1.hyperfleet.internal"),
        "placement's data reaches it:\n{out}"
    );
    assert!(out.contains("\"reason\": \"RecordsPublished\""), "{out}");
}

#[tokio::test]
async fn a_missing_file_names_the_file() {
    let mut args = args(None, SimulatedJob::Running);
    args.resource = sample("api/nope.json");
    let err = adapter_test(&args).await.unwrap_err();
    assert!(matches!(err, AuthoringError::Read { .. }));
    assert!(err.to_string().contains("nope.json"), "{err}");
}

#[tokio::test]
async fn every_catalog_adapter_compiles_and_runs_on_the_samples_while_live_and_while_deleting() {
    let catalog = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../adapters");
    let mut tested = 0;
    for entry in std::fs::read_dir(&catalog).unwrap() {
        let file = entry.unwrap().path().join("adapterconfig.yaml");
        if !file.exists() {
            continue;
        }
        let resource = if file.to_string_lossy().contains("nodepool") {
            "api/nodepool.json"
        } else {
            "api/cluster.json"
        };
        for (deleting, job) in
            [(false, SimulatedJob::Running), (false, SimulatedJob::Succeeded), (true, SimulatedJob::Running)]
        {
            let args = AdapterTestArgs {
                file: file.clone(),
                resource: sample(resource),
                statuses: Some(sample("api/statuses-dependencies-done.json")),
                deleting,
                job,
                objects: vec![
                    catalog.join("placement/management-clusters.yaml"),
                    sample("../local/pull-secret.yaml"),
                ],
            };
            let out = adapter_test(&args).await.unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            for broken in ["StatusRuleFailed", "ExpressionFailed", "TemplateFailed", "ParamsFailed"] {
                assert!(!out.contains(broken), "{} (deleting: {deleting}): {broken}\n{out}", file.display());
            }
        }
        tested += 1;
    }
    assert_eq!(tested, 7, "the catalog's five cluster and two node pool adapters");
}

#[tokio::test]
async fn an_objects_file_that_is_not_yaml_is_an_error_naming_it() {
    let file = std::env::temp_dir().join(format!("hyperfleet-objects-{}.yaml", std::process::id()));
    std::fs::write(&file, "kind: [unclosed").unwrap();
    let mut args = args(None, SimulatedJob::Running);
    args.objects = vec![file.clone()];
    let err = adapter_test(&args).await.unwrap_err();
    assert!(matches!(err, AuthoringError::Content { .. }), "{err:?}");
    assert!(err.to_string().contains("not valid YAML"), "{err}");
    assert!(err.to_string().contains(file.to_str().unwrap()), "{err}");
    std::fs::remove_file(&file).unwrap();
}

/// A `transport: maestro` entry: `adapter test` prints the ManifestWork as it would be sent,
/// and the simulated agent reports it applied.
#[tokio::test]
async fn a_maestro_entry_is_shown_as_the_manifestwork_it_sends() {
    let dir = std::env::temp_dir().join(format!("maestro-test-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = r#"
apiVersion: hyperfleet.redhat.com/v1alpha1
kind: AdapterConfig
metadata: {name: hypershift-maestro, namespace: hyperfleet}
spec:
  adapterType: hypershift
  resourceType: clusters
  hyperfleetAPI: {url: "http://api.test"}
  broker: {type: memory, topic: clusters}
  maestro: {grpcAddress: "http://maestro:8090", httpAddress: "http://maestro:8000", sourceId: hf, tls: {insecure: true}}
  resources:
    - name: hostedCluster
      transport: maestro
      targetCluster: mc-1
      feedback: [{name: available, path: '.status.conditions[?(@.type=="Available")].status'}]
      manifest: |
        apiVersion: hypershift.openshift.io/v1beta1
        kind: HostedCluster
        metadata: {name: "{{ cluster.name }}", namespace: clusters}
  status:
    - {type: Applied, status: "resources.hostedCluster.work.conditions.exists(c, c.type == 'Applied' && c.status == 'True')"}
"#;
    std::fs::write(dir.join("adapter.yaml"), config).unwrap();
    let mut args = args(None, SimulatedJob::Succeeded);
    args.file = dir.join("adapter.yaml");
    let out = adapter_test(&args).await.unwrap();
    assert!(out.contains("kind: ManifestWork") && out.contains("namespace: mc-1"), "{out}");
    assert!(out.contains("type: ServerSideApply") && out.contains("name: available"), "{out}");
    assert!(out.contains("kind: HostedCluster"), "the manifest inside the work:\n{out}");
    assert!(out.contains("\"type\": \"Applied\"") && out.contains("\"status\": \"True\""), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
