//! What every backend's consumer shares: the handle that stops it (waiting for in-flight
//! handlers), and the dispatch of one message to the handler (decode, call, measure, contain
//! panics).

use std::{panic::AssertUnwindSafe, time::Instant};

use futures::FutureExt as _;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Delivery, Handler, Outcome, Subscription, event, metrics::BrokerMetrics};

/// A running consumer of one subscription. Dropping it does not stop it; call [`Consumer::close`].
#[derive(Debug)]
pub struct Consumer {
    subscription: String,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl Consumer {
    pub(crate) fn new(subscription: &Subscription, cancel: CancellationToken, task: JoinHandle<()>) -> Self {
        Self { subscription: subscription.name.clone(), cancel, task }
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
pub(crate) async fn dispatch(
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
            metrics.error("decode");
            return Outcome::Reject;
        }
    };
    let started = Instant::now();
    let outcome = match AssertUnwindSafe(handler.handle(Delivery { event, attempt })).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(subscription = %subscription.name, attempt, "handler panicked; will retry");
            metrics.error("handler_panic");
            Outcome::Retry
        }
    };
    metrics.consumed(&subscription.name, outcome, started.elapsed());
    outcome
}

/// Final fate of a delivery given the handler's outcome and the delivery limit.
pub(crate) fn settle(outcome: Outcome, attempt: u32, subscription: &Subscription) -> Outcome {
    match outcome {
        Outcome::Retry if attempt >= subscription.max_deliveries => Outcome::Reject,
        other => other,
    }
}
