//! Writers racing on one cluster and its node pools: every answer is a decision (2xx, 404,
//! 409), never a 500 from a deadlock between the cluster's DELETE and node pool writes.

use crate::common;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api::kinds::{KindSettings, Kinds};

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn deleting_a_cluster_while_its_node_pools_are_patched_and_deleted_never_deadlocks(pool: PgPool) {
    let required =
        |name: &str| KindSettings { required_adapters: vec![name.to_owned()], ..KindSettings::default() };
    // Node pools without required adapters are removed at once, and removing one settles its
    // cluster, which locks the cluster after the node pool: the order a cluster DELETE (the
    // cluster, then its node pools) must not meet the other way round. Before rows were locked
    // parent first, this mix deadlocked within a few rounds.
    let mixes = [
        (
            "soft cluster, hard node pools",
            Kinds { cluster: required("dns"), nodepool: KindSettings::default() },
        ),
        ("everything hard", Kinds::default()),
        ("everything soft", Kinds { cluster: required("dns"), nodepool: required("hypershift") }),
    ];
    for (i, (mix, kinds)) in mixes.into_iter().enumerate() {
        let api = common::start_with(pool.clone(), kinds).await;
        for round in 0..15 {
            race_one_round(&api, &format!("{mix}, round {round}"), &format!("race-{i}-{round}")).await;
        }
    }
}

async fn race_one_round(api: &common::TestApi, label: &str, name: &str) {
    let cluster = api.cluster(name, &[]).await;
    let mut paths = Vec::new();
    for n in 0..8 {
        let nodepool = api.nodepool(&cluster, &format!("np{n}")).await;
        paths.push(format!("/clusters/{}/nodepools/{}", cluster.id, nodepool.id));
    }
    let writes = paths.iter().enumerate().map(|(n, path)| {
        let (method, body) = if n % 4 == 0 {
            (Method::PATCH, Some(json!({"labels": {"round": name}})))
        } else {
            (Method::DELETE, None)
        };
        api.send(method, path, body)
    });
    let cluster_path = format!("/clusters/{}", cluster.id);
    let (deleted, answers) =
        tokio::join!(api.send(Method::DELETE, &cluster_path, None), futures::future::join_all(writes));
    assert!(matches!(deleted.status.as_u16(), 202 | 404), "{label}: {} {:?}", deleted.status, deleted.body);
    for answer in answers {
        assert!(
            matches!(answer.status.as_u16(), 200 | 202 | 404 | 409),
            "{label}: {} {:?}",
            answer.status,
            answer.body
        );
    }
}

/// Clients that hang up mid-request (here: every request aborted after a few milliseconds, in
/// the middle of its transaction) leave no pooled connection inside a transaction: later
/// requests all succeed and PostgreSQL shows no session `idle in transaction`.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn clients_that_hang_up_mid_request_leave_no_connection_inside_a_transaction(pool: PgPool) {
    let api = common::start(pool.clone()).await;
    for n in 0..20 {
        api.cluster(&format!("fleet-{n}"), &[("region", "eu")]).await;
    }
    let url = format!("{}/api/hyperfleet/v1/clusters?search=labels.region%3D%27eu%27&size=100", api.base);
    for round in 0..60u64 {
        // A fresh client per request, so hanging up closes its connection to the server.
        let client = reqwest::Client::new();
        let abort_after = std::time::Duration::from_micros(200 + (round * 397) % 4000);
        let _ = tokio::time::timeout(abort_after, client.get(&url).send()).await;
    }
    // Handlers that outlived their clients finish; then nothing may be left open.
    hyperfleet_testing::wait_until("no session idle in transaction", std::time::Duration::from_secs(10), || async {
        let idle: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        idle == 0
    })
    .await;
    for _ in 0..20 {
        let answer = api.send(Method::GET, "/clusters?search=labels.region%3D%27eu%27&size=100", None).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
}
