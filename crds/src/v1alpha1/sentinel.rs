//! `SentinelConfig`: one shard of the fleet. The controller runs one poll-and-publish loop per
//! SentinelConfig: list the shard's resources from the API, decide which need work, publish one
//! CloudEvent per decision.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{BrokerSpec, HyperfleetApi, ResourceType};

/// Desired state of a Sentinel shard.
// kube's syntax repeats `printcolumn(...)`, which clippy takes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "hyperfleet.redhat.com",
    version = "v1alpha1",
    kind = "SentinelConfig",
    doc = "One Sentinel shard: polls the HyperFleet API and publishes an event per resource needing work.",
    namespaced,
    status = "SentinelConfigStatus",
    shortname = "hfsc",
    category = "hyperfleet",
    printcolumn(name = "Resource", type_ = "string", json_path = ".spec.resourceType"),
    printcolumn(name = "Shard", type_ = "string", json_path = ".status.shard"),
    printcolumn(name = "Broker", type_ = "string", json_path = ".spec.broker.type"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Pending", type_ = "integer", json_path = ".status.resourcesPending"),
    printcolumn(name = "Published", type_ = "integer", json_path = ".status.eventsPublished"),
    printcolumn(name = "Last Poll", type_ = "date", json_path = ".status.lastPollTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(name = "Replica", type_ = "string", json_path = ".status.replica", priority = "1"),
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
pub struct SentinelConfigSpec {
    /// Which resources this shard covers.
    pub resource_type: ResourceType,
    /// Labels selecting this shard's resources; empty selects every resource.
    #[serde(default)]
    pub shard_selector: ShardSelector,
    /// How long a not-yet-reconciled resource waits before its event is published again.
    #[serde(default = "default_backoff_not_ready")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub backoff_not_ready: String,
    /// How long a reconciled resource waits before it is checked again.
    #[serde(default = "default_backoff_ready")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub backoff_ready: String,
    /// Time between two polls of the API.
    #[serde(default = "default_poll_interval")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub poll_interval: String,
    /// The API to poll.
    #[serde(rename = "hyperfleetAPI")]
    pub hyperfleet_api: HyperfleetApi,
    /// Where to publish.
    #[schemars(transform = super::common::without_subscription)]
    pub broker: BrokerSpec,
    /// CEL over `resource` and `now` replacing the built-in publish rule (true = publish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = crate::MAX_EXPRESSION_LEN))]
    pub message_decision: Option<String>,
    /// Extra event `data` fields, by name: CEL over `resource` and `reason`, added beside the
    /// built-in fields (whose names they may not take).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = crate::MAX_MAP_ENTRIES))]
    pub message_data: BTreeMap<String, String>,
}

impl SentinelConfigSpec {
    /// Checks what the schema cannot: durations that parse and make sense together.
    /// (CEL is compiled by the operator, which reports failures in status.)
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        self.hyperfleet_api.check(&mut errors);
        let poll = crate::check_duration(&mut errors, "pollInterval", &self.poll_interval);
        let not_ready = crate::check_duration(&mut errors, "backoffNotReady", &self.backoff_not_ready);
        crate::check_duration(&mut errors, "backoffReady", &self.backoff_ready);
        if poll.is_some_and(|p| p.is_zero()) {
            errors.push("pollInterval: must be greater than zero".into());
        }
        if let (Some(poll), Some(not_ready)) = (poll, not_ready)
            && not_ready < poll
        {
            errors.push(format!(
                "backoffNotReady ({}) is shorter than pollInterval ({}): it cannot take effect",
                self.backoff_not_ready, self.poll_interval
            ));
        }
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

fn default_backoff_not_ready() -> String {
    "10s".into()
}

fn default_backoff_ready() -> String {
    "30m".into()
}

fn default_poll_interval() -> String {
    "5s".into()
}

/// A Kubernetes-style label selector over resource labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShardSelector {
    /// Labels that must have exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements, all of which must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One set-based requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.operator in ['Exists', 'DoesNotExist'] ? (!has(self.values) || size(self.values) == 0) : (has(self.values) && size(self.values) > 0)").message("In and NotIn need values; Exists and DoesNotExist take none"))]
pub struct SelectorRequirement {
    /// Label key.
    #[schemars(length(min = 1, max = 317))]
    pub key: String,
    /// How the label relates to `values`.
    pub operator: SelectorOperator,
    /// Values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Selector operators (Kubernetes semantics: `NotIn` and `DoesNotExist` match unlabelled resources).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectorOperator {
    /// The label has one of the values.
    In,
    /// The label is absent or has none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

/// Observed state of a Sentinel shard.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentinelConfigStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (the loop runs and polls succeed) and `Degraded` (polls or publishes fail).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The shard selector as an API search expression (what `kubectl get` shows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The operator replica that runs the Sentinel (it holds the SentinelConfig's Lease).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// When the last poll finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_poll_time: Option<Time>,
    /// Resources in the shard at the last poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_in_shard: Option<i64>,
    /// Resources not reconciled at the last poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_pending: Option<i64>,
    /// Events published since the loop started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_published: Option<i64>,
    /// The last error, if the last poll or publish failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
