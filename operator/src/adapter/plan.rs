//! An AdapterConfig compiled for execution: every CEL expression and template checked once
//! (all problems listed at once, so one `InvalidConfig` message says everything to fix), plus
//! the settings the consumer needs. Pure: the same in `run`, `local` and `adapter test`.

use hyperfleet_crds::v1alpha1::{AdapterConfigSpec, Discovery, JobTemplate, ResourceType, Transport};

use super::template::{Templates, TemplatesBuilder};
use crate::cel::Expression;

/// A resource entry, compiled.
#[derive(Debug, Clone)]
pub struct PlannedResource {
    /// The entry's name (`resources.<name>` in CEL).
    pub name: String,
    /// How it is delivered.
    pub transport: Transport,
    /// How it is found again (values are templates, see [`discovery_template`]).
    pub discovery: Discovery,
    /// `lifecycle.deleteWhen`.
    pub delete_when: Option<Expression>,
}

/// A status rule, compiled.
#[derive(Debug, Clone)]
pub struct PlannedRule {
    /// Condition type.
    pub type_: String,
    /// Status expression.
    pub status: Expression,
    /// Reason expression.
    pub reason: Option<Expression>,
    /// Message expression.
    pub message: Option<Expression>,
}

/// Everything an adapter runs with.
#[derive(Debug, Clone)]
pub struct AdapterPlan {
    /// `adapterType`: the name in status reports.
    pub adapter: String,
    /// Clusters or node pools.
    pub resource_type: ResourceType,
    /// Topic consumed.
    pub topic: String,
    /// Subscription name.
    pub subscription: String,
    /// Events handled at once.
    pub concurrency: usize,
    /// Deliveries before dead-lettering.
    pub max_deliveries: u32,
    /// Params in order.
    pub params: Vec<(String, Expression)>,
    /// Preconditions in order.
    pub preconditions: Vec<(String, Expression)>,
    /// Adapters that must be Available at the current generation.
    pub dependencies: Vec<String>,
    /// The Job template (its strings are templates, see [`job_template`]).
    pub job: Option<JobTemplate>,
    /// Managed resources.
    pub resources: Vec<PlannedResource>,
    /// Custom status rules.
    pub status_rules: Vec<PlannedRule>,
    /// Every template.
    pub templates: Templates,
}

/// Name of a job template string: `jobTemplate.<field>.<index or key>`.
pub fn job_template(field: &str, key: impl std::fmt::Display) -> String {
    format!("jobTemplate.{field}.{key}")
}

/// Name of a resource's discovery template: `resources.<name>.discovery.<field>`.
pub fn discovery_template(resource: &str, field: &str) -> String {
    format!("resources.{resource}.discovery.{field}")
}

/// Name of a resource's manifest template.
pub fn manifest_template(resource: &str) -> String {
    format!("resources.{resource}.manifest")
}

impl AdapterPlan {
    /// Compiles `spec`; every problem is listed.
    pub fn compile(spec: &AdapterConfigSpec) -> Result<Self, Vec<String>> {
        let mut errors = spec.validate().err().unwrap_or_default();
        let mut compile = |field: String, source: &str| {
            Expression::compile(source).map_err(|err| errors.push(format!("{field}: {err}"))).ok()
        };
        let params = spec
            .params
            .iter()
            .filter_map(|p| Some((p.name.clone(), compile(format!("params.{}", p.name), &p.expression)?)))
            .collect();
        let preconditions = spec
            .criteria
            .preconditions
            .iter()
            .filter_map(|p| {
                Some((p.name.clone(), compile(format!("criteria.preconditions.{}", p.name), &p.expression)?))
            })
            .collect();
        let mut resources = Vec::new();
        for resource in &spec.resources {
            let delete_when = resource.lifecycle.as_ref().and_then(|l| l.delete_when.as_deref());
            let delete_when = delete_when
                .map(|source| compile(format!("resources.{}.lifecycle.deleteWhen", resource.name), source));
            resources.push(PlannedResource {
                name: resource.name.clone(),
                transport: resource.transport,
                discovery: resource.discovery.clone(),
                delete_when: delete_when.flatten(),
            });
        }
        let mut status_rules = Vec::new();
        for rule in &spec.status {
            let field = |part: &str| format!("status.{}.{part}", rule.type_);
            let status = compile(field("status"), &rule.status);
            let reason = rule.reason.as_deref().map(|source| compile(field("reason"), source));
            let message = rule.message.as_deref().map(|source| compile(field("message"), source));
            if let Some(status) = status {
                status_rules.push(PlannedRule {
                    type_: rule.type_.clone(),
                    status,
                    reason: reason.flatten(),
                    message: message.flatten(),
                });
            }
        }
        let templates = templates(spec).map_err(|mut errs| errors.append(&mut errs)).ok();
        if spec.resources.iter().any(|r| r.transport == Transport::Maestro) {
            errors.push(
                "resources: the maestro transport is not available yet; use kubernetes or dry-run".into(),
            );
        }
        let Some(templates) = templates.filter(|_| errors.is_empty()) else { return Err(errors) };
        Ok(Self {
            adapter: spec.adapter_type.clone(),
            resource_type: spec.resource_type,
            topic: spec.broker.topic.clone(),
            subscription: spec.subscription().to_owned(),
            concurrency: spec.concurrency.max(1) as usize,
            max_deliveries: spec.max_deliveries.max(1),
            params,
            preconditions,
            dependencies: spec.criteria.dependencies.clone(),
            job: spec.job_template.clone(),
            resources,
            status_rules,
            templates,
        })
    }

    /// The CEL/template name of the resource itself (`cluster` or `nodepool`).
    pub fn alias(&self) -> &'static str {
        match self.resource_type {
            ResourceType::Clusters => "cluster",
            ResourceType::Nodepools => "nodepool",
        }
    }
}

fn templates(spec: &AdapterConfigSpec) -> Result<Templates, Vec<String>> {
    let mut builder = TemplatesBuilder::default();
    if let Some(job) = &spec.job_template {
        for (index, part) in job.command.iter().enumerate() {
            builder.add(job_template("command", index), part.clone());
        }
        for (index, part) in job.args.iter().enumerate() {
            builder.add(job_template("args", index), part.clone());
        }
        for (name, value) in &job.env {
            builder.add(job_template("env", name), value.clone());
        }
    }
    for resource in &spec.resources {
        builder.add(manifest_template(&resource.name), resource.manifest.clone());
        let discovery = &resource.discovery;
        if let Some(namespace) = &discovery.namespace {
            builder.add(discovery_template(&resource.name, "namespace"), namespace.clone());
        }
        if let Some(name) = &discovery.by_name {
            builder.add(discovery_template(&resource.name, "byName"), name.clone());
        }
        for (key, value) in discovery.by_labels.iter().flatten() {
            builder.add(discovery_template(&resource.name, &format!("byLabels.{key}")), value.clone());
        }
    }
    builder.build()
}
