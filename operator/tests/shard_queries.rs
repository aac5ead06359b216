//! The searches a Sentinel sends are understood by the real API (over PostgreSQL) and select
//! exactly the shard's possibly-due resources.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;

use hyperfleet_api::{
    http::{AppState, app},
    kinds::{KindSettings, Kinds},
    store::Store,
};
use hyperfleet_api_model::{
    ConditionStatus, CreateResource, ListParams, ReportedCondition, StatusReport, client::Client,
};
use hyperfleet_crds::v1alpha1::{SelectorOperator, SelectorRequirement, ShardSelector};
use hyperfleet_operator::sentinel::query::{poll_search, shard_search};

async fn api(pool: PgPool) -> Client {
    let kinds = Kinds {
        cluster: KindSettings { required_adapters: vec!["dns".into()], ..KindSettings::default() },
        ..Kinds::default()
    };
    let state = AppState::new(Store::new(pool, Arc::new(kinds)), Duration::from_secs(600));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app(state, Duration::from_secs(30))).await });
    Client::new(&base).unwrap()
}

async fn cluster(client: &Client, name: &str, labels: &[(&str, &str)], reconciled: bool) {
    let body = CreateResource {
        kind: None,
        name: name.into(),
        spec: serde_json::json!({}),
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    };
    let created = client.create_cluster(&body).await.unwrap();
    if reconciled {
        let condition = |type_: &str| ReportedCondition {
            type_: type_.into(),
            status: ConditionStatus::True,
            reason: None,
            message: None,
        };
        let report = StatusReport {
            adapter: "dns".into(),
            observed_generation: 1,
            observed_time: None,
            conditions: vec![condition("Applied"), condition("Available"), condition("Health")],
            data: None,
            metadata: None,
        };
        client.put_status(&created.href, &report).await.unwrap().unwrap();
    }
}

async fn names(client: &Client, search: String) -> Vec<String> {
    let params =
        ListParams { search: Some(search.clone()), order: Some("name".into()), ..Default::default() };
    let page = client.list_clusters(&params).await.unwrap_or_else(|err| panic!("{search}: {err}"));
    page.items.into_iter().map(|c| c.name).collect()
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_shard_poll_fetches_only_its_possibly_due_resources(pool: PgPool) {
    let client = api(pool).await;
    cluster(&client, "east-pending", &[("region", "us-east")], false).await;
    cluster(&client, "east-ready", &[("region", "us-east")], true).await;
    cluster(&client, "east-canary", &[("region", "us-east"), ("canary", "true")], false).await;
    cluster(&client, "west-pending", &[("region", "eu-west")], false).await;

    let selector = ShardSelector {
        match_labels: BTreeMap::from([("region".into(), "us-east".into())]),
        match_expressions: vec![SelectorRequirement {
            key: "canary".into(),
            operator: SelectorOperator::NotIn,
            values: vec!["true".into()],
        }],
    };
    let shard = shard_search(&selector).unwrap();
    assert_eq!(names(&client, shard.clone().unwrap()).await, ["east-pending", "east-ready"]);

    let now = Utc::now();
    let due = poll_search(shard.as_deref(), now, chrono::Duration::minutes(30));
    assert_eq!(names(&client, due).await, ["east-pending"], "a freshly reconciled cluster is not fetched");
    let later =
        poll_search(shard.as_deref(), now + chrono::Duration::hours(1), chrono::Duration::minutes(30));
    assert_eq!(names(&client, later).await, ["east-pending", "east-ready"], "until its re-check is due");
}
