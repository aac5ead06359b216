//! The command line: `hyperfleet-operator run` (against Kubernetes) and `hyperfleet-operator
//! local` (from YAML files, no cluster). Every flag can also come from the environment.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use hyperfleet_telemetry::LogArgs;

/// HyperFleet's controller manager: runs one Sentinel (poll the API, publish reconcile events)
/// per SentinelConfig and one adapter per AdapterConfig.
#[derive(Debug, Parser)]
#[command(name = "hyperfleet-operator", version)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile SentinelConfigs and AdapterConfigs from the Kubernetes API (in-cluster config,
    /// or KUBECONFIG); only the Lease holder runs tasks.
    Run(RunArgs),
    /// Run the same tasks from SentinelConfig/AdapterConfig YAML files, without Kubernetes
    /// (development, the demo). Files are re-read when they change; status is logged. Secret
    /// references read environment variables: Secret `my-secret` key `url` -> `MY_SECRET_URL`.
    Local(LocalArgs),
    /// Tools for adapter authors.
    #[command(subcommand)]
    Adapter(AdapterCommand),
    /// An adapter's dead-lettered events: save them to a file, or put them back on its topic.
    /// The AdapterConfig comes from a file; the broker URL Secret it names is read from an
    /// environment variable as in `local` mode (Secret `hyperfleet-rabbitmq`, key `url` ->
    /// `HYPERFLEET_RABBITMQ_URL`).
    #[command(subcommand)]
    Dlq(DlqCommand),
}

/// `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Move dead-lettered events into a JSON-lines file (appended; one event per line), to read
    /// them or to replay them later with `replay --from`.
    Dump(DlqDumpArgs),
    /// Publish dead-lettered events back onto the adapter's topic (every adapter subscribed to
    /// it gets them again; handlers drop what is stale), from the queue or from a dump.
    Replay(DlqReplayArgs),
}

/// `dlq dump` flags.
#[derive(Debug, Clone, Args)]
pub struct DlqDumpArgs {
    /// The AdapterConfig (a full document, or just its spec).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// The file to append the events to.
    #[arg(long)]
    pub out: PathBuf,
    /// At most this many events.
    #[arg(long, default_value_t = 1000)]
    pub max: usize,
}

/// `dlq replay` flags.
#[derive(Debug, Clone, Args)]
pub struct DlqReplayArgs {
    /// The AdapterConfig (a full document, or just its spec).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// Publish the events of this file (a `dump`, or the journal of an interrupted replay)
    /// instead of taking them from the queue.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// At most this many events from the queue.
    #[arg(long, default_value_t = 100)]
    pub max: usize,
    /// Where events taken from the queue wait until they are published (default
    /// `<subscription>-dlq-replay-<time>.jsonl` here; removed when all are published).
    #[arg(long)]
    pub journal: Option<PathBuf>,
}

/// `adapter` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdapterCommand {
    /// Run one event through an AdapterConfig with no cluster, broker or API: print the
    /// decision, the manifests it would apply and the status it would report.
    Test(AdapterTestArgs),
}

/// How the simulated Job of `adapter test` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimulatedJob {
    /// Created, not finished.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished unsuccessfully.
    Failed,
}

/// `adapter test` flags.
#[derive(Debug, Clone, Args)]
pub struct AdapterTestArgs {
    /// The AdapterConfig (a full document, or just its spec).
    #[arg(short = 'f', long = "file")]
    pub file: PathBuf,
    /// The resource: as the API returns it, or a create payload (id, href and times are filled in).
    #[arg(long)]
    pub resource: PathBuf,
    /// Other adapters' statuses (a list, or the API's page), for dependencies and CEL.
    #[arg(long)]
    pub statuses: Option<PathBuf>,
    /// Treat the resource as being deleted.
    #[arg(long)]
    pub deleting: bool,
    /// The state of the simulated Job when the status is computed (`running` also leaves the
    /// simulated HostedClusters, NodePools and DNSEndpoints not ready yet).
    #[arg(long, value_enum, default_value_t = SimulatedJob::Running)]
    pub job: SimulatedJob,
    /// YAML files of objects already in the cluster, for `lookups` (an inventory ConfigMap, a
    /// Secret); repeatable. Secret values never appear in the output.
    #[arg(long = "objects")]
    pub objects: Vec<PathBuf>,
}

/// `run` flags.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Namespaces to watch, comma-separated; empty watches every namespace (set from
    /// `olm.targetNamespaces` under OLM).
    #[arg(long, env = "WATCH_NAMESPACE", default_value = "")]
    pub namespace: String,
    /// Address of the admin server (`/livez`, `/readyz`, `/metrics`).
    #[arg(long, env = "HYPERFLEET_ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    pub admin_addr: SocketAddr,
    /// Share the CRs across replicas by Leases: each SentinelConfig's Sentinel runs on the one
    /// replica holding its Lease, each CR's status is written by its Lease's holder, adapters
    /// consume on every replica. Off: this replica runs everything (a single replica only).
    #[arg(long, env = "HYPERFLEET_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    /// The Leases' group: the prefix of every Lease name (`<group>.sentinelconfig.<ns>.<name>`,
    /// `<group>.member.<identity>`) and their `hyperfleet.io/lease-group` label. Two operators
    /// with different groups never share work.
    #[arg(long, env = "HYPERFLEET_LEASE_NAME", default_value = "hyperfleet-operator")]
    pub lease_name: String,
    /// Namespace of the Leases (default: the pod's namespace, else the client's default namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// This replica's identity in the Leases, also its field manager (default: the pod name,
    /// else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long a Lease lasts without renewal: a dead replica's CRs move to the others at most
    /// this late; a replica that cannot renew stops their work at two thirds of it.
    #[arg(long, env = "HYPERFLEET_LEASE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,
    /// How often a healthy resource's status figures (last poll, pending, published) are refreshed.
    #[arg(long, env = "HYPERFLEET_STATUS_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub status_interval: Duration,
    /// Use this API URL for every CR, whatever its `hyperfleetAPI.url` says (to run the operator
    /// outside the cluster against CRs that name in-cluster URLs).
    #[arg(long, env = "HYPERFLEET_API_URL")]
    pub api_url: Option<String>,
}

/// `local` flags.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Directory of SentinelConfig/AdapterConfig YAML files (searched recursively; multi-document
    /// files allowed; other kinds are skipped). Repeat for several directories.
    #[arg(long, env = "HYPERFLEET_CONFIG_DIR", required = true, value_delimiter = ',')]
    pub config_dir: Vec<PathBuf>,
    /// Use the in-process memory broker for every config, whatever its `broker.type` says (so
    /// configs written for a cluster run here unchanged; topics are kept).
    #[arg(long, env = "HYPERFLEET_MEMORY_BROKER")]
    pub memory_broker: bool,
    /// Use this API URL for every config, whatever its `hyperfleetAPI.url` says.
    #[arg(long, env = "HYPERFLEET_API_URL")]
    pub api_url: Option<String>,
    /// Address of the admin server (`/livez`, `/readyz`, `/metrics`).
    #[arg(long, env = "HYPERFLEET_ADMIN_ADDR", default_value = "127.0.0.1:8081")]
    pub admin_addr: SocketAddr,
    /// How long a simulated Job runs before it completes (adapters use the dry-run transport).
    #[arg(long, env = "HYPERFLEET_JOB_DURATION", default_value = "2s", value_parser = humantime::parse_duration)]
    pub job_duration: Duration,
    /// How often the directory is re-read for added, changed or removed configs.
    #[arg(long, env = "HYPERFLEET_RELOAD_INTERVAL", default_value = "2s", value_parser = humantime::parse_duration)]
    pub reload_interval: Duration,
}
