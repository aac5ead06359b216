//! Leadership: only the holder of a coordination.k8s.io Lease runs controllers and tasks, so two
//! replicas never poll and publish twice. [`keeper`] keeps the Lease (acquire, renew, step down
//! at its own deadline, release); [`lead`] runs a *term* (the controllers) while leading and
//! stops it, and every task, when leadership is lost.

pub mod keeper;

use std::{future::Future, time::Duration};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::workloads::Workloads;

pub use keeper::LeaseKeeper;

/// How long a term gets to wind down before it is dropped.
const TERM_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why leading ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The lease keeper stopped: leadership can no longer be known, so the process must exit.
    #[error("the lease keeper stopped")]
    KeeperStopped,
    /// The controllers ended on their own while leading (the watch stream ended).
    #[error("the controllers ended while leading")]
    TermEnded,
}

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
}

impl LeaseSettings {
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

/// Runs `term` whenever `leading` is true, until `shutdown`. When leadership is lost the term is
/// cancelled and awaited (bounded), then every task is stopped; a new term starts on re-election.
pub async fn lead<F, Fut>(
    mut leading: watch::Receiver<bool>,
    shutdown: CancellationToken,
    workloads: &Workloads,
    mut term: F,
) -> Result<(), LeaderError>
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            elected = leading.wait_for(|leading| *leading) => {
                elected.map_err(|_| LeaderError::KeeperStopped)?;
            }
        }
        tracing::info!("leading: starting the controllers");
        let stop_term = shutdown.child_token();
        let running = term(stop_term.clone());
        tokio::pin!(running);
        // (lost leadership, the term already finished)
        let (lost, finished) = tokio::select! {
            () = &mut running => (false, true),
            lost = leading.wait_for(|leading| !*leading) => {
                lost.map_err(|_| LeaderError::KeeperStopped)?;
                tracing::warn!("leadership lost: stopping the controllers and every task");
                (true, false)
            }
            () = shutdown.cancelled() => (false, false),
        };
        stop_term.cancel();
        if !finished && tokio::time::timeout(TERM_STOP_TIMEOUT, &mut running).await.is_err() {
            tracing::warn!(timeout = ?TERM_STOP_TIMEOUT, "the controllers did not stop in time");
        }
        workloads.stop_all().await;
        if shutdown.is_cancelled() {
            return Ok(());
        }
        if !lost {
            tracing::error!("the controllers ended while leading");
            return Err(LeaderError::TermEnded);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;
    use crate::{resolve::EnvSecrets, workloads::Resources};

    fn spec() -> hyperfleet_crds::v1alpha1::SentinelConfigSpec {
        serde_json::from_value(serde_json::json!({
            "resourceType": "clusters",
            "pollInterval": "1h", "backoffNotReady": "1h",
            "hyperfleetAPI": {"url": "http://127.0.0.1:9"},
            "broker": {"type": "memory", "topic": "t"},
        }))
        .unwrap()
    }

    async fn eventually<F: FnMut() -> Fut, Fut: Future<Output = bool>>(what: &str, check: F) {
        hyperfleet_testing::wait_until(what, Duration::from_secs(2), check).await;
    }

    #[tokio::test]
    async fn losing_the_lease_stops_the_controllers_and_every_task_and_winning_it_back_restarts_them() {
        let metrics = crate::metrics::OperatorMetrics::new();
        let transports = crate::controller::fixtures::dry_run_transports();
        let (workloads, _changes) =
            Workloads::new(Resources::new(&metrics, Arc::new(EnvSecrets), transports));
        let workloads = Arc::new(workloads);
        let (lease, leading) = watch::channel(false);
        let shutdown = CancellationToken::new();
        let terms = Arc::new(AtomicUsize::new(0));
        let term = {
            let (workloads, terms) = (workloads.clone(), terms.clone());
            move |stop: CancellationToken| {
                let (workloads, terms) = (workloads.clone(), terms.clone());
                async move {
                    terms.fetch_add(1, Ordering::SeqCst);
                    workloads.apply_sentinel("fleet", "eu", 1, &spec()).await;
                    stop.cancelled().await;
                }
            }
        };
        let leader = tokio::spawn({
            let (workloads, shutdown) = (workloads.clone(), shutdown.clone());
            async move { lead(leading, shutdown, &workloads, term).await }
        });

        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(terms.load(Ordering::SeqCst), 0, "nothing runs before the lease is won");
        lease.send(true).unwrap();
        eventually("the task start", async || workloads.sentinel_keys().await.len() == 1).await;

        lease.send(false).unwrap();
        eventually("the task stop", async || workloads.sentinel_keys().await.is_empty()).await;

        lease.send(true).unwrap();
        eventually("a second term", async || workloads.sentinel_keys().await.len() == 1).await;
        assert_eq!(terms.load(Ordering::SeqCst), 2);

        shutdown.cancel();
        assert!(leader.await.unwrap().is_ok());
        assert!(workloads.sentinel_keys().await.is_empty(), "shutdown stops every task");
    }

    #[tokio::test]
    async fn a_stopped_lease_keeper_is_an_error_so_the_process_exits() {
        let metrics = crate::metrics::OperatorMetrics::new();
        let transports = crate::controller::fixtures::dry_run_transports();
        let (workloads, _changes) =
            Workloads::new(Resources::new(&metrics, Arc::new(EnvSecrets), transports));
        let (lease, leading) = watch::channel(false);
        drop(lease);
        let result = lead(leading, CancellationToken::new(), &workloads, |_stop| async {}).await;
        assert!(matches!(result, Err(LeaderError::KeeperStopped)), "{result:?}");
    }
}
