use sqlx::{Postgres, QueryBuilder};

use super::*;

fn sql_for(search: &str) -> Result<String, SearchError> {
    let expr = parse_search(search)?;
    let mut qb = QueryBuilder::<Postgres>::new("");
    push_filter(&mut qb, &expr)?;
    Ok(qb.into_string())
}

fn field(name: &str, position: usize) -> Field {
    Field { name: name.into(), position }
}

#[test]
fn and_binds_tighter_than_or() {
    let expr = parse("a = 'x' or b = 'y' and c = 'z'").unwrap();
    let Expr::Or(left, right) = expr else { panic!("expected or at the top: {expr:?}") };
    assert!(matches!(*left, Expr::Compare { .. }));
    assert!(matches!(*right, Expr::And(..)));
}

#[test]
fn parentheses_and_not_group() {
    let expr = parse("not (a = 'x' or b = 'y')").unwrap();
    let Expr::Not(inner) = expr else { panic!("expected not") };
    assert!(matches!(*inner, Expr::Or(..)));
}

#[test]
fn literals_of_every_kind() {
    let expr = parse("x in ['it''s', 42, -1.5, true]").unwrap();
    assert_eq!(
        expr,
        Expr::In {
            field: field("x", 0),
            values: vec![
                Literal::String("it's".into()),
                Literal::Int(42),
                Literal::Float(-1.5),
                Literal::Bool(true)
            ],
            negated: false,
        }
    );
}

#[test]
fn keywords_are_case_insensitive_and_label_keys_keep_dots_and_slashes() {
    let expr = parse("labels.app.kubernetes.io/name NOT IN ['a'] AND deleted_time IS NOT NULL").unwrap();
    let Expr::And(left, right) = expr else { panic!("expected and") };
    assert!(
        matches!(*left, Expr::In { ref field, negated: true, .. } if field.name == "labels.app.kubernetes.io/name")
    );
    assert!(matches!(*right, Expr::IsNull { negated: true, .. }));
}

#[test]
fn syntax_errors_say_where_and_what() {
    let cases = [
        ("name = ", 7, "expected a value"),
        ("name 'x'", 5, "expected an operator"),
        ("name = 'x", 7, "unterminated string"),
        ("(name = 'x'", 11, "expected `)`"),
        ("name = 'x' name = 'y'", 11, "expected `and`"),
        ("name in 'x'", 8, "expected `[`"),
        ("name = 'x' ; drop table resources", 11, "unexpected character `;`"),
        ("= 'x'", 0, "expected a field name"),
        ("and = 'x'", 0, "expected a field name"),
        ("name is 'x'", 8, "expected `null`"),
        ("", 0, "empty expression"),
    ];
    for (input, position, message) in cases {
        let err = parse_search(input).unwrap_err();
        assert_eq!(err.position, position, "{input}: {err}");
        assert!(err.message.contains(message), "{input}: {err}");
    }
}

#[test]
fn too_long_expressions_are_rejected() {
    let long = format!("name = '{}'", "x".repeat(MAX_SEARCH_LEN));
    assert!(parse_search(&long).unwrap_err().message.contains("longer than"));
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
        ("labels.region != 'eu'", "(not r.labels @> $1::jsonb)"),
        ("labels.region is not null", "(r.labels ? $1)"),
        ("spec.region = 'eu'", "(r.spec #>> $1 = $2)"),
        (
            "spec.nodes.count > 3",
            "((case when jsonb_typeof(r.spec #> $1) = 'number' then (r.spec #>> $2)::numeric end) > $3::numeric)",
        ),
        ("spec.ha = true", "(r.spec #> $1 = $2::jsonb)"),
        (
            "status.conditions.Reconciled = 'True'",
            "(exists (select 1 from resource_conditions c where c.resource_id = r.id and c.type = $1 and c.status = $2))",
        ),
        (
            "status.conditions.Reconciled.last_updated_time < '2026-01-01T00:00:00Z'",
            "(exists (select 1 from resource_conditions c where c.resource_id = r.id and c.type = $1 and c.last_updated_time < $2))",
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
