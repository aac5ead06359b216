//! What operators of the API rely on: health, readiness, metrics, and migrations that replicas
//! can run at the same time.

use crate::common;

use reqwest::Method;
use sqlx::PgPool;

use hyperfleet_api::store::{MIGRATOR, migrate};

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn health_and_readiness_answer(pool: PgPool) {
    let api = common::start(pool).await;
    let health = api.send_raw(Method::GET, "/healthz", None).await;
    assert_eq!((health.status.as_u16(), &health.body["status"]), (200, &serde_json::json!("ok")));
    let ready = api.send_raw(Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, 200);
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn readiness_fails_when_the_database_is_gone(pool: PgPool) {
    let api = common::start(pool.clone()).await;
    pool.close().await;
    let ready = api.send_raw(Method::GET, "/readyz", None).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["status"], "not_ready");
    let list = api.get("/clusters").await;
    list.problem(503, "HYPERFLEET-SVC-001");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn metrics_count_requests_by_route_pattern(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("metered", &[]).await;
    api.client.get_cluster(cluster.id).await.unwrap();
    api.get("/clusters/0190b6a4-0000-7000-8000-000000000000").await;

    let metrics = api.send_raw(Method::GET, "/metrics", None).await;
    let text = metrics.body.as_str().unwrap();
    let line = |needle: &str| text.lines().find(|l| l.starts_with(needle)).map(str::to_owned);
    let get_ok = "hyperfleet_api_requests_total{method=\"GET\",path=\"/api/hyperfleet/v1/clusters/{cluster_id}\",code=\"200\"}";
    assert_eq!(line(get_ok).as_deref(), Some(format!("{get_ok} 1").as_str()), "{text}");
    let not_found = "hyperfleet_api_requests_total{method=\"GET\",path=\"/api/hyperfleet/v1/clusters/{cluster_id}\",code=\"404\"}";
    assert!(line(not_found).is_some(), "{text}");
    assert!(text.contains("hyperfleet_api_request_duration_seconds_bucket{"), "{text}");
    assert!(!text.contains(&cluster.id.to_string()), "concrete ids never become labels");
}

#[sqlx::test(migrations = false)]
async fn concurrent_migrations_apply_each_migration_once(pool: PgPool) {
    let (a, b, c) = tokio::join!(migrate(&pool), migrate(&pool), migrate(&pool));
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let applied: i64 =
        sqlx::query_scalar("select count(*) from _sqlx_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(applied, i64::try_from(MIGRATOR.iter().count()).unwrap());
}
