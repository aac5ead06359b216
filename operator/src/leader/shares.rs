//! Sharing the CRs across replicas. Every replica watches every CR and runs every adapter
//! (competing consumers on one subscription); each CR also has its own Lease, and only its
//! holder runs the CR's Sentinel, writes its status and handles its finalizer.
//!
//! - **Claims**: one [`LeaseKeeper`] per CR (`<group>.<role>.<namespace>.<name>`), renewed every
//!   retry period with the keeper's fencing: a holder that cannot renew stops the CR's work at
//!   the renew deadline, before any other replica can see the Lease expire.
//! - **Balance**: a replica takes a free Lease only while it holds fewer than its share
//!   (`ceil(CRs of the role / live replicas)`), and hands over what is above it: stop the
//!   work, then release the Lease (never two holders). Live replicas are counted from their
//!   member Leases ([`members`](super::members)).
//! - **Exit**: SIGTERM stops the work, then releases every Lease (the next holder starts at once).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use super::names::{GROUP_LABEL, ROLE_LABEL, ShareSettings, lease_name};
use super::{KeepState, LeaseKeeper, members::MemberView};
use crate::{tasks::TaskKey, workloads::Workloads};

/// How long stopping takes at most before the Leases are released anyway (they expire by
/// themselves if the release cannot be made).
const RELEASE_TIMEOUT: Duration = Duration::from_secs(3);

/// What a CR's Lease gives its holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    /// A SentinelConfig: its Sentinel runs on the holder only.
    SentinelConfig,
    /// An AdapterConfig: consumers run everywhere; the holder writes status and cleans up.
    AdapterConfig,
}

/// The CR a claim is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimKey {
    /// What its Lease gives.
    pub role: Role,
    /// The CR.
    pub key: TaskKey,
}

/// How many CRs of each role are wanted and held here, and how many replicas live.
#[derive(Debug, Default)]
pub(super) struct Balance {
    pub(super) members: usize,
    wanted: HashMap<Role, usize>,
    held: HashMap<Role, usize>,
}

impl Balance {
    /// This replica's fair share of `role`.
    fn share(&self, role: Role) -> usize {
        self.wanted.get(&role).copied().unwrap_or(0).div_ceil(self.members.max(1))
    }

    fn held(&self, role: Role) -> usize {
        self.held.get(&role).copied().unwrap_or(0)
    }

    /// Counts one more held (or being taken) when below the share.
    fn try_reserve(&mut self, role: Role) -> bool {
        let below = self.held(role) < self.share(role);
        if below {
            *self.held.entry(role).or_default() += 1;
        }
        below
    }

    /// Counts one less held when above the share: the caller hands one over.
    fn try_shed(&mut self, role: Role) -> bool {
        let above = self.held(role) > self.share(role);
        if above {
            self.lost(role);
        }
        above
    }

    fn count_held(&mut self, role: Role) {
        *self.held.entry(role).or_default() += 1;
    }

    fn lost(&mut self, role: Role) {
        if let Some(held) = self.held.get_mut(&role) {
            *held = held.saturating_sub(1);
        }
    }
}

/// One claim's handle.
struct Claim {
    held: Arc<AtomicBool>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// This replica's share of the CR Leases.
pub struct Shares {
    client: kube::Client,
    settings: ShareSettings,
    workloads: Arc<Workloads>,
    pub(super) balance: Arc<Mutex<Balance>>,
    pub(super) view: Arc<Mutex<MemberView>>,
    claims: Mutex<HashMap<ClaimKey, Claim>>,
}

impl std::fmt::Debug for Shares {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shares").field("settings", &self.settings).finish_non_exhaustive()
    }
}

pub(super) fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shares {
    /// A share of the Leases of `settings.group`, stopping `workloads`' Sentinels it loses.
    pub fn new(client: kube::Client, settings: ShareSettings, workloads: Arc<Workloads>) -> Arc<Self> {
        let balance = Arc::new(Mutex::new(Balance { members: 1, ..Balance::default() }));
        Arc::new(Self {
            client,
            settings,
            workloads,
            balance,
            view: Arc::default(),
            claims: Mutex::default(),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ShareSettings {
        &self.settings
    }

    /// The client the Leases are kept with.
    pub(super) fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The workloads whose figures the member Lease carries.
    pub(super) fn workloads(&self) -> &Arc<Workloads> {
        &self.workloads
    }

    /// Competes for the Lease of `claim` from now on (nothing when it already does).
    pub fn want(&self, claim: &ClaimKey) {
        let mut claims = locked(&self.claims);
        if claims.contains_key(claim) {
            return;
        }
        *locked(&self.balance).wanted.entry(claim.role).or_default() += 1;
        let keeper = LeaseKeeper::new(
            self.client.clone(),
            self.settings.lease(self.settings.lease_name(claim), claim.role.into()),
        );
        let held = Arc::new(AtomicBool::new(false));
        let stop = CancellationToken::new();
        let run = Claimant {
            keeper,
            claim: claim.clone(),
            held: held.clone(),
            balance: self.balance.clone(),
            workloads: self.workloads.clone(),
        };
        let task = tokio::spawn(run.supervise(stop.clone()));
        claims.insert(claim.clone(), Claim { held, stop, task });
    }

    /// Stops competing for `claim`'s Lease (its CR is gone): its work stops, then the Lease is
    /// released.
    pub async fn unwant(&self, claim: &ClaimKey) {
        let Some(gone) = locked(&self.claims).remove(claim) else { return };
        if let Some(wanted) = locked(&self.balance).wanted.get_mut(&claim.role) {
            *wanted = wanted.saturating_sub(1);
        }
        gone.stop.cancel();
        finish(claim, gone.task).await;
    }

    /// Whether this replica holds `claim`'s Lease now.
    pub fn holds(&self, claim: &ClaimKey) -> bool {
        locked(&self.claims).get(claim).is_some_and(|c| c.held.load(Ordering::SeqCst))
    }

    /// This replica and the other live ones' figures for the CR `key`.
    pub fn replicas(&self, key: &TaskKey) -> crate::controller::driver::Replicas {
        let view = locked(&self.view);
        crate::controller::driver::Replicas {
            this: Some(self.settings.identity.clone()),
            figures: view.others(key),
            consumers: view.consumers(key),
        }
    }

    /// The CRs whose Leases this replica holds.
    pub fn held(&self) -> Vec<ClaimKey> {
        let claims = locked(&self.claims);
        let mut held: Vec<ClaimKey> =
            claims.iter().filter(|(_, c)| c.held.load(Ordering::SeqCst)).map(|(k, _)| k.clone()).collect();
        held.sort();
        held
    }

    /// Stops every claim: each held CR's work stops, then its Lease is released (shutdown).
    pub async fn release_all(&self) {
        let claims: Vec<(ClaimKey, Claim)> = locked(&self.claims).drain().collect();
        for (_, claim) in &claims {
            claim.stop.cancel();
        }
        let finishing = claims.into_iter().map(|(key, claim)| async move { finish(&key, claim.task).await });
        futures::future::join_all(finishing).await;
    }
}

/// Awaits a claim's end (a panic is logged: its work was stopped by the registry anyway).
async fn finish(claim: &ClaimKey, task: JoinHandle<()>) {
    if let Err(err) = task.await {
        tracing::error!(?claim, error = %err, "a lease claim ended abnormally");
    }
}

/// The task keeping one CR's Lease.
struct Claimant {
    keeper: LeaseKeeper,
    claim: ClaimKey,
    held: Arc<AtomicBool>,
    balance: Arc<Mutex<Balance>>,
    workloads: Arc<Workloads>,
}

impl Claimant {
    /// Runs the claim until `stop`; a panic (a bug) first stops the work its Lease allowed, as
    /// a lost Lease does, then the claim starts over.
    async fn supervise(self, stop: CancellationToken) {
        use futures::FutureExt as _;
        loop {
            match std::panic::AssertUnwindSafe(self.run(&stop)).catch_unwind().await {
                Ok(()) => return,
                Err(_) => {
                    tracing::error!(claim = ?self.claim, "the lease claim panicked: its work stops, the claim restarts");
                    if self.held.load(Ordering::SeqCst) {
                        locked(&self.balance).lost(self.claim.role);
                        self.lose("its claim failed").await;
                    }
                    if stop.is_cancelled() {
                        return;
                    }
                }
            }
        }
    }

    async fn run(&self, stop: &CancellationToken) {
        let mut state = KeepState::default();
        let retry = self.keeper.settings().retry_period();
        loop {
            let holding = self.held.load(Ordering::SeqCst);
            // Reserved only when the Lease is free to take, so claims that cannot win do not
            // hold this replica's share while they ask.
            let reservation = AtomicBool::new(false);
            let may_acquire = || {
                let reserved = !holding && locked(&self.balance).try_reserve(self.claim.role);
                reservation.store(reserved, Ordering::SeqCst);
                reserved
            };
            let now = tokio::select! {
                () = stop.cancelled() => break,
                now = self.keeper.step(&mut state, &may_acquire) => now,
            };
            let reserved = reservation.load(Ordering::SeqCst);
            match (holding, now) {
                (false, true) => {
                    // Ours without asking (a take whose answer was lost, found on renewal).
                    if !reserved {
                        locked(&self.balance).count_held(self.claim.role);
                    }
                    self.won();
                }
                (true, false) => {
                    locked(&self.balance).lost(self.claim.role);
                    self.lose("could not renew its lease: stepping down").await;
                }
                (false, false) if reserved => locked(&self.balance).lost(self.claim.role),
                _ => {}
            }
            if now && locked(&self.balance).try_shed(self.claim.role) {
                self.lose("handing over to a replica with fewer").await;
                self.release().await;
                state = KeepState::default();
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(retry) => {}
            }
        }
        if self.held.load(Ordering::SeqCst) {
            locked(&self.balance).lost(self.claim.role);
            self.lose("stopping").await;
            self.release().await;
        }
    }

    fn won(&self) {
        tracing::info!(claim = ?self.claim, lease = %self.keeper.settings().name, "lease taken: this replica runs it");
        self.held.store(true, Ordering::SeqCst);
        self.workloads.announce(self.claim.role, &self.claim.key);
    }

    /// Marks the Lease lost, then stops the work it allowed (first the flag, so no reconcile
    /// starts it again; the registry's lock orders the two).
    async fn lose(&self, why: &str) {
        tracing::warn!(claim = ?self.claim, lease = %self.keeper.settings().name, "{why}");
        self.held.store(false, Ordering::SeqCst);
        if self.claim.role == Role::SentinelConfig {
            self.workloads.remove_sentinel(&self.claim.key.namespace, &self.claim.key.name).await;
        }
        self.workloads.announce(self.claim.role, &self.claim.key);
    }

    async fn release(&self) {
        match tokio::time::timeout(RELEASE_TIMEOUT, self.keeper.release()).await {
            Ok(Ok(())) => tracing::info!(lease = %self.keeper.settings().name, "lease released"),
            Ok(Err(err)) => {
                tracing::warn!(lease = %self.keeper.settings().name, error = %err, "the lease could not be released; it expires by itself")
            }
            Err(_) => {
                tracing::warn!(lease = %self.keeper.settings().name, "releasing the lease timed out; it expires by itself")
            }
        }
    }
}

#[cfg(test)]
mod tests;
