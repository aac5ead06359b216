//! GCP Pub/Sub backend (the official `google-cloud-pubsub` crate, streaming pull).
//!
//! Topology: topic `<topic>`; one subscription per adapter, named as given; a dead-letter topic
//! `<subscription>-dlq` with a pull subscription of the same name, from which
//! [`Broker::drain_dead_letters`] reads. Subscriptions carry a server-side dead-letter policy for
//! production; the consumer also counts attempts itself and dead-letters at the subscription's
//! limit, because the emulator does not track delivery attempts. With `PUBSUB_EMULATOR_HOST`
//! (or an explicit emulator host) it talks plaintext to the emulator with anonymous
//! credentials; otherwise it uses Application Default Credentials.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use async_trait::async_trait;
use google_cloud_gax::error::rpc::Code;
use google_cloud_pubsub::{
    client::{Publisher, Subscriber, SubscriptionAdmin, TopicAdmin},
    model::{DeadLetterPolicy, Message},
    subscriber::{MessageStream, ShutdownBehavior, handler::Handler as Acker},
};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{
    Broker, BrokerError, Consumer, Handler, Outcome, Routing, Subscription,
    consumer::{Inbound, Pump, Source},
    event,
    metrics::{BrokerMetrics, ErrorType},
};

/// Seconds a delivery may stay unacknowledged before Pub/Sub redelivers it (the client extends
/// leases while a handler runs).
const ACK_DEADLINE_SECONDS: i32 = 60;

/// A Pub/Sub broker for one project.
#[derive(Debug, Clone)]
pub struct PubSubBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    project: String,
    emulator: Option<String>,
    metrics: BrokerMetrics,
    topics: TopicAdmin,
    subscriptions: SubscriptionAdmin,
    subscriber: Subscriber,
    publishers: Mutex<HashMap<String, Publisher>>,
    known_topics: Mutex<HashSet<String>>,
}

fn op(operation: &'static str) -> impl FnOnce(google_cloud_pubsub::Error) -> BrokerError {
    move |err| BrokerError::operation(operation, err)
}

fn already_exists(err: &google_cloud_pubsub::Error) -> bool {
    err.status().is_some_and(|status| status.code == Code::AlreadyExists)
}

fn not_found(err: &google_cloud_pubsub::Error) -> bool {
    err.status().is_some_and(|status| status.code == Code::NotFound)
}

macro_rules! client {
    ($builder:expr, $emulator:expr) => {{
        let builder = $builder;
        match $emulator {
            Some(host) => builder
                .with_endpoint(format!("http://{host}"))
                .with_credentials(google_cloud_auth::credentials::anonymous::Builder::new().build()),
            None => builder,
        }
    }};
}

impl PubSubBroker {
    /// Connects to `project`, through the emulator at `emulator` (`host:port`) when given.
    pub async fn connect(
        project: &str,
        emulator: Option<String>,
        metrics: BrokerMetrics,
    ) -> Result<Self, BrokerError> {
        let unavailable =
            |err: google_cloud_gax::client_builder::Error| BrokerError::unreachable("connect", err);
        let topics = client!(TopicAdmin::builder(), &emulator).build().await.map_err(unavailable)?;
        let subscriptions =
            client!(SubscriptionAdmin::builder(), &emulator).build().await.map_err(unavailable)?;
        let subscriber = client!(Subscriber::builder(), &emulator).build().await.map_err(unavailable)?;
        let inner = Inner {
            project: project.to_owned(),
            emulator,
            metrics,
            topics,
            subscriptions,
            subscriber,
            publishers: Mutex::default(),
            known_topics: Mutex::default(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    fn topic_path(&self, topic: &str) -> String {
        format!("projects/{}/topics/{topic}", self.inner.project)
    }

    fn subscription_path(&self, name: &str) -> String {
        format!("projects/{}/subscriptions/{name}", self.inner.project)
    }

    async fn ensure_topic(&self, topic: &str) -> Result<(), BrokerError> {
        if self.inner.known_topics.lock().await.contains(topic) {
            return Ok(());
        }
        match self.inner.topics.create_topic().set_name(self.topic_path(topic)).send().await {
            Ok(_) => {}
            Err(err) if already_exists(&err) => {}
            Err(err) => return Err(op("create topic")(err)),
        }
        self.inner.known_topics.lock().await.insert(topic.to_owned());
        Ok(())
    }

    async fn ensure_subscription(
        &self,
        name: &str,
        topic: &str,
        dead_letter: Option<(&str, u32)>,
    ) -> Result<(), BrokerError> {
        let mut request = self
            .inner
            .subscriptions
            .create_subscription()
            .set_name(self.subscription_path(name))
            .set_topic(self.topic_path(topic))
            .set_ack_deadline_seconds(ACK_DEADLINE_SECONDS);
        if let Some((dlq, max_deliveries)) = dead_letter {
            // Pub/Sub accepts 5..=100 attempts; the consumer enforces the exact limit itself.
            let attempts = i32::try_from(max_deliveries.clamp(5, 100)).unwrap_or(5);
            request = request.set_dead_letter_policy(
                DeadLetterPolicy::new()
                    .set_dead_letter_topic(self.topic_path(dlq))
                    .set_max_delivery_attempts(attempts),
            );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err) if already_exists(&err) => self.check_subscription_topic(name, topic).await,
            Err(err) => Err(op("create subscription")(err)),
        }
    }

    /// Subscription names are global to a project: refuse to consume another topic's events.
    async fn check_subscription_topic(&self, name: &str, topic: &str) -> Result<(), BrokerError> {
        let existing = self
            .inner
            .subscriptions
            .get_subscription()
            .set_subscription(self.subscription_path(name))
            .send()
            .await
            .map_err(op("get subscription"))?;
        if existing.topic == self.topic_path(topic) {
            return Ok(());
        }
        Err(BrokerError::operation(
            "create subscription",
            format!("subscription '{name}' already exists on {}, not on topic '{topic}'", existing.topic),
        ))
    }

    async fn publisher(&self, topic: &str) -> Result<Publisher, BrokerError> {
        self.ensure_topic(topic).await?;
        let mut publishers = self.inner.publishers.lock().await;
        if let Some(publisher) = publishers.get(topic) {
            return Ok(publisher.clone());
        }
        // One message per request: the Sentinel awaits each confirmation anyway.
        let builder = Publisher::builder(self.topic_path(topic)).set_delay_threshold(Duration::ZERO);
        let publisher = client!(builder, &self.inner.emulator)
            .build()
            .await
            .map_err(|err| BrokerError::unreachable("create publisher", err))?;
        publishers.insert(topic.to_owned(), publisher.clone());
        Ok(publisher)
    }
}

fn dead_letter_name(subscription: &Subscription) -> String {
    format!("{}-dlq", subscription.name)
}

#[async_trait]
impl Broker for PubSubBroker {
    fn kind(&self) -> &'static str {
        "gcp-pubsub"
    }

    /// Pub/Sub addresses by topic alone: RabbitMQ's exchange and routing key do not apply.
    async fn publish_raw_routed(
        &self,
        topic: &str,
        _routing: &Routing,
        payload: &[u8],
    ) -> Result<(), BrokerError> {
        crate::check_names(topic, None)?;
        let publisher = match self.publisher(topic).await {
            Ok(publisher) => publisher,
            Err(err) => {
                // A publish that cannot even start (no connection) is a failed publish too.
                self.inner.metrics.error(ErrorType::Publish);
                return Err(err);
            }
        };
        let message =
            Message::new().set_data(payload.to_vec()).set_attributes([("content-type", event::CONTENT_TYPE)]);
        match publisher.publish(message).await {
            Ok(_) => {
                self.inner.metrics.published(topic);
                Ok(())
            }
            Err(err) => {
                self.inner.metrics.error(ErrorType::Publish);
                Err(BrokerError::unreachable("publish", err))
            }
        }
    }

    async fn declare(&self, subscription: &Subscription) -> Result<(), BrokerError> {
        crate::check_names(&subscription.topic, Some(subscription))?;
        let dlq = dead_letter_name(subscription);
        self.ensure_topic(&subscription.topic).await?;
        self.ensure_topic(&dlq).await?;
        self.ensure_subscription(&dlq, &dlq, None).await?;
        self.ensure_subscription(
            &subscription.name,
            &subscription.topic,
            Some((&dlq, subscription.max_deliveries)),
        )
        .await
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, BrokerError> {
        self.declare(&subscription).await?;
        let dead_letters = self.publisher(&dead_letter_name(&subscription)).await?;
        let broker = self.clone();
        Ok(Consumer::start(subscription, handler, self.inner.metrics.clone(), |pump, cancel| {
            Worker { broker, pump, dead_letters }.run(cancel)
        }))
    }

    async fn remove(&self, subscription: &Subscription) -> Result<(), BrokerError> {
        crate::check_names(&subscription.topic, Some(subscription))?;
        let dlq = dead_letter_name(subscription);
        for name in [subscription.name.as_str(), dlq.as_str()] {
            let deleted = self
                .inner
                .subscriptions
                .delete_subscription()
                .set_subscription(self.subscription_path(name))
                .send()
                .await;
            match deleted {
                Ok(()) => {}
                Err(err) if not_found(&err) => {}
                Err(err) => return Err(op("delete subscription")(err)),
            }
        }
        // The dead-letter topic is the subscription's own; the events' topic is shared.
        self.inner.known_topics.lock().await.remove(&dlq);
        self.inner.publishers.lock().await.remove(&dlq);
        match self.inner.topics.delete_topic().set_topic(self.topic_path(&dlq)).send().await {
            Ok(()) => Ok(()),
            Err(err) if not_found(&err) => Ok(()),
            Err(err) => Err(op("delete topic")(err)),
        }
    }

    async fn drain_dead_letters(
        &self,
        subscription: &Subscription,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, BrokerError> {
        self.declare(subscription).await?;
        let path = self.subscription_path(&dead_letter_name(subscription));
        let mut stream = self
            .inner
            .subscriber
            .subscribe(path)
            .set_shutdown_behavior(ShutdownBehavior::NackImmediately)
            .build();
        let mut drained = Vec::new();
        while drained.len() < max {
            match tokio::time::timeout(Duration::from_secs(2), stream.next()).await {
                Ok(Some(Ok((message, handle)))) => {
                    handle.ack();
                    drained.push(message.data.to_vec());
                }
                Ok(Some(Err(err))) => return Err(op("pull dead letters")(err)),
                Ok(None) | Err(_) => break,
            }
        }
        stream.shutdown_token().shutdown().await;
        Ok(drained)
    }

    async fn health(&self) -> Result<(), BrokerError> {
        match self.inner.topics.get_topic().set_topic(self.topic_path("hyperfleet-health-probe")).send().await
        {
            Ok(_) => Ok(()),
            Err(err) if not_found(&err) => Ok(()),
            Err(err) => Err(BrokerError::unreachable("health check", err)),
        }
    }

    async fn close(&self) {
        let publishers: Vec<Publisher> = self.inner.publishers.lock().await.drain().map(|(_, p)| p).collect();
        for publisher in publishers {
            publisher.flush().await;
        }
    }
}

struct Worker {
    broker: PubSubBroker,
    pump: Pump,
    dead_letters: Publisher,
}

/// Deliveries of this process per message id: the emulator does not count attempts.
type Attempts = Arc<std::sync::Mutex<HashMap<String, u32>>>;

impl Worker {
    async fn run(self, cancel: CancellationToken) {
        let subscription = &self.pump.subscription;
        let path = self.broker.subscription_path(&subscription.name);
        let concurrency = i64::try_from(subscription.concurrency).unwrap_or(i64::MAX);
        let attempts = Attempts::default();
        let mut backoff = Duration::from_millis(200);
        while !cancel.is_cancelled() {
            let stream = self
                .broker
                .inner
                .subscriber
                .subscribe(path.clone())
                .set_max_outstanding_messages(concurrency)
                .set_shutdown_behavior(ShutdownBehavior::WaitForProcessing)
                .build();
            let mut pull =
                Pull { stream, attempts: attempts.clone(), dead_letters: self.dead_letters.clone() };
            let result = self.pump.run(&mut pull, &cancel).await;
            pull.stream.shutdown_token().shutdown().await;
            let Err(error) = result else { break };
            tracing::warn!(subscription = %subscription.name, error = %error, ?backoff, "streaming pull failed; reopening");
            self.broker.inner.metrics.error(ErrorType::Consume);
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }
}

/// One streaming pull session.
struct Pull {
    stream: MessageStream,
    attempts: Attempts,
    dead_letters: Publisher,
}

impl Source for Pull {
    type Message = Pulled;

    async fn next(&mut self) -> Option<Result<Pulled, BrokerError>> {
        let (message, acker) = match self.stream.next().await? {
            Ok(delivery) => delivery,
            Err(err) => return Some(Err(BrokerError::unreachable("streaming pull", err))),
        };
        let attempt = {
            let mut seen = self.attempts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let local = seen.entry(message.message_id.clone()).or_insert(0);
            *local += 1;
            let server = acker.delivery_attempt().and_then(|a| u32::try_from(a).ok()).unwrap_or(0);
            (*local).max(server)
        };
        let (attempts, dead_letters) = (self.attempts.clone(), self.dead_letters.clone());
        Some(Ok(Pulled { message, acker, attempt, attempts, dead_letters }))
    }
}

/// A pulled message and what settling it needs.
struct Pulled {
    message: Message,
    acker: Acker,
    attempt: u32,
    attempts: Attempts,
    dead_letters: Publisher,
}

impl Inbound for Pulled {
    fn payload(&self) -> &[u8] {
        &self.message.data
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    async fn settle(self, outcome: Outcome, subscription: &Subscription, metrics: &BrokerMetrics) {
        let Pulled { message, acker, attempts, dead_letters, .. } = self;
        if outcome != Outcome::Retry {
            attempts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&message.message_id);
        }
        match outcome {
            Outcome::Ack => acker.ack(),
            Outcome::Retry => acker.nack(),
            Outcome::Reject => {
                let copy =
                    Message::new().set_data(message.data.clone()).set_attributes(message.attributes.clone());
                match dead_letters.publish(copy).await {
                    Ok(_) => {
                        metrics.dead_lettered(&subscription.name);
                        acker.ack();
                    }
                    Err(err) => {
                        // Not safely parked: leave it to Pub/Sub to deliver again.
                        tracing::warn!(subscription = %subscription.name, error = %err, "dead-lettering failed");
                        acker.nack();
                    }
                }
            }
        }
    }
}
