//! `hyperfleet-operator run`: the wiring. A Kubernetes client, the shared workloads, the admin
//! server, this replica's share of the CRs' Leases and the controllers; everything under one
//! shutdown token, every future awaited here (nothing fire-and-forget), tasks stopped before
//! the Leases are released at exit.

use std::sync::Arc;

use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{
    adapter::{
        Transports,
        transport::{
            dry_run::{DryRun, JobOutcome},
            kubernetes::Kubernetes,
        },
    },
    admin::{self, AdminState},
    cli::RunArgs,
    controller::{Context, watched},
    leader::{ShareSettings, Shares},
    metrics::OperatorMetrics,
    resolve::KubeSecrets,
    workloads::{Resources, Workloads},
};

/// How long a Job of a `transport: dry-run` resource pretends to run.
const DRY_RUN_JOB_DURATION: std::time::Duration = std::time::Duration::from_secs(5);

/// Why `run` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No Kubernetes configuration (in-cluster or KUBECONFIG) works.
    #[error("cannot build a Kubernetes client (in-cluster config or KUBECONFIG)")]
    Kubernetes(#[source] kube::Error),
    /// The admin server failed.
    #[error("admin server failed")]
    Admin(#[source] std::io::Error),
    /// The controllers ended on their own (their watch streams ended).
    #[error("the controllers ended")]
    ControllersEnded,
    /// The CRDs are not served, or not listable where watched.
    #[error(transparent)]
    Start(#[from] watched::StartError),
}

/// Runs until SIGTERM/Ctrl-C.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    let client = kube::Client::try_default().await.map_err(RunError::Kubernetes)?;
    let metrics = Arc::new(OperatorMetrics::new());
    let transports = Transports {
        kubernetes: Arc::new(Kubernetes::new(client.clone())),
        dry_run: Arc::new(DryRun::new(DRY_RUN_JOB_DURATION, JobOutcome::Succeed)),
        // One Maestro client per AdapterConfig that names a server: built with the adapter.
        maestro: None,
    };
    let (workloads, changes) = Workloads::new(
        Resources::new(&metrics, Arc::new(KubeSecrets(client.clone())), transports)
            .with_api_url(args.api_url.clone()),
    );
    let workloads = Arc::new(workloads);
    let identity = args.identity.clone().unwrap_or_else(hostname);
    let reporter =
        Reporter { controller: hyperfleet_crds::FIELD_MANAGER.into(), instance: Some(identity.clone()) };
    let readiness = Arc::new(admin::Readiness::default());
    let shares = shares(&args, &client, identity, &workloads);
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        workloads: workloads.clone(),
        metrics: metrics.reconcile.clone(),
        status_interval: args.status_interval,
        readiness: readiness.clone(),
        shares: shares.clone(),
    });
    let shutdown = CancellationToken::new();
    let listener = admin::bind(args.admin_addr).await.map_err(RunError::Admin)?;
    let admin_state = AdminState { metrics, readiness: readiness.clone(), brokers: workloads.brokers() };
    let admin = admin::serve(listener, admin_state, shutdown.clone());

    let namespaces = watched::parse_namespaces(&args.namespace);
    watched::check_crds(&client, &namespaces).await?;
    let changes = (Arc::new(Mutex::new(changes.sentinels)), Arc::new(Mutex::new(changes.adapters)));
    readiness.started();
    let signal = async {
        hyperfleet_telemetry::shutdown_signal().await;
        tracing::info!(
            "shutting down: stopping the controllers and every task (a second signal exits at once)"
        );
        shutdown.cancel();
        // The stop is bounded (one stop timeout per kind of task), but someone who signals again
        // does not want to wait for it.
        tokio::spawn(async {
            hyperfleet_telemetry::shutdown_signal().await;
            tracing::warn!("second signal: exiting without waiting for the tasks");
            std::process::exit(1);
        });
    };
    // Whatever ends first ends everything else.
    let admin = async {
        let result = admin.await;
        shutdown.cancel();
        result
    };
    let controllers = async {
        watched::controllers(context.clone(), &namespaces, changes, shutdown.clone()).await;
        let ended = !shutdown.is_cancelled();
        shutdown.cancel();
        ended
    };
    let membership = async {
        if let Some(shares) = &shares {
            shares.clone().keep_membership(shutdown.clone()).await;
        }
    };
    let (admin, ended, (), ()) = tokio::join!(admin, controllers, membership, async {
        tokio::select! { () = signal => {}, () = shutdown.cancelled() => {} }
    });
    // Every task stops first; only then are the Leases released, so the next holder of a
    // SentinelConfig starts once this one has stopped publishing.
    workloads.stop_all().await;
    if let Some(shares) = &shares {
        shares.release_all().await;
    }
    workloads.shutdown().await;
    admin.map_err(RunError::Admin)?;
    if ended {
        tracing::error!("the controllers ended on their own");
        return Err(RunError::ControllersEnded);
    }
    Ok(())
}

/// The shortest lease duration used.
const MIN_LEASE_DURATION: std::time::Duration = std::time::Duration::from_secs(3);

/// This replica's share of the CRs' Leases, or (leader election off) none: it runs every CR.
fn shares(
    args: &RunArgs,
    client: &kube::Client,
    identity: String,
    workloads: &Arc<Workloads>,
) -> Option<Arc<Shares>> {
    if !args.leader_election {
        tracing::warn!("leader election off: run a single replica, or events are published twice");
        return None;
    }
    let namespace = args.lease_namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    // Whole seconds on the Lease; below a few the renewals cannot keep up with the deadline.
    let duration = args.lease_duration.max(MIN_LEASE_DURATION);
    if duration != args.lease_duration {
        tracing::warn!(asked = ?args.lease_duration, using = ?duration, "lease duration too short");
    }
    let settings = ShareSettings { group: args.lease_name.clone(), namespace, identity, duration };
    tracing::info!(
        group = %settings.group, namespace = %settings.namespace, identity = %settings.identity,
        ?duration, "sharing the CRs by Leases"
    );
    Some(Shares::new(client.clone(), settings, workloads.clone()))
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "hyperfleet-operator".into())
}
