//! Aggregation of adapter reports into `Reconciled`, `LastKnownReconciled` and one
//! `<Adapter>Successful` condition per required adapter, plus `phase`, following the reference
//! API's rules (so its Sentinel and clients read the same signals):
//!
//! - `Reconciled` speaks about the current generation. Its `last_updated_time` is the *oldest*
//!   report time among required adapters that reported at this generation ("valid since"), which
//!   is what the Sentinel's backoff compares against.
//! - `LastKnownReconciled` is sticky: it stays True while adapters move between generations
//!   unless one reports not-available at the generation it vouched for.
//! - `last_transition_time` changes only when `status` flips.

use chrono::{DateTime, Utc};

use hyperfleet_api_model::{AdapterStatus, Condition, ConditionStatus, Phase};

/// The resource being aggregated.
#[derive(Debug, Clone, Copy)]
pub struct Subject {
    /// Current generation.
    pub generation: i64,
    /// Last change of spec, labels or deletion state.
    pub updated_time: DateTime<Utc>,
    /// Whether deletion was requested.
    pub deleting: bool,
    /// Child resources still present (live or deleting).
    pub children: i64,
}

/// The aggregate written back to the resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Conditions in display order.
    pub conditions: Vec<Condition>,
    /// Summary for people.
    pub phase: Phase,
    /// Deletion is complete: every required adapter finalized and no children remain, so the
    /// row can go.
    pub finalized: bool,
}

impl Aggregate {
    /// Whether `Reconciled` is True.
    pub fn reconciled(&self) -> bool {
        self.reconciled_condition().is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// The `Reconciled` condition, absent when the kind requires no adapter.
    pub fn reconciled_condition(&self) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == RECONCILED)
    }
}

const RECONCILED: &str = "Reconciled";
const LAST_KNOWN_RECONCILED: &str = "LastKnownReconciled";
use ConditionStatus::{False, True};

/// `dns` -> `DnsSuccessful`, `my-adapter` -> `MyAdapterSuccessful`.
pub fn successful_type(adapter: &str) -> String {
    let mut name: String = adapter
        .split(['-', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Successful");
    name
}

fn condition_of(report: &AdapterStatus, type_: &str) -> Option<ConditionStatus> {
    report.condition(type_)
}

/// A report counts for aggregation when it is not from the future and says Available True/False.
fn usable(report: &AdapterStatus, generation: i64) -> bool {
    report.observed_generation <= generation
        && matches!(condition_of(report, "Available"), Some(True | False))
}

/// Computes the aggregate. `reports` may include adapters that are not required (ignored).
pub fn aggregate(
    subject: &Subject,
    required: &[String],
    reports: &[AdapterStatus],
    previous: &[Condition],
    now: DateTime<Utc>,
) -> Aggregate {
    if required.is_empty() {
        let phase = if subject.deleting { Phase::Deleting } else { Phase::Pending };
        let finalized = subject.deleting && subject.children == 0;
        return Aggregate { conditions: Vec::new(), phase, finalized };
    }
    let by_adapter: Vec<(&str, Option<&AdapterStatus>)> =
        required.iter().map(|a| (a.as_str(), reports.iter().find(|r| r.adapter == *a))).collect();
    let find_previous = |type_: &str| previous.iter().find(|c| c.type_ == type_);
    let mut conditions = vec![
        reconciled(subject, &by_adapter, find_previous(RECONCILED), now),
        last_known_reconciled(subject, &by_adapter, find_previous(LAST_KNOWN_RECONCILED), now),
    ];
    for (adapter, report) in &by_adapter {
        let Some(report) = report.filter(|r| usable(r, subject.generation)) else {
            continue;
        };
        let type_ = successful_type(adapter);
        conditions.push(successful(report, type_.clone(), find_previous(&type_), now));
    }
    let reconciled = conditions[0].status == True;
    let phase = phase(subject, &by_adapter, reconciled);
    Aggregate { conditions, phase, finalized: subject.deleting && reconciled }
}

fn phase(subject: &Subject, by_adapter: &[(&str, Option<&AdapterStatus>)], reconciled: bool) -> Phase {
    let unhealthy = by_adapter
        .iter()
        .filter_map(|(_, r)| *r)
        .any(|r| r.observed_generation == subject.generation && condition_of(r, "Health") == Some(False));
    if subject.deleting {
        Phase::Deleting
    } else if unhealthy {
        Phase::Failed
    } else if reconciled {
        Phase::Ready
    } else if by_adapter.iter().all(|(_, r)| r.is_none()) {
        Phase::Pending
    } else {
        Phase::Reconciling
    }
}

/// Builds a condition, keeping `created_time` and (unless the status flips) `last_transition_time`.
struct Draft<'a> {
    type_: String,
    status: ConditionStatus,
    reason: &'a str,
    message: Option<String>,
    observed_generation: i64,
    last_updated_time: DateTime<Utc>,
    /// Transition time to use if the status flips (or the condition is new).
    flip_time: DateTime<Utc>,
}

impl Draft<'_> {
    fn finish(self, previous: Option<&Condition>, now: DateTime<Utc>) -> Condition {
        let last_transition_time = match previous {
            Some(p) if p.status == self.status => p.last_transition_time,
            _ => self.flip_time,
        };
        Condition {
            type_: self.type_,
            status: self.status,
            reason: Some(self.reason.to_owned()),
            message: self.message,
            observed_generation: self.observed_generation,
            created_time: previous.map_or(now, |p| p.created_time),
            last_updated_time: self.last_updated_time,
            last_transition_time,
        }
    }
}

fn reconciled(
    subject: &Subject,
    by_adapter: &[(&str, Option<&AdapterStatus>)],
    previous: Option<&Condition>,
    now: DateTime<Utc>,
) -> Condition {
    let generation = subject.generation;
    let at_generation = |r: &&AdapterStatus| r.observed_generation == generation;
    let last_updated_time = by_adapter
        .iter()
        .filter_map(|(_, r)| r.filter(at_generation))
        .map(|r| r.last_report_time)
        .min()
        .unwrap_or(subject.updated_time);
    let goal = if subject.deleting { "Finalized" } else { "Available" };
    let missing: Vec<&str> = by_adapter
        .iter()
        .filter(|(_, r)| r.filter(at_generation).and_then(|r| condition_of(r, goal)) != Some(True))
        .map(|(adapter, _)| *adapter)
        .collect();
    let (status, reason, message) = if !missing.is_empty() {
        let verb = if subject.deleting { "finalized" } else { "available" };
        let message = format!("not yet {verb} at generation {generation}: {}", missing.join(", "));
        (False, "ReconciledMissingAdapters", message)
    } else if subject.deleting && subject.children > 0 {
        (False, "ReconciledWaitingForChildren", format!("{} child resources remain", subject.children))
    } else {
        (True, "ReconciledAll", format!("every required adapter is {goal} at generation {generation}"))
    };
    // A generation bump invalidates a True at once: the flip dates from the change itself.
    let flip_time = match previous {
        Some(p) if p.status == True && status == False && generation > p.observed_generation => {
            subject.updated_time
        }
        _ => last_updated_time,
    };
    let draft = Draft {
        type_: RECONCILED.to_owned(),
        status,
        reason,
        message: Some(message),
        observed_generation: generation,
        last_updated_time,
        flip_time,
    };
    draft.finish(previous, now)
}

fn last_known_reconciled(
    subject: &Subject,
    by_adapter: &[(&str, Option<&AdapterStatus>)],
    previous: Option<&Condition>,
    now: DateTime<Utc>,
) -> Condition {
    let usable_reports: Option<Vec<&AdapterStatus>> =
        by_adapter.iter().map(|(_, r)| r.filter(|r| usable(r, subject.generation))).collect();
    let previous_true = previous.filter(|p| p.status == True);
    let kept = previous
        .map_or((subject.generation, subject.updated_time), |p| (p.observed_generation, p.last_updated_time));
    let draft = |status, reason, (observed_generation, last_updated_time): (i64, DateTime<Utc>)| Draft {
        type_: LAST_KNOWN_RECONCILED.to_owned(),
        status,
        reason,
        message: None,
        observed_generation,
        last_updated_time,
        flip_time: last_updated_time,
    };
    let Some(reports) = usable_reports else {
        return draft(False, "AdaptersMissingReports", kept).finish(previous, now);
    };
    let oldest_at = |generation: i64, only_false: bool| {
        reports
            .iter()
            .filter(|r| r.observed_generation == generation)
            .filter(|r| !only_false || condition_of(r, "Available") == Some(False))
            .map(|r| r.last_report_time)
            .min()
    };
    let max_generation = reports.iter().map(|r| r.observed_generation).max().unwrap_or(subject.generation);
    let not_available: Vec<&&AdapterStatus> =
        reports.iter().filter(|r| condition_of(r, "Available") == Some(False)).collect();
    let result = if not_available.is_empty() {
        let min_generation = reports.iter().map(|r| r.observed_generation).min().unwrap_or(max_generation);
        match (min_generation == max_generation, previous_true) {
            (true, _) => {
                let since = oldest_at(max_generation, false).unwrap_or(kept.1);
                draft(True, "AllAdaptersReconciled", (max_generation, since))
            }
            (false, Some(p)) => {
                draft(True, "AllAdaptersReconciled", (p.observed_generation, p.last_updated_time))
            }
            (false, None) => draft(False, "AdaptersNotAtSameGeneration", (max_generation, kept.1)),
        }
    } else {
        match previous_true {
            Some(p) if not_available.iter().all(|r| r.observed_generation != p.observed_generation) => {
                draft(True, "AllAdaptersReconciled", (p.observed_generation, p.last_updated_time))
            }
            _ => {
                let since = oldest_at(max_generation, true).unwrap_or(kept.1);
                draft(False, "AdapterReportedNotAvailable", (max_generation, since))
            }
        }
    };
    result.finish(previous, now)
}

fn successful(
    report: &AdapterStatus,
    type_: String,
    previous: Option<&Condition>,
    now: DateTime<Utc>,
) -> Condition {
    let available = report.conditions.iter().find(|c| c.type_ == "Available");
    let status = available.map_or(False, |c| c.status);
    let draft = Draft {
        type_,
        status,
        reason: available.and_then(|c| c.reason.as_deref()).unwrap_or(if status == True {
            "AdapterAvailable"
        } else {
            "AdapterNotAvailable"
        }),
        message: available.and_then(|c| c.message.clone()),
        observed_generation: report.observed_generation,
        last_updated_time: report.last_report_time,
        flip_time: available.map_or(report.last_report_time, |c| c.last_transition_time),
    };
    draft.finish(previous, now)
}

#[cfg(test)]
mod tests;
