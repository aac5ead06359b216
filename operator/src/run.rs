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
    leader::{self, LeaderError, LeaseSettings},
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
    let leadership = leadership(&args, &client, identity).await?;
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
    let (admin, led, ()) = tokio::join!(admin, led, async {
        tokio::select! { () = signal => {}, () = shutdown.cancelled() => {} }
    });
    workloads.shutdown().await;
    admin.map_err(RunError::Admin)?;
    led?;
    Ok(())
}

/// Whether this replica leads, and what keeps that answer alive.
struct Leadership {
    leading: watch::Receiver<bool>,
    // Held for their lifetime: dropping the keeper's handle or the constant sender would end
    // leadership.
    _keeper: Option<
        tokio::task::JoinHandle<
            Result<kube_lease_manager::LeaseManager, kube_lease_manager::LeaseManagerError>,
        >,
    >,
    _always: Option<watch::Sender<bool>>,
}

/// The Lease, or (leader election off) constant leadership.
async fn leadership(
    args: &RunArgs,
    client: &kube::Client,
    identity: String,
) -> Result<Leadership, LeaderError> {
    if !args.leader_election {
        tracing::warn!("leader election off: run a single replica, or events are published twice");
        let (always, leading) = watch::channel(true);
        return Ok(Leadership { leading, _keeper: None, _always: Some(always) });
    }
    let namespace = args.lease_namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    let settings =
        LeaseSettings { name: args.lease_name.clone(), namespace, identity, duration: args.lease_duration };
    tracing::info!(lease = %format!("{}/{}", settings.namespace, settings.name), identity = %settings.identity, "leader election on");
    let (leading, keeper) = leader::lease(client.clone(), &settings).await?;
    Ok(Leadership { leading, _keeper: Some(keeper), _always: None })
}

fn hostname() -> String {
    std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "hyperfleet-operator".into())
}
