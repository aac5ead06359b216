//! `hyperfleet-api`: parse the command line, set up logging, run.

use clap::Parser;

use hyperfleet_api::{config::Cli, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let telemetry = match cli.log.init("hyperfleet-api") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("hyperfleet-api: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "hyperfleet-api failed");
            std::process::ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}
