//! Status conditions of HyperFleet's custom resources: the types and reasons they use, and the
//! merge that keeps `lastTransitionTime` unless the status flips (so `kubectl get` ages mean
//! something and a status write with nothing new changes nothing).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The resource's task runs and works.
pub const READY: &str = "Ready";
/// The task runs with errors, or could not start.
pub const DEGRADED: &str = "Degraded";

/// Reason: the spec is invalid (bad CEL, bad selector, bad duration); the message says what.
pub const REASON_INVALID_CONFIG: &str = "InvalidConfig";
/// Reason: the task was started and has not reported yet.
pub const REASON_STARTING: &str = "Starting";
/// Reason: everything works.
pub const REASON_AS_EXPECTED: &str = "AsExpected";
/// Reason: the task runs, but its last round failed (API, broker).
pub const REASON_ERRORS: &str = "Errors";
/// Reason: the task ended or panicked; it is restarted on the next reconcile.
pub const REASON_TASK_FAILED: &str = "TaskFailed";

/// A condition for `generation`, stamped `now`.
pub fn condition(
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if status { "True" } else { "False" }.to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation: generation,
        last_transition_time: now.clone(),
    }
}

/// `next` with each condition's `lastTransitionTime` taken from `previous` when its status did
/// not change.
pub fn merge(previous: &[Condition], next: Vec<Condition>) -> Vec<Condition> {
    next.into_iter()
        .map(|mut condition| {
            if let Some(old) = previous.iter().find(|old| old.type_ == condition.type_)
                && old.status == condition.status
            {
                condition.last_transition_time = old.last_transition_time.clone();
            }
            condition
        })
        .collect()
}

/// The condition of `type_` in `next` when its status or reason differs from `previous` (an
/// Event-worthy transition).
pub fn transition<'a>(previous: &[Condition], next: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    let new = next.iter().find(|c| c.type_ == type_)?;
    let changed = previous
        .iter()
        .find(|c| c.type_ == type_)
        .is_none_or(|old| old.status != new.status || old.reason != new.reason);
    changed.then_some(new)
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;

    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let old = vec![condition(READY, true, REASON_AS_EXPECTED, "", Some(1), &at(100))];
        let same =
            merge(&old, vec![condition(READY, true, REASON_AS_EXPECTED, "polling", Some(2), &at(200))]);
        assert_eq!(same[0].last_transition_time, at(100));
        assert_eq!((same[0].message.as_str(), same[0].observed_generation), ("polling", Some(2)));
        let flipped =
            merge(&old, vec![condition(READY, false, REASON_ERRORS, "API down", Some(2), &at(300))]);
        assert_eq!(flipped[0].last_transition_time, at(300));
    }

    #[test]
    fn transitions_are_status_or_reason_changes() {
        let old = vec![condition(READY, false, REASON_STARTING, "", Some(1), &at(1))];
        let starting = vec![condition(READY, false, REASON_STARTING, "still", Some(1), &at(2))];
        assert!(transition(&old, &starting, READY).is_none());
        let invalid = vec![condition(READY, false, REASON_INVALID_CONFIG, "bad", Some(2), &at(2))];
        assert_eq!(transition(&old, &invalid, READY).map(|c| c.reason.as_str()), Some(REASON_INVALID_CONFIG));
        assert!(transition(&[], &starting, READY).is_some(), "the first condition is a transition");
    }
}
