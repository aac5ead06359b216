//! The variables an adapter's CEL expressions and templates see for one event:
//! `resource` (and its alias `cluster`/`nodepool`), `generation`, `deleting`, `statuses` (every
//! adapter's report, by adapter name), `event` (the event's data), `params` (computed in order,
//! each seeing the earlier ones), and after acting `job`, `resources` and `conditions`.

use serde_json::{Map, Value};

use hyperfleet_api_model::{AdapterStatus, ConditionStatus, Resource};

use super::plan::AdapterPlan;
use crate::cel::{CelError, Scope};

/// The variables of one event: as JSON (for templates) and bound for CEL once, each later
/// change rebinding only the variable it changes.
#[derive(Debug)]
pub struct Variables {
    values: Map<String, Value>,
    scope: Scope,
}

impl Variables {
    /// The variables before params are computed.
    pub fn new(
        plan: &AdapterPlan,
        resource: &Resource,
        statuses: &[AdapterStatus],
        event: &Value,
    ) -> Result<Self, serde_json::Error> {
        let resource_json = serde_json::to_value(resource)?;
        let statuses = statuses
            .iter()
            .map(|s| Ok((s.adapter.clone(), serde_json::to_value(s)?)))
            .collect::<Result<Map<String, Value>, serde_json::Error>>()?;
        let mut values = Map::new();
        values.insert(plan.alias().to_owned(), resource_json.clone());
        values.insert("resource".into(), resource_json);
        values.insert("generation".into(), resource.generation.into());
        values.insert("deleting".into(), resource.deleted_time.is_some().into());
        values.insert("statuses".into(), Value::Object(statuses));
        values.insert("event".into(), event.clone());
        values.insert("params".into(), Value::Object(Map::new()));
        let bindings: Vec<(&str, &Value)> =
            values.iter().map(|(name, value)| (name.as_str(), value)).collect();
        let scope = Scope::new(&bindings);
        Ok(Self { values, scope })
    }

    /// Computes `params` in order; the first failure stops (later params may need it).
    pub fn compute_params(&mut self, plan: &AdapterPlan) -> Result<(), CelError> {
        if plan.params.is_empty() {
            return Ok(());
        }
        let mut params = Map::new();
        for (name, expression) in &plan.params {
            params.insert(name.clone(), expression.evaluate_in(&self.scope)?);
            self.set("params", Value::Object(params.clone()));
        }
        Ok(())
    }

    /// The last report of `adapter` (as the API returned it), if any.
    pub fn status_of(&self, adapter: &str) -> Option<&Value> {
        self.values.get("statuses").and_then(|statuses| statuses.get(adapter))
    }

    /// Adds (or replaces) a variable.
    pub fn set(&mut self, name: &str, value: Value) {
        self.scope.set(name, &value);
        self.values.insert(name.to_owned(), value);
    }

    /// The variables, bound for CEL.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The variables as a template context.
    pub fn context(&self) -> Value {
        Value::Object(self.values.clone())
    }
}

/// The first of `dependencies` not Available=True at `generation`, with why.
pub fn unmet_dependency(
    dependencies: &[String],
    statuses: &[AdapterStatus],
    generation: i64,
) -> Option<String> {
    dependencies.iter().find_map(|dependency| {
        let Some(status) = statuses.iter().find(|s| &s.adapter == dependency) else {
            return Some(format!("waiting for {dependency}: it has not reported yet"));
        };
        let available =
            status.conditions.iter().any(|c| c.type_ == "Available" && c.status == ConditionStatus::True);
        if status.observed_generation != generation {
            Some(format!(
                "waiting for {dependency}: it reported for generation {}, not {generation}",
                status.observed_generation
            ))
        } else if !available {
            Some(format!("waiting for {dependency}: not Available"))
        } else {
            None
        }
    })
}
