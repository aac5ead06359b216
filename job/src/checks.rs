//! What `hyperfleet-job validate` checks before a provisioning starts: every rule over a
//! cluster's or node pool's spec, each problem named by the field it is about. Pure: the
//! resource in, the problems out (all of them, so one run says everything to fix).

use serde_json::Value;

use hyperfleet_api_model::Resource;

use crate::network;

/// One thing wrong with a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a dotted path (`spec.dns.baseDomain`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The limits a resource is checked against (the Job's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// Platforms clusters may use (`spec.platform.type`).
    pub platforms: Vec<String>,
    /// Regions clusters may use; empty allows any.
    pub regions: Vec<String>,
    /// Longest cluster name.
    pub max_name_length: usize,
    /// Most nodes in one node pool.
    pub max_replicas: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            platforms: vec!["gcp".into(), "aws".into()],
            regions: Vec::new(),
            max_name_length: 54,
            max_replicas: 500,
        }
    }
}

/// Checks `resource` as its kind requires (`Cluster` or `NodePool`).
pub fn check(resource: &Resource, rules: &Rules) -> Vec<Problem> {
    match resource.kind.as_str() {
        "Cluster" => cluster(resource, rules),
        "NodePool" => nodepool(resource, rules),
        other => vec![Problem::new("kind", format!("{} is neither Cluster nor NodePool", quoted(other)))],
    }
}

/// Every problem of a cluster: name, platform and region, release version, base domain, networks.
pub fn cluster(resource: &Resource, rules: &Rules) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(why) = dns_label(&resource.name, rules.max_name_length) {
        problems.push(Problem::new("name", why));
    }
    platform(&resource.spec, rules, &mut problems);
    match string(&resource.spec, "/release/version") {
        None => problems.push(Problem::new("spec.release.version", "required")),
        Some(version) => {
            if let Err(err) = semver::Version::parse(version) {
                problems.push(Problem::new(
                    "spec.release.version",
                    format!("{} is not a version like 4.17.3: {err}", quoted(version)),
                ));
            }
        }
    }
    match string(&resource.spec, "/dns/baseDomain") {
        None => problems.push(Problem::new("spec.dns.baseDomain", "required")),
        Some(domain) => {
            if let Some(why) = dns_subdomain(domain) {
                problems.push(Problem::new("spec.dns.baseDomain", why));
            }
        }
    }
    network::check(resource.spec.get("network"), &mut problems);
    problems
}

fn platform(spec: &Value, rules: &Rules, problems: &mut Vec<Problem>) {
    let Some(kind) = string(spec, "/platform/type") else {
        problems.push(Problem::new("spec.platform.type", "required"));
        return;
    };
    if !rules.platforms.iter().any(|allowed| allowed == kind) {
        let allowed = rules.platforms.join(", ");
        problems
            .push(Problem::new("spec.platform.type", format!("{} is not one of: {allowed}", quoted(kind))));
        return;
    }
    let field = format!("spec.platform.{kind}.region");
    let Some(region) = string(spec, &format!("/platform/{kind}/region")) else {
        problems.push(Problem::new(field, "required"));
        return;
    };
    if !rules.regions.is_empty() && !rules.regions.iter().any(|allowed| allowed == region) {
        let allowed = rules.regions.join(", ");
        problems.push(Problem::new(field, format!("{} is not one of: {allowed}", quoted(region))));
    }
    let zones = spec.pointer(&format!("/platform/{kind}/zones"));
    for (n, zone) in zones.and_then(Value::as_array).into_iter().flatten().enumerate() {
        let field = format!("spec.platform.{kind}.zones[{n}]");
        match zone.as_str() {
            Some(zone) if zone.starts_with(region) && zone.len() > region.len() => {}
            Some(zone) => problems.push(Problem::new(
                field,
                format!("{} is not a zone of region {}", quoted(zone), quoted(region)),
            )),
            None => problems.push(Problem::new(field, "not a string")),
        }
    }
}

/// Every problem of a node pool: name, and a size (fixed `replicas` and/or `autoscaling`
/// bounds) within the limit.
pub fn nodepool(resource: &Resource, rules: &Rules) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(why) = dns_label(&resource.name, 63) {
        problems.push(Problem::new("name", why));
    }
    let replicas = resource.spec.get("replicas");
    let autoscaling = resource.spec.get("autoscaling");
    if replicas.is_none() && autoscaling.is_none() {
        problems.push(Problem::new("spec.replicas", "required (or spec.autoscaling)"));
    }
    if let Some(replicas) = replicas {
        count(replicas, "spec.replicas", rules.max_replicas, &mut problems);
    }
    if let Some(autoscaling) = autoscaling {
        let min = autoscaling
            .get("min")
            .and_then(|v| count(v, "spec.autoscaling.min", rules.max_replicas, &mut problems));
        let max = match autoscaling.get("max") {
            Some(v) => count(v, "spec.autoscaling.max", rules.max_replicas, &mut problems),
            None => {
                problems.push(Problem::new("spec.autoscaling.max", "required"));
                None
            }
        };
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            problems.push(Problem::new("spec.autoscaling", format!("min {min} is greater than max {max}")));
        }
    }
    problems
}

/// A whole number of nodes within `max`; the number when it is one.
fn count(value: &Value, field: &str, max: u64, problems: &mut Vec<Problem>) -> Option<u64> {
    match value.as_u64() {
        Some(n) if n <= max => Some(n),
        Some(n) => {
            problems.push(Problem::new(field, format!("{n} is more than the limit of {max}")));
            None
        }
        None => {
            problems.push(Problem::new(
                field,
                format!("{} is not a whole number of nodes", quoted(&value.to_string())),
            ));
            None
        }
    }
}

/// `value` in quotes, cut to 64 characters: a message names the value without repeating a huge one.
pub(crate) fn quoted(value: &str) -> String {
    match value.char_indices().nth(64) {
        Some((end, _)) => format!("'{}...'", &value[..end]),
        None => format!("'{value}'"),
    }
}

fn string<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Why `name` is not an RFC 1035 label of at most `max` characters (lowercase letters, digits
/// and `-`, starting with a letter, ending with a letter or digit): HyperShift names the
/// control plane's namespace and DNS records after the cluster.
fn dns_label(name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some("required".into());
    }
    if name.len() > max {
        return Some(format!("{} is longer than {max} characters", quoted(name)));
    }
    let valid_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let starts = name.as_bytes()[0].is_ascii_lowercase();
    let ends = name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    (!(valid_chars && starts && ends)).then(|| {
        format!("{} must be lowercase letters, digits and '-', start with a letter and end with a letter or digit", quoted(name))
    })
}

/// Why `domain` is not a DNS subdomain (dot-separated labels of letters, digits and `-`, at
/// most 253 characters).
fn dns_subdomain(domain: &str) -> Option<String> {
    if domain.len() > 253 {
        return Some(format!("{} is longer than 253 characters", quoted(domain)));
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    (!domain.split('.').all(label_ok))
        .then(|| format!("{} is not a DNS domain (lowercase labels separated by dots)", quoted(domain)))
}

#[cfg(test)]
mod tests;
