//! One Sentinel: the poll -> decide -> publish loop of a SentinelConfig, run as a supervised task.
//! A poll lists the shard's possibly-due resources (every page; between full polls, while the
//! feed is followed, only the ones due, see [`super::due`]), decides per resource, publishes the
//! events, and remembers what it published so a stuck resource gets one event per backoff.
//! API or broker trouble degrades the task (and its status) but never ends it.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use hyperfleet_api_model::{ListParams, Page, Resource, client::Client, search::Expr};
use hyperfleet_broker::Broker;
use hyperfleet_crds::v1alpha1::ResourceType;

use super::{
    decision::{Backoff, Decision, Published, decide},
    due::Looks,
    follow::Follower,
    metrics::{SentinelMetrics, ShardLabels},
    publish::PublishError,
    query::{among_ids, poll_search},
    rules::decide_custom,
    settings::{SentinelProgress, SentinelSettings},
};
use crate::tasks::{TaskContext, TaskHealth};

/// Page size of a poll.
const PAGE_SIZE: u32 = 1000;
/// Longest wait between polls while the API or broker keeps failing.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(60);
/// The shard is counted (an exact COUNT on the API side) on one poll in this many: the figure is
/// only for status and metrics, and at 100k resources the count is most of a steady poll.
const COUNT_EVERY: u64 = 12;

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum SentinelError {
    /// The API could not be listed.
    #[error("listing {resource_type} failed")]
    List {
        /// What was listed.
        resource_type: &'static str,
        /// The client's error.
        #[source]
        source: hyperfleet_api_model::client::ClientError,
    },
}

/// The outcome of one poll.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Resources in the shard (as last counted).
    pub in_shard: i64,
    /// What read the resources.
    pub read: Read,
    /// Resources read.
    pub fetched: usize,
    /// Resources looked at since the last full poll that were not reconciled at their generation.
    pub pending: usize,
    /// Events published.
    pub published: usize,
    /// Publishes that failed (retried at the next decision), with the last error.
    pub publish_errors: usize,
    /// The last publish or CEL error of the poll.
    pub last_error: Option<String>,
}

/// What read a Sentinel's resources from the API (a bounded metric label).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Read {
    /// A poll of the whole possibly-due set.
    #[default]
    FullPoll,
    /// A poll of the resources due since the last full poll ([`super::due`]).
    DuePoll,
    /// A reaction to the change feed ([`super::follow`]).
    ChangeFeed,
}

impl Read {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A Sentinel and what it remembers between polls.
#[derive(Debug)]
pub struct Sentinel {
    pub(super) settings: SentinelSettings,
    pub(super) api: Client,
    pub(super) broker: Arc<dyn Broker>,
    pub(super) published: HashMap<Uuid, Published>,
    pub(super) metrics: SentinelMetrics,
    /// Whether the last read of the change feed succeeded.
    pub(super) following: bool,
    /// When each resource looked at since the last full poll is next due.
    pub(super) looks: Looks,
    polls: u64,
    in_shard: i64,
}

impl Sentinel {
    /// A Sentinel that has published nothing yet.
    pub fn new(settings: SentinelSettings, api: Client, broker: Arc<dyn Broker>) -> Self {
        let metrics = SentinelMetrics::default();
        Self {
            settings,
            api,
            broker,
            published: HashMap::new(),
            metrics,
            following: false,
            looks: Looks::default(),
            polls: 0,
            in_shard: 0,
        }
    }

    /// Records into `metrics` (registered by the caller) instead of private series.
    pub fn with_metrics(mut self, metrics: SentinelMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub(super) fn labels(&self) -> ShardLabels {
        ShardLabels {
            resource_type: self.settings.resource_type.as_str().to_owned(),
            namespace: self.settings.namespace.clone(),
            shard: self.settings.name.clone(),
        }
    }

    /// One poll at `now`: of the due resources only when [`Sentinel::may_read_only_due`],
    /// else of the whole possibly-due set.
    pub async fn poll(&mut self, now: DateTime<Utc>) -> Result<PollReport, SentinelError> {
        if self.polls.is_multiple_of(COUNT_EVERY) {
            self.in_shard = self.count(self.settings.shard.as_ref()).await?;
        }
        self.polls += 1;
        let (read, resources) = if self.may_read_only_due(now) {
            (Read::DuePoll, self.read_due(now).await?)
        } else {
            let search = if self.settings.rules.uses_builtin_decision() {
                Some(poll_search(self.settings.shard.as_ref(), now, self.settings.backoff.ready))
            } else {
                self.settings.shard.clone()
            };
            let resources = self.list_all(search.as_ref()).await?;
            self.looks.start_over(now);
            (Read::FullPoll, resources)
        };
        let mut report =
            PollReport { in_shard: self.in_shard, read, fetched: resources.len(), ..PollReport::default() };
        let mut due = Vec::new();
        for resource in &resources {
            match self.decide_for(resource, now) {
                Ok((Decision::Publish(reason), json)) => due.push((resource, reason, json)),
                Ok((Decision::Wait { until }, _)) => self.looks.saw(resource, until),
                Err(err) => {
                    self.looks.saw(resource, now);
                    self.failed(resource, &err, &mut report);
                }
            }
        }
        self.publish_all(&due, now, &mut report).await;
        report.pending = self.looks.pending();
        self.forget_older_than(now - self.settings.backoff.ready * 2);
        Ok(report)
    }

    pub(super) fn failed(&self, resource: &Resource, err: &PublishError, report: &mut PollReport) {
        report.publish_errors += 1;
        let message = hyperfleet_telemetry::error_chain(err);
        tracing::warn!(sentinel = %self.settings.name, id = %resource.id, error = %message, category = err.category(), "publish failed; will retry");
        report.last_error = Some(format!("{}: {message}", resource.id));
    }

    /// The decision for `resource` at `now` and (when CEL needs it) the resource as JSON.
    fn decide_for(
        &self,
        resource: &Resource,
        now: DateTime<Utc>,
    ) -> Result<(Decision, Option<serde_json::Value>), PublishError> {
        let rules = &self.settings.rules;
        let json = (rules.decision.is_some() || !rules.data.is_empty())
            .then(|| serde_json::to_value(resource))
            .transpose()
            .map_err(PublishError::Resource)?;
        let published = self.published.get(&resource.id).copied();
        let backoff = self.backoff();
        let decision = match (&rules.decision, &json) {
            (Some(expression), Some(json)) => {
                decide_custom(expression, resource, json, published, backoff, now)
                    .map_err(PublishError::Decision)?
            }
            _ => decide(resource, published, backoff, now),
        };
        Ok((decision, json))
    }

    /// The backoffs as they apply now: repeats of not-ready events grow only while the change
    /// feed announces every change (without it they are what moves resources on).
    pub(super) fn backoff(&self) -> Backoff {
        let backoff = self.settings.backoff;
        if self.following { backoff } else { Backoff { repeat_doublings: 0, ..backoff } }
    }

    /// Drops memories of events so old that the decision no longer looks at them.
    fn forget_older_than(&mut self, horizon: DateTime<Utc>) {
        self.published.retain(|_, p| p.at >= horizon);
    }

    async fn list(&self, params: &ListParams) -> Result<Page<Resource>, SentinelError> {
        let result = match self.settings.resource_type {
            ResourceType::Clusters => self.api.list_clusters(params).await,
            ResourceType::Nodepools => self.api.list_all_nodepools(params).await,
        };
        result.map_err(|source| SentinelError::List {
            resource_type: self.settings.resource_type.as_str(),
            source,
        })
    }

    /// How many resources match `search`.
    async fn count(&self, search: Option<&Expr>) -> Result<i64, SentinelError> {
        let params = ListParams { size: Some(1), ..ListParams::default() }.with_search(search);
        Ok(self.list(&params).await?.total)
    }

    /// Every match of a search, paged by id (keyset) without recounting per page, so a large
    /// result costs linear time instead of quadratic.
    pub(super) async fn list_all(&self, search: Option<&Expr>) -> Result<Vec<Resource>, SentinelError> {
        let mut resources = Vec::new();
        let mut after: Option<Uuid> = None;
        loop {
            let params = ListParams {
                size: Some(PAGE_SIZE),
                order: Some("id asc".into()),
                count: Some(false),
                after,
                ..ListParams::default()
            }
            .with_search(search);
            let answer = self.list(&params).await?;
            let last_page = answer.items.len() < PAGE_SIZE as usize;
            after = answer.items.last().map(|r| r.id);
            resources.extend(answer.items);
            if last_page || after.is_none() {
                break;
            }
        }
        Ok(resources)
    }

    /// The shard's resources among `ids`, read in a few lists (as many ids in each as a search
    /// holds), not one GET each; the ones not found are gone or left the shard.
    pub(super) async fn list_among(&self, ids: &[Uuid]) -> Result<Vec<Resource>, SentinelError> {
        let mut resources = Vec::with_capacity(ids.len());
        for search in among_ids(self.settings.shard.as_ref(), ids) {
            resources.extend(self.list_all(Some(&search)).await?);
        }
        Ok(resources)
    }

    /// Polls until cancelled, reporting health and progress; failures back off up to a minute.
    pub async fn run(mut self, context: TaskContext<SentinelProgress>) {
        let labels = self.labels();
        let mut failures = 0u32;
        let mut follower = Follower::default();
        loop {
            follower.start(&self.api, &self.settings).await;
            self.following = follower.broken.is_none();
            let started = std::time::Instant::now();
            let now = Utc::now();
            let wait = match self.poll(now).await {
                Ok(report) => {
                    failures = 0;
                    self.metrics.poll_succeeded(&labels, &report, started.elapsed(), now);
                    context.update(|progress| record_poll(progress, &report, now));
                    context.report(poll_health(&report, follower.broken.as_deref()));
                    jittered(self.settings.poll_interval, &self.settings.name, self.polls)
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    self.metrics.poll_failed(&labels, started.elapsed());
                    let message = hyperfleet_telemetry::error_chain(&err);
                    tracing::warn!(sentinel = %self.settings.name, error = %message, failures, "poll failed");
                    context.update(|progress| progress.last_error = Some(message.clone()));
                    context.report(TaskHealth::Degraded(message));
                    (self.settings.poll_interval * 2u32.saturating_pow(failures.min(6)))
                        .min(MAX_ERROR_BACKOFF)
                }
            };
            if !self.follow_until(&mut follower, &context, wait).await {
                break;
            }
        }
        self.metrics.forget(&labels);
    }
}

/// `interval` stretched by 0-10 %, differently per Sentinel and poll, so shards started together
/// do not hit the API in lock-step.
fn jittered(interval: Duration, name: &str, poll: u64) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (name, poll).hash(&mut hasher);
    let per_mille = u32::try_from(hasher.finish() % 101).unwrap_or(0);
    interval + interval * per_mille / 1000
}

fn record_poll(progress: &mut SentinelProgress, report: &PollReport, now: DateTime<Utc>) {
    progress.last_poll = Some(now);
    progress.in_shard = report.in_shard;
    progress.pending = i64::try_from(report.pending).unwrap_or(i64::MAX);
    progress.published += report.published as u64;
    progress.publish_errors += report.publish_errors as u64;
    progress.last_error.clone_from(&report.last_error);
}

/// A poll's health, and the change feed's when it cannot be followed (the CR says so).
fn poll_health(report: &PollReport, feed_broken: Option<&str>) -> TaskHealth {
    if report.publish_errors > 0 {
        let last = report.last_error.as_deref().unwrap_or("unknown error");
        TaskHealth::Degraded(format!("{} publishes failed; last: {last}", report.publish_errors))
    } else if let Some(why) = feed_broken {
        TaskHealth::Degraded(format!("cannot follow the API's change feed ({why}); polling only"))
    } else {
        TaskHealth::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_that_cannot_be_followed_degrades_the_sentinel_and_says_why() {
        let clean = PollReport::default();
        assert_eq!(poll_health(&clean, None), TaskHealth::Running);
        let TaskHealth::Degraded(why) = poll_health(&clean, Some("404 Not Found")) else {
            panic!("not degraded")
        };
        assert!(why.contains("change feed (404 Not Found); polling only"), "{why}");
        let failing =
            PollReport { publish_errors: 2, last_error: Some("broker down".into()), ..PollReport::default() };
        let TaskHealth::Degraded(why) = poll_health(&failing, Some("x")) else { panic!("not degraded") };
        assert!(why.starts_with("2 publishes failed"), "publish failures say more: {why}");
    }

    #[test]
    fn poll_intervals_are_stretched_by_at_most_ten_percent_and_differ_between_shards() {
        let interval = Duration::from_secs(10);
        let waits: Vec<Duration> = (0..50).map(|poll| jittered(interval, "eu", poll)).collect();
        assert!(waits.iter().all(|w| *w >= interval && *w <= interval * 11 / 10));
        assert!(waits.iter().any(|w| *w != waits[0]), "not constant");
        let other: Vec<Duration> = (0..50).map(|poll| jittered(interval, "us", poll)).collect();
        assert_ne!(waits, other);
    }
}
