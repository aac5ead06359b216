//! An AdapterConfig compiled for execution: every CEL expression and template checked once
//! (all problems listed at once, so one `InvalidConfig` message says everything to fix), plus
//! the settings the consumer needs. Pure: the same in `run`, `local` and `adapter test`.

use hyperfleet_crds::v1alpha1::{
    AdapterConfigSpec, DeletePropagation, FeedbackRule, JobTemplate, Lookup, ManagedResource, ResourceType,
    Transport,
};

use super::template::{TemplateId, Templates, TemplatesBuilder};
use crate::cel::Expression;

/// A `jobTemplate`, with the templates of its strings.
#[derive(Debug, Clone)]
pub struct PlannedJob {
    /// The spec's fixed fields (namespace, image, limits).
    pub spec: JobTemplate,
    /// `command`, in order.
    pub command: Vec<TemplateId>,
    /// `args`, in order.
    pub args: Vec<TemplateId>,
    /// `env`, by variable name.
    pub env: Vec<(String, TemplateId)>,
}

/// How a resource entry's object is found again.
#[derive(Debug, Clone)]
pub enum PlannedSelect {
    /// By the name its manifest gives it.
    Own,
    /// By a templated name (`discovery.byName`).
    Name(TemplateId),
    /// By templated labels (`discovery.byLabels`): the newest generation wins.
    Labels(Vec<(String, TemplateId)>),
}

impl PlannedSelect {
    /// Registers `byName` / `byLabels` templates as `<prefix>.byName` / `<prefix>.byLabels.<key>`;
    /// neither is [`PlannedSelect::Own`].
    fn new(
        prefix: &str,
        by_name: Option<&String>,
        by_labels: Option<&std::collections::BTreeMap<String, String>>,
        builder: &mut TemplatesBuilder,
    ) -> Self {
        match (by_name, by_labels) {
            (Some(name), _) => PlannedSelect::Name(builder.add(format!("{prefix}.byName"), name.clone())),
            (None, Some(labels)) => PlannedSelect::Labels(
                labels
                    .iter()
                    .map(|(key, value)| {
                        (key.clone(), builder.add(format!("{prefix}.byLabels.{key}"), value.clone()))
                    })
                    .collect(),
            ),
            (None, None) => PlannedSelect::Own,
        }
    }

    /// The selection rendered with `context`; `None` for [`PlannedSelect::Own`].
    pub fn render(
        &self,
        templates: &Templates,
        context: &serde_json::Value,
    ) -> Result<Option<super::transport::Select>, super::template::TemplateError> {
        use super::transport::Select;
        Ok(match self {
            PlannedSelect::Own => None,
            PlannedSelect::Name(name) => Some(Select::Name(templates.render(name, context)?)),
            PlannedSelect::Labels(labels) => Some(Select::Labels(
                labels
                    .iter()
                    .map(|(key, value)| Ok((key.clone(), templates.render(value, context)?)))
                    .collect::<Result<_, super::template::TemplateError>>()?,
            )),
        })
    }
}

/// A resource entry, compiled.
#[derive(Debug, Clone)]
pub struct PlannedResource {
    /// The entry's name (`resources.<name>` in CEL).
    pub name: String,
    /// How it is delivered.
    pub transport: Transport,
    /// Its manifest.
    pub manifest: TemplateId,
    /// `discovery.namespace`, when it overrides the manifest's.
    pub namespace: Option<TemplateId>,
    /// How it is found again.
    pub select: PlannedSelect,
    /// `lifecycle.deleteWhen`.
    pub delete_when: Option<Expression>,
    /// Whether an existing object without the ownership labels is taken over.
    pub adopt: bool,
    /// With `transport: maestro`: where and how the ManifestWork goes.
    pub maestro: Option<PlannedDelivery>,
}

/// The Maestro side of a resource entry.
#[derive(Debug, Clone)]
pub struct PlannedDelivery {
    /// The consumer, templated.
    pub target_cluster: TemplateId,
    /// Feedback rules of the work.
    pub feedback: Vec<FeedbackRule>,
    /// Delete propagation of the work.
    pub delete_propagation: DeletePropagation,
}

/// A lookup, compiled.
#[derive(Debug, Clone)]
pub struct PlannedLookup {
    /// `lookups.<name>`.
    pub name: String,
    /// `apiVersion` of the objects.
    pub api_version: String,
    /// `kind` of the objects.
    pub kind: String,
    /// Namespace.
    pub namespace: Option<TemplateId>,
    /// By name (one object or null) or labels (a list).
    pub select: PlannedSelect,
    /// Whether its values are redacted.
    pub sensitive: bool,
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
    /// RabbitMQ exchange and binding key of the subscription.
    pub routing: hyperfleet_broker::Routing,
    /// Events handled at once.
    pub concurrency: usize,
    /// Deliveries before dead-lettering.
    pub max_deliveries: u32,
    /// Lookups in order.
    pub lookups: Vec<PlannedLookup>,
    /// Params in order.
    pub params: Vec<(String, Expression)>,
    /// Preconditions in order.
    pub preconditions: Vec<(String, Expression)>,
    /// Adapters that must be Available at the current generation.
    pub dependencies: Vec<String>,
    /// The Job template.
    pub job: Option<PlannedJob>,
    /// Managed resources.
    pub resources: Vec<PlannedResource>,
    /// Custom status rules.
    pub status_rules: Vec<PlannedRule>,
    /// The report's `data`, by key.
    pub data: Vec<(String, Expression)>,
    /// Every template.
    pub templates: Templates,
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
        let mut builder = TemplatesBuilder::default();
        let job = spec.job_template.as_ref().map(|job| PlannedJob::new(job, &mut builder));
        let lookups = spec.lookups.iter().map(|lookup| PlannedLookup::new(lookup, &mut builder)).collect();
        let data = spec
            .data
            .iter()
            .filter_map(|(key, source)| Some((key.clone(), compile(format!("data.{key}"), source)?)))
            .collect();
        let mut resources = Vec::new();
        for resource in &spec.resources {
            let delete_when = resource.lifecycle.as_ref().and_then(|l| l.delete_when.as_deref());
            let delete_when = delete_when
                .map(|source| compile(format!("resources.{}.lifecycle.deleteWhen", resource.name), source));
            resources.push(PlannedResource::new(resource, delete_when.flatten(), &mut builder));
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
        for resource in &spec.resources {
            for rule in &resource.feedback {
                if let Err(err) = hyperfleet_maestro::agent::check_path(&rule.path) {
                    errors.push(format!(
                        "resources.{}.feedback.{}: not a JSONPath: {err}",
                        resource.name, rule.name
                    ));
                }
            }
        }
        let templates = builder.build().map_err(|mut errs| errors.append(&mut errs)).ok();
        let Some(templates) = templates.filter(|_| errors.is_empty()) else { return Err(errors) };
        Ok(Self {
            adapter: spec.adapter_type.clone(),
            resource_type: spec.resource_type,
            topic: spec.broker.topic.clone(),
            subscription: spec.subscription().to_owned(),
            routing: crate::resolve::routing(&spec.broker),
            // The schema bounds both to 1..=100 (i32 in the CRD: Kubernetes knows no uint32).
            concurrency: usize::try_from(spec.concurrency.max(1)).unwrap_or(1),
            max_deliveries: u32::try_from(spec.max_deliveries.max(1)).unwrap_or(1),
            lookups,
            params,
            preconditions,
            dependencies: spec.criteria.dependencies.clone(),
            job,
            resources,
            status_rules,
            data,
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

impl PlannedJob {
    /// Registers the job's templated strings as `jobTemplate.<field>.<index or name>`.
    fn new(job: &JobTemplate, builder: &mut TemplatesBuilder) -> Self {
        let mut list = |field: &str, parts: &[String]| -> Vec<TemplateId> {
            parts
                .iter()
                .enumerate()
                .map(|(i, part)| builder.add(format!("jobTemplate.{field}.{i}"), part.clone()))
                .collect()
        };
        let command = list("command", &job.command);
        let args = list("args", &job.args);
        let env = job
            .env
            .iter()
            .map(|(name, value)| {
                (name.clone(), builder.add(format!("jobTemplate.env.{name}"), value.clone()))
            })
            .collect();
        Self { spec: job.clone(), command, args, env }
    }
}

impl PlannedLookup {
    /// Registers the lookup's templates as `lookups.<name>.…`.
    fn new(lookup: &Lookup, builder: &mut TemplatesBuilder) -> Self {
        let name = &lookup.name;
        let prefix = format!("lookups.{name}");
        let namespace = lookup
            .namespace
            .as_ref()
            .map(|source| builder.add(format!("{prefix}.namespace"), source.clone()));
        let select = PlannedSelect::new(&prefix, lookup.by_name.as_ref(), lookup.by_labels.as_ref(), builder);
        Self {
            name: name.clone(),
            api_version: lookup.api_version.clone(),
            kind: lookup.kind.clone(),
            namespace,
            select,
            sensitive: lookup.is_sensitive(),
        }
    }
}

impl PlannedResource {
    /// Registers the entry's manifest and discovery templates as `resources.<name>.…`.
    fn new(
        resource: &ManagedResource,
        delete_when: Option<Expression>,
        builder: &mut TemplatesBuilder,
    ) -> Self {
        let name = &resource.name;
        let manifest = builder.add(format!("resources.{name}.manifest"), resource.manifest.clone());
        let discovery = resource.discovery.clone().unwrap_or_default();
        let prefix = format!("resources.{name}.discovery");
        let namespace = discovery
            .namespace
            .as_ref()
            .map(|source| builder.add(format!("{prefix}.namespace"), source.clone()));
        let select =
            PlannedSelect::new(&prefix, discovery.by_name.as_ref(), discovery.by_labels.as_ref(), builder);
        let maestro = resource.target_cluster.as_ref().map(|target| PlannedDelivery {
            target_cluster: builder.add(format!("resources.{name}.targetCluster"), target.clone()),
            feedback: resource.feedback.clone(),
            delete_propagation: resource.delete_propagation.unwrap_or_default(),
        });
        let transport = resource.transport;
        Self {
            name: name.clone(),
            transport,
            manifest,
            namespace,
            select,
            delete_when,
            adopt: resource.adopt,
            maestro: maestro.filter(|_| transport == Transport::Maestro),
        }
    }
}
