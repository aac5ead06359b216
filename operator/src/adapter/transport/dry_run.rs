//! The dry-run transport: objects live in memory. Applied objects exist at once; a Job runs for
//! a configurable time and then completes (or fails, when told to), so `local` mode shows the
//! whole lifecycle without a cluster, and `adapter test` can print what would be applied. As
//! on a real API server, a finished Job with `ttlSecondsAfterFinished` is removed once that has
//! passed, so a long `local` run holds only what a cluster would; the record of what was
//! applied keeps the most recent [`MAX_RECORDED`].

mod watch;

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use self::watch::Watching;
use super::{ObjectTransport, Select, Target, TransportError, generation_of};
use crate::adapter::job::{JobState, job_state};

/// How simulated Jobs end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// They complete.
    Succeed,
    /// They fail (as the Job controller says: `BackoffLimitExceeded`), their pod's termination
    /// message saying this.
    Fail(String),
    /// Their pods are refused (as PodSecurity admission would): they never start, and a
    /// `FailedCreate` warning with this message says why.
    Refuse(String),
}

#[derive(Debug, Clone)]
struct Stored {
    object: Value,
    created: Instant,
}

type Key = (String, String, Option<String>, String); // apiVersion, kind, namespace, name

/// Applied manifests [`DryRun::recorded`] keeps (the oldest go first).
pub const MAX_RECORDED: usize = 1000;

/// In-memory objects with simulated Job progress.
#[derive(Debug)]
pub struct DryRun {
    objects: Mutex<BTreeMap<Key, Stored>>,
    job_duration: Duration,
    job_outcome: JobOutcome,
    creates: Mutex<VecDeque<Value>>,
    /// Each object stored (new or changed) and when, for watches.
    applied: broadcast::Sender<(Key, Instant)>,
    /// When finished Jobs were last swept out by their TTL.
    swept: Mutex<Instant>,
}

/// Stores a watch may fall behind by before it must list again.
const WATCH_BUFFER: usize = 4096;

/// How often expired Jobs are swept out (not on every read: a fleet holds many objects).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl DryRun {
    /// Jobs finish `job_duration` after creation, as `job_outcome` says.
    pub fn new(job_duration: Duration, job_outcome: JobOutcome) -> Self {
        Self {
            objects: Mutex::default(),
            job_duration,
            job_outcome,
            creates: Mutex::default(),
            applied: broadcast::channel(WATCH_BUFFER).0,
            swept: Mutex::new(Instant::now()),
        }
    }

    /// The objects created or applied, in order, the last [`MAX_RECORDED`] (what `adapter test`
    /// prints).
    pub fn recorded(&self) -> Vec<Value> {
        self.creates.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    fn key(manifest: &Value) -> Result<Key, TransportError> {
        let target = Target::of(manifest)?;
        match target.select {
            Select::Name(name) => Ok((target.api_version, target.kind, target.namespace, name)),
            Select::Labels(_) => Err(TransportError::Manifest("a manifest names its object".into())),
        }
    }

    /// The object as it looks now: Jobs and the [`simulated`](super::simulated) kinds get a
    /// status from their age, unless they have one of their own (a seeded object's).
    fn observe(&self, stored: &Stored) -> Value {
        let mut object = stored.object.clone();
        if object.get("status").is_some_and(|status| !status.is_null()) {
            return object;
        }
        if let Some(status) = super::simulated::status(&object, stored.created.elapsed() >= self.job_duration)
        {
            object["status"] = status;
        } else if object["kind"] == "Job" {
            object["status"] = if stored.created.elapsed() < self.job_duration {
                json!({"active": 1})
            } else {
                match &self.job_outcome {
                    JobOutcome::Refuse(_) => json!({"active": 0}),
                    JobOutcome::Succeed => {
                        json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
                    }
                    JobOutcome::Fail(_) => json!({"failed": 1, "conditions": [{
                        "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit"
                    }]}),
                }
            };
        }
        object
    }

    fn store(&self, manifest: &Value, keep_existing: bool) -> Result<(Value, bool), TransportError> {
        let key = Self::key(manifest)?;
        let mut objects = self.objects();
        if objects.get(&key).is_some_and(|stored| self.expired(stored)) {
            objects.remove(&key);
        }
        if keep_existing && let Some(stored) = objects.get(&key) {
            return Ok((self.observe(stored), false));
        }
        let created = objects.get(&key).map_or_else(Instant::now, |s| s.created);
        // As the API server does: `metadata.generation` starts at 1 and counts spec changes.
        let generation = match objects.get(&key) {
            Some(old) if old.object.get("spec") == manifest.get("spec") => generation(&old.object),
            Some(old) => generation(&old.object) + 1,
            None => 1,
        };
        let mut object = manifest.clone();
        object["metadata"]["generation"] = generation.into();
        // As with server-side apply: the status (another controller's) and finalizers stay.
        if let Some(old) = objects.get(&key) {
            if let Some(status) = old.object.get("status").filter(|s| !s.is_null()) {
                object["status"] = status.clone();
            }
            if let Some(finalizers) = old.object.pointer("/metadata/finalizers") {
                object["metadata"]["finalizers"] = finalizers.clone();
            }
        }
        // As an API server's watch: an apply that changes nothing is no event.
        let changed = objects.get(&key).is_none_or(|old| old.object != object);
        let stored = Stored { object, created };
        let observed = self.observe(&stored);
        objects.insert(key.clone(), stored);
        if changed {
            // Nobody watching is fine.
            let _ = self.applied.send((key, Instant::now()));
        }
        let mut creates = self.creates.lock().unwrap_or_else(PoisonError::into_inner);
        if creates.len() == MAX_RECORDED {
            creates.pop_front();
        }
        creates.push_back(manifest.clone());
        Ok((observed, true))
    }

    /// Puts `object` in the simulated cluster as it is (an object someone else made: an
    /// inventory ConfigMap, a Secret), without recording it as applied.
    pub fn seed(&self, object: &Value) -> Result<(), TransportError> {
        let key = Self::key(object)?;
        let mut objects = self.objects();
        if objects.get(&key).is_none_or(|stored| stored.object != *object) {
            objects.insert(key, Stored { object: object.clone(), created: Instant::now() });
        }
        Ok(())
    }

    /// The live objects, the finished Jobs whose TTL has passed removed (swept once a second).
    fn objects(&self) -> MutexGuard<'_, BTreeMap<Key, Stored>> {
        let mut objects = self.objects.lock().unwrap_or_else(PoisonError::into_inner);
        let mut swept = self.swept.lock().unwrap_or_else(PoisonError::into_inner);
        if swept.elapsed() >= SWEEP_EVERY {
            *swept = Instant::now();
            objects.retain(|_, stored| !self.expired(stored));
        }
        objects
    }

    /// When the object of `key` gets its simulated controller's final status.
    fn flip_of(&self, key: &Key) -> Option<Instant> {
        self.objects().get(key).map(|stored| stored.created + self.job_duration)
    }

    /// The object of `key` as it looks now, if `target` selects it.
    fn observed_if(&self, key: &Key, target: &Target) -> Option<Value> {
        let (api_version, kind, namespace, name) = key;
        let selected = *api_version == target.api_version
            && *kind == target.kind
            && *namespace == target.namespace
            && match &target.select {
                Select::Name(wanted) => wanted == name,
                Select::Labels(_) => true,
            };
        let objects = self.objects();
        let stored = objects.get(key).filter(|stored| selected && !self.expired(stored))?;
        let labels = stored.object.pointer("/metadata/labels");
        let labelled = match &target.select {
            Select::Labels(wanted) => {
                wanted.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(&Value::String(v.clone())))
            }
            Select::Name(_) => true,
        };
        labelled.then(|| self.observe(stored))
    }

    /// A Job finished (by its simulated duration) longer ago than its `ttlSecondsAfterFinished`.
    fn expired(&self, stored: &Stored) -> bool {
        let ttl = stored.object.pointer("/spec/ttlSecondsAfterFinished").and_then(Value::as_u64);
        match (stored.object["kind"].as_str(), ttl) {
            (Some("Job"), Some(ttl)) if !matches!(self.job_outcome, JobOutcome::Refuse(_)) => {
                stored.created.elapsed() >= self.job_duration + Duration::from_secs(ttl)
            }
            _ => false,
        }
    }

    /// The keys `target` selects: by name a lookup, by labels the objects of its kind in its
    /// namespace only (the keys order by apiVersion, kind, namespace, name), as an API server's
    /// index does, so a lookup does not grow with every other kind and namespace stored.
    fn matching(&self, target: &Target) -> Vec<Key> {
        let objects = self.objects();
        let prefix = (target.api_version.clone(), target.kind.clone(), target.namespace.clone());
        let live = |stored: &Stored| !self.expired(stored);
        match &target.select {
            Select::Name(name) => {
                let key = (prefix.0, prefix.1, prefix.2, name.clone());
                objects.get(&key).filter(|stored| live(stored)).map(|_| key).into_iter().collect()
            }
            Select::Labels(labels) => {
                let start = (prefix.0.clone(), prefix.1.clone(), prefix.2.clone(), String::new());
                objects
                    .range(start..)
                    .take_while(|((api_version, kind, namespace, _), _)| {
                        (api_version, kind, namespace) == (&prefix.0, &prefix.1, &prefix.2)
                    })
                    .filter(|(_, stored)| {
                        let own = stored.object.pointer("/metadata/labels");
                        labels
                            .iter()
                            .all(|(k, v)| own.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v))
                    })
                    .filter(|(_, stored)| live(stored))
                    .map(|(key, _)| key.clone())
                    .collect()
            }
        }
    }
}

fn generation(object: &Value) -> i64 {
    object.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1)
}

#[async_trait]
impl ObjectTransport for DryRun {
    /// The selected objects when their simulated controller finishes (a Job ends, a
    /// HostedCluster becomes available): each applied object's status flips once,
    /// `job_duration` after it was created, and the watch wakes then (not by looking).
    async fn changes(
        self: std::sync::Arc<Self>,
        target: Target,
    ) -> Result<Option<futures::stream::BoxStream<'static, Value>>, TransportError> {
        use futures::StreamExt as _;
        let watch = Watching::start(self, target);
        Ok(Some(futures::stream::unfold(watch, Watching::next).boxed()))
    }

    async fn create(&self, manifest: &Value) -> Result<(Value, bool), TransportError> {
        self.store(manifest, true)
    }

    async fn apply(&self, manifest: &Value) -> Result<Value, TransportError> {
        self.store(manifest, false).map(|(object, _)| object)
    }

    async fn find(&self, target: &Target) -> Result<Option<Value>, TransportError> {
        let keys = self.matching(target);
        let objects = self.objects();
        let found = keys.iter().filter_map(|key| objects.get(key)).map(|stored| self.observe(stored));
        Ok(found.max_by_key(generation_of))
    }

    async fn list(&self, target: &Target) -> Result<Vec<Value>, TransportError> {
        let keys = self.matching(target);
        let objects = self.objects();
        // Keys order by (apiVersion, kind, namespace, name): one target's objects by name.
        Ok(keys.iter().filter_map(|key| objects.get(key)).map(|stored| self.observe(stored)).collect())
    }

    /// As the API server does: an object with finalizers is only marked for deletion
    /// (`metadata.deletionTimestamp`), and stays until its controller removes them.
    async fn delete(&self, target: &Target) -> Result<bool, TransportError> {
        let keys = self.matching(target);
        let mut objects = self.objects();
        let mut deleted = 0;
        for key in &keys {
            let Some(stored) = objects.get_mut(key) else { continue };
            deleted += 1;
            let finalizers = stored.object.pointer("/metadata/finalizers").and_then(Value::as_array);
            if finalizers.is_some_and(|f| !f.is_empty()) {
                stored.object["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
            } else {
                objects.remove(key);
            }
        }
        Ok(deleted > 0)
    }

    async fn termination_message(&self, job: &Target) -> Result<Option<String>, TransportError> {
        let found = self.find(job).await?;
        let failed = matches!(job_state(found.as_ref()), JobState::Failed(_));
        Ok(match &self.job_outcome {
            JobOutcome::Fail(message) if failed => Some(message.clone()),
            _ => None,
        })
    }

    async fn warnings(&self, target: &Target) -> Result<Vec<String>, TransportError> {
        Ok(match &self.job_outcome {
            JobOutcome::Refuse(message) if target.kind == "Job" && !self.matching(target).is_empty() => {
                vec![message.clone()]
            }
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, ttl: Option<u64>) -> Value {
        let mut job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "jobs"}, "spec": {}});
        if let Some(ttl) = ttl {
            job["spec"]["ttlSecondsAfterFinished"] = ttl.into();
        }
        job
    }

    #[tokio::test]
    async fn finished_jobs_go_after_their_ttl_as_on_a_cluster() {
        let dry_run = DryRun::new(Duration::ZERO, JobOutcome::Succeed);
        dry_run.create(&job("short-lived", Some(0))).await.unwrap();
        dry_run.create(&job("kept", None)).await.unwrap();
        let running = DryRun::new(Duration::from_secs(3600), JobOutcome::Succeed);
        running.create(&job("running", Some(0))).await.unwrap();
        let find = |name: &str| Target::of(&job(name, None)).unwrap();
        assert!(dry_run.find(&find("short-lived")).await.unwrap().is_none(), "finished, TTL 0: removed");
        assert!(dry_run.find(&find("kept")).await.unwrap().is_some(), "no TTL: kept");
        assert!(
            running.find(&find("running")).await.unwrap().is_some(),
            "a running Job's TTL has not started"
        );
    }

    #[tokio::test]
    async fn the_record_keeps_the_most_recent_objects() {
        let dry_run = DryRun::new(Duration::from_secs(3600), JobOutcome::Succeed);
        for n in 0..MAX_RECORDED + 5 {
            dry_run.apply(&job(&format!("job-{n}"), None)).await.unwrap();
        }
        let recorded = dry_run.recorded();
        assert_eq!(recorded.len(), MAX_RECORDED);
        assert_eq!(recorded[0]["metadata"]["name"], "job-5");
        assert_eq!(recorded[MAX_RECORDED - 1]["metadata"]["name"], format!("job-{}", MAX_RECORDED + 4));
    }
}
