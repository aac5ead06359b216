//! Adapters learn of their own work's progress: the runner watches the Jobs its adapter
//! created (by the adapter's label, in the Job namespace) and, when one finishes, handles that
//! resource at once through the same pipeline, so the report — and, through the API's change
//! feed, the next adapter's event — follow in milliseconds instead of a Sentinel backoff
//! later. Polls and events stay the safety net: a watch that cannot be had changes nothing else.

use std::collections::BTreeMap;

use serde_json::Value;

use hyperfleet_api_model::{ReconcileEventData, ReconcileReason};
use hyperfleet_crds::v1alpha1::ResourceType;

use super::{
    job::{LABEL_ADAPTER, LABEL_GENERATION, LABEL_RESOURCE_ID, job_state},
    transport::{Select, Target},
};

/// The annotation on a Job naming its resource's path in the API.
pub const ANNOTATION_HREF: &str = "hyperfleet.io/href";

/// The Jobs `adapter` created in `namespace`.
pub fn jobs_of(adapter: &str, namespace: &str) -> Target {
    Target {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        namespace: Some(namespace.to_owned()),
        select: Select::Labels(BTreeMap::from([(LABEL_ADAPTER.to_owned(), adapter.to_owned())])),
    }
}

impl super::pipeline::Adapter {
    /// The adapter's Jobs as they change, when it has a `jobTemplate` and its transport can
    /// watch.
    pub async fn job_changes(
        &self,
    ) -> Result<Option<futures::stream::BoxStream<'static, Value>>, super::transport::TransportError> {
        let Some(job) = &self.plan.job else { return Ok(None) };
        let jobs = jobs_of(&self.plan.adapter, &job.spec.namespace);
        self.transports.kubernetes.clone().changes(jobs).await
    }
}

/// The pass a finished Job asks for: its resource at the Job's generation. `None` for a Job
/// still running, one without our labels and annotation, or one of the same adapter type for
/// the other resource type (the cluster and node pool `validation` adapters share a label).
pub fn event_of(job: &Value, resource_type: ResourceType) -> Option<ReconcileEventData> {
    if !job_state(Some(job)).is_finished() {
        return None;
    }
    let label = |key: &str| job.pointer("/metadata/labels")?.get(key)?.as_str();
    let href = job.pointer("/metadata/annotations")?.get(ANNOTATION_HREF)?.as_str()?;
    if href.contains("/nodepools/") != (resource_type == ResourceType::Nodepools) {
        return None;
    }
    Some(ReconcileEventData {
        resource_type,
        resource_id: label(LABEL_RESOURCE_ID)?.parse().ok()?,
        kind: resource_type.kind().to_owned(),
        href: href.to_owned(),
        generation: label(LABEL_GENERATION)?.parse().ok()?,
        reason: ReconcileReason::JobFinished,
        owner_references: None,
        extra: serde_json::Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(href: &str, finished: bool) -> Value {
        let status = if finished {
            json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
        } else {
            json!({"active": 1})
        };
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {
                "name": "validation-x-1",
                "labels": {LABEL_ADAPTER: "validation", LABEL_RESOURCE_ID: "0190b6a4-0000-7000-8000-000000000001", LABEL_GENERATION: "2"},
                "annotations": {ANNOTATION_HREF: href},
            },
            "status": status,
        })
    }

    #[test]
    fn a_finished_job_asks_for_a_pass_of_its_resource_at_its_generation() {
        let href = "/api/hyperfleet/v1/clusters/0190b6a4-0000-7000-8000-000000000001";
        let event = event_of(&job(href, true), ResourceType::Clusters).unwrap();
        assert_eq!((event.href.as_str(), event.generation, event.kind.as_str()), (href, 2, "Cluster"));
        assert_eq!(event.reason, ReconcileReason::JobFinished);
        assert!(event_of(&job(href, false), ResourceType::Clusters).is_none(), "still running");
        assert!(event_of(&job(href, true), ResourceType::Nodepools).is_none(), "the other adapter's");
    }
}
