//! The CRDs' `x-kubernetes-validations` rules, evaluated with a CEL engine the way the API
//! server evaluates them on `kubectl apply` (no API server runs here): what users write must be
//! accepted, what the operator could never run refused.

use serde_json::{Value, json};

use hyperfleet_operator::cel::Expression;

/// Every rule of the schema at `pointer` in the CRD of `kind`.
fn rules(kind: &str, pointer: &str) -> Vec<Expression> {
    let crd = hyperfleet_crds::crds().into_iter().find(|c| c.spec.names.kind == kind).unwrap();
    let crd = serde_json::to_value(crd).unwrap();
    let schema = crd.pointer(&format!("/spec/versions/0/schema/openAPIV3Schema{pointer}")).unwrap();
    let rules = schema["x-kubernetes-validations"].as_array().unwrap();
    rules.iter().map(|r| Expression::compile(r["rule"].as_str().unwrap()).unwrap()).collect()
}

fn admitted(rules: &[Expression], object: &Value) -> bool {
    rules.iter().all(|rule| rule.evaluate_bool(&[("self", object)]).unwrap())
}

#[test]
fn selector_requirements_are_judged_as_kubernetes_judges_them() {
    let requirement = "/properties/spec/properties/shardSelector/properties/matchExpressions/items";
    let rules = rules("SentinelConfig", requirement);
    for (object, expected) in [
        (json!({"key": "canary", "operator": "Exists"}), true),
        (json!({"key": "legacy", "operator": "DoesNotExist"}), true),
        (json!({"key": "env", "operator": "In", "values": ["prod"]}), true),
        (json!({"key": "env", "operator": "NotIn", "values": ["dev", "test"]}), true),
        (json!({"key": "env", "operator": "In"}), false),
        (json!({"key": "env", "operator": "In", "values": []}), false),
        (json!({"key": "canary", "operator": "Exists", "values": ["x"]}), false),
    ] {
        assert_eq!(admitted(&rules, &object), expected, "{object}");
    }
}
