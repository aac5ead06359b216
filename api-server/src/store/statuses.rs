//! Adapter reports: the upsert that PUT performs (lock the resource, decide, store, keep
//! history, re-aggregate, settle deletion, all in one transaction), reads, and force-delete.

use chrono::{DateTime, Utc};
use sqlx::{Connection as _, PgConnection, types::Json};

use hyperfleet_api_model::{AdapterStatus, StatusHistoryEntry, StatusReport};

use super::{
    Store, StoreError,
    aggregation::{load_reports, recompute, settle, settle_with},
    resources::{Locator, lock},
};
use crate::status::{Decision, decide};

impl Store {
    /// Applies one adapter report. Returns the decision: the stored row, or why it was discarded.
    #[tracing::instrument(name = "store.put_status", skip_all, fields(id = %at.id, adapter = %report.adapter, generation = report.observed_generation))]
    pub async fn put_status(
        &self,
        at: Locator,
        report: &StatusReport,
        observed_time: DateTime<Utc>,
    ) -> Result<Decision, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        // The row lock serialises concurrent reports about one resource, so none is lost.
        let locked = lock(&mut tx, at).await?;
        let mut reports = load_reports(&mut tx, at.id).await?;
        let existing = reports.iter().position(|r| r.adapter == report.adapter);
        let decision = decide(report, observed_time, existing.map(|i| &reports[i]), locked.generation)
            .map_err(StoreError::Rejected)?;
        let Decision::Store(row) = &decision else {
            return Ok(decision);
        };
        upsert(&mut tx, at, row).await?;
        // A repeat (the same generation, conditions and data as the stored report: an adapter
        // handling a copy of an event) refreshes the report's time, not the history.
        if !existing.is_some_and(|i| same_report(&reports[i], row)) {
            append_history(&mut tx, at, row, self.history_limit).await?;
        }
        match existing {
            Some(i) => reports[i] = row.clone(),
            None => reports.push(row.clone()),
        }
        settle_with(&mut tx, at.id, &self.kinds, Some(reports)).await?;
        tx.commit().await?;
        Ok(decision)
    }

    /// Every adapter's latest report about a resource.
    pub async fn list_statuses(&self, at: Locator) -> Result<Vec<AdapterStatus>, StoreError> {
        Ok(self.get_with_statuses(at).await?.1)
    }

    /// One adapter's latest report.
    pub async fn get_status(&self, at: Locator, adapter: &str) -> Result<AdapterStatus, StoreError> {
        self.list_statuses(at)
            .await?
            .into_iter()
            .find(|r| r.adapter == adapter)
            .ok_or_else(|| StoreError::NoReport { adapter: adapter.to_owned() })
    }

    /// Forgets one adapter's report (e.g. a decommissioned adapter) and re-aggregates.
    pub async fn delete_status(&self, at: Locator, adapter: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        lock(&mut tx, at).await?;
        let deleted = sqlx::query("delete from adapter_statuses where resource_id = $1 and adapter = $2")
            .bind(at.id)
            .bind(adapter)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NoReport { adapter: adapter.to_owned() });
        }
        recompute(&mut tx, at.id, &self.kinds).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An adapter's accepted reports, newest first.
    pub async fn status_history(
        &self,
        at: Locator,
        adapter: &str,
        limit: i64,
    ) -> Result<Vec<StatusHistoryEntry>, StoreError> {
        let mut conn = self.conn().await?;
        super::resources::fetch(&mut conn, at).await?;
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "select observed_generation, observed_time, received_time, conditions, data from status_history \
             where resource_id = $1 and adapter = $2 order by id desc limit $3",
        )
        .bind(at.id)
        .bind(adapter)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        Ok(rows.into_iter().map(StatusHistoryEntry::from).collect())
    }

    /// Removes a resource whose deletion is stuck, with its children and reports, without waiting
    /// for adapters. Only for resources already being deleted.
    pub async fn force_delete(&self, at: Locator, reason: &str, actor: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let locked = lock(&mut tx, at).await?;
        if !locked.deleting {
            return Err(StoreError::NotDeleting { kind: at.kind, id: at.id });
        }
        sqlx::query("delete from resources where id = $1").bind(at.id).execute(&mut *tx).await?;
        if let Some(owner) = at.owner {
            sqlx::query("select 1 from resources where id = $1 for update")
                .bind(owner)
                .execute(&mut *tx)
                .await?;
            settle(&mut tx, owner, &self.kinds).await?;
        }
        tx.commit().await?;
        tracing::warn!(kind = %at.kind, id = %at.id, actor, reason, "force-deleted");
        Ok(())
    }
}

async fn upsert(conn: &mut PgConnection, at: Locator, row: &AdapterStatus) -> Result<(), StoreError> {
    sqlx::query(
        "insert into adapter_statuses (resource_id, adapter, observed_generation, conditions, data, metadata, \
           created_time, last_report_time) values ($1, $2, $3, $4, $5, $6, $7, $8) \
         on conflict (resource_id, adapter) do update set observed_generation = excluded.observed_generation, \
           conditions = excluded.conditions, data = excluded.data, metadata = excluded.metadata, \
           last_report_time = excluded.last_report_time",
    )
    .bind(at.id)
    .bind(&row.adapter)
    .bind(row.observed_generation)
    .bind(Json(&row.conditions))
    .bind(&row.data)
    .bind(&row.metadata)
    .bind(row.created_time)
    .bind(row.last_report_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether `new` says what `stored` said (its times aside).
fn same_report(stored: &AdapterStatus, new: &AdapterStatus) -> bool {
    let said = |report: &AdapterStatus| -> Vec<_> {
        report
            .conditions
            .iter()
            .map(|c| (c.type_.clone(), c.status, c.reason.clone(), c.message.clone()))
            .collect()
    };
    stored.observed_generation == new.observed_generation
        && said(stored) == said(new)
        && stored.data == new.data
        && stored.metadata == new.metadata
}

async fn append_history(
    conn: &mut PgConnection,
    at: Locator,
    row: &AdapterStatus,
    keep: i64,
) -> Result<(), StoreError> {
    let reported: Vec<_> = row
        .conditions
        .iter()
        .map(|c| serde_json::json!({"type": c.type_, "status": c.status, "reason": c.reason, "message": c.message}))
        .collect();
    sqlx::query(
        "insert into status_history (resource_id, adapter, observed_generation, observed_time, conditions, data) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(at.id)
    .bind(&row.adapter)
    .bind(row.observed_generation)
    .bind(row.last_report_time)
    .bind(Json(reported))
    .bind(&row.data)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "delete from status_history where resource_id = $1 and adapter = $2 and id <= \
         (select id from status_history where resource_id = $1 and adapter = $2 order by id desc offset $3 limit 1)",
    )
    .bind(at.id)
    .bind(&row.adapter)
    .bind(keep)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct HistoryRow {
    observed_generation: i64,
    observed_time: DateTime<Utc>,
    received_time: DateTime<Utc>,
    conditions: Json<Vec<hyperfleet_api_model::ReportedCondition>>,
    data: Option<serde_json::Value>,
}

impl From<HistoryRow> for StatusHistoryEntry {
    fn from(row: HistoryRow) -> Self {
        StatusHistoryEntry {
            observed_generation: row.observed_generation,
            observed_time: row.observed_time,
            received_time: row.received_time,
            conditions: row.conditions.0,
            data: row.data,
        }
    }
}
