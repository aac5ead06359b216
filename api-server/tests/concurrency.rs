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
