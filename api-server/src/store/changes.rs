//! The change feed's reads and upkeep. Rows are written by the triggers of migration 0004 in the
//! writing transaction; here they are read in (transaction id, sequence) order, only from
//! transactions older than the reading snapshot's xmin (see the migration: exactly once,
//! whatever the commit order), filtered by kind and by a search over the resources they are
//! about, and pruned past the retention.

use chrono::{DateTime, Utc};
use sqlx::{Connection as _, Postgres, QueryBuilder};
use uuid::Uuid;

use hyperfleet_api_model::{ChangeKind, ChangePage, ResourceChange};

use super::{Store, StoreError};
use crate::{
    kinds::Kind,
    search::{Expr, push_filter},
};

/// A position in the feed: the writing transaction and the row's sequence number, written
/// `<txid>-<seq>` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    txid: i64,
    seq: i64,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.txid, self.seq)
    }
}

impl std::str::FromStr for Cursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid =
            || format!("'{}' is not a cursor of this feed", text.chars().take(64).collect::<String>());
        let (txid, seq) = text.split_once('-').ok_or_else(invalid)?;
        let txid: i64 = txid.parse().map_err(|_| invalid())?;
        let seq: i64 = seq.parse().map_err(|_| invalid())?;
        if txid < 0 || seq < 0 {
            return Err(invalid());
        }
        Ok(Self { txid, seq })
    }
}

/// A feed read, validated.
#[derive(Debug, Clone)]
pub struct ChangeQuery {
    /// Only changes after this cursor (`None`: from the feed's end).
    pub after: Option<Cursor>,
    /// Only this kind.
    pub kind: Option<Kind>,
    /// Only resources matching this (deletions pass: the resource is gone).
    pub filter: Option<Expr>,
    /// Most changes returned.
    pub limit: u32,
}

/// What a feed read found.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeRead {
    /// The changes after the cursor (possibly none), and where the read ended (past changes a
    /// filter skipped, too).
    Page {
        /// The answer.
        page: ChangePage,
        /// `page.cursor`, typed.
        last: Cursor,
        /// Whether the read scanned every change visible yet (the cursor is past them all, the
        /// filtered-out ones included); if not, more may follow at once.
        caught_up: bool,
    },
    /// The cursor is older than what the feed keeps: changes up to `through` were pruned.
    TooOld {
        /// The last pruned cursor.
        through: Cursor,
    },
}

#[derive(sqlx::FromRow)]
struct ChangeRow {
    txid: i64,
    seq: i64,
    resource_id: Uuid,
    kind: String,
    owner_id: Option<Uuid>,
    generation: i64,
    change: String,
    adapter: Option<String>,
    at: DateTime<Utc>,
    matches: bool,
}

impl TryFrom<ChangeRow> for ResourceChange {
    type Error = StoreError;

    fn try_from(row: ChangeRow) -> Result<Self, StoreError> {
        let change = match row.change.as_str() {
            "created" => ChangeKind::Created,
            "updated" => ChangeKind::Updated,
            "deleting" => ChangeKind::Deleting,
            "deleted" => ChangeKind::Deleted,
            "reported" => ChangeKind::Reported,
            other => return Err(StoreError::Corrupt(format!("unknown change '{other}'"))),
        };
        Ok(Self {
            cursor: Cursor { txid: row.txid, seq: row.seq }.to_string(),
            resource_id: row.resource_id,
            kind: row.kind,
            owner_id: row.owner_id,
            generation: row.generation,
            change,
            adapter: row.adapter,
            at: row.at,
        })
    }
}

impl Store {
    /// The changes `query` asks for.
    #[tracing::instrument(name = "store.changes", skip_all, fields(after = ?query.after))]
    pub async fn changes(&self, query: &ChangeQuery) -> Result<ChangeRead, StoreError> {
        let mut conn = self.conn().await?;
        let (pruned_txid, pruned_seq, xmin): (i64, i64, i64) = sqlx::query_as(
            "select txid, seq, pg_snapshot_xmin(pg_current_snapshot())::text::bigint from resource_changes_pruned",
        )
        .fetch_one(&mut *conn)
        .await?;
        let through = Cursor { txid: pruned_txid, seq: pruned_seq };
        // From now on: whatever a transaction not yet finished writes comes after this.
        let Some(after) = query.after else {
            let start = Cursor { txid: xmin, seq: 0 }.max(through);
            let page = ChangePage { items: Vec::new(), cursor: start.to_string() };
            return Ok(ChangeRead::Page { page, last: start, caught_up: true });
        };
        if after < through {
            return Ok(ChangeRead::TooOld { through });
        }
        // The window of the next `limit` changes, then which of them match: the cursor moves
        // past the ones that do not, so they are not scanned again.
        let mut select = QueryBuilder::<Postgres>::new(
            "with w as (select * from resource_changes c where (c.txid, c.seq) > (",
        );
        select.push_bind(after.txid).push(", ").push_bind(after.seq).push(")");
        // The horizon read above, not this statement's (possibly later) one: the cursor may
        // then move up to it, past every change of the window, matching or not.
        select.push(" and c.txid < ").push_bind(xmin);
        if let Some(kind) = query.kind {
            select.push(" and c.kind = ").push_bind(kind.as_str());
        }
        select.push(" order by c.txid, c.seq limit ").push_bind(i64::from(query.limit));
        select.push(
            ") select c.txid, c.seq, c.resource_id, c.kind, c.owner_id, c.generation, c.change, c.adapter, c.at, ",
        );
        match &query.filter {
            Some(filter) => {
                select.push("(r.id is null or (");
                push_filter(&mut select, filter)?;
                select.push("))");
            }
            None => {
                select.push("true");
            }
        }
        select.push(
            " as matches from w c left join resources r on r.id = c.resource_id order by c.txid, c.seq",
        );
        let rows: Vec<ChangeRow> = select.build_query_as().fetch_all(&mut *conn).await?;
        let caught_up = rows.len() < query.limit as usize;
        let last_row = rows.last().map_or(after, |row| Cursor { txid: row.txid, seq: row.seq });
        // Caught up, the cursor moves to the horizon: every change after it comes from a
        // transaction still open or not yet begun. A reader of a kind that nothing writes
        // (node pools in a fleet of clusters) thus does not rescan the others' changes at
        // every read, which cost the database more than all the writes together.
        let last = if caught_up { last_row.max(Cursor { txid: xmin, seq: 0 }) } else { last_row };
        let items = rows
            .into_iter()
            .filter(|row| row.matches)
            .map(ResourceChange::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ChangeRead::Page { page: ChangePage { items, cursor: last.to_string() }, last, caught_up })
    }

    /// Removes the changes recorded before `before`; returns how many went.
    pub async fn prune_changes(&self, before: DateTime<Utc>) -> Result<i64, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        let (count, txid, seq): (i64, Option<i64>, Option<i64>) = sqlx::query_as(
            "with gone as (delete from resource_changes where at < $1 returning txid, seq) \
             select count(*), (array_agg(txid order by txid desc, seq desc))[1], \
                    (array_agg(seq order by txid desc, seq desc))[1] from gone",
        )
        .bind(before)
        .fetch_one(&mut *tx)
        .await?;
        if let (Some(txid), Some(seq)) = (txid, seq) {
            sqlx::query(
                "update resource_changes_pruned set txid = $1, seq = $2 where (txid, seq) < ($1, $2)",
            )
            .bind(txid)
            .bind(seq)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(count)
    }
}
