//! Generated artifacts stay in step with the code: the committed OpenAPI document must be what
//! the handlers' annotations produce. Regenerate with
//! `cargo run -p hyperfleet-api -- openapi > api-server/openapi.yaml`.

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

#[test]
fn openapi_states_the_rules_the_server_enforces() {
    use hyperfleet_api::{status::report, validate};
    let doc = serde_json::to_value(hyperfleet_api::openapi::document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let rules = [
        (&schemas["CreateResource"]["properties"]["name"]["pattern"], validate::NAME_PATTERN),
        (
            &schemas["CreateResource"]["properties"]["labels"]["additionalProperties"]["pattern"],
            validate::LABEL_VALUE_PATTERN,
        ),
        (&schemas["StatusReport"]["properties"]["adapter"]["pattern"], report::ADAPTER_NAME_PATTERN),
        (&schemas["ReportedCondition"]["properties"]["type"]["pattern"], report::CONDITION_TYPE_PATTERN),
    ];
    for (documented, enforced) in rules {
        assert_eq!(documented.as_str(), Some(enforced));
    }
    let lengths = [
        (&schemas["CreateResource"]["properties"]["name"]["maxLength"], 53),
        (&schemas["PatchResource"]["properties"]["labels"]["additionalProperties"]["maxLength"], 63),
        (&schemas["ReportedCondition"]["properties"]["reason"]["maxLength"], report::MAX_REASON_LEN),
        (&schemas["ReportedCondition"]["properties"]["message"]["maxLength"], report::MAX_MESSAGE_LEN),
        (&schemas["ForceDelete"]["properties"]["reason"]["maxLength"], 1024),
        (&schemas["StatusReport"]["properties"]["observed_generation"]["minimum"], 1),
    ];
    for (documented, enforced) in lengths {
        assert_eq!(documented.as_u64(), Some(enforced as u64), "{documented}");
    }
    // Every versioned operation documents the answers any route can give.
    let create = &doc["paths"]["/api/hyperfleet/v1/clusters"]["post"]["responses"];
    for status in ["400", "401", "403", "408", "413", "415", "429", "503"] {
        assert!(create.get(status).is_some(), "POST /clusters does not document {status}");
    }
    let limited = &doc["components"]["responses"]["TooManyRequests"];
    assert!(limited["headers"]["Retry-After"].is_object(), "{limited}");
    let history = &doc["paths"]["/api/hyperfleet/v1/clusters/{cluster_id}/statuses/{adapter}/history"]["get"];
    assert!(history["responses"]["400"].is_object(), "a bad history limit is a documented 400");
}
