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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The fleet benchmark: create N clusters at once, wait until all are Ready, report the
    /// time and the cost (`hack/fleet.sh` starts the API and the operator over RabbitMQ).
    Fleet {
        /// Clusters to create at once.
        #[arg(long, default_value_t = 100)]
        clusters: usize,
        /// `/metrics` URLs to count events and requests from (the API's, the operator's).
        #[arg(long = "metrics")]
        metrics: Vec<String>,
        /// A process to measure, `name=pid` (CPU time and peak RSS from /proc).
        #[arg(long = "process", value_parser = parse_process)]
        processes: Vec<(String, u32)>,
        /// The broker the adapters consume from, to sample their queues' backlog.
        #[arg(long, requires = "queue", hide_env_values = true, env = "HYPERFLEET_DEMO_AMQP_URL")]
        amqp_url: Option<String>,
        /// An adapter queue to sample (`<topic>-<subscription>`); repeat for each.
        #[arg(long = "queue", requires = "amqp_url")]
        queues: Vec<String>,
    },
}

fn parse_process(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = text.split_once('=').ok_or("expected name=pid")?;
    Ok((name.to_owned(), pid.parse().map_err(|_| format!("'{pid}' is not a pid"))?))
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
    if let Some(Command::Fleet { clusters, metrics, processes, amqp_url, queues }) = args.command {
        let queues = amqp_url.map(|url| hyperfleet_demo::backlog::Queues { url, names: queues });
        let options = hyperfleet_demo::fleet::FleetOptions {
            clusters,
            timeout: args.timeout,
            metrics,
            processes,
            queues,
        };
        return match hyperfleet_demo::fleet::fleet(&client, &options).await {
            Ok(report) => {
                print!("{report}");
                std::process::ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("hyperfleet-demo: {err}");
                std::process::ExitCode::FAILURE
            }
        };
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
