//! `hyperfleet-operator local`: the same workloads as `run`, fed from YAML files instead of the
//! Kubernetes API. The directory is re-read every reload interval: a new file starts a task, a
//! changed spec restarts it, a removed file stops it. Status is logged (one line per change)
//! instead of patched. Secret references read environment variables (see [`EnvSecrets`]).

use std::{
    collections::{HashMap, hash_map::DefaultHasher},
    hash::{Hash as _, Hasher as _},
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
};

use tokio_util::sync::CancellationToken;

use hyperfleet_crds::v1alpha1::{SentinelConfig, SentinelConfigStatus};

use crate::{
    admin::{self, AdminState},
    cli::LocalArgs,
    controller::{now, sentinel::sentinel_status},
    metrics::OperatorMetrics,
    resolve::{BrokerPool, EnvSecrets},
    workloads::Workloads,
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

/// One SentinelConfig document found in the directory.
#[derive(Debug)]
pub struct Found {
    /// The file it came from.
    pub path: PathBuf,
    /// `<namespace>/<name>`.
    pub key: String,
    /// The parsed config, or why it does not parse.
    pub config: Result<SentinelConfig, String>,
}

/// Runs until SIGTERM/Ctrl-C.
pub async fn local(args: LocalArgs) -> Result<(), LocalError> {
    load_dir(&args.config_dir)
        .map_err(|source| LocalError::ConfigDir { path: args.config_dir.clone(), source })?;
    let metrics = Arc::new(OperatorMetrics::new());
    let (workloads, mut changes) = Workloads::new(
        Arc::new(EnvSecrets),
        BrokerPool::new(metrics.broker.clone()),
        metrics.sentinel.clone(),
    );
    let shutdown = CancellationToken::new();
    let listener = admin::bind(args.admin_addr).await.map_err(LocalError::Admin)?;
    let admin_state = AdminState { metrics, ready: Arc::new(AtomicBool::new(true)) };
    let admin = async {
        let result = admin::serve(listener, admin_state, shutdown.clone()).await;
        shutdown.cancel();
        result
    };
    let reconciler = async {
        let mut statuses: HashMap<String, SentinelConfigStatus> = HashMap::new();
        tracing::info!(dir = %args.config_dir.display(), "local mode: running the configs found there");
        loop {
            reconcile_dir(&args.config_dir, &workloads, &mut statuses).await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = hyperfleet_telemetry::shutdown_signal() => break,
                () = tokio::time::sleep(args.reload_interval) => {}
                // A task's health changed: show it now.
                Some(_) = changes.recv() => {}
            }
        }
        tracing::info!("shutting down: stopping every task");
        shutdown.cancel();
        workloads.shutdown().await;
    };
    let (admin, ()) = tokio::join!(admin, reconciler);
    admin.map_err(LocalError::Admin)
}

/// One pass over the directory: apply every config, stop the tasks of vanished ones, log
/// status changes.
async fn reconcile_dir(
    dir: &Path,
    workloads: &Workloads,
    statuses: &mut HashMap<String, SentinelConfigStatus>,
) {
    let found = match load_dir(dir) {
        Ok(found) => found,
        Err(err) => {
            tracing::error!(dir = %dir.display(), error = %err, "cannot read the config directory; keeping the running tasks");
            return;
        }
    };
    for key in workloads.sentinel_keys().await {
        if !found.iter().any(|f| f.key == key) {
            let (namespace, name) = key.split_once('/').unwrap_or((DEFAULT_NAMESPACE, &key));
            workloads.remove_sentinel(namespace, name).await;
            statuses.remove(&key);
            tracing::info!(config = %key, "SentinelConfig removed; its Sentinel stopped");
        }
    }
    for Found { path, key, config } in found {
        let (namespace, name) = key.split_once('/').unwrap_or((DEFAULT_NAMESPACE, &key));
        let (generation, applied) = match &config {
            Ok(config) => {
                let generation = fingerprint(&config.spec);
                (generation, workloads.apply_sentinel(namespace, name, generation, &config.spec).await)
            }
            Err(message) => {
                workloads.remove_sentinel(namespace, name).await;
                (0, crate::workloads::Applied::Invalid(vec![format!("{}: {message}", path.display())]))
            }
        };
        let previous = statuses.remove(&key).unwrap_or_default();
        let status = sentinel_status(&applied, Some(generation), &previous, &now());
        if summary(&status) != summary(&previous) {
            log_status(&key, &status);
        }
        statuses.insert(key, status);
    }
}

/// The parts of a status worth a log line when they change (not the poll time).
fn summary(status: &SentinelConfigStatus) -> impl PartialEq + use<> {
    let conditions: Vec<(String, String, String)> =
        status.conditions.iter().map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone())).collect();
    (conditions, status.resources_pending, status.events_published, status.last_error.clone())
}

fn log_status(key: &str, status: &SentinelConfigStatus) {
    let ready = status.conditions.iter().find(|c| c.type_ == hyperfleet_crds::conditions::READY);
    let (state, reason, message) =
        ready.map_or(("Unknown", "", ""), |c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()));
    tracing::info!(
        config = %key,
        ready = state,
        reason,
        detail = message,
        shard = status.shard.as_deref().unwrap_or(""),
        pending = status.resources_pending.unwrap_or(0),
        published = status.events_published.unwrap_or(0),
        "SentinelConfig status"
    );
}

/// A spec's stand-in for `metadata.generation`: changes exactly when the spec does.
fn fingerprint(spec: &impl serde::Serialize) -> i64 {
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(spec).unwrap_or_default().hash(&mut hasher);
    i64::from_ne_bytes(hasher.finish().to_ne_bytes()) & i64::MAX
}

/// Every SentinelConfig document under `dir` (recursively, `.yaml`/`.yml`, multi-document).
/// Unparseable files and documents are reported as such, never skipped silently.
pub fn load_dir(dir: &Path) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    for path in yaml_files(dir)? {
        let text = std::fs::read_to_string(&path)?;
        let documents: Vec<serde_json::Value> = match serde_saphyr::from_multiple(&text) {
            Ok(documents) => documents,
            Err(err) => {
                tracing::warn!(file = %path.display(), error = %err, "not valid YAML; skipped");
                continue;
            }
        };
        for (index, document) in documents.into_iter().enumerate() {
            if document.get("kind").and_then(|k| k.as_str()) != Some("SentinelConfig") {
                continue;
            }
            let name = document.pointer("/metadata/name").and_then(|n| n.as_str()).map(str::to_owned);
            let namespace =
                document.pointer("/metadata/namespace").and_then(|n| n.as_str()).unwrap_or(DEFAULT_NAMESPACE);
            let name = name.unwrap_or_else(|| {
                format!("{}-{index}", path.file_stem().unwrap_or_default().to_string_lossy())
            });
            let key = format!("{namespace}/{name}");
            let config = serde_json::from_value::<SentinelConfig>(document).map_err(|err| err.to_string());
            found.push(Found { path: path.clone(), key, config });
        }
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
