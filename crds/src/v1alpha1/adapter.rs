//! `AdapterConfig`: one adapter. The controller runs one broker consumer per AdapterConfig; for
//! each event it fetches the resource, checks the preconditions and dependencies, creates the
//! Job and/or resources rendered from templates, and reports the resulting conditions.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{PodSecurityContext, ResourceRequirements, SecurityContext},
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{BrokerSpec, HyperfleetApi, ResourceType};

/// Desired behaviour of an adapter.
// kube's syntax repeats `printcolumn(...)`, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "hyperfleet.redhat.com",
    version = "v1alpha1",
    kind = "AdapterConfig",
    doc = "An adapter: consumes HyperFleet events and acts on one kind of resource.",
    namespaced,
    status = "AdapterConfigStatus",
    shortname = "hfac",
    category = "hyperfleet",
    printcolumn(name = "Adapter", type_ = "string", json_path = ".spec.adapterType"),
    printcolumn(name = "Resource", type_ = "string", json_path = ".spec.resourceType"),
    printcolumn(name = "Broker", type_ = "string", json_path = ".spec.broker.type"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Consumers", type_ = "integer", json_path = ".status.consumers"),
    printcolumn(name = "Processed", type_ = "integer", json_path = ".status.eventsProcessed"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.eventsFailed"),
    printcolumn(name = "Last Event", type_ = "date", json_path = ".status.lastEventTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason",
        priority = "1"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = "1"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.jobTemplate) || (has(self.resources) && size(self.resources) > 0) || (has(self.data) && size(self.data) > 0)").message("an adapter needs a jobTemplate, an entry in resources, or data to report"))]
pub struct AdapterConfigSpec {
    /// The adapter's name in status reports (`dns`, `validation`, ...); one of the API's required
    /// adapters for the resource type.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub adapter_type: String,
    /// Which resources the adapter acts on.
    pub resource_type: ResourceType,
    /// The API to read resources from and report to.
    #[serde(rename = "hyperfleetAPI")]
    pub hyperfleet_api: HyperfleetApi,
    /// Where events come from.
    pub broker: BrokerSpec,
    /// What deleting this AdapterConfig does to its subscription: `Delete` (default) removes
    /// it and its dead letters from the broker (RabbitMQ queues, Pub/Sub subscriptions and
    /// dead-letter topic) before the object goes; `Retain` leaves them (events keep queueing).
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Events handled at once (never two for the same resource).
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1, max = 100))]
    pub concurrency: i32,
    /// Deliveries of a failing event before it is dead-lettered.
    #[serde(default = "default_max_deliveries")]
    #[schemars(range(min = 1, max = 100))]
    pub max_deliveries: i32,
    /// When the adapter acts.
    #[serde(default)]
    pub criteria: Criteria,
    /// Kubernetes objects read for each event before the params (`lookups.<name>`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub lookups: Vec<super::Lookup>,
    /// Named values computed per event (CEL), usable in templates and later expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// The simple case: one Job per resource and generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_template: Option<JobTemplate>,
    /// General manifests rendered from templates and applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ManagedResource>,
    /// The Maestro server of `transport: maestro` resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maestro: Option<super::MaestroServer>,
    /// Conditions to report, as CEL; Applied, Available, Health and Finalized default to rules
    /// over the Job and resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<StatusRule>,
    /// Values reported in the status's `data`, by key (CEL, evaluated with the status rules):
    /// what the adapter chose or found, for later adapters (`statuses.<adapter>.data`) and API
    /// clients.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend(
        "maxProperties" = crate::MAX_MAP_ENTRIES,
        "additionalProperties" = {"type": "string", "minLength": 1, "maxLength": crate::MAX_EXPRESSION_LEN}
    ))]
    pub data: BTreeMap<String, String>,
}

impl AdapterConfigSpec {
    /// Checks what the schema cannot: unique names, usable dependencies, duration syntax.
    /// (CEL and templates are compiled by the operator, which reports failures in status.)
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.hyperfleet_api.check(&mut errors);
        let mut lookups = std::collections::BTreeSet::new();
        for lookup in &self.lookups {
            if !lookups.insert(lookup.name.as_str()) {
                errors.push(format!("lookups: '{}' is defined twice", lookup.name));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for param in &self.params {
            if !names.insert(param.name.as_str()) {
                errors.push(format!("params: '{}' is defined twice", param.name));
            }
        }
        let mut resources = std::collections::BTreeSet::new();
        for resource in &self.resources {
            if !resources.insert(resource.name.as_str()) {
                errors.push(format!("resources: '{}' is defined twice", resource.name));
            }
        }
        self.check_maestro(&mut errors);
        for dependency in &self.criteria.dependencies {
            if dependency == &self.adapter_type {
                errors.push(format!("criteria.dependencies: '{dependency}' cannot depend on itself"));
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// The subscription consumed: `broker.subscription`, else the adapter type.
    pub fn subscription(&self) -> &str {
        self.broker.subscription.as_deref().unwrap_or(&self.adapter_type)
    }
}

/// What deleting an AdapterConfig does to what it created in the broker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// The subscription and its dead-letter destination are removed (a finalizer holds the
    /// object until they are).
    #[default]
    Delete,
    /// They stay.
    Retain,
}

fn default_concurrency() -> i32 {
    4
}

fn default_max_deliveries() -> i32 {
    5
}

/// Preconditions and dependencies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Criteria {
    /// CEL expressions over `cluster`/`nodepool`, `statuses`, `event` and `params`; all must be true.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preconditions: Vec<Precondition>,
    /// Adapters that must report Available=True at the resource's current generation first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<String>,
}

/// One precondition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Precondition {
    /// Name shown when it is not met.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// CEL; true means met.
    #[schemars(length(min = 1, max = crate::MAX_EXPRESSION_LEN))]
    pub expression: String,
}

/// A named CEL value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Param {
    /// Identifier usable in later expressions and templates.
    #[schemars(regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"))]
    pub name: String,
    /// CEL producing the value.
    #[schemars(length(min = 1, max = crate::MAX_EXPRESSION_LEN))]
    pub expression: String,
}

/// The Job created per (adapter, resource, generation), named deterministically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplate {
    /// Namespace the Jobs run in.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// Container image.
    #[schemars(length(min = 1))]
    pub image: String,
    /// Entrypoint (templated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::MAX_MAP_ENTRIES))]
    pub command: Vec<String>,
    /// Arguments (templated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = crate::MAX_MAP_ENTRIES))]
    pub args: Vec<String>,
    /// Extra environment (values templated); the resource id and API URL are always set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = crate::MAX_MAP_ENTRIES))]
    pub env: BTreeMap<String, String>,
    /// Environment from Secrets in the Job's namespace (the value never passes through the
    /// operator), e.g. `HYPERFLEET_API_TOKEN: {name: hyperfleet-job-token, key: token}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = crate::MAX_MAP_ENTRIES))]
    pub secret_env: BTreeMap<String, super::SecretKeyRef>,
    /// Service account the Job runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Retries of a failing pod.
    #[serde(default = "default_backoff_limit")]
    #[schemars(range(min = 0, max = 20))]
    pub backoff_limit: i32,
    /// Longest a Job may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// How long finished Jobs are kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// CPU and memory of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// The pod's security context; by default one that PodSecurity `restricted` admits
    /// (non-root, RuntimeDefault seccomp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_security_context: Option<PodSecurityContext>,
    /// The container's security context; by default no privilege escalation, every capability
    /// dropped, non-root, a read-only root filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

fn default_backoff_limit() -> i32 {
    3
}

/// A manifest the adapter keeps applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResource {
    /// Identifier of this entry (CEL: `resources.<name>`).
    #[schemars(regex(pattern = r"^[a-zA-Z_][a-zA-Z0-9_]*$"))]
    pub name: String,
    /// The manifest as a minijinja template producing YAML.
    #[schemars(length(min = 1, max = crate::MAX_TEMPLATE_LEN))]
    pub manifest: String,
    /// How it is delivered (`maestro` needs `spec.maestro` and `targetCluster`).
    #[serde(default)]
    pub transport: Transport,
    /// With `transport: maestro`: the Maestro consumer (managed cluster) to deliver to
    /// (templated, e.g. from a param holding placement's choice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub target_cluster: Option<String>,
    /// With `transport: maestro`: values the work agent reports back from the object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub feedback: Vec<super::FeedbackRule>,
    /// With `transport: maestro`: what deleting the work does to the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_propagation: Option<super::DeletePropagation>,
    /// How the applied object is found again (by default: the manifest's own name; a Maestro
    /// work is always found by its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// Take over an object of this name that exists without this adapter's ownership labels
    /// (otherwise the adapter refuses to apply or delete it, and reports `NotOwned`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopt: bool,
    /// When it is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
}

/// Delivery of manifests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Server-side apply to the operator's cluster.
    #[default]
    Kubernetes,
    /// Through Maestro to a managed cluster.
    Maestro,
    /// Render and record only, with simulated status (local runs, adapter authoring).
    DryRun,
}

/// How an applied object is found: by name or by labels (templated), in a namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.byName) != has(self.byLabels)").message("set exactly one of byName and byLabels"))]
pub struct Discovery {
    /// Namespace (templated; empty for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Object name (templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_name: Option<String>,
    /// Labels the object carries (values templated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_labels: Option<BTreeMap<String, String>>,
}

/// Lifecycle rules of a managed resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    /// CEL; when true the object is deleted instead of applied (e.g. the resource is deleting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::MAX_EXPRESSION_LEN))]
    pub delete_when: Option<String>,
}

/// One reported condition, computed with CEL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusRule {
    /// Condition type (`Applied`, `Available`, `Health`, `Finalized` or your own).
    #[serde(rename = "type")]
    #[schemars(regex(pattern = r"^[A-Z][A-Za-z0-9]*$"))]
    pub type_: String,
    /// CEL producing true/false (or 'True'/'False'/'Unknown').
    #[schemars(length(min = 1, max = crate::MAX_EXPRESSION_LEN))]
    pub status: String,
    /// CEL producing the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::MAX_EXPRESSION_LEN))]
    pub reason: Option<String>,
    /// CEL producing the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::MAX_EXPRESSION_LEN))]
    pub message: Option<String>,
}

/// Observed state of an adapter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdapterConfigStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (consuming) and `Degraded` (events failing).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Replicas whose consumer runs (they share the subscription's events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumers: Option<i64>,
    /// Events handled since the consumers started, on every replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_processed: Option<i64>,
    /// When the last event was handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_time: Option<Time>,
    /// Events that failed since the consumers started, on every replica (redelivered, dead-lettered, or reported
    /// as a failure, e.g. a Job the adapter may not create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_failed: Option<i64>,
    /// The last failure's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
