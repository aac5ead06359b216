//! `hyperfleet-api`: parse the command line, set up logging, run.

use clap::Parser;

use hyperfleet_api::{config::Cli, run};
use hyperfleet_telemetry as telemetry;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(err) = telemetry::init(cli.log_format, &cli.log_level) {
        eprintln!("hyperfleet-api: {err}");
        return std::process::ExitCode::FAILURE;
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "hyperfleet-api failed");
            std::process::ExitCode::FAILURE
        }
    }
}
