//! Status reports PostgreSQL could not store, or our own schema could not describe, are 400s
//! naming the field: never a 500, never stored. For clusters and node pools, on PUT and PATCH.

use crate::common;

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::PgPool;

fn report(extra: Value) -> Value {
    let mut report = json!({
        "adapter": "dns", "observed_generation": 1,
        "conditions": [
            {"type": "Applied", "status": "True"}, {"type": "Available", "status": "True"},
            {"type": "Health", "status": "True"}
        ]
    });
    for (key, value) in extra.as_object().unwrap() {
        report[key] = value.clone();
    }
    report
}

fn with_condition_text(field: &str) -> Value {
    let mut report = report(json!({}));
    report["conditions"][0][field] = json!("broken\u{0}text");
    report
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn nul_characters_and_non_object_documents_are_400s_naming_the_field(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("prod", &[]).await;
    let nodepool = api.nodepool(&cluster, "workers").await;
    let cases = [
        (with_condition_text("reason"), "conditions.0.reason"),
        (with_condition_text("message"), "conditions.0.message"),
        (report(json!({"data": {"zone": "a\u{0}b"}})), "data.zone"),
        (report(json!({"data": {"bad\u{0}key": 1}})), "data.bad\u{0}key"),
        (report(json!({"metadata": {"nested": ["x\u{0}"]}})), "metadata.nested.0"),
        (report(json!({"data": []})), "data"),
        (report(json!({"data": 7})), "data"),
        (report(json!({"metadata": 0.0})), "metadata"),
    ];
    for href in [&cluster.href, &nodepool.href] {
        let path = format!("{}/statuses", href.trim_start_matches("/api/hyperfleet/v1"));
        for (body, field) in &cases {
            let answer = api.send(Method::PUT, &path, Some(body.clone())).await;
            assert_eq!(answer.status, 400, "{body}: {:?}", answer.body);
            let fields: Vec<&str> = answer.body["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert_eq!(fields, [*field], "{body}");
        }
        assert_eq!(api.send(Method::GET, &path, None).await.body["items"], json!([]), "nothing stored");
        // PATCH of a stored report is judged like a report.
        assert_eq!(api.send(Method::PUT, &path, Some(report(json!({})))).await.status, 201);
        let patched =
            api.send(Method::PATCH, &format!("{path}/dns"), Some(json!({"data": {"k": "\u{0}"}}))).await;
        assert_eq!(patched.status, 400, "{:?}", patched.body);
    }
}
