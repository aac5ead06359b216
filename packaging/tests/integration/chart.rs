//! The Helm chart, linted and rendered by Helm's own Go SDK with the default, production and
//! minimal values; the render checked object by object: every object parses as its Kubernetes
//! type, the operator's RBAC covers every call it makes, workloads set images, probes and pod
//! security, the chart's CRDs are `crdgen`'s, and the dashboard and alerts name real metrics.

use std::{collections::BTreeSet, path::PathBuf};

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Secret, Service, ServiceAccount},
    networking::v1::NetworkPolicy,
    policy::v1::PodDisruptionBudget,
    rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding},
};
use serde_json::Value;

use hyperfleet_packaging::{chart_dir, helm};

fn value_sets() -> [(&'static str, Option<PathBuf>); 3] {
    [
        ("default", None),
        ("production", Some(chart_dir().join("ci/production-values.yaml"))),
        ("minimal", Some(chart_dir().join("ci/minimal-values.yaml"))),
    ]
}

#[test]
fn the_chart_lints_clean_with_every_value_set() {
    for (name, values) in value_sets() {
        let report = helm::lint(values.as_deref()).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(report["total_charts_linted"], 1, "{name}: {report}");
    }
}

fn parses<T: serde::de::DeserializeOwned>(object: &Value) {
    if let Err(err) = serde_json::from_value::<T>(object.clone()) {
        panic!("{} {} does not parse as its type: {err}", object["kind"], object["metadata"]["name"]);
    }
}

#[test]
fn every_rendered_object_parses_as_its_kubernetes_type() {
    for (name, values) in value_sets() {
        let objects = helm::render(values.as_deref()).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(!objects.is_empty());
        for object in &objects {
            match object["kind"].as_str().unwrap() {
                "Deployment" => parses::<Deployment>(object),
                "Service" => parses::<Service>(object),
                "ServiceAccount" => parses::<ServiceAccount>(object),
                "ConfigMap" => parses::<ConfigMap>(object),
                "Secret" => parses::<Secret>(object),
                "Role" => parses::<Role>(object),
                "ClusterRole" => parses::<ClusterRole>(object),
                "RoleBinding" => parses::<RoleBinding>(object),
                "ClusterRoleBinding" => parses::<ClusterRoleBinding>(object),
                "PodDisruptionBudget" => parses::<PodDisruptionBudget>(object),
                "NetworkPolicy" => parses::<NetworkPolicy>(object),
                "ServiceMonitor" | "PrometheusRule" => {
                    assert_eq!(object["apiVersion"], "monitoring.coreos.com/v1");
                    assert!(object["spec"].is_object(), "{object}");
                }
                other => panic!("{name}: unexpected kind {other} (add a check for it)"),
            }
        }
    }
}

/// What the operator calls, by (API group, resource, verb): the controllers (watch, status
/// SSA, Events, Secrets of the specs), leader election, and the adapters' objects.
const OPERATOR_CALLS: &[(&str, &str, &str)] = &[
    ("hyperfleet.redhat.com", "sentinelconfigs", "list"),
    ("hyperfleet.redhat.com", "sentinelconfigs", "watch"),
    ("hyperfleet.redhat.com", "adapterconfigs", "list"),
    ("hyperfleet.redhat.com", "adapterconfigs", "watch"),
    ("hyperfleet.redhat.com", "sentinelconfigs/status", "patch"),
    ("hyperfleet.redhat.com", "adapterconfigs/status", "patch"),
    ("events.k8s.io", "events", "create"),
    ("events.k8s.io", "events", "patch"),
    ("", "secrets", "get"),
    ("coordination.k8s.io", "leases", "get"),
    ("coordination.k8s.io", "leases", "create"),
    ("coordination.k8s.io", "leases", "update"),
];

/// What adapters do in their target namespaces (Jobs; ConfigMaps in the catalog).
const ADAPTER_CALLS: &[(&str, &str, &str)] = &[
    ("batch", "jobs", "create"),
    ("batch", "jobs", "get"),
    ("batch", "jobs", "list"),
    ("batch", "jobs", "deletecollection"),
    ("", "configmaps", "patch"),
    ("", "configmaps", "delete"),
    ("", "events", "list"),
    ("", "pods", "list"),
];

/// What the catalog's adapters do in HyperShift's namespace (`adapters.catalog.namespace`):
/// apply and delete their objects, read them back by name and by labels.
const CATALOG_CALLS: &[(&str, &str, &str)] = &[
    ("hypershift.openshift.io", "hostedclusters", "patch"),
    ("hypershift.openshift.io", "hostedclusters", "list"),
    ("hypershift.openshift.io", "hostedclusters", "delete"),
    ("hypershift.openshift.io", "nodepools", "patch"),
    ("hypershift.openshift.io", "nodepools", "get"),
    ("hypershift.openshift.io", "nodepools", "delete"),
    ("externaldns.k8s.io", "dnsendpoints", "patch"),
    ("externaldns.k8s.io", "dnsendpoints", "get"),
    ("externaldns.k8s.io", "dnsendpoints", "delete"),
    ("", "secrets", "patch"),
    ("", "secrets", "get"),
    ("", "secrets", "delete"),
];

fn allows(rules: &[PolicyRule], (group, resource, verb): (&str, &str, &str)) -> bool {
    rules.iter().any(|rule| {
        let has =
            |list: &Option<Vec<String>>, item: &str| list.iter().flatten().any(|x| x == item || x == "*");
        has(&rule.api_groups, group)
            && has(&rule.resources, resource)
            && rule.verbs.iter().any(|v| v == verb || v == "*")
    })
}

#[test]
fn rbac_covers_what_the_operator_and_its_adapters_call_and_no_more_than_their_namespaces() {
    let objects = helm::render(None).unwrap();
    let cluster_rules: Vec<PolicyRule> = helm::of_kind(&objects, "ClusterRole")
        .flat_map(|r| serde_json::from_value::<ClusterRole>(r.clone()).unwrap().rules.unwrap_or_default())
        .collect();
    let roles: Vec<Role> =
        helm::of_kind(&objects, "Role").map(|r| serde_json::from_value(r.clone()).unwrap()).collect();
    let all_rules: Vec<PolicyRule> = cluster_rules
        .iter()
        .cloned()
        .chain(roles.iter().flat_map(|r| r.rules.clone().unwrap_or_default()))
        .collect();
    for call in OPERATOR_CALLS {
        assert!(allows(&all_rules, *call), "the operator may not {call:?}");
    }
    let jobs_namespace = roles
        .iter()
        .find(|r| r.metadata.namespace.as_deref() == Some("hyperfleet-jobs"))
        .expect("a Role in hyperfleet-jobs");
    for call in ADAPTER_CALLS {
        assert!(
            allows(jobs_namespace.rules.as_deref().unwrap_or_default(), *call),
            "adapters may not {call:?} in hyperfleet-jobs"
        );
        assert!(!allows(&cluster_rules, *call), "{call:?} must not be granted cluster-wide");
    }
    let in_namespace = |namespace: &str| -> Vec<PolicyRule> {
        roles
            .iter()
            .filter(|r| r.metadata.namespace.as_deref() == Some(namespace))
            .flat_map(|r| r.rules.clone().unwrap_or_default())
            .collect()
    };
    for call in CATALOG_CALLS {
        assert!(allows(&in_namespace("clusters"), *call), "the catalog may not {call:?} in clusters");
        assert!(!allows(&cluster_rules, *call), "{call:?} must not be granted cluster-wide");
    }
    // The placement inventory: ConfigMaps listed in the release namespace, read-only.
    assert!(allows(&in_namespace("hyperfleet"), ("", "configmaps", "list")));
    assert!(!allows(&in_namespace("hyperfleet"), ("", "configmaps", "patch")));
    for call in [("", "secrets", "get"), ("", "namespaces", "delete"), ("", "namespaces", "create")] {
        assert!(!allows(&cluster_rules, call), "by default {call:?} is not granted cluster-wide");
    }
    // The CRs' Secrets: read in the release namespace only (adapters write their own Secrets in
    // their target namespaces, checked above).
    let spec_secrets: Vec<_> = roles
        .iter()
        .filter(|r| r.metadata.name.as_deref().is_some_and(|n| n.ends_with("-secrets")))
        .filter(|r| allows(r.rules.as_deref().unwrap_or_default(), ("", "secrets", "get")))
        .filter_map(|r| r.metadata.namespace.clone())
        .collect();
    assert_eq!(spec_secrets, ["hyperfleet"]);
}

#[test]
fn workloads_set_images_probes_and_pod_security() {
    for (name, values) in value_sets() {
        let objects = helm::render(values.as_deref()).unwrap();
        let deployments: Vec<Deployment> = helm::of_kind(&objects, "Deployment")
            .map(|d| serde_json::from_value(d.clone()).unwrap())
            .collect();
        assert_eq!(deployments.len(), 2, "{name}: the API and the operator");
        for deployment in deployments {
            let pod = deployment.spec.unwrap().template.spec.unwrap();
            let security = pod.security_context.expect("pod securityContext");
            assert_eq!(security.run_as_non_root, Some(true), "{name}");
            for container in pod.containers.iter().chain(pod.init_containers.iter().flatten()) {
                let image = container.image.as_deref().unwrap_or_default();
                assert!(image.contains('/') && image.contains(':'), "{name}: image {image}");
                let security = container.security_context.as_ref().expect("container securityContext");
                assert_eq!(security.read_only_root_filesystem, Some(true), "{name}: {}", container.name);
                assert_eq!(security.allow_privilege_escalation, Some(false));
            }
            let main = &pod.containers[0];
            assert!(
                main.liveness_probe.is_some() && main.readiness_probe.is_some(),
                "{name}: {} probes",
                main.name
            );
        }
    }
}

#[test]
fn the_charts_crds_are_crdgens() {
    for crd in hyperfleet_crds::crds() {
        let plural = &crd.spec.names.plural;
        let path = chart_dir().join(format!("crds/{plural}.yaml"));
        let committed = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            committed,
            hyperfleet_crds::to_yaml(&crd).unwrap(),
            "{} drifted: run `cargo run -p hyperfleet-crds --bin crdgen -- --out crds --out charts/hyperfleet/crds`",
            path.display()
        );
    }
}

/// Every series the binaries export, as Prometheus names them: the API's (served in-process
/// over the test database, after one request) and the operator's (each family given one
/// observation through the code paths that record it: empty families are not exposed).
async fn exported_metrics(pool: sqlx::PgPool) -> BTreeSet<String> {
    let mut text = api_metrics(pool).await;
    text.push_str(&operator_metrics().await);
    let mut names = BTreeSet::new();
    for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let mut parts = line.split_whitespace();
        let (name, kind) = (parts.next().unwrap().to_owned(), parts.next().unwrap());
        match kind {
            "counter" => names.insert(format!("{name}_total")),
            "histogram" => ["bucket", "count", "sum"].iter().all(|s| names.insert(format!("{name}_{s}"))),
            _ => names.insert(name),
        };
    }
    names
}

async fn api_metrics(pool: sqlx::PgPool) -> String {
    let hyperfleet_testing::api::ServedApi { base, client } =
        hyperfleet_testing::api::serve_kinds(pool, Default::default()).await.unwrap();
    client.list_clusters(&Default::default()).await.unwrap();
    reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap()
}

async fn operator_metrics() -> String {
    use hyperfleet_broker::{BrokerConfig, Outcome, Subscription};
    use hyperfleet_operator::{
        adapter::metrics::AdapterLabels,
        sentinel::{PollReport, metrics::ShardLabels},
    };
    let metrics = hyperfleet_operator::metrics::OperatorMetrics::new();
    let labels = ShardLabels { resource_type: "clusters".into(), namespace: "ns".into(), shard: "s".into() };
    metrics.sentinel.poll_succeeded(
        &labels,
        &PollReport::default(),
        std::time::Duration::from_millis(5),
        chrono::Utc::now(),
    );
    metrics.sentinel.poll_failed(&labels, std::time::Duration::from_millis(5));
    metrics.sentinel.event_created(&labels, hyperfleet_operator::sentinel::decision::Reason::New);
    let dns = AdapterLabels { adapter: "dns".into(), resource_type: "clusters" };
    metrics.adapter.consumed(&dns, "reported");
    metrics.adapter.job_created(&dns);
    metrics.adapter.job_finished(&dns, "failed", 3.0);
    metrics.adapter.error(&dns, "transient");
    metrics.reconcile.reconciled("sentinelconfig", std::time::Duration::from_millis(2));
    metrics.reconcile.failed("sentinelconfig", "apply_status");
    // The broker's series through a real (memory) broker: a publish, a rejected delivery.
    let broker = hyperfleet_broker::connect(&BrokerConfig::Memory {}, metrics.broker.clone()).await.unwrap();
    let subscription = Subscription::new("t", "s");
    let consumer = broker
        .subscribe(subscription.clone(), std::sync::Arc::new(|_| async { Outcome::Reject }))
        .await
        .unwrap();
    use cloudevents::EventBuilder as _;
    let event = cloudevents::EventBuilderV10::new().id("1").source("t").ty("t").build().unwrap();
    broker.publish("t", &event).await.unwrap();
    for _ in 0..100 {
        if !broker.drain_dead_letters(&subscription, 1).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    consumer.close().await;
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &metrics.registry).unwrap();
    out
}

fn named_metrics(text: &str) -> BTreeSet<String> {
    let pattern = regex::Regex::new(r"hyperfleet_[a-z_]+").unwrap();
    pattern.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn the_dashboard_and_the_alerts_name_metrics_the_code_exports(pool: sqlx::PgPool) {
    let exported = exported_metrics(pool).await;
    let exprs = hyperfleet_packaging::dashboard_queries().unwrap();
    assert!(!exprs.is_empty());
    let production = chart_dir().join("ci/production-values.yaml");
    let objects = helm::render(Some(&production)).unwrap();
    let rules = helm::of_kind(&objects, "PrometheusRule")
        .next()
        .expect("the production values render the alerts")
        .to_string();
    for expected in [
        "SentinelPublishFailures",
        "APIHighErrorRate",
        "AdapterJobFailures",
        "StuckReconciliation",
        "StuckDeletion",
        "EventsDeadLettered",
        "OperatorReconcileFailures",
    ] {
        assert!(rules.contains(expected), "alert {expected} missing");
    }
    let used: BTreeSet<String> =
        exprs.iter().flat_map(|e| named_metrics(e)).chain(named_metrics(&rules)).collect();
    let unknown: Vec<&String> = used.iter().filter(|m| !exported.contains(*m)).collect();
    assert!(
        unknown.is_empty(),
        "dashboard/alerts name series nobody exports: {unknown:?}\nexported: {exported:?}"
    );
}

/// `images/<component>.Dockerfile` builds `binary` (`hyperfleet-<component>`) and runs it as
/// `user`.
fn assert_dockerfile_builds(binary: &str, user: i64) {
    let component = binary.trim_start_matches("hyperfleet-");
    let dockerfile = std::fs::read_to_string(
        hyperfleet_packaging::repo_root().join(format!("images/{component}.Dockerfile")),
    )
    .unwrap_or_else(|err| panic!("no Dockerfile for {binary}: {err}"));
    assert!(
        dockerfile.contains(&format!("--bin {binary}")),
        "images/{component}.Dockerfile does not build {binary}"
    );
    assert!(
        dockerfile.contains(&format!("USER {user}:{user}")),
        "images/{component}.Dockerfile does not run as {user}"
    );
}

#[test]
fn the_images_build_the_binaries_the_chart_runs_as_the_user_it_expects() {
    let objects = helm::render(None).unwrap();
    for deployment in helm::of_kind(&objects, "Deployment") {
        let pod = &deployment["spec"]["template"]["spec"];
        let image = pod["containers"][0]["image"].as_str().unwrap();
        let binary = image.rsplit('/').next().unwrap().split(':').next().unwrap();
        assert_dockerfile_builds(binary, pod["securityContext"]["runAsUser"].as_i64().unwrap());
    }
}

/// Every Job the catalog runs uses an image this repository builds, from the chart's registry at
/// the chart's version, running as the non-root user the Jobs' `runAsNonRoot` needs; no
/// placeholder is left.
#[test]
fn the_catalogs_jobs_run_images_this_repository_builds() {
    let read = |path: std::path::PathBuf| std::fs::read_to_string(&path).unwrap();
    let chart: Value = serde_saphyr::from_str(&read(chart_dir().join("Chart.yaml"))).unwrap();
    let values: Value = serde_saphyr::from_str(&read(chart_dir().join("values.yaml"))).unwrap();
    let prefix = format!("{}/", values["image"]["registry"].as_str().unwrap());
    let tag = format!(":{}", chart["appVersion"].as_str().unwrap());
    let mut images = 0;
    for entry in std::fs::read_dir(hyperfleet_packaging::repo_root().join("adapters")).unwrap() {
        let dir = entry.unwrap().path();
        for file in std::fs::read_dir(&dir).into_iter().flatten() {
            let text = read(file.unwrap().path());
            assert!(
                !text.contains("example.com/") && !text.contains("PLACEHOLDER"),
                "{}: a placeholder",
                dir.display()
            );
        }
        let Ok(text) = std::fs::read_to_string(dir.join("adapterconfig.yaml")) else { continue };
        let config: Value = serde_saphyr::from_str(&text).unwrap();
        let Some(image) = config["spec"]["jobTemplate"]["image"].as_str() else { continue };
        let binary = image.strip_prefix(&prefix).and_then(|rest| rest.strip_suffix(&tag));
        let binary =
            binary.unwrap_or_else(|| panic!("{}: {image} is not {prefix}<binary>{tag}", dir.display()));
        assert_dockerfile_builds(binary, 65532);
        images += 1;
    }
    assert!(images >= 2, "the cluster and node pool validations run Jobs");
}

#[test]
fn tracing_is_off_by_default_and_configures_both_binaries_when_an_endpoint_is_given() {
    let env_names = |values: Option<&std::path::Path>| -> Vec<Vec<String>> {
        let objects = helm::render(values).unwrap();
        helm::of_kind(&objects, "Deployment")
            .map(|d| {
                let env = d["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap();
                env.iter().map(|e| e["name"].as_str().unwrap().to_owned()).collect()
            })
            .collect()
    };
    for env in env_names(None) {
        assert!(!env.iter().any(|n| n.starts_with("OTEL_")), "tracing is off by default: {env:?}");
    }
    let production = chart_dir().join("ci/production-values.yaml");
    let deployments = env_names(Some(&production));
    assert_eq!(deployments.len(), 2);
    for env in deployments {
        for name in ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"] {
            assert!(env.iter().any(|n| n == name), "{name} missing from {env:?}");
        }
    }
}

#[test]
fn maestro_client_certificates_are_mounted_only_when_a_secret_is_named() {
    let operator = |values: Option<&std::path::Path>| -> Value {
        let objects = helm::render(values).unwrap();
        let deployment = helm::of_kind(&objects, "Deployment")
            .find(|d| d["metadata"]["name"].as_str().is_some_and(|n| n.ends_with("-operator")))
            .cloned();
        deployment.unwrap()["spec"]["template"]["spec"].clone()
    };
    let default = operator(None);
    assert!(default["volumes"].is_null() && default["containers"][0]["volumeMounts"].is_null(), "{default}");
    let production = operator(Some(&chart_dir().join("ci/production-values.yaml")));
    assert_eq!(production["volumes"][0]["secret"]["secretName"], "maestro-client-certs");
    assert_eq!(production["volumes"][0]["secret"]["defaultMode"], 0o440, "readable by the pod's group only");
    let mount = &production["containers"][0]["volumeMounts"][0];
    assert_eq!(
        (mount["mountPath"].as_str(), mount["readOnly"].as_bool()),
        (Some("/etc/maestro/certs"), Some(true))
    );
}
