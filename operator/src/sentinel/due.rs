//! What a Sentinel that follows the change feed knows between its full polls: when each resource
//! it has looked at is next due. The decision's `Wait { until }` is exact for the state it saw,
//! and the feed names every later change (which is looked at again at once), so a poll between
//! full ones reads only the resources due by then, by id: its cost follows what the fleet does,
//! not its size. A full poll reads the whole possibly-due set and starts the memory over; it
//! runs first, every [`FULL_POLL_EVERY`] `backoffNotReady`, whenever the feed is not followed,
//! and after a reaction failed to read what changed. It is the safety net, and it finds the
//! reconciled resources whose re-check falls due.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use hyperfleet_api_model::Resource;

use super::{
    Sentinel, SentinelError,
    decision::{Decision, decide, is_reconciled},
};

/// A full poll runs at least once in this many `backoffNotReady`: 4 times the first not-ready
/// repeat's wait (see [`super::decision::REPEAT_DOUBLINGS`]), so the repeats between full polls
/// are read by id, and the full poll stays the safety net (64 s with 1 s backoffs, about 11
/// minutes with the default 10 s).
pub const FULL_POLL_EVERY: i32 = 64;

/// When a resource is next due, at the earliest, and whether it was reconciled when looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Look {
    due: DateTime<Utc>,
    reconciled: bool,
}

/// The resources looked at since the last full poll.
#[derive(Debug, Default)]
pub struct Looks {
    by_id: HashMap<Uuid, Look>,
    last_full: Option<DateTime<Utc>>,
}

impl Looks {
    /// Whether the next poll must read the whole possibly-due set: none ran yet, or the last one
    /// is `every` old, or the memory was distrusted since.
    pub fn full_poll_due(&self, now: DateTime<Utc>, every: Duration) -> bool {
        self.last_full.is_none_or(|at| now - at >= every)
    }

    /// A full poll at `now` is about to look at everything possibly due: forget the rest.
    pub fn start_over(&mut self, now: DateTime<Utc>) {
        self.by_id.clear();
        self.last_full = Some(now);
    }

    /// Something may have changed unseen (a changed resource could not be read): the next poll
    /// is a full one.
    pub fn distrust(&mut self) {
        self.last_full = None;
    }

    /// `resource` was looked at and is next due at `due`.
    pub fn saw(&mut self, resource: &Resource, due: DateTime<Utc>) {
        self.by_id.insert(resource.id, Look { due, reconciled: is_reconciled(resource) });
    }

    /// The resources due by `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<Uuid> {
        self.by_id.iter().filter(|(_, look)| look.due <= now).map(|(id, _)| *id).collect()
    }

    /// `id` is gone from the shard.
    pub fn forget(&mut self, id: &Uuid) {
        self.by_id.remove(id);
    }

    /// The resources looked at that were not reconciled.
    pub fn pending(&self) -> usize {
        self.by_id.values().filter(|look| !look.reconciled).count()
    }
}

impl Sentinel {
    /// Whether this poll may read only the due resources: the feed is followed, the built-in
    /// rule decides (a `messageDecision` may depend on anything), and a full poll is not due.
    pub(super) fn may_read_only_due(&self, now: DateTime<Utc>) -> bool {
        let every = (self.settings.backoff.not_ready * FULL_POLL_EVERY)
            .max(Duration::from_std(self.settings.poll_interval).unwrap_or(Duration::MAX));
        self.following && self.settings.rules.uses_builtin_decision() && !self.looks.full_poll_due(now, every)
    }

    /// The resources due by `now`, read in lists by id; the ones not found left the shard.
    pub(super) async fn read_due(&mut self, now: DateTime<Utc>) -> Result<Vec<Resource>, SentinelError> {
        let ids = self.looks.due(now);
        let resources = self.list_among(&ids).await?;
        let found: std::collections::HashSet<Uuid> = resources.iter().map(|r| r.id).collect();
        for id in ids.iter().filter(|id| !found.contains(id)) {
            self.looks.forget(id);
        }
        Ok(resources)
    }

    /// Remembers when `resource`, as read at `now`, is next due by the built-in rule.
    pub(super) fn look_at(&mut self, resource: &Resource, now: DateTime<Utc>) {
        let published = self.published.get(&resource.id).copied();
        let due = match decide(resource, published, self.backoff(), now) {
            Decision::Wait { until } => until,
            Decision::Publish(_) => now,
        };
        self.looks.saw(resource, due);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> Resource {
        serde_json::from_value(serde_json::json!({
            "id": Uuid::now_v7(), "kind": "Cluster", "name": "c", "href": "/c", "generation": 1,
            "spec": {}, "labels": {}, "created_time": "2026-01-01T00:00:00Z",
            "updated_time": "2026-01-01T00:00:00Z", "created_by": "t", "updated_by": "t",
            "status": {"phase": "Pending", "conditions": []}
        }))
        .unwrap()
    }

    #[test]
    fn only_what_is_due_is_read_and_a_full_poll_comes_back_on_schedule_or_on_distrust() {
        let t0 = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let every = Duration::seconds(16);
        let mut looks = Looks::default();
        assert!(looks.full_poll_due(t0, every), "the first poll is full");
        looks.start_over(t0);
        let (soon, later) = (resource(), resource());
        looks.saw(&soon, t0 + Duration::seconds(1));
        looks.saw(&later, t0 + Duration::seconds(8));
        assert_eq!(looks.due(t0), Vec::<Uuid>::new());
        assert_eq!(looks.due(t0 + Duration::seconds(2)), [soon.id]);
        assert_eq!(looks.pending(), 2);
        assert!(!looks.full_poll_due(t0 + Duration::seconds(15), every));
        assert!(looks.full_poll_due(t0 + every, every));
        looks.distrust();
        assert!(looks.full_poll_due(t0 + Duration::seconds(1), every));
        looks.forget(&soon.id);
        looks.start_over(t0 + Duration::seconds(1));
        assert_eq!(looks.pending(), 0, "a full poll starts over");
    }
}
