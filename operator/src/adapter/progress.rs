//! Adapters learn of their own work's progress: the runner watches what its adapter created —
//! its Jobs (in the Job namespace) and, once it has applied some, each kind of object in each
//! namespace it applied them to — by the adapter's label, and when a Job finishes or an object
//! changes it handles that object's resource at once through the same pipeline. So the report,
//! and through the API's change feed the next adapter's event, follow in milliseconds instead
//! of a Sentinel backoff later. Polls and events stay the safety net: a watch that cannot be
//! had changes nothing else.

use std::collections::BTreeMap;

use serde_json::Value;

use hyperfleet_api_model::{ReconcileEventData, ReconcileReason};
use hyperfleet_crds::v1alpha1::ResourceType;

use super::{
    job::{LABEL_ADAPTER, LABEL_GENERATION, LABEL_RESOURCE_ID, job_state},
    report::Observed,
    transport::{ObjectTransport, Select, Target, TransportError},
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

/// One watch: what it selects, and whether through the dry-run transport.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watch {
    /// The objects (by the adapter's label).
    pub target: Target,
    /// Through the dry-run transport (else the Kubernetes one).
    pub simulated: bool,
}

impl super::pipeline::Adapter {
    /// The watch of the adapter's Jobs, when it has a `jobTemplate`.
    pub fn job_watch(&self) -> Option<Watch> {
        let job = self.plan.job.as_ref()?;
        Some(Watch { target: jobs_of(&self.plan.adapter, &job.spec.namespace), simulated: false })
    }

    /// The watches what a pass found calls for: each kind and namespace of the objects it holds
    /// through the Kubernetes or dry-run transport (a Maestro work is read on each event).
    pub fn watches_for(&self, observed: &Observed) -> Vec<Watch> {
        let plan = &self.plan;
        let mut watches: Vec<Watch> = plan
            .resources
            .iter()
            .filter(|planned| planned.maestro.is_none())
            .filter_map(|planned| {
                let object = observed.resources.get(&planned.name)?;
                // No controller writes a Secret's or ConfigMap's progress: nothing to watch.
                if object["apiVersion"] == "v1"
                    && matches!(object["kind"].as_str(), Some("Secret" | "ConfigMap"))
                {
                    return None;
                }
                let mut target = Target::of(object).ok()?;
                target.select =
                    Select::Labels(BTreeMap::from([(LABEL_ADAPTER.to_owned(), plan.adapter.clone())]));
                let simulated = planned.transport == hyperfleet_crds::v1alpha1::Transport::DryRun;
                Some(Watch { target, simulated })
            })
            .collect();
        watches.sort();
        watches.dedup();
        watches
    }

    /// The objects `watch` selects as they change, when its transport can watch.
    pub async fn watch(
        &self,
        watch: Watch,
    ) -> Result<Option<futures::stream::BoxStream<'static, Value>>, TransportError> {
        let transport: &std::sync::Arc<dyn ObjectTransport> =
            if watch.simulated { &self.transports.dry_run } else { &self.transports.kubernetes };
        transport.clone().changes(watch.target).await
    }
}

/// The pass a changed object asks for: its resource at the object's generation. `None` for a
/// Job still running, an object without our labels and annotation, or one of the same adapter
/// type for the other resource type (the cluster and node pool `validation` adapters share a
/// label).
pub fn event_of(job: &Value, resource_type: ResourceType) -> Option<ReconcileEventData> {
    if job["kind"] == "Job" && !job_state(Some(job)).is_finished() {
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
        reason: ReconcileReason::WorkChanged,
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
        assert_eq!(event.reason, ReconcileReason::WorkChanged);
        assert!(event_of(&job(href, false), ResourceType::Clusters).is_none(), "still running");
        assert!(event_of(&job(href, true), ResourceType::Nodepools).is_none(), "the other adapter's");
    }
}
