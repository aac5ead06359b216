//! The per-resource work of the controller manager, shared by `run` (fed by the Kubernetes
//! controllers) and `local` (fed by YAML files): validate a config, resolve its references,
//! make sure its task runs at the config's generation, and say how it is doing. The callers
//! turn the answer into a status (patched or logged).

use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};

use hyperfleet_crds::v1alpha1::SentinelConfigSpec;

use crate::{
    resolve::{BrokerPool, ResolveError, SecretSource, api_client},
    sentinel::{Sentinel, SentinelProgress, SentinelSettings, metrics::SentinelMetrics},
    tasks::{TaskHealth, TaskRegistry},
};

/// How long a stopping task gets before it is aborted.
const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a config stands after [`Workloads::apply_sentinel`].
#[derive(Debug)]
pub enum Applied<P> {
    /// The spec is invalid (every problem listed); no task runs.
    Invalid(Vec<String>),
    /// A reference could not be resolved (retried); no task runs.
    Unresolved(ResolveError),
    /// The task runs (or just ended, see `health`).
    Running {
        /// The task's health.
        health: TaskHealth,
        /// Its progress figures.
        progress: P,
        /// The shard as a search expression (Sentinels only).
        shard: Option<String>,
    },
}

/// Tasks by config key (`<namespace>/<name>`), and what they need to start.
#[derive(Debug)]
pub struct Workloads {
    secrets: Arc<dyn SecretSource>,
    brokers: BrokerPool,
    sentinel_metrics: SentinelMetrics,
    sentinels: Mutex<TaskRegistry<String, SentinelProgress>>,
}

impl Workloads {
    /// Workloads resolving with `secrets` and `brokers`; the receiver yields the key of every
    /// Sentinel task whose health changed or that ended.
    pub fn new(
        secrets: Arc<dyn SecretSource>,
        brokers: BrokerPool,
        sentinel_metrics: SentinelMetrics,
    ) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (changes_tx, changes) = mpsc::unbounded_channel();
        let sentinels = Mutex::new(TaskRegistry::new(STOP_TIMEOUT).with_changes(changes_tx));
        (Self { secrets, brokers, sentinel_metrics, sentinels }, changes)
    }

    /// Makes the Sentinel task of `namespace/name` run `spec` at `generation`, or stops it when
    /// the spec is invalid or cannot be resolved.
    pub async fn apply_sentinel(
        &self,
        namespace: &str,
        name: &str,
        generation: i64,
        spec: &SentinelConfigSpec,
    ) -> Applied<SentinelProgress> {
        let key = format!("{namespace}/{name}");
        let settings = match SentinelSettings::from_spec(name, spec) {
            Ok(settings) => settings,
            Err(errors) => {
                self.sentinels.lock().await.stop(&key).await;
                return Applied::Invalid(errors);
            }
        };
        let shard = settings.shard.clone();
        let mut sentinels = self.sentinels.lock().await;
        if sentinels.needs_start(&key, generation) {
            let sentinel = match self.build_sentinel(namespace, spec, settings).await {
                Ok(sentinel) => sentinel,
                Err(err) => {
                    sentinels.stop(&key).await;
                    return Applied::Unresolved(err);
                }
            };
            sentinels.ensure(&key, generation, |context| sentinel.run(context)).await;
        }
        Applied::Running {
            health: sentinels.health(&key).unwrap_or(TaskHealth::Starting),
            progress: sentinels.progress(&key).unwrap_or_default(),
            shard,
        }
    }

    async fn build_sentinel(
        &self,
        namespace: &str,
        spec: &SentinelConfigSpec,
        settings: SentinelSettings,
    ) -> Result<Sentinel, ResolveError> {
        let api = api_client(&spec.hyperfleet_api, namespace, self.secrets.as_ref()).await?;
        let broker = self.brokers.get(&spec.broker, namespace, self.secrets.as_ref()).await?;
        Ok(Sentinel::new(settings, api, broker).with_metrics(self.sentinel_metrics.clone()))
    }

    /// Stops the Sentinel task of `namespace/name` (its config was deleted). Returns whether one ran.
    pub async fn remove_sentinel(&self, namespace: &str, name: &str) -> bool {
        self.sentinels.lock().await.stop(&format!("{namespace}/{name}")).await
    }

    /// The generation the Sentinel task of `namespace/name` runs at.
    pub async fn sentinel_generation(&self, namespace: &str, name: &str) -> Option<i64> {
        self.sentinels.lock().await.generation(&format!("{namespace}/{name}"))
    }

    /// Keys of the running Sentinel tasks.
    pub async fn sentinel_keys(&self) -> Vec<String> {
        self.sentinels.lock().await.keys().cloned().collect()
    }

    /// Stops every task (leadership lost, or shutdown); the brokers stay connected.
    pub async fn stop_all(&self) {
        self.sentinels.lock().await.shutdown_all().await;
    }

    /// Stops every task and closes the brokers (shutdown).
    pub async fn shutdown(&self) {
        self.stop_all().await;
        self.brokers.close_all().await;
    }
}
