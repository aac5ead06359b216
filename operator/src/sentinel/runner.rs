//! One Sentinel: the poll -> decide -> publish loop of a SentinelConfig, run as a supervised task.
//! A poll lists the shard's possibly-due resources (every page), decides per resource, publishes
//! the events, and remembers what it published so a stuck resource gets one event per backoff.
//! API or broker trouble degrades the task (and its status) but never ends it.

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use hyperfleet_api_model::{ListParams, Page, Resource, client::Client};
use hyperfleet_broker::Broker;
use hyperfleet_crds::v1alpha1::ResourceType;

use super::{
    decision::{Backoff, Decision, Published, Reason, decide, is_reconciled},
    event::reconcile_event,
    query::poll_search,
};
use crate::tasks::{TaskContext, TaskHealth};

/// Page size of a poll.
const PAGE_SIZE: u32 = 1000;
/// Longest wait between polls while the API or broker keeps failing.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(60);

/// What a Sentinel needs to know, resolved from its SentinelConfig.
#[derive(Debug, Clone)]
pub struct SentinelSettings {
    /// The SentinelConfig's name (the event source).
    pub name: String,
    /// Clusters or node pools.
    pub resource_type: ResourceType,
    /// The shard as an API search, `None` for everything.
    pub shard: Option<String>,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Publish backoffs.
    pub backoff: Backoff,
    /// Topic events go to.
    pub topic: String,
}

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

impl SentinelError {
    /// Bounded label for metrics.
    pub fn category(&self) -> &'static str {
        match self {
            SentinelError::List { .. } => "api",
        }
    }
}

/// The outcome of one poll.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Resources in the shard.
    pub in_shard: i64,
    /// Possibly-due resources fetched.
    pub fetched: usize,
    /// Fetched resources not reconciled at their generation.
    pub pending: usize,
    /// Events published.
    pub published: usize,
    /// Publishes that failed (retried at the next decision).
    pub publish_errors: usize,
}

/// A Sentinel and what it remembers between polls.
#[derive(Debug)]
pub struct Sentinel {
    settings: SentinelSettings,
    api: Client,
    broker: Arc<dyn Broker>,
    published: HashMap<Uuid, Published>,
}

impl Sentinel {
    /// A Sentinel that has published nothing yet.
    pub fn new(settings: SentinelSettings, api: Client, broker: Arc<dyn Broker>) -> Self {
        Self { settings, api, broker, published: HashMap::new() }
    }

    /// One poll at `now`.
    pub async fn poll(&mut self, now: DateTime<Utc>) -> Result<PollReport, SentinelError> {
        let in_shard = self.count(self.settings.shard.clone()).await?;
        let search = poll_search(self.settings.shard.as_deref(), now, self.settings.backoff.ready);
        let resources = self.list_all(search).await?;
        let mut report = PollReport { in_shard, fetched: resources.len(), ..PollReport::default() };
        for resource in &resources {
            if !is_reconciled(resource) {
                report.pending += 1;
            }
            let Decision::Publish(reason) =
                decide(resource, self.published.get(&resource.id).copied(), self.settings.backoff, now)
            else {
                continue;
            };
            match self.publish(resource, reason, now).await {
                Ok(()) => {
                    report.published += 1;
                    self.published
                        .insert(resource.id, Published { generation: resource.generation, at: now });
                }
                Err(err) => {
                    report.publish_errors += 1;
                    tracing::warn!(sentinel = %self.settings.name, id = %resource.id, error = %err, "publish failed; will retry");
                }
            }
        }
        self.forget_older_than(now - self.settings.backoff.ready * 2);
        Ok(report)
    }

    async fn publish(&self, resource: &Resource, reason: Reason, now: DateTime<Utc>) -> Result<(), String> {
        let event =
            reconcile_event(resource, self.settings.resource_type.as_str(), reason, &self.settings.name, now)
                .map_err(|err| err.to_string())?;
        self.broker.publish(&self.settings.topic, &event).await.map_err(|err| err.to_string())?;
        tracing::debug!(sentinel = %self.settings.name, id = %resource.id, reason = reason.as_str(), "published");
        Ok(())
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
    async fn count(&self, search: Option<String>) -> Result<i64, SentinelError> {
        Ok(self.list(&ListParams { size: Some(1), search, ..ListParams::default() }).await?.total)
    }

    /// Every match of a search, paged by id (keyset) without recounting per page, so a large
    /// result costs linear time instead of quadratic.
    async fn list_all(&self, search: String) -> Result<Vec<Resource>, SentinelError> {
        let mut resources = Vec::new();
        let mut after: Option<Uuid> = None;
        loop {
            let page_search = match after {
                Some(last) => format!("({search}) and id > '{last}'"),
                None => search.clone(),
            };
            let params = ListParams {
                size: Some(PAGE_SIZE),
                order: Some("id asc".into()),
                search: Some(page_search),
                count: Some(false),
                page: None,
            };
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

    /// Polls until cancelled, reporting health; failures back off up to a minute.
    pub async fn run(mut self, context: TaskContext) {
        let mut failures = 0u32;
        loop {
            let wait = match self.poll(Utc::now()).await {
                Ok(report) => {
                    failures = 0;
                    let health = if report.publish_errors > 0 {
                        TaskHealth::Degraded(format!("{} publishes failed", report.publish_errors))
                    } else {
                        TaskHealth::Running
                    };
                    context.report(health);
                    self.settings.poll_interval
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(sentinel = %self.settings.name, error = %err, failures, "poll failed");
                    context.report(TaskHealth::Degraded(format!("{err}")));
                    (self.settings.poll_interval * 2u32.saturating_pow(failures.min(6)))
                        .min(MAX_ERROR_BACKOFF)
                }
            };
            tokio::select! {
                () = context.cancel.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
