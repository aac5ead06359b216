//! The registry of running tasks, keyed by the custom resource that configures them.

use std::{collections::HashMap, fmt, future::Future, hash::Hash, time::Duration};

use tokio::{sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// How a task is doing, as the task itself reports it (and as the registry sees it end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskHealth {
    /// Started, not yet reporting.
    Starting,
    /// Working normally.
    Running,
    /// Working, with errors (the message says which).
    Degraded(String),
    /// Ended on its own or panicked; `ensure` restarts it.
    Failed(String),
}

/// What a task gets: its stop signal and a way to report health.
#[derive(Debug, Clone)]
pub struct TaskContext {
    /// Cancelled when the task must stop; the task returns soon after.
    pub cancel: CancellationToken,
    health: watch::Sender<TaskHealth>,
}

impl TaskContext {
    /// Reports the task's health.
    pub fn report(&self, health: TaskHealth) {
        self.health.send_if_modified(|current| {
            let changed = *current != health;
            *current = health;
            changed
        });
    }
}

/// What [`TaskRegistry::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// A task for this generation was already running.
    Unchanged,
    /// No task ran; one was started.
    Started,
    /// A task for another generation (or a failed one) was replaced.
    Restarted,
}

struct Entry {
    generation: i64,
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    health: watch::Receiver<TaskHealth>,
}

/// Running tasks by key.
pub struct TaskRegistry<K> {
    tasks: HashMap<K, Entry>,
    stop_timeout: Duration,
}

impl<K> fmt::Debug for TaskRegistry<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskRegistry").field("tasks", &self.tasks.len()).finish()
    }
}

impl<K: Eq + Hash + Clone + fmt::Display> TaskRegistry<K> {
    /// An empty registry; a stopping task gets `stop_timeout` before it is aborted.
    pub fn new(stop_timeout: Duration) -> Self {
        Self { tasks: HashMap::new(), stop_timeout }
    }

    /// Makes sure a task for `key` at `generation` runs: keeps a live one for the same
    /// generation, otherwise stops the old one (waiting for it) and starts `start`.
    pub async fn ensure<F, Fut>(&mut self, key: &K, generation: i64, start: F) -> Ensured
    where
        F: FnOnce(TaskContext) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = match self.tasks.get(key) {
            Some(entry) if entry.generation == generation && !entry.handle.is_finished() => {
                return Ensured::Unchanged;
            }
            Some(_) => {
                self.stop(key).await;
                Ensured::Restarted
            }
            None => Ensured::Started,
        };
        let cancel = CancellationToken::new();
        let (health_tx, health) = watch::channel(TaskHealth::Starting);
        let context = TaskContext { cancel: cancel.clone(), health: health_tx };
        let handle = tokio::spawn(start(context));
        tracing::info!(task = %key, generation, ?outcome, "task started");
        self.tasks.insert(key.clone(), Entry { generation, cancel, handle, health });
        outcome
    }

    /// Stops the task for `key`, waiting up to the stop timeout before aborting it. Returns
    /// whether there was one.
    pub async fn stop(&mut self, key: &K) -> bool {
        let Some(entry) = self.tasks.remove(key) else { return false };
        entry.cancel.cancel();
        let mut handle = entry.handle;
        match tokio::time::timeout(self.stop_timeout, &mut handle).await {
            Ok(Ok(())) => tracing::info!(task = %key, "task stopped"),
            Ok(Err(err)) => tracing::warn!(task = %key, error = %err, "task ended abnormally"),
            Err(_) => {
                tracing::warn!(task = %key, timeout = ?self.stop_timeout, "task ignored its stop signal; aborting it");
                handle.abort();
            }
        }
        true
    }

    /// Stops every task (on shutdown or when leadership is lost).
    pub async fn shutdown_all(&mut self) {
        let keys: Vec<K> = self.tasks.keys().cloned().collect();
        for key in keys {
            self.stop(&key).await;
        }
    }

    /// The task's health; a task that ended on its own counts as failed.
    pub fn health(&self, key: &K) -> Option<TaskHealth> {
        let entry = self.tasks.get(key)?;
        if entry.handle.is_finished() && !entry.cancel.is_cancelled() {
            let last = entry.health.borrow().clone();
            return Some(match last {
                TaskHealth::Failed(reason) => TaskHealth::Failed(reason),
                _ => TaskHealth::Failed("the task ended unexpectedly".into()),
            });
        }
        Some(entry.health.borrow().clone())
    }

    /// Keys of the registered tasks.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.tasks.keys()
    }

    /// The generation a key's task was started for.
    pub fn generation(&self, key: &K) -> Option<i64> {
        self.tasks.get(key).map(|e| e.generation)
    }
}

#[cfg(test)]
mod tests;
