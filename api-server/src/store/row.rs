//! The `resources` row as selected by every read, and its conversion into the wire model.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use hyperfleet_api_model::{Condition, ObjectReference, Phase, Resource, ResourceStatus};

use super::StoreError;
use crate::kinds::Kind;

/// A resource's aggregated conditions as one JSON array, in display order. Macros rather than
/// consts so that `concat!` can build `&'static str` queries from them.
macro_rules! conditions_json {
    ($resource_id:literal) => {
        concat!(
            "coalesce((select jsonb_agg(jsonb_build_object( \
               'type', c.type, 'status', c.status, 'reason', c.reason, 'message', c.message, \
               'observed_generation', c.observed_generation, 'created_time', c.created_time, \
               'last_updated_time', c.last_updated_time, 'last_transition_time', c.last_transition_time) \
             order by case c.type when 'Reconciled' then 0 when 'LastKnownReconciled' then 1 else 2 end, c.type) \
             from resource_conditions c where c.resource_id = ",
            $resource_id,
            "), '[]'::jsonb)"
        )
    };
}
pub(crate) use conditions_json;

/// Columns every read selects from `resources r`.
macro_rules! resource_columns {
    () => {
        concat!(
            "r.id, r.kind, r.name, r.owner_id, r.spec, r.labels, r.generation, r.phase, r.phase_time, \
             r.created_time, r.updated_time, r.created_by, r.updated_by, r.deleted_time, r.deleted_by, ",
            crate::store::row::conditions_json!("r.id"),
            " as conditions"
        )
    };
}
pub(crate) use resource_columns;

#[derive(Debug, sqlx::FromRow)]
pub struct ResourceRow {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub owner_id: Option<Uuid>,
    pub spec: serde_json::Value,
    pub labels: Json<BTreeMap<String, String>>,
    pub generation: i64,
    pub phase: String,
    pub phase_time: Option<DateTime<Utc>>,
    pub created_time: DateTime<Utc>,
    pub updated_time: DateTime<Utc>,
    pub created_by: String,
    pub updated_by: String,
    pub deleted_time: Option<DateTime<Utc>>,
    pub deleted_by: Option<String>,
    pub conditions: Json<Vec<Condition>>,
}

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;

    fn try_from(row: ResourceRow) -> Result<Self, StoreError> {
        let kind = Kind::parse(&row.kind).ok_or_else(|| StoreError::Corrupt(format!("kind {}", row.kind)))?;
        let phase =
            Phase::parse(&row.phase).ok_or_else(|| StoreError::Corrupt(format!("phase {}", row.phase)))?;
        let owner_references = row.owner_id.map(|owner| ObjectReference {
            id: owner,
            kind: Kind::Cluster.as_str().to_owned(),
            href: Kind::Cluster.href(owner, None),
        });
        Ok(Resource {
            id: row.id,
            kind: row.kind,
            name: row.name,
            href: kind.href(row.id, row.owner_id),
            generation: row.generation,
            spec: row.spec,
            labels: row.labels.0,
            status: ResourceStatus {
                phase,
                last_transition_time: row.phase_time,
                conditions: row.conditions.0,
            },
            created_time: row.created_time,
            updated_time: row.updated_time,
            created_by: row.created_by,
            updated_by: row.updated_by,
            deleted_time: row.deleted_time,
            deleted_by: row.deleted_by,
            owner_references,
        })
    }
}
