//! Coalescing an adapter's events per resource: at most one pass runs for a resource, and at
//! most one more waits behind it; a newer event for the same resource takes the waiting place
//! (latest wins) and the one it replaced is acknowledged at once as coalesced. Every pass
//! fetches the resource as it is now, so the waiting pass covers what the replaced ones asked
//! for: copies re-published while a Job runs cost one pass, not one each.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Debug, Default)]
struct Slot {
    running: bool,
    /// The ticket of the event waiting behind the running pass (0: none).
    waiting: u64,
    issued: u64,
    notify: Arc<Notify>,
}

/// The passes of one adapter, by resource.
#[derive(Debug, Default)]
pub struct Passes {
    slots: Mutex<HashMap<Uuid, Slot>>,
}

/// A running pass; dropping it lets the waiting one run.
#[derive(Debug)]
pub struct Pass {
    passes: Arc<Passes>,
    id: Uuid,
}

/// An event waiting for its resource's pass; dropped (cancelled), it gives up its place.
struct Waiting<'a> {
    passes: &'a Arc<Passes>,
    id: Uuid,
    ticket: u64,
}

impl Passes {
    fn slots(&self) -> MutexGuard<'_, HashMap<Uuid, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for this event's turn on resource `id`: `Some` to run the pass, `None` when a newer
    /// event for the resource took its place (coalesced).
    pub async fn admit(self: &Arc<Self>, id: Uuid) -> Option<Pass> {
        let (ticket, notify) = {
            let mut slots = self.slots();
            let slot = slots.entry(id).or_default();
            if !slot.running && slot.waiting == 0 {
                slot.running = true;
                return Some(Pass { passes: self.clone(), id });
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
                let mut slots = self.slots();
                let slot = slots.entry(id).or_default();
                if slot.waiting != ticket {
                    return None;
                }
                if !slot.running {
                    slot.running = true;
                    // Its ticket is no longer the waiting one: dropping `waiting` changes nothing.
                    slot.waiting = 0;
                    return Some(Pass { passes: self.clone(), id });
                }
            }
            notified.await;
        }
    }

    fn finish(&self, id: Uuid) {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&id) else { return };
        slot.running = false;
        if slot.waiting == 0 {
            slots.remove(&id);
        } else {
            slot.notify.notify_waiters();
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.passes.finish(self.id);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut slots = self.passes.slots();
        let Some(slot) = slots.get_mut(&self.id) else { return };
        if slot.waiting == self.ticket {
            slot.waiting = 0;
            if !slot.running {
                slots.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const R: Uuid = Uuid::from_u128(1);

    #[tokio::test]
    async fn one_pass_runs_one_waits_and_the_rest_are_coalesced_at_once() {
        let passes = Arc::new(Passes::default());
        let running = passes.admit(R).await.expect("the first runs");
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let passes = passes.clone();
                tokio::spawn(async move { passes.admit(R).await.is_some() })
            })
            .collect();
        // Each newer arrival replaces the one waiting; all but the last end while the pass runs.
        hyperfleet_testing::wait_until("four coalesced", Duration::from_secs(2), async || {
            waiters.iter().filter(|w| w.is_finished()).count() == 4
        })
        .await;
        drop(running);
        let mut ran = 0;
        for waiter in waiters {
            ran += usize::from(waiter.await.unwrap());
        }
        assert_eq!(ran, 1, "exactly one more pass");
        hyperfleet_testing::wait_until("the slot freed", Duration::from_secs(2), async || {
            passes.slots().is_empty()
        })
        .await;
    }

    #[tokio::test]
    async fn other_resources_run_at_once_and_a_cancelled_waiter_gives_its_place_up() {
        let passes = Arc::new(Passes::default());
        let first = passes.admit(R).await.unwrap();
        assert!(passes.admit(Uuid::from_u128(2)).await.is_some(), "another resource is not held up");
        let cancelled = tokio::time::timeout(Duration::from_millis(50), passes.admit(R)).await;
        assert!(cancelled.is_err(), "it waited behind the running pass");
        drop(first);
        assert!(passes.admit(R).await.is_some(), "the cancelled waiter left no ghost");
    }
}
