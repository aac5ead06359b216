//! The `lookups` of one event: the Kubernetes objects an AdapterConfig reads before its params
//! (`lookups.<name>`: one object or null by name, a list sorted by name by labels), read through
//! the adapter's Kubernetes transport (the dry-run one in `local` mode and `adapter test`). The
//! values of sensitive lookups go into the event's [`Redactor`].

use serde_json::{Map, Value};

use super::{
    plan::{AdapterPlan, PlannedLookup},
    redact::Redactor,
    template::TemplateError,
    transport::{ObjectTransport, Select, Target, TransportError},
    variables::Variables,
};

/// Why the lookups could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// A namespace, name or label template failed.
    #[error("lookups.{lookup}")]
    Template {
        /// The lookup.
        lookup: String,
        /// The template's error.
        #[source]
        source: TemplateError,
    },
    /// The API server refused or could not be reached.
    #[error("lookups.{lookup}")]
    Transport {
        /// The lookup.
        lookup: String,
        /// The transport's error.
        #[source]
        source: TransportError,
    },
}

/// Reads every lookup of `plan` into `variables` (`lookups`), returning the secret values seen.
pub async fn read(
    plan: &AdapterPlan,
    transport: &dyn ObjectTransport,
    variables: &mut Variables,
) -> Result<Redactor, LookupError> {
    let mut redactor = Redactor::default();
    if plan.lookups.is_empty() {
        return Ok(redactor);
    }
    let context = variables.context();
    let mut found = Map::new();
    for lookup in &plan.lookups {
        let target = target(plan, lookup, &context)
            .map_err(|source| LookupError::Template { lookup: lookup.name.clone(), source })?;
        let transport_error = |source| LookupError::Transport { lookup: lookup.name.clone(), source };
        let value = match target.select {
            Select::Name(_) => transport.find(&target).await.map_err(transport_error)?.unwrap_or(Value::Null),
            Select::Labels(_) => Value::Array(transport.list(&target).await.map_err(transport_error)?),
        };
        if lookup.sensitive {
            let objects = match &value {
                Value::Array(items) => items.iter().collect(),
                Value::Null => Vec::new(),
                object => vec![object],
            };
            objects.into_iter().for_each(|object| redactor.add_object(object));
        }
        found.insert(lookup.name.clone(), value);
    }
    variables.set("lookups", Value::Object(found));
    Ok(redactor)
}

fn target(plan: &AdapterPlan, lookup: &PlannedLookup, context: &Value) -> Result<Target, TemplateError> {
    let namespace = lookup.namespace.as_ref().map(|id| plan.templates.render(id, context)).transpose()?;
    let namespace = namespace.filter(|ns| !ns.is_empty());
    // Neither byName nor byLabels (a config the schema did not check): every object of the kind.
    let select =
        lookup.select.render(&plan.templates, context)?.unwrap_or_else(|| Select::Labels(Default::default()));
    Ok(Target { api_version: lookup.api_version.clone(), kind: lookup.kind.clone(), namespace, select })
}
