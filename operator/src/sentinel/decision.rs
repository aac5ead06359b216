//! The per-resource publish decision, a pure function of the resource as listed, what this
//! Sentinel already published, the backoffs, and the clock (injected, so it is table-tested).
//!
//! Publish when:
//! - the resource is not reconciled at its current generation and nothing was published for
//!   this generation yet (a new resource, or a spec/label change: one event within one poll);
//! - it is not reconciled and `backoffNotReady` has passed since the later of its `Reconciled`
//!   time and our last event (a stuck resource gets one event per backoff, not one per poll).
//!   While the Sentinel follows the change feed, every change that may let an adapter go on is
//!   announced at once, so these repeats are only a safety net: the first waits
//!   2^[`Backoff::repeat_doublings`] backoffs and each further one twice as long. Without the
//!   feed, repeats are what moves a resource on, and the wait stays `backoffNotReady`;
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
    /// Not-ready events already repeated at this generation.
    pub repeats: u32,
}

impl Published {
    /// An event for `resource` as it is now, published at `at`.
    pub fn of(resource: &Resource, at: DateTime<Utc>) -> Self {
        Self { generation: resource.generation, at, status: status_fingerprint(resource), repeats: 0 }
    }

    /// What is remembered after publishing `reason` for `resource` at `at`, when `previous` was
    /// the last event: not-ready repeats at one generation are counted, so their wait can grow.
    pub fn after(previous: Option<Self>, resource: &Resource, reason: Reason, at: DateTime<Utc>) -> Self {
        let mut next = Self::of(resource, at);
        if let Some(previous) = previous.filter(|p| p.generation == resource.generation) {
            next.repeats = previous.repeats.saturating_add(u32::from(reason == Reason::NotReady));
        }
        next
    }

    /// Whether the event already announced `resource` as it is: same generation, same status.
    /// The change feed may name a change the last poll has already seen (its starting cursor is
    /// conservative), and that is no reason for a second event.
    pub fn announced(&self, resource: &Resource) -> bool {
        self.generation == resource.generation && self.status == status_fingerprint(resource)
    }
}

/// A hash of what an adapter may wait for in the aggregated status: which conditions are True,
/// at which generation (an adapter becoming Available unblocks the ones that depend on it).
/// Reports that only say work is under way (a Job running, a message) leave it unchanged: they
/// let no one go on, and announcing each would multiply the events.
fn status_fingerprint(resource: &Resource) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for condition in resource.status.conditions.iter().filter(|c| c.status == ConditionStatus::True) {
        (&condition.type_, condition.observed_generation).hash(&mut hasher);
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
    /// While the change feed is followed, how many times `not_ready` is doubled for the first
    /// not-ready repeat (0: no feed, repeats every `not_ready`).
    pub repeat_doublings: u32,
}

/// The doublings of the not-ready wait while the change feed is followed: a resource stuck at
/// one generation is asked again after 16, then 32, 64... `backoffNotReady` (up to
/// `backoffReady`).
pub const REPEAT_DOUBLINGS: u32 = 4;

impl Backoff {
    /// The wait before the next not-ready event, after `repeats` of them at this generation.
    ///
    /// While the feed is followed, every change that lets an adapter go on is announced at
    /// once and adapters report their own work's end, so a repeat is only the safety net for
    /// what went wrong (an event lost, a pass that failed): it waits
    /// 2^[`REPEAT_DOUBLINGS`] backoffs, doubling on with each repeat. Earlier repeats would
    /// only queue copies behind work under way. Without the feed, repeats are what moves a
    /// resource on, and the wait stays `backoffNotReady`.
    fn not_ready_after(&self, repeats: u32) -> Duration {
        if self.repeat_doublings == 0 {
            return self.not_ready;
        }
        let doublings = self.repeat_doublings.saturating_add(repeats).min(16);
        (self.not_ready * (1i32 << doublings)).min(self.ready.max(self.not_ready))
    }
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
    let since = reconciled.map_or(resource.updated_time, |c| c.last_updated_time);
    let (wait, reason) = if is_reconciled {
        (backoff.ready, Reason::Recheck)
    } else {
        (backoff.not_ready_after(published_now.map_or(0, |p| p.repeats)), Reason::NotReady)
    };
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
