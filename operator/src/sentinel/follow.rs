//! Following the API's change feed (`GET /changes`) between polls: the resources of the shard
//! that changed (an adapter's report, a spec change, a new resource) are re-evaluated at once,
//! so the next adapter starts as soon as the previous one reports instead of a backoff later.
//! Polls stay the safety net (and drive the ready re-checks); a feed that fails (an older API
//! without it, a cursor past the retention) degrades to polling, shows as the SentinelConfig's
//! `Degraded` condition, and is picked up again.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use hyperfleet_api_model::{ChangeKind, ChangesParams, Resource, ResourceChange, client::Client};

use super::{
    PollReport, Read, Sentinel, SentinelProgress, SentinelSettings,
    decision::{Reason, is_reconciled},
    publish::Due,
};
use crate::tasks::TaskContext;

/// How soon a failing change feed is read again: at first soon (an API still starting), then
/// doubling up to [`FEED_RETRY_MAX`].
const FEED_RETRY_MIN: Duration = Duration::from_millis(250);
/// The longest wait between two reads of a failing change feed.
const FEED_RETRY_MAX: Duration = Duration::from_secs(5);
/// How often the feed is read when the API client's timeout leaves no time to hold a read.
const SHORT_POLL: Duration = Duration::from_millis(500);

/// Where this Sentinel is in the feed, and why it cannot follow it, if so.
#[derive(Debug, Default)]
pub struct Follower {
    cursor: Option<String>,
    /// The last failure, until a read succeeds again.
    pub broken: Option<String>,
    /// Reads failed in a row.
    failures: u32,
}

/// A resource to look at again, as the feed named it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    /// The resource.
    pub id: Uuid,
    /// Its cluster, for a node pool.
    pub owner: Option<Uuid>,
}

impl Follower {
    /// The shard's resources that changed since the last call (each once), after holding the
    /// read up to the settings' wait while nothing changes. Resources gone are left out.
    pub async fn next(&mut self, api: &Client, settings: &SentinelSettings) -> Vec<Changed> {
        let first = self.cursor.is_none();
        let params = ChangesParams {
            after: self.cursor.clone(),
            kind: Some(settings.resource_type.kind().to_owned()),
            search: settings.shard.as_ref().map(ToString::to_string),
            limit: None,
            wait: (!first).then_some(settings.follow_wait),
        };
        match api.changes(&params).await {
            Ok(page) => {
                self.failures = 0;
                if self.broken.take().is_some() {
                    tracing::info!(sentinel = %settings.name, "following the change feed again");
                }
                self.cursor = Some(page.cursor);
                changed(&page.items)
            }
            Err(err) => {
                self.failures = self.failures.saturating_add(1);
                let message = hyperfleet_telemetry::error_chain(&err);
                if err.status().map(|status| status.as_u16()) == Some(410) {
                    // Behind the retention: start again from now; the polls cover the gap.
                    self.cursor = None;
                }
                if self.broken.as_deref() != Some(message.as_str()) {
                    tracing::warn!(sentinel = %settings.name, error = %message, "cannot follow the change feed; polling only");
                }
                self.broken = Some(message);
                Vec::new()
            }
        }
    }
}

impl Follower {
    /// Without a cursor (at start, after a resync), takes the feed's end as one before the
    /// full poll that follows: the poll reads what committed before it, the feed names what
    /// commits after, and no change falls between the two. What the read names, the poll reads.
    pub async fn start(&mut self, api: &Client, settings: &SentinelSettings) {
        if self.cursor.is_none() {
            self.next(api, settings).await;
        }
    }

    /// How long to wait before reading a failing feed again.
    fn retry_delay(&self) -> Duration {
        let doublings = self.failures.saturating_sub(1).min(5);
        (FEED_RETRY_MIN * 2u32.pow(doublings)).min(FEED_RETRY_MAX)
    }
}

/// Each changed resource once, in feed order, without the ones gone.
fn changed(items: &[ResourceChange]) -> Vec<Changed> {
    let mut seen = BTreeMap::new();
    for item in items {
        if item.change == ChangeKind::Deleted {
            seen.remove(&item.resource_id);
        } else {
            seen.entry(item.resource_id).or_insert(Changed { id: item.resource_id, owner: item.owner_id });
        }
    }
    seen.into_values().collect()
}

impl Sentinel {
    /// Publishes at once for each changed resource that is not reconciled and shows something
    /// the last event did not (the built-in rule only: a `messageDecision` decides at polls).
    /// The changed resources are read in a few lists (by id, within the shard), not one by one.
    async fn react(&mut self, changed: &[Changed], now: DateTime<Utc>) -> PollReport {
        let mut report = PollReport { read: Read::ChangeFeed, ..PollReport::default() };
        if !self.settings.rules.uses_builtin_decision() {
            return report;
        }
        let ids: Vec<Uuid> = changed.iter().map(|change| change.id).collect();
        let resources = match self.list_among(&ids).await {
            Ok(resources) => resources,
            Err(err) => {
                // What changed is unknown: the next poll reads everything possibly due.
                self.looks.distrust();
                tracing::warn!(sentinel = %self.settings.name, error = %hyperfleet_telemetry::error_chain(&err), "cannot read changed resources; the next poll will");
                return report;
            }
        };
        report.fetched = resources.len();
        let (due, seen): (Vec<&Resource>, Vec<&Resource>) =
            resources.iter().partition(|resource| !is_reconciled(resource) && !self.announced(resource));
        for resource in seen {
            self.look_at(resource, now);
        }
        let due: Vec<Due> =
            due.into_iter().map(|resource| (resource, Reason::ResourceChanged, None)).collect();
        self.publish_all(&due, now, &mut report).await;
        report
    }
}

impl Sentinel {
    /// Whether the last event for `resource` already showed it as it is now.
    fn announced(&self, resource: &Resource) -> bool {
        self.published.get(&resource.id).is_some_and(|published| published.announced(resource))
    }

    /// Until the next poll is due (`wait`), follows the change feed and reacts; `false` when
    /// cancelled.
    pub(super) async fn follow_until(
        &mut self,
        follower: &mut Follower,
        context: &TaskContext<SentinelProgress>,
        wait: Duration,
    ) -> bool {
        let due = tokio::time::Instant::now() + wait;
        let api = self.api.clone();
        loop {
            let read = follower.next(&api, &self.settings);
            let changed = tokio::select! {
                () = context.cancel.cancelled() => return false,
                () = tokio::time::sleep_until(due) => return true,
                changed = read => changed,
            };
            self.following = follower.broken.is_none();
            if follower.broken.is_some() {
                // Changes may go unseen until it answers (and a resynced cursor skips some).
                self.looks.distrust();
                // Polling only until the feed answers again; not a busy loop.
                tokio::select! {
                    () = context.cancel.cancelled() => return false,
                    () = tokio::time::sleep_until(due.min(tokio::time::Instant::now() + follower.retry_delay())) => {}
                }
                continue;
            }
            if changed.is_empty() {
                if self.settings.follow_wait == 0 {
                    // The API cannot hold the read (a short client timeout): do not spin.
                    tokio::select! {
                        () = context.cancel.cancelled() => return false,
                        () = tokio::time::sleep_until(due.min(tokio::time::Instant::now() + SHORT_POLL)) => {}
                    }
                }
                continue;
            }
            let report = self.react(&changed, Utc::now()).await;
            let (published, failed) = (report.published, report.publish_errors);
            self.metrics.read_and_failed(&self.labels(), &report);
            context.update(|progress| {
                progress.published += published as u64;
                progress.publish_errors += failed as u64;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_feed_is_retried_soon_then_less_often() {
        let mut follower = Follower::default();
        let delays: Vec<Duration> = (0..8)
            .map(|_| {
                follower.failures += 1;
                follower.retry_delay()
            })
            .collect();
        assert_eq!(delays[0], FEED_RETRY_MIN);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(delays[7], FEED_RETRY_MAX);
    }
}
