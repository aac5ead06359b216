//! `hyperfleet-operator local`: the same workloads as `run`, fed from YAML files instead of the
//! Kubernetes API, with every adapter object going to the dry-run transport (simulated Jobs).
//! The directory is re-read every reload interval: a new document starts a task, a changed spec
//! restarts it, a removed one stops it. Status is logged (one line per change) instead of
//! patched. Secret references read environment variables (see [`EnvSecrets`]). Every other
//! Kubernetes object in the directory (an inventory ConfigMap, a Secret an adapter copies) is
//! applied to the simulated cluster, where adapters' `lookups` find it.

use std::{
    collections::{HashMap, hash_map::DefaultHasher},
    hash::{Hash as _, Hasher as _},
    path::{Path, PathBuf},
    sync::Arc,
};

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use hyperfleet_crds::v1alpha1::{AdapterConfig, SentinelConfig};

use crate::{
    adapter::{
        Transports,
        transport::dry_run::{DryRun, JobOutcome},
    },
    admin::{self, AdminState},
    cli::LocalArgs,
    controller::{driver::Managed, now},
    metrics::OperatorMetrics,
    resolve::EnvSecrets,
    tasks::TaskKey,
    workloads::{Applied, Changes, Resources, Workloads},
};

/// Namespace of configs whose YAML names none.
const DEFAULT_NAMESPACE: &str = "local";

/// Why `local` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The config directory cannot be read.
    #[error("cannot read the config directory {path}")]
    ConfigDir {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The admin server failed.
    #[error("admin server failed")]
    Admin(#[source] std::io::Error),
}

/// One SentinelConfig or AdapterConfig document found in the directory.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file it came from.
    pub path: PathBuf,
    /// Its `kind`.
    pub kind: String,
    /// `<namespace>/<name>`.
    pub key: TaskKey,
    /// The document.
    pub value: Value,
}

/// What a directory holds.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// SentinelConfigs and AdapterConfigs.
    pub configs: Vec<Document>,
    /// Every other Kubernetes object (with `apiVersion`, `kind` and `metadata.name`).
    pub objects: Vec<Value>,
}

/// Statuses last logged, by kind and key.
type Shown = HashMap<(&'static str, TaskKey), Value>;

/// Changes applied to every document before it runs.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces every `broker` (its `topic` and `subscription` are kept), e.g.
    /// `{"type": "memory"}`.
    pub broker: Option<Value>,
}

impl Overrides {
    fn apply(&self, document: &mut Value) {
        let spec = &mut document["spec"];
        if let Some(broker) = &self.broker {
            let mut replaced = broker.clone();
            for kept in ["topic", "subscription"] {
                if let Some(value) = spec["broker"].get(kept) {
                    replaced[kept] = value.clone();
                }
            }
            spec["broker"] = replaced;
        }
    }
}

/// Runs until SIGTERM/Ctrl-C.
pub async fn local(args: LocalArgs) -> Result<(), LocalError> {
    for dir in &args.config_dir {
        load_dir(dir).map_err(|source| LocalError::ConfigDir { path: dir.clone(), source })?;
    }
    let metrics = Arc::new(OperatorMetrics::new());
    let dry_run = Arc::new(DryRun::new(args.job_duration, JobOutcome::Succeed));
    let transports =
        Transports { kubernetes: dry_run.clone(), dry_run: dry_run.clone(), maestro: Some(dry_run.clone()) };
    let resources =
        Resources::new(&metrics, Arc::new(EnvSecrets), transports).with_api_url(args.api_url.clone());
    let (workloads, mut changes) = Workloads::new(resources);
    let shutdown = CancellationToken::new();
    let listener = admin::bind(args.admin_addr).await.map_err(LocalError::Admin)?;
    // No start-up to wait for and nothing watched: ready at once.
    let readiness = Arc::new(admin::Readiness::default());
    readiness.started();
    let admin_state = AdminState { metrics, readiness, brokers: workloads.brokers() };
    let admin = async {
        let result = admin::serve(listener, admin_state, shutdown.clone()).await;
        shutdown.cancel();
        result
    };
    let overrides = Overrides { broker: args.memory_broker.then(|| serde_json::json!({"type": "memory"})) };
    let reconciler = async {
        let dirs: Vec<String> = args.config_dir.iter().map(|d| d.display().to_string()).collect();
        tracing::info!(dirs = %dirs.join(","), "local mode: running the configs found there (adapters use the dry-run transport)");
        let signal = async {
            hyperfleet_telemetry::shutdown_signal().await;
            shutdown.cancel();
        };
        let run = run_configs(
            &args.config_dir,
            &overrides,
            &dry_run,
            &workloads,
            &mut changes,
            args.reload_interval,
            &shutdown,
        );
        tokio::select! { () = run => {}, () = signal => {} }
        tracing::info!("shutting down: stopping every task");
        shutdown.cancel();
        workloads.shutdown().await;
    };
    let (admin, ()) = tokio::join!(admin, reconciler);
    admin.map_err(LocalError::Admin)
}

/// Keeps the tasks in line with the documents in `dirs` (re-read every `reload`) until
/// `shutdown`, logging status changes, and applies the other objects there to `cluster`. The
/// caller stops the tasks afterwards.
pub async fn run_configs(
    dirs: &[PathBuf],
    overrides: &Overrides,
    cluster: &DryRun,
    workloads: &Workloads,
    changes: &mut Changes,
    reload: std::time::Duration,
    shutdown: &CancellationToken,
) {
    let mut shown = Shown::new();
    let started = std::time::Instant::now();
    let mut sentinels_started = false;
    loop {
        let mut documents = Vec::new();
        let mut readable = true;
        for dir in dirs {
            match load_dir(dir) {
                Ok(found) => {
                    documents.extend(found.configs);
                    seed(cluster, &found.objects);
                }
                Err(err) => {
                    tracing::error!(dir = %dir.display(), error = %err, "cannot read a config directory; keeping the running tasks");
                    readable = false;
                }
            }
        }
        if readable {
            documents.iter_mut().for_each(|document| overrides.apply(&mut document.value));
            // Adapters first, and the Sentinels once every adapter has subscribed (or failed
            // to): an event published before an adapter's queue exists never reaches it, and
            // only a not-ready repeat, 16 backoffs later, would make up for it.
            let adapters_started = reconcile_kind::<AdapterConfig>(&documents, workloads, &mut shown).await;
            if adapters_started || sentinels_started || started.elapsed() > ADAPTERS_START_WAIT {
                reconcile_kind::<SentinelConfig>(&documents, workloads, &mut shown).await;
                sentinels_started = true;
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(reload) => {}
            // A task's health changed: show it now.
            Some(_) = changes.sentinels.recv() => {}
            Some(_) = changes.adapters.recv() => {}
        }
    }
}

/// How long the Sentinels wait at start for the adapters to subscribe.
const ADAPTERS_START_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Applies every document of kind `K`, stops the tasks of vanished ones, logs status changes;
/// whether every task is past starting.
async fn reconcile_kind<K: Managed>(
    documents: &[Document],
    workloads: &Workloads,
    shown: &mut Shown,
) -> bool {
    let mut all_started = true;
    let documents: Vec<&Document> = documents.iter().filter(|d| d.kind == K::KIND).collect();
    let vanished: Vec<TaskKey> = shown
        .keys()
        .filter(|(kind, key)| *kind == K::KIND && !documents.iter().any(|d| &d.key == key))
        .map(|(_, key)| key.clone())
        .collect();
    for key in vanished {
        K::remove(workloads, &key.namespace, &key.name).await;
        shown.remove(&(K::KIND, key.clone()));
        tracing::info!(kind = K::KIND, config = %key, "removed; its task stopped");
    }
    for document in documents {
        let TaskKey { namespace, name } = &document.key;
        let generation = fingerprint(&document.value["spec"]);
        let mut value = document.value.clone();
        value["metadata"]["generation"] = generation.into();
        let applied = match serde_json::from_value::<K>(value) {
            Ok(config) => config.apply(workloads, namespace, name, &|| true).await,
            Err(err) => {
                K::remove(workloads, namespace, name).await;
                Applied::Invalid(vec![format!("{}: not a valid {}: {err}", document.path.display(), K::KIND)])
            }
        };
        let others = crate::controller::driver::Replicas::default();
        let status = K::status(&applied, Some(generation), &K::Status::default(), &now(), &others);
        let status = match serde_json::to_value(&status) {
            Ok(status) => status,
            Err(err) => {
                tracing::warn!(kind = K::KIND, config = %document.key, error = %err, "status not shown");
                continue;
            }
        };
        all_started &= !is_starting(&status);
        let summary = summary(&status);
        if shown.get(&(K::KIND, document.key.clone())) != Some(&summary) {
            log_status(K::KIND, &document.key, &status);
            shown.insert((K::KIND, document.key.clone()), summary);
        }
    }
    all_started
}

/// Whether a status says its task is still starting (`Ready` False, reason `Starting`).
fn is_starting(status: &Value) -> bool {
    status["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["reason"] == "Starting")
}

/// A status without its timestamps: what is worth a log line when it changes.
fn summary(status: &Value) -> Value {
    let mut summary = status.clone();
    if let Some(fields) = summary.as_object_mut() {
        fields.retain(|name, _| !name.ends_with("Time"));
    }
    for condition in summary["conditions"].as_array_mut().into_iter().flatten() {
        if let Some(fields) = condition.as_object_mut() {
            fields.remove("lastTransitionTime");
        }
    }
    summary
}

fn log_status(kind: &str, key: &TaskKey, status: &Value) {
    let ready = status["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    let text = |field: &str| ready[field].as_str().unwrap_or_default().to_owned();
    let mut figures = status.clone();
    if let Some(fields) = figures.as_object_mut() {
        fields.retain(|name, _| !matches!(name.as_str(), "conditions" | "observedGeneration"));
    }
    tracing::info!(kind, config = %key, ready = %text("status"), reason = %text("reason"), detail = %text("message"), figures = %figures, "status");
}

/// A spec's stand-in for `metadata.generation`: changes exactly when the spec does.
fn fingerprint(spec: &Value) -> i64 {
    let mut hasher = DefaultHasher::new();
    spec.to_string().hash(&mut hasher);
    i64::from_ne_bytes(hasher.finish().to_ne_bytes()) & i64::MAX
}

/// Applies `objects` to the simulated cluster (as `kubectl apply` would: changed ones are
/// replaced, removed ones stay).
fn seed(cluster: &DryRun, objects: &[Value]) {
    for object in objects {
        if let Err(err) = cluster.seed(object) {
            let name = object.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
            tracing::warn!(kind = %object["kind"], name, error = %err, "object not applied");
        }
    }
}

/// Every document under `dir` (recursively, `.yaml`/`.yml`, multi-document): the
/// SentinelConfigs and AdapterConfigs, and the other Kubernetes objects. Files that are not
/// YAML are reported, never skipped silently.
pub fn load_dir(dir: &Path) -> std::io::Result<Loaded> {
    let mut found = Loaded::default();
    for path in yaml_files(dir)? {
        let loaded = match load_file(&path) {
            Ok(loaded) => loaded,
            Err(LoadFileError::Read(err)) => return Err(err),
            Err(err @ LoadFileError::Yaml(_)) => {
                tracing::warn!(file = %path.display(), error = %err, "skipped");
                continue;
            }
        };
        found.configs.extend(loaded.configs);
        found.objects.extend(loaded.objects);
    }
    Ok(found)
}

/// Why a file's documents could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadFileError {
    /// It cannot be read.
    #[error("cannot read it")]
    Read(#[source] std::io::Error),
    /// It is not YAML.
    #[error("not valid YAML: {0}")]
    Yaml(String),
}

/// The documents of one YAML file (multi-document).
pub fn load_file(path: &Path) -> Result<Loaded, LoadFileError> {
    let mut found = Loaded::default();
    let text = std::fs::read_to_string(path).map_err(LoadFileError::Read)?;
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(&text).map_err(|err| LoadFileError::Yaml(err.to_string()))?;
    for (index, value) in documents.into_iter().enumerate() {
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        if kind != SentinelConfig::KIND && kind != AdapterConfig::KIND {
            if value["apiVersion"].is_string()
                && value.pointer("/metadata/name").is_some_and(Value::is_string)
            {
                found.objects.push(value);
            }
            continue;
        }
        let namespace =
            value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(DEFAULT_NAMESPACE);
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("{stem}-{index}"), str::to_owned);
        found.configs.push(Document {
            path: path.to_path_buf(),
            kind,
            key: TaskKey::new(namespace, name),
            value,
        });
    }
    Ok(found)
}

fn yaml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}
