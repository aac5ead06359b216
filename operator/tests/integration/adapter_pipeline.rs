//! The adapter pipeline against the real API (PostgreSQL) with the dry-run transport:
//! preconditions and dependencies hold it back (and say why), an event for an older generation
//! is dropped, duplicate events make one Job, a failed Job reports Health=False, a bad template
//! is reported, deletion removes the objects and reports Finalized.

use crate::common;

use common::{adapter, condition, create, event, reported};

use std::{sync::Arc, time::Duration};

use sqlx::PgPool;

use hyperfleet_api_model::{ConditionStatus, PatchResource};
use hyperfleet_operator::adapter::{
    Adapter, AdapterPlan, Handled, Transports,
    api::FixedApi,
    report::Verdict,
    transport::{
        ObjectTransport, Target, TransportError,
        dry_run::{DryRun, JobOutcome},
    },
};

const DNS: &str = r#"
adapterType: dns
resourceType: clusters
hyperfleetAPI: {url: "http://api.test"}
broker: {type: memory, topic: clusters}
criteria:
  preconditions:
    - {name: hasBaseDomain, expression: "has(cluster.spec.dns.baseDomain)"}
  dependencies: [validation]
params:
  - {name: zone, expression: "cluster.name + '.' + cluster.spec.dns.baseDomain"}
jobTemplate:
  namespace: jobs
  image: example/dns:latest
  args: ["--zone", "{{ params.zone }}"]
resources:
  - name: record
    transport: dry-run
    manifest: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "zone-{{ cluster.id }}", namespace: dns}
      data: {zone: "{{ params.zone }}"}
    discovery: {namespace: dns, byName: "zone-{{ cluster.id }}"}
"#;

fn jobs(dry_run: &DryRun) -> Vec<serde_json::Value> {
    dry_run.recorded().into_iter().filter(|o| o["kind"] == "Job").collect()
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn preconditions_and_dependencies_hold_the_adapter_back_and_say_why(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation", "dns"]).await;
    let dry_run = Arc::new(DryRun::new(Duration::from_secs(3600), JobOutcome::Succeed));
    let dns = adapter(DNS, &client, &dry_run);
    let cluster = create(&client, serde_json::json!({})).await;

    let handled = dns.handle(&event(&cluster)).await.unwrap();
    let applied = condition(reported(&handled), "Applied");
    assert_eq!(
        (applied.status, applied.reason.as_deref()),
        (ConditionStatus::False, Some("PreconditionsNotMet"))
    );
    assert!(applied.message.as_deref().unwrap().contains("hasBaseDomain"), "{applied:?}");
    assert_eq!(
        condition(reported(&handled), "Health").status,
        ConditionStatus::True,
        "not met is not unhealthy"
    );

    let patch =
        PatchResource { spec: Some(serde_json::json!({"dns": {"baseDomain": "example.com"}})), labels: None };
    let cluster = client.patch_cluster(cluster.id, &patch).await.unwrap();
    let handled = dns.handle(&event(&cluster)).await.unwrap();
    let applied = condition(reported(&handled), "Applied");
    assert_eq!(applied.reason.as_deref(), Some("DependenciesNotMet"));
    assert!(applied.message.as_deref().unwrap().contains("waiting for validation"), "{applied:?}");
    assert!(dry_run.recorded().is_empty(), "nothing is created before the criteria hold");
    let dns_reported = async || {
        let statuses = client.list_statuses(&cluster.href).await.unwrap().items;
        statuses.into_iter().find(|s| s.adapter == "dns").unwrap().last_report_time
    };
    let before = dns_reported().await;
    dns.handle(&event(&cluster)).await.unwrap();
    assert_eq!(dns_reported().await, before, "still waiting, already said so: not sent again");

    common::report_done(&client, &cluster, "validation", cluster.generation).await;
    let handled = dns.handle(&event(&cluster)).await.unwrap();
    let report = reported(&handled);
    assert_eq!(report.observed_generation, 2);
    assert_eq!(condition(report, "Applied").reason.as_deref(), Some("JobCreated"));
    assert_eq!(condition(report, "Available").reason.as_deref(), Some("JobRunning"));
    let job = &jobs(&dry_run)[0];
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"],
        serde_json::json!(["--zone", "prod.example.com"])
    );
    assert_eq!(job["metadata"]["labels"]["hyperfleet.io/generation"], "2");
    let stored = client.list_statuses(&cluster.href).await.unwrap().items;
    assert!(
        stored.iter().any(|s| s.adapter == "dns" && s.observed_generation == 2),
        "the report reached the API"
    );
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn duplicate_events_make_one_job_and_its_success_makes_the_adapter_available(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation", "dns"]).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let dns = adapter(DNS, &client, &dry_run);
    let cluster = create(&client, serde_json::json!({"dns": {"baseDomain": "example.com"}})).await;
    common::report_done(&client, &cluster, "validation", 1).await;

    let first = dns.handle(&event(&cluster)).await.unwrap();
    let second = dns.handle(&event(&cluster)).await.unwrap();
    assert_eq!(jobs(&dry_run).len(), 1, "a re-delivered event finds the Job it made");
    for handled in [&first, &second] {
        let available = condition(reported(handled), "Available");
        assert_eq!(
            (available.status, available.reason.as_deref()),
            (ConditionStatus::True, Some("JobSucceeded"))
        );
    }
    let Handled::Reported { verdict: Verdict::Acted(observed), .. } = &first else { panic!() };
    assert!(observed.job_created);
    assert_eq!(observed.resources["record"]["data"]["zone"], "prod.example.com");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_event_for_an_older_generation_is_dropped(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation", "dns"]).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let dns = adapter(DNS, &client, &dry_run);
    let old = create(&client, serde_json::json!({"dns": {"baseDomain": "example.com"}})).await;
    let patch =
        PatchResource { spec: Some(serde_json::json!({"dns": {"baseDomain": "example.org"}})), labels: None };
    client.patch_cluster(old.id, &patch).await.unwrap();

    assert_eq!(dns.handle(&event(&old)).await.unwrap(), Handled::Stale { event: 1, current: 2 });
    assert!(client.list_statuses(&old.href).await.unwrap().items.is_empty(), "nothing reported");
    assert!(dry_run.recorded().is_empty());
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
/// The Job controller only says "backoff limit reached"; what went wrong is what the program
/// wrote to its termination message, and that is what the adapter reports.
async fn a_failed_job_reports_health_false_with_what_its_program_wrote(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation", "dns"]).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Fail("image pull failed".into())));
    let dns = adapter(DNS, &client, &dry_run);
    let cluster = create(&client, serde_json::json!({"dns": {"baseDomain": "example.com"}})).await;
    common::report_done(&client, &cluster, "validation", 1).await;

    let handled = dns.handle(&event(&cluster)).await.unwrap();
    let health = condition(reported(&handled), "Health");
    assert_eq!((health.status, health.reason.as_deref()), (ConditionStatus::False, Some("JobFailed")));
    assert_eq!(health.message.as_deref(), Some("image pull failed"));
    let available = condition(reported(&handled), "Available");
    assert_eq!(available.message.as_deref(), Some("image pull failed"));
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_template_error_is_reported_not_retried(pool: PgPool) {
    let client = common::api_requiring(pool, &["dns"]).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let broken = DNS
        .replace("{{ params.zone }}\"}", "{{ cluster.spec.nosuch }}\"}")
        .replace("  dependencies: [validation]\n", "");
    let dns = adapter(&broken, &client, &dry_run);
    let cluster = create(&client, serde_json::json!({"dns": {"baseDomain": "example.com"}})).await;

    let handled = dns.handle(&event(&cluster)).await.unwrap();
    let health = condition(reported(&handled), "Health");
    assert_eq!((health.status, health.reason.as_deref()), (ConditionStatus::False, Some("TemplateFailed")));
    assert!(health.message.as_deref().unwrap().contains("resources.record.manifest"), "{health:?}");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn deletion_removes_the_objects_and_reports_finalized_until_the_resource_is_gone(pool: PgPool) {
    let client = common::api_requiring(pool, &["dns"]).await;
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let dns = adapter(&DNS.replace("  dependencies: [validation]\n", ""), &client, &dry_run);
    let cluster = create(&client, serde_json::json!({"dns": {"baseDomain": "example.com"}})).await;
    dns.handle(&event(&cluster)).await.unwrap();

    let deleting = client.delete_cluster(cluster.id).await.unwrap();
    assert!(deleting.deleted_time.is_some());
    let handled = dns.handle(&event(&deleting)).await.unwrap();
    let Handled::Reported { report, verdict: Verdict::Acted(observed), .. } = &handled else {
        panic!("{handled:?}")
    };
    assert!(observed.job.is_none() && observed.resources.is_empty(), "the Job and the ConfigMap are deleted");
    let finalized = condition(report, "Finalized");
    assert_eq!(
        (finalized.status, finalized.reason.as_deref()),
        (ConditionStatus::True, Some("ResourcesDeleted"))
    );

    // The only required adapter finalized: the API removes the cluster; later events find it gone.
    assert!(client.get_resource(&cluster.href).await.unwrap().is_none());
    assert_eq!(dns.handle(&event(&deleting)).await.unwrap(), Handled::Gone);
}

/// A finished Job removed by its `ttlSecondsAfterFinished`: the next event of the same generation
/// finds it gone, and the adapter's own last report says how it ended, so it is not run again
/// and the cluster does not fall back to Reconciling.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_finished_job_removed_by_its_ttl_is_remembered_not_run_again(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation", "dns"]).await;
    for (outcome, available, message) in [
        (JobOutcome::Succeed, ConditionStatus::True, None),
        (JobOutcome::Fail("quota exceeded".into()), ConditionStatus::False, Some("quota exceeded")),
    ] {
        let dry_run = Arc::new(DryRun::new(Duration::ZERO, outcome));
        let dns = adapter(DNS, &client, &dry_run);
        let cluster = create(&client, serde_json::json!({"dns": {"baseDomain": "example.com"}})).await;
        common::report_done(&client, &cluster, "validation", 1).await;
        let first = dns.handle(&event(&cluster)).await.unwrap();
        assert_eq!(condition(reported(&first), "Available").status, available);

        let job = &jobs(&dry_run)[0];
        let target = Target::of(job).unwrap();
        assert!(dry_run.delete(&target).await.unwrap(), "the TTL controller removes the Job");
        let again = dns.handle(&event(&cluster)).await.unwrap();
        assert_eq!(jobs(&dry_run).len(), 1, "not created again for the same generation");
        assert!(dry_run.find(&target).await.unwrap().is_none());
        let report = reported(&again);
        assert_eq!(condition(report, "Available").status, available, "the outcome is remembered");
        assert_eq!(condition(report, "Available").message.as_deref(), message, "and what the program wrote");
        assert_eq!(condition(report, "Health").status, available);
        client.delete_cluster(cluster.id).await.unwrap();
        client.force_delete(&cluster.href, "next round").await.unwrap();
    }
}

/// A Job whose pods admission refuses looks like a running Job; its `FailedCreate` warning is
/// what says why, and the adapter reports it at once instead of waiting for the deadline.
#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_job_whose_pods_are_refused_reports_health_false_with_the_cause(pool: PgPool) {
    let client = common::api_requiring(pool, &["validation", "dns"]).await;
    let refusal = "pods \"dns-x\" is forbidden: violates PodSecurity \"restricted:latest\"";
    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Refuse(refusal.into())));
    let dns = adapter(DNS, &client, &dry_run);
    let cluster = create(&client, serde_json::json!({"dns": {"baseDomain": "example.com"}})).await;
    common::report_done(&client, &cluster, "validation", 1).await;
    let handled = dns.handle(&event(&cluster)).await.unwrap();
    let health = condition(reported(&handled), "Health");
    assert_eq!((health.status, health.reason.as_deref()), (ConditionStatus::False, Some("JobCannotStart")));
    assert_eq!(health.message.as_deref(), Some(refusal));
}

/// The dry-run transport, counting how often a Job's pods are read for its result.
#[derive(Debug)]
struct CountingPods {
    inner: DryRun,
    reads: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl ObjectTransport for CountingPods {
    async fn create(
        &self,
        manifest: &serde_json::Value,
    ) -> Result<(serde_json::Value, bool), TransportError> {
        self.inner.create(manifest).await
    }
    async fn apply(&self, manifest: &serde_json::Value) -> Result<serde_json::Value, TransportError> {
        self.inner.apply(manifest).await
    }
    async fn find(&self, target: &Target) -> Result<Option<serde_json::Value>, TransportError> {
        self.inner.find(target).await
    }
    async fn list(&self, target: &Target) -> Result<Vec<serde_json::Value>, TransportError> {
        self.inner.list(target).await
    }
    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        self.inner.delete(target).await
    }
    async fn termination_message(&self, job: &Target) -> Result<Option<String>, TransportError> {
        self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.termination_message(job).await
    }
}

/// A finished Job's pods are read for its result once: after the report remembers the outcome
/// (here a success whose program wrote nothing), later events of the generation do not list them.
#[tokio::test]
async fn a_remembered_job_outcome_spares_reading_its_pods_again() {
    let cluster: hyperfleet_api_model::Resource = serde_json::from_value(serde_json::json!({
        "id": "0190a7d2-0000-7000-8000-000000000001", "kind": "Cluster", "name": "prod",
        "href": "/api/hyperfleet/v1/clusters/0190a7d2-0000-7000-8000-000000000001", "generation": 1,
        "spec": {"dns": {"baseDomain": "example.com"}}, "status": {"phase": "Pending"},
        "created_time": "2026-01-01T00:00:00Z", "updated_time": "2026-01-01T00:00:00Z",
        "created_by": "u", "updated_by": "u"
    }))
    .unwrap();
    let status = |adapter: &str, metadata: serde_json::Value| -> hyperfleet_api_model::AdapterStatus {
        serde_json::from_value(serde_json::json!({
            "adapter": adapter, "observed_generation": 1, "metadata": metadata,
            "conditions": [{"type": "Available", "status": "True", "last_transition_time": "2026-01-01T00:00:00Z"}],
            "created_time": "2026-01-01T00:00:00Z", "last_report_time": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    };
    let transport = Arc::new(CountingPods {
        inner: DryRun::new(Duration::ZERO, JobOutcome::Succeed),
        reads: Default::default(),
    });
    let handle = |statuses: Vec<hyperfleet_api_model::AdapterStatus>| {
        let plan = AdapterPlan::compile(&serde_saphyr::from_str(DNS).unwrap()).unwrap();
        let api = Arc::new(FixedApi { resource: cluster.clone(), statuses, reports: Default::default() });
        let transports =
            Transports { kubernetes: transport.clone(), dry_run: transport.clone(), maestro: None };
        let adapter = Adapter::new(plan, api, transports, "http://api.test");
        let event = event(&cluster);
        async move { adapter.handle(&event).await.unwrap() }
    };
    let validated = status("validation", serde_json::json!({}));
    handle(vec![validated.clone()]).await;
    assert_eq!(transport.reads.load(std::sync::atomic::Ordering::SeqCst), 1, "the finished Job's pods, once");
    let remembered = status("dns", serde_json::json!({"job_result": "succeeded"}));
    handle(vec![validated, remembered]).await;
    assert_eq!(transport.reads.load(std::sync::atomic::Ordering::SeqCst), 1, "remembered: not read again");
}
