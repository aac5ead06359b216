//! Two operator replicas on a real cluster (the chart's default `operator.replicas: 2`): each
//! SentinelConfig runs on exactly one replica, the one holding its Lease, and they spread over
//! the replicas; deleting a pod moves its SentinelConfigs to the other at once (its Leases are
//! released on SIGTERM); every replica consumes for the adapters (`Consumers` in their status).
//!
//! `HYPERFLEET_OPERATOR_NAMESPACE` (default `hyperfleet`) is where the operator and its Leases are.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::BTreeSet, time::Duration};

use k8s_openapi::api::{coordination::v1::Lease, core::v1::Pod};
use kube::{Api, api::ListParams};

use hyperfleet_crds::v1alpha1::{AdapterConfig, SentinelConfig};
use hyperfleet_e2e::{apply_yaml, env, eventually, with_temp_ns};

const SHARDS: [&str; 4] = ["a", "b", "c", "d"];

fn operator_namespace() -> String {
    std::env::var("HYPERFLEET_OPERATOR_NAMESPACE").unwrap_or_else(|_| "hyperfleet".into())
}

fn sentinel_yaml(name: &str) -> String {
    format!(
        "apiVersion: hyperfleet.redhat.com/v1alpha1\nkind: SentinelConfig\nmetadata: {{name: e2e-{name}}}\n\
         spec:\n  resourceType: clusters\n  shardSelector: {{matchLabels: {{e2e-shard: \"{name}\"}}}}\n  \
         hyperfleetAPI: {{url: \"http://hyperfleet-api.hyperfleet.svc:8000\"}}\n  \
         broker: {{type: memory, topic: e2e-{name}}}\n"
    )
}

/// The identities of the live operator replicas (their member Leases).
async fn members(kube: &kube::Client) -> BTreeSet<String> {
    let leases: Api<Lease> = Api::namespaced(kube.clone(), &operator_namespace());
    let listed = leases
        .list(&ListParams::default().labels("hyperfleet.io/lease-role=member"))
        .await
        .expect("cannot list the operator's member Leases");
    listed.items.into_iter().filter_map(|lease| lease.spec.and_then(|s| s.holder_identity)).collect()
}

/// Each of our SentinelConfigs' replica, once every one of them names one.
async fn placement(kube: &kube::Client, namespace: &str) -> Option<Vec<String>> {
    let api: Api<SentinelConfig> = Api::namespaced(kube.clone(), namespace);
    let mut replicas = Vec::new();
    for shard in SHARDS {
        let config = api.get(&format!("e2e-{shard}")).await.expect("cannot read a SentinelConfig");
        replicas.push(config.status.and_then(|s| s.replica)?);
    }
    Some(replicas)
}

/// The holder of a SentinelConfig's Lease.
async fn holder(kube: &kube::Client, namespace: &str, shard: &str) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(kube.clone(), &operator_namespace());
    let name = format!("hyperfleet-operator.sentinelconfig.{namespace}.e2e-{shard}");
    let lease = leases.get_opt(&name).await.expect("cannot read a SentinelConfig's Lease")?;
    lease.spec.and_then(|s| s.holder_identity).filter(|h| !h.is_empty())
}

#[tokio::test]
async fn sentinelconfigs_spread_over_the_replicas_and_move_when_one_goes() {
    let Some(env) = env("sentinelconfigs_spread_over_the_replicas_and_move_when_one_goes").await else {
        return;
    };
    let live = members(&env.kube).await;
    assert!(live.len() >= 2, "deploy the operator with operator.replicas >= 2 (live replicas: {live:?})");
    let kube = env.kube.clone();
    with_temp_ns(&kube, |ns| async move {
        for shard in SHARDS {
            apply_yaml(&env.kube, &sentinel_yaml(shard), Some(&ns)).await;
        }
        let placed = eventually("every SentinelConfig to run somewhere", Duration::from_secs(90), || {
            placement(&env.kube, &ns)
        })
        .await;
        for (shard, replica) in SHARDS.iter().zip(&placed) {
            assert_eq!(
                holder(&env.kube, &ns, shard).await.as_ref(),
                Some(replica),
                "runs where its Lease is held"
            );
        }
        let used: BTreeSet<&String> = placed.iter().collect();
        assert!(used.len() >= 2, "four SentinelConfigs on one replica of {}: {placed:?}", live.len());

        // A replica goes (SIGTERM): its SentinelConfigs run elsewhere, without waiting a Lease out.
        let gone = placed[0].clone();
        let pods: Api<Pod> = Api::namespaced(env.kube.clone(), &operator_namespace());
        pods.delete(&gone, &Default::default()).await.expect("cannot delete the operator pod");
        eventually("its SentinelConfigs to move", Duration::from_secs(60), || async {
            let now = placement(&env.kube, &ns).await?;
            let mut held = Vec::new();
            for shard in SHARDS {
                held.push(holder(&env.kube, &ns, shard).await?);
            }
            (now == held && !now.contains(&gone)).then_some(())
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn every_replica_consumes_for_the_adapters() {
    let Some(env) = env("every_replica_consumes_for_the_adapters").await else { return };
    let replicas = members(&env.kube).await.len();
    let adapters: Api<AdapterConfig> = Api::all(env.kube.clone());
    let listed = adapters.list(&ListParams::default()).await.expect("cannot list AdapterConfigs");
    let name = listed
        .items
        .first()
        .map(|a| (a.metadata.namespace.clone().unwrap(), a.metadata.name.clone().unwrap()));
    let (namespace, name) =
        name.expect("no AdapterConfig: apply the catalog (kubectl apply -R -f adapters/)");
    let api: Api<AdapterConfig> = Api::namespaced(env.kube.clone(), &namespace);
    // The status figures refresh every --status-interval (30 s).
    eventually("every replica to consume", Duration::from_secs(90), || async {
        let config = api.get(&name).await.expect("cannot read the AdapterConfig");
        let consumers = config.status.and_then(|s| s.consumers)?;
        (usize::try_from(consumers).ok()? == replicas).then_some(())
    })
    .await;
}
