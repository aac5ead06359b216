//! `hyperfleet-operator dlq dump|replay`: the operator's tool for an adapter's dead-lettered
//! events (runbook `EventsDeadLettered`). It reads the AdapterConfig from a file, connects to its
//! broker the way `local` mode does (Secret values from environment variables), and moves events
//! out of the subscription's dead-letter queue: into a JSON-lines file (`dump`), or back onto the
//! adapter's topic (`replay`, from the queue or from such a file).
//!
//! Nothing is dropped on the way: a batch taken from the queue is written to the file before the
//! next one is taken, and a replay straight from the queue keeps each batch in a journal file
//! until it is published, so an interrupted replay can be finished with `--from <journal>`.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
};

use hyperfleet_broker::{Broker, BrokerError, BrokerMetrics, Routing, Subscription};

use crate::{
    authoring::{AuthoringError, load_spec},
    cli::{DlqCommand, DlqDumpArgs, DlqReplayArgs},
    resolve::{BrokerPool, EnvSecrets, ResolveError},
};

/// Events taken from the queue at a time.
const BATCH: usize = 20;

/// Why a dump or replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// The AdapterConfig file could not be used.
    #[error(transparent)]
    Config(#[from] AuthoringError),
    /// Its broker could not be connected.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The broker failed mid-way.
    #[error("{done} events moved before the broker failed")]
    Broker {
        /// Events already written or published.
        done: usize,
        /// The broker's error.
        #[source]
        source: BrokerError,
    },
    /// A file could not be written or read.
    #[error("{path}")]
    File {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A replay stopped; what is left is in the file named.
    #[error(
        "published {published} events; the other {left} are in {path}: finish with `dlq replay --from {path}`"
    )]
    Unfinished {
        /// Events published.
        published: usize,
        /// Events not published.
        left: usize,
        /// Where they are.
        path: PathBuf,
        /// Why it stopped.
        #[source]
        source: BrokerError,
    },
}

/// What a dump or replay moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Events moved.
    pub count: usize,
    /// Where from and to, for people.
    pub summary: String,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.summary)
    }
}

/// Runs a `dlq` subcommand.
pub async fn dlq(command: &DlqCommand) -> Result<Moved, DlqError> {
    let file = match command {
        DlqCommand::Dump(args) => &args.file,
        DlqCommand::Replay(args) => &args.file,
    };
    let (broker, subscription) = connect(file).await?;
    let outcome = match command {
        DlqCommand::Dump(args) => dump(broker.as_ref(), &subscription, args).await,
        DlqCommand::Replay(args) => replay(broker.as_ref(), &subscription, args).await,
    };
    broker.close().await;
    outcome
}

async fn connect(file: &Path) -> Result<(Arc<dyn Broker>, Subscription), DlqError> {
    let spec = load_spec(file)?;
    let broker = BrokerPool::new(BrokerMetrics::default()).get(&spec.broker, "default", &EnvSecrets).await?;
    Ok((broker, crate::resolve::subscription(&spec)))
}

/// Moves up to `max` dead letters into `out` (appended), a batch at a time.
pub async fn dump(
    broker: &dyn Broker,
    subscription: &Subscription,
    args: &DlqDumpArgs,
) -> Result<Moved, DlqError> {
    let mut file = open_append(&args.out)?;
    let mut moved = 0;
    while moved < args.max {
        let batch = broker
            .drain_dead_letters(subscription, BATCH.min(args.max - moved))
            .await
            .map_err(|source| DlqError::Broker { done: moved, source })?;
        if batch.is_empty() {
            break;
        }
        write_lines(&mut file, &args.out, &batch)?;
        moved += batch.len();
    }
    let summary =
        format!("{moved} dead-lettered events of {} written to {}", subscription.name, args.out.display());
    Ok(Moved { count: moved, summary })
}

/// Publishes dead letters back onto the topic: from `--from` (a dump or journal), or from the
/// queue through a journal file.
pub async fn replay(
    broker: &dyn Broker,
    subscription: &Subscription,
    args: &DlqReplayArgs,
) -> Result<Moved, DlqError> {
    if let Some(from) = &args.from {
        let payloads = read_lines(from)?;
        let published = publish_all(broker, subscription, &payloads, from).await?;
        let summary =
            format!("{published} events from {} published to {}", from.display(), subscription.topic);
        return Ok(Moved { count: published, summary });
    }
    let journal = args.journal.clone().unwrap_or_else(|| {
        let now = chrono::Utc::now().format("%Y%m%dT%H%M%S");
        PathBuf::from(format!("{}-dlq-replay-{now}.jsonl", subscription.name))
    });
    let mut published = 0;
    while published < args.max {
        let batch = broker
            .drain_dead_letters(subscription, BATCH.min(args.max - published))
            .await
            .map_err(|source| DlqError::Broker { done: published, source })?;
        if batch.is_empty() {
            break;
        }
        // Kept on disk until published: a failure below leaves them in the journal.
        let mut file = std::fs::File::create(&journal).map_err(|source| file_error(&journal, source))?;
        write_lines(&mut file, &journal, &batch)?;
        published += publish_all(broker, subscription, &batch, &journal).await?;
    }
    std::fs::remove_file(&journal).ok();
    let summary = format!(
        "{published} dead-lettered events of {} published to {}",
        subscription.name, subscription.topic
    );
    Ok(Moved { count: published, summary })
}

/// Publishes onto the subscription's exchange with a routing key its own binding matches.
async fn publish_all(
    broker: &dyn Broker,
    subscription: &Subscription,
    payloads: &[Vec<u8>],
    kept_in: &Path,
) -> Result<usize, DlqError> {
    let routing = Routing {
        exchange: subscription.routing.exchange.clone(),
        key: Some(subscription.routing.replay_key()),
    };
    for (n, payload) in payloads.iter().enumerate() {
        if let Err(source) = broker.publish_raw_routed(&subscription.topic, &routing, payload).await {
            // What is left, and only that, so the suggested `--from` publishes nothing twice.
            let rest = &payloads[n..];
            let mut file = std::fs::File::create(kept_in).map_err(|err| file_error(kept_in, err))?;
            write_lines(&mut file, kept_in, rest)?;
            return Err(DlqError::Unfinished {
                published: n,
                left: rest.len(),
                path: kept_in.to_owned(),
                source,
            });
        }
    }
    Ok(payloads.len())
}

fn open_append(path: &Path) -> Result<std::fs::File, DlqError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| file_error(path, source))
}

/// One payload per line. Events are JSON without raw newlines; anything else (a poison message)
/// is written as a JSON string of its lossy text, so every line stays one JSON value.
fn write_lines(file: &mut std::fs::File, path: &Path, payloads: &[Vec<u8>]) -> Result<(), DlqError> {
    let mut text = String::new();
    for payload in payloads {
        match serde_json::from_slice::<serde_json::Value>(payload) {
            Ok(value) => text.push_str(&value.to_string()),
            Err(_) => text.push_str(
                &serde_json::Value::String(String::from_utf8_lossy(payload).into_owned()).to_string(),
            ),
        }
        text.push('\n');
    }
    file.write_all(text.as_bytes()).and_then(|()| file.sync_data()).map_err(|source| file_error(path, source))
}

fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>, DlqError> {
    let text = std::fs::read_to_string(path).map_err(|source| file_error(path, source))?;
    Ok(text.lines().filter(|line| !line.trim().is_empty()).map(|line| line.as_bytes().to_vec()).collect())
}

fn file_error(path: &Path, source: std::io::Error) -> DlqError {
    DlqError::File { path: path.to_owned(), source }
}
