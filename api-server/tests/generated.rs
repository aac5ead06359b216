//! Generated artifacts stay in step with the code: the committed OpenAPI document must be what
//! the handlers' annotations produce. Regenerate with
//! `cargo run -p hyperfleet-api -- openapi > api-server/openapi.yaml`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // helpers outside #[test] fns

use std::path::Path;

#[test]
fn committed_openapi_matches_the_code() {
    let generated = hyperfleet_api::openapi::yaml().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == committed,
        "{} is stale; regenerate it with `cargo run -p hyperfleet-api -- openapi > api-server/openapi.yaml`",
        path.display()
    );
}

#[test]
fn openapi_documents_every_route_and_the_error_body() {
    let doc = serde_json::to_value(hyperfleet_api::openapi::document()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/hyperfleet/v1/clusters",
        "/api/hyperfleet/v1/clusters/{cluster_id}",
        "/api/hyperfleet/v1/clusters/{cluster_id}/nodepools",
        "/api/hyperfleet/v1/clusters/{cluster_id}/nodepools/{nodepool_id}",
        "/api/hyperfleet/v1/nodepools",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys().collect::<Vec<_>>());
    }
    assert_eq!(paths["/api/hyperfleet/v1/clusters/{cluster_id}"].as_object().unwrap().len(), 3);
    let problem = &doc["components"]["schemas"]["Problem"]["properties"];
    for field in ["type", "title", "status", "detail", "code", "instance", "trace_id", "errors"] {
        assert!(problem.get(field).is_some(), "Problem.{field} undocumented");
    }
}
