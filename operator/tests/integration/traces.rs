//! One trace follows a provisioning step across the hops: the Sentinel publishes an event over a
//! real RabbitMQ (W3C trace context in the CloudEvent), the adapter consumes and handles it and
//! reports to the API (trace context in the HTTP request), and the API stores the report. Spans
//! are exported over OTLP to an in-process receiver and checked for one trace id and the right
//! parent links.

use crate::common;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;

use hyperfleet_api_model::ConditionStatus;
use hyperfleet_crds::v1alpha1::ResourceType;
use hyperfleet_operator::{
    adapter::transport::dry_run::{DryRun, JobOutcome},
    sentinel::{Sentinel, SentinelSettings},
};
use hyperfleet_testing::otlp::{ReceivedSpan, Receiver};

fn one(spans: &[ReceivedSpan], name: &str, trace: &str) -> ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.name == name && s.trace_id == trace).collect();
    assert!(!found.is_empty(), "no {name} span in trace {trace}: {spans:#?}");
    found[0].clone()
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn one_trace_follows_an_event_from_the_sentinel_publish_to_the_stored_report(pool: PgPool) {
    let receiver = Receiver::start().await.unwrap();
    let export = hyperfleet_telemetry::traces::Export { endpoint: receiver.endpoint.clone() };
    let telemetry = Arc::new(
        hyperfleet_telemetry::init(
            hyperfleet_telemetry::LogFormat::Text,
            "info",
            "hyperfleet-test",
            Some(export),
        )
        .unwrap(),
    );
    let broker = common::rabbitmq_broker().await;
    let client = common::api_requiring(pool, &["dns"]).await;
    let topic = format!("traced-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);

    let dry_run = Arc::new(DryRun::new(Duration::ZERO, JobOutcome::Succeed));
    let adapter = common::adapter(&common::dns_adapter_yaml(&topic, ""), &client, &dry_run);
    let (mut tasks, _) = common::run_adapter(adapter, broker.clone()).await;

    let cluster = common::cluster(&client, "traced", &[]).await;
    let settings = SentinelSettings::new("test", "traced", ResourceType::Clusters, &topic);
    let mut sentinel = Sentinel::new(settings, client.clone(), broker.clone());
    assert_eq!(sentinel.poll(Utc::now()).await.unwrap().published, 1);
    hyperfleet_testing::wait_until("the dns report", Duration::from_secs(30), async || {
        let statuses = client.list_statuses(&cluster.href).await.unwrap().items;
        statuses
            .iter()
            .any(|s| s.conditions.iter().any(|c| c.type_ == "Available" && c.status == ConditionStatus::True))
    })
    .await;
    tasks.shutdown_all().await;

    // The batch exporter sends from its own thread; the receiver runs on this runtime.
    let spans =
        hyperfleet_testing::eventually("the spans of the stored report", Duration::from_secs(30), || {
            let (telemetry, receiver) = (telemetry.clone(), receiver.clone());
            async move {
                tokio::task::spawn_blocking(move || telemetry.flush()).await.unwrap();
                let spans = receiver.spans();
                spans.iter().any(|s| s.name == "store.put_status").then_some(spans)
            }
        })
        .await;
    let publish = spans.iter().find(|s| s.name == "sentinel.publish").expect("a publish span").clone();
    let trace = publish.trace_id.as_str();
    assert!(publish.parent_span_id.is_empty(), "each published event starts its trace");
    let consume = one(&spans, "broker.consume", trace);
    assert_eq!(consume.parent_span_id, publish.span_id, "the broker hop continues the publisher's span");
    let handle = one(&spans, "adapter.handle", trace);
    assert_eq!(handle.parent_span_id, consume.span_id);
    // The report's HTTP request: its server span is a child of the adapter's span, and the
    // store's transaction a child of that.
    let stored = one(&spans, "store.put_status", trace);
    let request =
        spans.iter().find(|s| s.span_id == stored.parent_span_id).expect("the request span").clone();
    assert_eq!((request.name.as_str(), request.trace_id.as_str()), ("request", trace));
    assert_eq!(request.parent_span_id, handle.span_id, "the API continues the adapter's trace");
}
