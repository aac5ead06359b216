//! `hyperfleet-job`: the catalog's Job program (see the library's docs).

use std::process::ExitCode;

use clap::Parser;

use hyperfleet_job::cli::{Cli, Command};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let telemetry = match cli.log.init("hyperfleet-job") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("hyperfleet-job: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match &cli.command {
        Command::Validate(args) => hyperfleet_job::validate::run(args).await,
    };
    telemetry.shutdown();
    code
}
