//! RabbitMQ backend (lapin, AMQP 0-9-1).
//!
//! Topology: one durable topic exchange per topic (or the subscription's `exchange`); one durable
//! quorum queue `<topic>-<subscription>` bound to it with `#` (or its routing key, an AMQP topic
//! pattern); publishes carry their routing key (default empty); its dead letters go through the default
//! exchange to the quorum queue `<topic>-<subscription>-dlq`. Publishes are `mandatory` and
//! confirmed. A failed delivery is nacked after a backoff and comes back with `x-delivery-count`,
//! so the attempt count survives restarts; at the subscription's limit it is rejected into the
//! DLQ. A fixed `x-delivery-limit` backs this up for consumers that die mid-message. Connections
//! are re-established with backoff; consumers re-declare and resume on their own.

use std::{collections::HashSet, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::StreamExt;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicNackOptions, BasicPublishOptions,
        BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
        QueueDeclareOptions, QueueDeleteOptions,
    },
    types::{AMQPValue, FieldTable},
};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{
    Broker, BrokerError, Consumer, Handler, Outcome, Routing, Subscription,
    consumer::{Inbound, Pump, Source},
    event,
    metrics::{BrokerMetrics, ErrorType},
};

/// Safety-net delivery limit on every queue: catches messages whose consumer died before it
/// could nack or reject them. Fixed, because queue arguments cannot change after creation.
const QUEUE_DELIVERY_LIMIT: i64 = 20;
/// Longest wait for the broker to confirm a publish.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A RabbitMQ broker. Clones share one connection.
#[derive(Debug, Clone)]
pub struct RabbitMqBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    url: String,
    prefetch: Option<u16>,
    metrics: BrokerMetrics,
    link: Mutex<Option<Link>>,
}

/// The live connection and the confirm-mode channel publishes go through.
#[derive(Debug)]
struct Link {
    connection: Connection,
    publisher: Channel,
    exchanges: HashSet<String>,
}

fn op(operation: &'static str) -> impl FnOnce(lapin::Error) -> BrokerError {
    move |err| BrokerError::operation(operation, err)
}

fn queue_name(subscription: &Subscription) -> String {
    format!("{}-{}", subscription.topic, subscription.name)
}

fn dead_letter_queue(subscription: &Subscription) -> String {
    format!("{}-dlq", queue_name(subscription))
}

impl RabbitMqBroker {
    /// Connects (failing fast when the broker cannot be reached at all).
    pub async fn connect(
        url: &str,
        prefetch: Option<u16>,
        metrics: BrokerMetrics,
    ) -> Result<Self, BrokerError> {
        let broker = Self {
            inner: Arc::new(Inner { url: url.to_owned(), prefetch, metrics, link: Mutex::new(None) }),
        };
        broker.publisher(None).await?;
        Ok(broker)
    }

    /// The publish channel, reconnecting if needed, with `topic`'s exchange declared.
    async fn publisher(&self, topic: Option<&str>) -> Result<Channel, BrokerError> {
        let mut link = self.inner.link.lock().await;
        if link
            .as_ref()
            .is_none_or(|l| !l.connection.status().connected() || !l.publisher.status().connected())
        {
            *link = Some(self.open().await?);
        }
        let Some(live) = link.as_mut() else { return Err(BrokerError::Closed) };
        if let Some(topic) = topic.filter(|t| !live.exchanges.contains(*t)) {
            declare_exchange(&live.publisher, topic).await?;
            live.exchanges.insert(topic.to_owned());
        }
        Ok(live.publisher.clone())
    }

    async fn open(&self) -> Result<Link, BrokerError> {
        let connection = Connection::connect(&self.inner.url, ConnectionProperties::default())
            .await
            .map_err(|err| BrokerError::unreachable("connect", err))?;
        let publisher = connection.create_channel().await.map_err(op("channel.open"))?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await.map_err(op("confirm.select"))?;
        tracing::info!("connected to RabbitMQ");
        Ok(Link { connection, publisher, exchanges: HashSet::new() })
    }

    async fn forget_link(&self) {
        *self.inner.link.lock().await = None;
    }

    /// A fresh channel on the shared connection (consumers and admin work use their own).
    async fn channel(&self) -> Result<Channel, BrokerError> {
        self.publisher(None).await?;
        let link = self.inner.link.lock().await;
        let live = link.as_ref().ok_or(BrokerError::Closed)?;
        live.connection.create_channel().await.map_err(op("channel.open"))
    }
}

async fn declare_exchange(channel: &Channel, topic: &str) -> Result<(), BrokerError> {
    let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel
        .exchange_declare(topic.into(), ExchangeKind::Topic, options, FieldTable::default())
        .await
        .map_err(op("exchange.declare"))
}

async fn declare_topology(channel: &Channel, subscription: &Subscription) -> Result<(), BrokerError> {
    let exchange = subscription.routing.exchange_of(&subscription.topic);
    crate::config::validate_name("exchange", exchange)
        .map_err(|err| BrokerError::operation("validate", err))?;
    declare_exchange(channel, exchange).await?;
    let durable = QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() };
    let mut quorum = FieldTable::default();
    quorum.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
    let dlq = dead_letter_queue(subscription);
    channel.queue_declare(dlq.as_str().into(), durable, quorum.clone()).await.map_err(op("queue.declare"))?;
    let mut arguments = quorum;
    arguments.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(QUEUE_DELIVERY_LIMIT));
    arguments.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
    arguments.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(dlq.as_str().into()));
    let queue = queue_name(subscription);
    channel.queue_declare(queue.as_str().into(), durable, arguments).await.map_err(op("queue.declare"))?;
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            subscription.routing.binding_key().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(op("queue.bind"))?;
    // Bindings add up: a queue first declared with the defaults (the topic's exchange, `#`)
    // would keep taking everything after its AdapterConfig set a routing key. Drop that one.
    // (The topic's exchange is declared first: unbinding from a missing one closes the channel.)
    if subscription.routing != Routing::default() {
        declare_exchange(channel, &subscription.topic).await?;
        let default = Routing::default();
        channel
            .queue_unbind(
                queue.as_str().into(),
                subscription.topic.as_str().into(),
                default.binding_key().into(),
                FieldTable::default(),
            )
            .await
            .map_err(op("queue.unbind"))?;
    }
    Ok(())
}

#[async_trait]
impl Broker for RabbitMqBroker {
    fn kind(&self) -> &'static str {
        "rabbitmq"
    }

    async fn publish_raw_routed(
        &self,
        topic: &str,
        routing: &Routing,
        payload: &[u8],
    ) -> Result<(), BrokerError> {
        crate::check_names(topic, None)?;
        let exchange = routing.exchange_of(topic);
        crate::config::validate_name("exchange", exchange)
            .map_err(|err| BrokerError::operation("validate", err))?;
        let channel = match self.publisher(Some(exchange)).await {
            Ok(channel) => channel,
            Err(err) => {
                // No connection could be had: a failed publish too (the next call reconnects).
                self.inner.metrics.error(ErrorType::Publish);
                return Err(err);
            }
        };
        let result = publish_confirmed(&channel, exchange, routing.publish_key(), payload).await;
        match &result {
            Ok(()) => self.inner.metrics.published(topic),
            Err(err) => {
                self.inner.metrics.error(ErrorType::Publish);
                if matches!(err, BrokerError::Unavailable { .. } | BrokerError::Operation { .. }) {
                    self.forget_link().await;
                }
            }
        }
        result
    }

    async fn declare(&self, subscription: &Subscription) -> Result<(), BrokerError> {
        crate::check_names(&subscription.topic, Some(subscription))?;
        let channel = self.channel().await?;
        let result = declare_topology(&channel, subscription).await;
        let _ = channel.close(200, "declared".into()).await;
        result
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, BrokerError> {
        self.declare(&subscription).await?;
        let broker = self.clone();
        Ok(Consumer::start(subscription, handler, self.inner.metrics.clone(), |pump, cancel| {
            Worker { broker, pump }.run(cancel)
        }))
    }

    async fn remove(&self, subscription: &Subscription) -> Result<(), BrokerError> {
        crate::check_names(&subscription.topic, Some(subscription))?;
        let channel = self.channel().await?;
        // Deleting a queue that does not exist is a success on RabbitMQ; consumers still on it
        // (other replicas stopping) are cancelled by the broker.
        let mut result = Ok(());
        for queue in [queue_name(subscription), dead_letter_queue(subscription)] {
            result = channel
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await
                .map(|_| ())
                .map_err(op("queue.delete"));
            if result.is_err() {
                break;
            }
        }
        let _ = channel.close(200, "removed".into()).await;
        result
    }

    async fn drain_dead_letters(
        &self,
        subscription: &Subscription,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, BrokerError> {
        let channel = self.channel().await?;
        declare_topology(&channel, subscription).await?;
        let dlq = dead_letter_queue(subscription);
        let mut drained = Vec::new();
        while drained.len() < max {
            let got = channel
                .basic_get(dlq.as_str().into(), BasicGetOptions::default())
                .await
                .map_err(op("basic.get"))?;
            let Some(message) = got else { break };
            message.delivery.acker.ack(BasicAckOptions::default()).await.map_err(op("basic.ack"))?;
            drained.push(message.delivery.data);
        }
        let _ = channel.close(200, "drained".into()).await;
        Ok(drained)
    }

    async fn health(&self) -> Result<(), BrokerError> {
        self.publisher(None).await.map(|_| ())
    }

    async fn close(&self) {
        if let Some(link) = self.inner.link.lock().await.take()
            && let Err(err) = link.connection.close(200, "closing".into()).await
        {
            tracing::debug!(error = %err, "closing the RabbitMQ connection");
        }
    }
}

async fn publish_confirmed(
    channel: &Channel,
    exchange: &str,
    key: &str,
    payload: &[u8],
) -> Result<(), BrokerError> {
    let properties =
        BasicProperties::default().with_content_type(event::CONTENT_TYPE.into()).with_delivery_mode(2); // persistent
    let options = BasicPublishOptions { mandatory: true, ..BasicPublishOptions::default() };
    let confirm = channel
        .basic_publish(exchange.into(), key.into(), options, payload, properties)
        .await
        .map_err(|err| BrokerError::unreachable("publish", err))?;
    // A broker under a memory or disk alarm blocks publishers: give up rather than hang the caller.
    let confirmation = tokio::time::timeout(PUBLISH_TIMEOUT, confirm)
        .await
        .map_err(|_| BrokerError::unavailable(format!("no confirm within {PUBLISH_TIMEOUT:?}")))?;
    match confirmation.map_err(|err| BrokerError::unreachable("confirm", err))? {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        // The broker returned it (`mandatory`): no queue is bound for the key yet.
        Confirmation::Ack(Some(_)) => Err(BrokerError::Unroutable { topic: exchange.to_owned() }),
        Confirmation::Nack(_) => Err(BrokerError::NotConfirmed { topic: exchange.to_owned() }),
    }
}

/// The attempt number of a delivery, from the quorum queue's `x-delivery-count`.
fn attempt(properties: &BasicProperties) -> u32 {
    let count =
        properties.headers().as_ref().and_then(|h| h.inner().get("x-delivery-count")).and_then(|v| match v {
            AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
            AMQPValue::LongUInt(n) => Some(*n),
            AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
            _ => None,
        });
    count.unwrap_or(0).saturating_add(1)
}

struct Worker {
    broker: RabbitMqBroker,
    pump: Pump,
}

impl Worker {
    /// Consumes until cancelled, reconnecting with backoff whenever the channel is lost.
    async fn run(self, cancel: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        while !cancel.is_cancelled() {
            match self.consume(&cancel).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(subscription = %self.pump.subscription.name, error = %err, ?backoff,
                        "consumer lost its channel; reconnecting");
                    self.broker.inner.metrics.error(ErrorType::Consume);
                    self.broker.forget_link().await;
                    tokio::select! {
                        () = cancel.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One session on one channel; `Ok` only when cancelled.
    async fn consume(&self, cancel: &CancellationToken) -> Result<(), BrokerError> {
        let subscription = &self.pump.subscription;
        let channel = self.broker.channel().await?;
        declare_topology(&channel, subscription).await?;
        let concurrency = subscription.concurrency;
        let prefetch = self.broker.inner.prefetch.unwrap_or(u16::try_from(concurrency).unwrap_or(u16::MAX));
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(op("basic.qos"))?;
        let mut deliveries = channel
            .basic_consume(
                queue_name(subscription).as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(op("basic.consume"))?;
        tracing::info!(subscription = %subscription.name, "consuming");
        // In-flight handlers finish (and ack) before the channel goes; unacked prefetched
        // messages return to the queue when it closes.
        let result = self.pump.run(&mut deliveries, cancel).await;
        let _ = channel.close(200, "consumer closed".into()).await;
        result
    }
}

impl Source for lapin::Consumer {
    type Message = lapin::message::Delivery;

    async fn next(&mut self) -> Option<Result<Self::Message, BrokerError>> {
        let next = StreamExt::next(self).await?;
        Some(next.map_err(|err| BrokerError::unreachable("consume", err)))
    }
}

impl Inbound for lapin::message::Delivery {
    fn payload(&self) -> &[u8] {
        &self.data
    }

    fn attempt(&self) -> u32 {
        attempt(&self.properties)
    }

    async fn settle(self, outcome: Outcome, subscription: &Subscription, metrics: &BrokerMetrics) {
        let settled = match outcome {
            Outcome::Ack => self.acker.ack(BasicAckOptions::default()).await,
            Outcome::Retry => {
                self.acker.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await
            }
            Outcome::Reject => {
                metrics.dead_lettered(&subscription.name);
                self.acker.reject(BasicRejectOptions { requeue: false }).await
            }
        };
        if let Err(err) = settled {
            // The channel is gone; the broker redelivers the message to the next consumer.
            tracing::warn!(subscription = %subscription.name, error = %err, "could not settle a delivery");
        }
    }
}
