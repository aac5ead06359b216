//! In-process broker with the same semantics as the real ones (fan-out per subscription,
//! competing consumers, bounded redelivery, dead-lettering), for local runs and tests. Messages
//! travel as encoded bytes so the wire format and poison handling are exercised too. Nothing
//! survives the process. Routing is RabbitMQ's: a subscription's queue is bound to an exchange
//! (default: the topic) with a binding key (default `#`), and a publish reaches the queues whose
//! binding key matches its routing key. Also known as `stub` (the original design's name).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::{
    Broker, BrokerError, Consumer, Handler, Outcome, Routing, Subscription,
    consumer::{Inbound, Source},
    metrics::BrokerMetrics,
};

/// The in-process broker. Clones share the same topics and subscriptions.
#[derive(Debug, Clone, Default)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    metrics: BrokerMetrics,
}

#[derive(Debug, Default)]
struct State {
    /// Exchange -> the queues bound to it, with their binding keys.
    bindings: HashMap<String, Vec<(String, Arc<Queue>)>>,
    /// (topic, subscription name) -> its queue.
    queues: HashMap<(String, String), Arc<Queue>>,
}

#[derive(Debug, Default)]
struct Queue {
    pending: Mutex<VecDeque<Message>>,
    ready: Notify,
    dead: Mutex<Vec<Vec<u8>>>,
}

#[derive(Debug, Clone)]
struct Message {
    payload: Arc<[u8]>,
    attempt: u32,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the data half-updated (single operations).
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Queue {
    fn push(&self, message: Message) {
        locked(&self.pending).push_back(message);
        self.ready.notify_one();
    }

    fn pop(&self) -> Option<Message> {
        locked(&self.pending).pop_front()
    }
}

impl MemoryBroker {
    /// A broker recording into `metrics`.
    pub fn new(metrics: BrokerMetrics) -> Self {
        Self { inner: Arc::new(Inner { state: Mutex::default(), metrics }) }
    }

    fn queue(&self, subscription: &Subscription) -> Arc<Queue> {
        let mut state = locked(&self.inner.state);
        let key = (subscription.topic.clone(), subscription.name.clone());
        let queue = state.queues.entry(key).or_default().clone();
        // As on RabbitMQ: the queue is bound as this declaration says (and no longer with the
        // defaults, when it names a routing).
        let routing = &subscription.routing;
        if *routing != Routing::default()
            && let Some(bound) = state.bindings.get_mut(&subscription.topic)
        {
            bound.retain(|(binding, q)| !(Arc::ptr_eq(q, &queue) && binding == "#"));
        }
        let exchange = routing.exchange_of(&subscription.topic).to_owned();
        let binding = routing.binding_key().to_owned();
        let bound = state.bindings.entry(exchange).or_default();
        if !bound.iter().any(|(b, q)| Arc::ptr_eq(q, &queue) && *b == binding) {
            bound.push((binding, queue.clone()));
        }
        queue
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn publish_raw_routed(
        &self,
        topic: &str,
        routing: &Routing,
        payload: &[u8],
    ) -> Result<(), BrokerError> {
        crate::check_names(topic, None)?;
        let key = routing.publish_key();
        let queues: Vec<Arc<Queue>> = locked(&self.inner.state)
            .bindings
            .get(routing.exchange_of(topic))
            .into_iter()
            .flatten()
            .filter(|(binding, _)| crate::topic_matches(binding, key))
            .map(|(_, queue)| queue.clone())
            .collect();
        if queues.is_empty() {
            return Err(BrokerError::Unroutable { topic: topic.to_owned() });
        }
        let payload: Arc<[u8]> = payload.into();
        for queue in queues {
            queue.push(Message { payload: payload.clone(), attempt: 1 });
        }
        self.inner.metrics.published(topic);
        Ok(())
    }

    async fn declare(&self, subscription: &Subscription) -> Result<(), BrokerError> {
        crate::check_names(&subscription.topic, Some(subscription))?;
        self.queue(subscription);
        Ok(())
    }

    async fn subscribe(
        &self,
        subscription: Subscription,
        handler: Arc<dyn Handler>,
    ) -> Result<Consumer, BrokerError> {
        let mut queue = self.queue(&subscription);
        let metrics = self.inner.metrics.clone();
        Ok(Consumer::start(subscription, handler, metrics, |pump, cancel| async move {
            // The in-process queue cannot fail: the pump ends only when the consumer is closed.
            let _ = pump.run(&mut queue, &cancel).await;
        }))
    }

    async fn remove(&self, subscription: &Subscription) -> Result<(), BrokerError> {
        let mut state = locked(&self.inner.state);
        let key = (subscription.topic.clone(), subscription.name.clone());
        if let Some(queue) = state.queues.remove(&key) {
            for bound in state.bindings.values_mut() {
                bound.retain(|(_, q)| !Arc::ptr_eq(q, &queue));
            }
        }
        Ok(())
    }

    async fn drain_dead_letters(
        &self,
        subscription: &Subscription,
        max: usize,
    ) -> Result<Vec<Vec<u8>>, BrokerError> {
        let queue = self.queue(subscription);
        let mut dead = locked(&queue.dead);
        let take = dead.len().min(max);
        Ok(dead.drain(..take).collect())
    }

    async fn health(&self) -> Result<(), BrokerError> {
        Ok(())
    }

    async fn close(&self) {}
}

/// A message taken from a queue, and the queue to return or dead-letter it to.
struct Taken {
    message: Message,
    queue: Arc<Queue>,
}

impl Source for Arc<Queue> {
    type Message = Taken;

    async fn next(&mut self) -> Option<Result<Taken, BrokerError>> {
        loop {
            let ready = self.ready.notified();
            if let Some(message) = self.pop() {
                return Some(Ok(Taken { message, queue: self.clone() }));
            }
            ready.await;
        }
    }
}

impl Inbound for Taken {
    fn payload(&self) -> &[u8] {
        &self.message.payload
    }

    fn attempt(&self) -> u32 {
        self.message.attempt
    }

    async fn settle(self, outcome: Outcome, subscription: &Subscription, metrics: &BrokerMetrics) {
        let Taken { message, queue } = self;
        match outcome {
            Outcome::Ack => {}
            Outcome::Retry => queue.push(Message { attempt: message.attempt + 1, ..message }),
            Outcome::Reject => {
                locked(&queue.dead).push(message.payload.to_vec());
                metrics.dead_lettered(&subscription.name);
            }
        }
    }
}
