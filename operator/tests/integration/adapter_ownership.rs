//! An adapter touches only objects that carry its ownership labels: a `resources[]` entry that
//! names an existing, unrelated object is neither overwritten nor deleted (the adapter reports
//! `NotOwned`), unless the entry says `adopt: true`; label selections only ever see its own.

use crate::common;

use std::{sync::Arc, time::Duration};

use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api_model::ConditionStatus;
use hyperfleet_operator::adapter::transport::{
    ObjectTransport, Select, Target,
    dry_run::{DryRun, JobOutcome},
};

use common::{adapter, condition, create, event, reported};

/// An adapter whose entry names the Namespace `team-a`, which someone else made.
fn spec(delete_when: &str, adopt: bool) -> String {
    format!(
        r#"
adapterType: ns
resourceType: clusters
hyperfleetAPI: {{url: "http://api.test"}}
broker: {{type: memory, topic: clusters}}
resources:
  - name: namespace
    adopt: {adopt}
    manifest: |
      apiVersion: v1
      kind: Namespace
      metadata: {{name: team-a, labels: {{env: prod}}}}
    discovery: {{byName: team-a}}
    lifecycle: {{deleteWhen: "{delete_when}"}}
"#
    )
}

fn team_a() -> Target {
    Target {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        select: Select::Name("team-a".into()),
    }
}

async fn strangers_namespace(dry_run: &DryRun) {
    let theirs = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a", "labels": {"owner": "team-a"}}});
    dry_run.apply(&theirs).await.unwrap();
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_object_the_adapter_did_not_make_is_neither_deleted_nor_overwritten(pool: PgPool) {
    let client = common::api_requiring(pool, &["ns"]).await;
    let cluster = create(&client, json!({})).await;
    for delete_when in ["true", "false"] {
        let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
        strangers_namespace(&dry_run).await;
        let handled =
            adapter(&spec(delete_when, false), &client, &dry_run).handle(&event(&cluster)).await.unwrap();
        let health = condition(reported(&handled), "Health");
        assert_eq!(
            (health.status, health.reason.as_deref()),
            (ConditionStatus::False, Some("NotOwned")),
            "{delete_when}"
        );
        assert!(health.message.as_deref().unwrap().contains("adopt: true"), "{health:?}");
        let still = dry_run.find(&team_a()).await.unwrap().expect("the Namespace is still there");
        assert_eq!(
            still["metadata"]["labels"],
            json!({"owner": "team-a"}),
            "untouched (deleteWhen: {delete_when})"
        );
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn adopting_is_explicit_and_an_adopted_object_is_then_the_adapters_own(pool: PgPool) {
    let client = common::api_requiring(pool, &["ns"]).await;
    let cluster = create(&client, json!({})).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    strangers_namespace(&dry_run).await;
    let handled = adapter(&spec("false", true), &client, &dry_run).handle(&event(&cluster)).await.unwrap();
    assert_eq!(condition(reported(&handled), "Available").status, ConditionStatus::True);
    let adopted = dry_run.find(&team_a()).await.unwrap().unwrap();
    assert_eq!(adopted["metadata"]["labels"]["hyperfleet.io/adapter"], "ns");
    // Now it is ours: the lifecycle rule may delete it.
    adapter(&spec("true", false), &client, &dry_run).handle(&event(&cluster)).await.unwrap();
    assert!(dry_run.find(&team_a()).await.unwrap().is_none());
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_label_selection_only_ever_deletes_the_adapters_own_objects(pool: PgPool) {
    let client = common::api_requiring(pool, &["ns"]).await;
    let cluster = create(&client, json!({})).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    strangers_namespace(&dry_run).await;
    let by_labels =
        spec("true", false).replace("discovery: {byName: team-a}", "discovery: {byLabels: {owner: team-a}}");
    let handled = adapter(&by_labels, &client, &dry_run).handle(&event(&cluster)).await.unwrap();
    assert_eq!(condition(reported(&handled), "Health").status, ConditionStatus::True);
    assert!(
        dry_run.find(&team_a()).await.unwrap().is_some(),
        "a stranger's object matching the labels stays"
    );
}
