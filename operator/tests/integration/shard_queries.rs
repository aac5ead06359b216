//! The searches a Sentinel sends are understood by the real API (over PostgreSQL) and select
//! exactly the shard's possibly-due resources.

use crate::common;

use std::collections::BTreeMap;

use chrono::Utc;
use sqlx::PgPool;

use hyperfleet_api_model::{ListParams, client::Client, search::Expr};
use hyperfleet_crds::v1alpha1::{SelectorOperator, SelectorRequirement, ShardSelector};
use hyperfleet_operator::sentinel::query::{poll_search, shard_search};

async fn cluster(client: &Client, name: &str, labels: &[(&str, &str)], reconciled: bool) {
    let created = common::cluster(client, name, labels).await;
    if reconciled {
        common::reconcile(client, &created, 1).await;
    }
}

async fn names(client: &Client, search: Expr) -> Vec<String> {
    let params = ListParams { order: Some("name".into()), ..Default::default() }.with_search(Some(&search));
    let page = client.list_clusters(&params).await.unwrap_or_else(|err| panic!("{search}: {err}"));
    page.items.into_iter().map(|c| c.name).collect()
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_shard_poll_fetches_only_its_possibly_due_resources(pool: PgPool) {
    let client = common::api(pool).await;
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
    let due = poll_search(shard.as_ref(), now, chrono::Duration::minutes(30));
    assert_eq!(names(&client, due).await, ["east-pending"], "a freshly reconciled cluster is not fetched");
    let later = poll_search(shard.as_ref(), now + chrono::Duration::hours(1), chrono::Duration::minutes(30));
    assert_eq!(names(&client, later).await, ["east-pending", "east-ready"], "until its re-check is due");
}
