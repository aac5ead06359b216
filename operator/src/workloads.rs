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
    /// Another replica holds the CR's Lease and runs its task; none runs here.
    Elsewhere,
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
    /// Where the controllers hear of a change (the registries announce theirs on the same).
    announce: (mpsc::UnboundedSender<TaskKey>, mpsc::UnboundedSender<TaskKey>),
}

impl Workloads {
    /// Workloads built from `resources`, and the channels announcing task changes.
    pub fn new(resources: Resources) -> (Self, Changes) {
        let (sentinels_tx, sentinels) = mpsc::unbounded_channel();
        let (adapters_tx, adapters) = mpsc::unbounded_channel();
        let workloads = Self {
            resources,
            sentinels: Mutex::new(TaskRegistry::new(STOP_TIMEOUT).with_changes(sentinels_tx.clone())),
            adapters: Mutex::new(TaskRegistry::new(STOP_TIMEOUT).with_changes(adapters_tx.clone())),
            announce: (sentinels_tx, adapters_tx),
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
        self.apply_sentinel_if(namespace, name, generation, spec, &|| true).await
    }

    /// As [`Workloads::apply_sentinel`], only while `permit` says this replica holds the CR's
    /// Lease (asked under the registry's lock, which a lost Lease's stop also takes, so a task
    /// never starts after its Lease was lost).
    pub async fn apply_sentinel_if(
        &self,
        namespace: &str,
        name: &str,
        generation: i64,
        spec: &SentinelConfigSpec,
        permit: &(dyn Fn() -> bool + Sync),
    ) -> Applied<SentinelProgress> {
        let key = TaskKey::new(namespace, name);
        // For the status only; an invalid selector is reported by `from_spec` below.
        let shard = shard_search(&spec.shard_selector).ok().flatten().map(|expr| expr.to_string());
        let compile = || SentinelSettings::from_spec(&key, spec);
        let build = |settings| self.build_sentinel(namespace, spec, settings);
        let task = Start { compile, build, run: Sentinel::run };
        ensure(&self.sentinels, &key, generation, task, shard, permit).await
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
        let task = Start { compile, build, run: AdapterRunner::run };
        ensure(&self.adapters, &key, generation, task, None, &|| true).await
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
        let stopping = self.sentinels.lock().await.take(&TaskKey::new(namespace, name));
        let ran = stopping.is_some();
        drop_task(stopping).await;
        ran
    }

    /// Stops the adapter task of `namespace/name`. Returns whether one ran.
    pub async fn remove_adapter(&self, namespace: &str, name: &str) -> bool {
        let stopping = self.adapters.lock().await.take(&TaskKey::new(namespace, name));
        let ran = stopping.is_some();
        drop_task(stopping).await;
        ran
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

    /// Deletes the subscription `spec` consumes and its dead letters from the broker (the
    /// AdapterConfig is being deleted with `deletionPolicy: Delete`; its task has stopped).
    pub async fn remove_subscription(
        &self,
        namespace: &str,
        spec: &AdapterConfigSpec,
    ) -> Result<(), ResolveError> {
        let broker =
            self.resources.brokers.get(&spec.broker, namespace, self.resources.secrets.as_ref()).await?;
        let subscription = crate::resolve::subscription(spec);
        broker
            .remove(&subscription)
            .await
            .map_err(|source| ResolveError::Broker { broker: broker.kind(), source })
    }

    /// Every adapter task's key, health and progress (the figures a member Lease carries).
    pub async fn adapter_figures(&self) -> Vec<(TaskKey, TaskHealth, AdapterProgress)> {
        let tasks = self.adapters.lock().await;
        tasks
            .keys()
            .map(|key| {
                let health = tasks.health(key).unwrap_or(TaskHealth::Starting);
                (key.clone(), health, tasks.progress(key).unwrap_or_default())
            })
            .collect()
    }

    /// Has the controller of `role` reconcile `key` (its Lease was won or lost).
    pub fn announce(&self, role: crate::leader::Role, key: &TaskKey) {
        let to = match role {
            crate::leader::Role::SentinelConfig => &self.announce.0,
            crate::leader::Role::AdapterConfig => &self.announce.1,
        };
        // A closed channel means the controllers are gone; nobody is left to tell.
        let _ = to.send(key.clone());
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

/// How a task is started: its spec compiled, its references resolved, and run.
struct Start<Compile, Build, Run> {
    compile: Compile,
    build: Build,
    run: Run,
}

/// Makes the task of `key` run at `generation` while `permit` allows it (asked under the
/// registry's lock, before anything starts). Only when none runs (a new config, a spec change,
/// a task that ended) is the spec compiled (CEL, templates: an invalid one stops any task and
/// is reported), then resolved (Secrets, the broker connection) and run. The registry is never
/// locked across that I/O or while an old task drains, so one slow task delays no other.
async fn ensure<P, C, T, B, Fut>(
    registry: &Mutex<TaskRegistry<TaskKey, P>>,
    key: &TaskKey,
    generation: i64,
    start: Start<
        impl FnOnce() -> Result<C, Vec<String>>,
        impl FnOnce(C) -> B,
        impl FnOnce(T, TaskContext<P>) -> Fut,
    >,
    shard: Option<String>,
    permit: &(dyn Fn() -> bool + Sync),
) -> Applied<P>
where
    P: Clone + Default + Send + Sync + 'static,
    B: Future<Output = Result<T, ResolveError>>,
    Fut: Future<Output = ()> + Send + 'static,
{
    let old = {
        let mut tasks = registry.lock().await;
        if !permit() {
            drop_task(tasks.take(key)).await;
            return Applied::Elsewhere;
        }
        if !tasks.needs_start(key, generation) {
            return running(&tasks, key, shard);
        }
        tasks.take(key)
    };
    // The old generation's task ends before the new one starts (never two at once).
    drop_task(old).await;
    let task = match (start.compile)() {
        Ok(compiled) => (start.build)(compiled).await.map_err(Applied::Unresolved),
        Err(errors) => Err(Applied::Invalid(errors)),
    };
    let mut tasks = registry.lock().await;
    let stopped = match task {
        Ok(_) if !permit() => Err(Applied::Elsewhere),
        Ok(task) => {
            // A concurrent start of the same generation won: ours is dropped unstarted.
            if tasks.needs_start(key, generation) {
                tasks.ensure(key, generation, |context| (start.run)(task, context)).await;
            }
            Ok(())
        }
        Err(applied) => Err(applied),
    };
    match stopped {
        Ok(()) => running(&tasks, key, shard),
        Err(applied) => {
            let stopping = tasks.take(key);
            drop(tasks);
            drop_task(stopping).await;
            applied
        }
    }
}

async fn drop_task(stopping: Option<crate::tasks::Stopping<TaskKey>>) {
    if let Some(stopping) = stopping {
        stopping.join().await;
    }
}

fn running<P: Clone + Default + Send + Sync + 'static>(
    tasks: &TaskRegistry<TaskKey, P>,
    key: &TaskKey,
    shard: Option<String>,
) -> Applied<P> {
    let health = tasks.health(key).unwrap_or(TaskHealth::Starting);
    Applied::Running { health, progress: tasks.progress(key).unwrap_or_default(), shard }
}
