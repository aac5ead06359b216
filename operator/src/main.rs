//! `hyperfleet-operator`: parse the command line, set up logging, run the chosen mode.

use clap::Parser;

use hyperfleet_telemetry::error_chain;

use hyperfleet_operator::{
    authoring::adapter_test,
    cli::{AdapterCommand, Cli, Command},
    dlq::dlq,
    local::local,
    run::run,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let telemetry = match cli.log.init("hyperfleet-operator") {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("hyperfleet-operator: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let code = execute(cli.command).await;
    telemetry.shutdown();
    code
}

async fn execute(command: Command) -> std::process::ExitCode {
    let result = match command {
        Command::Run(args) => run(args).await.map_err(|err| error_chain(&err)),
        Command::Local(args) => local(args).await.map_err(|err| error_chain(&err)),
        Command::Adapter(AdapterCommand::Test(args)) => match adapter_test(&args).await {
            Ok(report) => {
                print!("{report}");
                Ok(())
            }
            Err(err) => {
                // For people at a terminal: the error on stderr, plainly.
                eprintln!("hyperfleet-operator adapter test: {}", error_chain(&err));
                return std::process::ExitCode::FAILURE;
            }
        },
        Command::Dlq(command) => match dlq(&command).await {
            Ok(summary) => {
                print!("{summary}");
                Ok(())
            }
            Err(err) => {
                eprintln!("hyperfleet-operator dlq: {}", error_chain(&err));
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(error = %message, "hyperfleet-operator failed");
            std::process::ExitCode::FAILURE
        }
    }
}
