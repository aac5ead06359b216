//! The Job of a `jobTemplate`: one per (adapter, resource, generation), with a deterministic
//! name so a re-delivered event finds the Job it already created instead of making another;
//! and the reading of a Job's state back (running, succeeded, failed).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        batch::v1::{Job, JobSpec},
        core::v1::{
            Capabilities, Container, EnvVar, EnvVarSource, PodSecurityContext, PodSpec, PodTemplateSpec,
            SeccompProfile, SecretKeySelector, SecurityContext,
        },
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use serde_json::{Value, json};

use hyperfleet_api_model::Resource;

use super::{plan::AdapterPlan, template::TemplateError};

/// Label: the adapter that made an object.
pub const LABEL_ADAPTER: &str = "hyperfleet.io/adapter";
/// Label: the resource an object is for.
pub const LABEL_RESOURCE_ID: &str = "hyperfleet.io/resource-id";
/// Label and annotation: the resource generation an object was made for.
pub const LABEL_GENERATION: &str = "hyperfleet.io/generation";

/// `<adapter>-<resource id>-<generation>`: at most 16 + 1 + 32 + 1 + 19 characters, within the
/// 63 a Job name (used as a label value by the Job controller) may have.
pub fn job_name(adapter: &str, resource: &Resource) -> String {
    let adapter: String = adapter.chars().take(16).collect();
    format!("{}-{}-{}", adapter.trim_end_matches('-'), resource.id.simple(), resource.generation)
}

/// The labels of everything an adapter creates for `resource`: its ownership labels and the
/// generation it was made for.
pub fn labels(adapter: &str, resource: &Resource) -> BTreeMap<String, String> {
    let mut labels = super::ownership::Owner { adapter, resource: resource.id }.labels();
    labels.insert(LABEL_GENERATION.to_owned(), resource.generation.to_string());
    labels
}

/// Labels and the generation annotation on every managed object.
pub fn stamp(manifest: &mut Value, adapter: &str, resource: &Resource) {
    let metadata = &mut manifest["metadata"];
    for (key, value) in labels(adapter, resource) {
        metadata["labels"][key] = value.into();
    }
    metadata["annotations"][LABEL_GENERATION] = resource.generation.to_string().into();
    // Where the adapter finds the resource again when the object changes (see `progress`).
    metadata["annotations"][super::progress::ANNOTATION_HREF] = resource.href.clone().into();
}

/// The Job manifest for `resource`, its strings rendered with `context`.
pub fn job_manifest(
    plan: &AdapterPlan,
    resource: &Resource,
    context: &Value,
    api_url: &str,
) -> Result<Option<Value>, TemplateError> {
    let Some(job) = &plan.job else { return Ok(None) };
    let template = &job.spec;
    let render = |id| plan.templates.render(id, context);
    let command = job.command.iter().map(render).collect::<Result<Vec<_>, _>>()?;
    let args = job.args.iter().map(render).collect::<Result<Vec<_>, _>>()?;
    let mut env = vec![
        env_var("HYPERFLEET_ADAPTER", &plan.adapter),
        env_var("HYPERFLEET_RESOURCE_ID", &resource.id.to_string()),
        env_var("HYPERFLEET_RESOURCE_KIND", &resource.kind),
        env_var("HYPERFLEET_RESOURCE_HREF", &resource.href),
        env_var("HYPERFLEET_GENERATION", &resource.generation.to_string()),
        env_var("HYPERFLEET_API_URL", api_url),
    ];
    for (name, id) in &job.env {
        env.push(env_var(name, &render(id)?));
    }
    for (name, secret) in &template.secret_env {
        let selector =
            SecretKeySelector { name: secret.name.clone(), key: secret.key.clone(), optional: None };
        let value_from = EnvVarSource { secret_key_ref: Some(selector), ..EnvVarSource::default() };
        env.push(EnvVar { name: name.clone(), value: None, value_from: Some(value_from) });
    }
    let labels = labels(&plan.adapter, resource);
    let job = Job {
        metadata: ObjectMeta {
            name: Some(job_name(&plan.adapter, resource)),
            namespace: Some(template.namespace.clone()),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([
                (LABEL_GENERATION.to_owned(), resource.generation.to_string()),
                // Where the adapter finds the resource again when the Job ends (see `progress`).
                (super::progress::ANNOTATION_HREF.to_owned(), resource.href.clone()),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(template.backoff_limit),
            active_deadline_seconds: template.active_deadline_seconds,
            ttl_seconds_after_finished: template.ttl_seconds_after_finished,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    service_account_name: template.service_account_name.clone(),
                    security_context: Some(
                        template.pod_security_context.clone().unwrap_or_else(restricted_pod),
                    ),
                    containers: vec![Container {
                        name: "adapter".into(),
                        image: Some(template.image.clone()),
                        command: (!command.is_empty()).then_some(command),
                        args: (!args.is_empty()).then_some(args),
                        env: Some(env),
                        resources: template.resources.clone(),
                        // A program that dies without writing its result leaves its last log
                        // lines, which the adapter reports instead.
                        termination_message_policy: Some("FallbackToLogsOnError".into()),
                        security_context: Some(
                            template.security_context.clone().unwrap_or_else(restricted_container),
                        ),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    };
    let mut manifest = serde_json::to_value(&job).map_err(|err| TemplateError::Output {
        name: "jobTemplate".into(),
        message: format!("the Job does not serialize: {err}"),
    })?;
    manifest["apiVersion"] = "batch/v1".into();
    manifest["kind"] = "Job".into();
    Ok(Some(manifest))
}

/// A pod security context PodSecurity `restricted` admits.
fn restricted_pod() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
        ..PodSecurityContext::default()
    }
}

/// A container security context PodSecurity `restricted` admits.
fn restricted_container() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(true),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }),
        ..SecurityContext::default()
    }
}

fn env_var(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.to_owned(), value: Some(value.to_owned()), value_from: None }
}

/// Where a Job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// No Job (not created yet, or deleted).
    Missing,
    /// Created, not finished.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully (the Job's own message).
    Failed(String),
}

impl JobState {
    /// Succeeded or failed.
    pub fn is_finished(&self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed(_))
    }
}

/// Reads a Job object's state from its status conditions (`Complete`/`Failed`).
pub fn job_state(job: Option<&Value>) -> JobState {
    let Some(job) = job else { return JobState::Missing };
    let conditions = job.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let holds = |type_: &str| conditions.iter().find(|c| c["type"] == type_ && c["status"] == "True");
    if let Some(failed) = holds("Failed") {
        let message =
            failed["message"].as_str().or_else(|| failed["reason"].as_str()).unwrap_or("the Job failed");
        return JobState::Failed(message.to_owned());
    }
    if holds("Complete").is_some() {
        return JobState::Succeeded;
    }
    JobState::Running
}

/// The report metadata key holding the outcome of the generation's Job (`succeeded`, `failed`).
pub const METADATA_JOB_RESULT: &str = "job_result";
/// The report metadata key holding a finished Job's message: its pod's termination message, or
/// for a failed Job without one, the Job's own.
pub const METADATA_JOB_MESSAGE: &str = "job_message";

/// What a report keeps of a finished Job (and the result its program wrote, `termination`), so
/// that a Job deleted after it finished (by its `ttlSecondsAfterFinished`) is not run again for
/// the same generation, and its result is still known.
pub fn job_memory(job: Option<&Value>, termination: Option<&str>) -> Option<serde_json::Map<String, Value>> {
    let (result, message) = match job_state(job) {
        JobState::Succeeded => ("succeeded", termination.map(str::to_owned)),
        JobState::Failed(message) => ("failed", Some(termination.map_or(message, str::to_owned))),
        JobState::Running | JobState::Missing => return None,
    };
    let mut memory = serde_json::Map::from_iter([(METADATA_JOB_RESULT.to_owned(), result.into())]);
    if let Some(message) = message {
        memory.insert(METADATA_JOB_MESSAGE.to_owned(), message.into());
    }
    Some(memory)
}

/// How the generation's Job ended, as this adapter's own last report remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedJob {
    /// Whether it succeeded.
    pub succeeded: bool,
    /// What its program wrote (or, failed without that, the Job's own message).
    pub message: Option<String>,
}

impl RememberedJob {
    /// What this adapter's own last report remembers of the Job of `generation`, if it is for
    /// that generation and the Job had finished.
    pub fn of(own_report: Option<&Value>, generation: i64) -> Option<Self> {
        let report = own_report?;
        if report.get("observed_generation").and_then(Value::as_i64) != Some(generation) {
            return None;
        }
        let metadata = report.get("metadata")?;
        let succeeded = match metadata.get(METADATA_JOB_RESULT)?.as_str()? {
            "succeeded" => true,
            "failed" => false,
            _ => return None,
        };
        let message = metadata.get(METADATA_JOB_MESSAGE).and_then(Value::as_str).map(str::to_owned);
        Some(Self { succeeded, message })
    }

    /// The Job `manifest` as it finished.
    pub fn job(&self, manifest: &Value) -> Value {
        let status = if self.succeeded {
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
        } else {
            let message = self.message.as_deref().unwrap_or("the Job failed");
            json!({"failed": 1, "conditions": [{"type": "Failed", "status": "True", "message": message}]})
        };
        let mut job = manifest.clone();
        job["status"] = status;
        job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &str) -> AdapterPlan {
        let yaml = format!(
            "adapterType: validation\nresourceType: clusters\nhyperfleetAPI: {{url: \"http://api\"}}\n\
             broker: {{type: memory, topic: t}}\njobTemplate:\n  namespace: jobs\n  image: example/validate:1\n{extra}"
        );
        AdapterPlan::compile(&serde_saphyr::from_str(&yaml).unwrap()).unwrap()
    }

    fn cluster() -> Resource {
        serde_json::from_value(json!({
            "id": "0190a7d2-0000-7000-8000-000000000001", "kind": "Cluster", "name": "prod",
            "href": "/api/hyperfleet/v1/clusters/0190a7d2-0000-7000-8000-000000000001", "generation": 2,
            "spec": {}, "status": {"phase": "Pending"}, "created_time": "2026-01-01T00:00:00Z",
            "updated_time": "2026-01-01T00:00:00Z", "created_by": "u", "updated_by": "u"
        }))
        .unwrap()
    }

    #[test]
    fn secret_env_refers_to_the_secret_and_never_carries_its_value() {
        let plan = plan("  secretEnv:\n    HYPERFLEET_API_TOKEN: {name: job-token, key: token}\n");
        let manifest = job_manifest(&plan, &cluster(), &json!({}), "http://api").unwrap().unwrap();
        let env = manifest["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap().clone();
        let token = env.iter().find(|e| e["name"] == "HYPERFLEET_API_TOKEN").unwrap();
        assert_eq!(token["valueFrom"], json!({"secretKeyRef": {"name": "job-token", "key": "token"}}));
        assert!(token.get("value").is_none(), "{token}");
    }

    #[test]
    fn job_pods_pass_pod_security_restricted_by_default_and_the_spec_may_override_it() {
        let manifest = job_manifest(&plan(""), &cluster(), &json!({}), "http://api").unwrap().unwrap();
        let pod = &manifest["spec"]["template"]["spec"];
        assert_eq!(
            pod["securityContext"],
            json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}})
        );
        let container = &pod["containers"][0]["securityContext"];
        assert_eq!(container["allowPrivilegeEscalation"], false);
        assert_eq!(container["capabilities"]["drop"], json!(["ALL"]));
        assert_eq!(container["runAsNonRoot"], true);

        let custom = plan(
            "  podSecurityContext: {runAsUser: 1000, runAsNonRoot: true}\n  securityContext: {readOnlyRootFilesystem: false}\n",
        );
        let manifest = job_manifest(&custom, &cluster(), &json!({}), "http://api").unwrap().unwrap();
        let pod = &manifest["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsUser"], 1000);
        assert_eq!(pod["containers"][0]["securityContext"], json!({"readOnlyRootFilesystem": false}));
    }
}
