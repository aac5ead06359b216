//! Turns a custom resource's references into live clients: Secret keys into strings (from the
//! Kubernetes API in `run` mode, from environment variables in `local` mode), `hyperfleetAPI`
//! into an API client, `broker` into a connected broker shared by every task that names the same
//! one (one RabbitMQ connection per URL; one in-process memory broker, so in `local` mode the
//! Sentinels' events reach the adapters).

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use tokio::sync::Mutex;

use hyperfleet_api_model::client::Client;
use hyperfleet_broker::{Broker, BrokerConfig, BrokerMetrics};
use hyperfleet_crds::{
    parse_duration,
    v1alpha1::{BrokerSpec, BrokerType, HyperfleetApi, SecretKeyRef},
};

/// Why a reference could not be resolved. These are not spec errors: the Secret may appear, the
/// broker may come back; the controller retries.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The Secret or its key is missing.
    #[error("secret {namespace}/{name} key '{key}': {reason}")]
    Secret {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The Secret could not be read.
    #[error("secret {namespace}/{name} could not be read")]
    SecretRead {
        /// The Secret's namespace.
        namespace: String,
        /// The Secret's name.
        name: String,
        /// The API server's error.
        #[source]
        source: kube::Error,
    },
    /// The broker could not be reached.
    #[error("broker {broker}")]
    Broker {
        /// Which broker (type, without credentials).
        broker: &'static str,
        /// The broker's error.
        #[source]
        source: hyperfleet_broker::BrokerError,
    },
    /// The API timeout is not a duration.
    #[error("{0}")]
    ApiTimeout(String),
    /// The Maestro settings are unusable (an address or a PEM that does not parse).
    #[error("maestro")]
    Maestro(#[source] hyperfleet_maestro::MaestroError),
    /// The API client could not be built.
    #[error("hyperfleetAPI: the client could not be built")]
    ApiClient(#[source] hyperfleet_api_model::client::ClientError),
}

impl ResolveError {
    /// The PascalCase reason of the condition that reports it.
    pub fn reason(&self) -> &'static str {
        match self {
            ResolveError::Secret { .. } | ResolveError::SecretRead { .. } => "SecretUnavailable",
            ResolveError::Broker { .. } => "BrokerUnavailable",
            ResolveError::ApiTimeout(_) | ResolveError::ApiClient(_) => "ApiUnavailable",
            ResolveError::Maestro(_) => "MaestroConfigInvalid",
        }
    }
}

/// Where Secret values come from.
#[async_trait]
pub trait SecretSource: Send + Sync + std::fmt::Debug {
    /// The value of `reference` in `namespace`.
    async fn get(&self, namespace: &str, reference: &SecretKeyRef) -> Result<String, ResolveError>;
}

/// Secrets read from the Kubernetes API.
#[derive(Clone)]
pub struct KubeSecrets(pub kube::Client);

impl std::fmt::Debug for KubeSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KubeSecrets")
    }
}

#[async_trait]
impl SecretSource for KubeSecrets {
    async fn get(&self, namespace: &str, reference: &SecretKeyRef) -> Result<String, ResolveError> {
        let error = |reason: String| ResolveError::Secret {
            namespace: namespace.to_owned(),
            name: reference.name.clone(),
            key: reference.key.clone(),
            reason,
        };
        let secret = Api::<Secret>::namespaced(self.0.clone(), namespace)
            .get_opt(&reference.name)
            .await
            .map_err(|source| ResolveError::SecretRead {
                namespace: namespace.to_owned(),
                name: reference.name.clone(),
                source,
            })?
            .ok_or_else(|| error("not found".into()))?;
        let bytes = secret
            .data
            .and_then(|mut data| data.remove(&reference.key))
            .ok_or_else(|| error("no such key".into()))?;
        String::from_utf8(bytes.0).map(|value| value.trim().to_owned()).map_err(|_| error("not UTF-8".into()))
    }
}

/// The RabbitMQ exchange and routing key a CR's broker names (defaults: the topic, and for
/// publishes an empty key, for subscriptions `#`).
pub fn routing(spec: &BrokerSpec) -> hyperfleet_broker::Routing {
    hyperfleet_broker::Routing { exchange: spec.exchange.clone(), key: spec.routing_key.clone() }
}

/// The subscription an AdapterConfig consumes (its name, delivery limit and routing), as the
/// dead-letter tools and the finalizer address it.
pub fn subscription(spec: &hyperfleet_crds::v1alpha1::AdapterConfigSpec) -> hyperfleet_broker::Subscription {
    hyperfleet_broker::Subscription::new(&spec.broker.topic, spec.subscription())
        .with_max_deliveries(u32::try_from(spec.max_deliveries).unwrap_or(1))
        .with_routing(routing(&spec.broker))
}

/// Secrets from environment variables, for `local` mode: `<NAME>_<KEY>` upper-cased with every
/// other character turned into `_` (Secret `hyperfleet-rabbitmq`, key `url` ->
/// `HYPERFLEET_RABBITMQ_URL`).
#[derive(Debug, Clone, Default)]
pub struct EnvSecrets;

impl EnvSecrets {
    /// The variable a reference reads.
    pub fn variable(reference: &SecretKeyRef) -> String {
        format!("{}_{}", reference.name, reference.key)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
            .collect()
    }
}

#[async_trait]
impl SecretSource for EnvSecrets {
    async fn get(&self, namespace: &str, reference: &SecretKeyRef) -> Result<String, ResolveError> {
        let variable = Self::variable(reference);
        std::env::var(&variable).map_err(|_| ResolveError::Secret {
            namespace: namespace.to_owned(),
            name: reference.name.clone(),
            key: reference.key.clone(),
            reason: format!("local mode reads it from ${variable}, which is not set"),
        })
    }
}

/// Secrets from a fixed map of `(name, key)` to value (tests, and embedding the runtime).
#[derive(Debug, Clone, Default)]
pub struct StaticSecrets(pub HashMap<(String, String), String>);

#[async_trait]
impl SecretSource for StaticSecrets {
    async fn get(&self, namespace: &str, reference: &SecretKeyRef) -> Result<String, ResolveError> {
        let key = (reference.name.clone(), reference.key.clone());
        self.0.get(&key).cloned().ok_or_else(|| ResolveError::Secret {
            namespace: namespace.to_owned(),
            name: reference.name.clone(),
            key: reference.key.clone(),
            reason: "not found".into(),
        })
    }
}

/// An API client for `api`, with its timeout and token.
pub async fn api_client(
    api: &HyperfleetApi,
    namespace: &str,
    secrets: &dyn SecretSource,
) -> Result<Client, ResolveError> {
    let timeout = parse_duration("hyperfleetAPI.timeout", &api.timeout).map_err(ResolveError::ApiTimeout)?;
    let client = Client::with_timeout(&api.url, timeout).map_err(ResolveError::ApiClient)?;
    Ok(match &api.token_secret_ref {
        Some(reference) => client.with_token(secrets.get(namespace, reference).await?),
        None => client,
    })
}

/// How long a broker connect may take before the task reports it unavailable (and retries).
pub const BROKER_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// One broker's connection, made once by whichever task needs it first.
type Slot = Arc<tokio::sync::OnceCell<Arc<dyn Broker>>>;

/// Connected brokers, shared by the tasks that name the same one. The map's lock is held only
/// to find a broker's slot, never across a connect: tasks naming other brokers never wait for
/// this one, and tasks naming this one wait for the same connect.
#[derive(Debug)]
pub struct BrokerPool {
    connected: Mutex<HashMap<BrokerConfig, Slot>>,
    metrics: BrokerMetrics,
}

impl BrokerPool {
    /// An empty pool recording into `metrics`.
    pub fn new(metrics: BrokerMetrics) -> Self {
        Self { connected: Mutex::default(), metrics }
    }

    /// The broker `spec` names, connecting on first use.
    pub async fn get(
        &self,
        spec: &BrokerSpec,
        namespace: &str,
        secrets: &dyn SecretSource,
    ) -> Result<Arc<dyn Broker>, ResolveError> {
        let config = match spec.type_ {
            BrokerType::Memory | BrokerType::Stub => BrokerConfig::Memory {},
            BrokerType::Rabbitmq => {
                let reference = spec
                    .url_secret_ref
                    .as_ref()
                    .ok_or_else(|| broker_error("rabbitmq", "urlSecretRef is required"))?;
                BrokerConfig::Rabbitmq { url: secrets.get(namespace, reference).await?, prefetch: None }
            }
            BrokerType::GcpPubsub => {
                let project_id = spec
                    .project_id
                    .clone()
                    .ok_or_else(|| broker_error("gcp-pubsub", "projectID is required"))?;
                BrokerConfig::GcpPubsub { project_id, emulator_host: None }
            }
        };
        let slot = self.connected.lock().await.entry(config.clone()).or_default().clone();
        let broker = broker_name(spec.type_);
        let connect = async {
            match tokio::time::timeout(
                BROKER_CONNECT_TIMEOUT,
                hyperfleet_broker::connect(&config, self.metrics.clone()),
            )
            .await
            {
                Ok(connected) => connected,
                Err(_) => Err(hyperfleet_broker::BrokerError::unavailable(format!(
                    "no answer within {BROKER_CONNECT_TIMEOUT:?}"
                ))),
            }
        };
        // A failed connect leaves the slot empty: the next attempt connects again.
        let connected = slot.get_or_try_init(|| connect).await;
        connected.cloned().map_err(|source| ResolveError::Broker { broker, source })
    }

    /// The brokers that do not answer their health check within `timeout`, with why. The pool
    /// is not locked while they are asked, so a slow broker holds up nobody's connect.
    pub async fn unhealthy(&self, timeout: std::time::Duration) -> Vec<String> {
        let brokers: Vec<Arc<dyn Broker>> =
            self.connected.lock().await.values().filter_map(|slot| slot.get().cloned()).collect();
        let checks = brokers.iter().map(|broker| async move {
            match tokio::time::timeout(timeout, broker.health()).await {
                Ok(Ok(())) => None,
                Ok(Err(err)) => {
                    Some(format!("{}: {}", broker.kind(), hyperfleet_telemetry::error_chain(&err)))
                }
                Err(_) => Some(format!("{}: no answer within {timeout:?}", broker.kind())),
            }
        });
        futures::future::join_all(checks).await.into_iter().flatten().collect()
    }

    /// Adds an already connected broker (tests).
    #[cfg(test)]
    pub(crate) async fn insert(&self, config: BrokerConfig, broker: Arc<dyn Broker>) {
        let slot = Slot::new(tokio::sync::OnceCell::new_with(Some(broker)));
        self.connected.lock().await.insert(config, slot);
    }

    /// Closes every broker (on shutdown, after the tasks stopped).
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self.connected.lock().await.drain().map(|(_, slot)| slot).collect();
        for broker in slots.iter().filter_map(|slot| slot.get()) {
            broker.close().await;
        }
    }
}

fn broker_name(type_: BrokerType) -> &'static str {
    match type_ {
        BrokerType::Rabbitmq => "rabbitmq",
        BrokerType::GcpPubsub => "gcp-pubsub",
        BrokerType::Memory | BrokerType::Stub => "memory",
    }
}

fn broker_error(broker: &'static str, message: &str) -> ResolveError {
    let source = hyperfleet_broker::BrokerError::operation("configure", message.to_owned());
    ResolveError::Broker { broker, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker_spec(yaml: &str) -> BrokerSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    /// A RabbitMQ that accepts connections and never answers (its connect hangs until the
    /// connect timeout), as the Secret `rabbit`/`url` names it; it listens while the handle lives.
    async fn silent_rabbitmq() -> (StaticSecrets, tokio::task::JoinHandle<()>) {
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("amqp://guest:guest@{}/%2f", silent.local_addr().unwrap());
        let listening = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        (StaticSecrets(HashMap::from([(("rabbit".to_owned(), "url".to_owned()), url)])), listening)
    }

    /// A broker whose connect never answers must hold up no task that names another broker.
    #[tokio::test]
    async fn a_broker_whose_connect_never_answers_delays_no_other_task() {
        let (secrets, _silent) = silent_rabbitmq().await;
        let pool = Arc::new(BrokerPool::new(BrokerMetrics::default()));
        let rabbit = broker_spec("{type: rabbitmq, topic: t, urlSecretRef: {name: rabbit, key: url}}");
        let hanging = {
            let (pool, secrets) = (pool.clone(), secrets.clone());
            tokio::spawn(async move { pool.get(&rabbit, "ns", &secrets).await.map(|_| ()) })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let memory = broker_spec("{type: memory, topic: t}");
        let other =
            tokio::time::timeout(std::time::Duration::from_secs(1), pool.get(&memory, "ns", &secrets)).await;
        assert!(
            other.is_ok_and(|broker| broker.is_ok()),
            "the memory broker's task did not wait for RabbitMQ"
        );
        assert!(!hanging.is_finished(), "RabbitMQ's connect is still waiting for an answer");
        hanging.abort();
    }

    /// The same through the workloads: a Sentinel stuck connecting to its broker holds no lock
    /// another CR's start or stop waits on.
    #[tokio::test]
    async fn a_task_stuck_connecting_delays_no_other_tasks_start_or_stop() {
        let (secrets, _silent) = silent_rabbitmq().await;
        let metrics = crate::metrics::OperatorMetrics::new();
        let transports = crate::controller::fixtures::dry_run_transports();
        let (workloads, _changes) = crate::workloads::Workloads::new(crate::workloads::Resources::new(
            &metrics,
            Arc::new(secrets),
            transports,
        ));
        let workloads = Arc::new(workloads);
        let spec = |broker: &str| -> hyperfleet_crds::v1alpha1::SentinelConfigSpec {
            serde_saphyr::from_str(&format!(
                "resourceType: clusters\nhyperfleetAPI: {{url: \"http://127.0.0.1:9\"}}\nbroker: {broker}\n"
            ))
            .unwrap()
        };
        let stuck = {
            let (workloads, spec) = (
                workloads.clone(),
                spec("{type: rabbitmq, topic: t, urlSecretRef: {name: rabbit, key: url}}"),
            );
            tokio::spawn(async move { workloads.apply_sentinel("ns", "stuck", 1, &spec).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let second = std::time::Duration::from_secs(1);
        let memory = spec("{type: memory, topic: t}");
        let other = tokio::time::timeout(second, workloads.apply_sentinel("ns", "other", 1, &memory));
        assert!(
            matches!(other.await, Ok(crate::workloads::Applied::Running { .. })),
            "another SentinelConfig's start waited for the stuck connect"
        );
        let stopped = tokio::time::timeout(second, workloads.remove_sentinel("ns", "other")).await;
        assert_eq!(stopped.ok(), Some(true), "another SentinelConfig's stop waited for the stuck connect");
        assert!(!stuck.is_finished(), "the stuck connect is still waiting for an answer");
        stuck.abort();
    }

    #[test]
    fn local_mode_secret_variables_are_derived_from_name_and_key() {
        let reference = SecretKeyRef { name: "hyperfleet-rabbitmq".into(), key: "url".into() };
        assert_eq!(EnvSecrets::variable(&reference), "HYPERFLEET_RABBITMQ_URL");
    }
}
