//! `hyperfleet-api`: parse the command line, set up logging, run.

use clap::Parser;

use hyperfleet_api::{config::Cli, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(err) = cli.log.init() {
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
