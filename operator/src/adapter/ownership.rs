//! What an adapter may touch: only objects that carry its ownership labels (its name and the
//! resource's id). Before an apply or a delete by name the pipeline asks [`Owner::check`]; label
//! selections are narrowed to its own labels ([`Owner::narrow`]), so a `resources[]` entry that
//! names an unrelated, existing object is refused and reported instead of overwritten or
//! deleted. Taking over an existing object is explicit: `adopt: true` on the entry.

use std::collections::BTreeMap;

use serde_json::Value;
use uuid::Uuid;

use super::{
    job::{LABEL_ADAPTER, LABEL_RESOURCE_ID},
    transport::{ObjectTransport, Select, Target, TransportError},
};

/// An object that exists and is not this adapter's.
#[derive(Debug, thiserror::Error)]
#[error(
    "{target} exists and is not this adapter's (it lacks {LABEL_ADAPTER}={adapter} and \
     {LABEL_RESOURCE_ID}={resource}); set `adopt: true` on the resources entry to take it over"
)]
pub struct NotOwned {
    /// The object.
    pub target: Target,
    /// The adapter.
    pub adapter: String,
    /// The resource.
    pub resource: Uuid,
}

/// Why a check could not pass.
#[derive(Debug, thiserror::Error)]
pub enum OwnershipError {
    /// Someone else's object.
    #[error(transparent)]
    NotOwned(#[from] NotOwned),
    /// It could not be read.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The owner of what an adapter makes for one resource.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// The adapter (`adapterType`).
    pub adapter: &'a str,
    /// The HyperFleet resource.
    pub resource: Uuid,
}

impl Owner<'_> {
    /// The labels that mark an object as this owner's.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LABEL_ADAPTER.to_owned(), self.adapter.to_owned()),
            (LABEL_RESOURCE_ID.to_owned(), self.resource.to_string()),
        ])
    }

    /// Whether `object` carries this owner's labels.
    pub fn owns(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.labels()
            .iter()
            .all(|(key, value)| labels.and_then(|l| l.get(key)).and_then(Value::as_str) == Some(value))
    }

    /// `target`, narrowed to this owner's objects when it selects by labels.
    pub fn narrow(&self, mut target: Target) -> Target {
        if let Select::Labels(labels) = &mut target.select {
            labels.extend(self.labels());
        }
        target
    }

    /// Fails when the object `target` names exists and is not this owner's (unless `adopt`).
    pub async fn check(
        &self,
        transport: &dyn ObjectTransport,
        target: &Target,
        adopt: bool,
    ) -> Result<(), OwnershipError> {
        match transport.find(target).await? {
            Some(existing) if !adopt && !self.owns(&existing) => Err(self.not_owned(target).into()),
            _ => Ok(()),
        }
    }

    /// The refusal for `target`.
    pub fn not_owned(&self, target: &Target) -> NotOwned {
        NotOwned { target: target.clone(), adapter: self.adapter.to_owned(), resource: self.resource }
    }
}
