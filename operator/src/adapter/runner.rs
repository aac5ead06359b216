//! An adapter as a supervised task: subscribes to its topic (retrying until the broker answers),
//! hands each delivery to the [`Adapter`] pipeline with the configured concurrency but never two
//! events for the same resource at once (and copies coalesced: see [`super::coalesce`]), maps results to broker outcomes (transient -> retry,
//! then dead-letter; poison -> dead-letter now; everything else -> ack), and reports progress.

use std::{
    collections::{BTreeSet, HashSet},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use chrono::{DateTime, Utc};
use cloudevents::AttributesReader as _;
use serde::Deserialize as _;
use serde_json::Value;
use tokio::sync::mpsc;

use hyperfleet_api_model::{ConditionStatus, ReconcileEventData};
use hyperfleet_broker::{Broker, Delivery, Outcome, Subscription};

use super::{
    coalesce::{Arrival, Coalesced, Passes},
    failures::RecentFailures,
    job::{JobState, job_state},
    metrics::{AdapterLabels, AdapterMetrics},
    pipeline::{Adapter, HandleError, Handled},
    progress::Watch,
    report::{Observed, Verdict},
};
use crate::tasks::{TaskContext, TaskHealth};

/// Longest wait between two subscribe attempts.
const MAX_SUBSCRIBE_BACKOFF: Duration = Duration::from_secs(30);

/// What a running adapter has done, for its AdapterConfig's status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdapterProgress {
    /// Events handled since the task started (whatever the outcome).
    pub processed: u64,
    /// When the last event was handled.
    pub last_event: Option<DateTime<Utc>>,
    /// Events that failed (redelivered, dead-lettered, or reported as a failure).
    pub failed: u64,
    /// The last failure's error.
    pub last_error: Option<String>,
}

struct Shared {
    adapter: Adapter,
    metrics: AdapterMetrics,
    passes: Arc<Passes>,
    finished_jobs: Mutex<HashSet<String>>,
    recent: Mutex<RecentFailures>,
    /// The watches asked for so far, and where new ones are asked for.
    watches: Mutex<BTreeSet<Watch>>,
    requested: mpsc::UnboundedSender<Watch>,
}

/// An adapter and the broker it consumes from.
#[derive(Debug)]
pub struct AdapterRunner {
    adapter: Adapter,
    broker: Arc<dyn Broker>,
    metrics: AdapterMetrics,
}

impl AdapterRunner {
    /// A runner for `adapter` over `broker`.
    pub fn new(adapter: Adapter, broker: Arc<dyn Broker>, metrics: AdapterMetrics) -> Self {
        Self { adapter, broker, metrics }
    }

    /// Consumes until cancelled.
    pub async fn run(self, context: TaskContext<AdapterProgress>) {
        let plan = self.adapter.plan.clone();
        let subscription = Subscription::new(&plan.topic, &plan.subscription)
            .with_routing(plan.routing.clone())
            .with_concurrency(plan.concurrency)
            .with_max_deliveries(plan.max_deliveries);
        let (requested, watch_requests) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            adapter: self.adapter,
            metrics: self.metrics,
            passes: Arc::default(),
            finished_jobs: Mutex::default(),
            recent: Mutex::default(),
            watches: Mutex::default(),
            requested,
        });
        let handler = {
            let (shared, context) = (shared.clone(), context.clone());
            move |delivery: Delivery| {
                let (shared, context) = (shared.clone(), context.clone());
                async move { handle(&shared, &context, delivery).await }
            }
        };
        let handler = Arc::new(handler);
        let mut failures = 0u32;
        let mut consumer = loop {
            match self.broker.subscribe(subscription.clone(), handler.clone()).await {
                Ok(consumer) => break consumer,
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let message =
                        format!("cannot subscribe to {}/{}: {err}", subscription.topic, subscription.name);
                    tracing::warn!(adapter = %plan.adapter, error = %message, "retrying");
                    context.report(TaskHealth::Degraded(message));
                    let wait = (Duration::from_secs(1) * 2u32.saturating_pow(failures.min(5)))
                        .min(MAX_SUBSCRIBE_BACKOFF);
                    tokio::select! {
                        () = context.cancel.cancelled() => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        };
        tracing::info!(adapter = %plan.adapter, topic = %subscription.topic, subscription = %subscription.name, "adapter consuming");
        context.report(TaskHealth::Running);
        tokio::select! {
            // Never ends: it follows the adapter's work for as long as the adapter consumes.
            () = follow_work(&shared, &context, watch_requests) => {}
            // Waits for the events in flight.
            () = context.cancel.cancelled() => consumer.close().await,
            // Nothing consumes any more: say so (the CR goes Ready=False) and end, so that the
            // next reconcile starts the adapter again.
            why = consumer.ended() => {
                tracing::error!(adapter = %plan.adapter, reason = %why, "the adapter stopped consuming");
                context.report(TaskHealth::Failed(why));
            }
        }
    }
}

async fn handle(shared: &Shared, context: &TaskContext<AdapterProgress>, delivery: Delivery) -> Outcome {
    let plan = &shared.adapter.plan;
    let adapter = AdapterLabels { adapter: plan.adapter.clone(), resource_type: plan.resource_type.as_str() };
    let event = match event_data(&delivery) {
        Ok(event) => event,
        Err(err) => return finish(shared, context, &adapter, Err(err), Trigger::Event(None)),
    };
    let published = delivery.event.time().copied();
    let arrival = Arrival::of(&event, published);
    let outcome = handle_event(shared, context, &adapter, &event, Trigger::Event(Some(arrival))).await;
    if outcome == Outcome::Retry {
        tracing::warn!(adapter = %adapter.adapter, id = %delivery.event.id(), attempt = delivery.attempt, "transient failure; the event will be redelivered");
    }
    outcome
}

/// What started a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trigger {
    /// A delivery: counted as an event (progress, `events_consumed`) and settled on the broker.
    Event(Option<Arrival>),
    /// The adapter's own Job finished or object changed: not an event, so not counted as one;
    /// its failures count.
    Work,
}

/// One pass for `event`'s resource (or none, when a newer one took its place).
async fn handle_event(
    shared: &Shared,
    context: &TaskContext<AdapterProgress>,
    adapter: &AdapterLabels,
    event: &ReconcileEventData,
    trigger: Trigger,
) -> Outcome {
    let arrival = match trigger {
        Trigger::Event(arrival) => arrival,
        Trigger::Work => None,
    };
    let pass = match shared.passes.admit(event.resource_id, arrival).await {
        Ok(pass) => pass,
        Err(why) => {
            if matches!(trigger, Trigger::Event(_)) {
                coalesced(shared, context, adapter, why);
            }
            return Outcome::Ack;
        }
    };
    let result = shared.adapter.handle(event).await;
    if let Some((generation, done)) = seen(&result) {
        pass.saw(generation, done);
    }
    if let Ok(Handled::Reported { verdict: Verdict::Acted(observed), .. }) = &result {
        record_job(shared, adapter, observed);
        request_watches(shared, observed);
    }
    finish(shared, context, adapter, result, trigger)
}

/// Watches the adapter's Jobs and, as passes find them, its objects (see [`super::progress`]),
/// and gives a changed one's resource a pass at once, `concurrency` at a time. Never ends.
async fn follow_work(
    shared: &Arc<Shared>,
    context: &TaskContext<AdapterProgress>,
    mut requested: mpsc::UnboundedReceiver<Watch>,
) {
    use futures::{StreamExt as _, stream::FuturesUnordered, stream::SelectAll};
    let plan = &shared.adapter.plan;
    let adapter = AdapterLabels { adapter: plan.adapter.clone(), resource_type: plan.resource_type.as_str() };
    let mut streams = SelectAll::new();
    if let Some(jobs) = shared.adapter.job_watch() {
        start_watch(shared, jobs, &mut streams).await;
    }
    let mut passes = FuturesUnordered::new();
    loop {
        tokio::select! {
            Some(watch) = requested.recv() => start_watch(shared, watch, &mut streams).await,
            Some(object) = streams.next(), if passes.len() < plan.concurrency => {
                if let Some(event) = super::progress::event_of(&object, plan.resource_type) {
                    let adapter = &adapter;
                    passes.push(async move { handle_event(shared, context, adapter, &event, Trigger::Work).await });
                }
            }
            Some(_) = passes.next() => {}
            else => std::future::pending::<()>().await,
        }
    }
}

async fn start_watch(
    shared: &Shared,
    watch: Watch,
    streams: &mut futures::stream::SelectAll<futures::stream::BoxStream<'static, Value>>,
) {
    let adapter = &shared.adapter.plan.adapter;
    let watched = watch.target.to_string();
    match shared.adapter.watch(watch).await {
        Ok(Some(stream)) => {
            tracing::info!(adapter = %adapter, watched = %watched, "watching what the adapter made");
            streams.push(stream);
        }
        Ok(None) => {}
        Err(err) => {
            let error = hyperfleet_telemetry::error_chain(&err);
            tracing::warn!(adapter = %adapter, watched = %watched, error = %error, "cannot watch; events alone drive these");
        }
    }
}

/// Asks for the watches a pass's objects call for, each once.
fn request_watches(shared: &Shared, observed: &Observed) {
    let mut started = shared.watches.lock().unwrap_or_else(PoisonError::into_inner);
    for watch in shared.adapter.watches_for(observed) {
        if started.insert(watch.clone()) {
            let _ = shared.requested.send(watch);
        }
    }
}

/// The generation a pass saw, and whether the adapter's work there is done (it reported, and
/// the API kept, `Available=True`): what later events are coalesced against.
fn seen(result: &Result<Handled, HandleError>) -> Option<(i64, bool)> {
    match result {
        Ok(Handled::Reported { report, stored, verdict }) => {
            let acted = matches!(verdict, Verdict::Acted(observed) if !observed.deleting);
            let available =
                report.conditions.iter().any(|c| c.type_ == "Available" && c.status == ConditionStatus::True);
            Some((report.observed_generation, *stored && acted && available))
        }
        Ok(Handled::Stale { current, .. }) => Some((*current, false)),
        Ok(Handled::Gone) | Err(_) => None,
    }
}

/// An event acknowledged without a pass: its work was, or will be, done by another one.
fn coalesced(
    shared: &Shared,
    context: &TaskContext<AdapterProgress>,
    adapter: &AdapterLabels,
    why: Coalesced,
) {
    tracing::debug!(adapter = %adapter.adapter, why = ?why, "event coalesced");
    shared.metrics.consumed(adapter, "coalesced");
    context.update(|progress| {
        progress.processed += 1;
        progress.last_event = Some(Utc::now());
    });
}

/// The reconcile event a delivery carries, read into the event contract.
fn event_data(delivery: &Delivery) -> Result<ReconcileEventData, HandleError> {
    match delivery.event.data() {
        Some(cloudevents::Data::Json(json)) => ReconcileEventData::deserialize(json),
        Some(cloudevents::Data::String(text)) => serde_json::from_str(text),
        Some(cloudevents::Data::Binary(bytes)) => serde_json::from_slice(bytes),
        None => return Err(HandleError::NoData),
    }
    .map_err(HandleError::Data)
}

/// Progress, metrics, health and the broker outcome of a pass.
fn finish(
    shared: &Shared,
    context: &TaskContext<AdapterProgress>,
    adapter: &AdapterLabels,
    result: Result<Handled, HandleError>,
    trigger: Trigger,
) -> Outcome {
    let event = matches!(trigger, Trigger::Event(_));
    let (outcome, label) = match &result {
        Ok(Handled::Reported { .. }) => (Outcome::Ack, "reported"),
        Ok(Handled::Stale { .. }) => (Outcome::Ack, "stale"),
        Ok(Handled::Gone) => (Outcome::Ack, "gone"),
        Err(err) if err.is_transient() => (Outcome::Retry, "retry"),
        Err(_) => (Outcome::Reject, "rejected"),
    };
    if event {
        shared.metrics.consumed(adapter, label);
    }
    let failure = failure(&result);
    if let Some((category, message)) = &failure {
        shared.metrics.error(adapter, category);
        tracing::warn!(adapter = %adapter.adapter, resource_type = adapter.resource_type, error = %message, category, "event failed");
    }
    let message = failure.map(|(_, message)| message);
    context.update(|progress| {
        if event {
            progress.processed += 1;
            progress.last_event = Some(Utc::now());
        }
        if let Some(message) = &message {
            progress.failed += 1;
            progress.last_error = Some(message.clone());
        }
    });
    let health = shared.recent.lock().unwrap_or_else(PoisonError::into_inner).record(message.as_deref());
    context.report(health);
    outcome
}

/// The metric category and message of a failed event: an error (its category), or a report of
/// work that could not be done (its condition reason: `ExecutionFailed` for a refused Job,
/// `TemplateFailed`, `NotOwned`, ...).
fn failure(result: &Result<Handled, HandleError>) -> Option<(&'static str, String)> {
    match result {
        Err(err) => Some((err.category(), hyperfleet_telemetry::error_chain(err))),
        Ok(Handled::Reported { verdict: Verdict::Failed { reason, message }, .. }) => {
            Some((reason.as_str(), message.clone()))
        }
        Ok(_) => None,
    }
}

/// Counts created Jobs, and finished ones once each (with their run time when the Job says).
fn record_job(shared: &Shared, adapter: &AdapterLabels, observed: &Observed) {
    if observed.job_created {
        shared.metrics.job_created(adapter);
    }
    let Some(job) = &observed.job else { return };
    let result = match job_state(Some(job)) {
        JobState::Succeeded => "succeeded",
        JobState::Failed(_) => "failed",
        JobState::Running | JobState::Missing => return,
    };
    let name = job.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_owned();
    let mut seen = shared.finished_jobs.lock().unwrap_or_else(PoisonError::into_inner);
    if seen.len() > 10_000 {
        seen.clear();
    }
    if seen.insert(name) {
        let time = |field: &str| {
            job.pointer(&format!("/status/{field}"))
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        };
        // Simulated Jobs carry no times; they are not measured.
        if let (Some(start), Some(end)) = (time("startTime"), time("completionTime")) {
            shared.metrics.job_finished(adapter, result, (end - start).num_milliseconds() as f64 / 1000.0);
        }
    }
}
