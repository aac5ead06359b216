//! A watch of the dry-run cluster, as [`DryRun::changes`] hands it to an adapter: the objects
//! it selects, each yielded when its simulated controller flips its status. Like a Kubernetes
//! watch that falls too far behind (410 Gone), a watcher that missed stores lists what it
//! selects again, so a busy adapter is late to learn of a flip but never misses it.

use std::{
    cmp::Reverse,
    collections::{BTreeSet, BinaryHeap},
    sync::Arc,
    time::Instant,
};

use serde_json::Value;
use tokio::sync::broadcast;

use super::{DryRun, Key};
use crate::adapter::transport::Target;

/// A watch: the flips still to yield, in time order.
pub(super) struct Watching {
    dry_run: Arc<DryRun>,
    target: Target,
    applied: broadcast::Receiver<(Key, Instant)>,
    flips: BinaryHeap<Reverse<(Instant, Key)>>,
    /// The keys in `flips`, so a relist does not schedule one twice.
    pending: BTreeSet<Key>,
    /// When the last store the watch heard of happened (or the watch started): every flip
    /// after it that it did not hear of is found by a relist.
    synced: Instant,
}

impl Watching {
    /// A watch of what `target` selects, from now: flips still to come.
    pub(super) fn start(dry_run: Arc<DryRun>, target: Target) -> Self {
        let applied = dry_run.applied.subscribe();
        let now = Instant::now();
        let mut watch = Self {
            dry_run,
            target,
            applied,
            flips: BinaryHeap::new(),
            pending: BTreeSet::new(),
            synced: now,
        };
        watch.relist();
        watch
    }

    /// Every selected object that flips after the watch was last in sync (one yielded since
    /// may be yielded again: a spare pass, never a missed one).
    fn relist(&mut self) {
        for key in self.dry_run.matching(&self.target) {
            if let Some(at) = self.dry_run.flip_of(&key).filter(|at| *at > self.synced) {
                self.schedule(at, key);
            }
        }
    }

    fn schedule(&mut self, at: Instant, key: Key) {
        if self.pending.insert(key.clone()) {
            self.flips.push(Reverse((at, key)));
        }
    }

    /// The next object that flipped.
    pub(super) async fn next(mut self) -> Option<(Value, Self)> {
        loop {
            let next = self.flips.peek().map(|Reverse((at, _))| tokio::time::Instant::from_std(*at));
            tokio::select! {
                received = self.applied.recv() => match received {
                    Ok((key, stored)) => {
                        self.synced = stored;
                        // A flip after this store (one re-applied after its flip is no change),
                        // even if it passed while the message waited for a busy watcher.
                        if let Some(at) = self.dry_run.flip_of(&key).filter(|at| *at > stored)
                            && self.dry_run.observed_if(&key, &self.target).is_some()
                        {
                            self.schedule(at, key);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "the dry-run watch fell behind; listing again");
                        self.relist();
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = tokio::time::sleep_until(next.unwrap_or_else(tokio::time::Instant::now)), if next.is_some() => {
                    let Some(Reverse((_, key))) = self.flips.pop() else { continue };
                    self.pending.remove(&key);
                    if let Some(object) = self.dry_run.observed_if(&key, &self.target) {
                        return Some((object, self));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, time::Duration};

    use futures::StreamExt as _;
    use serde_json::json;

    use super::*;
    use crate::adapter::transport::{ObjectTransport as _, Select, dry_run::JobOutcome};

    fn job(n: usize) -> Value {
        json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": format!("job-{n}"), "namespace": "jobs", "labels": {"app": "x"}}, "spec": {}})
    }

    #[tokio::test]
    async fn a_watch_that_fell_behind_lists_again_and_misses_no_flip() {
        let dry_run = Arc::new(DryRun::new(Duration::from_millis(300), JobOutcome::Succeed));
        let labels = BTreeMap::from([("app".to_owned(), "x".to_owned())]);
        let target = Target {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            namespace: Some("jobs".into()),
            select: Select::Labels(labels),
        };
        let mut flips = dry_run.clone().changes(target).await.unwrap().expect("the dry run watches");
        // More stores than the watch buffers, while nobody reads it (a busy adapter).
        let stored = 5000;
        assert!(stored > super::super::WATCH_BUFFER);
        for n in 0..stored {
            dry_run.create(&job(n)).await.unwrap();
        }
        // Re-applying what exists changes nothing and is no event.
        dry_run.apply(&job(0)).await.unwrap();
        let mut seen = BTreeSet::new();
        let read_all = async {
            while seen.len() < stored {
                let object = flips.next().await.expect("the watch goes on");
                seen.insert(object["metadata"]["name"].as_str().unwrap().to_owned());
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read_all).await.expect("every Job's flip yielded");
    }
}
