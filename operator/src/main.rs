//! `hyperfleet-operator`: parse the command line, set up logging, run the chosen mode.

use clap::Parser;

use hyperfleet_operator::{
    authoring::adapter_test,
    cli::{AdapterCommand, Cli, Command},
    local::local,
    run::run,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Err(err) = cli.log.init() {
        eprintln!("hyperfleet-operator: {err}");
        return std::process::ExitCode::FAILURE;
    }
    let result = match cli.command {
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
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!(error = %message, "hyperfleet-operator failed");
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error with its sources, `: `-joined; a cause whose text is already there (some errors
/// print their sources themselves) is not repeated.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}
