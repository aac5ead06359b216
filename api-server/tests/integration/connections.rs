//! The store's pooled connections, seen from outside: a request that ends without committing
//! leaves no lock behind on its idle connection, and backends the server terminated cost at
//! most one failed request before the pool replaces them.

use crate::common;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use hyperfleet_api::kinds::{KindSettings, Kinds};

/// Locks the resource row from another session, waiting at most 5 s for whoever holds it.
async fn lock_row_from_outside(pool: &PgPool, id: Uuid) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("set local lock_timeout = '5s'").execute(&mut *tx).await?;
    sqlx::query("select 1 from resources where id = $1 for update").bind(id).execute(&mut *tx).await?;
    tx.rollback().await
}

/// A repeated DELETE (answered from inside its transaction, which it then drops) and a PATCH
/// refused with 409 both leave their connection idle in the pool with a `ROLLBACK` to send:
/// it is sent at once, so the row they locked is free for the next writer, not held until
/// that connection happens to be used again.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_request_that_ends_without_committing_leaves_no_lock_behind(pool: PgPool) {
    let kinds = Kinds {
        cluster: KindSettings { required_adapters: vec!["dns".into()], ..KindSettings::default() },
        ..Kinds::default()
    };
    let api = common::start_with(pool.clone(), kinds).await;
    let cluster = api.cluster("locked", &[]).await;
    api.client.delete_cluster(cluster.id).await.unwrap();

    let again = api.send(Method::DELETE, &format!("/clusters/{}", cluster.id), None).await;
    assert_eq!(again.status, 202, "{:?}", again.body);
    lock_row_from_outside(&pool, cluster.id).await.expect("the repeated DELETE still holds the row");

    let patch =
        api.send(Method::PATCH, &format!("/clusters/{}", cluster.id), Some(json!({"labels": {}}))).await;
    patch.problem(409, "HYPERFLEET-CNF-003");
    lock_row_from_outside(&pool, cluster.id).await.expect("the refused PATCH still holds the row");
}

/// The server terminates every backend of the API (as a restart or failover does) while the
/// pool holds idle connections: one request may fail, answered 503 (the database is
/// unavailable, not the request wrong), and every one after it succeeds on new connections.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn terminated_backends_cost_at_most_one_failed_request(pool: PgPool) {
    let api = common::start(pool.clone()).await;
    let cluster = api.cluster("survivor", &[]).await;
    let path = format!("/clusters/{}", cluster.id);
    // Concurrent requests, so the pool may hold more than one connection.
    let answers = futures::future::join_all((0..6).map(|_| api.get(&path))).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");

    let terminated: Vec<bool> = sqlx::query_scalar(
        "select pg_terminate_backend(pid) from pg_stat_activity \
         where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!terminated.is_empty(), "the API held no connection");

    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(api.get(&path).await.status.as_u16());
    }
    let failed: Vec<u16> = statuses.iter().copied().filter(|s| *s != 200).collect();
    assert!(
        failed.len() <= 1 && failed.iter().all(|s| *s == 503),
        "answers after the termination: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&200));
}
