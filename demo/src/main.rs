//! `hyperfleet-demo`: runs the demo scenario against a running HyperFleet and prints timings.

use std::time::Duration;

use clap::Parser;

use hyperfleet_api_model::client::Client;

/// Creates a cluster and a node pool, waits for Ready, updates, deletes; prints the adapters'
/// progress as it happens. Needs the API and `hyperfleet-operator local` with the catalog
/// (`hack/demo.sh` starts both).
#[derive(Debug, Parser)]
#[command(name = "hyperfleet-demo", version)]
struct Args {
    /// The API's base URL.
    #[arg(long, env = "HYPERFLEET_API_URL", default_value = "http://127.0.0.1:8000")]
    api_url: String,
    /// Wait this long for the API to answer before starting (it may still be starting).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    wait_for_api: Duration,
    /// Give up on a step after this long.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let client = match Client::new(&args.api_url) {
        Ok(client) => client,
        Err(err) => {
            eprintln!("hyperfleet-demo: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(err) = hyperfleet_demo::wait_for_api(&client, args.wait_for_api).await {
        eprintln!("hyperfleet-demo: the API at {} does not answer: {err}", args.api_url);
        return std::process::ExitCode::FAILURE;
    }
    match hyperfleet_demo::run(&client, &mut std::io::stdout(), args.timeout).await {
        Ok(timings) => {
            println!(
                "\ncreate -> Ready: cluster {:.1?}, node pool {:.1?}; update -> Ready {:.1?}; delete -> gone {:.1?}",
                timings.cluster_ready, timings.nodepool_ready, timings.update_ready, timings.deleted
            );
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("hyperfleet-demo: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
