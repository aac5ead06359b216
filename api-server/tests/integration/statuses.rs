//! Adapter reports and the status model, end to end over HTTP and PostgreSQL: what the Sentinel
//! decides from and what people read.

use crate::common;

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api::kinds::{KindSettings, Kinds};
use hyperfleet_api_model::{
    ConditionStatus, ListParams, PatchResource, Phase, ReportedCondition, Resource, StatusReport,
};

const FIVE: [&str; 5] = ["validation", "dns", "placement", "pullsecret", "hypershift"];

fn kinds(cluster: &[&str], nodepool: &[&str]) -> Kinds {
    let settings = |names: &[&str]| KindSettings {
        required_adapters: names.iter().map(|n| (*n).to_owned()).collect(),
        ..KindSettings::default()
    };
    Kinds { cluster: settings(cluster), nodepool: settings(nodepool) }
}

fn report(adapter: &str, generation: i64, conditions: &[(&str, ConditionStatus)]) -> StatusReport {
    StatusReport {
        adapter: adapter.into(),
        observed_generation: generation,
        observed_time: Some(Utc::now()),
        conditions: conditions
            .iter()
            .map(|(t, s)| ReportedCondition { type_: (*t).into(), status: *s, reason: None, message: None })
            .collect(),
        data: Some(json!({"job": format!("{adapter}-{generation}")})),
        metadata: None,
    }
}

fn done(adapter: &str, generation: i64) -> StatusReport {
    use ConditionStatus::True;
    report(adapter, generation, &[("Applied", True), ("Available", True), ("Health", True)])
}

fn finalized(adapter: &str, generation: i64) -> StatusReport {
    use ConditionStatus::{False, True};
    report(
        adapter,
        generation,
        &[("Applied", True), ("Available", False), ("Health", True), ("Finalized", True)],
    )
}

fn condition<'a>(resource: &'a Resource, type_: &str) -> &'a hyperfleet_api_model::Condition {
    resource.status.conditions.iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("no {type_}"))
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn five_adapters_drive_a_cluster_to_ready_through_an_update_and_deletion(pool: PgPool) {
    let api = common::start_with(pool, kinds(&FIVE, &[])).await;
    let cluster = api.cluster("lifecycle", &[]).await;
    assert_eq!(cluster.status.phase, Phase::Pending);
    let reconciled = condition(&cluster, "Reconciled");
    assert_eq!(
        (reconciled.status, reconciled.reason.as_deref()),
        (ConditionStatus::False, Some("ReconciledMissingAdapters"))
    );

    for (i, adapter) in FIVE.iter().enumerate() {
        let stored = api.client.put_status(&cluster.href, &done(adapter, 1)).await.unwrap().expect("stored");
        assert_eq!(stored.observed_generation, 1);
        let now = api.client.get_cluster(cluster.id).await.unwrap();
        let expected = if i == 4 { Phase::Ready } else { Phase::Reconciling };
        assert_eq!(now.status.phase, expected, "after {adapter}");
    }
    let ready = api.client.get_cluster(cluster.id).await.unwrap();
    assert_eq!(condition(&ready, "Reconciled").status, ConditionStatus::True);
    assert_eq!(condition(&ready, "PullsecretSuccessful").status, ConditionStatus::True);
    assert_eq!(ready.status.conditions.len(), 7);
    assert_eq!(api.client.list_statuses(&cluster.href).await.unwrap().total, 5);

    let patch = PatchResource { spec: Some(json!({"region": "eu"})), labels: None };
    let updated = api.client.patch_cluster(cluster.id, &patch).await.unwrap();
    assert_eq!((updated.generation, updated.status.phase), (2, Phase::Reconciling));
    assert_eq!(condition(&updated, "Reconciled").last_transition_time, updated.updated_time);
    assert_eq!(condition(&updated, "LastKnownReconciled").observed_generation, 1, "still vouches for 1");
    for adapter in FIVE {
        api.client.put_status(&cluster.href, &done(adapter, 2)).await.unwrap().expect("stored");
    }
    assert_eq!(api.client.get_cluster(cluster.id).await.unwrap().status.phase, Phase::Ready);

    let deleting = api.client.delete_cluster(cluster.id).await.unwrap();
    assert_eq!((deleting.generation, deleting.status.phase), (3, Phase::Deleting));
    assert_eq!(condition(&deleting, "Reconciled").status, ConditionStatus::False);
    for adapter in &FIVE[..4] {
        api.client.put_status(&cluster.href, &finalized(adapter, 3)).await.unwrap().expect("stored");
    }
    assert!(api.client.get_cluster(cluster.id).await.is_ok(), "waits for the last adapter");
    api.client.put_status(&cluster.href, &finalized("hypershift", 3)).await.unwrap().expect("stored");
    let gone = api.client.get_cluster(cluster.id).await.unwrap_err();
    assert_eq!(gone.status().map(|s| s.as_u16()), Some(404));
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn stale_and_invalid_reports(pool: PgPool) {
    let api = common::start_with(pool, kinds(&["dns"], &[])).await;
    let cluster = api.cluster("discards", &[]).await;
    let path = format!("/clusters/{}/statuses", cluster.id);

    let ahead = api.send(Method::PUT, &path, Some(serde_json::to_value(done("dns", 2)).unwrap())).await;
    assert_eq!(ahead.status, 204, "future generation");
    let mut first = done("dns", 1);
    first.observed_time = Some(Utc::now() - Duration::seconds(10));
    assert!(api.client.put_status(&cluster.href, &first).await.unwrap().is_some());
    let mut older = done("dns", 1);
    older.observed_time = Some(Utc::now() - Duration::seconds(20));
    assert!(api.client.put_status(&cluster.href, &older).await.unwrap().is_none(), "older observation");

    api.client
        .patch_cluster(
            cluster.id,
            &PatchResource { labels: Some([("a".into(), "b".into())].into()), spec: None },
        )
        .await
        .unwrap();
    assert!(api.client.put_status(&cluster.href, &done("dns", 2)).await.unwrap().is_some());
    assert!(
        api.client.put_status(&cluster.href, &done("dns", 1)).await.unwrap().is_none(),
        "older generation"
    );

    let missing = json!({"adapter": "dns", "observed_generation": 2, "conditions": [{"type": "Available", "status": "True"}]});
    let answer = api.send(Method::PUT, &path, Some(missing)).await;
    assert_eq!(answer.problem(400, "HYPERFLEET-VAL-000")["errors"].as_array().unwrap().len(), 2);
    let skewed = json!({"adapter": "dns", "observed_generation": 2, "observed_time": "2020-01-01T00:00:00Z",
        "conditions": [{"type": "Available", "status": "True"}]});
    let answer = api.send(Method::PUT, &path, Some(skewed)).await;
    assert_eq!(answer.problem(400, "HYPERFLEET-VAL-000")["errors"][0]["field"], "observed_time");
    let bad_status = json!({"adapter": "dns", "observed_generation": 2, "conditions": [{"type": "Available", "status": "Yes"}]});
    api.send(Method::PUT, &path, Some(bad_status)).await.problem(400, "HYPERFLEET-VAL-006");

    let alias = json!({"adapter_name": "dns", "observed_generation": 2, "conditions": [
        {"type": "Applied", "status": "True"}, {"type": "Available", "status": "False", "reason": "Busy"},
        {"type": "Health", "status": "False", "message": "quota exceeded"}]});
    let answer = api.send(Method::POST, &path, Some(alias)).await;
    assert_eq!((answer.status.as_u16(), &answer.body["adapter"]), (201, &json!("dns")));
    let failed = api.client.get_cluster(cluster.id).await.unwrap();
    assert_eq!(failed.status.phase, Phase::Failed);
    assert_eq!(condition(&failed, "DnsSuccessful").reason.as_deref(), Some("Busy"));
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn concurrent_reports_from_five_adapters_never_lose_an_update(pool: PgPool) {
    let api = common::start_with(pool, kinds(&FIVE, &[])).await;
    let cluster = api.cluster("contended", &[]).await;
    for generation in 1..=8 {
        if generation > 1 {
            let patch = PatchResource { spec: Some(json!({"round": generation})), labels: None };
            api.client.patch_cluster(cluster.id, &patch).await.unwrap();
        }
        let reports = FIVE.map(|adapter| {
            let client = api.client.clone();
            let href = cluster.href.clone();
            tokio::spawn(async move { client.put_status(&href, &done(adapter, generation)).await })
        });
        for handle in reports {
            assert!(handle.await.unwrap().unwrap().is_some());
        }
        let now = api.client.get_cluster(cluster.id).await.unwrap();
        let reconciled = condition(&now, "Reconciled");
        assert_eq!((reconciled.status, reconciled.observed_generation), (ConditionStatus::True, generation));
        assert_eq!(now.status.phase, Phase::Ready, "round {generation}");
        assert!(FIVE.iter().all(|a| now.status.conditions.iter().any(|c| c.observed_generation
            == generation
            && c.type_.to_lowercase() == format!("{a}successful"))));
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn reconciled_timestamps_keep_their_meaning(pool: PgPool) {
    let api = common::start_with(pool, kinds(&["dns", "validation"], &[])).await;
    let cluster = api.cluster("timestamps", &[]).await;
    let mut dns = done("dns", 1);
    dns.observed_time = Some(Utc::now() - Duration::seconds(30));
    api.client.put_status(&cluster.href, &dns).await.unwrap();
    api.client.put_status(&cluster.href, &done("validation", 1)).await.unwrap();
    let first = api.client.get_cluster(cluster.id).await.unwrap();
    let reconciled = condition(&first, "Reconciled").clone();
    assert_eq!(
        reconciled.last_updated_time,
        dns.observed_time.unwrap().trunc_subsecs_micros(),
        "oldest report"
    );

    // Re-reports refresh last_updated_time but not the transition.
    api.client.put_status(&cluster.href, &done("dns", 1)).await.unwrap();
    let again = api.client.get_cluster(cluster.id).await.unwrap();
    let refreshed = condition(&again, "Reconciled");
    assert_eq!(refreshed.last_transition_time, reconciled.last_transition_time);
    assert!(refreshed.last_updated_time > reconciled.last_updated_time);
    assert_eq!(refreshed.created_time, reconciled.created_time);

    let search = ListParams::search("status.conditions.Reconciled='True'");
    assert_eq!(api.client.list_clusters(&search).await.unwrap().total, 1);
}

trait Micros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl Micros for chrono::DateTime<Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        chrono::DurationRound::duration_trunc(self, Duration::microseconds(1)).unwrap()
    }
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn cluster_deletion_waits_for_its_nodepools_to_finalize(pool: PgPool) {
    let api = common::start_with(pool, kinds(&["validation"], &["hypershift"])).await;
    let cluster = api.cluster("parent", &[]).await;
    let workers = api.nodepool(&cluster, "workers").await;

    api.client.delete_cluster(cluster.id).await.unwrap();
    let child = api.client.get_nodepool(cluster.id, workers.id).await.unwrap();
    assert_eq!((child.generation, child.status.phase), (2, Phase::Deleting));

    api.client.put_status(&cluster.href, &finalized("validation", 2)).await.unwrap().expect("stored");
    let waiting = api.client.get_cluster(cluster.id).await.unwrap();
    assert_eq!(condition(&waiting, "Reconciled").reason.as_deref(), Some("ReconciledWaitingForChildren"));

    api.client.put_status(&workers.href, &finalized("hypershift", 2)).await.unwrap().expect("stored");
    assert_eq!(api.client.get_nodepool(cluster.id, workers.id).await.unwrap_err().status().unwrap(), 404);
    assert_eq!(
        api.client.get_cluster(cluster.id).await.unwrap_err().status().unwrap(),
        404,
        "parent follows its last child"
    );
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn force_delete_removes_only_what_is_being_deleted(pool: PgPool) {
    let api = common::start_with(pool, kinds(&["dns"], &["hypershift"])).await;
    let cluster = api.cluster("stuck", &[]).await;
    api.nodepool(&cluster, "workers").await;
    let force = format!("/clusters/{}/force-delete", cluster.id);

    api.send(Method::POST, &force, Some(json!({"reason": "adapter gone"})))
        .await
        .problem(409, "HYPERFLEET-CNF-003");
    api.client.delete_cluster(cluster.id).await.unwrap();
    api.send(Method::POST, &force, Some(json!({"reason": " "}))).await.problem(400, "HYPERFLEET-VAL-000");
    api.client.force_delete(&cluster.href, "dns adapter decommissioned").await.unwrap();
    api.get(&format!("/clusters/{}", cluster.id)).await.problem(404, "HYPERFLEET-NTF-001");
    api.send(Method::POST, &force, Some(json!({"reason": "again"}))).await.problem(404, "HYPERFLEET-NTF-001");
    let rows: i64 = sqlx::query_scalar("select count(*) from resources").fetch_one(&api.pool).await.unwrap();
    assert_eq!(rows, 0, "node pools and reports go too");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn one_report_can_be_read_patched_forgotten_and_its_history_listed(pool: PgPool) {
    let api = common::start_with(pool, kinds(&["dns"], &[])).await;
    let cluster = api.cluster("single", &[]).await;
    let one = format!("/clusters/{}/statuses/dns", cluster.id);
    api.get(&one).await.problem(404, "HYPERFLEET-NTF-002");
    for _ in 0..3 {
        api.client.put_status(&cluster.href, &done("dns", 1)).await.unwrap();
    }
    assert_eq!(api.get(&one).await.body["observed_generation"], 1);

    let patch = json!({"conditions": [{"type": "Health", "status": "False", "message": "disk full"}]});
    let patched = api.send(Method::PATCH, &one, Some(patch)).await;
    assert_eq!(patched.status, 201);
    let health =
        patched.body["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Health").unwrap();
    assert_eq!(health["message"], "disk full");
    assert_eq!(patched.body["conditions"].as_array().unwrap().len(), 3, "other conditions kept");
    assert_eq!(api.client.get_cluster(cluster.id).await.unwrap().status.phase, Phase::Failed);

    let history = api.get(&format!("{one}/history?limit=1")).await;
    assert_eq!(history.body.as_array().unwrap().len(), 1);
    assert_eq!(history.body[0]["conditions"][2]["status"], "False", "newest first");
    // Three identical reports are one change; the patch is the second.
    assert_eq!(api.get(&format!("{one}/history")).await.body.as_array().unwrap().len(), 2);

    assert_eq!(api.send(Method::DELETE, &one, None).await.status, 204);
    api.get(&one).await.problem(404, "HYPERFLEET-NTF-002");
    let forgotten = api.client.get_cluster(cluster.id).await.unwrap();
    assert_eq!(forgotten.status.phase, Phase::Pending);
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn fleet_gauges_count_phases_and_the_reconciliation_backlog(pool: PgPool) {
    let api = common::start_with(pool, kinds(&["dns"], &[])).await;
    let ready = api.cluster("ready-one", &[]).await;
    api.client.put_status(&ready.href, &done("dns", 1)).await.unwrap();
    let waiting = api.cluster("waiting-one", &[]).await;
    api.cluster("fresh-one", &[]).await;
    sqlx::query("update resource_conditions set last_transition_time = now() - interval '5 minutes' where resource_id = $1")
        .bind(waiting.id)
        .execute(&api.pool)
        .await
        .unwrap();

    let text = api.send_raw(Method::GET, "/metrics", None).await.body.as_str().unwrap().to_owned();
    let value = |series: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
    };
    assert_eq!(value("hyperfleet_api_clusters_total{phase=\"Ready\"}"), "1");
    assert_eq!(value("hyperfleet_api_clusters_total{phase=\"Pending\"}"), "2");
    assert_eq!(value("hyperfleet_api_clusters_total{phase=\"Failed\"}"), "0");
    assert_eq!(value("hyperfleet_api_resources_pending_reconciliation{kind=\"Cluster\"}"), "2");
    assert_eq!(value("hyperfleet_api_resources_stuck_reconciliation{kind=\"Cluster\"}"), "1");
    assert_eq!(value("hyperfleet_api_resources_stuck_reconciliation{kind=\"NodePool\"}"), "0");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn repeated_reports_refresh_the_time_but_the_history_keeps_only_changes(pool: PgPool) {
    let api = common::start_with(pool, kinds(&["dns"], &[])).await;
    let cluster = api.cluster("repeats", &[]).await;
    let one = format!("/clusters/{}/statuses/dns", cluster.id);
    api.client.put_status(&cluster.href, &done("dns", 1)).await.unwrap().unwrap();
    let first = api.get(&one).await.body["last_report_time"].clone();
    for _ in 0..50 {
        // Copies of one event, each handled: the same report again and again.
        api.client.put_status(&cluster.href, &done("dns", 1)).await.unwrap().unwrap();
    }
    assert_ne!(api.get(&one).await.body["last_report_time"], first, "the report's time is refreshed");
    assert_eq!(api.get(&format!("{one}/history")).await.body.as_array().unwrap().len(), 1, "one change");
    let mut changed = done("dns", 1);
    changed.data = Some(json!({"job": "another"}));
    api.client.put_status(&cluster.href, &changed).await.unwrap().unwrap();
    assert_eq!(
        api.get(&format!("{one}/history")).await.body.as_array().unwrap().len(),
        2,
        "a change is kept"
    );
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_resource_and_its_reports_come_in_one_request_when_asked(pool: PgPool) {
    let api = common::start(pool).await;
    let cluster = api.cluster("one-trip", &[]).await;
    let report = json!({"adapter": "dns", "observed_generation": 1, "conditions": [
        {"type": "Applied", "status": "True"}, {"type": "Available", "status": "True"}, {"type": "Health", "status": "True"}]});
    let path = format!("/clusters/{}", cluster.id);
    assert_eq!(api.send(reqwest::Method::PUT, &format!("{path}/statuses"), Some(report)).await.status, 201);
    let plain = api.get(&path).await;
    assert!(plain.body.get("statuses").is_none(), "no statuses unless asked: {}", plain.body);
    let both = api.get(&format!("{path}?include=statuses")).await;
    assert_eq!(both.body["id"], cluster.id.to_string());
    assert_eq!(both.body["statuses"][0]["adapter"], "dns");
    let (resource, statuses) = api.client.get_resource_with_statuses(&cluster.href).await.unwrap().unwrap();
    assert_eq!((resource.id, statuses.len()), (cluster.id, 1));
    api.get(&format!("{path}?include=everything")).await.problem(400, "HYPERFLEET-VAL-005");
    let gone = format!("/api/hyperfleet/v1/clusters/{}", uuid::Uuid::now_v7());
    assert!(api.client.get_resource_with_statuses(&gone).await.unwrap().is_none());
}
