//! The per-resource publish decision, a pure function of the resource as listed, what this
//! Sentinel already published, the backoffs, and the clock (injected, so it is table-tested).
//!
//! Publish when:
//! - the resource is not reconciled at its current generation and nothing was published for
//!   this generation yet (a new resource, or a spec/label change: one event within one poll);
//! - it is not reconciled and `backoffNotReady` has passed since the later of its `Reconciled`
//!   time and our last event (a stuck resource gets one event per backoff, not one per poll);
//! - it is reconciled and `backoffReady` has passed the same way (a periodic health re-check).
//!
//! Backoffs carry a deterministic per-resource jitter of up to 10 %, so resources created
//! together do not stay in lock-step.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use hyperfleet_api_model::{ConditionStatus, Phase, Resource};

/// What this Sentinel last published for a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The resource generation the event was for.
    pub generation: i64,
    /// When it was published.
    pub at: DateTime<Utc>,
    /// A fingerprint of the resource's status as it was announced.
    pub status: u64,
}

impl Published {
    /// An event for `resource` as it is now, published at `at`.
    pub fn of(resource: &Resource, at: DateTime<Utc>) -> Self {
        Self { generation: resource.generation, at, status: status_fingerprint(resource) }
    }

    /// Whether the event already announced `resource` as it is: same generation, same status.
    /// The change feed may name a change the last poll has already seen (its starting cursor is
    /// conservative), and that is no reason for a second event.
    pub fn announced(&self, resource: &Resource) -> bool {
        self.generation == resource.generation && self.status == status_fingerprint(resource)
    }
}

/// A hash of the aggregated status (phase, conditions and their times): any report that changes
/// it changes the hash.
fn status_fingerprint(resource: &Resource) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let status = &resource.status;
    status.phase.hash(&mut hasher);
    status.last_transition_time.hash(&mut hasher);
    for condition in &status.conditions {
        (&condition.type_, condition.status.as_str(), condition.observed_generation).hash(&mut hasher);
        (&condition.reason, &condition.message, condition.last_updated_time).hash(&mut hasher);
    }
    hasher.finish()
}

/// The two backoffs of a SentinelConfig.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait between events for a resource that is not reconciled.
    pub not_ready: Duration,
    /// Wait between re-checks of a reconciled resource.
    pub ready: Duration,
}

/// Why an event is published: the event contract's reason (the CloudEvent's `reason`, and a
/// metric label).
pub use hyperfleet_api_model::ReconcileReason as Reason;

/// The decision for one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Publish an event now.
    Publish(Reason),
    /// Nothing to do before `until`.
    Wait {
        /// When the resource is next due.
        until: DateTime<Utc>,
    },
}

/// Whether `Reconciled` is True at the resource's current generation.
pub fn is_reconciled(resource: &Resource) -> bool {
    resource.status.conditions.iter().any(|c| {
        c.type_ == "Reconciled"
            && c.status == ConditionStatus::True
            && c.observed_generation == resource.generation
    })
}

/// Decides for `resource` at `now`.
pub fn decide(
    resource: &Resource,
    published: Option<Published>,
    backoff: Backoff,
    now: DateTime<Utc>,
) -> Decision {
    let reconciled = resource.status.conditions.iter().find(|c| c.type_ == "Reconciled");
    let is_reconciled = is_reconciled(resource);
    let published_now = published.filter(|p| p.generation == resource.generation);
    if !is_reconciled && published_now.is_none() {
        return Decision::Publish(first_reason(resource, published));
    }
    let (wait, reason) =
        if is_reconciled { (backoff.ready, Reason::Recheck) } else { (backoff.not_ready, Reason::NotReady) };
    let since = reconciled.map_or(resource.updated_time, |c| c.last_updated_time);
    let anchor = published_now.map_or(since, |p| p.at.max(since));
    let until = anchor + jittered(wait, resource.id);
    if now >= until { Decision::Publish(reason) } else { Decision::Wait { until } }
}

/// Why the first event for this generation goes out.
fn first_reason(resource: &Resource, published: Option<Published>) -> Reason {
    let changed = published.is_some_and(|p| p.generation < resource.generation) || resource.generation > 1;
    if changed {
        Reason::GenerationChanged
    } else if resource.status.phase == Phase::Pending {
        Reason::New
    } else {
        // Adapters reported, we never published (e.g. this Sentinel just started): catch up.
        Reason::NotReady
    }
}

/// `wait` stretched by 0-10 %, the same for a resource every time.
fn jittered(wait: Duration, id: Uuid) -> Duration {
    let spread = u64::from(id.as_bytes()[15]) % 101; // 0..=100, tenths of a percent
    wait + wait * i32::try_from(spread).unwrap_or(0) / 1000
}

#[cfg(test)]
mod tests;
