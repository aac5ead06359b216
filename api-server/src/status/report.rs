//! Whether an adapter's report is stored, discarded (204) or rejected (400), and what is stored.
//! The discard rules make PUT idempotent and order-insensitive: a re-delivered or late report
//! never overwrites a newer one.

use std::{collections::HashSet, sync::LazyLock};

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use hyperfleet_api_model::{
    AdapterCondition, AdapterStatus, ConditionStatus, FieldError, problem::Constraint,
    status::MANDATORY_CONDITIONS, status::StatusReport,
};

/// How far ahead of the server's clock an `observed_time` may be.
pub const MAX_CLOCK_AHEAD: Duration = Duration::minutes(5);
/// How far behind the server's clock an `observed_time` may be.
pub const MAX_CLOCK_BEHIND: Duration = Duration::minutes(30);

/// An adapter name: 1-63 lower-case alphanumerics and `-`, alphanumeric at both ends.
pub const ADAPTER_NAME_PATTERN: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";
/// A condition type: PascalCase, at most 100 characters.
pub const CONDITION_TYPE_PATTERN: &str = "^[A-Z][A-Za-z0-9]{0,99}$";
/// Longest condition reason.
pub const MAX_REASON_LEN: usize = 256;
/// Longest condition message.
pub const MAX_MESSAGE_LEN: usize = 4096;

#[allow(clippy::expect_used)] // constant patterns, exercised by the tests
static ADAPTER_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(ADAPTER_NAME_PATTERN).expect("valid regex"));
#[allow(clippy::expect_used)]
static PASCAL_CASE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(CONDITION_TYPE_PATTERN).expect("valid regex"));

/// What happens to a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Not stored (204); the reason is logged.
    Discard(&'static str),
    /// Stored as this row (201).
    Store(AdapterStatus),
}

fn field_error(field: String, constraint: Constraint, message: impl Into<String>) -> FieldError {
    FieldError { field, value: None, constraint: Some(constraint), message: message.into() }
}

/// Checks what is wrong with a report regardless of stored state; returns the effective
/// `observed_time` (the server's `now` when the adapter sent none).
pub fn validate_shape(report: &StatusReport, now: DateTime<Utc>) -> Result<DateTime<Utc>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !ADAPTER_NAME.is_match(&report.adapter) {
        let message =
            "adapter names are 1-63 lower-case letters, digits and '-', starting and ending alphanumeric";
        errors.push(field_error("adapter".into(), Constraint::Pattern, message));
    }
    if report.observed_generation < 1 {
        errors.push(field_error("observed_generation".into(), Constraint::Min, "must be at least 1"));
    }
    let observed_time = report.observed_time.unwrap_or(now);
    let bound = if observed_time > now + MAX_CLOCK_AHEAD {
        Some(Constraint::Max)
    } else if observed_time < now - MAX_CLOCK_BEHIND {
        Some(Constraint::Min)
    } else {
        None
    };
    if let Some(bound) = bound {
        let message =
            format!("must lie within 30 minutes before and 5 minutes after the server time ({now})");
        errors.push(field_error("observed_time".into(), bound, message));
    }
    let mut seen = HashSet::new();
    for (i, condition) in report.conditions.iter().enumerate() {
        if !PASCAL_CASE.is_match(&condition.type_) {
            errors.push(field_error(
                format!("conditions.{i}.type"),
                Constraint::Pattern,
                "condition types are PascalCase",
            ));
        } else if !seen.insert(condition.type_.as_str()) {
            errors.push(field_error(
                format!("conditions.{i}.type"),
                Constraint::Unique,
                "condition type repeated",
            ));
        }
        if condition.reason.as_ref().is_some_and(|r| r.len() > MAX_REASON_LEN) {
            errors.push(field_error(
                format!("conditions.{i}.reason"),
                Constraint::MaxLength,
                format!("at most {MAX_REASON_LEN} characters"),
            ));
        }
        if condition.message.as_ref().is_some_and(|m| m.len() > MAX_MESSAGE_LEN) {
            errors.push(field_error(
                format!("conditions.{i}.message"),
                Constraint::MaxLength,
                format!("at most {MAX_MESSAGE_LEN} characters"),
            ));
        }
        for (field, text) in [("reason", &condition.reason), ("message", &condition.message)] {
            if text.as_deref().is_some_and(|t| t.contains('\0')) {
                errors.push(field_error(format!("conditions.{i}.{field}"), Constraint::Format, NUL_MESSAGE));
            }
        }
    }
    for (field, value) in [("data", &report.data), ("metadata", &report.metadata)] {
        check_document(field, value.as_ref(), &mut errors);
    }
    if errors.is_empty() { Ok(observed_time) } else { Err(errors) }
}

const NUL_MESSAGE: &str = "NUL characters are not allowed";

/// `data` and `metadata`: absent, null or an object, with no NUL in any key or string (PostgreSQL
/// cannot store one, and our own response schema says object).
fn check_document(field: &str, value: Option<&serde_json::Value>, errors: &mut Vec<FieldError>) {
    match value {
        None | Some(serde_json::Value::Null) => {}
        Some(document @ serde_json::Value::Object(_)) => {
            if let Some(path) = crate::validate::nul_path(document, field) {
                errors.push(field_error(path, Constraint::Format, NUL_MESSAGE));
            }
        }
        Some(_) => errors.push(field_error(field.to_owned(), Constraint::Format, "must be an object")),
    }
}

/// Decides a shape-valid report against the adapter's stored row and the resource's generation.
pub fn decide(
    report: &StatusReport,
    observed_time: DateTime<Utc>,
    existing: Option<&AdapterStatus>,
    generation: i64,
) -> Result<Decision, Vec<FieldError>> {
    if report.observed_generation > generation {
        return Ok(Decision::Discard("observed_generation is ahead of the resource"));
    }
    if let Some(existing) = existing {
        if existing.observed_generation > report.observed_generation {
            return Ok(Decision::Discard("a report for a newer generation is stored"));
        }
        if existing.observed_generation == report.observed_generation
            && observed_time < existing.last_report_time
        {
            return Ok(Decision::Discard("a newer report for this generation is stored"));
        }
        let available = report.conditions.iter().find(|c| c.type_ == "Available");
        if available.is_some_and(|c| c.status == ConditionStatus::Unknown) {
            return Ok(Decision::Discard("only the first report with Available=Unknown is kept"));
        }
    }
    let missing: Vec<FieldError> = MANDATORY_CONDITIONS
        .iter()
        .filter(|t| !report.conditions.iter().any(|c| c.type_ == **t))
        .map(|t| {
            field_error("conditions".into(), Constraint::Required, format!("condition {t} is mandatory"))
        })
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(Decision::Store(stored_row(report, observed_time, existing)))
}

fn stored_row(
    report: &StatusReport,
    observed_time: DateTime<Utc>,
    existing: Option<&AdapterStatus>,
) -> AdapterStatus {
    let conditions = report
        .conditions
        .iter()
        .map(|c| {
            let unchanged = existing
                .and_then(|e| e.conditions.iter().find(|p| p.type_ == c.type_))
                .filter(|p| p.status == c.status);
            AdapterCondition {
                type_: c.type_.clone(),
                status: c.status,
                reason: c.reason.clone(),
                message: c.message.clone(),
                last_transition_time: unchanged.map_or(observed_time, |p| p.last_transition_time),
            }
        })
        .collect();
    AdapterStatus {
        adapter: report.adapter.clone(),
        observed_generation: report.observed_generation,
        conditions,
        data: report.data.clone(),
        metadata: report.metadata.clone(),
        created_time: existing.map_or(observed_time, |e| e.created_time),
        last_report_time: observed_time,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use hyperfleet_api_model::ReportedCondition;

    use super::*;
    use ConditionStatus::{False, True, Unknown};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    fn report(generation: i64, minutes: i64, available: ConditionStatus) -> StatusReport {
        let condition = |type_: &str, status| ReportedCondition {
            type_: type_.into(),
            status,
            reason: None,
            message: None,
        };
        StatusReport {
            adapter: "dns".into(),
            observed_generation: generation,
            observed_time: Some(now() + Duration::minutes(minutes)),
            conditions: vec![
                condition("Applied", True),
                condition("Available", available),
                condition("Health", True),
            ],
            data: None,
            metadata: None,
        }
    }

    fn stored(r: &StatusReport, existing: Option<&AdapterStatus>, generation: i64) -> AdapterStatus {
        match decide(r, r.observed_time.unwrap(), existing, generation).unwrap() {
            Decision::Store(row) => row,
            Decision::Discard(why) => panic!("discarded: {why}"),
        }
    }

    #[test]
    fn every_discard_rule() {
        let row = stored(&report(2, 0, True), None, 3);
        let discard = |r: StatusReport| decide(&r, r.observed_time.unwrap(), Some(&row), 3).unwrap();
        assert!(matches!(discard(report(4, 1, True)), Decision::Discard(w) if w.contains("ahead")));
        assert!(
            matches!(discard(report(1, 1, True)), Decision::Discard(w) if w.contains("newer generation"))
        );
        assert!(matches!(discard(report(2, -1, True)), Decision::Discard(w) if w.contains("newer report")));
        assert!(matches!(discard(report(3, 1, Unknown)), Decision::Discard(w) if w.contains("Unknown")));
        assert!(matches!(discard(report(2, 0, False)), Decision::Store(_)), "same time is not older");
        let mut missing = report(1, 1, True);
        missing.conditions.truncate(1);
        assert!(
            matches!(discard(missing), Decision::Discard(_)),
            "stale reports are discarded before validation"
        );
    }

    #[test]
    fn first_unknown_is_kept_and_mandatory_conditions_enforced() {
        assert!(matches!(decide(&report(1, 0, Unknown), now(), None, 1), Ok(Decision::Store(_))));
        let mut missing = report(1, 0, True);
        missing.conditions.retain(|c| c.type_ == "Available");
        let errors = decide(&missing, now(), None, 1).unwrap_err();
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["condition Applied is mandatory", "condition Health is mandatory"]);
    }

    #[test]
    fn transition_times_carry_over_while_status_holds() {
        let first = stored(&report(1, 0, False), None, 1);
        let same = stored(&report(1, 1, False), Some(&first), 1);
        assert_eq!(same.conditions[1].last_transition_time, now());
        assert_eq!(same.created_time, now());
        let flipped = stored(&report(1, 2, True), Some(&same), 1);
        assert_eq!(flipped.conditions[1].last_transition_time, now() + Duration::minutes(2));
        assert_eq!(flipped.last_report_time, now() + Duration::minutes(2));
    }

    #[test]
    fn shape_errors_name_the_field() {
        let mut bad = report(0, 10, True);
        bad.adapter = "DNS!".into();
        bad.conditions.push(bad.conditions[0].clone());
        bad.conditions[1].type_ = "available".into();
        let errors = validate_shape(&bad, now()).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["adapter", "observed_generation", "observed_time", "conditions.1.type", "conditions.3.type"]
        );
        assert_eq!(validate_shape(&report(1, -29, True), now()).unwrap(), now() - Duration::minutes(29));
        let mut untimed = report(1, 0, True);
        untimed.observed_time = None;
        assert_eq!(validate_shape(&untimed, now()).unwrap(), now(), "server time when absent");
    }
}
