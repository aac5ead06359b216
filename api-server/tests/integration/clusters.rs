//! Cluster CRUD against a real PostgreSQL: the contract clients and adapters rely on.

use crate::common;

use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api::kinds::{KindSettings, Kinds};
use hyperfleet_api_model::{PatchResource, Phase};

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn created_cluster_round_trips_with_server_fields(pool: PgPool) {
    let api = common::start(pool).await;
    let created = api.cluster("prod-eu-1", &[("region", "eu-west"), ("example.com/tier", "gold")]).await;

    assert_eq!(created.id.get_version_num(), 7, "ids are UUIDv7");
    assert_eq!(created.kind, "Cluster");
    assert_eq!(created.generation, 1);
    assert_eq!(created.href, format!("/api/hyperfleet/v1/clusters/{}", created.id));
    assert_eq!(created.created_by, "system@hyperfleet.local");
    assert_eq!(created.created_time, created.updated_time);
    assert_eq!(created.status.phase, Phase::Pending);
    assert!(created.status.conditions.is_empty());
    assert!(created.deleted_time.is_none() && created.owner_references.is_none());

    let fetched = api.client.get_cluster(created.id).await.unwrap();
    assert_eq!(fetched, created);
    assert_eq!(fetched.labels["example.com/tier"], "gold");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn duplicate_names_conflict_until_the_first_is_deleted(pool: PgPool) {
    let kinds = Kinds {
        cluster: KindSettings { required_adapters: vec!["validation".into()], ..KindSettings::default() },
        ..Kinds::default()
    };
    let api = common::start_with(pool, kinds).await;
    let first = api.cluster("shared-name", &[]).await;

    let again = api.send(Method::POST, "/clusters", Some(json!({"name": "shared-name", "spec": {}}))).await;
    let body = again.problem(409, "HYPERFLEET-CNF-001");
    assert!(body["detail"].as_str().unwrap().contains("shared-name"));

    api.client.delete_cluster(first.id).await.unwrap();
    let reused = api.cluster("shared-name", &[]).await;
    assert_ne!(reused.id, first.id, "a deleting cluster frees its name");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn generation_moves_only_when_spec_or_labels_change(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("gen-rules", &[("a", "1")]).await;
    let patch = |spec: Option<serde_json::Value>, labels: Option<&[(&str, &str)]>| PatchResource {
        spec,
        labels: labels.map(|l| l.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
    };

    let same = api.client.patch_cluster(cluster.id, &patch(Some(cluster.spec.clone()), None)).await.unwrap();
    assert_eq!(same.generation, 1, "a no-op patch keeps the generation");
    assert_eq!(same.updated_time, cluster.updated_time);

    let spec =
        api.client.patch_cluster(cluster.id, &patch(Some(json!({"region": "eu"})), None)).await.unwrap();
    assert_eq!((spec.generation, &spec.spec), (2, &json!({"region": "eu"})), "spec is replaced whole");
    assert_eq!(spec.labels, cluster.labels, "omitted labels are kept");

    let labels = api.client.patch_cluster(cluster.id, &patch(None, Some(&[("b", "2")]))).await.unwrap();
    assert_eq!(labels.generation, 3);
    assert_eq!(labels.labels.len(), 1, "labels are replaced whole");
    assert!(labels.updated_time > cluster.updated_time);

    let deleted = api.client.delete_cluster(cluster.id).await.unwrap();
    assert!(deleted.deleted_time.is_some());
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn patch_is_strict(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("strict-patch", &[]).await;
    let path = format!("/clusters/{}", cluster.id);

    let unknown = api.send(Method::PATCH, &path, Some(json!({"spec": {}, "name": "renamed"}))).await;
    assert!(
        unknown.problem(400, "HYPERFLEET-VAL-006")["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `name`")
    );

    // An empty PATCH is VAL-005, as the reference answers.
    api.send(Method::PATCH, &path, Some(json!({}))).await.problem(400, "HYPERFLEET-VAL-005");
    api.send(Method::PATCH, &path, Some(json!("{not json"))).await.problem(400, "HYPERFLEET-VAL-006");
    let not_object = api.send(Method::PATCH, &path, Some(json!({"spec": [1, 2]}))).await;
    assert_eq!(not_object.problem(400, "HYPERFLEET-VAL-000")["errors"][0]["field"], "spec");
    let bad_label = api.send(Method::PATCH, &path, Some(json!({"labels": {"bad key": "v"}}))).await;
    assert_eq!(bad_label.problem(400, "HYPERFLEET-VAL-000")["errors"][0]["field"], "labels.bad key");

    assert_eq!(api.client.get_cluster(cluster.id).await.unwrap().generation, 1, "nothing was stored");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn create_reports_every_invalid_field_at_once(pool: PgPool) {
    let api = common::start(pool).await;
    let body = json!({"kind": "NodePool", "name": "Bad_Name", "spec": "text", "labels": {"ok": "-bad-"}});
    let answer = api.send(Method::POST, "/clusters", Some(body)).await;
    let problem = answer.problem(400, "HYPERFLEET-VAL-000");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["kind", "name", "labels.ok", "spec"]);
    assert_eq!(problem["errors"][1]["constraint"], "pattern");

    let unknown =
        api.send(Method::POST, "/clusters", Some(json!({"name": "abc", "spec": {}, "extra": 1}))).await;
    unknown.problem(400, "HYPERFLEET-VAL-006");
    // A missing spec is a field error (VAL-000, `required`), as the reference answers.
    let missing = api.send(Method::POST, "/clusters", Some(json!({"name": "abc"}))).await;
    let error = &missing.problem(400, "HYPERFLEET-VAL-000")["errors"][0];
    assert_eq!((error["field"].as_str(), error["constraint"].as_str()), (Some("spec"), Some("required")));
    let total: i64 = sqlx::query_scalar("select count(*) from resources").fetch_one(&api.pool).await.unwrap();
    assert_eq!(total, 0);
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn spec_schema_is_enforced_when_configured(pool: PgPool) {
    let schema =
        json!({"type": "object", "required": ["region"], "properties": {"region": {"enum": ["us", "eu"]}}});
    let kinds = Kinds {
        cluster: KindSettings {
            spec_schema: Some(std::sync::Arc::new(jsonschema::validator_for(&schema).unwrap())),
            ..KindSettings::default()
        },
        ..Kinds::default()
    };
    let api = common::start_with(pool, kinds).await;
    let bad =
        api.send(Method::POST, "/clusters", Some(json!({"name": "abc", "spec": {"region": "mars"}}))).await;
    let problem = bad.problem(400, "HYPERFLEET-VAL-000");
    assert_eq!(problem["errors"][0]["field"], "spec.region");
    assert_eq!(
        problem["errors"][0]["constraint"], "enum",
        "the JSON Schema keyword, named as the reference names it"
    );
    let missing = api.send(Method::POST, "/clusters", Some(json!({"name": "abc", "spec": {}}))).await;
    assert_eq!(missing.problem(400, "HYPERFLEET-VAL-000")["errors"][0]["constraint"], "required");
    let good =
        api.send(Method::POST, "/clusters", Some(json!({"name": "abc", "spec": {"region": "eu"}}))).await;
    assert_eq!(good.status, 201);
    let id = good.body["id"].as_str().unwrap();
    let patch = api.send(Method::PATCH, &format!("/clusters/{id}"), Some(json!({"spec": {}}))).await;
    patch.problem(400, "HYPERFLEET-VAL-000");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn errors_are_problem_json_with_request_id(pool: PgPool) {
    let api = common::start(pool).await;
    let missing = api.get("/clusters/0190b6a4-0000-7000-8000-000000000000").await;
    let problem = missing.problem(404, "HYPERFLEET-NTF-001");
    for field in ["type", "title", "detail", "instance", "trace_id", "timestamp"] {
        assert!(problem[field].is_string(), "{field} missing: {problem}");
    }
    assert_eq!(problem["instance"], "/api/hyperfleet/v1/clusters/0190b6a4-0000-7000-8000-000000000000");
    let echoed = missing.headers.get("x-request-id").unwrap().to_str().unwrap();
    assert_eq!(problem["trace_id"], echoed);

    api.get("/clusters/not-a-uuid").await.problem(404, "HYPERFLEET-NTF-001");
    api.get("/nothing-here").await.problem(404, "HYPERFLEET-NTF-000");
    let wrong_method = api.send(Method::PUT, "/clusters", None).await;
    wrong_method.problem(405, "HYPERFLEET-MTH-000");
    let allow = wrong_method.headers.get("allow").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(allow.as_deref(), Some("GET,HEAD,POST"), "a 405 says which methods the path serves");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn delete_without_required_adapters_removes_the_cluster_and_its_nodepools(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("short-lived", &[]).await;
    api.nodepool(&cluster, "workers").await;

    let answer = api.send(Method::DELETE, &format!("/clusters/{}", cluster.id), None).await;
    assert_eq!(answer.status, 202);
    assert!(answer.body["deleted_time"].is_string());
    api.get(&format!("/clusters/{}", cluster.id)).await.problem(404, "HYPERFLEET-NTF-001");
    let rows: i64 = sqlx::query_scalar("select count(*) from resources").fetch_one(&api.pool).await.unwrap();
    assert_eq!(rows, 0, "node pools go with their cluster");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn soft_delete_bumps_generation_once_and_blocks_changes(pool: PgPool) {
    let kinds = Kinds {
        cluster: KindSettings { required_adapters: vec!["dns".into()], ..KindSettings::default() },
        ..Kinds::default()
    };
    let api = common::start_with(pool, kinds).await;
    let cluster = api.cluster("being-deleted", &[]).await;

    let first = api.client.delete_cluster(cluster.id).await.unwrap();
    assert_eq!(first.generation, 2);
    assert_eq!(first.status.phase, Phase::Deleting);
    assert_eq!(first.deleted_by.as_deref(), Some("system@hyperfleet.local"));
    let second = api.client.delete_cluster(cluster.id).await.unwrap();
    assert_eq!((second.generation, second.deleted_time), (2, first.deleted_time), "DELETE is idempotent");

    assert_eq!(api.client.get_cluster(cluster.id).await.unwrap().generation, 2, "still readable");
    let patch =
        api.send(Method::PATCH, &format!("/clusters/{}", cluster.id), Some(json!({"labels": {}}))).await;
    patch.problem(409, "HYPERFLEET-CNF-003");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_create_body_may_carry_a_resources_read_only_fields_but_nothing_unknown(pool: PgPool) {
    let api = common::start(pool).await;
    // What a reference client sends when it posts back a resource it read.
    let echoed = json!({
        "id": "0190a7d2-0000-7000-8000-000000000001", "kind": "Cluster", "href": "/somewhere/else",
        "name": "echoed", "spec": {}, "labels": {}, "generation": 7, "status": {"phase": "Ready"},
        "created_time": "2020-01-01T00:00:00Z", "updated_time": "2020-01-01T00:00:00Z",
        "created_by": "someone", "updated_by": "someone"
    });
    let created = api.send(Method::POST, "/clusters", Some(echoed)).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_ne!(created.body["id"], "0190a7d2-0000-7000-8000-000000000001", "the server assigns the id");
    assert_eq!(
        (created.body["generation"].as_i64(), created.body["status"]["phase"].as_str()),
        (Some(1), Some("Pending"))
    );
    assert_eq!(created.body["created_by"], "system@hyperfleet.local");

    let unknown =
        api.send(Method::POST, "/clusters", Some(json!({"name": "typo", "spec": {}, "lables": {}}))).await;
    assert_eq!(unknown.status, 400, "an unknown member is still refused: {:?}", unknown.body);
    let wrong_kind = api
        .send(Method::POST, "/clusters", Some(json!({"name": "np", "kind": "NodePool", "spec": {}})))
        .await;
    assert_eq!(wrong_kind.status, 400, "{:?}", wrong_kind.body);
}
