//! Types both resources use: what they talk to (the API, a broker) and how durations look.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Pattern of duration fields: one or more `<number><unit>` with unit ms, s, m or h.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h))+$";

/// Which resources a Sentinel polls or an adapter acts on: the API model's type, so the CRDs,
/// the events and the API agree on it.
pub use hyperfleet_api_model::ResourceType;

/// A key of a Secret in the resource's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// How to reach the HyperFleet API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HyperfleetApi {
    /// Base URL, e.g. `http://hyperfleet-api.hyperfleet.svc:8000`.
    #[schemars(length(min = 1), regex(pattern = r"^https?://"))]
    pub url: String,
    /// Per-request timeout.
    #[serde(default = "default_api_timeout")]
    #[schemars(regex(pattern = r"^([0-9]+(ms|s|m|h))+$"))]
    pub timeout: String,
    /// Secret key holding a bearer token for the API (when the API has authentication on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeyRef>,
}

fn default_api_timeout() -> String {
    "10s".into()
}

impl HyperfleetApi {
    /// Adds what is wrong with the API settings to `errors`: a URL that does not parse as an
    /// http(s) URL with a host, a timeout that is not a positive duration.
    pub fn check(&self, errors: &mut Vec<String>) {
        match url::Url::parse(&self.url) {
            Ok(url)
                if matches!(url.scheme(), "http" | "https")
                    && url.host_str().is_some_and(|h| !h.is_empty()) => {}
            Ok(_) => {
                errors.push(format!("hyperfleetAPI.url: '{}' is not an http(s) URL with a host", self.url))
            }
            Err(err) => errors.push(format!("hyperfleetAPI.url: '{}' does not parse: {err}", self.url)),
        }
        let timeout = crate::check_duration(errors, "hyperfleetAPI.timeout", &self.timeout);
        if timeout.is_some_and(|t| t.is_zero()) {
            errors.push("hyperfleetAPI.timeout: must be greater than zero".into());
        }
    }
}

/// Broker kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerType {
    /// RabbitMQ (AMQP 0-9-1).
    Rabbitmq,
    /// Google Cloud Pub/Sub.
    GcpPubsub,
    /// In-process; only meaningful in `hyperfleet-operator local`.
    Memory,
    /// The original design's name for `memory`.
    Stub,
}

/// The broker schema of a SentinelConfig: without `subscription`, which only adapters consume
/// from (`kubectl explain sentinelconfig.spec.broker` must not offer it).
pub(crate) fn without_subscription(schema: &mut schemars::Schema) {
    if let Some(properties) = schema.get_mut("properties").and_then(serde_json::Value::as_object_mut) {
        properties.remove("subscription");
    }
}

/// Where events go (Sentinel) or come from (adapter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type != 'gcp-pubsub' || has(self.projectID)").message("projectID is required for gcp-pubsub"))]
#[x_kube(validation = Rule::new("self.type != 'rabbitmq' || has(self.urlSecretRef)").message("urlSecretRef is required for rabbitmq"))]
pub struct BrokerSpec {
    /// Broker kind.
    #[serde(rename = "type")]
    pub type_: BrokerType,
    /// Topic events are published to.
    #[schemars(length(min = 1, max = 200), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub topic: String,
    /// Subscription an adapter consumes (default: its adapterType). Adapters sharing one compete
    /// for events; different ones each get every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub subscription: Option<String>,
    /// RabbitMQ topic exchange events go through (default: the topic). Pub/Sub ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub exchange: Option<String>,
    /// RabbitMQ routing key: a SentinelConfig publishes with it (default: empty); an
    /// AdapterConfig binds its queue with it, as a pattern of `.`-separated words where `*` is one
    /// word and `#` any number (default `#`: everything). Pub/Sub ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = r"^[A-Za-z0-9_*#-]*(\.[A-Za-z0-9_*#-]*)*$"))]
    pub routing_key: Option<String>,
    /// GCP project of the Pub/Sub topic.
    #[serde(default, rename = "projectID", skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// Secret key holding the broker URL (RabbitMQ: `amqp://user:password@host/vhost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_secret_ref: Option<SecretKeyRef>,
}
