//! Records the SQL statements sqlx runs (its `sqlx::query` events) while switched on, so that
//! pgbench replays exactly what the store sent. Off, it is filtered out before sqlx formats
//! anything, so the measured runs pay nothing for it.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::layer::{Context, Layer};

/// The switch and what was recorded while it was on.
#[derive(Debug, Clone, Default)]
pub struct Statements {
    on: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Statements {
    /// Whether a `sqlx::query` event should reach [`Recorder`] now.
    pub fn recording(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Records the statements `work` causes.
    pub async fn during<T>(&self, work: impl Future<Output = T>) -> (T, Vec<String>) {
        self.seen.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.on.store(true, Ordering::Relaxed);
        let out = work.await;
        self.on.store(false, Ordering::Relaxed);
        (out, std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// The layer that records.
    pub fn recorder(&self) -> Recorder {
        Recorder(self.clone())
    }
}

/// The `tracing` layer.
#[derive(Debug)]
pub struct Recorder(Statements);

impl<S: Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut fields = SqlFields::default();
        event.record(&mut fields);
        // sqlx leaves `db.statement` empty when the summary is the whole statement (`BEGIN`).
        let sql = if fields.statement.trim().is_empty() { fields.summary } else { fields.statement };
        self.0.seen.lock().unwrap_or_else(PoisonError::into_inner).push(sql.trim().to_owned());
    }
}

#[derive(Default)]
struct SqlFields {
    summary: String,
    statement: String,
}

impl Visit for SqlFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.statement = value.to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.record_str(field, format!("{value:?}").trim_matches('"'));
        }
    }
}
