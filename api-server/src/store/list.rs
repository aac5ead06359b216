//! Paged, filtered, ordered lists. The count and the page are read in one repeatable-read
//! snapshot, so `total` agrees with `items` (the reference reads them separately).

use sqlx::{Connection as _, Postgres, QueryBuilder};
use uuid::Uuid;

use hyperfleet_api_model::Resource;

use super::{Store, StoreError, row::ResourceRow, row::resource_columns};
use crate::{
    kinds::Kind,
    search::{Expr, push_filter},
};

/// Columns a list can be ordered by, with their SQL.
const ORDER_COLUMNS: &[(&str, &str)] = &[
    ("id", "r.id"),
    ("kind", "r.kind"),
    // A href is the owner's path (if any) then the id, all fixed-width lower-case hex: ordering
    // by this text orders as the href strings do.
    ("href", "(coalesce(r.owner_id::text, '') || r.id::text)"),
    ("owner_id", "r.owner_id"),
    ("name", "r.name"),
    ("generation", "r.generation"),
    ("created_time", "r.created_time"),
    ("updated_time", "r.updated_time"),
    ("deleted_time", "r.deleted_time"),
    ("created_by", "r.created_by"),
    ("updated_by", "r.updated_by"),
    ("deleted_by", "r.deleted_by"),
    ("phase", "r.phase"),
];

/// One `column [asc|desc]` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBy {
    column: &'static str,
    descending: bool,
}

/// Parses `name asc, created_time desc`. Direction defaults to `asc`.
pub fn parse_order(input: &str) -> Result<Vec<OrderBy>, String> {
    input
        .split(',')
        .map(|term| {
            let mut words = term.split_whitespace();
            let (Some(name), direction, None) = (words.next(), words.next(), words.next()) else {
                return Err(format!("invalid order term '{}': use `column [asc|desc]`", term.trim()));
            };
            let column =
                ORDER_COLUMNS.iter().find(|(n, _)| *n == name).map(|(_, sql)| *sql).ok_or_else(|| {
                    let allowed: Vec<_> = ORDER_COLUMNS.iter().map(|(n, _)| *n).collect();
                    format!("cannot order by '{name}'; use one of {}", allowed.join(", "))
                })?;
            let descending = match direction.map(str::to_ascii_lowercase).as_deref() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(other) => return Err(format!("invalid order direction '{other}': use asc or desc")),
            };
            Ok(OrderBy { column, descending })
        })
        .collect()
}

/// A list request, validated.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// Kind listed.
    pub kind: Kind,
    /// Only children of this cluster.
    pub owner: Option<Uuid>,
    /// Parsed `search`.
    pub filter: Option<Expr>,
    /// Keyset paging: only ids greater than this one.
    pub after: Option<Uuid>,
    /// Parsed `order`; empty means `created_time desc`.
    pub order: Vec<OrderBy>,
    /// 1-based page.
    pub page: u32,
    /// Page size.
    pub size: u32,
    /// Whether to count every match (`total`); `false` answers `-1`.
    pub count: bool,
}

impl Store {
    /// One page of resources plus the total count of matches.
    #[tracing::instrument(name = "store.list", skip_all, fields(kind = %query.kind, page = query.page, size = query.size))]
    pub async fn list(&self, query: &ListQuery) -> Result<(Vec<Resource>, i64), StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only").execute(&mut *tx).await?;

        let offset = i64::from(query.page - 1) * i64::from(query.size);
        let total = if query.count {
            let mut count = QueryBuilder::<Postgres>::new("select count(*) from resources r");
            push_where(&mut count, query)?;
            let total: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;
            if offset >= total {
                return Ok((Vec::new(), total));
            }
            total
        } else {
            -1
        };
        let mut select =
            QueryBuilder::<Postgres>::new(concat!("select ", resource_columns!(), " from resources r"));
        push_where(&mut select, query)?;
        push_order(&mut select, &query.order);
        select.push(" limit ").push_bind(i64::from(query.size)).push(" offset ").push_bind(offset);
        let rows: Vec<ResourceRow> = select.build_query_as().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let items = rows.into_iter().map(Resource::try_from).collect::<Result<_, _>>()?;
        Ok((items, total))
    }
}

fn push_where(qb: &mut QueryBuilder<Postgres>, query: &ListQuery) -> Result<(), StoreError> {
    qb.push(" where r.kind = ").push_bind(query.kind.as_str());
    if let Some(owner) = query.owner {
        qb.push(" and r.owner_id = ").push_bind(owner);
    }
    if let Some(after) = query.after {
        qb.push(" and r.id > ").push_bind(after);
    }
    if let Some(filter) = &query.filter {
        qb.push(" and ");
        push_filter(qb, filter)?;
    }
    Ok(())
}

fn push_order(qb: &mut QueryBuilder<Postgres>, order: &[OrderBy]) {
    const DEFAULT: &[OrderBy] = &[OrderBy { column: "r.created_time", descending: true }];
    let order = if order.is_empty() { DEFAULT } else { order };
    qb.push(" order by ");
    for term in order {
        qb.push(term.column).push(if term.descending { " desc, " } else { " asc, " });
    }
    // A unique tie-break keeps pages stable when the ordered column has duplicates.
    qb.push("r.id desc");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_terms_parse_with_default_direction() {
        let order = parse_order("name, created_time DESC").unwrap();
        assert_eq!(
            order,
            [
                OrderBy { column: "r.name", descending: false },
                OrderBy { column: "r.created_time", descending: true }
            ]
        );
    }

    #[test]
    fn order_rejects_unknown_columns_and_injection() {
        assert!(parse_order("password").unwrap_err().contains("cannot order by 'password'"));
        assert!(parse_order("name; drop table resources").unwrap_err().contains("invalid order term"));
        assert!(parse_order("name;drop").unwrap_err().contains("cannot order by 'name;drop'"));
        assert!(parse_order("name sideways").unwrap_err().contains("invalid order direction"));
        assert!(parse_order("name asc desc").unwrap_err().contains("invalid order term"));
        assert!(parse_order("name,").unwrap_err().contains("invalid order term"));
    }
}
