//! The chart's alerts and dashboard, checked by Prometheus' own `promtool`: every rule parses and
//! is well formed, every alert fires on the series it should and stays quiet on the others
//! (`alerts.promtool.yaml`), carries `summary`, `description` and a `runbook_url` that names a
//! runbook in `docs/runbooks/`, and every dashboard query parses.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use hyperfleet_packaging::{chart_dir, helm, promtool, repo_root};

/// The rule groups the production values render.
fn rule_groups() -> Value {
    let objects = helm::render(Some(&chart_dir().join("ci/production-values.yaml"))).unwrap();
    let rule = helm::of_kind(&objects, "PrometheusRule").next().expect("the production values render alerts");
    rule["spec"]["groups"].clone()
}

fn alerts(groups: &Value) -> Vec<Value> {
    let rules = groups.as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap().iter());
    rules.filter(|r| r.get("alert").is_some()).cloned().collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hyperfleet-promtool-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn unit_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/alerts.promtool.yaml")
}

#[test]
fn the_rules_pass_promtool_check_and_the_alerts_their_unit_tests() {
    let groups = rule_groups();
    let dir = scratch("rules");
    let checked = promtool::check_rules(&groups, &dir).unwrap_or_else(|err| panic!("{err}"));
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool::test_rules(&groups, &unit_tests(), &dir).unwrap_or_else(|err| panic!("{err}"));
    assert!(tested.contains("SUCCESS"), "{tested}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_alert_is_tested_both_ways_and_has_its_annotations_and_runbook() {
    let text = std::fs::read_to_string(unit_tests()).unwrap();
    let tests: Value = serde_saphyr::from_str(&text).unwrap();
    let cases: Vec<&Value> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .collect();
    for alert in alerts(&rule_groups()) {
        let name = alert["alert"].as_str().unwrap();
        let of_alert = || cases.iter().filter(|c| c["alertname"] == name);
        let fires = of_alert().any(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()));
        let quiet = of_alert().any(|c| c["exp_alerts"].as_array().is_some_and(|a| a.is_empty()));
        assert!(fires && quiet, "{name}: needs a case where it fires and one where it stays quiet");
        for annotation in ["summary", "description", "runbook_url"] {
            let value = alert["annotations"][annotation].as_str().unwrap_or_default();
            assert!(!value.is_empty(), "{name} has no {annotation}");
        }
        let url = alert["annotations"]["runbook_url"].as_str().unwrap();
        assert!(url.ends_with(&format!("/{name}.md")), "{name}: runbook_url {url}");
        let runbook = repo_root().join(format!("docs/runbooks/{name}.md"));
        let body =
            std::fs::read_to_string(&runbook).unwrap_or_else(|err| panic!("{}: {err}", runbook.display()));
        for section in ["## Meaning", "## Confirm", "## Causes and fixes", "## Verify"] {
            assert!(body.contains(section), "{} lacks {section}", runbook.display());
        }
    }
}

#[test]
fn every_dashboard_query_parses() {
    let exprs = hyperfleet_packaging::dashboard_queries().unwrap();
    assert!(!exprs.is_empty());
    // As recording rules, so that promtool parses each one.
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(n, expr)| json!({"record": format!("dashboard:query_{n}"), "expr": expr}))
        .collect();
    let dir = scratch("dashboard");
    let checked = promtool::check_rules(&json!([{"name": "dashboard", "rules": rules}]), &dir)
        .unwrap_or_else(|err| panic!("{err}"));
    assert!(checked.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{checked}");
    std::fs::remove_dir_all(dir).ok();
}
