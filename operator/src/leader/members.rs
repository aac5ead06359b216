//! Member Leases: each replica keeps `<group>.member.<identity>` renewed (server-side applied
//! under its own field manager) with its adapters' figures in an annotation, and lists its
//! group's members every round. The live ones (renewed within their duration, as this replica
//! has watched) are what [`Shares`](super::Shares) divides the CRs by, and their figures are
//! what an AdapterConfig's status adds up (consumers and events of the whole deployment).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
};
use kube::{
    Api,
    api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams},
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{
    keeper::Observed,
    shares::{GROUP_LABEL, ROLE_LABEL, Shares, lease_name, locked},
};
use crate::tasks::{TaskHealth, TaskKey};

/// The annotation carrying a member's adapter figures (JSON).
pub const FIGURES_ANNOTATION: &str = "hyperfleet.io/adapters";

/// The role label value of member Leases.
const MEMBER: &str = "member";

/// One adapter's figures on one replica.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterFigures {
    /// Whether its consumer runs.
    pub running: bool,
    /// Events handled since the consumer started.
    pub processed: u64,
    /// Events that failed.
    pub failed: u64,
}

/// Figures by AdapterConfig (`namespace/name`).
pub type Figures = BTreeMap<String, AdapterFigures>;

/// What this replica knows of its group's members.
#[derive(Debug, Default)]
pub struct MemberView {
    observed: HashMap<String, Observed>,
    /// The other live members' figures, by identity.
    others: HashMap<String, Figures>,
}

impl MemberView {
    /// The figures of `key`'s adapter on every other live replica, added up.
    pub fn others(&self, key: &TaskKey) -> AdapterFigures {
        let name = key.to_string();
        self.others.values().filter_map(|figures| figures.get(&name)).fold(
            AdapterFigures::default(),
            |sum, f| AdapterFigures {
                running: sum.running || f.running,
                processed: sum.processed + f.processed,
                failed: sum.failed + f.failed,
            },
        )
    }

    /// How many other live replicas run `key`'s consumer.
    pub fn consumers(&self, key: &TaskKey) -> usize {
        let name = key.to_string();
        self.others.values().filter(|figures| figures.get(&name).is_some_and(|f| f.running)).count()
    }
}

impl Shares {
    /// The member Lease's name.
    fn member_name(&self) -> String {
        lease_name(&format!("{}.{MEMBER}.{}", self.settings().group, self.settings().identity))
    }

    /// Renews the member Lease and re-counts the live members every retry period until `stop`,
    /// then deletes the member Lease (the others re-balance at once).
    pub async fn keep_membership(self: Arc<Self>, stop: CancellationToken) {
        let retry = self.settings().lease(String::new(), MEMBER).retry_period();
        loop {
            let round = tokio::time::timeout(retry.max(Duration::from_secs(1)), self.membership_round());
            tokio::select! {
                () = stop.cancelled() => break,
                result = round => match result {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => tracing::warn!(error = %err, "member lease round failed"),
                    Err(_) => tracing::warn!("member lease round timed out"),
                },
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(retry) => {}
            }
        }
        let api: Api<Lease> = Api::namespaced(self.client().clone(), &self.settings().namespace);
        let name = self.member_name();
        let params = DeleteParams::default();
        match tokio::time::timeout(Duration::from_secs(3), api.delete(&name, &params)).await {
            Ok(Ok(_)) => tracing::info!(lease = %self.member_name(), "member lease deleted"),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "the member lease could not be deleted; it expires by itself")
            }
            Err(_) => tracing::warn!("deleting the member lease timed out; it expires by itself"),
        }
    }

    async fn membership_round(&self) -> Result<(), kube::Error> {
        let api: Api<Lease> = Api::namespaced(self.client().clone(), &self.settings().namespace);
        let own = figures(self.workloads()).await;
        let name = self.member_name();
        let lease = self.member_lease(&name, &own);
        api.patch(
            &name,
            &PatchParams::apply(&self.settings().lease(name.clone(), MEMBER).field_manager()).force(),
            &Patch::Apply(&lease),
        )
        .await?;
        let selector = format!("{GROUP_LABEL}={},{ROLE_LABEL}={MEMBER}", self.settings().group);
        let listed = api.list(&ListParams::default().labels(&selector)).await?;
        let mut view = locked(&self.view);
        let mut observed = std::mem::take(&mut view.observed);
        view.others.clear();
        let mut live = 1;
        for member in listed.items {
            let Some(member_name) = member.metadata.name.clone() else { continue };
            if member_name == name {
                continue;
            }
            let spec = member.spec.clone().unwrap_or_default();
            let seen = Observed::carried(observed.remove(&member_name), &spec);
            if !seen.expired() {
                live += 1;
                let figures = member
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(FIGURES_ANNOTATION))
                    .and_then(|json| serde_json::from_str::<Figures>(json).ok())
                    .unwrap_or_default();
                view.others.insert(member_name.clone(), figures);
            }
            view.observed.insert(member_name, seen);
        }
        drop(view);
        let mut balance = locked(&self.balance);
        if balance.members != live {
            tracing::info!(replicas = live, "live replicas changed: re-balancing");
        }
        balance.members = live;
        Ok(())
    }

    fn member_lease(&self, name: &str, figures: &Figures) -> serde_json::Value {
        let settings = self.settings();
        let spec = LeaseSpec {
            holder_identity: Some(settings.identity.clone()),
            lease_duration_seconds: Some(i32::try_from(settings.duration.as_secs()).unwrap_or(i32::MAX)),
            renew_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
            ..LeaseSpec::default()
        };
        let metadata = ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([
                (GROUP_LABEL.to_owned(), settings.group.clone()),
                (ROLE_LABEL.to_owned(), MEMBER.to_owned()),
            ])),
            annotations: Some(BTreeMap::from([(
                FIGURES_ANNOTATION.to_owned(),
                serde_json::to_string(figures).unwrap_or_else(|err| {
                    tracing::warn!(error = %err, "cannot encode this replica's adapter figures; the member Lease carries none");
                    String::new()
                }),
            )])),
            ..ObjectMeta::default()
        };
        serde_json::json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec})
    }
}

/// This replica's adapter figures.
async fn figures(workloads: &crate::workloads::Workloads) -> Figures {
    workloads
        .adapter_figures()
        .await
        .into_iter()
        .map(|(key, health, progress)| {
            let running = matches!(health, TaskHealth::Running | TaskHealth::Degraded(_));
            (
                key.to_string(),
                AdapterFigures { running, processed: progress.processed, failed: progress.failed },
            )
        })
        .collect()
}
