//! An adapter with a `transport: maestro` entry beside a dry-run one, against the real API and
//! the Maestro double: the ManifestWork is sent once per change (not on every event), feedback
//! values reach the status rules, a new generation updates the work, deletion deletes it; an
//! unregistered consumer is reported as Health=False naming it, a refused work with Maestro's
//! reason; a Maestro outage is transient.

use crate::common;

use crate::maestro_client::actions;
use common::{condition, create, event};

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;

use hyperfleet_api_model::{ConditionStatus, PatchResource, client::Client};
use hyperfleet_crds::v1alpha1::AdapterConfigSpec;
use hyperfleet_maestro::{
    MaestroClient, MaestroConnection, MaestroTls, double::MaestroDouble, event::SpecAction,
};
use hyperfleet_operator::adapter::{
    Adapter, AdapterPlan, Handled, Transports,
    maestro::work_name,
    metrics::{AdapterLabels, AdapterMetrics},
    report::Verdict,
    transport::{
        dry_run::{DryRun, JobOutcome},
        maestro::Maestro,
    },
};

const HYPERSHIFT: &str = r#"
adapterType: hypershift
resourceType: clusters
hyperfleetAPI: {url: "http://api.test"}
broker: {type: memory, topic: clusters}
maestro:
  grpcAddress: "http://127.0.0.1:1"
  httpAddress: "http://127.0.0.1:1"
  sourceId: hyperfleet-hypershift
  tls: {insecure: true}
params:
  - {name: managementCluster, expression: "cluster.spec.managementCluster"}
resources:
  - name: hostedCluster
    transport: maestro
    targetCluster: "{{ params.managementCluster }}"
    feedback:
      - {name: available, path: '.status.conditions[?(@.type=="Available")].status'}
    manifest: |
      apiVersion: hypershift.openshift.io/v1beta1
      kind: HostedCluster
      metadata: {name: "{{ cluster.name }}", namespace: clusters}
      spec: {release: {image: "{{ cluster.spec.release }}"}}
  - name: config
    transport: dry-run
    manifest: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "hc-{{ cluster.id }}", namespace: clusters}
status:
  - type: Available
    status: "has(resources.hostedCluster) && resources.hostedCluster.status.feedback.?available.orValue('') == 'True'"
"#;

fn adapter(client: &Client, double: &MaestroDouble, metrics: AdapterMetrics) -> Adapter {
    let spec: AdapterConfigSpec = serde_saphyr::from_str(HYPERSHIFT).unwrap();
    let plan = AdapterPlan::compile(&spec).unwrap();
    let connection = MaestroConnection {
        source_id: "hyperfleet-hypershift".into(),
        ..crate::maestro_client::connection(double, MaestroTls::default())
    };
    let labels = AdapterLabels { adapter: "hypershift".into(), resource_type: "clusters" };
    let maestro = Maestro::new(MaestroClient::new(&connection).unwrap()).with_metrics(metrics, labels);
    let maestro = Arc::new(maestro);
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let transports = Transports { kubernetes: dry_run.clone(), dry_run, maestro: Some(maestro) };
    Adapter::new(plan, Arc::new(client.clone()), transports, "http://api.test")
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_maestro_resource_is_sent_on_change_and_its_feedback_drives_status(pool: PgPool) {
    let client = common::api_requiring(pool, &["hypershift"]).await;
    let double = MaestroDouble::start(None).await.unwrap();
    double.register_consumer("mc-1");
    let hypershift = adapter(&client, &double, AdapterMetrics::default());
    let spec = serde_json::json!({"managementCluster": "mc-1", "release": "quay.io/ocp:4.17"});
    let cluster = create(&client, spec).await;

    let Handled::Reported { report, verdict: Verdict::Acted(observed), .. } =
        hypershift.handle(&event(&cluster)).await.unwrap()
    else {
        panic!("not acted")
    };
    let hosted = &observed.resources["hostedCluster"];
    assert_eq!(
        (hosted["kind"].as_str(), hosted["work"]["consumer"].as_str()),
        (Some("HostedCluster"), Some("mc-1"))
    );
    assert!(observed.resources.contains_key("config"), "the dry-run entry of the same adapter");
    assert_eq!(condition(&report, "Available").status, ConditionStatus::False, "no feedback yet");

    let work = work_name("hypershift", &cluster, "hostedCluster");
    double.set_feedback("mc-1", &work, "available", serde_json::json!("True"));
    let Handled::Reported { report, .. } = hypershift.handle(&event(&cluster)).await.unwrap() else {
        panic!()
    };
    assert_eq!(condition(&report, "Available").status, ConditionStatus::True);
    assert_eq!(actions(&double), [(SpecAction::CreateRequest, 1)], "an unchanged work is not sent again");
    let stored = &double.works("mc-1")[0];
    assert_eq!(stored["metadata"]["labels"]["hyperfleet.io/resource-id"], cluster.id.to_string());
    assert_eq!(stored["spec"]["manifestConfigs"][0]["updateStrategy"]["type"], "ServerSideApply");

    let patch = PatchResource {
        spec: Some(serde_json::json!({"managementCluster": "mc-1", "release": "quay.io/ocp:4.18"})),
        labels: None,
    };
    let updated = client.patch_cluster(cluster.id, &patch).await.unwrap();
    hypershift.handle(&event(&updated)).await.unwrap();
    assert_eq!(actions(&double).last(), Some(&(SpecAction::UpdateRequest, 2)));
    assert_eq!(double.works("mc-1")[0]["metadata"]["annotations"]["hyperfleet.io/generation"], "2");

    let deleting = client.delete_cluster(cluster.id).await.unwrap();
    let Handled::Reported { report, .. } = hypershift.handle(&event(&deleting)).await.unwrap() else {
        panic!()
    };
    assert_eq!(actions(&double).last().map(|a| a.0), Some(SpecAction::DeleteRequest));
    assert!(double.works("mc-1").is_empty());
    assert_eq!(condition(&report, "Finalized").status, ConditionStatus::True);
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_unregistered_consumer_is_reported_and_an_outage_is_retried(pool: PgPool) {
    let client = common::api_requiring(pool, &["hypershift"]).await;
    let mut double = MaestroDouble::start(None).await.unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let hypershift = adapter(&client, &double, AdapterMetrics::register(&mut registry));
    let cluster = create(&client, serde_json::json!({"managementCluster": "mc-9", "release": "r"})).await;

    let Handled::Reported { report, .. } = hypershift.handle(&event(&cluster)).await.unwrap() else {
        panic!()
    };
    let health = condition(&report, "Health");
    assert_eq!(
        (health.status, health.reason.as_deref()),
        (ConditionStatus::False, Some("MaestroConsumerUnknown"))
    );
    assert!(health.message.as_deref().unwrap_or_default().contains("'mc-9'"), "{health:?}");

    double.register_consumer("mc-9");
    double.refuse_next("failed to create resource: the manifest bundle is invalid");
    let Handled::Reported { report, .. } = hypershift.handle(&event(&cluster)).await.unwrap() else {
        panic!()
    };
    let health = condition(&report, "Health");
    assert_eq!((health.status, health.reason.as_deref()), (ConditionStatus::False, Some("ExecutionFailed")));
    assert!(
        health.message.as_deref().unwrap_or_default().contains("the manifest bundle is invalid"),
        "{health:?}"
    );

    double.stop().await;
    let outage = hypershift.handle(&event(&cluster)).await;
    assert!(outage.is_err(), "a transient failure is redelivered, not reported: {outage:?}");
    double.restart().await.unwrap();
    let Handled::Reported { report, .. } = hypershift.handle(&event(&cluster)).await.unwrap() else {
        panic!()
    };
    assert_eq!(condition(&report, "Health").status, ConditionStatus::True);
    assert_eq!(actions(&double), [(SpecAction::CreateRequest, 1)]);

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let series = |operation: &str, outcome: &str| {
        format!(
            "hyperfleet_adapter_maestro_requests_total{{adapter=\"hypershift\",resource_type=\"clusters\",operation=\"{operation}\",outcome=\"{outcome}\"}}"
        )
    };
    for (operation, outcome) in [("apply", "unknown_consumer"), ("get", "unavailable"), ("apply", "ok")] {
        assert!(text.contains(&series(operation, outcome)), "{operation} {outcome} counted:\n{text}");
    }
    assert!(text.contains("hyperfleet_adapter_maestro_request_duration_seconds_bucket"), "{text}");
}

/// `spec.maestro` as a user writes it: mutual TLS from Secrets named in the CR, or from files
/// the chart mounts; both reach the TLS double (gRPC; its REST side is plain HTTP), and without
/// a client certificate nothing is delivered.
#[tokio::test]
async fn the_crs_tls_settings_reach_maestro_from_secrets_or_mounted_files() {
    use hyperfleet_crds::v1alpha1::{MaestroServer, MaestroTls as TlsSpec, SecretKeyRef};
    use hyperfleet_operator::{
        adapter::transport::{ObjectTransport, maestro::connect},
        resolve::StaticSecrets,
    };
    let pki = crate::maestro_client::pki();
    let double = crate::maestro_client::mtls_double(&pki).await;
    let server = |tls: TlsSpec| MaestroServer {
        grpc_address: double.grpc_address(),
        http_address: double.http_address(),
        source_id: "hf".into(),
        tls: TlsSpec { server_name: Some("localhost".into()), ..tls },
        timeout: Some("5s".into()),
        keepalive: None,
    };
    let secrets = StaticSecrets(
        [
            (("maestro-ca".into(), "ca.crt".into()), pki.ca.clone()),
            (("maestro-client".into(), "tls.crt".into()), pki.client.0.clone()),
            (("maestro-client".into(), "tls.key".into()), pki.client.1.clone()),
        ]
        .into(),
    );
    let work = |name: &str| {
        serde_json::json!({
            "apiVersion": "work.open-cluster-management.io/v1", "kind": "ManifestWork",
            "metadata": {"name": name, "namespace": "mc-1"},
            "spec": {"workload": {"manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}]}},
        })
    };
    let from_secrets = TlsSpec {
        ca: Some(SecretKeyRef { name: "maestro-ca".into(), key: "ca.crt".into() }),
        client_certificate_secret: Some("maestro-client".into()),
        ..TlsSpec::default()
    };
    let transport = connect(&server(from_secrets), "hyperfleet", &secrets).await.unwrap();
    transport.apply(&work("from-secrets")).await.unwrap();

    let dir = std::env::temp_dir().join(format!("maestro-certs-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in [("ca.crt", &pki.ca), ("tls.crt", &pki.client.0), ("tls.key", &pki.client.1)] {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let mounted = TlsSpec { certificates_path: Some(dir.display().to_string()), ..TlsSpec::default() };
    let transport = connect(&server(mounted), "hyperfleet", &secrets).await.unwrap();
    transport.apply(&work("from-files")).await.unwrap();

    std::fs::remove_file(dir.join("tls.key")).unwrap();
    let without_key = TlsSpec { certificates_path: Some(dir.display().to_string()), ..TlsSpec::default() };
    let transport = connect(&server(without_key), "hyperfleet", &secrets).await.unwrap();
    assert!(transport.apply(&work("anonymous")).await.is_err(), "no client certificate, no delivery");
    std::fs::remove_dir_all(&dir).unwrap();

    let delivered: Vec<String> = double.taken().into_iter().map(|taken| taken.work).collect();
    assert_eq!(delivered, ["from-secrets", "from-files"]);
}

#[test]
fn a_feedback_path_that_does_not_parse_is_an_invalid_config() {
    let yaml = HYPERSHIFT
        .replace(r#"'.status.conditions[?(@.type=="Available")].status'"#, "'.status.conditions[?(@.type=='");
    let spec: AdapterConfigSpec = serde_saphyr::from_str(&yaml).unwrap();
    let errors = AdapterPlan::compile(&spec).unwrap_err();
    assert!(
        errors.iter().any(|e| e.starts_with("resources.hostedCluster.feedback.available: not a JSONPath")),
        "{errors:?}"
    );
}
