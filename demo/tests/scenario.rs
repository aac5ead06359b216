//! The demo's scenario as a test: the real API over PostgreSQL, the operator's local mode with
//! the adapter catalog and the dry-run transport, in-process, over the memory broker and over a
//! real RabbitMQ: create -> Ready, node pool -> Ready, update -> Ready at generation 2,
//! delete -> gone. The timings are printed (`--nocapture` to see them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Duration};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use hyperfleet_api_model::client::Client;
use hyperfleet_operator::{
    adapter::{
        Transports,
        transport::dry_run::{DryRun, JobOutcome},
    },
    local::{Overrides, run_configs},
    metrics::OperatorMetrics,
    resolve::StaticSecrets,
    workloads::{Resources, Workloads},
};

async fn api(pool: PgPool) -> (Client, String) {
    let served = hyperfleet_testing::api::serve_requiring(
        pool,
        &["validation", "dns", "placement", "pullsecret", "hypershift"],
        &["validation", "hypershift"],
    )
    .await
    .unwrap();
    (served.client, served.base)
}

async fn scenario(pool: PgPool, broker: serde_json::Value, secrets: StaticSecrets) {
    let (client, base) = api(pool).await;
    let metrics = OperatorMetrics::new();
    let dry_run = Arc::new(DryRun::new(Duration::from_millis(500), JobOutcome::Succeed));
    let transports =
        Transports { kubernetes: dry_run.clone(), dry_run: dry_run.clone(), maestro: Some(dry_run.clone()) };
    let resources = Resources::new(&metrics, Arc::new(secrets), transports).with_api_url(Some(base));
    let (workloads, mut changes) = Workloads::new(resources);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dirs = [root.join("adapters"), root.join("config/local")];
    let overrides = Overrides { broker: Some(broker) };
    let shutdown = CancellationToken::new();
    let operator = {
        let shutdown = shutdown.clone();
        async move {
            let reload = Duration::from_millis(500);
            run_configs(&dirs, &overrides, &dry_run, &workloads, &mut changes, reload, &shutdown).await;
            workloads.shutdown().await;
        }
    };
    let operator = tokio::spawn(operator);

    let mut out = Vec::new();
    let result = hyperfleet_demo::run(&client, &mut out, Duration::from_secs(60)).await;
    shutdown.cancel();
    operator.await.unwrap();
    let log = String::from_utf8_lossy(&out);
    let timings = result.unwrap_or_else(|err| panic!("{err}\n{log}"));
    println!("{log}\n{timings:?}");
    assert!(log.contains("phase Ready (generation 2)"), "{log}");
    assert!(log.contains("nodepool workers"), "{log}");
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_cluster_goes_from_creation_to_ready_to_gone_over_the_memory_broker(pool: PgPool) {
    scenario(pool, serde_json::json!({"type": "memory"}), StaticSecrets::default()).await;
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_cluster_goes_from_creation_to_ready_to_gone_over_rabbitmq(pool: PgPool) {
    let url = std::env::var("AMQP_URL").expect("AMQP_URL is not set: run the tests with hack/test.sh");
    let secrets = StaticSecrets(HashMap::from([(("demo-rabbitmq".to_owned(), "url".to_owned()), url)]));
    let broker =
        serde_json::json!({"type": "rabbitmq", "urlSecretRef": {"name": "demo-rabbitmq", "key": "url"}});
    scenario(pool, broker, secrets).await;
}
