//! Create, read, patch and delete of single resources. Every write runs in one transaction and
//! locks the rows it decides on (`for update`), so concurrent writers serialise per resource.

use std::collections::BTreeMap;

use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;

use hyperfleet_api_model::Resource;

use super::{
    Store, StoreError,
    aggregation::{recompute, recompute_with, settle},
    row::{ResourceRow, resource_columns},
};
use crate::kinds::Kind;

/// A validated create request.
#[derive(Debug, Clone)]
pub struct NewResource {
    /// Resource name.
    pub name: String,
    /// Desired state (a JSON object).
    pub spec: serde_json::Value,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A validated patch: `None` leaves the member as stored.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Replacement spec.
    pub spec: Option<serde_json::Value>,
    /// Replacement labels.
    pub labels: Option<BTreeMap<String, String>>,
}

/// Where a resource lives: its kind, id and (for node pools) the cluster in its path.
#[derive(Debug, Clone, Copy)]
pub struct Locator {
    /// Kind of the resource.
    pub kind: Kind,
    /// Its id.
    pub id: Uuid,
    /// The parent cluster named in the route, if any.
    pub owner: Option<Uuid>,
}

/// How DELETE proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteMode {
    /// Mark deleted (and cascade to children); adapters finalize, then the row goes.
    Soft,
    /// Nothing needs finalizing: remove the row (and its children) now.
    Hard,
}

impl Store {
    /// Inserts a resource; node pools need a live parent cluster.
    #[tracing::instrument(name = "store.create", skip_all, fields(kind = %kind))]
    pub async fn create(
        &self,
        kind: Kind,
        owner: Option<Uuid>,
        new: NewResource,
        actor: &str,
    ) -> Result<Resource, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        if let Some(cluster) = owner {
            lock_live(&mut tx, Locator { kind: Kind::Cluster, id: cluster, owner: None }).await?;
        }
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into resources (id, kind, name, owner_id, spec, labels, \
             created_time, updated_time, created_by, updated_by) \
             values ($1, $2, $3, $4, $5, $6, now(), now(), $7, $7)",
        )
        .bind(id)
        .bind(kind.as_str())
        .bind(&new.name)
        .bind(owner)
        .bind(&new.spec)
        .bind(sqlx::types::Json(&new.labels))
        .bind(actor)
        .execute(&mut *tx)
        .await
        .map_err(|err| name_taken(err, kind, &new.name))?;
        // A new resource has no reports yet.
        recompute_with(&mut tx, id, &self.kinds, Some(Vec::new())).await?;
        let resource = fetch(&mut tx, Locator { kind, id, owner }).await?;
        tx.commit().await?;
        Ok(resource)
    }

    /// Reads one resource (deleting ones included).
    pub async fn get(&self, at: Locator) -> Result<Resource, StoreError> {
        let mut conn = self.conn().await?;
        fetch(&mut conn, at).await
    }

    /// Reads one resource and every adapter's report about it over one connection (two
    /// statements, no transaction: a report stored in between is simply the newer state).
    #[tracing::instrument(name = "store.get_with_statuses", skip_all, fields(kind = %at.kind, id = %at.id))]
    pub async fn get_with_statuses(
        &self,
        at: Locator,
    ) -> Result<(Resource, Vec<hyperfleet_api_model::AdapterStatus>), StoreError> {
        let mut conn = self.conn().await?;
        let resource = fetch(&mut conn, at).await?;
        let statuses = super::aggregation::load_reports(&mut conn, at.id).await?;
        Ok((resource, statuses))
    }

    /// Replaces spec and/or labels; bumps `generation` only when something actually changed.
    #[tracing::instrument(name = "store.patch", skip_all, fields(kind = %at.kind, id = %at.id))]
    pub async fn patch(&self, at: Locator, changes: Changes, actor: &str) -> Result<Resource, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let current = lock_live(&mut tx, at).await?;
        let spec = changes.spec.unwrap_or_else(|| current.spec.clone());
        let labels = changes.labels.unwrap_or_else(|| current.labels.clone());
        if spec != current.spec || labels != current.labels {
            sqlx::query(
                "update resources set spec = $2, labels = $3, generation = generation + 1, \
                 updated_time = now(), updated_by = $4 where id = $1",
            )
            .bind(at.id)
            .bind(&spec)
            .bind(sqlx::types::Json(&labels))
            .bind(actor)
            .execute(&mut *tx)
            .await?;
            recompute(&mut tx, at.id, &self.kinds).await?;
        }
        let resource = fetch(&mut tx, at).await?;
        tx.commit().await?;
        Ok(resource)
    }

    /// Starts deletion. Idempotent: deleting a resource already being deleted returns it as is.
    #[tracing::instrument(name = "store.delete", skip_all, fields(kind = %at.kind, id = %at.id, ?mode))]
    pub async fn delete(&self, at: Locator, mode: DeleteMode, actor: &str) -> Result<Resource, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        if lock(&mut tx, at).await?.deleting {
            return fetch(&mut tx, at).await;
        }
        if mode == DeleteMode::Hard {
            let mut resource = fetch(&mut tx, at).await?;
            // Node pools go with their cluster through the foreign key's cascade.
            sqlx::query("delete from resources where id = $1").bind(at.id).execute(&mut *tx).await?;
            if let Some(cluster) = at.owner {
                // The cluster may have been waiting for this last node pool to finish deleting.
                lock(&mut tx, Locator { kind: Kind::Cluster, id: cluster, owner: None }).await?;
                settle(&mut tx, cluster, &self.kinds).await?;
            }
            tx.commit().await?;
            resource.deleted_time = Some(chrono::Utc::now());
            resource.deleted_by = Some(actor.to_owned());
            return Ok(resource);
        }
        let children: Vec<Uuid> = sqlx::query_scalar(
            "update resources set deleted_time = now(), deleted_by = $2, generation = generation + 1, \
             updated_time = now(), updated_by = $2 \
             where id = $1 or (owner_id = $1 and deleted_time is null) returning id",
        )
        .bind(at.id)
        .bind(actor)
        .fetch_all(&mut *tx)
        .await?;
        // Children with nothing to finalize go at once; the resource itself waits for its adapters.
        for child in children.into_iter().filter(|id| *id != at.id) {
            settle(&mut tx, child, &self.kinds).await?;
        }
        recompute(&mut tx, at.id, &self.kinds).await?;
        let resource = fetch(&mut tx, at).await?;
        tx.commit().await?;
        Ok(resource)
    }
}

/// A locked row's state.
pub(super) struct Locked {
    pub generation: i64,
    pub deleting: bool,
    pub spec: serde_json::Value,
    pub labels: BTreeMap<String, String>,
}

#[derive(sqlx::FromRow)]
struct LockedRow {
    generation: i64,
    deleting: bool,
    spec: serde_json::Value,
    labels: sqlx::types::Json<BTreeMap<String, String>>,
}

/// Locks a resource (`for update`) for the rest of the transaction. Rows are always locked in
/// one order, parent before child: a node pool's cluster is locked first, so a cluster DELETE
/// (which locks the cluster, then its node pools) and node pool writes cannot deadlock.
pub(super) async fn lock(conn: &mut PgConnection, at: Locator) -> Result<Locked, StoreError> {
    if let Some(owner) = at.owner {
        sqlx::query("select 1 from resources where id = $1 for update")
            .bind(owner)
            .execute(&mut *conn)
            .await?;
    }
    let row: Option<LockedRow> = sqlx::query_as(
        "select generation, deleted_time is not null as deleting, spec, labels from resources \
         where id = $1 and kind = $2 and owner_id is not distinct from $3 for update",
    )
    .bind(at.id)
    .bind(at.kind.as_str())
    .bind(at.owner)
    .fetch_optional(&mut *conn)
    .await?;
    let row = row.ok_or(StoreError::NotFound { kind: at.kind, id: at.id })?;
    Ok(Locked { generation: row.generation, deleting: row.deleting, spec: row.spec, labels: row.labels.0 })
}

/// Locks a resource that must not be deleting.
async fn lock_live(conn: &mut PgConnection, at: Locator) -> Result<Locked, StoreError> {
    let locked = lock(conn, at).await?;
    if locked.deleting {
        return Err(StoreError::Deleting { kind: at.kind, id: at.id });
    }
    Ok(locked)
}

pub(super) async fn fetch(conn: &mut PgConnection, at: Locator) -> Result<Resource, StoreError> {
    let row: Option<ResourceRow> = sqlx::query_as(concat!(
        "select ",
        resource_columns!(),
        " from resources r where r.id = $1 and r.kind = $2 and r.owner_id is not distinct from $3"
    ))
    .bind(at.id)
    .bind(at.kind.as_str())
    .bind(at.owner)
    .fetch_optional(&mut *conn)
    .await?;
    row.ok_or(StoreError::NotFound { kind: at.kind, id: at.id })?.try_into()
}

fn name_taken(err: sqlx::Error, kind: Kind, name: &str) -> StoreError {
    let unique = err
        .as_database_error()
        .and_then(|db| db.constraint())
        .is_some_and(|c| matches!(c, "resources_root_name_key" | "resources_child_name_key"));
    if unique { StoreError::NameTaken { kind, name: name.to_owned() } } else { err.into() }
}
