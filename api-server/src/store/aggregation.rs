//! Keeps a resource's aggregated status in step with its reports, inside the caller's
//! transaction: [`recompute`] after anything that changes the inputs (create, patch, delete, a
//! report), and [`settle`] to hard-delete what finished deleting (and then its parent, if that
//! was the last child it waited for).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, types::Json};
use uuid::Uuid;

use hyperfleet_api_model::{AdapterCondition, AdapterStatus, Condition};

use super::{StoreError, row::conditions_json};
use crate::{
    kinds::{Kind, Kinds},
    status::{Aggregate, Subject, aggregate},
};

/// A stored adapter report.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct StatusRow {
    adapter: String,
    observed_generation: i64,
    conditions: Json<Vec<AdapterCondition>>,
    data: Option<serde_json::Value>,
    metadata: Option<serde_json::Value>,
    created_time: DateTime<Utc>,
    last_report_time: DateTime<Utc>,
}

impl From<StatusRow> for AdapterStatus {
    fn from(row: StatusRow) -> Self {
        AdapterStatus {
            adapter: row.adapter,
            observed_generation: row.observed_generation,
            conditions: row.conditions.0,
            data: row.data,
            metadata: row.metadata,
            created_time: row.created_time,
            last_report_time: row.last_report_time,
        }
    }
}

/// Every stored report of a resource, by adapter name.
pub(super) async fn load_reports(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Vec<AdapterStatus>, StoreError> {
    let rows: Vec<StatusRow> = sqlx::query_as(
        "select adapter, observed_generation, conditions, data, metadata, created_time, last_report_time \
         from adapter_statuses where resource_id = $1 order by adapter",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(AdapterStatus::from).collect())
}

#[derive(sqlx::FromRow)]
struct SubjectRow {
    kind: String,
    owner_id: Option<Uuid>,
    generation: i64,
    updated_time: DateTime<Utc>,
    deleting: bool,
    children: i64,
    conditions: Json<Vec<Condition>>,
}

/// Recomputes and stores the aggregate of a resource the caller has locked.
pub(super) async fn recompute(
    conn: &mut PgConnection,
    id: Uuid,
    kinds: &Kinds,
) -> Result<(Aggregate, Option<Uuid>), StoreError> {
    recompute_with(conn, id, kinds, None).await
}

/// [`recompute`] with the resource's reports when the caller holds them already (it just wrote
/// one, or created the resource), saving their reload.
pub(super) async fn recompute_with(
    conn: &mut PgConnection,
    id: Uuid,
    kinds: &Kinds,
    reports: Option<Vec<AdapterStatus>>,
) -> Result<(Aggregate, Option<Uuid>), StoreError> {
    let row: SubjectRow = sqlx::query_as(concat!(
        "select r.kind, r.owner_id, r.generation, r.updated_time, r.deleted_time is not null as deleting, \
         (select count(*) from resources c where c.owner_id = r.id) as children, ",
        conditions_json!("r.id"),
        " as conditions from resources r where r.id = $1"
    ))
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let kind = Kind::parse(&row.kind).ok_or_else(|| StoreError::Corrupt(format!("kind {}", row.kind)))?;
    let subject = Subject {
        generation: row.generation,
        updated_time: row.updated_time,
        deleting: row.deleting,
        children: row.children,
    };
    let reports = match reports {
        Some(reports) => reports,
        None => load_reports(conn, id).await?,
    };
    let required = &kinds.get(kind).required_adapters;
    let result = aggregate(&subject, required, &reports, &row.conditions.0, Utc::now());
    if result.conditions != row.conditions.0 {
        if !row.conditions.0.is_empty() {
            sqlx::query("delete from resource_conditions where resource_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "insert into resource_conditions (resource_id, type, status, reason, message, observed_generation, \
               created_time, last_updated_time, last_transition_time) \
             select $1, c.type, c.status, c.reason, c.message, c.observed_generation, c.created_time, \
               c.last_updated_time, c.last_transition_time \
             from jsonb_to_recordset($2) as c(type text, status text, reason text, message text, \
               observed_generation bigint, created_time timestamptz, last_updated_time timestamptz, \
               last_transition_time timestamptz)",
        )
        .bind(id)
        .bind(Json(&result.conditions))
        .execute(&mut *conn)
        .await?;
    }
    let reconciled = result.reconciled_condition();
    sqlx::query(
        "update resources set phase = $2, \
         phase_time = case when phase is distinct from $2 then now() else phase_time end, \
         reconciled_status = $3, reconciled_time = $4 where id = $1",
    )
    .bind(id)
    .bind(result.phase.as_str())
    .bind(reconciled.map(|c| c.status.as_str()))
    .bind(reconciled.map(|c| c.last_updated_time))
    .execute(&mut *conn)
    .await?;
    Ok((result, row.owner_id))
}

/// Recomputes a locked resource and removes it when its deletion is complete; then does the same
/// for its parent, which may have been waiting for this last child. Returns whether `id` is gone.
pub(super) async fn settle(conn: &mut PgConnection, id: Uuid, kinds: &Kinds) -> Result<bool, StoreError> {
    settle_with(conn, id, kinds, None).await
}

/// [`settle`] with the resource's reports already in hand (see [`recompute_with`]).
pub(super) async fn settle_with(
    conn: &mut PgConnection,
    id: Uuid,
    kinds: &Kinds,
    reports: Option<Vec<AdapterStatus>>,
) -> Result<bool, StoreError> {
    let (result, owner) = recompute_with(conn, id, kinds, reports).await?;
    if !result.finalized {
        return Ok(false);
    }
    sqlx::query("delete from resources where id = $1").bind(id).execute(&mut *conn).await?;
    tracing::info!(%id, "deletion finalized; resource removed");
    if let Some(owner) = owner {
        sqlx::query("select 1 from resources where id = $1 for update")
            .bind(owner)
            .execute(&mut *conn)
            .await?;
        let (parent, _) = recompute(conn, owner, kinds).await?;
        if parent.finalized {
            sqlx::query("delete from resources where id = $1").bind(owner).execute(&mut *conn).await?;
            tracing::info!(id = %owner, "last child gone and deletion finalized; resource removed");
        }
    }
    Ok(true)
}
