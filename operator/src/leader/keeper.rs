//! The Lease keeper: client-go's leader-election algorithm over a coordination.k8s.io Lease,
//! with the holder-side deadline kube-lease-manager lacks (its watch loop, on renewal errors,
//! backs off and goes on reporting leadership: a replica cut off from the API server kept
//! running for 49 s after another took over).
//!
//! - **Acquire**: a Lease nobody holds, or whose holder has not renewed it for its duration *as
//!   observed on this replica's clock* (the holder's timestamps are never compared with ours),
//!   is taken by a replace carrying the read's `resourceVersion`, so of two contenders one wins
//!   and the other gets a conflict.
//! - **Renew**: every `retry` period. A holder whose renewals have not succeeded for
//!   `renew_deadline` (< duration) stops leading at once, by its own monotonic clock, before any
//!   other replica can think the Lease expired: never two holders, whatever the clocks say.
//!   Shorter outages change nothing, so the tasks go on.
//! - **Release**: on shutdown, after the work has stopped, the holder clears `holderIdentity`,
//!   so the next leader starts at once instead of a duration later.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};
use tokio::{sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;

use super::LeaseSettings;

/// A Lease as last seen: who held it, when it was renewed, and when (on this replica's clock)
/// that last changed.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Observed {
    holder: Option<String>,
    renewed: Option<MicroTime>,
    duration: Duration,
    since: Instant,
}

impl Observed {
    /// What `spec` shows, keeping the first sighting of the same (holder, renewal) from
    /// `previous`: its age on this replica's clock says whether it expired.
    pub(super) fn carried(previous: Option<Observed>, spec: &LeaseSpec) -> Observed {
        let seen = Observed {
            holder: spec.holder_identity.clone().filter(|h| !h.is_empty()),
            renewed: spec.renew_time.clone(),
            duration: Duration::from_secs(
                spec.lease_duration_seconds.unwrap_or(0).max(0).unsigned_abs().into(),
            ),
            since: Instant::now(),
        };
        match previous {
            Some(old) if old.holder == seen.holder && old.renewed == seen.renewed => old,
            _ => seen,
        }
    }

    /// Whether its holder has not renewed it for its duration, as this replica has watched.
    pub(super) fn expired(&self) -> bool {
        self.since.elapsed() >= self.duration
    }
}

/// What a keeper carries from one round to the next.
#[derive(Debug, Default)]
pub struct KeepState {
    observed: Option<Observed>,
    /// When the last successful renewal started, while holding.
    renewed_at: Option<Instant>,
}

/// The keeper of one Lease for this replica.
#[derive(Clone)]
pub struct LeaseKeeper {
    api: Api<Lease>,
    settings: LeaseSettings,
}

impl std::fmt::Debug for LeaseKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseKeeper").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl LeaseKeeper {
    /// The keeper of `settings`' Lease.
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Self { api: Api::namespaced(client, &settings.namespace), settings }
    }

    /// Keeps trying to lead until `shutdown`, saying on `leading` whether this replica leads.
    pub async fn run(&self, leading: watch::Sender<bool>, shutdown: CancellationToken) {
        let mut state = KeepState::default();
        loop {
            let now = tokio::select! {
                () = shutdown.cancelled() => return,
                now = self.step(&mut state, &|| true) => now,
            };
            leading.send_if_modified(|was| std::mem::replace(was, now) != now);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.settings.retry_period()) => {}
            }
        }
    }

    /// One round (call every retry period): acquire or renew, and step down when the renewals
    /// have failed for the renew deadline. `may_acquire` is asked only when the Lease is free to
    /// take (a balancer reserves its share then). Whether this replica holds the Lease after.
    pub async fn step(&self, state: &mut KeepState, may_acquire: &(dyn Fn() -> bool + Sync)) -> bool {
        let started = Instant::now();
        let attempt = tokio::time::timeout(
            self.attempt_timeout(state.renewed_at),
            self.try_acquire_or_renew(&mut state.observed, may_acquire),
        );
        let held = match attempt.await {
            Ok(Ok(held)) => Some(held),
            Ok(Err(err)) => {
                tracing::warn!(lease = %self.settings.name, error = %err, "lease call failed");
                None
            }
            Err(_) => {
                tracing::warn!(lease = %self.settings.name, "lease call timed out");
                None
            }
        };
        match held {
            Some(true) => state.renewed_at = Some(started),
            // Someone else holds it: stop at once.
            Some(false) => state.renewed_at = None,
            // Unknown: keep leading until the deadline, counted from the last renewal's start.
            None => {
                if state.renewed_at.is_some_and(|at| at.elapsed() >= self.settings.renew_deadline()) {
                    tracing::error!(lease = %self.settings.name, deadline = ?self.settings.renew_deadline(), "could not renew the lease in time: stepping down");
                    state.renewed_at = None;
                }
            }
        }
        state.renewed_at.is_some()
    }

    /// This keeper's settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Writes under this replica's own field manager.
    fn params(&self) -> PostParams {
        PostParams { field_manager: Some(self.settings.field_manager()), ..PostParams::default() }
    }

    /// A holder's call may take until its deadline; anyone else's, one retry period.
    fn attempt_timeout(&self, renewed_at: Option<Instant>) -> Duration {
        let retry = self.settings.retry_period();
        match renewed_at {
            Some(at) => self.settings.renew_deadline().saturating_sub(at.elapsed()).max(retry / 2),
            None => retry,
        }
    }

    /// One round: whether this replica holds the Lease afterwards. A Lease that is free (or
    /// expired) is only taken when `may_acquire()`; it is observed either way, so its age is
    /// known.
    async fn try_acquire_or_renew(
        &self,
        observed: &mut Option<Observed>,
        may_acquire: &(dyn Fn() -> bool + Sync),
    ) -> Result<bool, kube::Error> {
        let name = &self.settings.name;
        let Some(lease) = self.api.get_opt(name).await? else {
            if !may_acquire() {
                return Ok(false);
            }
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: (!self.settings.labels.is_empty()).then(|| self.settings.labels.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec(None)),
            };
            return match self.api.create(&self.params(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
                Err(err) => Err(err),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let current = Observed::carried(observed.take(), &spec);
        let ours = current.holder.as_deref() == Some(self.settings.identity.as_str());
        let held_by_other = current.holder.is_some() && !ours && !current.expired();
        *observed = Some(current);
        if held_by_other || (!ours && !may_acquire()) {
            return Ok(false);
        }
        let replacement = Lease { metadata: lease.metadata.clone(), spec: Some(self.spec(Some(&spec))) };
        match self.api.replace(name, &self.params(), &replacement).await {
            Ok(_) => Ok(true),
            // Someone else wrote it since our read: they won this round.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// This replica's claim, continuing `previous` (same term when it was ours, a new one else).
    fn spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
        let identity = &self.settings.identity;
        let ours = previous.is_some_and(|p| p.holder_identity.as_deref() == Some(identity.as_str()));
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(identity.clone()),
            lease_duration_seconds: Some(i32::try_from(self.settings.duration.as_secs()).unwrap_or(i32::MAX)),
            acquire_time: if ours {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || previous.is_none() { transitions } else { transitions + 1 }),
            ..LeaseSpec::default()
        }
    }

    /// Gives the Lease up if this replica holds it (call after the work has stopped): the next
    /// leader need not wait for it to expire.
    pub async fn release(&self) -> Result<(), kube::Error> {
        let Some(lease) = self.api.get_opt(&self.settings.name).await? else { return Ok(()) };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        let released = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            ..spec
        };
        let replacement = Lease { metadata: lease.metadata, spec: Some(released) };
        self.api.replace(&self.settings.name, &self.params(), &replacement).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests;
