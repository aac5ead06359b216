use chrono::TimeZone;

use hyperfleet_api_model::{Condition, ResourceStatus};

use super::*;

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::seconds(seconds)
}

const BACKOFF: Backoff =
    Backoff { not_ready: Duration::seconds(10), ready: Duration::seconds(1800), repeat_doublings: 0 };

/// A resource at `generation`, updated at t(0), whose `Reconciled` condition (if any) has
/// `status` at `observed_generation`, valid since t(`since`).
fn resource(generation: i64, phase: Phase, reconciled: Option<(ConditionStatus, i64, i64)>) -> Resource {
    let conditions = reconciled
        .map(|(status, observed_generation, since)| Condition {
            type_: "Reconciled".into(),
            status,
            reason: None,
            message: None,
            observed_generation,
            created_time: t(0),
            last_updated_time: t(since),
            last_transition_time: t(since),
        })
        .into_iter()
        .collect();
    Resource {
        // Last byte 0: no jitter, so the table's boundaries are exact.
        id: Uuid::from_u128(0x0190_b6a4_0000_7000_8000_0000_0000_0000),
        kind: "Cluster".into(),
        name: "c".into(),
        href: "/api/hyperfleet/v1/clusters/x".into(),
        generation,
        spec: serde_json::json!({}),
        labels: Default::default(),
        status: ResourceStatus { phase, last_transition_time: None, conditions },
        created_time: t(0),
        updated_time: t(0),
        created_by: "u".into(),
        updated_by: "u".into(),
        deleted_time: None,
        deleted_by: None,
        owner_references: None,
    }
}

fn published(generation: i64, at: i64) -> Option<Published> {
    Some(Published { generation, at: t(at), status: 0, repeats: 0 })
}

use ConditionStatus::{False, True};

#[test]
fn decision_table() {
    let wait = |until: i64| Decision::Wait { until: t(until) };
    let cases = [
        (
            "new resource, first poll",
            resource(1, Phase::Pending, Some((False, 1, 0))),
            None,
            1,
            Decision::Publish(Reason::New),
        ),
        (
            "new resource without conditions",
            resource(1, Phase::Pending, None),
            None,
            1,
            Decision::Publish(Reason::New),
        ),
        (
            "new resource, just published",
            resource(1, Phase::Pending, Some((False, 1, 0))),
            published(1, 1),
            5,
            wait(11),
        ),
        (
            "stuck resource, backoff passed",
            resource(1, Phase::Reconciling, Some((False, 1, 0))),
            published(1, 1),
            11,
            Decision::Publish(Reason::NotReady),
        ),
        (
            "stuck, adapters reported after our event",
            resource(1, Phase::Reconciling, Some((False, 1, 8))),
            published(1, 1),
            12,
            wait(18),
        ),
        (
            "spec change, first poll",
            resource(2, Phase::Reconciling, Some((False, 2, 0))),
            published(1, 0),
            1,
            Decision::Publish(Reason::GenerationChanged),
        ),
        (
            "spec change after a restart",
            resource(2, Phase::Ready, Some((True, 1, 0))),
            None,
            1,
            Decision::Publish(Reason::GenerationChanged),
        ),
        (
            "spec change before any report",
            resource(2, Phase::Pending, Some((False, 2, 0))),
            published(1, 0),
            1,
            Decision::Publish(Reason::GenerationChanged),
        ),
        (
            "stuck, after a restart",
            resource(1, Phase::Reconciling, Some((False, 1, 0))),
            None,
            1,
            Decision::Publish(Reason::NotReady),
        ),
        (
            "reconciled, fresh",
            resource(1, Phase::Ready, Some((True, 1, 100))),
            published(1, 0),
            200,
            wait(1900),
        ),
        (
            "reconciled, after a restart",
            resource(1, Phase::Ready, Some((True, 1, 100))),
            None,
            1000,
            wait(1900),
        ),
        (
            "reconciled, stale",
            resource(1, Phase::Ready, Some((True, 1, 100))),
            None,
            1900,
            Decision::Publish(Reason::Recheck),
        ),
        (
            "reconciled, re-checked recently",
            resource(1, Phase::Ready, Some((True, 1, 100))),
            published(1, 1900),
            2000,
            wait(3700),
        ),
    ];
    for (name, resource, published, now, expected) in cases {
        assert_eq!(decide(&resource, published, BACKOFF, t(now)), expected, "{name}");
    }
}

#[test]
fn jitter_spreads_resources_by_at_most_ten_percent() {
    let mut waits = std::collections::BTreeSet::new();
    for last in 0..=255u8 {
        let id = Uuid::from_u128(u128::from(last));
        let stretched = jittered(Duration::seconds(1000), id);
        assert!(stretched >= Duration::seconds(1000) && stretched <= Duration::seconds(1100), "{stretched}");
        assert_eq!(stretched, jittered(Duration::seconds(1000), id), "stable per resource");
        waits.insert(stretched);
    }
    assert!(waits.len() > 50, "resources are spread out");
}

#[test]
fn an_event_announces_the_resource_until_a_condition_becomes_true_or_the_generation_changes() {
    let pending = resource(1, Phase::Pending, None);
    let event = Published::of(&pending, t(5));
    assert!(event.announced(&pending));
    let working = resource(1, Phase::Reconciling, Some((False, 1, 3)));
    assert!(event.announced(&working), "work under way lets no one go on");
    let done = resource(1, Phase::Ready, Some((True, 1, 4)));
    assert!(!event.announced(&done), "a condition became True");
    assert!(
        Published::of(&done, t(5)).announced(&resource(1, Phase::Ready, Some((True, 1, 9)))),
        "only its time moved"
    );
    assert!(!event.announced(&resource(2, Phase::Pending, None)), "a new generation");
}

/// The seconds at which not-ready events go out over `seconds` for a resource stuck at one
/// generation since t(0), after its first event at t(0).
fn repeats_over(backoff: Backoff, seconds: i64) -> Vec<i64> {
    let stuck = resource(1, Phase::Reconciling, Some((False, 1, 0)));
    let mut last = Published::after(None, &stuck, Reason::New, t(0));
    let mut sent = Vec::new();
    for second in 1..=seconds {
        if decide(&stuck, Some(last), backoff, t(second)) == Decision::Publish(Reason::NotReady) {
            sent.push(second);
            last = Published::after(Some(last), &stuck, Reason::NotReady, t(second));
        }
    }
    sent
}

#[test]
fn not_ready_repeats_are_a_slow_safety_net_only_while_the_feed_is_followed() {
    let following = Backoff { repeat_doublings: REPEAT_DOUBLINGS, ..BACKOFF };
    assert_eq!(
        repeats_over(following, 6000),
        [160, 480, 1120, 2400, 4200, 6000],
        "16 backoffs (160 s), doubling on up to backoffReady (1800 s)"
    );
    assert_eq!(
        repeats_over(BACKOFF, 400),
        (1..=40).map(|n| 10 * n).collect::<Vec<_>>(),
        "polling alone: every backoffNotReady"
    );
    let stuck = resource(1, Phase::Reconciling, Some((False, 1, 0)));
    let last = Published { repeats: 3, ..Published::of(&stuck, t(0)) };
    let changed = Published::after(Some(last), &stuck, Reason::ResourceChanged, t(320));
    assert_eq!(changed.repeats, last.repeats, "a change announced does not reset the count");
    let next_generation = resource(2, Phase::Reconciling, Some((False, 2, 0)));
    assert_eq!(Published::after(Some(last), &next_generation, Reason::GenerationChanged, t(9)).repeats, 0);
}
