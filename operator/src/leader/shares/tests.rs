//! Replicas sharing SentinelConfigs over the Lease double, with 1 s Leases: they split them
//! evenly; one that dies, is cut off, or stops loses them to the other (a cut-off one stops its
//! Sentinels before its Leases can expire); a newcomer gets its share by hand-over; and at no
//! moment do two replicas run the same Sentinel.

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{
    leader::lease_double::{LeaseServer, Link},
    resolve::EnvSecrets,
    workloads::Resources,
};

const CRS: [&str; 4] = ["eu", "us", "ap", "sa"];
// Whole seconds, as on a Lease: the holder's deadline (2 s) leaves it a second to stop.
const DURATION: Duration = Duration::from_secs(3);

fn spec() -> hyperfleet_crds::v1alpha1::SentinelConfigSpec {
    serde_json::from_value(serde_json::json!({
        "resourceType": "clusters", "pollInterval": "1h", "backoffNotReady": "1h",
        "hyperfleetAPI": {"url": "http://127.0.0.1:9"},
        "broker": {"type": "memory", "topic": "t"},
    }))
    .unwrap()
}

fn claim(name: &str) -> ClaimKey {
    ClaimKey { role: Role::SentinelConfig, key: TaskKey::new("fleet", name) }
}

/// One replica: its workloads, its share, and a stand-in for its SentinelConfig controller
/// (applies every CR at start and whenever a Lease change is announced).
struct Replica {
    workloads: Arc<Workloads>,
    shares: Arc<Shares>,
    link: Link,
    stop: CancellationToken,
    membership: JoinHandle<()>,
}

impl Replica {
    fn start(server: &LeaseServer, identity: &str) -> Replica {
        let (client, link) = server.client();
        let metrics = crate::metrics::OperatorMetrics::new();
        let transports = crate::controller::fixtures::dry_run_transports();
        let (workloads, mut changes) =
            Workloads::new(Resources::new(&metrics, Arc::new(EnvSecrets), transports));
        let workloads = Arc::new(workloads);
        let settings = ShareSettings {
            group: "hf".into(),
            namespace: "ops".into(),
            identity: identity.into(),
            duration: DURATION,
        };
        let shares = Shares::new(client, settings, workloads.clone());
        let stop = CancellationToken::new();
        let membership = tokio::spawn(shares.clone().keep_membership(stop.clone()));
        let (w, s) = (workloads.clone(), shares.clone());
        tokio::spawn(async move {
            for name in CRS {
                s.want(&claim(name));
            }
            let apply = async |name: String| {
                let claim = claim(&name);
                w.apply_sentinel_if("fleet", &name, 1, &spec(), &|| s.holds(&claim)).await;
            };
            for name in CRS {
                apply(name.to_owned()).await;
            }
            while let Some(key) = changes.sentinels.recv().await {
                apply(key.name).await;
            }
        });
        Replica { workloads, shares, link, stop, membership }
    }

    async fn running(&self) -> BTreeSet<String> {
        self.workloads.sentinel_keys().await.into_iter().map(|key| key.name).collect()
    }

    /// A crash: nothing is stopped or released; the Leases expire on their own.
    fn crash(&self) {
        self.link.partition();
        self.membership.abort();
        for (_, claim) in locked(&self.shares.claims).drain() {
            claim.task.abort();
        }
    }

    /// A graceful stop: tasks first, then the Leases, then the member Lease.
    async fn stop(self) {
        self.workloads.stop_all().await;
        self.shares.release_all().await;
        self.stop.cancel();
        self.membership.await.unwrap();
    }
}

/// Samples both replicas' running Sentinels until dropped, failing the test on any overlap.
struct NoOverlap {
    overlapped: Arc<AtomicBool>,
    stop: CancellationToken,
}

impl NoOverlap {
    fn watch(a: Arc<Workloads>, b: Arc<Workloads>) -> NoOverlap {
        let (overlapped, stop) = (Arc::new(AtomicBool::new(false)), CancellationToken::new());
        let (flag, until) = (overlapped.clone(), stop.clone());
        tokio::spawn(async move {
            while !until.is_cancelled() {
                let on_a: BTreeSet<TaskKey> = a.sentinel_keys().await.into_iter().collect();
                if b.sentinel_keys().await.iter().any(|key| on_a.contains(key)) {
                    flag.store(true, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        NoOverlap { overlapped, stop }
    }

    fn check(&self) {
        assert!(!self.overlapped.load(Ordering::SeqCst), "two replicas ran the same Sentinel at once");
    }
}

impl Drop for NoOverlap {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn until<F: FnMut() -> Fut, Fut: Future<Output = bool>>(
    what: &str,
    within: Duration,
    check: F,
) -> Duration {
    let started = Instant::now();
    hyperfleet_testing::wait_until(what, within, check).await;
    started.elapsed()
}

async fn split_evenly(a: &Replica, b: &Replica) {
    until("an even split", Duration::from_secs(10), async || {
        let (on_a, on_b) = (a.running().await, b.running().await);
        on_a.len() == 2 && on_b.len() == 2 && on_a.is_disjoint(&on_b)
    })
    .await;
}

#[tokio::test]
async fn two_replicas_split_the_sentinels_and_a_newcomer_gets_its_share_by_hand_over() {
    let server = LeaseServer::default();
    let a = Replica::start(&server, "replica-a");
    until("the only replica runs all four", Duration::from_secs(5), async || a.running().await.len() == 4)
        .await;
    let b = Replica::start(&server, "replica-b");
    let overlap = NoOverlap::watch(a.workloads.clone(), b.workloads.clone());
    split_evenly(&a, &b).await;
    overlap.check();
    let lease = server.lease("hf.sentinelconfig.fleet.eu").expect("one Lease per SentinelConfig");
    assert_eq!(lease["metadata"]["labels"]["hyperfleet.io/lease-role"], "sentinelconfig");
    let holder = lease["spec"]["holderIdentity"].as_str().unwrap();
    assert_eq!(lease["metadata"]["managedFields"][0]["manager"], format!("hyperfleet-operator-{holder}"));
    let member = server.lease("hf.member.replica-b").expect("a member Lease per replica");
    assert_eq!(member["spec"]["holderIdentity"], "replica-b");
    assert_eq!(member["metadata"]["managedFields"][0]["manager"], "hyperfleet-operator-replica-b");
    drop(overlap);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_crashed_replica_loses_its_sentinels_to_the_other_within_the_lease_duration() {
    let server = LeaseServer::default();
    let (a, b) = (Replica::start(&server, "replica-a"), Replica::start(&server, "replica-b"));
    split_evenly(&a, &b).await;
    a.crash();
    // The dead one's tasks die with it (the process is gone); its Leases are left as they were.
    a.workloads.stop_all().await;
    // About one duration, plus the rounds it takes to see that and take them.
    let moved =
        until("the survivor runs all four", DURATION * 2, async || b.running().await.len() == 4).await;
    // Never before the Leases expired as the survivor watched them (from a renewal at most a
    // retry period before the crash).
    let earliest = DURATION - DURATION / 7 - Duration::from_millis(100);
    assert!(moved >= earliest, "taken after {moved:?}: before the Lease expired");
    b.stop().await;
}

#[tokio::test]
async fn a_cut_off_holder_stops_its_sentinels_before_its_leases_can_expire() {
    let server = LeaseServer::default();
    let (a, b) = (Replica::start(&server, "replica-a"), Replica::start(&server, "replica-b"));
    split_evenly(&a, &b).await;
    let overlap = NoOverlap::watch(a.workloads.clone(), b.workloads.clone());
    a.link.partition();
    let stopped = until("the cut-off replica stops", DURATION, async || a.running().await.is_empty()).await;
    assert!(stopped < DURATION, "stopped after {stopped:?}, when others may already run them");
    until("the other runs all four", DURATION * 4, async || b.running().await.len() == 4).await;
    // Healed, it does not take them straight back: it gets its share by hand-over.
    a.link.heal();
    split_evenly(&a, &b).await;
    overlap.check();
    drop(overlap);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_replica_that_stops_hands_its_sentinels_over_at_once() {
    let server = LeaseServer::default();
    let (a, b) = (Replica::start(&server, "replica-a"), Replica::start(&server, "replica-b"));
    split_evenly(&a, &b).await;
    let overlap = NoOverlap::watch(a.workloads.clone(), b.workloads.clone());
    let a_workloads = a.workloads.clone();
    a.stop().await;
    assert!(a_workloads.sentinel_keys().await.is_empty());
    // Released and its member Lease deleted: no need to wait for anything to expire.
    let moved = until("the other runs all four", DURATION * 2, async || b.running().await.len() == 4).await;
    assert!(moved < DURATION, "took {moved:?}: the Leases were waited out instead of handed over");
    assert!(server.lease("hf.member.replica-a").is_none(), "the member Lease is deleted at exit");
    overlap.check();
    drop(overlap);
    b.stop().await;
}

#[test]
fn lease_names_follow_the_cr_and_stay_valid_when_long() {
    let settings = ShareSettings {
        group: "hyperfleet-operator".into(),
        namespace: "ops".into(),
        identity: "a".into(),
        duration: DURATION,
    };
    assert_eq!(settings.lease_name(&claim("eu")), "hyperfleet-operator.sentinelconfig.fleet.eu");
    let long = ClaimKey { role: Role::AdapterConfig, key: TaskKey::new("fleet", "x".repeat(253)) };
    let name = settings.lease_name(&long);
    assert_eq!(name.len(), 253);
    assert_ne!(name, settings.lease_name(&ClaimKey { key: TaskKey::new("fleet", "x".repeat(252)), ..long }));
}

#[test]
fn the_share_is_the_ceiling_of_crs_over_live_replicas() {
    let mut balance = Balance { members: 2, ..Balance::default() };
    balance.wanted.insert(Role::SentinelConfig, 3);
    assert!(balance.try_reserve(Role::SentinelConfig) && balance.try_reserve(Role::SentinelConfig));
    assert!(!balance.try_reserve(Role::SentinelConfig), "two of three is this replica's share");
    assert!(!balance.try_shed(Role::SentinelConfig));
    balance.members = 3;
    assert!(balance.try_shed(Role::SentinelConfig), "a third replica came: one is handed over");
    assert!(!balance.try_shed(Role::SentinelConfig));
}
