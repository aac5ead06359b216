//! Coalescing an adapter's events per resource, before any API call:
//! - at most one pass runs for a resource, and at most one more waits behind it; a newer event
//!   for the same resource takes the waiting place (latest wins) and the one it replaced is
//!   acknowledged at once. Every pass fetches the resource as it is now, so the waiting pass
//!   covers what the replaced ones asked for;
//! - an event published before the last finished pass for its resource started is covered by
//!   that pass (it read the resource later than the event saw it): the copies that queued up
//!   behind a busy adapter are acknowledged, not handled one by one after the resource moved on;
//! - an event for a generation this adapter has finished its work for (it reported
//!   `Available=True`) asks it for nothing: the Sentinel announces another adapter's progress
//!   to every adapter, and repeats not-ready events until the last one is done. Re-checks of
//!   reconciled resources and custom decisions still get a pass, and the memory of finished work
//!   lasts [`DONE_FOR`], so a status deleted behind the adapter's back is reported again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;
use uuid::Uuid;

use hyperfleet_api_model::{ReconcileEventData, ReconcileReason};

/// How long finished work at a generation keeps not-ready repeats and progress announcements
/// from costing a pass.
const DONE_FOR: Duration = Duration::minutes(2);
/// How far the Sentinel's clock may run ahead of this one: an event is covered by a pass only
/// when the pass started this much after the event was published.
const CLOCK_SKEW: Duration = Duration::seconds(1);
/// Resources remembered, at most; beyond it the oldest memories go (forgetting costs a pass).
const REMEMBERED: usize = 100_000;

/// Why an event was acknowledged without a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coalesced {
    /// A newer event for the resource took its place behind the running pass.
    Replaced,
    /// A pass that started after the event was published covered it.
    Covered,
    /// The adapter's work at the event's generation is done (or the resource has moved on).
    Done,
}

/// What coalescing needs to know of a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    generation: i64,
    published: Option<DateTime<Utc>>,
    /// Whether finished work answers it (not a re-check, a custom decision or custom data).
    answered_by_done_work: bool,
}

impl Arrival {
    /// The event `data`, published at `published` (the CloudEvent's `time`).
    pub fn of(data: &ReconcileEventData, published: Option<DateTime<Utc>>) -> Self {
        let answered_by_done_work = data.extra.is_empty()
            && matches!(
                data.reason,
                ReconcileReason::New
                    | ReconcileReason::GenerationChanged
                    | ReconcileReason::NotReady
                    | ReconcileReason::ResourceChanged
            );
        Self { generation: data.generation, published, answered_by_done_work }
    }
}

/// What the last finished pass for a resource saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    generation: i64,
    /// When the pass started, i.e. read the resource.
    since: DateTime<Utc>,
    /// Whether the adapter's work at `generation` was done.
    done: bool,
}

impl Seen {
    fn answers(&self, arrival: &Arrival, now: DateTime<Utc>) -> Option<Coalesced> {
        if arrival.published.is_some_and(|published| published + CLOCK_SKEW < self.since)
            && arrival.generation <= self.generation
        {
            return Some(Coalesced::Covered);
        }
        let finished = self.done && now - self.since < DONE_FOR;
        // Generations only grow: an event for an older one would find the resource moved on.
        let answered = arrival.generation < self.generation
            || (finished && arrival.generation == self.generation && arrival.answered_by_done_work);
        answered.then_some(Coalesced::Done)
    }
}

/// Why the event `arrival` needs no pass, by what the last pass for resource `id` saw; `None`
/// for the adapter's own work.
fn answered(seen: &HashMap<Uuid, Seen>, id: Uuid, arrival: Option<Arrival>) -> Option<Coalesced> {
    seen.get(&id)?.answers(&arrival?, Utc::now())
}

#[derive(Debug, Default)]
struct Slot {
    running: bool,
    /// The ticket of the event waiting behind the running pass (0: none).
    waiting: u64,
    issued: u64,
    notify: Arc<Notify>,
}

#[derive(Debug, Default)]
struct State {
    slots: HashMap<Uuid, Slot>,
    seen: HashMap<Uuid, Seen>,
}

/// The passes of one adapter, by resource.
#[derive(Debug, Default)]
pub struct Passes {
    state: Mutex<State>,
}

/// A running pass; dropping it lets the waiting one run.
#[derive(Debug)]
pub struct Pass {
    passes: Arc<Passes>,
    id: Uuid,
    started: DateTime<Utc>,
}

/// An event waiting for its resource's pass; dropped (cancelled), it gives up its place.
struct Waiting<'a> {
    passes: &'a Arc<Passes>,
    id: Uuid,
    ticket: u64,
}

impl Passes {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for an event's turn on resource `id`: the pass to run, or why none is needed.
    /// `arrival` is `None` for the adapter's own work (a Job that finished), which always
    /// gets its pass.
    pub async fn admit(self: &Arc<Self>, id: Uuid, arrival: Option<Arrival>) -> Result<Pass, Coalesced> {
        let (ticket, notify) = {
            let mut state = self.state();
            if let Some(why) = answered(&state.seen, id, arrival) {
                return Err(why);
            }
            let slot = state.slots.entry(id).or_default();
            if !slot.running && slot.waiting == 0 {
                slot.running = true;
                return Ok(self.pass(id));
            }
            slot.issued += 1;
            slot.waiting = slot.issued;
            // The event it replaces learns at once that it is coalesced.
            slot.notify.notify_waiters();
            (slot.waiting, slot.notify.clone())
        };
        let _waiting = Waiting { passes: self, id, ticket };
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.state();
                let State { slots, seen } = &mut *state;
                let slot = slots.entry(id).or_default();
                if slot.waiting != ticket {
                    return Err(Coalesced::Replaced);
                }
                if !slot.running {
                    // Its ticket is no longer the waiting one: dropping `waiting` changes nothing.
                    slot.waiting = 0;
                    // The pass it waited for may have covered it.
                    if let Some(why) = answered(seen, id, arrival) {
                        slots.remove(&id);
                        return Err(why);
                    }
                    slot.running = true;
                    return Ok(self.pass(id));
                }
            }
            notified.await;
        }
    }

    fn pass(self: &Arc<Self>, id: Uuid) -> Pass {
        Pass { passes: self.clone(), id, started: Utc::now() }
    }

    fn finish(&self, id: Uuid) {
        let mut state = self.state();
        let Some(slot) = state.slots.get_mut(&id) else { return };
        slot.running = false;
        if slot.waiting == 0 {
            state.slots.remove(&id);
        } else {
            slot.notify.notify_waiters();
        }
    }
}

impl Pass {
    /// Records that the pass saw the resource at `generation`, with the adapter's work there
    /// `done` or not: events published before it started need no pass of their own.
    pub fn saw(&self, generation: i64, done: bool) {
        let mut state = self.passes.state();
        if state.seen.len() >= REMEMBERED && !state.seen.contains_key(&self.id) {
            forget_oldest(&mut state.seen);
        }
        state.seen.insert(self.id, Seen { generation, since: self.started, done });
    }
}

/// Forgets the older half of the memories (at most once per [`REMEMBERED`] / 2 passes).
fn forget_oldest(seen: &mut HashMap<Uuid, Seen>) {
    let mut times: Vec<DateTime<Utc>> = seen.values().map(|s| s.since).collect();
    let middle = times.len() / 2;
    let (_, median, _) = times.select_nth_unstable(middle);
    let median = *median;
    seen.retain(|_, s| s.since > median);
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.passes.finish(self.id);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = self.passes.state();
        let Some(slot) = state.slots.get_mut(&self.id) else { return };
        if slot.waiting == self.ticket {
            slot.waiting = 0;
            if !slot.running {
                state.slots.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration as StdDuration;

    use super::*;

    const R: Uuid = Uuid::from_u128(1);

    fn arrival(generation: i64, published: DateTime<Utc>, reason: ReconcileReason) -> Arrival {
        let answered_by_done_work = reason != ReconcileReason::Recheck;
        Arrival { generation, published: Some(published), answered_by_done_work }
    }

    #[tokio::test]
    async fn one_pass_runs_one_waits_and_the_rest_are_coalesced_at_once() {
        let passes = Arc::new(Passes::default());
        let running = passes.admit(R, None).await.expect("the first runs");
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let passes = passes.clone();
                tokio::spawn(async move { passes.admit(R, None).await.is_ok() })
            })
            .collect();
        // Each newer arrival replaces the one waiting; all but the last end while the pass runs.
        hyperfleet_testing::wait_until("four coalesced", StdDuration::from_secs(2), async || {
            waiters.iter().filter(|w| w.is_finished()).count() == 4
        })
        .await;
        drop(running);
        let mut ran = 0;
        for waiter in waiters {
            ran += usize::from(waiter.await.unwrap());
        }
        assert_eq!(ran, 1, "exactly one more pass");
        hyperfleet_testing::wait_until("the slot freed", StdDuration::from_secs(2), async || {
            passes.state().slots.is_empty()
        })
        .await;
    }

    #[tokio::test]
    async fn other_resources_run_at_once_and_a_cancelled_waiter_gives_its_place_up() {
        let passes = Arc::new(Passes::default());
        let first = passes.admit(R, None).await.unwrap();
        assert!(passes.admit(Uuid::from_u128(2), None).await.is_ok(), "another resource is not held up");
        let cancelled = tokio::time::timeout(StdDuration::from_millis(50), passes.admit(R, None)).await;
        assert!(cancelled.is_err(), "it waited behind the running pass");
        drop(first);
        assert!(passes.admit(R, None).await.is_ok(), "the cancelled waiter left no ghost");
    }

    #[tokio::test]
    async fn events_published_before_a_finished_pass_started_are_covered_by_it() {
        let passes = Arc::new(Passes::default());
        let before = Utc::now() - Duration::seconds(5);
        let pass = passes.admit(R, Some(arrival(1, before, ReconcileReason::New))).await.unwrap();
        pass.saw(1, false);
        drop(pass);
        let copy = arrival(1, before, ReconcileReason::NotReady);
        assert_eq!(passes.admit(R, Some(copy)).await.unwrap_err(), Coalesced::Covered);
        let recheck = arrival(1, before, ReconcileReason::Recheck);
        assert_eq!(passes.admit(R, Some(recheck)).await.unwrap_err(), Coalesced::Covered, "any reason");
        // Within the clock skew allowed, or after the pass: the event may show more than it saw.
        let later = arrival(1, Utc::now(), ReconcileReason::NotReady);
        assert!(passes.admit(R, Some(later)).await.is_ok());
    }

    #[tokio::test]
    async fn finished_work_answers_progress_and_repeats_at_its_generation_only() {
        let passes = Arc::new(Passes::default());
        let pass = passes.admit(R, None).await.unwrap();
        pass.saw(2, true);
        drop(pass);
        let now = Utc::now() + Duration::seconds(2);
        for reason in [ReconcileReason::ResourceChanged, ReconcileReason::NotReady] {
            assert_eq!(passes.admit(R, Some(arrival(2, now, reason))).await.unwrap_err(), Coalesced::Done);
        }
        assert_eq!(
            passes.admit(R, Some(arrival(1, now, ReconcileReason::GenerationChanged))).await.unwrap_err(),
            Coalesced::Done,
            "an older generation: the resource moved on"
        );
        let recheck = passes.admit(R, Some(arrival(2, now, ReconcileReason::Recheck))).await;
        drop(recheck.expect("a re-check of a reconciled resource runs"));
        let newer = passes.admit(R, Some(arrival(3, now, ReconcileReason::GenerationChanged))).await;
        drop(newer.expect("a newer generation runs"));
        drop(passes.admit(R, None).await.expect("the adapter's own work runs"));
    }

    #[test]
    fn finished_work_is_forgotten_after_a_while_so_repeats_get_a_pass_again() {
        let since = Utc::now() - DONE_FOR - Duration::seconds(1);
        let seen = Seen { generation: 1, since, done: true };
        let repeat = arrival(1, Utc::now(), ReconcileReason::NotReady);
        assert_eq!(seen.answers(&repeat, Utc::now()), None);
        assert_eq!(seen.answers(&repeat, since + Duration::seconds(1)), Some(Coalesced::Done));
    }

    #[test]
    fn the_memory_is_bounded_by_forgetting_the_oldest_half() {
        let start = Utc::now();
        let mut seen: HashMap<Uuid, Seen> = (0..10u128)
            .map(|i| {
                let since = start + Duration::seconds(i as i64);
                (Uuid::from_u128(i), Seen { generation: 1, since, done: false })
            })
            .collect();
        forget_oldest(&mut seen);
        assert_eq!(seen.len(), 4);
        assert!(seen.keys().all(|id| id.as_u128() >= 6));
    }
}
