//! The per-resource work of the controller manager, shared by `run` (fed by the Kubernetes
//! controllers) and `local` (fed by YAML files): validate a config, resolve its references,
//! make sure its task runs at the config's generation, and say how it is doing. The callers
//! turn the answer into a status (patched or logged).

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::{Mutex, mpsc};

use hyperfleet_crds::v1alpha1::{AdapterConfigSpec, HyperfleetApi, SentinelConfigSpec};

use crate::{
    adapter::{Adapter, AdapterPlan, AdapterProgress, AdapterRunner, Transports, metrics::AdapterMetrics},
    metrics::OperatorMetrics,
    resolve::{BrokerPool, ResolveError, SecretSource, api_client},
    sentinel::{Sentinel, SentinelProgress, SentinelSettings, metrics::SentinelMetrics, query::shard_search},
    tasks::{TaskContext, TaskHealth, TaskKey, TaskRegistry},
};

/// How long a stopping task gets before it is aborted.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a config stands after [`Workloads::apply_sentinel`] or [`Workloads::apply_adapter`].
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

/// What the tasks are built from.
#[derive(Debug)]
pub struct Resources {
    /// Where Secret references are read.
    pub secrets: Arc<dyn SecretSource>,
    /// Connected brokers (shared with readiness).
    pub brokers: Arc<BrokerPool>,
    /// Where adapters' objects go.
    pub transports: Transports,
    /// Sentinel series.
    pub sentinel_metrics: SentinelMetrics,
    /// Adapter series.
    pub adapter_metrics: AdapterMetrics,
    /// The API URL every CR's `hyperfleetAPI.url` gives way to (running outside the cluster
    /// against CRs that name in-cluster URLs).
    pub api_url: Option<String>,
}

impl Resources {
    /// Inputs resolving Secrets with `secrets`, delivering adapters' objects through
    /// `transports`, recording into `metrics`.
    pub fn new(metrics: &OperatorMetrics, secrets: Arc<dyn SecretSource>, transports: Transports) -> Self {
        Self {
            secrets,
            brokers: Arc::new(BrokerPool::new(metrics.broker.clone())),
            transports,
            sentinel_metrics: metrics.sentinel.clone(),
            adapter_metrics: metrics.adapter.clone(),
            api_url: None,
        }
    }

    /// The same inputs with every CR's API URL replaced by `url` (when given).
    pub fn with_api_url(mut self, url: Option<String>) -> Self {
        self.api_url = url;
        self
    }

    /// A CR's API settings, with the URL override applied.
    fn api<'a>(&self, api: &'a HyperfleetApi) -> std::borrow::Cow<'a, HyperfleetApi> {
        match &self.api_url {
            Some(url) => std::borrow::Cow::Owned(HyperfleetApi { url: url.clone(), ..api.clone() }),
            None => std::borrow::Cow::Borrowed(api),
        }
    }
}

/// The keys (`<namespace>/<name>`) of tasks whose health changed or that ended, per kind.
#[derive(Debug)]
pub struct Changes {
    /// Sentinel tasks.
    pub sentinels: mpsc::UnboundedReceiver<TaskKey>,
    /// Adapter tasks.
    pub adapters: mpsc::UnboundedReceiver<TaskKey>,
}

/// Tasks by config key (`<namespace>/<name>`), and what they need to start.
#[derive(Debug)]
pub struct Workloads {
    resources: Resources,
    sentinels: Mutex<TaskRegistry<TaskKey, SentinelProgress>>,
    adapters: Mutex<TaskRegistry<TaskKey, AdapterProgress>>,
}

impl Workloads {
    /// Workloads built from `resources`, and the channels announcing task changes.
    pub fn new(resources: Resources) -> (Self, Changes) {
        let (sentinels_tx, sentinels) = mpsc::unbounded_channel();
        let (adapters_tx, adapters) = mpsc::unbounded_channel();
        let workloads = Self {
            resources,
            sentinels: Mutex::new(TaskRegistry::new(STOP_TIMEOUT).with_changes(sentinels_tx)),
            adapters: Mutex::new(TaskRegistry::new(STOP_TIMEOUT).with_changes(adapters_tx)),
        };
        (workloads, Changes { sentinels, adapters })
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
        let key = TaskKey::new(namespace, name);
        // For the status only; an invalid selector is reported by `from_spec` below.
        let shard = shard_search(&spec.shard_selector).ok().flatten().map(|expr| expr.to_string());
        let compile = || SentinelSettings::from_spec(&key, spec);
        let build = |settings| self.build_sentinel(namespace, spec, settings);
        ensure(&self.sentinels, &key, generation, compile, build, Sentinel::run, shard).await
    }

    async fn build_sentinel(
        &self,
        namespace: &str,
        spec: &SentinelConfigSpec,
        settings: SentinelSettings,
    ) -> Result<Sentinel, ResolveError> {
        let secrets = self.resources.secrets.as_ref();
        let api = api_client(&self.resources.api(&spec.hyperfleet_api), namespace, secrets).await?;
        let broker = self.resources.brokers.get(&spec.broker, namespace, secrets).await?;
        Ok(Sentinel::new(settings, api, broker).with_metrics(self.resources.sentinel_metrics.clone()))
    }

    /// Makes the adapter task of `namespace/name` run `spec` at `generation`, or stops it when
    /// the spec is invalid or cannot be resolved.
    pub async fn apply_adapter(
        &self,
        namespace: &str,
        name: &str,
        generation: i64,
        spec: &AdapterConfigSpec,
    ) -> Applied<AdapterProgress> {
        let key = TaskKey::new(namespace, name);
        let compile = || AdapterPlan::compile(spec);
        let build = |plan| self.build_adapter(namespace, spec, plan);
        ensure(&self.adapters, &key, generation, compile, build, AdapterRunner::run, None).await
    }

    async fn build_adapter(
        &self,
        namespace: &str,
        spec: &AdapterConfigSpec,
        plan: AdapterPlan,
    ) -> Result<AdapterRunner, ResolveError> {
        let secrets = self.resources.secrets.as_ref();
        let settings = self.resources.api(&spec.hyperfleet_api);
        let api = api_client(&settings, namespace, secrets).await?;
        let broker = self.resources.brokers.get(&spec.broker, namespace, secrets).await?;
        let mut transports = self.resources.transports.clone();
        // `local` mode and `adapter test` bring a simulated Maestro; `run` connects to the real one.
        if let (Some(server), None) = (&spec.maestro, &transports.maestro) {
            let maestro = crate::adapter::transport::maestro::connect(server, namespace, secrets).await?;
            let labels = crate::adapter::metrics::AdapterLabels {
                adapter: spec.adapter_type.clone(),
                resource_type: spec.resource_type.as_str(),
            };
            transports.maestro =
                Some(Arc::new(maestro.with_metrics(self.resources.adapter_metrics.clone(), labels)));
        }
        let adapter = Adapter::new(plan, Arc::new(api), transports, settings.url.clone());
        Ok(AdapterRunner::new(adapter, broker, self.resources.adapter_metrics.clone()))
    }

    /// Stops the Sentinel task of `namespace/name`. Returns whether one ran.
    pub async fn remove_sentinel(&self, namespace: &str, name: &str) -> bool {
        self.sentinels.lock().await.stop(&TaskKey::new(namespace, name)).await
    }

    /// Stops the adapter task of `namespace/name`. Returns whether one ran.
    pub async fn remove_adapter(&self, namespace: &str, name: &str) -> bool {
        self.adapters.lock().await.stop(&TaskKey::new(namespace, name)).await
    }

    /// The generation the Sentinel task of `namespace/name` runs at.
    pub async fn sentinel_generation(&self, namespace: &str, name: &str) -> Option<i64> {
        self.sentinels.lock().await.generation(&TaskKey::new(namespace, name))
    }

    /// Keys of the running Sentinel tasks.
    pub async fn sentinel_keys(&self) -> Vec<TaskKey> {
        self.sentinels.lock().await.keys().cloned().collect()
    }

    /// Keys of the running adapter tasks.
    pub async fn adapter_keys(&self) -> Vec<TaskKey> {
        self.adapters.lock().await.keys().cloned().collect()
    }

    /// The connected brokers, for readiness.
    pub fn brokers(&self) -> Arc<BrokerPool> {
        self.resources.brokers.clone()
    }

    /// Stops every task (leadership lost, or shutdown); the brokers stay connected.
    pub async fn stop_all(&self) {
        // Sentinels first: no new events while the adapters drain.
        self.sentinels.lock().await.shutdown_all().await;
        self.adapters.lock().await.shutdown_all().await;
    }

    /// Stops every task and closes the brokers (shutdown).
    pub async fn shutdown(&self) {
        self.stop_all().await;
        self.resources.brokers.close_all().await;
    }
}

/// Makes the task of `key` run at `generation`. Only when none does (a new config, a spec
/// change, a task that ended) is the spec compiled (CEL, templates: an invalid one stops any
/// task and is reported), then resolved by `build` (Secrets, the broker connection) and `run`.
/// A reconcile of an unchanged, running config does neither.
async fn ensure<P, C, T, B, Fut>(
    registry: &Mutex<TaskRegistry<TaskKey, P>>,
    key: &TaskKey,
    generation: i64,
    compile: impl FnOnce() -> Result<C, Vec<String>>,
    build: impl FnOnce(C) -> B,
    run: impl FnOnce(T, TaskContext<P>) -> Fut,
    shard: Option<String>,
) -> Applied<P>
where
    P: Clone + Default + Send + Sync + 'static,
    B: Future<Output = Result<T, ResolveError>>,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = registry.lock().await;
    if tasks.needs_start(key, generation) {
        let compiled = match compile() {
            Ok(compiled) => compiled,
            Err(errors) => {
                tasks.stop(key).await;
                return Applied::Invalid(errors);
            }
        };
        let task = match build(compiled).await {
            Ok(task) => task,
            Err(err) => {
                tasks.stop(key).await;
                return Applied::Unresolved(err);
            }
        };
        tasks.ensure(key, generation, |context| run(task, context)).await;
    }
    let health = tasks.health(key).unwrap_or(TaskHealth::Starting);
    Applied::Running { health, progress: tasks.progress(key).unwrap_or_default(), shard }
}
