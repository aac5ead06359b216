use serde_json::json;

use super::*;

fn cluster() -> serde_json::Value {
    json!({
        "name": "prod-1",
        "generation": 3,
        "labels": {"region": "eu-west"},
        "spec": {"dns": {"baseDomain": "example.com"}, "replicas": 2},
        "status": {"conditions": [{"type": "Reconciled", "status": "False"}]}
    })
}

#[test]
fn integers_are_signed_so_arithmetic_with_literals_works() {
    let expression =
        Expression::compile("cluster.generation + 1 == 4 && cluster.spec.replicas * 2 == 4").unwrap();
    assert!(expression.evaluate_bool(&[("cluster", &cluster())]).unwrap());
}

#[test]
fn optional_access_and_has_guard_missing_fields() {
    let cluster = cluster();
    let optional = Expression::compile("cluster.?spec.?network.?cidr.orValue('10.0.0.0/16')").unwrap();
    assert_eq!(optional.evaluate(&[("cluster", &cluster)]).unwrap(), json!("10.0.0.0/16"));
    let has = Expression::compile("has(cluster.spec.dns) && !has(cluster.spec.network)").unwrap();
    assert!(has.evaluate_bool(&[("cluster", &cluster)]).unwrap());
}

#[test]
fn a_missing_field_is_an_evaluation_error_naming_the_expression() {
    let expression = Expression::compile("cluster.spec.network.cidr == ''").unwrap();
    let err = expression.evaluate_bool(&[("cluster", &cluster())]).unwrap_err();
    assert!(matches!(err, CelError::Evaluate { .. }), "{err:?}");
    assert!(err.to_string().contains("cluster.spec.network.cidr"), "{err}");
}

#[test]
fn syntax_errors_are_caught_at_compile_time() {
    let err = Expression::compile("cluster.name ==").unwrap_err();
    assert!(err.to_string().contains("invalid CEL expression `cluster.name ==`"), "{err}");
}

#[test]
fn a_non_boolean_result_is_a_type_error() {
    let err =
        Expression::compile("cluster.name").unwrap().evaluate_bool(&[("cluster", &cluster())]).unwrap_err();
    assert!(matches!(err, CelError::Type { expected: "a bool", .. }), "{err:?}");
}

#[test]
fn macros_and_string_extensions_are_available() {
    let expression = Expression::compile(
        "cluster.status.conditions.exists(c, c.type == 'Reconciled' && c.status == 'False') \
         && cluster.labels.region.upperAscii() == 'EU-WEST'",
    )
    .unwrap();
    assert!(expression.evaluate_bool(&[("cluster", &cluster())]).unwrap());
}

#[test]
fn results_convert_back_to_json() {
    let expression =
        Expression::compile("{'zone': cluster.name + '.' + cluster.spec.dns.baseDomain, 'n': 1}").unwrap();
    assert_eq!(
        expression.evaluate(&[("cluster", &cluster())]).unwrap(),
        json!({"zone": "prod-1.example.com", "n": 1})
    );
}

#[test]
fn now_is_a_timestamp_comparable_with_resource_times() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z").unwrap().to_utc();
    let resource = json!({"updated_time": "2026-01-01T00:00:00Z"});
    let expression = Expression::compile("now - timestamp(resource.updated_time) > duration('5m')").unwrap();
    assert!(expression.evaluate_bool_at(&[("resource", &resource)], Some(now)).unwrap());
}

/// Inputs a hostile or careless CR can hold: each must be a compile error, never a crash.
#[test]
fn nesting_and_length_beyond_the_limits_are_compile_errors_not_stack_overflows() {
    let nested = format!("{}true{}", "(".repeat(1000), ")".repeat(1000));
    let member_chain = format!("has(cluster{})", ".a".repeat(2000));
    let additions = format!("1{} == 0", " + 1".repeat(1000));
    let lists = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    for source in [&nested, &member_chain, &additions, &lists] {
        let err = Expression::compile(source).unwrap_err();
        assert!(matches!(err, CelError::Compile { .. }), "{err:?}");
        assert!(err.to_string().len() < 1500, "an excerpt, not the whole input: {err}");
    }
    let err = Expression::compile(&"x".repeat(MAX_SOURCE_LEN + 1)).unwrap_err().to_string();
    assert!(err.contains("longer than 4096 bytes"), "{err}");
}

/// The deepest tree accepted still evaluates on an async worker's stack (2 MiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn the_deepest_accepted_expression_evaluates_on_a_runtime_worker() {
    let terms = MAX_DEPTH - 3; // `==`, the additions, `.generation`, `cluster`
    let source = format!("cluster.generation{} == {}", " + 1".repeat(terms), 3 + terms);
    let expression = Expression::compile(&source).unwrap();
    let outcome = tokio::spawn(async move { expression.evaluate_bool(&[("cluster", &cluster())]) });
    assert!(outcome.await.unwrap().unwrap());
    let too_deep = format!("cluster.generation{} == 0", " + 1".repeat(MAX_DEPTH));
    assert!(Expression::compile(&too_deep).unwrap_err().to_string().contains("levels deep"));
}
