//! The fleet benchmark's queue sampler: while `fleet` waits for the clusters, it reads how many
//! messages wait in each adapter's RabbitMQ queue (a passive `queue.declare`, which answers
//! the ready count without touching the queue) and keeps the largest.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties, options::QueueDeclareOptions, types::FieldTable};

/// The queues to watch and where.
#[derive(Debug, Clone)]
pub struct Queues {
    /// `amqp://` URL of the broker the adapters consume from.
    pub url: String,
    /// Queue names (`<topic>-<subscription>`).
    pub names: Vec<String>,
}

/// The largest backlog seen, and in which queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Largest {
    /// Messages ready in the queue (delivered but unacknowledged ones not counted).
    pub messages: u32,
    /// The queue.
    pub queue: String,
}

/// What went wrong reading the queues.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the queue depths at the broker")]
pub struct BacklogError(#[from] lapin::Error);

/// Samples `queues` every `every` until `stop` resolves; returns the largest backlog seen.
pub async fn sample(
    queues: &Queues,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Largest, BacklogError> {
    let connection = Connection::connect(&queues.url, ConnectionProperties::default()).await?;
    let mut channel = connection.create_channel().await?;
    let passive = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    let mut largest = Largest::default();
    let mut ticks = tokio::time::interval(every);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        for name in &queues.names {
            match channel.queue_declare(name.as_str().into(), passive, FieldTable::default()).await {
                Ok(queue) if queue.message_count() > largest.messages => {
                    largest = Largest { messages: queue.message_count(), queue: name.clone() };
                }
                Ok(_) => {}
                // A queue the operator has not declared yet: the broker closes the channel
                // (404), and the queue holds nothing.
                Err(_) => channel = connection.create_channel().await?,
            }
        }
    }
    connection.close(0, "done".into()).await?;
    Ok(largest)
}
