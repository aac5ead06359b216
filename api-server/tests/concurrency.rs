//! Writers racing on one cluster and its node pools: every answer is a decision (2xx, 404,
//! 409), never a 500 from a deadlock between the cluster's DELETE and node pool writes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

mod common;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api::kinds::{KindSettings, Kinds};

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn deleting_a_cluster_while_its_node_pools_are_patched_and_deleted_never_deadlocks(pool: PgPool) {
    // Required adapters make every DELETE a soft delete that cascades to the node pools.
    let required =
        |name: &str| KindSettings { required_adapters: vec![name.to_owned()], ..KindSettings::default() };
    let api =
        common::start_with(pool, Kinds { cluster: required("dns"), nodepool: required("hypershift") }).await;
    for round in 0..20 {
        let cluster = api.cluster(&format!("race-{round}"), &[]).await;
        let mut pools = Vec::new();
        for n in 0..8 {
            pools.push(api.nodepool(&cluster, &format!("np{n}")).await);
        }
        let paths: Vec<String> = pools
            .iter()
            .map(|nodepool| format!("/clusters/{}/nodepools/{}", cluster.id, nodepool.id))
            .collect();
        let mut writes = Vec::new();
        for (n, path) in paths.iter().enumerate() {
            let (method, body) = if n % 4 == 0 {
                (Method::PATCH, Some(json!({"labels": {"round": round.to_string()}})))
            } else {
                (Method::DELETE, None)
            };
            writes.push(api.send(method, path, body));
        }
        let cluster_path = format!("/clusters/{}", cluster.id);
        let (deleted, answers) =
            tokio::join!(api.send(Method::DELETE, &cluster_path, None), futures::future::join_all(writes));
        assert_eq!(deleted.status, 202, "round {round}: {:?}", deleted.body);
        for answer in answers {
            assert!(
                matches!(answer.status.as_u16(), 200 | 202 | 404 | 409),
                "round {round}: {} {:?}",
                answer.status,
                answer.body
            );
        }
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
