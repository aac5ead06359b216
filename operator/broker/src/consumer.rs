//! What every backend's consumer shares: the handle that stops it (waiting for in-flight
//! handlers), the [`pump`] that runs the handler on what a backend fetches (bounded concurrency,
//! retry delay, cancellation, drain), and the dispatch of one message (decode, call, measure,
//! contain panics). A backend only fetches messages ([`Source`]) and settles them ([`Inbound`]).

use std::{panic::AssertUnwindSafe, sync::Arc, time::Instant};

use futures::FutureExt as _;
use tokio::{
    sync::Semaphore,
    task::{JoinHandle, JoinSet},
};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{
    BrokerError, Delivery, Handler, Outcome, Subscription, event, metrics::BrokerMetrics, metrics::ErrorType,
    retry_delay,
};

/// A message a backend fetched, and how to tell the broker what became of it.
pub(crate) trait Inbound: Send + 'static {
    /// The raw payload.
    fn payload(&self) -> &[u8];
    /// 1 on first delivery, then 2, 3, ...
    fn attempt(&self) -> u32;
    /// Settles the message with its final outcome (the pump has waited the retry delay already).
    fn settle(
        self,
        outcome: Outcome,
        subscription: &Subscription,
        metrics: &BrokerMetrics,
    ) -> impl Future<Output = ()> + Send;
}

/// Where a consumer's messages come from. `next` must be cancel-safe: the pump drops it when
/// the consumer is closed.
pub(crate) trait Source: Send {
    /// What it yields.
    type Message: Inbound;
    /// The next message; an error (or `None`: the broker ended the stream) ends this session.
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Message, BrokerError>>> + Send;
}

/// What the pump hands every message to.
#[derive(Clone)]
pub(crate) struct Pump {
    pub subscription: Arc<Subscription>,
    pub handler: Arc<dyn Handler>,
    pub metrics: BrokerMetrics,
}

impl Pump {
    /// Runs the handler on what `source` yields, at most `subscription.concurrency` at once,
    /// until `cancel` (`Ok`) or the source fails (`Err`); either way waits for the handlers in
    /// flight, which settle their messages before this returns.
    pub(crate) async fn run<S: Source>(
        &self,
        source: &mut S,
        cancel: &CancellationToken,
    ) -> Result<(), BrokerError> {
        let slots = Arc::new(Semaphore::new(self.subscription.concurrency));
        let mut in_flight = JoinSet::new();
        let result = loop {
            let slot = tokio::select! {
                () = cancel.cancelled() => break Ok(()),
                slot = slots.clone().acquire_owned() => slot,
            };
            let Ok(slot) = slot else { break Ok(()) };
            let message = tokio::select! {
                () = cancel.cancelled() => break Ok(()),
                next = source.next() => next,
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(err)) => break Err(err),
                None => break Err(BrokerError::unavailable("the broker ended the consumer")),
            };
            let (pump, cancel) = (self.clone(), cancel.clone());
            in_flight.spawn(async move {
                pump.one(message, &cancel).await;
                drop(slot);
            });
            while in_flight.try_join_next().is_some() {}
        };
        while in_flight.join_next().await.is_some() {}
        result
    }

    async fn one<M: Inbound>(&self, message: M, cancel: &CancellationToken) {
        let attempt = message.attempt();
        let handled =
            dispatch(self.handler.as_ref(), &self.metrics, &self.subscription, message.payload(), attempt)
                .await;
        let outcome = settle(handled, attempt, &self.subscription);
        if outcome == Outcome::Retry {
            // Back off unless shutting down; either way the message goes back.
            tokio::select! {
                () = tokio::time::sleep(retry_delay(attempt)) => {}
                () = cancel.cancelled() => {}
            }
        }
        message.settle(outcome, &self.subscription, &self.metrics).await;
    }
}

/// A running consumer of one subscription. Dropping it does not stop it; call [`Consumer::close`].
#[derive(Debug)]
pub struct Consumer {
    subscription: String,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Consumer {
    /// Resolves if the consumer's task ends by itself (it runs until [`Consumer::close`]),
    /// saying why. Cancel-safe: waiting and giving up leaves the consumer as it was.
    pub async fn ended(&mut self) -> String {
        match (&mut self.task).await {
            Ok(()) => format!("the consumer of {} stopped", self.subscription),
            Err(err) => format!("the consumer of {} failed: {err}", self.subscription),
        }
    }

    /// Starts consuming `subscription`: `session` is the backend's loop around [`Pump::run`],
    /// spawned as this consumer's task and told to stop through the token.
    pub(crate) fn start<F, Fut>(
        subscription: Subscription,
        handler: Arc<dyn Handler>,
        metrics: BrokerMetrics,
        session: F,
    ) -> Self
    where
        F: FnOnce(Pump, CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let cancel = CancellationToken::new();
        let name = subscription.name.clone();
        let pump = Pump { subscription: Arc::new(subscription), handler, metrics };
        let task = tokio::spawn(session(pump, cancel.clone()));
        Self { subscription: name, cancel, task }
    }

    /// Whether the consumer is still running.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Stops taking messages and waits until every in-flight handler has finished.
    pub async fn close(self) {
        self.cancel.cancel();
        if let Err(err) = self.task.await {
            tracing::error!(subscription = %self.subscription, error = %err, "consumer task failed");
        }
    }
}

/// Decodes `payload` and runs the handler on it. Malformed payloads are rejected (dead-lettered)
/// and a panicking handler counts as a transient failure, so neither stops the consumer.
async fn dispatch(
    handler: &dyn Handler,
    metrics: &BrokerMetrics,
    subscription: &Subscription,
    payload: &[u8],
    attempt: u32,
) -> Outcome {
    let event = match event::decode(payload) {
        Ok(event) => event,
        Err(err) => {
            tracing::warn!(subscription = %subscription.name, error = %err, "malformed message; dead-lettering it");
            metrics.error(ErrorType::Decode);
            metrics.rejected_unread(&subscription.name);
            return Outcome::Reject;
        }
    };
    let span = consume_span(&event, subscription, attempt);
    let started = Instant::now();
    let handled =
        AssertUnwindSafe(handler.handle(Delivery { event, attempt })).catch_unwind().instrument(span);
    let outcome = match handled.await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(subscription = %subscription.name, attempt, "handler panicked; will retry");
            metrics.error(ErrorType::HandlerPanic);
            Outcome::Retry
        }
    };
    metrics.consumed(&subscription.name, outcome, started.elapsed());
    outcome
}

/// The span a delivery is handled in: a child of the publisher's span when the event carries
/// W3C trace context (the CloudEvents distributed-tracing extension), so one trace crosses the
/// broker whichever broker it is.
fn consume_span(event: &cloudevents::Event, subscription: &Subscription, attempt: u32) -> tracing::Span {
    let span = tracing::info_span!(
        "broker.consume",
        subscription = %subscription.name,
        event_id = %cloudevents::AttributesReader::id(event),
        attempt,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    let context: std::collections::HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), event.extension(name)?.to_string())))
        .collect();
    hyperfleet_telemetry::traces::continue_from(&span, &context);
    span
}

/// Final fate of a delivery given the handler's outcome and the delivery limit.
fn settle(outcome: Outcome, attempt: u32, subscription: &Subscription) -> Outcome {
    match outcome {
        Outcome::Retry if attempt >= subscription.max_deliveries => Outcome::Reject,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(session_ends: bool) -> Consumer {
        let handler: Arc<dyn Handler> = Arc::new(|_: Delivery| async { Outcome::Ack });
        Consumer::start(
            Subscription::new("t", "dns"),
            handler,
            BrokerMetrics::default(),
            move |_pump, cancel| async move {
                if !session_ends {
                    cancel.cancelled().await;
                }
            },
        )
    }

    #[tokio::test]
    async fn a_consumer_whose_session_ends_says_so_and_a_live_one_does_not() {
        let mut dead = consumer(true);
        assert_eq!(dead.ended().await, "the consumer of dns stopped");
        let mut live = consumer(false);
        let waited = tokio::time::timeout(std::time::Duration::from_millis(50), live.ended()).await;
        assert!(waited.is_err(), "a running consumer has not ended");
        // Waiting was cancel-safe: the consumer still closes normally.
        live.close().await;
    }
}
