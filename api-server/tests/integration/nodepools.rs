//! Node pools: children of a cluster, addressed through it, listed per cluster and fleet-wide.

use crate::common;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api::kinds::{KindSettings, Kinds};
use hyperfleet_api_model::{ListParams, Phase};

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn nodepool_is_addressed_through_its_cluster(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("owner-one", &[]).await;
    let other = api.cluster("owner-two", &[]).await;
    let pool_ = api.nodepool(&cluster, "workers").await;

    assert_eq!(pool_.kind, "NodePool");
    assert_eq!(pool_.href, format!("/api/hyperfleet/v1/clusters/{}/nodepools/{}", cluster.id, pool_.id));
    let owner = pool_.owner_references.clone().unwrap();
    assert_eq!(
        (owner.id, owner.kind.as_str(), owner.href.as_str()),
        (cluster.id, "Cluster", cluster.href.as_str())
    );
    assert_eq!(api.client.get_nodepool(cluster.id, pool_.id).await.unwrap(), pool_);

    let wrong_parent = api.get(&format!("/clusters/{}/nodepools/{}", other.id, pool_.id)).await;
    wrong_parent.problem(404, "HYPERFLEET-NTF-001");
    let as_cluster = api.get(&format!("/clusters/{}", pool_.id)).await;
    as_cluster.problem(404, "HYPERFLEET-NTF-001");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn nodepools_list_per_cluster_and_fleet_wide(pool: PgPool) {
    let api = common::start(pool).await;
    let a = api.cluster("cluster-a", &[]).await;
    let b = api.cluster("cluster-b", &[]).await;
    api.nodepool(&a, "pool-a1").await;
    api.nodepool(&a, "pool-a2").await;
    api.nodepool(&b, "pool-b1").await;

    let of_a = api.client.list_nodepools(a.id, &ListParams::default()).await.unwrap();
    assert_eq!(of_a.total, 2);
    assert!(of_a.items.iter().all(|np| np.owner_references.as_ref().unwrap().id == a.id));
    let all = api.client.list_all_nodepools(&ListParams::default()).await.unwrap();
    assert_eq!(all.total, 3);
    let by_owner = api.client.list_all_nodepools(&ListParams::search(format!("owner_id = '{}'", b.id))).await;
    assert_eq!(by_owner.unwrap().items[0].name, "pool-b1");

    let missing = api.get("/clusters/0190b6a4-0000-7000-8000-000000000000/nodepools").await;
    missing.problem(404, "HYPERFLEET-NTF-001");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn nodepool_names_are_unique_within_a_cluster_only(pool: PgPool) {
    let api = common::start(pool).await;
    let a = api.cluster("cluster-a", &[]).await;
    let b = api.cluster("cluster-b", &[]).await;
    api.nodepool(&a, "workers").await;
    api.nodepool(&b, "workers").await;

    let dup = api
        .send(
            Method::POST,
            &format!("/clusters/{}/nodepools", a.id),
            Some(json!({"name": "workers", "spec": {}})),
        )
        .await;
    dup.problem(409, "HYPERFLEET-CNF-001");
    let long = api
        .send(
            Method::POST,
            &format!("/clusters/{}/nodepools", a.id),
            Some(json!({"name": "a".repeat(16), "spec": {}})),
        )
        .await;
    assert_eq!(long.problem(400, "HYPERFLEET-VAL-000")["errors"][0]["constraint"], "max_length");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn nodepools_need_a_live_cluster(pool: PgPool) {
    let kinds = Kinds {
        cluster: KindSettings { required_adapters: vec!["validation".into()], ..KindSettings::default() },
        ..Kinds::default()
    };
    let api = common::start_with(pool, kinds).await;
    let body = json!({"name": "workers", "spec": {}});
    let missing = api.send(
        Method::POST,
        "/clusters/0190b6a4-0000-7000-8000-000000000000/nodepools",
        Some(body.clone()),
    );
    missing.await.problem(404, "HYPERFLEET-NTF-001");

    let cluster = api.cluster("going-away", &[]).await;
    api.client.delete_cluster(cluster.id).await.unwrap();
    let deleting = api.send(Method::POST, &format!("/clusters/{}/nodepools", cluster.id), Some(body)).await;
    assert!(
        deleting.problem(409, "HYPERFLEET-CNF-003")["detail"].as_str().unwrap().contains("being deleted")
    );
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn cluster_deletion_cascades_to_its_nodepools(pool: PgPool) {
    let kinds = Kinds {
        cluster: KindSettings { required_adapters: vec!["validation".into()], ..KindSettings::default() },
        nodepool: KindSettings { required_adapters: vec!["hypershift".into()], ..KindSettings::default() },
    };
    let api = common::start_with(pool, kinds).await;
    let cluster = api.cluster("cascade", &[]).await;
    let gone_first = api.nodepool(&cluster, "early").await;
    let workers = api.nodepool(&cluster, "workers").await;
    let early = api.client.delete_nodepool(cluster.id, gone_first.id).await.unwrap();
    assert_eq!((early.generation, early.status.phase), (2, Phase::Deleting));

    api.client.delete_cluster(cluster.id).await.unwrap();
    let child = api.client.get_nodepool(cluster.id, workers.id).await.unwrap();
    assert_eq!(child.generation, 2);
    assert_eq!(child.status.phase, Phase::Deleting);
    assert!(child.deleted_time.is_some());
    let untouched = api.client.get_nodepool(cluster.id, gone_first.id).await.unwrap();
    assert_eq!(untouched.deleted_time, early.deleted_time, "already-deleting children keep their time");
    assert_eq!(untouched.generation, 2, "and are not bumped twice");

    let patch = api
        .send(
            Method::PATCH,
            &format!("/clusters/{}/nodepools/{}", cluster.id, workers.id),
            Some(json!({"spec": {}})),
        )
        .await;
    patch.problem(409, "HYPERFLEET-CNF-003");
}
