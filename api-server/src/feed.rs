//! The change feed's wake-up and upkeep in one supervised loop: a PostgreSQL `LISTEN` on the
//! channel the change triggers `NOTIFY` at commit, which wakes every held `GET /changes`, and a
//! periodic prune of the changes older than the retention. A broken listener reconnects with a
//! growing pause; meanwhile held requests still re-read on their own timer, so a lost
//! notification only costs latency.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// The channel the triggers of migration 0004 notify.
pub const CHANNEL: &str = "hyperfleet_changes";

/// How often old changes are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Wakes the requests waiting for changes.
#[derive(Debug, Default)]
pub struct ChangeFeed {
    changed: Notify,
}

impl ChangeFeed {
    /// Resolves at the next change notification (register it before reading the feed).
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }

    /// Listens and prunes until `shutdown`, keeping `retention` worth of changes.
    pub async fn run(&self, store: &Store, retention: Duration, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.listen(store, retention) => outcome,
            };
            if let Err(err) = outcome {
                failures = failures.saturating_add(1);
                let pause = Duration::from_millis(250) * 2u32.saturating_pow(failures.min(6));
                tracing::warn!(error = %hyperfleet_telemetry::error_chain(&err), ?pause, "change feed listener failed; reconnecting");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }

    async fn listen(&self, store: &Store, retention: Duration) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(store.pool()).await?;
        listener.listen(CHANNEL).await?;
        // Whatever was committed while nobody listened: let waiting requests look.
        self.changed.notify_waiters();
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        loop {
            tokio::select! {
                notification = listener.recv() => {
                    notification?;
                    self.changed.notify_waiters();
                }
                _ = prune.tick() => self.prune(store, retention).await,
            }
        }
    }

    async fn prune(&self, store: &Store, retention: Duration) {
        let before =
            chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::hours(1));
        match store.prune_changes(before).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "pruned changes past the retention"),
            Err(err) => {
                tracing::warn!(error = %hyperfleet_telemetry::error_chain(&err), "pruning changes failed")
            }
        }
    }
}
