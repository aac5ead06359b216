//! End to end on a real cluster: the CRDs install, the samples apply and show the printer
//! columns; a cluster created through the API gets its adapters' Jobs, DNSEndpoint and
//! HostedCluster, and once they complete (Jobs patched complete when no kubelet runs them, the
//! other objects marked ready when their controllers are absent) it is Ready; deleting it
//! removes them; a shard is added and removed by applying and deleting a SentinelConfig.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use k8s_openapi::{
    api::batch::v1::Job, apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
};

use hyperfleet_api_model::{CreateResource, Phase};
use hyperfleet_crds::v1alpha1::SentinelConfig;
use hyperfleet_e2e::{
    apply_yaml,
    catalog::{Catalog, KINDS, SECRET},
    env, eventually, with_cluster, with_temp_ns,
};

const SENTINEL_SAMPLE: &str = include_str!("../../config/samples/sentinelconfig-clusters-eu-west.yaml");

#[tokio::test]
async fn crds_install_and_sentinelconfigs_show_the_printer_columns() {
    let Some(env) = env("crds_install_and_sentinelconfigs_show_the_printer_columns").await else { return };
    for crd in hyperfleet_crds::crds() {
        let api: Api<CustomResourceDefinition> = Api::all(env.kube.clone());
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &PatchParams::apply("hyperfleet-e2e").force(), &Patch::Apply(&crd)).await.unwrap();
    }
    let kube = env.kube.clone();
    with_temp_ns(&kube, |ns| async move {
        apply_yaml(&env.kube, SENTINEL_SAMPLE, Some(&ns)).await;
        // What `kubectl get sentinelconfigs` prints: the server's Table rendering.
        let request = http_table_request(&format!(
            "/apis/hyperfleet.redhat.com/v1alpha1/namespaces/{ns}/sentinelconfigs"
        ));
        let table: serde_json::Value = env.kube.request(request).await.unwrap();
        let columns: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            columns,
            [
                "Name",
                "Resource",
                "Shard",
                "Broker",
                "Ready",
                "Pending",
                "Published",
                "Last Poll",
                "Age",
                "Reason",
                "Message"
            ]
        );
    })
    .await;
}

fn http_table_request(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap()
}

#[tokio::test]
async fn a_cluster_gets_its_objects_becomes_ready_and_deleting_it_removes_them() {
    let Some(env) = env("a_cluster_gets_its_objects_becomes_ready_and_deleting_it_removes_them").await else {
        return;
    };
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../config/samples/api/cluster.json")).unwrap();
    let body = CreateResource {
        kind: None,
        name: format!("e2e-{}", &uuid::Uuid::now_v7().simple().to_string()[24..]),
        spec: sample["spec"].clone(),
        labels: [("region".to_owned(), "eu-west".to_owned())].into(),
    };
    let catalog = Catalog::prepare(&env.kube).await;
    let (api, kube, world) = (env.api.clone(), env.kube.clone(), catalog.clone());
    with_cluster(&env.api, &body, |cluster| async move {
        let jobs: Api<Job> = Api::all(kube.clone());
        let selector = format!("hyperfleet.io/resource-id={}", cluster.id);
        let id = cluster.id.to_string();
        eventually("the cluster to be Ready", Duration::from_secs(600), || async {
            // No kubelet in a test cluster: complete every Job the adapters made for this cluster.
            let listed = jobs.list(&ListParams::default().labels(&selector)).await;
            for job in listed.unwrap_or_else(|err| panic!("listing the cluster's Jobs: {err}")).items {
                complete(&kube, &job).await;
            }
            world.play_controllers(&id).await;
            let current =
                api.get_cluster(cluster.id).await.unwrap_or_else(|err| panic!("reading the cluster: {err}"));
            (current.status.phase == Phase::Ready).then_some(())
        })
        .await;
        for kind in [KINDS[0], KINDS[2], SECRET] {
            assert_eq!(world.objects(kind, &id).await.len(), 1, "the cluster's {}", kind.2);
        }
        api.delete_cluster(cluster.id).await.unwrap_or_else(|err| panic!("deleting the cluster: {err}"));
        eventually("the cluster's objects to go", Duration::from_secs(300), || async {
            let mut left = 0;
            for kind in KINDS.into_iter().chain([SECRET]) {
                left += world.objects(kind, &id).await.len();
            }
            (left == 0).then_some(())
        })
        .await;
    })
    .await;
    catalog.clean_up().await;
}

/// Marks `job` succeeded the way the Job controller would, in a form the API server accepts:
/// its `startTime` kept (immutable once set), no pod active, ready or terminating, and both
/// `SuccessCriteriaMet` and `Complete` (a finished Job must have both).
async fn complete(client: &kube::Client, job: &Job) {
    if job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) > 0 {
        return;
    }
    let namespace = job.metadata.namespace.clone().unwrap();
    let name = job.metadata.name.clone().unwrap();
    let api: Api<Job> = Api::namespaced(client.clone(), &namespace);
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let started =
        job.status.as_ref().and_then(|s| s.start_time.as_ref()).map_or(now.clone(), |t| t.0.to_string());
    let status = serde_json::json!({"status": {
        "startTime": started, "completionTime": now,
        "active": 0, "ready": 0, "terminating": 0, "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}
        ]
    }});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|err| panic!("completing Job {namespace}/{name}: {err}"));
}

#[tokio::test]
async fn a_shard_is_added_and_removed_with_its_sentinelconfig() {
    let Some(env) = env("a_shard_is_added_and_removed_with_its_sentinelconfig").await else { return };
    let kube = env.kube.clone();
    with_temp_ns(&kube, |ns| async move {
        apply_yaml(&env.kube, SENTINEL_SAMPLE, Some(&ns)).await;
        let api: Api<SentinelConfig> = Api::namespaced(env.kube.clone(), &ns);
        eventually("the SentinelConfig to get a status", Duration::from_secs(60), || async {
            let config = api.get("clusters-eu-west").await.unwrap();
            config.status.filter(|s| !s.conditions.is_empty())
        })
        .await;
        api.delete("clusters-eu-west", &Default::default()).await.unwrap();
        if let Some(operator) = &env.operator_url {
            // The shard's series go with its Sentinel.
            let shard = "shard=\"clusters-eu-west\"";
            eventually("the shard's metrics to go", Duration::from_secs(60), || async {
                let metrics = reqwest_get(&format!("{operator}/metrics")).await;
                (!metrics.contains(shard)).then_some(())
            })
            .await;
        }
    })
    .await;
}

async fn reqwest_get(url: &str) -> String {
    reqwest::get(url).await.unwrap().error_for_status().unwrap().text().await.unwrap()
}
