//! The keeper against the scripted API server, with short durations: a free Lease is taken, a
//! holder cut off steps down before its Lease can expire, a short outage changes nothing,
//! another holder is waited out on this replica's clock, a conflict loses, release clears it.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::{sync::watch, time::Instant};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::controller::fixtures::{ApiServer, client};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases";
const LEASE: &str = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/hyperfleet-operator";

fn settings(duration: Duration) -> LeaseSettings {
    LeaseSettings {
        name: "hyperfleet-operator".into(),
        namespace: "ops".into(),
        identity: "replica-a".into(),
        duration,
        labels: Default::default(),
    }
}

/// A keeper running in the background; its leadership as a receiver and every value it took.
struct Running {
    leading: watch::Receiver<bool>,
    history: std::sync::Arc<std::sync::Mutex<Vec<bool>>>,
    shutdown: CancellationToken,
}

fn start(duration: Duration) -> (Running, ApiServer, LeaseKeeper) {
    let (kube, server) = client();
    let keeper = LeaseKeeper::new(kube, settings(duration));
    let (sender, leading) = watch::channel(false);
    let shutdown = CancellationToken::new();
    let history = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    tokio::spawn({
        let (keeper, shutdown) = (keeper.clone(), shutdown.clone());
        async move { keeper.run(sender, shutdown).await }
    });
    tokio::spawn({
        let (mut leading, history) = (leading.clone(), history.clone());
        async move {
            while leading.changed().await.is_ok() {
                let now = *leading.borrow_and_update();
                history.lock().unwrap().push(now);
            }
        }
    });
    (Running { leading, history, shutdown }, server, keeper)
}

fn lease(holder: Option<&str>, renewed: &str, seconds: i32) -> Value {
    json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
           "metadata": {"name": "hyperfleet-operator", "namespace": "ops", "resourceVersion": "7"},
           "spec": {"holderIdentity": holder, "renewTime": renewed, "leaseDurationSeconds": seconds, "leaseTransitions": 2}})
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})
}

/// The keeper takes the free Lease (none exists: it creates it); returns the created Lease.
async fn acquire(server: &mut ApiServer, leading: &mut watch::Receiver<bool>) -> Value {
    server.expect_answering("GET", LEASE, 404, not_found()).await;
    let created = server.expect_echo("POST", LEASES).await;
    leading.wait_for(|leading| *leading).await.unwrap();
    created
}

#[tokio::test]
async fn a_free_lease_is_taken_and_renewed_in_the_same_term() {
    let (mut running, mut server, _) = start(Duration::from_millis(1400));
    let created = acquire(&mut server, &mut running.leading).await;
    assert_eq!(created["spec"]["holderIdentity"], "replica-a");
    assert_eq!(created["spec"]["leaseDurationSeconds"], 1);
    server.expect("GET", LEASE, created.clone()).await;
    let renewed = server.expect_echo("PUT", LEASE).await;
    assert_eq!(renewed["spec"]["acquireTime"], created["spec"]["acquireTime"], "the same term");
    assert_eq!(renewed["spec"]["leaseTransitions"], created["spec"]["leaseTransitions"]);
    assert!(*running.leading.borrow());
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_holder_cut_off_from_the_api_server_steps_down_before_its_lease_can_expire() {
    let duration = Duration::from_millis(1400);
    let (mut running, mut server, _) = start(duration);
    acquire(&mut server, &mut running.leading).await;
    let renewed = Instant::now();
    // The connection freezes: the next call is taken and never answered, like the one after.
    let _frozen = server.expect_unanswered("GET", LEASE).await;
    let _frozen_too = server.expect_unanswered("GET", LEASE).await;
    let stepped_down = running.leading.wait_for(|leading| !*leading);
    tokio::time::timeout(Duration::from_secs(5), stepped_down).await.expect("never stepped down").unwrap();
    let after = renewed.elapsed();
    assert!(after < duration, "stepped down {after:?} after the last renewal: the lease may have expired");
    assert!(after >= settings(duration).renew_deadline() / 2, "stepped down too early: {after:?}");
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_short_outage_does_not_stop_the_work() {
    let (mut running, mut server, _) = start(Duration::from_millis(1400));
    let created = acquire(&mut server, &mut running.leading).await;
    let unavailable = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "reason": "ServiceUnavailable"});
    server.expect_answering("GET", LEASE, 503, unavailable).await;
    server.expect("GET", LEASE, created).await;
    server.expect_echo("PUT", LEASE).await;
    assert_eq!(*running.history.lock().unwrap(), [true], "leadership never flipped");
    running.shutdown.cancel();
}

#[tokio::test]
async fn another_holder_is_waited_out_on_this_replicas_clock_and_a_conflict_loses() {
    let (running, mut server, _) = start(Duration::from_millis(1400));
    // Held by replica-b, renewed "in the future" by its clock: only our own clock counts.
    let held = lease(Some("replica-b"), "2099-01-01T00:00:00.000000Z", 1);
    server.expect("GET", LEASE, held.clone()).await;
    let first_seen = Instant::now();
    loop {
        let (_, body) = server.expect_typed("GET", LEASE, |_| (200, held.clone())).await;
        assert_eq!(body, Value::Null);
        if first_seen.elapsed() >= Duration::from_secs(1) {
            break;
        }
    }
    // Unrenewed for its duration as we saw it: taken, by a replace of the version we read.
    let conflict =
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409});
    let (_, claim) = server.expect_typed("PUT", LEASE, |_| (409, conflict)).await;
    assert!(first_seen.elapsed() >= Duration::from_secs(1), "taken before it expired");
    assert_eq!(claim["metadata"]["resourceVersion"], "7");
    assert_eq!(claim["spec"]["holderIdentity"], "replica-a");
    assert_eq!(claim["spec"]["leaseTransitions"], 3, "a new term");
    assert!(running.history.lock().unwrap().is_empty(), "the conflict lost: never leading");
    running.shutdown.cancel();
}

#[tokio::test]
async fn release_clears_the_holder_only_when_it_is_this_replica() {
    let (kube, mut server) = client();
    let keeper = LeaseKeeper::new(kube, settings(Duration::from_secs(15)));
    let release = tokio::spawn({
        let keeper = keeper.clone();
        async move { keeper.release().await }
    });
    server.expect("GET", LEASE, lease(Some("replica-a"), "2026-01-01T00:00:00.000000Z", 15)).await;
    let released = server.expect_echo("PUT", LEASE).await;
    release.await.unwrap().unwrap();
    assert!(released["spec"].get("holderIdentity").is_none_or(Value::is_null), "{released}");
    assert_eq!(released["metadata"]["resourceVersion"], "7");

    let other = tokio::spawn(async move { keeper.release().await });
    server.expect("GET", LEASE, lease(Some("replica-b"), "2026-01-01T00:00:00.000000Z", 15)).await;
    other.await.unwrap().unwrap();
    server.expect_nothing().await;
}
