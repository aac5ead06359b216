//! Command line and environment: every flag is also a `HYPERFLEET_*` variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};
use hyperfleet_telemetry::LogArgs;

/// HyperFleet API server: stores clusters, node pools and adapter statuses in PostgreSQL.
#[derive(Debug, Parser)]
#[command(name = "hyperfleet-api", version, about, long_about = None)]
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
    /// Serve the REST API.
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit (safe to run from several replicas at once).
    Migrate(DatabaseArgs),
    /// Print the OpenAPI document (YAML) and exit.
    Openapi,
}

/// Database connection flags.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL, e.g. `postgres://user:password@127.0.0.1:5432/hyperfleet`.
    #[arg(long, env = "HYPERFLEET_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Maximum pooled connections requests run on (the change feed's listener takes one more).
    #[arg(long, env = "HYPERFLEET_DATABASE_MAX_CONNECTIONS", default_value_t = 20)]
    pub database_max_connections: u32,
    /// How long a request may wait for a pooled connection before answering 503.
    #[arg(long, env = "HYPERFLEET_DATABASE_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub database_acquire_timeout: Duration,
}

/// `serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HYPERFLEET_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Apply pending migrations before serving.
    #[arg(long, env = "HYPERFLEET_MIGRATE")]
    pub migrate: bool,
    /// Adapters that must report before a cluster is Reconciled (comma-separated). With none,
    /// DELETE removes a cluster at once.
    #[arg(long, env = "HYPERFLEET_CLUSTER_ADAPTERS", value_delimiter = ',')]
    pub cluster_adapters: Vec<String>,
    /// Adapters that must report before a node pool is Reconciled (comma-separated).
    #[arg(long, env = "HYPERFLEET_NODEPOOL_ADAPTERS", value_delimiter = ',')]
    pub nodepool_adapters: Vec<String>,
    /// JSON schema file that cluster `spec`s must satisfy.
    #[arg(long, env = "HYPERFLEET_CLUSTER_SPEC_SCHEMA")]
    pub cluster_spec_schema: Option<PathBuf>,
    /// JSON schema file that node pool `spec`s must satisfy.
    #[arg(long, env = "HYPERFLEET_NODEPOOL_SPEC_SCHEMA")]
    pub nodepool_spec_schema: Option<PathBuf>,
    /// Accepted status reports kept per resource and adapter (`.../statuses/{adapter}/history`).
    #[arg(long, env = "HYPERFLEET_STATUS_HISTORY_LIMIT", default_value_t = 100)]
    pub status_history_limit: i64,
    /// How long the change feed (`GET /changes`) keeps changes; a reader further behind is
    /// answered 410 and lists again.
    #[arg(long, env = "HYPERFLEET_CHANGES_RETENTION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub changes_retention: Duration,
    /// JWKS file with the keys that sign API tokens; turns JWT authentication on.
    #[arg(long, env = "HYPERFLEET_JWT_JWKS_FILE", conflicts_with = "jwt_jwks_url")]
    pub jwt_jwks_file: Option<PathBuf>,
    /// JWKS URL with the keys that sign API tokens; turns JWT authentication on.
    #[arg(long, env = "HYPERFLEET_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,
    /// Required token issuer (`iss`).
    #[arg(long, env = "HYPERFLEET_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required token audience (`aud`), if any.
    #[arg(long, env = "HYPERFLEET_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Claim naming the caller, recorded in created_by/updated_by.
    #[arg(long, env = "HYPERFLEET_JWT_IDENTITY_CLAIM", default_value = "sub")]
    pub jwt_identity_claim: String,
    /// Claim holding the token's scopes (space-separated string or array).
    #[arg(long, env = "HYPERFLEET_JWT_SCOPE_CLAIM", default_value = "scope")]
    pub jwt_scope_claim: String,
    /// Prefix of the scope names `read`, `write` and `status`, e.g. `hyperfleet.`.
    #[arg(long, env = "HYPERFLEET_JWT_SCOPE_PREFIX", default_value = "")]
    pub jwt_scope_prefix: String,
    /// How long `Reconciled` may stay False before a resource counts as stuck in the metrics.
    #[arg(long, env = "HYPERFLEET_STUCK_THRESHOLD", default_value = "10m", value_parser = humantime::parse_duration)]
    pub stuck_threshold: Duration,
    /// Longest a request may take before it is answered 503.
    #[arg(long, env = "HYPERFLEET_REQUEST_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// Longest wait for the next part of a request body: a client that stops sending what it
    /// announced is answered 408.
    #[arg(long, env = "HYPERFLEET_BODY_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,
    /// Reads per minute and caller (the JWT identity, or the client address when authentication
    /// is off); bursts of a tenth of that. 0 turns the limit off.
    #[arg(long, env = "HYPERFLEET_RATE_LIMIT_READS", default_value_t = 6000)]
    pub rate_limit_reads: u32,
    /// Creates, changes and deletes per minute and caller. 0 turns the limit off.
    #[arg(long, env = "HYPERFLEET_RATE_LIMIT_WRITES", default_value_t = 600)]
    pub rate_limit_writes: u32,
    /// Status reports per minute and caller (every adapter reports for every event). 0 turns
    /// the limit off.
    #[arg(long, env = "HYPERFLEET_RATE_LIMIT_STATUS", default_value_t = 12000)]
    pub rate_limit_status: u32,
    /// How long shutdown waits for in-flight requests.
    #[arg(long, env = "HYPERFLEET_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,
}
