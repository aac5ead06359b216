//! `hyperfleet-job validate` against the real API over PostgreSQL: what it reads is what a Job's
//! environment points at, what it writes to the termination-message file is what the adapter
//! reports, and the exit code tells the Job controller whether to retry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use serde_json::json;
use sqlx::PgPool;

use hyperfleet_api_model::{CreateResource, Resource};
use hyperfleet_job::{
    cli::{Cli, Command, ValidateArgs},
    validate,
};

/// A termination-message file of this test's own.
fn message_file(test: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hyperfleet-job-{test}-{}", std::process::id()))
}

/// `validate`'s arguments as a Job's environment would give them, plus `extra` flags.
fn args(base: &str, resource: &Resource, file: &std::path::Path, extra: &[&str]) -> ValidateArgs {
    let mut argv = vec!["hyperfleet-job", "validate", "--api-url", base, "--href", &resource.href];
    let file = file.to_str().unwrap();
    argv.extend(["--termination-log", file]);
    argv.extend(extra);
    match Cli::parse_from(argv).command {
        Command::Validate(args) => args,
    }
}

async fn cluster(
    client: &hyperfleet_api_model::client::Client,
    name: &str,
    spec: serde_json::Value,
) -> Resource {
    let body: CreateResource =
        serde_json::from_value(json!({"kind": "Cluster", "name": name, "spec": spec})).unwrap();
    client.create_cluster(&body).await.unwrap()
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn a_valid_cluster_passes_and_an_invalid_one_fails_listing_every_problem(pool: PgPool) {
    let api = hyperfleet_testing::api::serve_requiring(pool, &["validation"], &[]).await.unwrap();
    let good = cluster(
        &api.client,
        "prod",
        json!({
            "platform": {"type": "gcp", "gcp": {"region": "us-east1"}},
            "release": {"version": "4.17.3"}, "dns": {"baseDomain": "example.com"},
            "network": {"machineCIDR": "10.0.0.0/16"}
        }),
    )
    .await;
    let file = message_file("good");
    assert!(validate::validate(&args(&api.base, &good, &file, &[])).await.unwrap());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "valid");

    let bad = cluster(
        &api.client,
        "staging",
        json!({
            "platform": {"type": "gcp", "gcp": {"region": "us-east1"}},
            "release": {"version": "4.17"}, "dns": {"baseDomain": "example.com"},
            "network": {"machineCIDR": "10.0.0.0/16", "serviceCIDR": "10.0.1.0/24"}
        }),
    )
    .await;
    let file = message_file("bad");
    let args = args(&api.base, &bad, &file, &["--regions", "europe-west1"]);
    assert!(!validate::validate(&args).await.unwrap());
    let message = std::fs::read_to_string(&file).unwrap();
    assert!(
        message.starts_with("3 problems: spec.platform.gcp.region: 'us-east1' is not one of: europe-west1; "),
        "{message}"
    );
    assert!(message.contains("spec.release.version: '4.17'"), "{message}");
    assert!(message.contains("spec.network.serviceCIDR: 10.0.1.0/24 overlaps machineCIDR"), "{message}");
    assert_eq!(validate::run(&args).await, ExitCode::from(validate::INVALID));
}

#[sqlx::test(migrator = "hyperfleet_api::store::MIGRATOR")]
async fn an_unreachable_api_or_a_vanished_resource_is_a_retryable_failure_that_says_why(pool: PgPool) {
    let api = hyperfleet_testing::api::serve_requiring(pool, &["validation"], &[]).await.unwrap();
    let resource = cluster(&api.client, "prod", json!({})).await;
    let file = message_file("unreachable");
    // A port nothing listens on: bind one, then let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let args_closed = args(&format!("http://{closed}"), &resource, &file, &["--timeout", "2s"]);
    assert_eq!(validate::run(&args_closed).await, ExitCode::from(validate::UNAVAILABLE));
    let message = std::fs::read_to_string(&file).unwrap();
    assert!(message.starts_with(&format!("cannot read {} from the API", resource.href)), "{message}");

    let mut gone = resource.clone();
    gone.href = "/api/hyperfleet/v1/clusters/00000000-0000-0000-0000-000000000000".into();
    let file = message_file("gone");
    assert_eq!(
        validate::run(&args(&api.base, &gone, &file, &[])).await,
        ExitCode::from(validate::UNAVAILABLE)
    );
    assert!(std::fs::read_to_string(&file).unwrap().ends_with("does not exist"));
}
