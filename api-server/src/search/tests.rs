use sqlx::{Postgres, QueryBuilder};

use super::*;

fn sql_for(search: &str) -> Result<String, SearchError> {
    let expr = parse_search(search)?;
    let mut qb = QueryBuilder::<Postgres>::new("");
    push_filter(&mut qb, &expr)?;
    Ok(qb.into_string())
}

#[test]
fn values_become_bind_parameters_never_sql_text() {
    let sql = sql_for("name = 'x'' or 1=1 --' and labels.region = 'us'';drop table resources'").unwrap();
    assert_eq!(sql, "((r.name = $1) and (r.labels @> $2::jsonb))");
}

#[test]
fn label_key_travels_as_a_bind() {
    let sql = sql_for("labels.tier like 'gold%'").unwrap();
    assert_eq!(sql, "(r.labels ->> $1 like $2)");
}

#[test]
fn every_field_family_translates() {
    let cases = [
        ("generation >= 2", "(r.generation >= $1)"),
        ("status.phase in ['Ready','Failed']", "(coalesce(r.phase = any($1), false))"),
        ("deleted_time is null", "(r.deleted_time is null)"),
        ("labels.region != 'eu'", "(r.labels ->> $1 <> $2)"),
        ("labels.region is not null", "(r.labels ? $1)"),
        ("spec.region = 'eu'", "(r.spec #>> $1 = $2)"),
        (
            "spec.nodes.count > 3",
            "((case when jsonb_typeof(r.spec #> $1) = 'number' then (r.spec #>> $2)::numeric end) > $3::numeric)",
        ),
        ("spec.ha = true", "(r.spec #> $1 = $2::jsonb)"),
        (
            "status.conditions.AvailableSuccessful = 'True'",
            "(exists (select 1 from resource_conditions c where c.resource_id = r.id and c.type = $1 and c.status = $2))",
        ),
        (
            "status.conditions.AvailableSuccessful.last_updated_time < '2026-01-01T00:00:00Z'",
            "(exists (select 1 from resource_conditions c where c.resource_id = r.id and c.type = $1 and c.last_updated_time < $2))",
        ),
        (
            "status.conditions.AvailableSuccessful.reason is null",
            "(not exists (select 1 from resource_conditions c where c.resource_id = r.id and c.type = $1 and c.reason is not null))",
        ),
        // Reconciled is mirrored on the resource row: the due search is one table's OR.
        (
            "status.conditions.Reconciled is null or status.conditions.Reconciled.status = 'False' or \
             status.conditions.Reconciled.last_updated_time <= '2026-01-01T00:00:00Z'",
            "(((r.reconciled_status is null) or (r.reconciled_status = $1 and r.reconciled_status is not null)) \
             or (r.reconciled_time <= $2 and r.reconciled_time is not null))",
        ),
        (
            "status.conditions.Reconciled.reason = 'x'",
            "(exists (select 1 from resource_conditions c where c.resource_id = r.id and c.type = $1 and c.reason = $2))",
        ),
    ];
    for (search, expected) in cases {
        assert_eq!(sql_for(search).unwrap(), expected, "{search}");
    }
}

#[test]
fn meaning_errors_name_the_field() {
    let cases = [
        ("password = 'x'", "unknown field `password`"),
        ("generation = 'two'", "takes an integer"),
        ("created_time < 'yesterday'", "RFC 3339"),
        ("id = 'not-a-uuid'", "takes a UUID"),
        ("id like '0190%'", "operator not supported"),
        ("status.conditions.Reconciled = 'Yes'", "'True', 'False' or 'Unknown'"),
        ("status.conditions.Reconciled > 'True'", "supports only = and !="),
        ("status.conditions.reconciled = 'True'", "PascalCase"),
        ("status.conditions.Reconciled.owner = 'x'", "unknown condition field"),
        ("labels. = 'x'", "needs a label key"),
        ("spec..a = 'x'", "empty segment"),
        ("labels.region = 3", "'quoted string'"),
    ];
    for (search, message) in cases {
        let err = sql_for(search).unwrap_err();
        assert!(err.message.contains(message), "{search}: {err}");
    }
}
