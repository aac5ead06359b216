//! `hyperfleet-operator adapter test`: runs one event through an AdapterConfig without a
//! cluster, a broker or an API — the resource (and other adapters' statuses) come from files,
//! objects go to the dry-run transport — and prints the decision, the rendered manifests and
//! the status report it would send. For writing and debugging adapters.

use std::{path::PathBuf, sync::Arc, time::Duration};

use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use hyperfleet_api_model::{AdapterStatus, ReconcileEventData, ReconcileReason, Resource};
use hyperfleet_crds::v1alpha1::{AdapterConfig, AdapterConfigSpec, ResourceType};

use crate::{
    adapter::{
        Adapter, AdapterPlan, Handled, Transports,
        api::FixedApi,
        redact::Redactor,
        report::Verdict,
        transport::dry_run::{DryRun, JobOutcome},
    },
    cli::{AdapterTestArgs, SimulatedJob},
};

/// Why the test could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuthoringError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what it should be.
    #[error("{path}: {message}")]
    Content {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The AdapterConfig is invalid.
    #[error("the AdapterConfig is invalid:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
    /// The pipeline failed.
    #[error("the event failed: {0}")]
    Handle(#[from] crate::adapter::HandleError),
}

fn read(path: &std::path::Path) -> Result<String, AuthoringError> {
    std::fs::read_to_string(path).map_err(|source| AuthoringError::Read { path: path.to_path_buf(), source })
}

fn content(path: &std::path::Path, message: impl std::fmt::Display) -> AuthoringError {
    AuthoringError::Content { path: path.to_path_buf(), message: message.to_string() }
}

/// What one `adapter test` run did.
#[derive(Debug)]
pub struct TestRun {
    /// What came of the event.
    pub handled: Handled,
    /// The objects the adapter created or applied, in order.
    pub manifests: Vec<Value>,
    /// The secret values of the objects the run was given.
    pub redactor: Redactor,
}

impl TestRun {
    /// The run as `adapter test` prints it: decision, manifests, report; no secret value.
    pub fn render(&self) -> String {
        self.redactor.redact(&render(&self.handled, &self.manifests))
    }
}

/// Runs the test and returns the report to print.
pub async fn adapter_test(args: &AdapterTestArgs) -> Result<String, AuthoringError> {
    Ok(run(args).await?.render())
}

/// Runs one event through the AdapterConfig as `args` say.
pub async fn run(args: &AdapterTestArgs) -> Result<TestRun, AuthoringError> {
    let spec = load_spec(&args.file)?;
    let plan = AdapterPlan::compile(&spec).map_err(AuthoringError::Invalid)?;
    let resource = load_resource(&args.resource, spec.resource_type, args.deleting)?;
    let statuses = match &args.statuses {
        Some(path) => load_statuses(path)?,
        None => Vec::new(),
    };
    let outcome = match args.job {
        SimulatedJob::Failed => JobOutcome::Fail("simulated failure".into()),
        SimulatedJob::Running | SimulatedJob::Succeeded => JobOutcome::Succeed,
    };
    let duration = if args.job == SimulatedJob::Running { Duration::from_secs(3600) } else { Duration::ZERO };
    let dry_run = Arc::new(DryRun::new(duration, outcome));
    let redactor = seed(&dry_run, &args.objects)?;
    let transports =
        Transports { kubernetes: dry_run.clone(), dry_run: dry_run.clone(), maestro: Some(dry_run.clone()) };
    let api = Arc::new(FixedApi { resource: resource.clone(), statuses, reports: Default::default() });
    let adapter = Adapter::new(plan, api, transports, spec.hyperfleet_api.url.clone());
    let event = ReconcileEventData::new(&resource, spec.resource_type, ReconcileReason::New);
    let handled = adapter.handle(&event).await?;
    Ok(TestRun { handled, manifests: dry_run.recorded(), redactor })
}

/// Puts the objects of `files` in the simulated cluster; returns a redactor of their Secrets'
/// values (sensitive lookups of other kinds are redacted by the adapter itself).
fn seed(dry_run: &DryRun, files: &[PathBuf]) -> Result<Redactor, AuthoringError> {
    let mut redactor = Redactor::default();
    for file in files {
        let loaded = match crate::local::load_file(file) {
            Ok(loaded) => loaded,
            Err(crate::local::LoadFileError::Read(source)) => {
                return Err(AuthoringError::Read { path: file.clone(), source });
            }
            Err(err) => return Err(content(file, err)),
        };
        for object in &loaded.objects {
            dry_run.seed(object).map_err(|err| content(file, err))?;
            redactor.add_object_if_secret(object);
        }
    }
    Ok(redactor)
}

fn render(handled: &Handled, manifests: &[Value]) -> String {
    let mut out = String::new();
    let Handled::Reported { report, verdict, .. } = handled else {
        return format!("decision: nothing to do ({handled:?})\n");
    };
    let applied = report.conditions.iter().find(|c| c.type_ == "Applied");
    let decision = match verdict {
        Verdict::NotMet { reason, message } => format!("{}: {message}", reason.as_str()),
        Verdict::Failed { reason, .. } => format!("act ({})", reason.as_str()),
        Verdict::Acted(_) => match applied.and_then(|c| c.reason.as_deref()) {
            Some(reason) => format!("act ({reason})"),
            None => "act".into(),
        },
    };
    out.push_str(&format!("# decision: {decision}\n"));
    out.push_str(&format!("# manifests: {}\n", manifests.len()));
    for manifest in manifests {
        out.push_str("---\n");
        out.push_str(
            &serde_saphyr::to_string(manifest).unwrap_or_else(|err| format!("# unprintable: {err}\n")),
        );
    }
    out.push_str("# status report\n");
    out.push_str(&serde_json::to_string_pretty(report).unwrap_or_else(|err| format!("# unprintable: {err}")));
    out.push('\n');
    out
}

/// An AdapterConfig document, or just its spec.
pub(crate) fn load_spec(path: &std::path::Path) -> Result<AdapterConfigSpec, AuthoringError> {
    let text = read(path)?;
    let value: Value = serde_saphyr::from_str(&text).map_err(|err| content(path, err))?;
    if value.get("kind").is_some() {
        let config: AdapterConfig = serde_json::from_value(value).map_err(|err| content(path, err))?;
        return Ok(config.spec);
    }
    serde_json::from_value(value).map_err(|err| content(path, err))
}

/// A resource as the API returns it, or a create payload (`config/samples/api/cluster.json`)
/// completed with an id, href, generation and times.
pub(crate) fn load_resource(
    path: &std::path::Path,
    resource_type: ResourceType,
    deleting: bool,
) -> Result<Resource, AuthoringError> {
    let mut value: Value = serde_json::from_str(&read(path)?).map_err(|err| content(path, err))?;
    let Some(fields) = value.as_object_mut() else { return Err(content(path, "not a JSON object")) };
    let id = fields
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .unwrap_or_else(Uuid::now_v7);
    let now = Utc::now();
    // A node pool belongs to a cluster, as the API always says: the file's, or a made-up one
    // (and its href says the same cluster).
    let owner = fields
        .get("owner_references")
        .and_then(|owner| owner.get("id"))
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .unwrap_or_else(Uuid::now_v7);
    let href = match resource_type {
        ResourceType::Clusters => format!("/api/hyperfleet/v1/clusters/{id}"),
        ResourceType::Nodepools => format!("/api/hyperfleet/v1/clusters/{owner}/nodepools/{id}"),
    };
    if resource_type == ResourceType::Nodepools {
        let reference =
            json!({"id": owner, "kind": "Cluster", "href": format!("/api/hyperfleet/v1/clusters/{owner}")});
        fields.entry("owner_references").or_insert(reference);
    }
    let defaults = json!({
        "id": id, "kind": resource_type.kind(), "href": href,
        "generation": 1, "spec": {}, "labels": {},
        "status": {"phase": "Pending", "conditions": []},
        "created_time": now, "updated_time": now, "created_by": "adapter-test", "updated_by": "adapter-test",
    });
    for (key, value) in defaults.as_object().into_iter().flatten() {
        fields.entry(key.clone()).or_insert_with(|| value.clone());
    }
    if deleting {
        fields.insert("deleted_time".into(), json!(now));
    }
    serde_json::from_value(value).map_err(|err| content(path, err))
}

/// A list of statuses, or a page of them (`{"items": [...]}`) as the API returns.
pub(crate) fn load_statuses(path: &std::path::Path) -> Result<Vec<AdapterStatus>, AuthoringError> {
    let value: Value = serde_json::from_str(&read(path)?).map_err(|err| content(path, err))?;
    let items = value.get("items").cloned().unwrap_or(value);
    serde_json::from_value(items)
        .map_err(|err| content(path, format!("not a list of adapter statuses: {err}")))
}
