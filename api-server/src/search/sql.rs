//! Translates a search [`Expr`] into SQL over `resources r` (and `resource_conditions`), pushing
//! every value through `QueryBuilder::push_bind`: user text never becomes SQL text. Field names
//! are matched against a fixed list; label keys, spec paths and condition types travel as binds.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use super::{CompareOp, Expr, Field, Literal, SearchError};

/// What a field name refers to.
enum Target<'a> {
    Column {
        sql: &'static str,
        ty: ColumnType,
    },
    /// A condition field mirrored on the resource row: NULL when the condition is missing.
    Mirrored {
        sql: &'static str,
        ty: ColumnType,
    },
    Label(&'a str),
    Spec(Vec<String>),
    Condition {
        type_: &'a str,
        sub: ConditionField,
    },
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Text,
    Uuid,
    Int,
    Time,
    /// `True`, `False` or `Unknown`; compared with `=`, `!=` and `in` only.
    Status,
}

#[derive(Clone, Copy)]
enum ConditionField {
    Status,
    Column(&'static str, ColumnType),
}

const COLUMNS: &[(&str, &str, ColumnType)] = &[
    ("id", "r.id", ColumnType::Uuid),
    ("name", "r.name", ColumnType::Text),
    ("kind", "r.kind", ColumnType::Text),
    ("generation", "r.generation", ColumnType::Int),
    ("owner_id", "r.owner_id", ColumnType::Uuid),
    ("created_by", "r.created_by", ColumnType::Text),
    ("updated_by", "r.updated_by", ColumnType::Text),
    ("deleted_by", "r.deleted_by", ColumnType::Text),
    ("created_time", "r.created_time", ColumnType::Time),
    ("updated_time", "r.updated_time", ColumnType::Time),
    ("deleted_time", "r.deleted_time", ColumnType::Time),
    ("status.phase", "r.phase", ColumnType::Text),
];

const CONDITION_FIELDS: &[(&str, &str, ColumnType)] = &[
    ("reason", "c.reason", ColumnType::Text),
    ("observed_generation", "c.observed_generation", ColumnType::Int),
    ("created_time", "c.created_time", ColumnType::Time),
    ("last_updated_time", "c.last_updated_time", ColumnType::Time),
    ("last_transition_time", "c.last_transition_time", ColumnType::Time),
];

/// Condition fields mirrored on `resources` (migration 0003), answered from the row itself so
/// that an OR over them is index-backed. A missing condition is a NULL column, which compares
/// and tests exactly as the EXISTS form over `resource_conditions` does.
const MIRRORED_CONDITION_FIELDS: &[(&str, Option<&str>, &str, ColumnType)] = &[
    ("Reconciled", None, "r.reconciled_status", ColumnType::Status),
    ("Reconciled", Some("last_updated_time"), "r.reconciled_time", ColumnType::Time),
];

/// Appends the SQL for `expr` (wrapped in parentheses) to `qb`.
pub fn push_filter(qb: &mut QueryBuilder<Postgres>, expr: &Expr) -> Result<(), SearchError> {
    qb.push("(");
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            push_filter(qb, a)?;
            qb.push(if matches!(expr, Expr::And(..)) { " and " } else { " or " });
            push_filter(qb, b)?;
        }
        Expr::Not(inner) => {
            qb.push("not ");
            push_filter(qb, inner)?;
        }
        Expr::Compare { field, op, value } => push_compare(qb, field, *op, value)?,
        Expr::In { field, values, negated } => push_in(qb, field, values, *negated)?,
        Expr::IsNull { field, negated } => push_is_null(qb, field, *negated)?,
    }
    qb.push(")");
    Ok(())
}

fn resolve(field: &Field) -> Result<Target<'_>, SearchError> {
    let name = field.name.as_str();
    if let Some(&(_, sql, ty)) = COLUMNS.iter().find(|(n, ..)| *n == name) {
        return Ok(Target::Column { sql, ty });
    }
    if let Some(key) = name.strip_prefix("labels.") {
        return match key {
            "" => Err(SearchError::at(field.position, "`labels.` needs a label key")),
            key => Ok(Target::Label(key)),
        };
    }
    if let Some(path) = name.strip_prefix("spec.") {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            return Err(SearchError::at(field.position, "empty segment in spec path"));
        }
        return Ok(Target::Spec(segments));
    }
    if let Some(rest) = name.strip_prefix("status.conditions.") {
        return resolve_condition(field, rest);
    }
    Err(SearchError::at(
        field.position,
        format!(
            "unknown field `{name}`; searchable: {}, labels.<key>, spec.<path>, \
             status.conditions.<Type>[.<field>]",
            COLUMNS.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(", ")
        ),
    ))
}

fn resolve_condition<'a>(field: &Field, rest: &'a str) -> Result<Target<'a>, SearchError> {
    let (type_, sub) = rest.split_once('.').map_or((rest, None), |(t, s)| (t, Some(s)));
    let sub_name = sub.filter(|s| *s != "status");
    if let Some(&(.., sql, ty)) =
        MIRRORED_CONDITION_FIELDS.iter().find(|(t, s, ..)| *t == type_ && *s == sub_name)
    {
        return Ok(Target::Mirrored { sql, ty });
    }
    let pascal = type_.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && type_.chars().all(|c| c.is_ascii_alphanumeric());
    if !pascal {
        return Err(SearchError::at(field.position, "condition types are PascalCase, e.g. `Reconciled`"));
    }
    let sub = match sub {
        None | Some("status") => ConditionField::Status,
        Some(sub) => match CONDITION_FIELDS.iter().find(|(n, ..)| *n == sub) {
            Some(&(_, sql, ty)) => ConditionField::Column(sql, ty),
            None => {
                return Err(SearchError::at(
                    field.position,
                    format!(
                        "unknown condition field `{sub}`; use status, {}",
                        CONDITION_FIELDS.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        },
    };
    Ok(Target::Condition { type_, sub })
}

fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Eq => " = ",
        CompareOp::Ne => " <> ",
        CompareOp::Lt => " < ",
        CompareOp::Le => " <= ",
        CompareOp::Gt => " > ",
        CompareOp::Ge => " >= ",
        CompareOp::Like => " like ",
        CompareOp::ILike => " ilike ",
    }
}

fn push_compare(
    qb: &mut QueryBuilder<Postgres>,
    field: &Field,
    op: CompareOp,
    value: &Literal,
) -> Result<(), SearchError> {
    match resolve(field)? {
        Target::Column { sql, ty } => {
            check_op(field, op, ty)?;
            qb.push(sql).push(sql_op(op));
            push_typed(qb, field, ty, value)
        }
        // Two-valued, as EXISTS is: a missing condition compares false, so `not` selects it.
        Target::Mirrored { sql, ty } => {
            check_op(field, op, ty)?;
            qb.push(sql).push(sql_op(op));
            push_typed(qb, field, ty, value)?;
            qb.push(" and ").push(sql).push(" is not null");
            Ok(())
        }
        Target::Label(key) => push_label_compare(qb, field, key, op, value),
        Target::Spec(path) => push_spec_compare(qb, field, path, op, value),
        Target::Condition { type_, sub } => {
            push_condition_open(qb, type_, false);
            match sub {
                ConditionField::Status => {
                    check_equality(field, op)?;
                    qb.push("c.status").push(sql_op(op));
                    qb.push_bind(condition_status(field, value)?);
                }
                ConditionField::Column(sql, ty) => {
                    check_op(field, op, ty)?;
                    qb.push(sql).push(sql_op(op));
                    push_typed(qb, field, ty, value)?;
                }
            }
            qb.push(")");
            Ok(())
        }
    }
}

fn check_op(field: &Field, op: CompareOp, ty: ColumnType) -> Result<(), SearchError> {
    let pattern = matches!(op, CompareOp::Like | CompareOp::ILike);
    // Ordering works on every type; on UUIDs too, since UUIDv7 ids sort by creation and
    // `id > '<last id>'` pages through a large list cheaply.
    if ty == ColumnType::Status {
        check_equality(field, op)
    } else if ty == ColumnType::Text || !pattern {
        Ok(())
    } else {
        Err(SearchError::at(field.position, format!("operator not supported on `{}`", field.name)))
    }
}

fn check_equality(field: &Field, op: CompareOp) -> Result<(), SearchError> {
    match op {
        CompareOp::Eq | CompareOp::Ne => Ok(()),
        _ => Err(SearchError::at(field.position, format!("`{}` supports only = and !=", field.name))),
    }
}

fn push_typed(
    qb: &mut QueryBuilder<Postgres>,
    field: &Field,
    ty: ColumnType,
    value: &Literal,
) -> Result<(), SearchError> {
    match ty {
        ColumnType::Text => qb.push_bind(text(field, value)?),
        ColumnType::Uuid => qb.push_bind(uuid(field, value)?),
        ColumnType::Int => qb.push_bind(int(field, value)?),
        ColumnType::Time => qb.push_bind(time(field, value)?),
        ColumnType::Status => qb.push_bind(condition_status(field, value)?),
    };
    Ok(())
}

fn push_label_compare(
    qb: &mut QueryBuilder<Postgres>,
    field: &Field,
    key: &str,
    op: CompareOp,
    value: &Literal,
) -> Result<(), SearchError> {
    let value = text(field, value)?;
    match op {
        // Containment is what the GIN index on labels serves.
        CompareOp::Eq => {
            qb.push("r.labels @> ").push_bind(serde_json::json!({ key: value })).push("::jsonb");
        }
        // As in the reference API, `k != v` compares an existing value: a resource without the
        // label does not match (`labels.k is null or labels.k != 'v'` asks for both).
        _ => {
            qb.push("r.labels ->> ").push_bind(key.to_owned()).push(sql_op(op)).push_bind(value);
        }
    }
    Ok(())
}

fn push_spec_compare(
    qb: &mut QueryBuilder<Postgres>,
    field: &Field,
    path: Vec<String>,
    op: CompareOp,
    value: &Literal,
) -> Result<(), SearchError> {
    match value {
        Literal::String(s) => {
            qb.push("r.spec #>> ").push_bind(path).push(sql_op(op)).push_bind(s.clone());
        }
        Literal::Int(_) | Literal::Float(_) => {
            check_op(field, op, ColumnType::Int)?;
            // The CASE keeps non-numeric values from reaching the cast (which would fail the query).
            qb.push("(case when jsonb_typeof(r.spec #> ").push_bind(path.clone());
            qb.push(") = 'number' then (r.spec #>> ").push_bind(path).push(")::numeric end)");
            qb.push(sql_op(op));
            match *value {
                Literal::Float(f) => qb.push_bind(f),
                _ => qb.push_bind(int(field, value)?),
            };
            qb.push("::numeric");
        }
        Literal::Bool(b) => {
            check_equality(field, op)?;
            qb.push("r.spec #> ").push_bind(path).push(sql_op(op));
            qb.push_bind(serde_json::Value::Bool(*b)).push("::jsonb");
        }
    }
    Ok(())
}

fn push_condition_open(qb: &mut QueryBuilder<Postgres>, type_: &str, negated: bool) {
    qb.push(if negated { "not exists" } else { "exists" });
    qb.push(" (select 1 from resource_conditions c where c.resource_id = r.id and c.type = ");
    qb.push_bind(type_.to_owned());
    qb.push(" and ");
}

fn push_in(
    qb: &mut QueryBuilder<Postgres>,
    field: &Field,
    values: &[Literal],
    negated: bool,
) -> Result<(), SearchError> {
    if negated {
        qb.push("not ");
    }
    match resolve(field)? {
        Target::Column { sql, ty } | Target::Mirrored { sql, ty } => {
            qb.push("coalesce(").push(sql).push(" = any(");
            push_typed_array(qb, field, ty, values)?;
            qb.push("), false)");
        }
        Target::Label(key) => {
            qb.push("coalesce(r.labels ->> ").push_bind(key.to_owned()).push(" = any(");
            push_typed_array(qb, field, ColumnType::Text, values)?;
            qb.push("), false)");
        }
        Target::Spec(path) => {
            qb.push("coalesce(r.spec #>> ").push_bind(path).push(" = any(");
            push_typed_array(qb, field, ColumnType::Text, values)?;
            qb.push("), false)");
        }
        Target::Condition { type_, sub } => {
            push_condition_open(qb, type_, false);
            match sub {
                ConditionField::Status => {
                    let statuses =
                        values.iter().map(|v| condition_status(field, v)).collect::<Result<Vec<_>, _>>()?;
                    qb.push("c.status = any(").push_bind(statuses);
                }
                ConditionField::Column(sql, ty) => {
                    qb.push(sql).push(" = any(");
                    push_typed_array(qb, field, ty, values)?;
                }
            }
            qb.push("))");
        }
    }
    Ok(())
}

fn push_typed_array(
    qb: &mut QueryBuilder<Postgres>,
    field: &Field,
    ty: ColumnType,
    values: &[Literal],
) -> Result<(), SearchError> {
    fn all<T>(
        values: &[Literal],
        f: impl Fn(&Literal) -> Result<T, SearchError>,
    ) -> Result<Vec<T>, SearchError> {
        values.iter().map(f).collect()
    }
    match ty {
        ColumnType::Text => qb.push_bind(all(values, |v| text(field, v))?),
        ColumnType::Uuid => qb.push_bind(all(values, |v| uuid(field, v))?),
        ColumnType::Int => qb.push_bind(all(values, |v| int(field, v))?),
        ColumnType::Time => qb.push_bind(all(values, |v| time(field, v))?),
        ColumnType::Status => qb.push_bind(all(values, |v| condition_status(field, v))?),
    };
    Ok(())
}

fn push_is_null(qb: &mut QueryBuilder<Postgres>, field: &Field, negated: bool) -> Result<(), SearchError> {
    let not = if negated { "not " } else { "" };
    match resolve(field)? {
        Target::Column { sql, .. } | Target::Mirrored { sql, .. } => {
            qb.push(sql).push(" is ").push(not).push("null");
        }
        Target::Label(key) => {
            qb.push(if negated { "" } else { "not " });
            qb.push("r.labels ? ").push_bind(key.to_owned());
        }
        Target::Spec(path) => {
            qb.push(not).push("coalesce(jsonb_typeof(r.spec #> ").push_bind(path).push("), 'null') = 'null'");
        }
        Target::Condition { type_, sub: ConditionField::Status } => {
            push_condition_open(qb, type_, !negated);
            qb.push("true)");
        }
        // A field of a missing condition is null, as a missing label is.
        Target::Condition { type_, sub: ConditionField::Column(sql, _) } => {
            push_condition_open(qb, type_, !negated);
            qb.push(sql).push(" is not null)");
        }
    }
    Ok(())
}

fn text(field: &Field, value: &Literal) -> Result<String, SearchError> {
    match value {
        Literal::String(s) => Ok(s.clone()),
        _ => Err(SearchError::at(field.position, format!("`{}` takes a 'quoted string'", field.name))),
    }
}

fn uuid(field: &Field, value: &Literal) -> Result<Uuid, SearchError> {
    Uuid::parse_str(&text(field, value)?)
        .map_err(|_| SearchError::at(field.position, format!("`{}` takes a UUID", field.name)))
}

fn int(field: &Field, value: &Literal) -> Result<i64, SearchError> {
    match value {
        Literal::Int(i) => Ok(*i),
        _ => Err(SearchError::at(field.position, format!("`{}` takes an integer", field.name))),
    }
}

fn time(field: &Field, value: &Literal) -> Result<DateTime<Utc>, SearchError> {
    DateTime::parse_from_rfc3339(&text(field, value)?).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        SearchError::at(
            field.position,
            format!("`{}` takes an RFC 3339 time, e.g. '2026-01-02T15:04:05Z'", field.name),
        )
    })
}

fn condition_status(field: &Field, value: &Literal) -> Result<String, SearchError> {
    match text(field, value)?.as_str() {
        s @ ("True" | "False" | "Unknown") => Ok(s.to_owned()),
        _ => Err(SearchError::at(field.position, "condition status is 'True', 'False' or 'Unknown'")),
    }
}
