use serde_json::{Value, json};

use super::*;

fn resource(kind: &str, name: &str, spec: Value) -> Resource {
    serde_json::from_value(json!({
        "id": "0190a7d2-0000-7000-8000-000000000001", "kind": kind, "name": name,
        "href": "/api/hyperfleet/v1/clusters/0190a7d2-0000-7000-8000-000000000001", "generation": 1,
        "spec": spec, "status": {"phase": "Pending"}, "created_time": "2026-01-01T00:00:00Z",
        "updated_time": "2026-01-01T00:00:00Z", "created_by": "u", "updated_by": "u"
    }))
    .unwrap()
}

fn good_cluster_spec() -> Value {
    json!({
        "platform": {"type": "gcp", "gcp": {"projectID": "p", "region": "us-east1", "zones": ["us-east1-b"]}},
        "release": {"version": "4.17.3"},
        "dns": {"baseDomain": "clusters.example.com"},
        "network": {"machineCIDR": "10.0.0.0/16", "podCIDR": "10.128.0.0/14", "serviceCIDR": "172.30.0.0/16"}
    })
}

/// A change to the good spec.
type Edit = Box<dyn FnOnce(&mut Value)>;

/// The fields of the problems `check` finds in a cluster whose spec has `edit` applied.
fn cluster_problems(name: &str, edit: impl FnOnce(&mut Value), rules: &Rules) -> Vec<String> {
    let mut spec = good_cluster_spec();
    edit(&mut spec);
    check(&resource("Cluster", name, spec), rules).iter().map(ToString::to_string).collect()
}

#[test]
fn a_well_formed_cluster_has_no_problems() {
    assert_eq!(cluster_problems("prod-us-east-1", |_| {}, &Rules::default()), Vec::<String>::new());
}

#[test]
fn every_cluster_rule_names_its_field() {
    let rules = Rules { regions: vec!["us-east1".into(), "europe-west1".into()], ..Rules::default() };
    let long = "a".repeat(55);
    let cases: Vec<(&str, &str, Edit)> = vec![
        ("Prod", "name: 'Prod' must be lowercase", Box::new(|_| {})),
        ("1prod", "name: '1prod' must be lowercase", Box::new(|_| {})),
        ("prod-", "name: 'prod-' must be lowercase", Box::new(|_| {})),
        (&long, "is longer than 54 characters", Box::new(|_| {})),
        ("ok", "spec.platform.type: required", Box::new(|s| s["platform"] = json!({}))),
        (
            "ok",
            "spec.platform.type: 'azure' is not one of: gcp, aws",
            Box::new(|s| s["platform"]["type"] = "azure".into()),
        ),
        ("ok", "spec.platform.gcp.region: required", Box::new(|s| s["platform"]["gcp"] = json!({}))),
        (
            "ok",
            "spec.platform.gcp.region: 'mars1' is not one of: us-east1, europe-west1",
            Box::new(|s| {
                s["platform"]["gcp"]["region"] = "mars1".into();
                s["platform"]["gcp"]["zones"] = json!([]);
            }),
        ),
        (
            "ok",
            "spec.platform.gcp.zones[1]: 'europe-west1-b' is not a zone of region 'us-east1'",
            Box::new(|s| {
                s["platform"]["gcp"]["zones"] = json!(["us-east1-c", "europe-west1-b"]);
            }),
        ),
        ("ok", "spec.release.version: required", Box::new(|s| s["release"] = json!({}))),
        (
            "ok",
            "spec.release.version: '4.17' is not a version",
            Box::new(|s| s["release"]["version"] = "4.17".into()),
        ),
        ("ok", "spec.dns.baseDomain: required", Box::new(|s| s["dns"] = json!({"baseDomain": ""}))),
        (
            "ok",
            "spec.dns.baseDomain: 'Example..com' is not a DNS domain",
            Box::new(|s| s["dns"]["baseDomain"] = "Example..com".into()),
        ),
        (
            "ok",
            "spec.network.podCIDR: '10.128.0.0/33' is not a CIDR",
            Box::new(|s| s["network"]["podCIDR"] = "10.128.0.0/33".into()),
        ),
        (
            "ok",
            "spec.network.machineCIDR: '10.0.0.1/16' has host bits set: the network is 10.0.0.0/16",
            Box::new(|s| s["network"]["machineCIDR"] = "10.0.0.1/16".into()),
        ),
        (
            "ok",
            "spec.network.serviceCIDR: '7' is not a CIDR string",
            Box::new(|s| s["network"]["serviceCIDR"] = 7.into()),
        ),
        (
            "ok",
            "spec.network.podCIDR: 10.0.128.0/17 overlaps machineCIDR 10.0.0.0/16",
            Box::new(|s| s["network"]["podCIDR"] = "10.0.128.0/17".into()),
        ),
        (
            "ok",
            "spec.network.serviceCIDR: 10.0.0.0/12 overlaps machineCIDR 10.0.0.0/16",
            Box::new(|s| s["network"]["serviceCIDR"] = "10.0.0.0/12".into()),
        ),
    ];
    for (name, expected, edit) in cases {
        let problems = cluster_problems(name, edit, &rules);
        assert_eq!(problems.len(), 1, "{expected}: {problems:?}");
        assert!(problems[0].contains(expected), "expected {expected:?}, got {problems:?}");
    }
}

#[test]
fn every_problem_of_a_cluster_is_listed_at_once() {
    let problems =
        cluster_problems("Bad_Name", |s| *s = json!({"network": {"machineCIDR": "x"}}), &Rules::default());
    let fields: Vec<&str> = problems.iter().map(|p| p.split(':').next().unwrap()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "spec.platform.type",
            "spec.release.version",
            "spec.dns.baseDomain",
            "spec.network.machineCIDR"
        ]
    );
}

#[test]
fn an_empty_region_list_allows_any_region_and_ipv6_networks_are_checked_too() {
    let problems = cluster_problems(
        "ok",
        |s| {
            s["platform"]["gcp"] = json!({"region": "asia-south2"});
            s["network"] = json!({"machineCIDR": "fd00::/48", "podCIDR": "fd00:0:0:1::/64"});
        },
        &Rules::default(),
    );
    assert_eq!(problems, ["spec.network.podCIDR: fd00:0:0:1::/64 overlaps machineCIDR fd00::/48"]);
}

fn nodepool_problems(spec: Value) -> Vec<String> {
    let rules = Rules { max_replicas: 10, ..Rules::default() };
    check(&resource("NodePool", "workers", spec), &rules).iter().map(ToString::to_string).collect()
}

#[test]
fn node_pool_sizes_are_within_limits() {
    assert_eq!(
        nodepool_problems(json!({"replicas": 3, "autoscaling": {"min": 3, "max": 6}})),
        Vec::<String>::new()
    );
    assert_eq!(nodepool_problems(json!({"replicas": 0})), Vec::<String>::new(), "scaled to zero is a size");
    let cases = [
        (json!({}), "spec.replicas: required (or spec.autoscaling)"),
        (json!({"replicas": 11}), "spec.replicas: 11 is more than the limit of 10"),
        (json!({"replicas": -1}), "spec.replicas: '-1' is not a whole number of nodes"),
        (json!({"replicas": "3"}), "spec.replicas: '\"3\"' is not a whole number of nodes"),
        (json!({"autoscaling": {"min": 5, "max": 2}}), "spec.autoscaling: min 5 is greater than max 2"),
        (json!({"autoscaling": {"min": 1}}), "spec.autoscaling.max: required"),
        (
            json!({"autoscaling": {"min": 1, "max": 20}}),
            "spec.autoscaling.max: 20 is more than the limit of 10",
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(nodepool_problems(spec.clone()), [expected], "{spec}");
    }
}

#[test]
fn other_kinds_are_refused_and_huge_values_are_not_repeated_whole() {
    let problems = check(&resource("Widget", "w", json!({})), &Rules::default());
    assert_eq!(problems[0].to_string(), "kind: 'Widget' is neither Cluster nor NodePool");
    let domain = "x".repeat(10_000);
    let problems =
        cluster_problems("ok", |s| s["dns"]["baseDomain"] = domain.clone().into(), &Rules::default());
    assert!(problems[0].len() < 200, "{}", problems[0]);
}
