//! What an adapter reports for one event: the default conditions from what happened (a
//! verdict), optionally overridden by the config's CEL `status` rules. Applied, Available and
//! Health are always present (the API requires them); Finalized is added while the resource is
//! being deleted.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use hyperfleet_api_model::{ConditionStatus, ReportedCondition};

use super::{
    job::{JobState, job_state},
    plan::PlannedRule,
};
use crate::cel::CelError;

/// The `reason` of a condition the adapter reports by default (PascalCase on the wire; a
/// config's status rules may write any reason of their own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[allow(missing_docs)] // the names say it; `Verdict` and `default_conditions` say when
pub enum Reason {
    PreconditionsNotMet,
    DependenciesNotMet,
    LookupFailed,
    ParamsFailed,
    TemplateFailed,
    ExpressionFailed,
    ExecutionFailed,
    NotOwned,
    MaestroConsumerUnknown,
    StatusRuleFailed,
    NoErrors,
    ResourcesApplied,
    ResourcesMissing,
    ResourcesDeleted,
    JobCreated,
    JobMissing,
    JobRunning,
    JobCannotStart,
    JobSucceeded,
    JobFailed,
    Deleting,
}

impl Reason {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What came of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A precondition or dependency does not hold; nothing was done.
    NotMet {
        /// `PreconditionsNotMet` or `DependenciesNotMet`.
        reason: Reason,
        /// Which one, and why.
        message: String,
    },
    /// The adapter could not do its work (bad params, bad template output, refused manifest).
    Failed {
        /// `LookupFailed`, `ParamsFailed`, `TemplateFailed`, `ExpressionFailed`, `ExecutionFailed`,
        /// `StatusRuleFailed`.
        reason: Reason,
        /// What went wrong.
        message: String,
    },
    /// The work was done; this is what exists now.
    Acted(Observed),
}

/// The objects after acting.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Whether the config has a Job at all.
    pub has_job: bool,
    /// The Job as read back.
    pub job: Option<Value>,
    /// Whether this event created the Job.
    pub job_created: bool,
    /// Why the Job cannot start (its pods are refused), when it is running without any.
    pub job_cannot_start: Option<String>,
    /// A finished Job's result as its program wrote it (its pod's termination message).
    pub job_message: Option<String>,
    /// Each managed resource found, by entry name.
    pub resources: BTreeMap<String, Value>,
    /// Entries that should exist (not deleted by lifecycle rules).
    pub expected: usize,
    /// The resource is being deleted (everything was deleted instead of applied).
    pub deleting: bool,
}

/// How long an identical report of done work is not sent again.
const REPEAT_AFTER: chrono::Duration = chrono::Duration::seconds(60);

/// Whether the adapter's stored status already says what `report` says (generation,
/// conditions, data, metadata), so sending it again would only refresh its time: always for
/// a wait (`waiting`), for done work only while the stored report is recent.
pub fn already_reported(
    statuses: &[hyperfleet_api_model::AdapterStatus],
    report: &hyperfleet_api_model::StatusReport,
    waiting: bool,
) -> bool {
    let Some(stored) = statuses.iter().find(|status| status.adapter == report.adapter) else { return false };
    let mut sent: Vec<_> =
        report.conditions.iter().map(|c| (&c.type_, c.status.as_str(), &c.reason, &c.message)).collect();
    let mut kept: Vec<_> =
        stored.conditions.iter().map(|c| (&c.type_, c.status.as_str(), &c.reason, &c.message)).collect();
    sent.sort();
    kept.sort();
    let recent = report.observed_time.is_some_and(|now| now - stored.last_report_time < REPEAT_AFTER);
    (waiting || recent)
        && stored.observed_generation == report.observed_generation
        && sent == kept
        && stored.data == report.data
        && stored.metadata == report.metadata
}

fn condition(type_: &str, status: bool, reason: Reason, message: impl Into<String>) -> ReportedCondition {
    let message = message.into();
    ReportedCondition {
        type_: type_.to_owned(),
        status: if status { ConditionStatus::True } else { ConditionStatus::False },
        reason: Some(reason.as_str().to_owned()),
        message: (!message.is_empty()).then_some(message),
    }
}

/// The built-in conditions for `verdict`.
pub fn default_conditions(verdict: &Verdict) -> Vec<ReportedCondition> {
    match verdict {
        Verdict::NotMet { reason, message } => vec![
            condition("Applied", false, *reason, message.clone()),
            condition("Available", false, *reason, message.clone()),
            condition("Health", true, Reason::NoErrors, ""),
        ],
        Verdict::Failed { reason, message } => vec![
            condition("Applied", false, *reason, message.clone()),
            condition("Available", false, *reason, message.clone()),
            condition("Health", false, *reason, message.clone()),
        ],
        Verdict::Acted(observed) if observed.deleting => finalizing(observed),
        Verdict::Acted(observed) => acted(observed),
    }
}

fn acted(observed: &Observed) -> Vec<ReportedCondition> {
    let resources_ok = observed.resources.len() >= observed.expected;
    let missing = || format!("{} of {} resources found", observed.resources.len(), observed.expected);
    if !observed.has_job {
        return vec![
            condition(
                "Applied",
                resources_ok,
                if resources_ok { Reason::ResourcesApplied } else { Reason::ResourcesMissing },
                if resources_ok { String::new() } else { missing() },
            ),
            condition(
                "Available",
                resources_ok,
                if resources_ok { Reason::ResourcesApplied } else { Reason::ResourcesMissing },
                "",
            ),
            condition("Health", true, Reason::NoErrors, ""),
        ];
    }
    let applied = condition(
        "Applied",
        observed.job.is_some() && resources_ok,
        if observed.job.is_some() { Reason::JobCreated } else { Reason::JobMissing },
        "",
    );
    match job_state(observed.job.as_ref()) {
        JobState::Succeeded => vec![
            applied,
            condition(
                "Available",
                true,
                Reason::JobSucceeded,
                observed.job_message.clone().unwrap_or_default(),
            ),
            condition("Health", true, Reason::NoErrors, ""),
        ],
        JobState::Running | JobState::Missing => match &observed.job_cannot_start {
            Some(why) => vec![
                applied,
                condition("Available", false, Reason::JobCannotStart, why.clone()),
                condition("Health", false, Reason::JobCannotStart, why.clone()),
            ],
            None => vec![
                applied,
                condition("Available", false, Reason::JobRunning, "the Job has not finished"),
                condition("Health", true, Reason::NoErrors, ""),
            ],
        },
        JobState::Failed(message) => {
            let message = observed.job_message.clone().unwrap_or(message);
            vec![
                applied,
                condition("Available", false, Reason::JobFailed, message.clone()),
                condition("Health", false, Reason::JobFailed, message),
            ]
        }
    }
}

fn finalizing(observed: &Observed) -> Vec<ReportedCondition> {
    let gone = observed.job.is_none() && observed.resources.is_empty();
    vec![
        condition("Applied", false, Reason::Deleting, ""),
        condition("Available", false, Reason::Deleting, ""),
        condition("Health", true, Reason::NoErrors, ""),
        condition(
            "Finalized",
            gone,
            if gone { Reason::ResourcesDeleted } else { Reason::Deleting },
            if gone { "" } else { "waiting for the objects to go" },
        ),
    ]
}

/// The conditions as a CEL map (`conditions.Available.status == 'True'`).
pub fn conditions_value(conditions: &[ReportedCondition]) -> Value {
    let map: serde_json::Map<String, Value> = conditions
        .iter()
        .map(|c| (c.type_.clone(), json!({"status": c.status, "reason": c.reason, "message": c.message})))
        .collect();
    Value::Object(map)
}

/// The report's `data` from the config's `data` expressions (`None` when it has none).
pub fn evaluate_data(
    data: &[(String, crate::cel::Expression)],
    variables: &crate::cel::Scope,
) -> Result<Option<Value>, CelError> {
    if data.is_empty() {
        return Ok(None);
    }
    let values = data
        .iter()
        .map(|(key, expression)| Ok((key.clone(), expression.evaluate_in(variables)?)))
        .collect::<Result<serde_json::Map<String, Value>, CelError>>()?;
    Ok(Some(Value::Object(values)))
}

/// Applies the config's status rules over `variables` (which include `conditions`, the
/// defaults): a rule replaces the condition of its type or adds one.
pub fn apply_rules(
    rules: &[PlannedRule],
    variables: &crate::cel::Scope,
    mut conditions: Vec<ReportedCondition>,
) -> Result<Vec<ReportedCondition>, CelError> {
    for rule in rules {
        let status = match rule.status.evaluate_in(variables)? {
            Value::Bool(true) => ConditionStatus::True,
            Value::Bool(false) => ConditionStatus::False,
            Value::String(s) if s == "True" => ConditionStatus::True,
            Value::String(s) if s == "False" => ConditionStatus::False,
            Value::String(s) if s == "Unknown" => ConditionStatus::Unknown,
            other => {
                return Err(CelError::Type {
                    expression: rule.status.source().to_owned(),
                    expected: "a bool or 'True'/'False'/'Unknown'",
                    got: other.to_string(),
                });
            }
        };
        let text = |expression: &Option<crate::cel::Expression>| -> Result<Option<String>, CelError> {
            let Some(expression) = expression else { return Ok(None) };
            Ok(match expression.evaluate_in(variables)? {
                Value::Null => None,
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => Some(s),
                other => Some(other.to_string()),
            })
        };
        let new = ReportedCondition {
            type_: rule.type_.clone(),
            status,
            reason: text(&rule.reason)?,
            message: text(&rule.message)?,
        };
        match conditions.iter_mut().find(|c| c.type_ == rule.type_) {
            Some(existing) => *existing = new,
            None => conditions.push(new),
        }
    }
    Ok(conditions)
}
