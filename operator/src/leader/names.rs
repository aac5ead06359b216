//! What the Leases of a replica's share are called and labelled: one per CR,
//! `<group>.<role>.<namespace>.<name>`, and one per replica, `<group>.member.<identity>`, all
//! labelled with their group and role so a replica lists its group's members in one call.

use std::{collections::BTreeMap, time::Duration};

use super::{ClaimKey, LeaseSettings};

/// Label naming the group (the deployment) a Lease belongs to.
pub const GROUP_LABEL: &str = "hyperfleet.io/lease-group";
/// Label saying what a Lease is for (`member`, `sentinelconfig`, `adapterconfig`).
pub const ROLE_LABEL: &str = "hyperfleet.io/lease-role";

/// Settings of the replica's share.
#[derive(Debug, Clone)]
pub struct ShareSettings {
    /// The group: the prefix of every Lease name and the value of [`GROUP_LABEL`].
    pub group: String,
    /// Where the Leases live (the operator's namespace).
    pub namespace: String,
    /// This replica's identity (the pod name), also its field manager.
    pub identity: String,
    /// How long a Lease lasts without renewal.
    pub duration: Duration,
}

impl ShareSettings {
    /// The keeper settings of the Lease `name` with `role`.
    pub fn lease(&self, name: String, role: &str) -> LeaseSettings {
        let labels = BTreeMap::from([
            (GROUP_LABEL.to_owned(), self.group.clone()),
            (ROLE_LABEL.to_owned(), role.to_owned()),
        ]);
        LeaseSettings {
            name,
            namespace: self.namespace.clone(),
            identity: self.identity.clone(),
            duration: self.duration,
            labels,
        }
    }

    /// The name of the Lease of `claim`: `<group>.<role>.<namespace>.<name>` (namespaces have no
    /// dots, so no two CRs share one), shortened with a hash when longer than a name may be.
    pub fn lease_name(&self, claim: &ClaimKey) -> String {
        let role: &str = claim.role.into();
        lease_name(&format!("{}.{role}.{}.{}", self.group, claim.key.namespace, claim.key.name))
    }
}

/// `name` as a valid object name: lower case, at most 253 characters (a hash of the whole
/// replaces the end of a longer one).
pub fn lease_name(name: &str) -> String {
    const MAX: usize = 253;
    let name: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '-' })
        .collect();
    if name.len() <= MAX {
        return name;
    }
    let hash = format!("{:016x}", fnv1a(name.as_bytes()));
    format!("{}-{hash}", &name[..MAX - hash.len() - 1])
}

/// FNV-1a: a stable hash (std's differs between releases), for names only.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}
