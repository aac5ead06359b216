//! The catalog's adapters, each through `adapter test`'s pipeline over the dry-run cluster, which
//! models what the objects' controllers write (HyperShift's conditions, external-dns's observed
//! generation, finalizers holding a deletion): the objects each applies, compared with the
//! expected manifests in `catalog/`, and what it reports while they come up, once they are
//! ready, when something is wrong, and while deleting.

use std::path::{Path, PathBuf};

use serde_json::Value;

use hyperfleet_api_model::{ConditionStatus, ReportedCondition, StatusReport};
use hyperfleet_operator::{
    adapter::Handled,
    authoring::{TestRun, run},
    cli::{AdapterTestArgs, SimulatedJob},
};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/catalog").join(name)
}

/// One event of `resource` through `adapters/<adapter>`, the other adapters having reported
/// `statuses`, with `objects` in the cluster.
async fn handle(
    adapter: &str,
    resource: &str,
    statuses: &str,
    objects: &[PathBuf],
    job: SimulatedJob,
) -> TestRun {
    let args = AdapterTestArgs {
        file: repo(&format!("adapters/{adapter}/adapterconfig.yaml")),
        resource: fixture(resource),
        statuses: Some(repo(&format!("config/samples/api/{statuses}"))),
        deleting: false,
        job,
        objects: objects.to_vec(),
    };
    run(&args).await.unwrap()
}

fn report(run: &TestRun) -> &StatusReport {
    match &run.handled {
        Handled::Reported { report, .. } => report,
        other => panic!("not reported: {other:?}"),
    }
}

fn condition<'a>(run: &'a TestRun, type_: &str) -> &'a ReportedCondition {
    report(run).conditions.iter().find(|c| c.type_ == type_).unwrap()
}

/// (status, reason, message) of a condition.
fn state(run: &TestRun, type_: &str) -> (ConditionStatus, String, String) {
    let c = condition(run, type_);
    (c.status, c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default())
}

fn expected(name: &str) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

const TRUE: ConditionStatus = ConditionStatus::True;
const FALSE: ConditionStatus = ConditionStatus::False;

#[tokio::test]
async fn placement_chooses_the_management_cluster_with_room_in_the_region_and_keeps_it() {
    let inventory = [repo("adapters/placement/management-clusters.yaml")];
    let placed = handle(
        "placement",
        "cluster.json",
        "statuses-validation-done.json",
        &inventory,
        SimulatedJob::Succeeded,
    )
    .await;
    assert_eq!(state(&placed, "Available"), (TRUE, "Placed".into(), "placed on mgmt-us-east1".into()));
    let data = report(&placed).data.clone().unwrap();
    assert_eq!(data["managementCluster"], "mgmt-us-east1");
    assert_eq!(data["apiTarget"], "router.mgmt-us-east1.hyperfleet.internal");

    let full = [fixture("full-inventory.yaml")];
    let run =
        handle("placement", "cluster.json", "statuses-validation-done.json", &full, SimulatedJob::Succeeded)
            .await;
    assert_eq!(report(&run).data.as_ref().unwrap()["managementCluster"], "mgmt-b", "mgmt-a is full");

    let none =
        handle("placement", "cluster.json", "statuses-validation-done.json", &[], SimulatedJob::Succeeded)
            .await;
    assert_eq!(
        state(&none, "Available"),
        (
            FALSE,
            "NoCandidate".into(),
            "no management cluster in region us-east1 has room (0 in the inventory)".into()
        )
    );

    // Placed before (statuses-placement-done says mgmt-us-east1): a fuller inventory does not move it.
    let inventory = [repo("adapters/placement/management-clusters.yaml"), fixture("full-inventory.yaml")];
    let again = handle(
        "placement",
        "cluster.json",
        "statuses-placement-done.json",
        &inventory,
        SimulatedJob::Succeeded,
    )
    .await;
    assert_eq!(report(&again).data.as_ref().unwrap()["managementCluster"], "mgmt-us-east1");
}

#[tokio::test]
async fn dns_publishes_the_api_and_apps_records_and_waits_for_external_dns() {
    let statuses = "statuses-placement-done.json";
    let running = handle("dns", "cluster.json", statuses, &[], SimulatedJob::Running).await;
    assert_eq!(running.manifests, [expected("dns.expected.yaml")]);
    assert_eq!(state(&running, "Available").1, "WaitingForExternalDNS");
    let ready = handle("dns", "cluster.json", statuses, &[], SimulatedJob::Succeeded).await;
    assert_eq!(
        state(&ready, "Available"),
        (
            TRUE,
            "RecordsPublished".into(),
            "api.prod-us-east-1.clusters.example.com and *.apps.prod-us-east-1.clusters.example.com".into()
        )
    );
}

#[tokio::test]
async fn pullsecret_copies_the_source_secret_and_never_shows_its_value() {
    let source = [repo("config/local/pull-secret.yaml")];
    let run = handle(
        "pullsecret",
        "cluster.json",
        "statuses-placement-done.json",
        &source,
        SimulatedJob::Succeeded,
    )
    .await;
    assert_eq!(run.manifests, [expected("pullsecret.expected.yaml")]);
    assert_eq!(state(&run, "Available").1, "PullSecretCopied");
    let encoded =
        expected("pullsecret.expected.yaml")["data"][".dockerconfigjson"].as_str().unwrap().to_owned();
    let printed = run.render();
    assert!(printed.contains(".dockerconfigjson: [redacted]"), "{printed}");
    for secret in [encoded.as_str(), "bG9jYWw6ZGVtbw==", "registry.local"] {
        assert!(!printed.contains(secret), "{secret} shown:\n{printed}");
    }

    let missing =
        handle("pullsecret", "cluster.json", "statuses-placement-done.json", &[], SimulatedJob::Succeeded)
            .await;
    let (status, reason, message) = state(&missing, "Available");
    assert_eq!((status, reason.as_str()), (FALSE, "PreconditionsNotMet"));
    assert!(message.contains("hasSourceSecret"), "{message}");
}

#[tokio::test]
async fn hypershift_builds_the_hosted_cluster_and_reports_its_conditions() {
    let statuses = "statuses-dependencies-done.json";
    let running = handle("hypershift", "cluster.json", statuses, &[], SimulatedJob::Running).await;
    assert_eq!(running.manifests, [expected("hypershift.expected.yaml")]);
    assert_eq!(
        state(&running, "Available"),
        (FALSE, "HostedClusterProgressing".into(), "Waiting for hosted control plane to be healthy".into())
    );
    let ready = handle("hypershift", "cluster.json", statuses, &[], SimulatedJob::Succeeded).await;
    assert_eq!(state(&ready, "Available").1, "HostedClusterAvailable");
    assert_eq!(state(&ready, "Health").0, TRUE);

    let degraded = [fixture("degraded-hostedcluster.yaml")];
    let run = handle("hypershift", "cluster.json", statuses, &degraded, SimulatedJob::Succeeded).await;
    assert_eq!(
        state(&run, "Health"),
        (
            FALSE,
            "HostedClusterDegraded".into(),
            "kube-apiserver deployment has 1 unavailable replicas".into()
        )
    );
}

#[tokio::test]
async fn deleting_a_cluster_waits_until_its_hosted_cluster_is_gone() {
    let mut args = AdapterTestArgs {
        file: repo("adapters/hypershift/adapterconfig.yaml"),
        resource: fixture("cluster.json"),
        statuses: Some(repo("config/samples/api/statuses-dependencies-done.json")),
        deleting: true,
        job: SimulatedJob::Succeeded,
        objects: vec![fixture("degraded-hostedcluster.yaml")],
    };
    let held = run(&args).await.unwrap();
    assert_eq!(state(&held, "Finalized"), (FALSE, "Deleting".into(), "waiting for the objects to go".into()));
    args.objects.clear();
    let gone = run(&args).await.unwrap();
    assert_eq!(state(&gone, "Finalized").0, TRUE);
}

#[tokio::test]
async fn nodepool_hypershift_adds_a_node_pool_to_its_clusters_hosted_cluster() {
    let hosted = [fixture("hostedcluster.yaml")];
    let statuses = "statuses-validation-done.json";
    let running =
        handle("nodepool-hypershift", "nodepool.json", statuses, &hosted, SimulatedJob::Running).await;
    assert_eq!(running.manifests, [expected("nodepool-hypershift.expected.yaml")]);
    assert_eq!(state(&running, "Available").1, "NodePoolProgressing");
    let ready =
        handle("nodepool-hypershift", "nodepool.json", statuses, &hosted, SimulatedJob::Succeeded).await;
    assert_eq!(state(&ready, "Available"), (TRUE, "NodePoolReady".into(), "3 nodes".into()));

    let orphan = handle("nodepool-hypershift", "nodepool.json", statuses, &[], SimulatedJob::Succeeded).await;
    let (status, reason, message) = state(&orphan, "Available");
    assert_eq!((status, reason.as_str()), (FALSE, "PreconditionsNotMet"));
    assert!(message.contains("hostedClusterExists"), "{message}");
}

#[tokio::test]
async fn validation_runs_the_job_image_and_reports_its_problems() {
    let statuses = "statuses-validation-done.json";
    let valid = handle("validation", "cluster.json", statuses, &[], SimulatedJob::Succeeded).await;
    let job = &valid.manifests[0];
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "quay.io/hyperfleet/hyperfleet-job:0.1.0");
    assert_eq!(container["args"], serde_json::json!(["validate"]));
    assert_eq!(container["terminationMessagePolicy"], "FallbackToLogsOnError");
    assert_eq!(state(&valid, "Available").1, "Valid");
    let invalid = handle("validation", "cluster.json", statuses, &[], SimulatedJob::Failed).await;
    // `adapter test --job failed` simulates a Job whose pod wrote "simulated failure".
    assert_eq!(state(&invalid, "Available"), (FALSE, "Invalid".into(), "simulated failure".into()));
}

/// The Maestro variant of hypershift (`config/samples/adapterconfig-hypershift-maestro.yaml`):
/// the same HostedCluster and the pull secret, each in a ManifestWork for the management cluster
/// placement chose; the HostedCluster's conditions come back as feedback values.
#[tokio::test]
async fn the_maestro_variant_of_hypershift_sends_manifestworks_and_reads_feedback() {
    let mut args = AdapterTestArgs {
        file: repo("config/samples/adapterconfig-hypershift-maestro.yaml"),
        resource: fixture("cluster.json"),
        statuses: Some(repo("config/samples/api/statuses-dependencies-done.json")),
        deleting: false,
        job: SimulatedJob::Running,
        objects: vec![repo("config/local/pull-secret.yaml")],
    };
    let sending = run(&args).await.unwrap();
    let works = &sending.manifests;
    let kinds: Vec<_> =
        works.iter().map(|w| (w["kind"].as_str(), w["metadata"]["namespace"].as_str())).collect();
    assert_eq!(kinds, [(Some("ManifestWork"), Some("mgmt-us-east1")); 2]);
    assert_eq!(works[1]["spec"]["workload"]["manifests"][0], expected("hypershift.expected.yaml"));
    assert_eq!(works[0]["spec"]["workload"]["manifests"][0]["kind"], "Secret");
    assert_eq!(state(&sending, "Available"), (FALSE, "HostedClusterProgressing".into(), String::new()));
    let printed = sending.render();
    assert!(!printed.contains("bG9jYWw6ZGVtbw==") && !printed.contains("registry.local"), "{printed}");

    args.job = SimulatedJob::Succeeded;
    let ready = run(&args).await.unwrap();
    assert_eq!(
        state(&ready, "Available"),
        (TRUE, "HostedClusterAvailable".into(), "The hosted control plane is available".into())
    );
    assert_eq!(state(&ready, "Health"), (TRUE, "NoErrors".into(), String::new()));
}
