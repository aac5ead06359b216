//! The command line: `hyperfleet-job validate`, every setting also an environment variable (a
//! Job sets them in its `env`).

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::checks::Rules;

/// The catalog's Job program.
#[derive(Debug, Parser)]
#[command(name = "hyperfleet-job", version)]
pub struct Cli {
    /// Logging.
    #[command(flatten)]
    pub log: hyperfleet_telemetry::LogArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The Job kinds.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checks a cluster or node pool for what would make its provisioning fail: name and base
    /// domain syntax, platform and region against the allowed ones, release version, network
    /// CIDRs (valid, not overlapping), node pool sizes. Exits 1 listing every problem in the
    /// termination message; 2 when the resource cannot be read (the Job retries).
    Validate(ValidateArgs),
}

/// `validate`'s settings.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Where the resource comes from.
    #[command(flatten)]
    pub resource: ResourceArgs,
    /// Platforms clusters may use.
    #[arg(long, env = "HYPERFLEET_PLATFORMS", value_delimiter = ',', default_value = "gcp,aws")]
    pub platforms: Vec<String>,
    /// Regions clusters may use (empty: any).
    #[arg(long, env = "HYPERFLEET_REGIONS", value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Longest cluster name: 54 keeps the hosted control plane's namespace (`clusters-<name>`)
    /// within 63 characters.
    #[arg(long, env = "HYPERFLEET_MAX_NAME_LENGTH", default_value_t = 54)]
    pub max_name_length: usize,
    /// Most nodes in one node pool.
    #[arg(long, env = "HYPERFLEET_MAX_REPLICAS", default_value_t = 500)]
    pub max_replicas: u64,
}

impl ValidateArgs {
    /// The rules the flags say.
    pub fn rules(&self) -> Rules {
        let regions = self.regions.iter().filter(|r| !r.is_empty()).cloned().collect();
        Rules {
            platforms: self.platforms.clone(),
            regions,
            max_name_length: self.max_name_length,
            max_replicas: self.max_replicas,
        }
    }
}

/// The resource a Job is for, as the adapter's Job environment gives it.
#[derive(Debug, Args)]
pub struct ResourceArgs {
    /// The API's base URL.
    #[arg(long, env = "HYPERFLEET_API_URL")]
    pub api_url: String,
    /// The resource's path in the API (`/api/hyperfleet/v1/clusters/<id>`).
    #[arg(long, env = "HYPERFLEET_RESOURCE_HREF")]
    pub href: String,
    /// Bearer token for the API, when it has authentication on.
    #[arg(long, env = "HYPERFLEET_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Where the result goes: the container's termination-message file (`-`: nowhere).
    #[arg(long, env = "HYPERFLEET_TERMINATION_LOG", default_value = "/dev/termination-log")]
    pub termination_log: PathBuf,
}
