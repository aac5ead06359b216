//! What the double's Maestro keeps: registered consumers, resource bundles by id, the events it
//! took (for tests to assert on), and the feedback its agent reports. Applying a spec event does
//! what Maestro's gRPC server does with a publish: create (refused, as Maestro's database
//! refuses it, for a consumer not registered), update (a new version), delete.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::agent::{self, Feedback};
use crate::event::{SpecAction, SpecEvent};

/// One event the double took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// What it asked.
    pub action: SpecAction,
    /// The consumer.
    pub consumer: String,
    /// The work's name.
    pub work: String,
    /// The version it carried.
    pub version: i64,
}

/// The double's state.
#[derive(Debug, Default)]
pub struct Store {
    pub(super) consumers: BTreeSet<String>,
    pub(super) bundles: BTreeMap<Uuid, Value>,
    pub(super) taken: Vec<Taken>,
    pub(super) feedback: Feedback,
    /// The source that sent each work (status events go to it).
    pub(super) sources: BTreeMap<Uuid, String>,
    /// What the next publish is refused with (a test's stand-in for Maestro's validation).
    pub(super) refusal: Option<String>,
}

impl Store {
    /// Applies a decoded publish; the error is the message Maestro answers with.
    pub fn apply(&mut self, event: SpecEvent) -> Result<Option<Value>, String> {
        if let Some(refusal) = self.refusal.take() {
            return Err(refusal);
        }
        let work = event.metadata["name"].as_str().unwrap_or_default().to_owned();
        self.taken.push(Taken {
            action: event.action,
            consumer: event.consumer.clone(),
            work,
            version: event.version,
        });
        match event.action {
            SpecAction::CreateRequest if !self.consumers.contains(&event.consumer) => Err(format!(
                "failed to create resource: insert or update on table \"resources\" violates foreign key constraint \"fk_resources_consumers\" (consumer '{}')",
                event.consumer
            )),
            SpecAction::CreateRequest | SpecAction::UpdateRequest => {
                let created = self.bundles.get(&event.resource_id).map(|b| b["created_at"].clone());
                if event.action == SpecAction::UpdateRequest && created.is_none() {
                    return Err(format!("failed to get resource: resource {} not found", event.resource_id));
                }
                let mut bundle = json!({
                    "id": event.resource_id, "kind": "ResourceBundle",
                    "href": format!("/api/maestro/v1/resource-bundles/{}", event.resource_id),
                    "name": event.resource_id, "consumer_name": event.consumer, "version": event.version,
                    "created_at": created.unwrap_or_else(|| json!("2026-01-01T00:00:00Z")),
                    "metadata": event.metadata,
                    "manifests": event.bundle["manifests"], "delete_option": event.bundle.get("deleteOption").cloned().unwrap_or_else(|| json!({})),
                    "manifest_configs": event.bundle.get("manifestConfigs").cloned().unwrap_or_else(|| json!([])),
                });
                bundle["status"] = agent::status(&bundle, &self.feedback);
                self.sources.insert(event.resource_id, event.source.clone());
                self.bundles.insert(event.resource_id, bundle.clone());
                Ok(Some(bundle))
            }
            // The agent removes the work's objects at once; Maestro then forgets the work.
            SpecAction::DeleteRequest => Ok(self.bundles.remove(&event.resource_id)),
        }
    }

    /// Recomputes every stored bundle's status (after feedback changed); returns the changed.
    pub fn report(&mut self) -> Vec<Value> {
        let mut changed = Vec::new();
        for bundle in self.bundles.values_mut() {
            let status = agent::status(bundle, &self.feedback);
            if bundle["status"] != status {
                bundle["status"] = status;
                changed.push(bundle.clone());
            }
        }
        changed
    }
}
