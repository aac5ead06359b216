//! How an adapter's objects reach a cluster. One trait, three transports: [`kubernetes`] (the
//! operator's cluster, server-side apply), [`maestro`] (ManifestWorks to managed clusters) and
//! [`dry_run`] (records manifests and simulates their status, for `local` mode and
//! `adapter test`).

pub mod dry_run;
pub mod kubernetes;
pub mod maestro;
pub mod simulated;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

/// Which object(s) an operation is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// `apiVersion`, e.g. `batch/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Job`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// By name, or by labels (the object with the highest generation label wins).
    pub select: Select,
}

/// How [`Target`] picks its object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Select {
    /// Exactly this name.
    Name(String),
    /// Every object carrying these labels.
    Labels(BTreeMap<String, String>),
}

impl Target {
    /// The target naming a manifest's own object.
    pub fn of(manifest: &Value) -> Result<Self, TransportError> {
        let field = |path: &str| manifest.pointer(path).and_then(Value::as_str).map(str::to_owned);
        let missing = |what: &str| TransportError::Manifest(format!("the manifest has no {what}"));
        Ok(Self {
            api_version: field("/apiVersion").ok_or_else(|| missing("apiVersion"))?,
            kind: field("/kind").ok_or_else(|| missing("kind"))?,
            namespace: field("/metadata/namespace"),
            select: Select::Name(field("/metadata/name").ok_or_else(|| missing("metadata.name"))?),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let namespace = self.namespace.as_deref().map(|ns| format!("{ns}/")).unwrap_or_default();
        match &self.select {
            Select::Name(name) => write!(f, "{} {namespace}{name}", self.kind),
            Select::Labels(labels) => write!(f, "{} {namespace}{labels:?}", self.kind),
        }
    }
}

/// A transport failure: transient ones are retried (the event is redelivered), terminal ones are
/// reported (Health=False) and the event acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The Kubernetes API server refused the call or could not be reached.
    #[error("{operation} {target} failed")]
    Kube {
        /// What was attempted (`create`, `apply`, `get`, `list`, `delete`, `discover`).
        operation: &'static str,
        /// What it was attempted on.
        target: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The manifest cannot be delivered as it is (a missing field, a kind without namespace).
    #[error("{0}")]
    Manifest(String),
    /// Maestro refused the call or could not be reached.
    #[error("{operation} {target} through Maestro failed")]
    Maestro {
        /// What was attempted (`apply`, `get`, `delete`).
        operation: &'static str,
        /// What it was attempted on.
        target: String,
        /// The client's error.
        #[source]
        source: hyperfleet_maestro::MaestroError,
    },
    /// The manifest is not a Kubernetes object.
    #[error("not a Kubernetes object")]
    Decode(#[source] serde_json::Error),
}

impl TransportError {
    /// Whether trying again later may work: conflicts, throttling, server trouble and network
    /// failures; never refusals or bad input.
    pub fn is_transient(&self) -> bool {
        let source = match self {
            TransportError::Kube { source, .. } => source,
            TransportError::Maestro { source, .. } => return source.is_transient(),
            _ => return false,
        };
        match source {
            kube::Error::Api(status) => status.code == 409 || status.code == 429 || status.code >= 500,
            kube::Error::SerdeError(_) | kube::Error::Discovery(_) => false,
            _ => true,
        }
    }
}

/// Delivers and reads back objects.
#[async_trait]
pub trait ObjectTransport: Send + Sync + std::fmt::Debug {
    /// Creates the object unless it exists; returns it as it is now, and whether it was created
    /// by this call. Never creates twice.
    async fn create(&self, manifest: &Value) -> Result<(Value, bool), TransportError>;
    /// Server-side applies the object; returns it as it is now.
    async fn apply(&self, manifest: &Value) -> Result<Value, TransportError>;
    /// The object `target` selects, if any.
    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError>;
    /// Every object `target` selects, sorted by name.
    async fn list(&self, target: &Target) -> Result<Vec<Value>, TransportError>;
    /// Deletes what `target` selects; returns whether anything was there.
    async fn delete(&self, target: &Target) -> Result<bool, TransportError>;

    /// Why the object `target` names cannot make progress, from its Warning events (a Job
    /// whose pods are refused: `FailedCreate`), newest last; empty when nothing is wrong.
    async fn warnings(&self, target: &Target) -> Result<Vec<String>, TransportError> {
        let _ = target;
        Ok(Vec::new())
    }

    /// From now on, each object `target` selects (by labels) every time it changes, as far as
    /// this transport can watch (`None`: it cannot, and polls and events alone drive the
    /// adapter). The stream retries by itself; it ends only with the transport.
    async fn changes(
        self: std::sync::Arc<Self>,
        target: Target,
    ) -> Result<Option<futures::stream::BoxStream<'static, Value>>, TransportError> {
        let _ = target;
        Ok(None)
    }

    /// What the newest finished pod of the Job `job` left as its container's termination
    /// message (the result a Job program writes for the adapter, or its last log lines), if any.
    async fn termination_message(&self, job: &Target) -> Result<Option<String>, TransportError> {
        let _ = job;
        Ok(None)
    }
}

/// The generation label of an object (0 without one), for picking the newest of several.
pub fn generation_of(object: &Value) -> i64 {
    object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(crate::adapter::job::LABEL_GENERATION))
        .and_then(Value::as_str)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}
