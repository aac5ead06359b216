//! A SentinelConfig's CEL overrides: `messageDecision` replaces the built-in publish rule, and
//! `messageData` adds fields to the event payload, beside the built-in ones it may not shadow
//! (adapters rely on those). Both are compiled when the config is validated; evaluation errors
//! are per resource and never stop a poll.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use hyperfleet_api_model::{ReconcileEventData, Resource};

use super::decision::{Backoff, Decision, Published, Reason};
use crate::cel::{CelError, Expression};

/// The compiled overrides (both optional).
#[derive(Debug, Clone, Default)]
pub struct CustomRules {
    /// `messageDecision`: over `resource` and `now`; true = due.
    pub decision: Option<Expression>,
    /// `messageData`: event data fields by name, over `resource` and `reason`.
    pub data: Vec<(String, Expression)>,
}

impl CustomRules {
    /// Compiles the overrides, collecting every error.
    pub fn compile(decision: Option<&str>, data: &BTreeMap<String, String>) -> Result<Self, Vec<String>> {
        let mut errors: Vec<String> = data
            .keys()
            .filter(|name| ReconcileEventData::BUILT_IN_FIELDS.contains(&name.as_str()))
            .map(|name| format!("messageData.{name}: a built-in event field; choose another name"))
            .collect();
        let mut compile = |field: String, source: &str| {
            Expression::compile(source).map_err(|err| errors.push(format!("{field}: {err}"))).ok()
        };
        let decision = decision.and_then(|source| compile("messageDecision".into(), source));
        let data = data
            .iter()
            .filter_map(|(name, source)| {
                Some((name.clone(), compile(format!("messageData.{name}"), source)?))
            })
            .collect();
        if errors.is_empty() { Ok(Self { decision, data }) } else { Err(errors) }
    }

    /// Whether the built-in "possibly due" search cut applies (not when a custom rule decides,
    /// since it may want resources the cut leaves out).
    pub fn uses_builtin_decision(&self) -> bool {
        self.decision.is_none()
    }
}

/// The custom decision: the expression says whether the resource is due; what was published
/// still limits events to one per generation change or per `backoffNotReady`.
pub fn decide_custom(
    expression: &Expression,
    resource: &Resource,
    resource_json: &serde_json::Value,
    published: Option<Published>,
    backoff: Backoff,
    now: DateTime<Utc>,
) -> Result<Decision, CelError> {
    if !expression.evaluate_bool_at(&[("resource", resource_json)], Some(now))? {
        return Ok(Decision::Wait { until: now + backoff.not_ready });
    }
    match published {
        Some(last) if last.generation == resource.generation && now < last.at + backoff.not_ready => {
            Ok(Decision::Wait { until: last.at + backoff.not_ready })
        }
        _ => Ok(Decision::Publish(Reason::Custom)),
    }
}

/// The custom event fields: each evaluated over `resource` and `reason`.
pub fn custom_data(
    fields: &[(String, Expression)],
    resource_json: &serde_json::Value,
    reason: Reason,
) -> Result<serde_json::Map<String, serde_json::Value>, CelError> {
    if fields.is_empty() {
        return Ok(serde_json::Map::new());
    }
    let reason = serde_json::Value::String(reason.as_str().to_owned());
    let scope = crate::cel::Scope::new(&[("resource", resource_json), ("reason", &reason)]);
    let mut data = serde_json::Map::new();
    for (name, expression) in fields {
        data.insert(name.clone(), expression.evaluate_in(&scope)?);
    }
    Ok(data)
}
