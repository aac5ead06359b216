//! `hyperfleet-operator run`: the wiring. A Kubernetes client, the shared workloads, the admin
//! server, the Lease, and, while leading, the controllers; everything under one shutdown token,
//! every future awaited here (nothing fire-and-forget), tasks stopped before exit.

use std::sync::Arc;

use kube::runtime::events::{Recorder, Reporter};
use tokio::sync::{Mutex, watch};
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
    leader::{self, LeaderError, LeaseKeeper, LeaseSettings},
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
    /// Leadership failed.
    #[error(transparent)]
    Leader(#[from] LeaderError),
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
    let context = Arc::new(Context {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        workloads: workloads.clone(),
        metrics: metrics.reconcile.clone(),
        status_interval: args.status_interval,
        readiness: readiness.clone(),
    });
    let shutdown = CancellationToken::new();
    let listener = admin::bind(args.admin_addr).await.map_err(RunError::Admin)?;
    let admin_state = AdminState { metrics, readiness: readiness.clone(), brokers: workloads.brokers() };
    let admin = admin::serve(listener, admin_state, shutdown.clone());

    let namespaces = watched::parse_namespaces(&args.namespace);
    watched::check_crds(&client, &namespaces).await?;
    let leadership = leadership(&args, &client, identity);
    let sentinel_changes = Arc::new(Mutex::new(changes.sentinels));
    let adapter_changes = Arc::new(Mutex::new(changes.adapters));
    let term = |stop: CancellationToken| {
        let (context, namespaces) = (context.clone(), namespaces.clone());
        let changes = (sentinel_changes.clone(), adapter_changes.clone());
        async move { watched::controllers(context, &namespaces, changes, stop).await }
    };
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
    let led = async {
        let result = leader::lead(leadership.leading.clone(), shutdown.clone(), &workloads, term).await;
        shutdown.cancel();
        result
    };
    let keep = async {
        if let Some((keeper, sender)) = &leadership.keeper {
            keeper.run(sender.clone(), shutdown.clone()).await;
        }
    };
    let (admin, led, (), ()) = tokio::join!(admin, led, keep, async {
        tokio::select! { () = signal => {}, () = shutdown.cancelled() => {} }
    });
    workloads.shutdown().await;
    // Every task has stopped: only now may another replica lead.
    leadership.release().await;
    admin.map_err(RunError::Admin)?;
    led?;
    Ok(())
}

/// The shortest lease duration used.
const MIN_LEASE_DURATION: std::time::Duration = std::time::Duration::from_secs(3);

/// How long the release of the Lease may take at exit (within the pod's grace period).
const LEASE_RELEASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether this replica leads, and the keeper that decides it (none with leader election off).
struct Leadership {
    leading: watch::Receiver<bool>,
    keeper: Option<(LeaseKeeper, watch::Sender<bool>)>,
    // Held for its lifetime: with leader election off, dropping it would end leadership.
    _always: Option<watch::Sender<bool>>,
}

impl Leadership {
    /// Gives the Lease up (bounded), so the next replica leads at once.
    async fn release(&self) {
        let Some((keeper, _)) = &self.keeper else { return };
        match tokio::time::timeout(LEASE_RELEASE_TIMEOUT, keeper.release()).await {
            Ok(Ok(())) => tracing::info!("lease released"),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "the lease could not be released; it expires by itself")
            }
            Err(_) => tracing::warn!("releasing the lease timed out; it expires by itself"),
        }
    }
}

/// The Lease, or (leader election off) constant leadership.
fn leadership(args: &RunArgs, client: &kube::Client, identity: String) -> Leadership {
    if !args.leader_election {
        tracing::warn!("leader election off: run a single replica, or events are published twice");
        let (always, leading) = watch::channel(true);
        return Leadership { leading, keeper: None, _always: Some(always) };
    }
    let namespace = args.lease_namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    // Whole seconds on the Lease; below a few the renewals cannot keep up with the deadline.
    let duration = args.lease_duration.max(MIN_LEASE_DURATION);
    if duration != args.lease_duration {
        tracing::warn!(asked = ?args.lease_duration, using = ?duration, "lease duration too short");
    }
    let settings = LeaseSettings { name: args.lease_name.clone(), namespace, identity, duration };
    tracing::info!(
        lease = %format!("{}/{}", settings.namespace, settings.name), identity = %settings.identity,
        renew_deadline = ?settings.renew_deadline(), "leader election on"
    );
    let (sender, leading) = watch::channel(false);
    Leadership { leading, keeper: Some((LeaseKeeper::new(client.clone(), settings), sender)), _always: None }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "hyperfleet-operator".into())
}
