use chrono::{DateTime, Duration, TimeZone, Utc};

use hyperfleet_api_model::{AdapterCondition, AdapterStatus, ConditionStatus, Phase};

use super::*;

fn t(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minute)
}

fn report(adapter: &str, generation: i64, at: i64, conditions: &[(&str, ConditionStatus)]) -> AdapterStatus {
    AdapterStatus {
        adapter: adapter.into(),
        observed_generation: generation,
        conditions: conditions
            .iter()
            .map(|(type_, status)| AdapterCondition {
                type_: (*type_).into(),
                status: *status,
                reason: None,
                message: None,
                last_transition_time: t(at),
            })
            .collect(),
        data: None,
        metadata: None,
        created_time: t(at),
        last_report_time: t(at),
    }
}

fn available(adapter: &str, generation: i64, at: i64, status: ConditionStatus) -> AdapterStatus {
    report(adapter, generation, at, &[("Applied", True), ("Available", status), ("Health", True)])
}

fn subject(generation: i64) -> Subject {
    Subject { generation, updated_time: t(0), deleting: false, children: 0 }
}

fn required() -> Vec<String> {
    vec!["dns".into(), "validation".into()]
}

fn get<'a>(aggregate: &'a Aggregate, type_: &str) -> &'a Condition {
    aggregate.conditions.iter().find(|c| c.type_ == type_).unwrap_or_else(|| panic!("no {type_}"))
}

#[test]
fn successful_types_are_pascal_cased_adapter_names() {
    assert_eq!(successful_type("dns"), "DnsSuccessful");
    assert_eq!(successful_type("my-adapter"), "MyAdapterSuccessful");
    assert_eq!(successful_type("pull_secret"), "PullSecretSuccessful");
}

#[test]
fn fresh_resource_is_pending_and_not_reconciled() {
    let agg = aggregate(&subject(1), &required(), &[], &[], t(0));
    let reconciled = get(&agg, "Reconciled");
    assert_eq!((reconciled.status, reconciled.reason.as_deref()), (False, Some("ReconciledMissingAdapters")));
    assert!(reconciled.message.as_deref().unwrap().contains("dns, validation"));
    assert_eq!(reconciled.last_updated_time, t(0), "falls back to the resource's updated_time");
    assert_eq!(get(&agg, "LastKnownReconciled").reason.as_deref(), Some("AdaptersMissingReports"));
    assert_eq!(agg.phase, Phase::Pending);
    assert_eq!(agg.conditions.len(), 2, "no <Adapter>Successful before a usable report");
}

#[test]
fn kinds_without_required_adapters_get_no_conditions() {
    let agg = aggregate(&subject(1), &[], &[available("dns", 1, 1, True)], &[], t(1));
    assert!(agg.conditions.is_empty());
}

#[test]
fn reconciled_when_all_available_at_current_generation_since_oldest_report() {
    let reports =
        [available("dns", 1, 3, True), available("validation", 1, 5, True), available("extra", 1, 1, False)];
    let agg = aggregate(&subject(1), &required(), &reports, &[], t(6));
    let reconciled = get(&agg, "Reconciled");
    assert_eq!((reconciled.status, reconciled.last_updated_time), (True, t(3)));
    assert_eq!(reconciled.observed_generation, 1);
    assert_eq!(get(&agg, "LastKnownReconciled").status, True);
    assert_eq!(get(&agg, "DnsSuccessful").last_updated_time, t(3));
    assert_eq!(agg.phase, Phase::Ready);
    assert!(agg.conditions.iter().all(|c| c.type_ != "ExtraSuccessful"), "unrequired adapters are ignored");
}

#[test]
fn partial_reports_are_reconciling_and_unhealthy_ones_failed() {
    let agg = aggregate(&subject(1), &required(), &[available("dns", 1, 3, True)], &[], t(4));
    assert_eq!(agg.phase, Phase::Reconciling);
    assert!(get(&agg, "Reconciled").message.as_deref().unwrap().ends_with("validation"));

    let sick = report("validation", 1, 4, &[("Applied", True), ("Available", False), ("Health", False)]);
    let agg = aggregate(&subject(1), &required(), &[available("dns", 1, 3, True), sick], &[], t(4));
    assert_eq!(agg.phase, Phase::Failed);
    assert_eq!(get(&agg, "ValidationSuccessful").status, False);
}

#[test]
fn generation_bump_flips_reconciled_at_the_change_and_lkr_stays() {
    let reports = [available("dns", 1, 3, True), available("validation", 1, 5, True)];
    let before = aggregate(&subject(1), &required(), &reports, &[], t(6));

    let bumped = Subject { generation: 2, updated_time: t(10), ..subject(2) };
    let after = aggregate(&bumped, &required(), &reports, &before.conditions, t(10));
    let reconciled = get(&after, "Reconciled");
    assert_eq!((reconciled.status, reconciled.observed_generation), (False, 2));
    assert_eq!(reconciled.last_transition_time, t(10), "the flip dates from the spec change");
    assert_eq!(reconciled.last_updated_time, t(10), "no report at generation 2 yet");
    assert_eq!(reconciled.created_time, get(&before, "Reconciled").created_time);
    let lkr = get(&after, "LastKnownReconciled");
    assert_eq!((lkr.status, lkr.observed_generation, lkr.last_updated_time), (True, 1, t(3)));

    // One adapter catches up: still mixed generations, LKR keeps vouching for generation 1.
    let mixed = [available("dns", 2, 12, True), available("validation", 1, 5, True)];
    let agg = aggregate(&bumped, &required(), &mixed, &after.conditions, t(12));
    assert_eq!(get(&agg, "LastKnownReconciled").observed_generation, 1);
    assert_eq!(get(&agg, "Reconciled").last_updated_time, t(12), "oldest report at generation 2");

    let caught_up = [available("dns", 2, 12, True), available("validation", 2, 14, True)];
    let agg = aggregate(&bumped, &required(), &caught_up, &agg.conditions, t(14));
    let reconciled = get(&agg, "Reconciled");
    assert_eq!(
        (reconciled.status, reconciled.last_transition_time, reconciled.last_updated_time),
        (True, t(12), t(12))
    );
    assert_eq!(get(&agg, "LastKnownReconciled").observed_generation, 2);
}

#[test]
fn transition_time_moves_only_on_flips() {
    let first = aggregate(
        &subject(1),
        &required(),
        &[available("dns", 1, 1, True), available("validation", 1, 2, True)],
        &[],
        t(2),
    );
    let again = aggregate(
        &subject(1),
        &required(),
        &[available("dns", 1, 7, True), available("validation", 1, 8, True)],
        &first.conditions,
        t(8),
    );
    let (a, b) = (get(&first, "Reconciled"), get(&again, "Reconciled"));
    assert_eq!(a.last_transition_time, b.last_transition_time);
    assert_eq!(b.last_updated_time, t(7), "valid since the oldest current report");
    assert_eq!(get(&again, "DnsSuccessful").last_transition_time, t(1));
}

#[test]
fn lkr_drops_when_an_adapter_fails_at_the_vouched_generation() {
    let good = aggregate(
        &subject(1),
        &required(),
        &[available("dns", 1, 1, True), available("validation", 1, 2, True)],
        &[],
        t(2),
    );
    let failing = [available("dns", 1, 5, False), available("validation", 1, 2, True)];
    let agg = aggregate(&subject(1), &required(), &failing, &good.conditions, t(5));
    let lkr = get(&agg, "LastKnownReconciled");
    assert_eq!(
        (lkr.status, lkr.reason.as_deref(), lkr.last_transition_time),
        (False, Some("AdapterReportedNotAvailable"), t(5))
    );
}

#[test]
fn deletion_needs_every_adapter_finalized_and_no_children() {
    let deleting = Subject { generation: 2, updated_time: t(10), deleting: true, children: 1 };
    let finalized = |adapter: &str, at| {
        report(
            adapter,
            2,
            at,
            &[("Applied", True), ("Available", False), ("Health", True), ("Finalized", True)],
        )
    };
    let agg = aggregate(&deleting, &required(), &[finalized("dns", 11)], &[], t(11));
    assert_eq!(agg.phase, Phase::Deleting);
    assert!(get(&agg, "Reconciled").message.as_deref().unwrap().contains("finalized"));

    let both = [finalized("dns", 11), finalized("validation", 12)];
    let agg = aggregate(&deleting, &required(), &both, &[], t(12));
    assert_eq!(get(&agg, "Reconciled").reason.as_deref(), Some("ReconciledWaitingForChildren"));
    assert!(!agg.reconciled() && !agg.finalized);

    let childless = Subject { children: 0, ..deleting };
    let done = aggregate(&childless, &required(), &both, &[], t(12));
    assert!(done.reconciled() && done.finalized);
    let no_adapters = aggregate(&childless, &[], &[], &[], t(12));
    assert!(no_adapters.finalized, "nothing to wait for once the children are gone");
    let stale =
        [finalized("dns", 11), report("validation", 1, 9, &[("Finalized", True), ("Available", False)])];
    assert!(
        !aggregate(&childless, &required(), &stale, &[], t(12)).reconciled(),
        "only the current generation counts"
    );
}
