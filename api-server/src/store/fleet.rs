//! Fleet-wide counts for the `/metrics` gauges, read at scrape time.

use std::time::Duration;

use super::{Store, StoreError};

/// Resources by kind and phase, and reconciliation backlog by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// `(kind, phase, count)`.
    pub by_phase: Vec<(String, String, i64)>,
    /// `(kind, not reconciled, not reconciled for longer than the threshold)`.
    pub backlog: Vec<(String, i64, i64)>,
    /// `(kind, deleting for longer than the threshold)`: a resource no Sentinel shard covers
    /// gets no events, so its adapters never finalize it.
    pub deleting_stuck: Vec<(String, i64)>,
}

impl Store {
    /// Counts resources per phase, and those whose `Reconciled` is False (and for how long).
    pub async fn fleet_counts(&self, stuck_after: Duration) -> Result<FleetCounts, StoreError> {
        let mut conn = self.conn().await?;
        let by_phase = sqlx::query_as("select kind, phase, count(*) from resources group by kind, phase")
            .fetch_all(&mut *conn)
            .await?;
        let stuck_after = chrono::Duration::from_std(stuck_after).unwrap_or(chrono::Duration::MAX);
        let backlog = sqlx::query_as(
            "select r.kind, count(*), count(*) filter (where c.last_transition_time < now() - $1) \
             from resource_conditions c join resources r on r.id = c.resource_id \
             where c.type = 'Reconciled' and c.status = 'False' group by r.kind",
        )
        .bind(stuck_after)
        .fetch_all(&mut *conn)
        .await?;
        let deleting_stuck = sqlx::query_as(
            "select kind, count(*) from resources where deleted_time < now() - $1 group by kind",
        )
        .bind(stuck_after)
        .fetch_all(&mut *conn)
        .await?;
        Ok(FleetCounts { by_phase, backlog, deleting_stuck })
    }
}
