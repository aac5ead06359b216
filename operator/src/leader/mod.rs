//! Leadership per CR: every replica watches every CR and consumes for every adapter; each CR
//! has a coordination.k8s.io Lease, and only its holder runs the CR's Sentinel (no event is
//! published twice), writes its status and handles its finalizer. [`keeper`] keeps one Lease
//! (acquire, renew, step down at its own deadline, release); [`shares`] keeps one per CR and
//! balances them across the live replicas, which [`members`] counts.

pub mod keeper;
#[cfg(test)]
pub(crate) mod lease_double;
pub mod members;
pub mod names;
pub mod shares;

use std::time::Duration;

pub use keeper::{KeepState, LeaseKeeper};
pub use shares::{ClaimKey, Role, ShareSettings, Shares};

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease lasts without renewal: others take over this long after its holder's
    /// last renewal, as they observe it.
    pub duration: Duration,
    /// Labels a Lease this keeper creates carries (what a replica lists its group's Leases by).
    pub labels: std::collections::BTreeMap<String, String>,
}

impl LeaseSettings {
    /// This replica's field manager on the Leases: its own, so the managed fields say which
    /// replica wrote what (and two replicas' applies conflict instead of silently taking each
    /// other's fields).
    pub fn field_manager(&self) -> String {
        format!("hyperfleet-operator-{}", self.identity).chars().take(128).collect()
    }

    /// How long a holder goes on without a successful renewal before it stops leading: two
    /// thirds of the duration (client-go's 10 s of 15 s), leaving the work a third to stop.
    pub fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    /// How often the Lease is renewed or, by others, tried: a seventh of the duration (2 s of
    /// 15 s), so a holder gets several tries before its deadline.
    pub fn retry_period(&self) -> Duration {
        (self.duration / 7).max(Duration::from_millis(100))
    }
}
